//! Invariant: the stored format's guards catch the damage they exist for, each on its own:
//! the meta table's checksum refuses a changed next context id (which would hand a new
//! context the table of an existing one), a file of the very next schema version is refused
//! and left untouched (not only a far-future one), and a spec row copied under another
//! step's key is corruption, not that other step's spec. Each test was written against a
//! mutant of the library that the earlier tests let survive (see the report of the mutation
//! audit): dropping the meta checksum check, refusing only versions above `SCHEMA_VERSION + 1`,
//! and leaving the key out of the row checksum.

mod support;

use pipeline_deps::storage::SCHEMA_VERSION;
use pipeline_deps::{Error, RegistryManager, StepSpecification};
use redb::ReadableTable;
use support::{TestResult, sealed};

const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("pipeline_deps.meta");
/// The one table of the first context (schema version 3).
const ROWS_OF_FIRST_CONTEXT: redb::TableDefinition<&[u8], &[u8]> =
    redb::TableDefinition::new("pipeline_deps.ctx.1.rows");

fn spec(n: usize) -> StepSpecification {
    support::numbered_spec(n, 1)
}

/// The meta checksum as `src/store/schema.rs` documents it: the CRC-32 of
/// `b'M' ++ schema_version (u64 LE) ++ next_context_id (u64 LE)`.
fn meta_checksum(schema_version: u64, next_context_id: u64) -> u64 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(b"M");
    hasher.update(&schema_version.to_le_bytes());
    hasher.update(&next_context_id.to_le_bytes());
    u64::from(hasher.finalize())
}

/// A file with context `ctx` (id 1) holding steps `a` and `b`.
fn two_step_db(path: &std::path::Path) -> TestResult {
    let manager = RegistryManager::open(path)?;
    let registry = manager.get_registry("ctx")?;
    registry.register("a", &spec(1))?;
    registry.register("b", &spec(2))?;
    Ok(())
}

/// Changes the meta table of the closed file at `path` with redb itself.
fn write_meta(path: &std::path::Path, values: &[(&str, u64)]) -> TestResult {
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(META)?;
        for (key, value) in values {
            table.insert(*key, *value)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Where two byte strings differ (for failure messages): the differing offsets, at most 20.
fn differences(a: &[u8], b: &[u8]) -> String {
    let offsets: Vec<usize> = (0..a.len().max(b.len()))
        .filter(|&i| a.get(i) != b.get(i))
        .collect();
    format!(
        "{} bytes differ (lengths {} and {}), first at {:?}",
        offsets.len(),
        a.len(),
        b.len(),
        &offsets[..offsets.len().min(20)]
    )
}

fn read_meta(path: &std::path::Path, key: &str) -> TestResult<u64> {
    let db = redb::Database::create(path)?;
    let txn = redb::ReadableDatabase::begin_read(&db)?;
    let value = txn
        .open_table(META)?
        .get(key)?
        .ok_or_else(|| format!("the meta table has no {key}"))?
        .value();
    Ok(value)
}

#[test]
fn a_next_context_id_changed_behind_the_checksum_is_refused_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("meta.redb");
    two_step_db(&path)?;
    // Context `ctx` has id 1; a next id of 1 would give the next new context ctx's table.
    assert_eq!(read_meta(&path, "next_context_id")?, 2);
    write_meta(&path, &[("next_context_id", 1)])?;
    let damaged = std::fs::read(&path)?;
    let file = path.display().to_string();
    // Neither refusal changes a byte of the file.
    for (what, read_only) in [("read-only open", true), ("writable open", false)] {
        match RegistryManager::builder().read_only(read_only).open(&path) {
            Err(e @ Error::Corrupted { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(&file) && message.contains("meta"),
                    "{what}: {message}"
                );
            }
            Err(other) => return Err(format!("{what}: expected Corrupted, got {other}").into()),
            Ok(manager) => {
                // What the refusal prevents: a new context reading another's steps.
                let leaked = manager
                    .get_registry("new")
                    .and_then(|r| r.list_step_names());
                return Err(format!(
                    "{what}: a damaged meta table was accepted; a new context then lists {leaked:?}"
                )
                .into());
            }
        }
        let after = std::fs::read(&path)?;
        assert!(
            after == damaged,
            "a refused {what} changed the file: {}",
            differences(&damaged, &after)
        );
    }
    assert_eq!(read_meta(&path, "next_context_id")?, 1);
    Ok(())
}

#[test]
fn the_next_schema_version_is_refused_and_the_file_left_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("next.redb");
    two_step_db(&path)?;
    let next = read_meta(&path, "next_context_id")?;
    let newer = SCHEMA_VERSION + 1;
    // As the next release would write it: its version, sealed.
    write_meta(
        &path,
        &[
            ("schema_version", newer),
            ("checksum", meta_checksum(newer, next)),
        ],
    )?;
    // Neither refusal changes a byte of the file.
    for (what, read_only) in [("read-only open", true), ("writable open", false)] {
        // Read again each time: `read_meta` below opens the file with redb itself.
        let before = std::fs::read(&path)?;
        match RegistryManager::builder().read_only(read_only).open(&path) {
            Err(Error::SchemaTooNew {
                found, supported, ..
            }) if found == newer && supported == SCHEMA_VERSION => {}
            Err(other) => {
                return Err(format!("{what}: expected SchemaTooNew, got {other}").into());
            }
            Ok(_) => return Err(format!("{what}: schema version {newer} was accepted").into()),
        }
        let after = std::fs::read(&path)?;
        assert!(
            after == before,
            "a refused {what} changed the file: {}",
            differences(&before, &after)
        );
        assert_eq!(read_meta(&path, "schema_version")?, newer, "{what}");
        assert_eq!(read_meta(&path, "next_context_id")?, next, "{what}");
    }
    Ok(())
}

