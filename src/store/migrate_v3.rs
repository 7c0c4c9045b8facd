//! Schema version 2 → 3: each context's `specs` and `index` tables become one `rows` table
//! with chunked step-type index rows (layouts in `store::schema`, chunks in
//! `store::typeindex`). Runs inside the write transaction that opens the file, after any
//! earlier step, like every step in `store::migrate`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use redb::{ReadableTable, TableHandle, WriteTransaction};

use super::context::write_chunk;
use super::migrate::corrupt_in_upgrade;
use super::schema::v2::{self, INDEX_FIRST_SEEN_ROW, INDEX_TYPE_ROW, SEAL_INDEX};
use super::schema::{CATALOG, ContextTable, SEAL_SPEC, spec_key};
use super::typeindex::{self, Chunk};
use super::{seal, storage_error, txn};
use crate::codec::{self, CatalogRecordV1, StepRecordV1};
use crate::error::{Error, Result, shorten};

fn action(path: &Path) -> String {
    format!("upgrading {} from schema version 2 to 3", path.display())
}

fn corrupt(context: &str, detail: String) -> Error {
    corrupt_in_upgrade(context, 2, detail)
}

/// One context's version-2 content, read and checked.
struct V2Context {
    /// Step name → (sealed spec value, as stored; its record).
    specs: Vec<(String, Vec<u8>, StepRecordV1)>,
    /// Step type → first-seen seq.
    first_seen: HashMap<String, u64>,
}

pub(super) fn v2_to_v3(txn: &WriteTransaction, path: &Path) -> Result<()> {
    let fail = |e: redb::Error| storage_error(action(path), e);
    let tables: HashSet<String> = txn
        .list_tables()
        .map_err(|e| fail(e.into()))?
        .map(|t| t.name().to_owned())
        .collect();
    let mut contexts = Vec::new();
    {
        let catalog = txn.open_table(CATALOG).map_err(|e| fail(e.into()))?;
        for row in catalog.iter().map_err(|e| fail(e.into()))? {
            let (name, value) = row.map_err(|e| fail(e.into()))?;
            let name = name.value().to_owned();
            let entry = txn::decode_catalog(&name, value.value())?;
            contexts.push((name, entry));
        }
    }
    for (name, entry) in &contexts {
        let old = v2::ContextTables::new(entry.id);
        let has_specs = tables.contains(&old.specs);
        let has_index = tables.contains(&old.index);
        if !has_specs && !has_index {
            if entry.step_count != 0 {
                return Err(corrupt(
                    name,
                    format!("it counts {} steps but has no tables", entry.step_count),
                ));
            }
            continue;
        }
        let content = read_v2(txn, name, entry, &old, has_specs, has_index, path)?;
        write_v3(txn, name, entry, content, path)?;
        txn.delete_table(old.specs()).map_err(|e| fail(e.into()))?;
        txn.delete_table(old.index()).map_err(|e| fail(e.into()))?;
    }
    Ok(())
}

