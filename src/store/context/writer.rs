//! Writing one context's table: spec rows, the step-type index chunks and, at the end, the
//! catalog counts, all in the caller's write transaction.

use redb::{ReadableTable, Table, WriteTransaction};
use rustc_hash::FxHashMap;

use super::{corrupt_index, decode_chunk, decode_step};
use crate::codec::{self, CatalogRecordV1};
use crate::error::{Error, Result, shorten, step_record};
use crate::spec::StepSpecification;
use crate::store::schema::{ContextTable, SEAL_SPEC, SEAL_TYPE_CHUNK, spec_key};
use crate::store::typeindex::{self, Chunk};
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

/// The chunk of one step type that this transaction appends to: its last chunk, loaded
/// once (or a new one), written back by [`ContextWriter::flush_chunks`].
struct OpenChunk {
    number: u32,
    chunk: Chunk,
    dirty: bool,
}

/// One context's table, open for writing inside the write transaction.
pub(crate) struct ContextWriter<'txn> {
    txn: &'txn WriteTransaction,
    name: String,
    entry: CatalogRecordV1,
    rows: Table<'txn, &'static [u8], &'static [u8]>,
    /// The last chunk of each step type this transaction appended to, so that a batch of
    /// many steps of few types reads and writes each type's chunk once. Dirty chunks are
    /// written sorted by key (neighbouring keys land in the same leaf) before anything
    /// reads the index and by [`Self::finish`]; a writer dropped without `finish` belongs
    /// to a discarded transaction.
    open_chunks: FxHashMap<String, OpenChunk>,
}

/// What a [`ContextWriter::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutOutcome {
    Inserted,
    Replaced,
}

impl<'txn> ContextWriter<'txn> {
    pub(crate) fn open(
        txn: &'txn WriteTransaction,
        name: &str,
        entry: CatalogRecordV1,
    ) -> Result<Self> {
        let table = ContextTable::new(entry.id);
        let rows = txn.open_table(table.def()).map_err(|e| {
            storage_error(format!("opening the table of context {}", shorten(name)), e)
        })?;
        Ok(ContextWriter {
            txn,
            name: name.to_owned(),
            entry,
            rows,
            open_chunks: FxHashMap::default(),
        })
    }

