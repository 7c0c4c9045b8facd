//! Reading and writing one context's tables, keeping the step-type index and the catalog
//! counts exact in the same transaction as the specs.

use redb::{ReadOnlyTable, ReadableTable, Table, TableError, WriteTransaction};

use super::schema::ContextTables;
use super::storage_error;
use crate::codec::{self, CatalogRecordV1, StepRecordV1};
use crate::error::{Error, Result, shorten};
use crate::spec::StepSpecification;

fn decode_step(context: &str, step: &str, bytes: &[u8]) -> Result<StepRecordV1> {
    codec::decode::<StepRecordV1>(bytes).map_err(|e| corrupt_step(context, step, e))
}

fn corrupt_step(context: &str, step: &str, e: codec::DecodeError) -> Error {
    Error::corrupted(
        format!(
            "the record of step {} in context {}",
            shorten(step),
            shorten(context)
        ),
        e.to_string(),
        Some(Box::new(e)),
    )
}

fn decode_spec(context: &str, step: &str, bytes: &[u8]) -> Result<StepSpecification> {
    decode_step(context, step, bytes)?
        .into_spec()
        .map_err(|e| corrupt_step(context, step, e))
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
/// only the tables it needs, once.
pub(crate) struct ContextReader<'txn> {
    txn: &'txn redb::ReadTransaction,
    name: String,
    tables: ContextTables,
}

impl<'txn> ContextReader<'txn> {
    pub(super) fn new(txn: &'txn redb::ReadTransaction, name: &str, id: u64) -> Self {
        ContextReader {
            txn,
            name: name.to_owned(),
            tables: ContextTables::new(id),
        }
    }

    fn action(&self) -> String {
        format!("reading context {}", shorten(&self.name))
    }

    fn specs(&self) -> Result<Option<ReadOnlyTable<&'static str, &'static [u8]>>> {
        open_optional(self.txn, self.tables.specs(), &self.name)
    }

    fn lookup(
        &self,
        specs: &ReadOnlyTable<&'static str, &'static [u8]>,
        step: &str,
    ) -> Result<Option<StepSpecification>> {
        let value = specs
            .get(step)
            .map_err(|e| storage_error(self.action(), e))?;
        value
            .map(|v| decode_spec(&self.name, step, v.value()))
            .transpose()
    }

    /// Looks up every name in `names` (which come from an index) in the spec table.
    fn lookup_all(&self, names: Vec<String>) -> Result<Vec<(String, StepSpecification)>> {
        let Some(specs) = self.specs()? else {
            return match names.first() {
                None => Ok(Vec::new()),
                Some(name) => Err(self.dangling(name)),
            };
        };
        names
            .into_iter()
            .map(|name| match self.lookup(&specs, &name)? {
                Some(spec) => Ok((name, spec)),
                None => Err(self.dangling(&name)),
            })
            .collect()
    }

    fn dangling(&self, step: &str) -> Error {
        Error::corrupted(
            format!("context {}", shorten(&self.name)),
            format!("step {} is in an index but has no record", shorten(step)),
            None,
        )
    }

    /// One specification by step name.
    pub(crate) fn get(&self, step: &str) -> Result<Option<StepSpecification>> {
        match self.specs()? {
            Some(specs) => self.lookup(&specs, step),
            None => Ok(None),
        }
    }

    /// Whether a step of that name is registered (no decoding).
    pub(crate) fn contains(&self, step: &str) -> Result<bool> {
        let Some(specs) = self.specs()? else {
            return Ok(false);
        };
        Ok(specs
            .get(step)
            .map_err(|e| storage_error(self.action(), e))?
            .is_some())
    }

    /// Step names in registration order.
    pub(crate) fn names(&self) -> Result<Vec<String>> {
        let Some(order) = open_optional(self.txn, self.tables.order(), &self.name)? else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for row in order.iter().map_err(|e| storage_error(self.action(), e))? {
            let (_, name) = row.map_err(|e| storage_error(self.action(), e))?;
            names.push(name.value().to_owned());
        }
        Ok(names)
    }

    /// Every step with its specification, in registration order.
    pub(crate) fn all(&self) -> Result<Vec<(String, StepSpecification)>> {
        self.lookup_all(self.names()?)
    }

    /// Step types in first-seen order.
    pub(crate) fn step_types(&self) -> Result<Vec<String>> {
        let Some(type_order) = open_optional(self.txn, self.tables.type_order(), &self.name)?
        else {
            return Ok(Vec::new());
        };
        let mut types = Vec::new();
        for row in type_order
            .iter()
            .map_err(|e| storage_error(self.action(), e))?
        {
            let (step_type, first_seen) = row.map_err(|e| storage_error(self.action(), e))?;
            types.push((first_seen.value(), step_type.value().to_owned()));
        }
        types.sort();
        Ok(types.into_iter().map(|(_, t)| t).collect())
    }

    /// The steps of one type with their specifications, in registration order.
    pub(crate) fn by_type(&self, step_type: &str) -> Result<Vec<(String, StepSpecification)>> {
        let Some(types) = open_optional(self.txn, self.tables.types(), &self.name)? else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for row in types
            .range((step_type, 0u64)..=(step_type, u64::MAX))
            .map_err(|e| storage_error(self.action(), e))?
        {
            let (_, name) = row.map_err(|e| storage_error(self.action(), e))?;
            names.push(name.value().to_owned());
        }
        self.lookup_all(names)
    }
}

