//! Invariant: the refusal of a path that is not a regular file names the kind of file it is
//! (a directory, a named pipe, a socket, a character device), so that the user sees why; a
//! checking copy of a file its last writer did not close holds what the file holds; and
//! compaction and repair refuse a file with a record that fails its seal although the
//! storage engine finds nothing wrong, leaving it byte for byte as it was.
//! Written against mutants of `src/store/copy.rs` that the copy and repair suites let
//! survive (see the report of the fourth mutation audit, cargo-mutants).

mod support;

use std::time::Duration;

use pipeline_deps::{Error, RegistryManager};
use redb::ReadableTable;
use support::harness::drop_as_if_crashed;
use support::{TestResult, bounded, numbered_spec};

#[cfg(unix)]
#[test]
fn a_path_that_is_not_a_regular_file_is_refused_naming_its_kind() -> TestResult {
    bounded(Duration::from_secs(60), refused_by_kind)
}

#[cfg(unix)]
fn refused_by_kind() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()?
            .success()
    );
    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket)?;
    let cases = [
        (
            dir.path().to_path_buf(),
            "is a directory, not a regular file",
        ),
        (fifo, "is a named pipe (FIFO), not a regular file"),
        (socket, "is a socket, not a regular file"),
        (
            "/dev/null".into(),
            "is a character device, not a regular file",
        ),
    ];
    for (path, kind) in cases {
        let error = RegistryManager::open_read_only(&path)
            .err()
            .ok_or_else(|| format!("{} was opened", path.display()))?;
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            source.as_deref().is_some_and(|s| s.contains(kind)),
            "{}: {source:?}",
            path.display()
        );
    }
    Ok(())
}

#[test]
fn a_checking_copy_of_a_file_needing_recovery_holds_its_contexts_and_steps() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("unclosed.redb");
    let manager = RegistryManager::open(&path)?;
    let steps: Vec<_> = (0..5)
        .map(|n| (format!("s{n}"), numbered_spec(n, 2)))
        .collect();
    manager.import_steps("kept", &steps, false)?;
    drop_as_if_crashed(manager);
    let copy = RegistryManager::builder().open_copy(&path)?;
    assert!(copy.recovered_from_copy(), "the file did not need recovery");
    assert_eq!(copy.list_contexts()?, ["kept"]);
    let names: Vec<_> = copy
        .get_registry("kept")?
        .iter()?
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"]);
    Ok(())
}

/// The one table of the first context, and the key of step `s0`'s record in it.
const ROWS: redb::TableDefinition<&[u8], &[u8]> =
    redb::TableDefinition::new("pipeline_deps.ctx.1.rows");
const RECORD_OF_S0: &[u8] = b"Ss0";

#[test]
fn compaction_and_repair_refuse_a_record_that_fails_its_seal_and_change_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sealed.redb");
    RegistryManager::open(&path)?
        .get_registry("ctx")?
        .register("s0", &numbered_spec(0, 1))?;
    // The record's last byte changed through the storage engine: sound to it, not to the seal.
    let db = redb::Database::create(&path)?;
    let txn = db.begin_write()?;
    {
        let mut rows = txn.open_table(ROWS)?;
        let mut record = rows.get(RECORD_OF_S0)?.ok_or("no record")?.value().to_vec();
        if let Some(last) = record.last_mut() {
            *last ^= 1;
        }
        rows.insert(RECORD_OF_S0, record.as_slice())?;
    }
    txn.commit()?;
    drop(db);
    let before = std::fs::read(&path)?;
    let compacted = RegistryManager::compact_file(&path);
    assert!(
        matches!(compacted, Err(Error::Corrupted { .. })),
        "{compacted:?}"
    );
    assert!(
        std::fs::read(&path)? == before,
        "compaction changed the file"
    );
    let repaired = RegistryManager::repair_file(&path);
    assert!(
        matches!(repaired, Err(Error::Corrupted { .. })),
        "{repaired:?}"
    );
    assert!(std::fs::read(&path)? == before, "repair changed the file");
    Ok(())
}
