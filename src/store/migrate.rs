//! Upgrades of older stored formats to [`SCHEMA_VERSION`].
//!
//! Policy: a file is upgraded in place, inside the same write transaction that opens it, so
//! a crash mid-upgrade leaves the old version intact. Each step rewrites the tables of one
//! version into the next; the caller then writes the new `schema_version` (and the meta
//! checksum) in the same transaction. The frozen fixtures under `migrations/` (one database
//! per released version) are opened by `tests/migrations.rs` to prove every step. A
//! read-only open of an older file runs the same steps on an in-memory copy.
//!
//! | step | what it does |
//! |---|---|
//! | 1 → 2 | seals every catalog and spec value with its checksum; replaces each context's `order`, `types` and `type_order` tables by one sealed `index` table (see `store::schema`); checks every record decodes and every count matches on the way |
//! | 2 → 3 | replaces each context's `specs` and `index` tables by one `rows` table: the spec rows move unchanged (same sealed values) under `b'S'`-tagged keys, the one-row-per-step index becomes chunks per step type (`store::typeindex`); checks every seal, every record against its index row and every count on the way |

use std::collections::HashSet;
use std::path::Path;

use redb::{ReadableTable, ReadableTableMetadata, TableHandle, WriteTransaction};

use super::schema::v2::{ContextTables, SEAL_INDEX, first_seen_key, type_row_key};
use super::schema::{CATALOG, SCHEMA_VERSION, SEAL_CATALOG, SEAL_SPEC, v1};
use super::{seal, storage_error};
use crate::codec::{self, CatalogRecordV1, StepRecordV1};
use crate::error::{Error, Result, shorten};

/// Brings a writable file at version `found` up to [`SCHEMA_VERSION`] (except the meta
/// table, which the caller writes).
pub(super) fn upgrade(txn: &WriteTransaction, found: u64, path: &Path) -> Result<()> {
    let mut version = found;
    while version < SCHEMA_VERSION {
        match version {
            1 => v1_to_v2(txn, path)?,
            2 => super::migrate_v3::v2_to_v3(txn, path)?,
            older => {
                return Err(Error::corrupted(
                    format!("{} (meta table)", path.display()),
                    format!("schema version {older} was never released, so it cannot be upgraded"),
                    None,
                ));
            }
        }
        version += 1;
    }
    Ok(())
}

fn action(path: &Path) -> String {
    format!("upgrading {} from schema version 1 to 2", path.display())
}

/// A corruption found while upgrading `context` from schema version `from`.
pub(super) fn corrupt_in_upgrade(context: &str, from: u64, detail: String) -> Error {
    Error::corrupted(
        format!(
            "context {} (while upgrading from schema version {from})",
            shorten(context)
        ),
        detail,
        None,
    )
}

fn corrupt(context: &str, detail: String) -> Error {
    corrupt_in_upgrade(context, 1, detail)
}

/// Schema 1 → 2: seals, and one index table per context.
fn v1_to_v2(txn: &WriteTransaction, path: &Path) -> Result<()> {
    let fail = |e: redb::Error| storage_error(action(path), e);
    let tables: HashSet<String> = txn
        .list_tables()
        .map_err(|e| fail(e.into()))?
        .map(|t| t.name().to_owned())
        .collect();
    let mut catalog = txn.open_table(CATALOG).map_err(|e| fail(e.into()))?;
    let mut contexts = Vec::new();
    for row in catalog.iter().map_err(|e| fail(e.into()))? {
        let (name, value) = row.map_err(|e| fail(e.into()))?;
        let name = name.value().to_owned();
        let entry: CatalogRecordV1 = codec::decode(value.value())
            .map_err(|e| corrupt(&name, format!("its catalog entry: {e}")))?;
        contexts.push((name, entry));
    }
    for (name, entry) in &contexts {
        let old = v1::ContextTables::new(entry.id);
        if tables.contains(&old.specs) {
            upgrade_context(txn, name, entry, &old, path)?;
        } else if entry.step_count != 0 {
            return Err(corrupt(
                name,
                format!("it counts {} steps but has no spec table", entry.step_count),
            ));
        }
        let payload = codec::encode(
            || {
                format!(
                    "the catalog entry of context {}",
                    crate::error::shorten(name)
                )
            },
            *entry,
        )?;
        let value = seal::seal(SEAL_CATALOG, 0, name.as_bytes(), &payload);
        catalog
            .insert(name.as_str(), value.as_slice())
            .map_err(|e| fail(e.into()))?;
    }
    Ok(())
}

/// Rewrites one context's version-1 tables as version 2.
fn upgrade_context(
    txn: &WriteTransaction,
    name: &str,
    entry: &CatalogRecordV1,
    old: &v1::ContextTables,
    path: &Path,
) -> Result<()> {
    let fail = |e: redb::Error| storage_error(action(path), e);
    let new = ContextTables::new(entry.id);
    let mut specs = txn.open_table(new.specs()).map_err(|e| fail(e.into()))?;
    let mut index = txn.open_table(new.index()).map_err(|e| fail(e.into()))?;

    let mut records = Vec::new();
    for row in specs.iter().map_err(|e| fail(e.into()))? {
        let (step, value) = row.map_err(|e| fail(e.into()))?;
        let step = step.value().to_owned();
        let record: StepRecordV1 = codec::decode(value.value())
            .map_err(|e| corrupt(name, format!("the record of step {}: {e}", shorten(&step))))?;
        records.push((step, record, value.value().to_vec()));
    }
    if records.len() as u64 != entry.step_count {
        return Err(corrupt(
            name,
            format!(
                "it holds {} steps but counts {}",
                records.len(),
                entry.step_count
            ),
        ));
    }
    for (step, record, payload) in &records {
        let sealed = seal::seal(SEAL_SPEC, entry.id, step.as_bytes(), payload);
        specs
            .insert(step.as_str(), sealed.as_slice())
            .map_err(|e| fail(e.into()))?;
        let key = type_row_key(&record.step_type, record.seq);
        let sealed = seal::seal(SEAL_INDEX, entry.id, &key, step.as_bytes());
        index
            .insert(key.as_slice(), sealed.as_slice())
            .map_err(|e| fail(e.into()))?;
    }

    {
        let type_order = txn
            .open_table(old.type_order())
            .map_err(|e| fail(e.into()))?;
        let types = type_order.len().map_err(|e| fail(e.into()))?;
        if types != entry.step_type_count {
            return Err(corrupt(
                name,
                format!(
                    "it holds {types} step types but counts {}",
                    entry.step_type_count
                ),
            ));
        }
        for row in type_order.iter().map_err(|e| fail(e.into()))? {
            let (step_type, first_seen) = row.map_err(|e| fail(e.into()))?;
            let key = first_seen_key(step_type.value());
            let sealed = seal::seal(
                SEAL_INDEX,
                entry.id,
                &key,
                &first_seen.value().to_le_bytes(),
            );
            index
                .insert(key.as_slice(), sealed.as_slice())
                .map_err(|e| fail(e.into()))?;
        }
    }
    drop((specs, index));
    for deleted in [
        txn.delete_table(old.order()),
        txn.delete_table(old.types()),
        txn.delete_table(old.type_order()),
    ] {
        deleted.map_err(|e| fail(e.into()))?;
    }
    Ok(())
}