/// Reads one context's version-2 tables, checking every seal and count and that the index
/// agrees with the records.
fn read_v2(
    txn: &WriteTransaction,
    name: &str,
    entry: &CatalogRecordV1,
    old: &v2::ContextTables,
    has_specs: bool,
    has_index: bool,
    path: &Path,
) -> Result<V2Context> {
    let fail = |e: redb::Error| storage_error(action(path), e);
    let mut specs = Vec::new();
    if has_specs {
        let table = txn.open_table(old.specs()).map_err(|e| fail(e.into()))?;
        for row in table.iter().map_err(|e| fail(e.into()))? {
            let (step, value) = row.map_err(|e| fail(e.into()))?;
            let step = step.value().to_owned();
            let value = value.value().to_vec();
            let record: StepRecordV1 = seal::unseal(SEAL_SPEC, entry.id, step.as_bytes(), &value)
                .map_err(|e| e.to_string())
                .and_then(|payload| codec::decode(payload).map_err(|e| e.to_string()))
                .map_err(|e| {
                    corrupt(name, format!("the record of step {}: {e}", shorten(&step)))
                })?;
            specs.push((step, value, record));
        }
    }
    if specs.len() as u64 != entry.step_count {
        return Err(corrupt(
            name,
            format!(
                "it holds {} steps but counts {}",
                specs.len(),
                entry.step_count
            ),
        ));
    }
    let by_name: HashMap<&str, &StepRecordV1> = specs
        .iter()
        .map(|(step, _, r)| (step.as_str(), r))
        .collect();
    let mut first_seen = HashMap::new();
    let mut type_rows = 0u64;
    if has_index {
        let table = txn.open_table(old.index()).map_err(|e| fail(e.into()))?;
        for row in table.iter().map_err(|e| fail(e.into()))? {
            let (key, value) = row.map_err(|e| fail(e.into()))?;
            let key = key.value();
            let damaged = || corrupt(name, "a row of its step-type index is damaged".to_owned());
            let payload =
                seal::unseal(SEAL_INDEX, entry.id, key, value.value()).map_err(|_| damaged())?;
            match key.split_first() {
                Some((&INDEX_FIRST_SEEN_ROW, step_type)) => {
                    let step_type = std::str::from_utf8(step_type).map_err(|_| damaged())?;
                    let seq = <[u8; 8]>::try_from(payload).map_err(|_| damaged())?;
                    first_seen.insert(step_type.to_owned(), u64::from_le_bytes(seq));
                }
                Some((&INDEX_TYPE_ROW, _)) => {
                    let step = std::str::from_utf8(payload).map_err(|_| damaged())?;
                    let agrees = by_name.get(step).is_some_and(|record| {
                        v2::type_row_key(&record.step_type, record.seq) == key
                    });
                    if !agrees {
                        return Err(corrupt(
                            name,
                            format!(
                                "its index row for step {} disagrees with the step's record",
                                shorten(step)
                            ),
                        ));
                    }
                    type_rows += 1;
                }
                _ => return Err(damaged()),
            }
        }
    }
    if type_rows != entry.step_count {
        return Err(corrupt(
            name,
            format!(
                "its index lists {type_rows} steps but it counts {}",
                entry.step_count
            ),
        ));
    }
    let types: HashSet<&str> = specs.iter().map(|(_, _, r)| r.step_type.as_str()).collect();
    if first_seen.len() as u64 != entry.step_type_count
        || types.len() != first_seen.len()
        || types.iter().any(|t| !first_seen.contains_key(*t))
    {
        return Err(corrupt(
            name,
            format!(
                "its index lists {} step types, its steps have {} and it counts {}",
                first_seen.len(),
                types.len(),
                entry.step_type_count
            ),
        ));
    }
    Ok(V2Context { specs, first_seen })
}

/// Writes one context's content as its version-3 table.
fn write_v3(
    txn: &WriteTransaction,
    name: &str,
    entry: &CatalogRecordV1,
    content: V2Context,
    path: &Path,
) -> Result<()> {
    let fail = |e: redb::Error| storage_error(action(path), e);
    let table = ContextTable::new(entry.id);
    let mut rows = txn.open_table(table.def()).map_err(|e| fail(e.into()))?;
    let mut by_type: HashMap<&str, Vec<(u64, &str)>> = HashMap::new();
    for (step, value, record) in &content.specs {
        rows.insert(spec_key(step).as_slice(), value.as_slice())
            .map_err(|e| fail(e.into()))?;
        by_type
            .entry(record.step_type.as_str())
            .or_default()
            .push((record.seq, step.as_str()));
    }
    for (step_type, mut entries) in by_type {
        let Some(&first_seen) = content.first_seen.get(step_type) else {
            return Err(corrupt(
                name,
                format!("step type {} has no first-seen row", shorten(step_type)),
            ));
        };
        entries.sort_unstable();
        let mut number = 0u32;
        let mut chunk = Chunk::new(first_seen);
        for (seq, step) in entries {
            if !chunk.fits(step) {
                write_chunk(
                    &mut rows,
                    entry.id,
                    &typeindex::chunk_key(step_type, number),
                    &chunk,
                )
                .map_err(|e| fail(e.into()))?;
                number = number.checked_add(1).ok_or_else(|| {
                    corrupt(
                        name,
                        format!("step type {} has too many steps", shorten(step_type)),
                    )
                })?;
                chunk = Chunk::new(first_seen);
            }
            chunk.push(seq, step);
        }
        write_chunk(
            &mut rows,
            entry.id,
            &typeindex::chunk_key(step_type, number),
            &chunk,
        )
        .map_err(|e| fail(e.into()))?;
    }
    Ok(())
}
