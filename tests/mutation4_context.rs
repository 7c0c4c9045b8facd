//! Invariant: a context's reader cross-checks what it reads, so that rows each sound on
//! their own but from different states of the file (a stale catalog row, a step's record
//! from before it changed type) are reported as a damaged index, never returned as data.
//! Written against mutants of `src/store/context/mod.rs` that the read suites and
//! `index_damage` let survive (see the report of the fourth mutation audit, cargo-mutants).

mod common;
mod support;

use std::path::Path;

use common::spec;
use pipeline_deps::{Error, RegistryManager};
use redb::ReadableDatabase;
use support::TestResult;
use support::sealed::spec_key;

/// The catalog, and the one table of the first context.
const CATALOG: redb::TableDefinition<&str, &[u8]> =
    redb::TableDefinition::new("pipeline_deps.catalog");
const ROWS: redb::TableDefinition<&[u8], &[u8]> =
    redb::TableDefinition::new("pipeline_deps.ctx.1.rows");

fn catalog_row(path: &Path) -> TestResult<Vec<u8>> {
    let db = redb::Database::create(path)?;
    let table = db.begin_read()?.open_table(CATALOG)?;
    Ok(table.get("ctx")?.ok_or("no catalog row")?.value().to_vec())
}

fn record(path: &Path, step: &str) -> TestResult<Vec<u8>> {
    let db = redb::Database::create(path)?;
    let table = db.begin_read()?.open_table(ROWS)?;
    let key = spec_key(step);
    Ok(table
        .get(key.as_slice())?
        .ok_or("no record")?
        .value()
        .to_vec())
}

/// Writes rows back through the storage engine, so that the file stays sound to it.
fn put_back(path: &Path, catalog: Option<&[u8]>, records: &[(&str, &[u8])]) -> TestResult {
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    if let Some(value) = catalog {
        txn.open_table(CATALOG)?.insert("ctx", value)?;
    }
    {
        let mut rows = txn.open_table(ROWS)?;
        for (step, value) in records {
            rows.insert(spec_key(step).as_slice(), *value)?;
        }
    }
    txn.commit()?;
    Ok(())
}

fn expect_damaged_index(path: &Path) -> TestResult {
    let read = RegistryManager::open(path)?.get_registry("ctx")?.iter();
    match read {
        Err(error @ Error::Corrupted { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("step-type index of context 'ctx'"),
                "{message}"
            );
            Ok(())
        }
        other => Err(format!(
            "expected a damaged index, got {:?}",
            other.map(Vec::from_iter)
        )
        .into()),
    }
}

#[test]
fn a_stale_catalog_count_is_a_damaged_index() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("reg.redb");
    let manager = RegistryManager::open(&path)?;
    manager.get_registry("ctx")?.register("a", &spec("A"))?;
    drop(manager);
    let counting_one = catalog_row(&path)?;
    RegistryManager::open(&path)?
        .get_registry("ctx")?
        .register("b", &spec("A"))?;
    put_back(&path, Some(&counting_one), &[])?;
    expect_damaged_index(&path)
}

#[test]
fn a_record_from_before_its_step_changed_type_is_a_damaged_index() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("reg.redb");
    let manager = RegistryManager::open(&path)?;
    manager.get_registry("ctx")?.register("a", &spec("A"))?;
    drop(manager);
    let of_type_a = record(&path, "a")?;
    RegistryManager::open(&path)?
        .get_registry("ctx")?
        .upsert("a", &spec("B"))?;
    put_back(&path, None, &[("a", &of_type_a)])?;
    expect_damaged_index(&path)
}

#[test]
fn a_record_from_before_its_step_was_registered_again_is_a_damaged_index() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("reg.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ctx")?;
    registry.register("a", &spec("A"))?;
    registry.register("b", &spec("A"))?;
    drop((registry, manager));
    let first = record(&path, "a")?;
    let registry = RegistryManager::open(&path)?.get_registry("ctx")?;
    registry.unregister("a")?;
    registry.register("a", &spec("A"))?;
    drop(registry);
    put_back(&path, None, &[("a", &first)])?;
    expect_damaged_index(&path)
}
