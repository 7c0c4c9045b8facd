//! Invariant: a record or file the library cannot use is refused with a clear error, never a
//! panic, never a wrong spec returned as valid, and never changed. A record that is valid
//! redb but undecodable (or has leftover bytes) is a corruption error naming its context and
//! step; a file of a newer schema version is refused with `SchemaTooNew`; a file that is not
//! redb, or is redb without our tables or without its catalog table, with `NotARegistry`;
//! a file left by an interrupted creation is reset and opens empty.

mod support;

use pipeline_deps::{Error, RegistryManager};
use support::fault_backend::Rng;
use support::{TestResult, figure, sealed, spec};

fn write_raw(
    path: &std::path::Path,
    f: impl FnOnce(&redb::WriteTransaction) -> TestResult,
) -> TestResult {
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    f(&txn)?;
    txn.commit()?;
    Ok(())
}

/// The one table of the first context (schema version 3), and the key of spec `step` in it.
const ROWS_OF_FIRST_CONTEXT: redb::TableDefinition<&[u8], &[u8]> =
    redb::TableDefinition::new("pipeline_deps.ctx.1.rows");
const SPEC_ROW_OF_STEP: &[u8] = b"Sstep";
const CATALOG: redb::TableDefinition<&str, &[u8]> =
    redb::TableDefinition::new("pipeline_deps.catalog");
const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("pipeline_deps.meta");

fn one_step_db(path: &std::path::Path) -> TestResult<Vec<u8>> {
    let manager = RegistryManager::open(path)?;
    manager
        .get_registry("ctx")?
        .register("step", &spec("ctx", "step", 1))?;
    drop(manager);
    let db = redb::Database::create(path)?;
    let txn = redb::ReadableDatabase::begin_read(&db)?;
    let table = txn.open_table(ROWS_OF_FIRST_CONTEXT)?;
    let bytes = table
        .get(SPEC_ROW_OF_STEP)?
        .ok_or("the record is missing")?
        .value()
        .to_vec();
    Ok(bytes)
}

fn expect_corrupted_naming(
    result: pipeline_deps::Result<impl std::fmt::Debug>,
    names: &[&str],
) -> TestResult {
    match result {
        Err(e @ Error::Corrupted { .. }) => {
            let message = e.to_string();
            for name in names {
                if !message.contains(name) {
                    return Err(format!("the error does not name {name:?}: {message}").into());
                }
            }
            // Each cause is shown once: the message never repeats one of its causes.
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                if message.contains(&c.to_string()) {
                    return Err(format!("the message repeats its cause {c}: {message}").into());
                }
                cause = c.source();
            }
            Ok(())
        }
        other => Err(format!("expected a corruption error naming {names:?}, got {other:?}").into()),
    }
}

