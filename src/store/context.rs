//! Reading and writing one context's tables, keeping the step-type index and the catalog
//! counts exact in the same transaction as the specs, and checking every row's seal on the
//! way out.

use redb::{ReadOnlyTable, ReadableTable, Table, TableError, WriteTransaction};

use super::schema::{ContextTables, INDEX_FIRST_SEEN_ROW, INDEX_TYPE_ROW, SEAL_INDEX, SEAL_SPEC};
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

/// Checks the seal of a spec row and decodes it.
fn decode_step(context: &str, id: u64, step: &str, value: &[u8]) -> Result<StepRecordV1> {
    let payload = seal::unseal(SEAL_SPEC, id, step.as_bytes(), value)
        .map_err(|e| corrupt_step(context, step, e.to_string(), Some(Box::new(e))))?;
    codec::decode::<StepRecordV1>(payload)
        .map_err(|e| corrupt_step(context, step, e.to_string(), Some(Box::new(e))))
}

/// The key of the index row saying that step `seq` has type `step_type`.
pub(super) fn type_row_key(step_type: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + step_type.len() + 8);
    key.push(INDEX_TYPE_ROW);
    // Step types are validated to a few KiB; saturating keeps this total.
    key.extend_from_slice(
        &u32::try_from(step_type.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    key.extend_from_slice(step_type.as_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The key of the index row holding the first-seen position of `step_type`.
pub(super) fn first_seen_key(step_type: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + step_type.len());
    key.push(INDEX_FIRST_SEEN_ROW);
    key.extend_from_slice(step_type.as_bytes());
    key
}

/// Splits a type-row key into its type and seq.
fn parse_type_row(key: &[u8]) -> Option<(&str, u64)> {
    let rest = key.strip_prefix(&[INDEX_TYPE_ROW])?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (step_type, seq) = rest.split_at_checked(len)?;
    let seq: [u8; 8] = seq.try_into().ok()?;
    Some((
        std::str::from_utf8(step_type).ok()?,
        u64::from_be_bytes(seq),
    ))
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
/// only the tables it needs, once, and cross-checks what it reads: index rows against spec
/// records, row counts against the catalog.
pub(crate) struct ContextReader<'txn> {
    txn: &'txn redb::ReadTransaction,
    name: String,
    entry: CatalogRecordV1,
    tables: ContextTables,
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
            tables: ContextTables::new(entry.id),
        }
    }

    fn action(&self) -> String {
        format!("reading context {}", shorten(&self.name))
    }

    fn specs(&self) -> Result<Option<ReadOnlyTable<&'static str, &'static [u8]>>> {
        open_optional(self.txn, self.tables.specs(), &self.name)
    }

    fn record(
        &self,
        specs: &ReadOnlyTable<&'static str, &'static [u8]>,
        step: &str,
    ) -> Result<Option<StepRecordV1>> {
        let value = specs
            .get(step)
            .map_err(|e| storage_error(self.action(), e))?;
        value
            .map(|v| decode_step(&self.name, self.entry.id, step, v.value()))
            .transpose()
    }

    fn spec_of(&self, step: &str, record: StepRecordV1) -> Result<StepSpecification> {
        record
            .into_spec()
            .map_err(|e| corrupt_step(&self.name, step, e.to_string(), Some(Box::new(e))))
    }

    /// The index rows with keys in `start..=end`, in key order: each row's seal is checked
    /// and `parse` reads its key and payload; a row failing either is corruption.
    fn index_rows<T>(
        &self,
        start: &[u8],
        end: &[u8],
        what: &str,
        parse: impl Fn(&[u8], &[u8]) -> Option<T>,
    ) -> Result<Vec<T>> {
        let Some(index) = open_optional(self.txn, self.tables.index(), &self.name)? else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::new();
        for row in index
            .range::<&[u8]>(start..=end)
            .map_err(|e| storage_error(self.action(), e))?
        {
            let (key, value) = row.map_err(|e| storage_error(self.action(), e))?;
            let key = key.value();
            let parsed = seal::unseal(SEAL_INDEX, self.entry.id, key, value.value())
                .ok()
                .and_then(|payload| parse(key, payload))
                .ok_or_else(|| corrupt_index(&self.name, format!("a {what} row is damaged")))?;
            rows.push(parsed);
        }
        Ok(rows)
    }

    /// The type rows with keys in `start..=end`, in key order.
    fn type_rows(&self, start: &[u8], end: &[u8]) -> Result<Vec<TypeRow>> {
        self.index_rows(start, end, "step", |key, payload| {
            let (step_type, seq) = parse_type_row(key)?;
            Some(TypeRow {
                step_type: step_type.to_owned(),
                seq,
                step: std::str::from_utf8(payload).ok()?.to_owned(),
            })
        })
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

    /// Every type row, in registration order, checked against the catalog's step count.
    fn rows_in_order(&self) -> Result<Vec<TypeRow>> {
        // Every type-row key starts with `T` and is longer than one byte, so the inclusive
        // end `U` (no key equals it) bounds exactly the type rows.
        let mut rows = self.type_rows(&[INDEX_TYPE_ROW], &[INDEX_TYPE_ROW + 1])?;
        self.check_count(rows.len(), self.entry.step_count, "steps")?;
        rows.sort_by_key(|row| row.seq);
        Ok(rows)
    }

    /// The specs of `rows`, each checked to agree with its index row.
    fn lookup_all(&self, rows: Vec<TypeRow>) -> Result<Vec<(String, StepSpecification)>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let specs = self.specs()?;
        rows.into_iter()
            .map(|row| {
                let record = match &specs {
                    Some(specs) => self.record(specs, &row.step)?,
                    None => None,
                };
                match record {
                    Some(record) if record.seq == row.seq && record.step_type == row.step_type => {
                        let spec = self.spec_of(&row.step, record)?;
                        Ok((row.step, spec))
                    }
                    Some(_) => Err(corrupt_index(
                        &self.name,
                        format!(
                            "its row for step {} disagrees with the step's record",
                            shorten(&row.step)
                        ),
                    )),
                    None => Err(corrupt_index(
                        &self.name,
                        format!(
                            "step {} is in the index but has no record",
                            shorten(&row.step)
                        ),
                    )),
                }
            })
            .collect()
    }

    /// One specification by step name.
    pub(crate) fn get(&self, step: &str) -> Result<Option<StepSpecification>> {
        let Some(specs) = self.specs()? else {
            return Ok(None);
        };
        self.record(&specs, step)?
            .map(|record| self.spec_of(step, record))
            .transpose()
    }

    /// Whether a step of that name is registered (its seal is checked, nothing decoded).
    pub(crate) fn contains(&self, step: &str) -> Result<bool> {
        let Some(specs) = self.specs()? else {
            return Ok(false);
        };
        let value = specs
            .get(step)
            .map_err(|e| storage_error(self.action(), e))?;
        match value {
            None => Ok(false),
            Some(value) => seal::unseal(SEAL_SPEC, self.entry.id, step.as_bytes(), value.value())
                .map(|_| true)
                .map_err(|e| corrupt_step(&self.name, step, e.to_string(), Some(Box::new(e)))),
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

    /// Step types in first-seen order, checked against the catalog's type count.
    pub(crate) fn step_types(&self) -> Result<Vec<String>> {
        let mut types = self.index_rows(
            &[INDEX_FIRST_SEEN_ROW],
            &[INDEX_FIRST_SEEN_ROW + 1],
            "step-type",
            |key, payload| {
                let step_type = std::str::from_utf8(key.strip_prefix(&[INDEX_FIRST_SEEN_ROW])?);
                let first_seen = u64::from_le_bytes(payload.try_into().ok()?);
                Some((first_seen, step_type.ok()?.to_owned()))
            },
        )?;
        self.check_count(types.len(), self.entry.step_type_count, "step types")?;
        types.sort();
        Ok(types.into_iter().map(|(_, t)| t).collect())
    }

    /// The steps of one type with their specifications, in registration order.
    pub(crate) fn by_type(&self, step_type: &str) -> Result<Vec<(String, StepSpecification)>> {
        let rows = self.type_rows(
            &type_row_key(step_type, 0),
            &type_row_key(step_type, u64::MAX),
        )?;
        self.lookup_all(rows)
    }
}

/// Maps a storage error of a write to step `step` of `context` (the message is only built
/// on error: this runs for every row a registration writes).
fn fail<'a>(context: &'a str, step: &'a str) -> impl Fn(redb::StorageError) -> Error + 'a {
    move |e| {
        storage_error(
            format!(
                "writing step {} of context {}",
                shorten(step),
                shorten(context)
            ),
            e,
        )
    }
}

/// One context's tables, open for writing inside the write transaction.
pub(crate) struct ContextWriter<'txn> {
    txn: &'txn WriteTransaction,
    name: String,
    entry: CatalogRecordV1,
    specs: Table<'txn, &'static str, &'static [u8]>,
    index: Table<'txn, &'static [u8], &'static [u8]>,
    /// Step types known to have their first-seen row, so that a batch of many steps of few
    /// types looks each type up once.
    known_types: rustc_hash::FxHashSet<String>,
    /// Step-type rows (key, sealed value) not yet inserted: a batch inserts them sorted by
    /// key at the end (neighbouring keys land in the same leaf: about a quarter fewer
    /// instructions than inserting them in registration order, where consecutive steps
    /// usually have different types). Flushed before anything reads the index and by
    /// [`Self::finish`]; a writer dropped without `finish` belongs to a discarded
    /// transaction.
    pending_rows: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What a [`ContextWriter::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutOutcome {
    Inserted,
    Replaced,
}

impl<'txn> ContextWriter<'txn> {
    pub(super) fn open(
        txn: &'txn WriteTransaction,
        name: &str,
        entry: CatalogRecordV1,
    ) -> Result<Self> {
        let tables = ContextTables::new(entry.id);
        let action = || format!("opening the tables of context {}", shorten(name));
        Ok(ContextWriter {
            txn,
            name: name.to_owned(),
            entry,
            specs: txn
                .open_table(tables.specs())
                .map_err(|e| storage_error(action(), e))?,
            index: txn
                .open_table(tables.index())
                .map_err(|e| storage_error(action(), e))?,
            known_types: rustc_hash::FxHashSet::default(),
            pending_rows: Vec::new(),
        })
    }

    /// Stores `spec` under `step`. With `replace == false` a taken name is
    /// [`Error::AlreadyRegistered`]; with `replace == true` the step keeps its registration
    /// position and the type index moves it if its type changed.
    ///
    /// An error leaves this transaction's tables in an unspecified state (a taken name is
    /// found by inserting over it): the caller must discard the transaction, as every caller
    /// does by returning the error.
    pub(crate) fn put(
        &mut self,
        step: &str,
        spec: &StepSpecification,
        replace: bool,
    ) -> Result<PutOutcome> {
        if !replace {
            // One B-tree descent instead of a lookup then an insert.
            let seq = self.entry.next_seq;
            let mut value = codec::encode_step(|| step_record(&self.name, step), seq, spec, 4)?;
            seal::seal_reserved(SEAL_SPEC, self.entry.id, step.as_bytes(), &mut value);
            let taken = self
                .specs
                .insert(step, value.as_slice())
                .map_err(fail(&self.name, step))?
                .is_some();
            if taken {
                return Err(Error::AlreadyRegistered {
                    context: self.name.clone(),
                    step: step.to_owned(),
                });
            }
            self.next_seq();
            self.index_type(&spec.step_type, seq, step)?;
            self.entry.step_count += 1;
            return Ok(PutOutcome::Inserted);
        }
        let existing = match self.specs.get(step).map_err(fail(&self.name, step))? {
            Some(value) => Some(decode_step(&self.name, self.entry.id, step, value.value())?),
            None => None,
        };
        let (seq, outcome) = match &existing {
            Some(old) => {
                if old.step_type != spec.step_type {
                    self.unindex_type(&old.step_type, old.seq, step)?;
                    self.index_type(&spec.step_type, old.seq, step)?;
                }
                (old.seq, PutOutcome::Replaced)
            }
            None => {
                let seq = self.next_seq();
                self.index_type(&spec.step_type, seq, step)?;
                self.entry.step_count += 1;
                (seq, PutOutcome::Inserted)
            }
        };
        let mut value = codec::encode_step(|| step_record(&self.name, step), seq, spec, 4)?;
        seal::seal_reserved(SEAL_SPEC, self.entry.id, step.as_bytes(), &mut value);
        self.specs
            .insert(step, value.as_slice())
            .map_err(fail(&self.name, step))?;
        Ok(outcome)
    }

    /// Removes `step`; false if it was not registered.
    pub(crate) fn remove(&mut self, step: &str) -> Result<bool> {
        let old = match self.specs.remove(step).map_err(fail(&self.name, step))? {
            Some(value) => decode_step(&self.name, self.entry.id, step, value.value())?,
            None => return Ok(false),
        };
        self.unindex_type(&old.step_type, old.seq, step)?;
        self.entry.step_count = self.entry.step_count.saturating_sub(1);
        Ok(true)
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.entry.next_seq;
        self.entry.next_seq += 1;
        seq
    }

    fn index_type(&mut self, step_type: &str, seq: u64, step: &str) -> Result<()> {
        let key = type_row_key(step_type, seq);
        let value = seal::seal(SEAL_INDEX, self.entry.id, &key, step.as_bytes());
        self.pending_rows.push((key, value));
        if self.known_types.contains(step_type) {
            return Ok(());
        }
        let first_seen = first_seen_key(step_type);
        let known = self
            .index
            .get(first_seen.as_slice())
            .map_err(fail(&self.name, step))?
            .is_some();
        self.known_types.insert(step_type.to_owned());
        if !known {
            let position = self.next_seq().to_le_bytes();
            let value = seal::seal(SEAL_INDEX, self.entry.id, &first_seen, &position);
            self.index
                .insert(first_seen.as_slice(), value.as_slice())
                .map_err(fail(&self.name, step))?;
            self.entry.step_type_count += 1;
        }
        Ok(())
    }

    /// Inserts the pending step-type rows, sorted by key.
    fn flush_rows(&mut self) -> Result<()> {
        let mut rows = std::mem::take(&mut self.pending_rows);
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in &rows {
            self.index
                .insert(key.as_slice(), value.as_slice())
                .map_err(|e| {
                    let step = seal::unseal(SEAL_INDEX, self.entry.id, key, value);
                    fail(
                        &self.name,
                        &String::from_utf8_lossy(step.unwrap_or_default()),
                    )(e)
                })?;
        }
        Ok(())
    }

    fn unindex_type(&mut self, step_type: &str, seq: u64, step: &str) -> Result<()> {
        self.flush_rows()?;
        self.index
            .remove(type_row_key(step_type, seq).as_slice())
            .map_err(fail(&self.name, step))?;
        let (start, end) = (
            type_row_key(step_type, 0),
            type_row_key(step_type, u64::MAX),
        );
        let still_used = self
            .index
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(fail(&self.name, step))?
            .next()
            .is_some();
        if !still_used {
            self.index
                .remove(first_seen_key(step_type).as_slice())
                .map_err(fail(&self.name, step))?;
            self.known_types.remove(step_type);
            self.entry.step_type_count = self.entry.step_type_count.saturating_sub(1);
        }
        Ok(())
    }

    /// Writes the updated counts and a new revision to the catalog, in this transaction.
    pub(crate) fn finish(mut self) -> Result<CatalogRecordV1> {
        self.flush_rows()?;
        self.entry.revision += 1;
        super::txn::put_catalog(self.txn, &self.name, &self.entry)?;
        Ok(self.entry)
    }
}

/// Deletes every table of context `id`.
pub(super) fn delete_tables(txn: &WriteTransaction, name: &str, id: u64) -> Result<()> {
    let tables = ContextTables::new(id);
    let action = || format!("deleting the tables of context {}", shorten(name));
    txn.delete_table(tables.specs())
        .map_err(|e| storage_error(action(), e))?;
    txn.delete_table(tables.index())
        .map_err(|e| storage_error(action(), e))?;
    Ok(())
}