/// A redb database with someone else's tables is refused by a writable open without a byte
/// of it changing. (Before 2026-12-02 the refusal came after the storage engine had opened
/// the file writable, and its close rewrote 2,619 of 110,592 bytes; so did the refusals of
/// the newer schema version and the damaged meta table above.)
#[test]
fn a_refused_writable_open_of_someone_elses_redb_file_changes_no_byte() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        let users: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("users");
        txn.open_table(users)?.insert("alice", 1)?;
        txn.commit()?;
    }
    let before = std::fs::read(&path)?;
    for read_only in [false, true] {
        match RegistryManager::builder().read_only(read_only).open(&path) {
            Err(Error::NotARegistry { .. }) => {}
            other => {
                return Err(
                    format!("read-only {read_only}: expected NotARegistry, got {other:?}").into(),
                );
            }
        }
        let after = std::fs::read(&path)?;
        assert!(
            after == before,
            "a refused open (read-only {read_only}) changed someone else's file: {}",
            differences(&before, &after)
        );
    }
    Ok(())
}

#[test]
fn a_spec_row_copied_under_another_steps_key_is_corruption() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("moved.redb");
    two_step_db(&path)?;
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut rows = txn.open_table(ROWS_OF_FIRST_CONTEXT)?;
            let stored_a = rows
                .get(sealed::spec_key("a").as_slice())?
                .ok_or("step a has no spec row")?
                .value()
                .to_vec();
            // Positive control: the test's own seal (from the documented format) of a's
            // payload is the library's, so rows sealed by tests reach the decoder.
            assert_eq!(
                sealed::seal(sealed::SPEC, 1, b"a", sealed::payload(&stored_a)),
                stored_a,
                "the documented seal differs from the library's"
            );
            // The library's own sealed bytes of step a, stored under b's key.
            rows.insert(sealed::spec_key("b").as_slice(), stored_a.as_slice())?;
        }
        txn.commit()?;
    }
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ctx")?;
    assert_eq!(registry.get_specification("a")?.as_deref(), Some(&spec(1)));
    match registry.get_specification("b") {
        Err(e @ Error::Corrupted { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("ctx") && message.contains('b'),
                "{message}"
            );
        }
        other => {
            return Err(format!("step b read from a's row gave {other:?}, not Corrupted").into());
        }
    }
    Ok(())
}

/// A chunk of the step-type index (schema version 3): `first_seen (u64 LE)`, then each
/// entry as `seq (u64 LE) ++ name length (u32 LE) ++ name`, sealed over its key.
fn chunk(first_seen: u64, entries: &[(u64, &str)]) -> Vec<u8> {
    let mut payload = first_seen.to_le_bytes().to_vec();
    for (seq, name) in entries {
        payload.extend_from_slice(&seq.to_le_bytes());
        payload.extend_from_slice(&(name.len() as u32).to_le_bytes());
        payload.extend_from_slice(name.as_bytes());
    }
    payload
}

#[test]
fn an_index_entry_whose_position_disagrees_with_its_record_is_corruption() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("positions.redb");
    two_step_db(&path)?;
    let key = sealed::chunk_key("Type0", 0);
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut rows = txn.open_table(ROWS_OF_FIRST_CONTEXT)?;
            let stored = rows
                .get(key.as_slice())?
                .ok_or("the type has no chunk 0")?
                .value()
                .to_vec();
            // Positive control: the chunk is as documented: the type first seen at position
            // 1 (positions count steps and types alike), a at 0 and b at 2.
            let written = chunk(1, &[(0, "a"), (2, "b")]);
            assert_eq!(
                sealed::seal(sealed::TYPE_CHUNK, 1, &key, &written),
                stored,
                "the documented chunk format differs from the library's"
            );
            // Correctly sealed, but a and b swap positions: their records say 0 and 2.
            let swapped = chunk(1, &[(2, "a"), (0, "b")]);
            rows.insert(
                key.as_slice(),
                sealed::seal(sealed::TYPE_CHUNK, 1, &key, &swapped).as_slice(),
            )?;
        }
        txn.commit()?;
    }
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ctx")?;
    // A corruption error, or the order some commit had (there was only one).
    match registry.iter() {
        Err(Error::Corrupted { .. }) => {}
        Ok(steps) => {
            let names: Vec<String> = steps.map(|(name, _)| name).collect();
            assert_eq!(
                names,
                ["a", "b"],
                "a damaged index gave an order no commit had"
            );
        }
        Err(other) => return Err(format!("expected Corrupted, got {other}").into()),
    }
    Ok(())
}