/// Records that are valid redb but not valid records: a damaged checksum, a record moved
/// under another key, and, correctly sealed so that they reach the decoder, garbage, a valid
/// record with leftover bytes, a truncated record, an unknown node-type code and an unknown
/// envelope version; then garbage catalog entries, sealed and not.
#[test]
fn undecodable_records_are_corruption_errors_naming_context_and_step() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut tried = 0;
    let stored = one_step_db(&dir.path().join("probe.redb"))?;
    let good = sealed::payload(&stored).to_vec();
    let seal = |payload: &[u8]| sealed::seal(sealed::SPEC, 1, b"step", payload);
    let mut leftover = good.clone();
    leftover.push(0);
    let truncated = good[..good.len() - 1].to_vec();
    let mut bad_code = good.clone();
    // The node type code follows the envelope tag, seq and step type string.
    let type_len = "Type1".len();
    bad_code[3 + type_len] = 9;
    let mut bad_checksum = stored.clone();
    bad_checksum[0] ^= 1;
    let mut bad_version = good.clone();
    bad_version[0] = 7;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("damaged checksum", bad_checksum),
        (
            "record of another step",
            sealed::seal(sealed::SPEC, 1, b"other", &good),
        ),
        (
            "record of another context",
            sealed::seal(sealed::SPEC, 2, b"step", &good),
        ),
        ("too short for a checksum", vec![1, 2]),
        ("garbage", seal(&[0xFF; 7])),
        ("empty", seal(&[])),
        ("leftover bytes", seal(&leftover)),
        ("truncated", seal(&truncated)),
        ("unknown node type", seal(&bad_code)),
        ("unknown envelope version", seal(&bad_version)),
    ];
    for (what, bytes) in cases {
        let path = dir.path().join(format!("{what}.redb"));
        one_step_db(&path)?;
        write_raw(&path, |txn| {
            txn.open_table(ROWS_OF_FIRST_CONTEXT)?
                .insert(SPEC_ROW_OF_STEP, bytes.as_slice())?;
            Ok(())
        })?;
        let manager = RegistryManager::open(&path)?;
        let registry = manager.get_registry("ctx")?;
        // The file too: a program with several registry files must know which to restore.
        let file = path.to_string_lossy();
        expect_corrupted_naming(registry.get_specification("step"), &["ctx", "step", &file])
            .map_err(|e| format!("{what}: {e}"))?;
        expect_corrupted_naming(registry.iter().map(|i| i.count()), &["ctx", "step", &file])
            .map_err(|e| format!("{what}: {e}"))?;
        // Replacing the damaged step either fails cleanly (when the old record's position
        // cannot be read) or repairs it with the new spec.
        let replacement = spec("ctx", "step", 2);
        match registry.upsert("step", &replacement) {
            Err(Error::Corrupted { .. }) => {}
            Ok(()) => assert_eq!(
                registry.get_specification("step")?.as_deref(),
                Some(&replacement),
                "{what}"
            ),
            other => return Err(format!("{what}: upsert gave {other:?}").into()),
        }
        // The rest of the database stays usable.
        manager
            .get_registry("other")?
            .register("x", &spec("other", "x", 3))?;
        tried += 1;
    }
    // A garbage catalog entry names its context, whether its checksum fails or its content.
    for entry in [
        vec![1u8, 2, 3],
        sealed::seal(sealed::CATALOG, 0, b"ctx", &[1, 2, 3]),
    ] {
        let path = dir.path().join("catalog.redb");
        let _ = std::fs::remove_file(&path);
        one_step_db(&path)?;
        write_raw(&path, |txn| {
            txn.open_table(CATALOG)?.insert("ctx", entry.as_slice())?;
            Ok(())
        })?;
        let manager = RegistryManager::open(&path)?;
        let file = path.to_string_lossy();
        expect_corrupted_naming(manager.list_contexts(), &["ctx", &file])?;
        expect_corrupted_naming(manager.get_registry("ctx"), &["ctx", &file])?;
        tried += 1;
    }
    figure(
        "corruption/undecodable_records",
        &format!(
            "{tried} damaged records, each a Corrupted error naming context and step; 0 panics"
        ),
    );
    Ok(())
}

#[test]
fn newer_schema_version_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("future.redb");
    one_step_db(&path)?;
    write_raw(&path, |txn| {
        txn.open_table(META)?.insert("schema_version", 99)?;
        Ok(())
    })?;
    for result in [
        RegistryManager::open(&path),
        RegistryManager::open_read_only(&path),
    ] {
        match result {
            Err(e @ Error::SchemaTooNew { found: 99, .. }) => {
                assert!(e.to_string().contains("upgrade pipeline-deps"), "{e}");
            }
            other => return Err(format!("expected SchemaTooNew, got {other:?}").into()),
        }
    }
    // Refusing it did not change it.
    let db = redb::Database::create(&path)?;
    let txn = redb::ReadableDatabase::begin_read(&db)?;
    assert_eq!(
        txn.open_table(META)?
            .get("schema_version")?
            .map(|v| v.value()),
        Some(99)
    );
    Ok(())
}