fn write_action(context: &str, step: &str) -> String {
    format!(
        "writing step {} of context {}",
        shorten(step),
        shorten(context)
    )
}

/// One context's tables, open for writing inside the write transaction.
pub(crate) struct ContextWriter<'txn> {
    txn: &'txn WriteTransaction,
    name: String,
    entry: CatalogRecordV1,
    specs: Table<'txn, &'static str, &'static [u8]>,
    order: Table<'txn, u64, &'static str>,
    types: Table<'txn, (&'static str, u64), &'static str>,
    type_order: Table<'txn, &'static str, u64>,
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
            order: txn
                .open_table(tables.order())
                .map_err(|e| storage_error(action(), e))?,
            types: txn
                .open_table(tables.types())
                .map_err(|e| storage_error(action(), e))?,
            type_order: txn
                .open_table(tables.type_order())
                .map_err(|e| storage_error(action(), e))?,
        })
    }

    /// Stores `spec` under `step`. With `replace == false` a taken name is
    /// [`Error::AlreadyRegistered`]; with `replace == true` the step keeps its registration
    /// position and the type index moves it if its type changed.
    pub(crate) fn put(
        &mut self,
        step: &str,
        spec: &StepSpecification,
        replace: bool,
    ) -> Result<PutOutcome> {
        let existing = match self
            .specs
            .get(step)
            .map_err(|e| storage_error(write_action(&self.name, step), e))?
        {
            Some(value) => Some(decode_step(&self.name, step, value.value())?),
            None => None,
        };
        let (seq, outcome) = match &existing {
            Some(_) if !replace => {
                return Err(Error::AlreadyRegistered {
                    context: self.name.clone(),
                    step: step.to_owned(),
                });
            }
            Some(old) => {
                if old.step_type != spec.step_type {
                    self.unindex_type(&old.step_type, old.seq, step)?;
                    self.index_type(&spec.step_type, old.seq, step)?;
                }
                (old.seq, PutOutcome::Replaced)
            }
            None => {
                let seq = self.next_seq();
                self.order
                    .insert(seq, step)
                    .map_err(|e| storage_error(write_action(&self.name, step), e))?;
                self.index_type(&spec.step_type, seq, step)?;
                self.entry.step_count += 1;
                (seq, PutOutcome::Inserted)
            }
        };
        let bytes = codec::encode(StepRecordV1::from_spec(seq, spec));
        self.specs
            .insert(step, bytes.as_slice())
            .map_err(|e| storage_error(write_action(&self.name, step), e))?;
        Ok(outcome)
    }

    /// Removes `step`; false if it was not registered.
    pub(crate) fn remove(&mut self, step: &str) -> Result<bool> {
        let old = match self
            .specs
            .remove(step)
            .map_err(|e| storage_error(write_action(&self.name, step), e))?
        {
            Some(value) => decode_step(&self.name, step, value.value())?,
            None => return Ok(false),
        };
        self.order
            .remove(old.seq)
            .map_err(|e| storage_error(write_action(&self.name, step), e))?;
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
        self.types
            .insert((step_type, seq), step)
            .map_err(|e| storage_error(write_action(&self.name, step), e))?;
        let known = self
            .type_order
            .get(step_type)
            .map_err(|e| storage_error(write_action(&self.name, step), e))?
            .is_some();
        if !known {
            let first_seen = self.next_seq();
            self.type_order
                .insert(step_type, first_seen)
                .map_err(|e| storage_error(write_action(&self.name, step), e))?;
            self.entry.step_type_count += 1;
        }
        Ok(())
    }

    fn unindex_type(&mut self, step_type: &str, seq: u64, step: &str) -> Result<()> {
        self.types
            .remove((step_type, seq))
            .map_err(|e| storage_error(write_action(&self.name, step), e))?;
        let still_used = self
            .types
            .range((step_type, 0u64)..=(step_type, u64::MAX))
            .map_err(|e| storage_error(write_action(&self.name, step), e))?
            .next()
            .is_some();
        if !still_used {
            self.type_order
                .remove(step_type)
                .map_err(|e| storage_error(write_action(&self.name, step), e))?;
            self.entry.step_type_count = self.entry.step_type_count.saturating_sub(1);
        }
        Ok(())
    }

    /// Writes the updated counts and a new revision to the catalog, in this transaction.
    pub(crate) fn finish(mut self) -> Result<CatalogRecordV1> {
        self.entry.revision += 1;
        super::put_catalog(self.txn, &self.name, &self.entry)?;
        Ok(self.entry)
    }
}

/// Deletes every table of context `id`.
pub(super) fn delete_tables(txn: &WriteTransaction, name: &str, id: u64) -> Result<()> {
    let tables = ContextTables::new(id);
    let action = || format!("deleting the tables of context {}", shorten(name));
    txn.delete_table(tables.specs())
        .map_err(|e| storage_error(action(), e))?;
    txn.delete_table(tables.order())
        .map_err(|e| storage_error(action(), e))?;
    txn.delete_table(tables.types())
        .map_err(|e| storage_error(action(), e))?;
    txn.delete_table(tables.type_order())
        .map_err(|e| storage_error(action(), e))?;
    Ok(())
}
