//! Invariant: a stored record whose checksum holds but which the record decoder refuses is a
//! corruption error whose cause, the decoder's own error, is kept in `source()` (shown once:
//! the message says what was found, the cause says what lies beneath), for a spec row and
//! for a catalog row alike. Written against a mutant of `DecodeError::into_cause` that the
//! cited tests let survive (see the report of the second mutation audit, cargo-mutants):
//! every decoder error dropped its cause.

mod support;

use std::error::Error as _;

use pipeline_deps::{Error, RegistryManager};
use support::{TestResult, sealed};

/// The one table of the first context (schema version 3).
const ROWS_OF_FIRST_CONTEXT: redb::TableDefinition<&[u8], &[u8]> =
    redb::TableDefinition::new("pipeline_deps.ctx.1.rows");
const CATALOG: redb::TableDefinition<&str, &[u8]> =
    redb::TableDefinition::new("pipeline_deps.catalog");

/// Bytes no stored record format decodes: postcard's varint of the envelope never ends.
const GARBAGE: [u8; 7] = [0xFF; 7];

/// A file with context `ctx` (id 1) holding step `step`, closed.
fn one_step_db(path: &std::path::Path) -> TestResult {
    let manager = RegistryManager::open(path)?;
    manager
        .get_registry("ctx")?
        .register("step", &support::numbered_spec(1, 1))?;
    Ok(())
}

/// Writes one row into the closed file at `path` with redb itself.
fn write_row(
    path: &std::path::Path,
    write: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
) -> TestResult {
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    write(&txn)?;
    txn.commit()?;
    Ok(())
}

/// `result` is a corruption error with a cause that its message does not repeat.
fn corrupted_with_its_cause(
    what: &str,
    result: pipeline_deps::Result<impl std::fmt::Debug>,
) -> TestResult {
    let error = match result {
        Err(error @ Error::Corrupted { .. }) => error,
        other => return Err(format!("{what}: expected a corruption error, got {other:?}").into()),
    };
    let message = error.to_string();
    let cause = error
        .source()
        .ok_or_else(|| format!("{what}: the decoder's error is not the cause: {message}"))?;
    let cause = cause.to_string();
    assert!(!cause.is_empty(), "{what}: an empty cause");
    assert!(
        !message.contains(&cause),
        "{what}: the message repeats its cause {cause:?}: {message}"
    );
    Ok(())
}

#[test]
fn an_undecodable_spec_record_keeps_the_decoders_error_as_its_cause() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    one_step_db(&path)?;
    write_row(&path, |txn| {
        let value = sealed::seal(sealed::SPEC, 1, b"step", &GARBAGE);
        txn.open_table(ROWS_OF_FIRST_CONTEXT)?
            .insert(sealed::spec_key("step").as_slice(), value.as_slice())?;
        Ok(())
    })?;
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ctx")?;
    corrupted_with_its_cause("get_specification", registry.get_specification("step"))
}

#[test]
fn an_undecodable_catalog_record_keeps_the_decoders_error_as_its_cause() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    one_step_db(&path)?;
    write_row(&path, |txn| {
        let value = sealed::seal(sealed::CATALOG, 0, b"ctx", &GARBAGE);
        txn.open_table(CATALOG)?.insert("ctx", value.as_slice())?;
        Ok(())
    })?;
    let manager = RegistryManager::open(&path)?;
    corrupted_with_its_cause("get_registry", manager.get_registry("ctx"))
}
