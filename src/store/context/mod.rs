//! Reading and writing one context's table, keeping the step-type index and the catalog
//! counts exact in the same transaction as the specs, and checking every row's seal on the
//! way out. Reading is here; writing is in `writer`.

mod known;
mod types;
mod writer;

pub(crate) use known::{KnownTypes, TxnKnownTypes};

pub(crate) use types::write_chunk;
pub(crate) use writer::{ContextWriter, PutOutcome, delete_tables};

use redb::{ReadOnlyTable, TableError};

use super::schema::{ContextTable, SEAL_SPEC, SEAL_TYPE_CHUNK, spec_key};
use super::typeindex::{self, Chunk};
use super::{seal, storage_error};
use crate::codec::{self, CatalogRecordV1, StepRecordV1};
use crate::error::{Error, Result, shorten, step_record};
use crate::spec::StepSpecification;

fn corrupt_step(
    context: &str,
    step: &str,
    detail: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::corrupted(step_record(context, step), detail, source)
}

fn corrupt_index(context: &str, detail: impl Into<String>) -> Error {
    Error::corrupted(
        format!("the step-type index of context {}", shorten(context)),
        detail,
        None,
    )
}

/// A read of a live type that did not start at its chunk 0, which a live type always keeps
/// (it holds the first-seen position): the read skipped chunks (a damaged branch page).
fn missing_first_chunk(context: &str, step_type: &str) -> Error {
    corrupt_index(
        context,
        format!(
            "a read of step type {} did not find its first chunk",
            shorten(step_type)
        ),
    )
}

/// Checks the seal of a spec row and decodes it.
fn decode_step(context: &str, id: u64, step: &str, value: &[u8]) -> Result<StepRecordV1> {
    // The message says what the seal or decoder found; only what lies beneath is a cause.
    let payload = seal::unseal(SEAL_SPEC, id, step.as_bytes(), value)
        .map_err(|e| corrupt_step(context, step, e.to_string(), None))?;
    codec::decode::<StepRecordV1>(payload)
        .map_err(|e| corrupt_step(context, step, e.to_string(), e.into_cause()))
}

/// Checks the seal of a chunk row and parses it: its type, number and content.
/// With `expected`, the chunk must belong to that type: a range read of one type that
/// returns another's row (a damaged branch page) is corruption, not data.
fn decode_chunk<'k>(
    context: &str,
    id: u64,
    key: &'k [u8],
    value: &[u8],
    expected: Option<&str>,
) -> Result<(&'k str, u32, Chunk)> {
    let (step_type, number, chunk) = seal::unseal(SEAL_TYPE_CHUNK, id, key, value)
        .ok()
        .and_then(|payload| {
            let (step_type, number) = typeindex::parse_chunk_key(key)?;
            Some((step_type, number, Chunk::parse(payload)?))
        })
        .ok_or_else(|| corrupt_index(context, "a chunk of it is damaged"))?;
    if let Some(expected) = expected
        && expected != step_type
    {
        return Err(corrupt_index(
            context,
            format!(
                "a read of step type {} found a chunk of step type {}",
                shorten(expected),
                shorten(step_type)
            ),
        ));
    }
    Ok((step_type, number, chunk))
}

/// One row of the type index: a step, its type and its registration position.
#[derive(Debug)]
struct TypeRow {
    step_type: String,
    seq: u64,
    step: String,
}

fn open_optional<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: redb::TableDefinition<K, V>,
    context: &str,
) -> Result<Option<ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(table) => Ok(Some(table)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(storage_error(
            format!("opening the tables of context {}", shorten(context)),
            e,
        )),
    }
}

/// One context as seen by one read transaction (a consistent snapshot). Each method opens
/// the context's table once and cross-checks what it reads: index entries against spec
/// records, entry counts against the catalog.
pub(crate) struct ContextReader<'txn> {
    txn: &'txn redb::ReadTransaction,
    name: String,
    entry: CatalogRecordV1,
    table: ContextTable,
}

impl<'txn> ContextReader<'txn> {
    pub(super) fn new(
        txn: &'txn redb::ReadTransaction,
        name: &str,
        entry: CatalogRecordV1,
    ) -> Self {
        ContextReader {
            txn,
            name: name.to_owned(),
            entry,
            table: ContextTable::new(entry.id),
        }
    }

    fn action(&self) -> String {
        format!("reading context {}", shorten(&self.name))
    }

    fn rows(&self) -> Result<Option<ReadOnlyTable<&'static [u8], &'static [u8]>>> {
        open_optional(self.txn, self.table.def(), &self.name)
    }

    fn record(
        &self,
        rows: &ReadOnlyTable<&'static [u8], &'static [u8]>,
        step: &str,
    ) -> Result<Option<StepRecordV1>> {
        let value = rows
            .get(spec_key(step).as_slice())
            .map_err(|e| storage_error(self.action(), e))?;
        value
            .map(|v| decode_step(&self.name, self.entry.id, step, v.value()))
            .transpose()
    }