    /// Stores `spec` under `step`. With `replace == false` a taken name is
    /// [`Error::AlreadyRegistered`]; with `replace == true` the step keeps its registration
    /// position and the type index moves it if its type changed.
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
            let mut value = codec::encode_step(|| step_record(&self.name, step), seq, spec, 4)?;
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
            return Ok(PutOutcome::Inserted);
        }
        let existing = match self
            .rows
            .get(key.as_slice())
            .map_err(fail(&self.name, step))?
        {
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
        self.unindex_type(&old.step_type, old.seq, step)?;
        self.entry.step_count = self.entry.step_count.saturating_sub(1);
        Ok(true)
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.entry.next_seq;
        self.entry.next_seq += 1;
        seq
    }

    fn put_chunk(&mut self, step_type: &str, number: u32, chunk: &Chunk, step: &str) -> Result<()> {
        write_chunk(&mut self.rows, self.entry.id, step_type, number, chunk)
            .map_err(fail(&self.name, step))
    }

    /// Every chunk of `step_type` on disk, in chunk order.
    fn chunks_of(&self, step_type: &str, step: &str) -> Result<Vec<(u32, Chunk)>> {
        let (start, end) = typeindex::type_range(step_type);
        let mut chunks = Vec::new();
        for row in self
            .rows
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(fail(&self.name, step))?
        {
            let (key, value) = row.map_err(fail(&self.name, step))?;
            let (_, number, chunk) =
                decode_chunk(&self.name, self.entry.id, key.value(), value.value())?;
            chunks.push((number, chunk));
        }
        Ok(chunks)
    }

    /// The last chunk of `step_type` on disk, if the type has any.
    fn last_chunk(&self, step_type: &str, step: &str) -> Result<Option<(u32, Chunk)>> {
        let (start, end) = typeindex::type_range(step_type);
        let last = self
            .rows
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(fail(&self.name, step))?
            .next_back()
            .transpose()
            .map_err(fail(&self.name, step))?;
        let Some((key, value)) = last else {
            return Ok(None);
        };
        let (_, number, chunk) =
            decode_chunk(&self.name, self.entry.id, key.value(), value.value())?;
        Ok(Some((number, chunk)))
    }

    /// Adds the entry `(seq, step)` to the index of `step_type`.
    fn index_type(&mut self, step_type: &str, seq: u64, step: &str) -> Result<()> {
        if !self.open_chunks.contains_key(step_type) {
            let open = match self.last_chunk(step_type, step)? {
                Some((number, chunk)) => OpenChunk {
                    number,
                    chunk,
                    dirty: false,
                },
                None => {
                    // A new type: its position in type order is a fresh seq.
                    self.entry.step_type_count += 1;
                    OpenChunk {
                        number: 0,
                        chunk: Chunk::new(self.next_seq()),
                        dirty: true,
                    }
                }
            };
            self.open_chunks.insert(step_type.to_owned(), open);
        }
        let Some(open) = self.open_chunks.get_mut(step_type) else {
            return Err(corrupt_index(&self.name, "an open chunk went missing"));
        };
        if !open.chunk.fits(step) {
            // The chunk is full: write it and start the type's next one.
            if open.dirty {
                write_chunk(
                    &mut self.rows,
                    self.entry.id,
                    step_type,
                    open.number,
                    &open.chunk,
                )
                .map_err(fail(&self.name, step))?;
            }
            let Some(number) = open.number.checked_add(1) else {
                return Err(corrupt_index(
                    &self.name,
                    format!("step type {} has no chunk number left", shorten(step_type)),
                ));
            };
            *open = OpenChunk {
                number,
                chunk: Chunk::new(open.chunk.first_seen()),
                dirty: true,
            };
        }
        open.chunk.push(seq, step);
        open.dirty = true;
        Ok(())
    }

    /// Writes the dirty open chunks, sorted by key.
    fn flush_chunks(&mut self) -> Result<()> {
        let mut dirty: Vec<(&str, &mut OpenChunk)> = self
            .open_chunks
            .iter_mut()
            .filter(|(_, open)| open.dirty)
            .map(|(step_type, open)| (step_type.as_str(), open))
            .collect();
        // Sorted by key: by type length, then type (chunk keys are length-prefixed).
        dirty.sort_unstable_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
        for (step_type, open) in dirty {
            write_chunk(
                &mut self.rows,
                self.entry.id,
                step_type,
                open.number,
                &open.chunk,
            )
            .map_err(|e| {
                storage_error(
                    format!(
                        "writing the index of step type {} in context {}",
                        shorten(step_type),
                        shorten(&self.name)
                    ),
                    e,
                )
            })?;
            open.dirty = false;
        }
        Ok(())
    }

    /// Removes the entry `(seq, step)` from the index of `step_type`, and the type when it
    /// was its last step.
    fn unindex_type(&mut self, step_type: &str, seq: u64, step: &str) -> Result<()> {
        self.flush_chunks()?;
        self.open_chunks.remove(step_type);
        let chunks = self.chunks_of(step_type, step)?;
        let mut remaining = 0;
        let mut removed = false;
        for (number, mut chunk) in chunks.iter().cloned() {
            if !removed && chunk.remove(seq, step) {
                removed = true;
                if chunk.is_empty() && number != 0 {
                    self.rows
                        .remove(typeindex::chunk_key(step_type, number).as_slice())
                        .map_err(fail(&self.name, step))?;
                } else {
                    self.put_chunk(step_type, number, &chunk, step)?;
                }
            }
            remaining += chunk.len();
        }
        if !removed {
            return Err(corrupt_index(
                &self.name,
                format!("step {} is missing from it", shorten(step)),
            ));
        }
        if remaining == 0 {
            for (number, _) in &chunks {
                self.rows
                    .remove(typeindex::chunk_key(step_type, *number).as_slice())
                    .map_err(fail(&self.name, step))?;
            }
            self.entry.step_type_count = self.entry.step_type_count.saturating_sub(1);
        }
        Ok(())
    }

    /// Writes the updated counts and a new revision to the catalog, in this transaction.
    pub(crate) fn finish(mut self) -> Result<CatalogRecordV1> {
        self.flush_chunks()?;
        self.entry.revision += 1;
        crate::store::txn::put_catalog(self.txn, &self.name, &self.entry)?;
        Ok(self.entry)
    }
}

/// Writes chunk `number` of `step_type`, sealed, into the table of context `id`.
pub(crate) fn write_chunk(
    rows: &mut Table<'_, &'static [u8], &'static [u8]>,
    id: u64,
    step_type: &str,
    number: u32,
    chunk: &Chunk,
) -> std::result::Result<(), redb::StorageError> {
    let key = typeindex::chunk_key(step_type, number);
    let mut value = chunk.encode_reserved();
    seal::seal_reserved(SEAL_TYPE_CHUNK, id, &key, &mut value);
    rows.insert(key.as_slice(), value.as_slice())?;
    Ok(())
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