#[test]
fn files_that_are_not_registries_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut tried = 0;
    let mut rng = Rng::new(7);
    let random: Vec<u8> = (0..65536).map(|_| rng.next_u64() as u8).collect();
    let contents: Vec<(&str, Vec<u8>)> = vec![
        ("text", b"hello, I am a text file\n".to_vec()),
        ("short", b"red".to_vec()),
        ("random", random),
        ("json", br#"{"steps": []}"#.to_vec()),
        (
            "almost redb magic",
            b"redb\x1a\x0a\xa9\x0d\x0b rest".to_vec(),
        ),
    ];
    for (what, bytes) in contents {
        let path = dir.path().join(what);
        std::fs::write(&path, &bytes)?;
        for read_only in [false, true] {
            let result = RegistryManager::builder().read_only(read_only).open(&path);
            match result {
                Err(e @ Error::NotARegistry { .. }) => {
                    assert!(
                        e.to_string().contains("not a pipeline-deps registry"),
                        "{e}"
                    );
                }
                other => {
                    return Err(format!(
                        "{what} (read-only {read_only}): expected NotARegistry, got {other:?}"
                    )
                    .into());
                }
            }
            assert_eq!(
                std::fs::read(&path)?,
                bytes,
                "{what}: refusing changed the file"
            );
            tried += 1;
        }
    }
    // A redb database with someone else's tables.
    let path = dir.path().join("foreign.redb");
    write_raw(&path, |txn| {
        let users: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("users");
        txn.open_table(users)?.insert("alice", 1)?;
        Ok(())
    })?;
    for read_only in [false, true] {
        let result = RegistryManager::builder().read_only(read_only).open(&path);
        assert!(
            matches!(result, Err(Error::NotARegistry { .. })),
            "foreign redb (read-only {read_only}): {result:?}"
        );
        tried += 1;
    }
    figure(
        "corruption/not_a_registry",
        &format!(
            "{tried} foreign files (text, random, truncated, near-magic, foreign redb) refused with NotARegistry, unchanged; 0 panics"
        ),
    );
    Ok(())
}

#[test]
fn a_file_whose_catalog_table_is_missing_is_refused_not_shown_empty() -> TestResult {
    // One flipped bit in the catalog's name in the table directory made the catalog look
    // missing: read as an empty registry, and the first write then started a new catalog,
    // orphaning every context for good (found by an outside pass, 2026-12-01).
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("renamed.redb");
    one_step_db(&path)?;
    let mut bytes = std::fs::read(&path)?;
    let name = b"pipeline_deps.catalog";
    let mut renamed = 0;
    for at in 0..bytes.len().saturating_sub(name.len()) {
        if bytes.get(at..at + name.len()) == Some(&name[..]) {
            bytes[at + name.len() - 1] ^= 0x02; // ...catalog -> ...catalee
            renamed += 1;
        }
    }
    assert!(renamed > 0, "the catalog's name was not found in the file");
    std::fs::write(&path, &bytes)?;
    // Twice each: a refused open must not have made a new, empty catalog either.
    for read_only in [true, false, true, false] {
        let result = RegistryManager::builder().read_only(read_only).open(&path);
        let error = result.err().ok_or("a file without its catalog opened")?;
        assert!(error.is_corruption(), "read-only {read_only}: {error:?}");
        assert!(
            error.to_string().contains("the context catalog is missing"),
            "{error}"
        );
    }
    Ok(())
}

#[test]
fn a_file_left_by_an_interrupted_creation_is_reset_and_opens_empty() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("created.redb");
    drop(RegistryManager::open(&path)?);
    // What a crash before redb's last creation write leaves: the header without its magic
    // number, zeros past the header.
    let mut bytes = std::fs::read(&path)?;
    bytes[..9].fill(0);
    bytes[320..].fill(0);
    std::fs::write(&path, &bytes)?;
    let manager = RegistryManager::open(&path)?;
    assert!(manager.list_contexts()?.is_empty());
    manager.get_registry("ctx")?;
    drop(manager);
    assert_eq!(RegistryManager::open(&path)?.list_contexts()?, ["ctx"]);
    // Anything else past the header is not such a file, and is left alone.
    let mut other = bytes.clone();
    other[4096] = 1;
    let other_path = dir.path().join("other.redb");
    std::fs::write(&other_path, &other)?;
    assert!(matches!(
        RegistryManager::open(&other_path),
        Err(Error::NotARegistry { .. })
    ));
    assert!(std::fs::read(&other_path)? == other);
    Ok(())
}