    fn spec_of(&self, step: &str, record: StepRecordV1) -> Result<StepSpecification> {
        record
            .into_spec()
            .map_err(|e| corrupt_step(&self.name, step, e.to_string(), e.into_cause()))
    }

    /// The chunks with keys in `start..=end`, in key order, each checked and parsed:
    /// `(type, chunk number, chunk)`.
    fn chunks(
        &self,
        start: &[u8],
        end: &[u8],
        expected: Option<&str>,
    ) -> Result<Vec<(String, u32, Chunk)>> {
        let Some(rows) = self.rows()? else {
            return Ok(Vec::new());
        };
        let mut chunks = Vec::new();
        let mut previous: Option<Vec<u8>> = None;
        for row in rows
            .range::<&[u8]>(start..=end)
            .map_err(|e| storage_error(self.action(), e))?
        {
            let (key, value) = row.map_err(|e| storage_error(self.action(), e))?;
            // Keys ascend strictly in a sound tree; a repeated or misplaced key (a write
            // that a damaged branch page sent to the wrong leaf) is corruption.
            if previous.as_deref().is_some_and(|p| p >= key.value()) {
                return Err(corrupt_index(&self.name, "its chunks are out of order"));
            }
            previous = Some(key.value().to_vec());
            let (step_type, number, chunk) = decode_chunk(
                &self.name,
                self.entry.id,
                key.value(),
                value.value(),
                expected,
            )?;
            chunks.push((step_type.to_owned(), number, chunk));
        }
        Ok(chunks)
    }

    /// The index entries of `chunks`, in registration order; two entries with one seq (a
    /// step listed twice) are corruption.
    fn entries_in_order(&self, chunks: &[(String, u32, Chunk)]) -> Result<Vec<TypeRow>> {
        let mut rows: Vec<TypeRow> = chunks
            .iter()
            .flat_map(|(step_type, _, chunk)| {
                chunk.entries().map(|(seq, step)| TypeRow {
                    step_type: step_type.clone(),
                    seq,
                    step: step.to_owned(),
                })
            })
            .collect();
        rows.sort_by_key(|row| row.seq);
        if let Some(pair) = rows.windows(2).find(|pair| pair[0].seq == pair[1].seq) {
            return Err(corrupt_index(
                &self.name,
                format!(
                    "it lists position {} twice (steps {} and {})",
                    pair[0].seq,
                    shorten(&pair[0].step),
                    shorten(&pair[1].step)
                ),
            ));
        }
        Ok(rows)
    }

    /// Fails unless the index lists as many `what`s as the catalog counts.
    fn check_count(&self, listed: usize, counted: u64, what: &str) -> Result<()> {
        if listed as u64 == counted {
            return Ok(());
        }
        Err(corrupt_index(
            &self.name,
            format!("it lists {listed} {what} but the catalog counts {counted}"),
        ))
    }

    /// Every index entry, in registration order, checked against the catalog's step count.
    fn rows_in_order(&self) -> Result<Vec<TypeRow>> {
        let (start, end) = typeindex::all_types_range();
        let rows = self.entries_in_order(&self.chunks(&start, &end, None)?)?;
        self.check_count(rows.len(), self.entry.step_count, "steps")?;
        Ok(rows)
    }

    /// The specs of `rows`, each checked to agree with its index entry.
    fn lookup_all(&self, rows: Vec<TypeRow>) -> Result<Vec<(String, StepSpecification)>> {
        let mut specs = Vec::with_capacity(rows.len());
        self.lookup_each(rows, &mut |step, spec| {
            specs.push((step, spec));
            Ok(())
        })?;
        Ok(specs)
    }

