//! Writing one context's table: spec rows, the step-type index chunks and, at the end, the
//! catalog counts, all in the caller's write transaction.

use redb::{ReadableTable, Table, WriteTransaction};

use super::decode_step;
use super::known::TxnKnownTypes;
use super::types::{Target, TypeIndexWriter};
use crate::codec::{self, CatalogRecordV1};
use crate::error::{Error, Result, shorten};
use crate::spec::StepSpecification;
use crate::store::schema::{ContextTable, SEAL_SPEC, spec_key};
use crate::store::{seal, storage_error};

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

/// One context's table, open for writing inside the write transaction.
pub(crate) struct ContextWriter<'txn> {
    txn: &'txn WriteTransaction,
    known: &'txn TxnKnownTypes,
    name: String,
    entry: CatalogRecordV1,
    rows: Table<'txn, &'static [u8], &'static [u8]>,
    /// The step-type index as this transaction changes it, written by [`Self::finish`]; a
    /// writer dropped without `finish` belongs to a discarded transaction.
    types: TypeIndexWriter,
    /// Set by the first put or remove that changes a row ([`Self::changed`]).
    changed: bool,
}

/// What a [`ContextWriter::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutOutcome {
    Inserted,
    Replaced,
    /// The name held exactly this spec already: nothing was written.
    Unchanged,
}

impl<'txn> ContextWriter<'txn> {
    pub(crate) fn open(
        txn: &'txn WriteTransaction,
        known: &'txn TxnKnownTypes,
        name: &str,
        entry: CatalogRecordV1,
    ) -> Result<Self> {
        let table = ContextTable::new(entry.id);
        let rows = txn.open_table(table.def()).map_err(|e| {
            storage_error(format!("opening the table of context {}", shorten(name)), e)
        })?;
        Ok(ContextWriter {
            txn,
            known,
            name: name.to_owned(),
            entry,
            rows,
            types: TypeIndexWriter::default(),
            changed: false,
        })
    }

    /// How many steps the context holds in this transaction.
    pub(crate) fn step_count(&self) -> u64 {
        self.entry.step_count
    }

    /// Whether a [`Self::put`] or [`Self::remove`] through this writer changed a row: a
    /// writer that changed none need not [`Self::finish`] (no new revision).
    pub(crate) fn changed(&self) -> bool {
        self.changed
    }

    /// Stores `spec` under `step`. With `replace == false` a taken name is
    /// [`Error::AlreadyRegistered`]; with `replace == true` the step keeps its registration
    /// position and the type index moves it if its type changed; a step that holds exactly
    /// this spec already is left as it is ([`PutOutcome::Unchanged`]: its stored bytes are
    /// the ones this put would write).
    ///
    /// An error leaves this transaction's table in an unspecified state (a taken name is
    /// found by inserting over it): the caller must discard the transaction, as every caller
    /// does by returning the error.
    pub(crate) fn put(
        &mut self,
        step: &str,
        spec: &StepSpecification,
        replace: bool,
    ) -> Result<PutOutcome> {
        let key = spec_key(step);
        if !replace {
            // One B-tree descent instead of a lookup then an insert.
            let seq = self.entry.next_seq;
            let mut value = codec::encode_step(seq, spec, 4);
            seal::seal_reserved(SEAL_SPEC, self.entry.id, step.as_bytes(), &mut value);
            let taken = self
                .rows
                .insert(key.as_slice(), value.as_slice())
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
            self.changed = true;
            return Ok(PutOutcome::Inserted);
        }
        // The sealed value this put writes, once the step's position is known.
        let id = self.entry.id;
        let sealed = |seq| {
            let mut value = codec::encode_step(seq, spec, 4);
            seal::seal_reserved(SEAL_SPEC, id, step.as_bytes(), &mut value);
            value
        };
        let existing = match self
            .rows
            .get(key.as_slice())
            .map_err(fail(&self.name, step))?
        {
            Some(stored) => {
                let old = decode_step(&self.name, self.entry.id, step, stored.value())?;
                let value = sealed(old.seq);
                if value.as_slice() == stored.value() {
                    return Ok(PutOutcome::Unchanged);
                }
                Some((old, value))
            }
            None => None,
        };
        self.changed = true;
        let (value, outcome) = match existing {
            Some((old, value)) => {
                if old.step_type != spec.step_type {
                    self.unindex_type(&old.step_type, old.seq, step)?;
                    self.index_type(&spec.step_type, old.seq, step)?;
                }
                (value, PutOutcome::Replaced)
            }
            None => {
                let seq = self.next_seq();
                self.index_type(&spec.step_type, seq, step)?;
                self.entry.step_count += 1;
                (sealed(seq), PutOutcome::Inserted)
            }
        };
        self.rows
            .insert(key.as_slice(), value.as_slice())
            .map_err(fail(&self.name, step))?;
        Ok(outcome)
    }

    /// Removes `step`; false if it was not registered.
    pub(crate) fn remove(&mut self, step: &str) -> Result<bool> {
        let old = match self
            .rows
            .remove(spec_key(step).as_slice())
            .map_err(fail(&self.name, step))?
        {
            Some(value) => decode_step(&self.name, self.entry.id, step, value.value())?,
            None => return Ok(false),
        };
        self.changed = true;
        self.unindex_type(&old.step_type, old.seq, step)?;
        self.entry.step_count = self.entry.step_count.saturating_sub(1);
        Ok(true)
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.entry.next_seq;
        self.entry.next_seq += 1;
        seq
    }

    fn target(&mut self) -> Target<'_, 'txn> {
        Target {
            rows: &mut self.rows,
            name: &self.name,
            entry: &mut self.entry,
            known: self.known,
        }
    }

    fn index_type(&mut self, step_type: &str, seq: u64, step: &str) -> Result<()> {
        let mut types = std::mem::take(&mut self.types);
        let result = types.append(&mut self.target(), step_type, seq, step);
        self.types = types;
        result
    }

    fn unindex_type(&mut self, step_type: &str, seq: u64, step: &str) -> Result<()> {
        let mut types = std::mem::take(&mut self.types);
        let result = types.remove(&mut self.target(), step_type, seq, step);
        self.types = types;
        result
    }

    /// Writes the updated counts and a new revision to the catalog, in this transaction.
    pub(crate) fn finish(mut self) -> Result<CatalogRecordV1> {
        let mut types = std::mem::take(&mut self.types);
        types.flush(&mut self.target())?;
        self.entry.revision += 1;
        crate::store::txn::put_catalog(self.txn, &self.name, &self.entry)?;
        types.hand_on(self.known, &self.entry);
        Ok(self.entry)
    }
}

/// Deletes the table of context `id`.
pub(crate) fn delete_tables(txn: &WriteTransaction, name: &str, id: u64) -> Result<()> {
    txn.delete_table(ContextTable::new(id).def()).map_err(|e| {
        storage_error(
            format!("deleting the table of context {}", shorten(name)),
            e,
        )
    })?;
    Ok(())
}