    /// Calls `visit` with the spec of each of `rows` in turn (each checked to agree with its
    /// index entry), decoding one at a time; stops at the first error, `visit`'s included.
    fn lookup_each(
        &self,
        rows: Vec<TypeRow>,
        visit: &mut dyn FnMut(String, StepSpecification) -> Result<()>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let table = self.rows()?;
        for row in rows {
            let record = match &table {
                Some(table) => self.record(table, &row.step)?,
                None => None,
            };
            match record {
                Some(record) if record.seq == row.seq && record.step_type == row.step_type => {
                    let spec = self.spec_of(&row.step, record)?;
                    visit(row.step, spec)?;
                }
                Some(_) => {
                    return Err(corrupt_index(
                        &self.name,
                        format!(
                            "its entry for step {} disagrees with the step's record",
                            shorten(&row.step)
                        ),
                    ));
                }
                None => {
                    return Err(corrupt_index(
                        &self.name,
                        format!(
                            "step {} is in the index but has no record",
                            shorten(&row.step)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// One specification by step name.
    pub(crate) fn get(&self, step: &str) -> Result<Option<StepSpecification>> {
        let Some(rows) = self.rows()? else {
            return Ok(None);
        };
        self.record(&rows, step)?
            .map(|record| self.spec_of(step, record))
            .transpose()
    }

    /// Whether a step of that name is registered (its seal is checked, nothing decoded).
    pub(crate) fn contains(&self, step: &str) -> Result<bool> {
        let Some(rows) = self.rows()? else {
            return Ok(false);
        };
        let value = rows
            .get(spec_key(step).as_slice())
            .map_err(|e| storage_error(self.action(), e))?;
        match value {
            None => Ok(false),
            Some(value) => seal::unseal(SEAL_SPEC, self.entry.id, step.as_bytes(), value.value())
                .map(|_| true)
                .map_err(|e| corrupt_step(&self.name, step, e.to_string(), None)),
        }
    }

    /// Step names in registration order.
    pub(crate) fn names(&self) -> Result<Vec<String>> {
        Ok(self
            .rows_in_order()?
            .into_iter()
            .map(|row| row.step)
            .collect())
    }

    /// Every step with its specification, in registration order.
    pub(crate) fn all(&self) -> Result<Vec<(String, StepSpecification)>> {
        self.lookup_all(self.rows_in_order()?)
    }

    /// Calls `visit` with every step and its specification, in registration order, decoding
    /// one specification at a time (the index entries, names and positions, are read whole
    /// first and checked against the catalog's count). Returns how many were visited.
    pub(crate) fn for_each(
        &self,
        visit: &mut dyn FnMut(String, StepSpecification) -> Result<()>,
    ) -> Result<u64> {
        let rows = self.rows_in_order()?;
        let count = rows.len() as u64;
        self.lookup_each(rows, visit)?;
        Ok(count)
    }

    /// Step types in first-seen order, checked against the catalog's type count.
    pub(crate) fn step_types(&self) -> Result<Vec<String>> {
        let (start, end) = typeindex::all_types_range();
        let mut types: Vec<(u64, String)> = self
            .chunks(&start, &end, None)?
            .into_iter()
            .filter(|(_, number, _)| *number == 0)
            .map(|(step_type, _, chunk)| (chunk.first_seen(), step_type))
            .collect();
        self.check_count(types.len(), self.entry.step_type_count, "step types")?;
        types.sort();
        let listed: std::collections::HashSet<&str> =
            types.iter().map(|(_, t)| t.as_str()).collect();
        if listed.len() != types.len() {
            return Err(corrupt_index(&self.name, "it lists a step type twice"));
        }
        Ok(types.into_iter().map(|(_, t)| t).collect())
    }

    /// Every step type with its step names, from the index alone (no spec row is read):
    /// names in registration order, types in the order of their first step. Checked as
    /// [`Self::names`] and [`Self::step_types`] check: every chunk's seal, keys in order,
    /// each type starting at its chunk 0, no position twice, and the step and type counts
    /// against the catalog's.
    pub(crate) fn type_members(&self) -> Result<Vec<(String, Vec<String>)>> {
        let (start, end) = typeindex::all_types_range();
        let chunks = self.chunks(&start, &end, None)?;
        // Chunk keys are the type then the chunk number, so a type's chunks are adjacent.
        let mut types: Vec<&str> = Vec::new();
        let mut entries: Vec<(u64, usize, &str)> = Vec::new();
        for (step_type, number, chunk) in &chunks {
            if types.last() != Some(&step_type.as_str()) {
                if *number != 0 {
                    return Err(missing_first_chunk(&self.name, step_type));
                }
                types.push(step_type);
            }
            let at = types.len() - 1;
            entries.extend(chunk.entries().map(|(seq, step)| (seq, at, step)));
        }
        self.check_count(types.len(), self.entry.step_type_count, "step types")?;
        self.check_count(entries.len(), self.entry.step_count, "steps")?;
        entries.sort_unstable_by_key(|(seq, _, _)| *seq);
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(corrupt_index(
                &self.name,
                format!(
                    "it lists position {} twice (steps {} and {})",
                    pair[0].0,
                    shorten(pair[0].2),
                    shorten(pair[1].2)
                ),
            ));
        }
        // Where each type's group is in the answer, once its first step was met (`at`
        // indexes `types` and `slot`, `group` indexes `members`, by construction).
        let mut slot: Vec<Option<usize>> = vec![None; types.len()];
        let mut members: Vec<(String, Vec<String>)> = Vec::with_capacity(types.len());
        for (_, at, step) in entries {
            let group = *slot[at].get_or_insert_with(|| {
                members.push((types[at].to_owned(), Vec::new()));
                members.len() - 1
            });
            members[group].1.push(step.to_owned());
        }
        if members.len() != types.len() {
            return Err(corrupt_index(
                &self.name,
                "it lists a step type without steps",
            ));
        }
        Ok(members)
    }

    /// The steps of one type with their specifications, in registration order; a read that
    /// misses the type's chunk 0 is corruption ([`missing_first_chunk`]).
    pub(crate) fn by_type(&self, step_type: &str) -> Result<Vec<(String, StepSpecification)>> {
        let (start, end) = typeindex::type_range(step_type);
        let chunks = self.chunks(&start, &end, Some(step_type))?;
        if chunks.first().is_some_and(|(_, number, _)| *number != 0) {
            return Err(missing_first_chunk(&self.name, step_type));
        }
        self.lookup_all(self.entries_in_order(&chunks)?)
    }
}
