//! The step-type index as one write transaction changes it: each touched type's chunks, kept
//! in memory from the first touch to the end of the transaction and written once, sorted by
//! key, by [`TypeIndexWriter::flush`].
//!
//! Appending only needs a type's last chunk, so that is all an append loads. Removing a step
//! (an `unregister`, or an `upsert` that changes its type) needs the chunk holding it, so the
//! first removal from a type loads all of its chunks and a map from position to chunk; later
//! removals from that type in the same transaction are a map lookup and an edit of one chunk
//! in memory, so replacing many steps is linear in their number, not quadratic. A removal
//! from a type the transaction has not touched is done in place instead
//! ([`remove_in_place`]: a binary search over the type's chunks). Creating a type needs the
//! set of types in the file: the one an earlier committed write handed on (`known`), or
//! else one read of every chunk key of the context.
//!
//! Every chunk read is checked to belong to the type asked for (a damaged branch page can
//! make a range read land on another type's rows), and a chunk written for a type the file
//! did not have must not overwrite an existing row: either is corruption, refused before
//! anything is committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use redb::{ReadableTable, Table};
use rustc_hash::FxHashMap;

use super::known::TxnKnownTypes;
use super::{corrupt_index, decode_chunk, missing_first_chunk};
use crate::codec::CatalogRecordV1;
use crate::error::{Error, Result, shorten};
use crate::store::schema::SEAL_TYPE_CHUNK;
use crate::store::typeindex::{self, Chunk};
use crate::store::{seal, storage_error};

mod removal;

use removal::remove_in_place;

/// What this transaction knows of one step type.
enum TypeState {
    Live(Live),
    /// The type lost its last step in this transaction: its chunks on disk (these numbers)
    /// are deleted at the flush unless it comes back.
    Gone {
        on_disk: BTreeSet<u32>,
    },
}

struct Live {
    first_seen: u64,
    /// Chunks by number: the last one only, or every one when `positions` is filled.
    chunks: BTreeMap<u32, Chunk>,
    /// Numbers stored in the file (before this transaction's flush).
    on_disk: BTreeSet<u32>,
    /// Numbers whose content changed since the last flush.
    dirty: BTreeSet<u32>,
    /// Numbers that must not exist in the file when written: chunks of a type the file did
    /// not have.
    fresh: BTreeSet<u32>,
    /// When every chunk is loaded: the chunk number of each position, and the entry count.
    positions: Option<(HashMap<u64, u32>, usize)>,
}

impl Live {
    fn last_number(&self) -> u32 {
        self.chunks.keys().next_back().copied().unwrap_or(0)
    }
}

/// The step-type index of one context inside one write transaction.
#[derive(Default)]
pub(super) struct TypeIndexWriter {
    types: FxHashMap<String, TypeState>,
    /// Every type with a chunk in the file, loaded the first time a type's range read
    /// finds nothing: the set a committed write handed on for this revision (`known`), or
    /// one scan of all chunk keys ([`Target::types_in_file`]).
    in_file: Option<BTreeSet<String>>,
}

/// The table, context and catalog record an index operation works on.
pub(super) struct Target<'a, 't> {
    pub rows: &'a mut Table<'t, &'static [u8], &'static [u8]>,
    pub name: &'a str,
    pub entry: &'a mut CatalogRecordV1,
    pub known: &'a TxnKnownTypes,
}

impl Target<'_, '_> {
    fn action(&self, step_type: &str) -> String {
        format!(
            "writing the index of step type {} in context {}",
            shorten(step_type),
            shorten(self.name)
        )
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.entry.next_seq;
        self.entry.next_seq += 1;
        seq
    }

    /// The chunks of `step_type` in the file with keys in `start..=end`, in key order,
    /// each checked to belong to that type.
    fn read(&self, step_type: &str, start: &[u8], end: &[u8]) -> Result<Vec<(u32, Chunk)>> {
        self.read_rows(step_type, start, end, false)
    }

    /// [`Self::read`], or with `last_only` just the last chunk of the range.
    fn read_rows(
        &self,
        step_type: &str,
        start: &[u8],
        end: &[u8],
        last_only: bool,
    ) -> Result<Vec<(u32, Chunk)>> {
        let fail = |e| storage_error(self.action(step_type), e);
        let mut range = self.rows.range::<&[u8]>(start..=end).map_err(fail)?;
        // Each row is decoded as it is read (no list of the engine's guards first).
        let decode = |row: std::result::Result<_, redb::StorageError>| -> Result<(u32, Chunk)> {
            let (key, value): (redb::AccessGuard<'_, &[u8]>, redb::AccessGuard<'_, &[u8]>) =
                row.map_err(fail)?;
            let (_, number, chunk) = decode_chunk(
                self.name,
                self.entry.id,
                key.value(),
                value.value(),
                Some(step_type),
            )?;
            Ok((number, chunk))
        };
        if last_only {
            return range.next_back().map(decode).into_iter().collect();
        }
        range.map(decode).collect()
    }

    /// Every type that has a chunk in the file, from the keys of a scan of the whole index
    /// (no value is read). A scan visits every leaf in order whatever the branch keys say,
    /// so a type that a damaged branch page hides from a range read of its own is still
    /// found here.
    fn types_in_file(&self) -> Result<BTreeSet<String>> {
        let fail = |e| {
            storage_error(
                format!(
                    "reading the step-type index of context {}",
                    shorten(self.name)
                ),
                e,
            )
        };
        let (start, end) = typeindex::all_types_range();
        let mut types = BTreeSet::new();
        for row in self
            .rows
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(fail)?
        {
            let (key, _) = row.map_err(fail)?;
            let (step_type, _) = typeindex::parse_chunk_key(key.value())
                .ok_or_else(|| corrupt_index(self.name, "a chunk key of it is damaged"))?;
            if !types.contains(step_type) {
                types.insert(step_type.to_owned());
            }
        }
        Ok(types)
    }

    /// The last chunk of `step_type` in the file.
    fn read_last(&self, step_type: &str) -> Result<Option<(u32, Chunk)>> {
        self.read_last_in(step_type, 0, u32::MAX)
    }

    /// The chunk of `step_type` with the greatest number in `low..=high`, if any (one
    /// decode: the range is read from its end).
    fn read_last_in(&self, step_type: &str, low: u32, high: u32) -> Result<Option<(u32, Chunk)>> {
        let (start, end) = (
            typeindex::chunk_key(step_type, low),
            typeindex::chunk_key(step_type, high),
        );
        self.read_rows(step_type, &start, &end, true)
            .map(|mut chunks| chunks.pop())
    }
}

impl TypeIndexWriter {
    /// Adds the entry `(seq, step)` to `step_type`, counting the type if it is new (a new
    /// type takes a fresh seq as its first-seen position).
    pub(super) fn append(
        &mut self,
        target: &mut Target<'_, '_>,
        step_type: &str,
        seq: u64,
        step: &str,
    ) -> Result<()> {
        // The common case in a batch: a type this transaction already holds.
        if let Some(TypeState::Live(live)) = self.types.get_mut(step_type) {
            return push_entry(live, target, step_type, seq, step);
        }
        let state = match self.types.remove(step_type) {
            Some(state) => state,
            None => match target.read_last(step_type)? {
                Some((number, chunk)) => TypeState::Live(Live {
                    first_seen: chunk.first_seen(),
                    chunks: BTreeMap::from([(number, chunk)]),
                    on_disk: BTreeSet::from([number]),
                    dirty: BTreeSet::new(),
                    fresh: BTreeSet::new(),
                    positions: None,
                }),
                None => {
                    // A new type, unless a damaged branch page hid its chunks from the
                    // range read: then writing a chunk 0 would count it twice.
                    if self.in_file.is_none() {
                        let known = target.known.take(target.entry.id, target.entry.revision);
                        self.in_file = Some(match known {
                            Some(types) => types,
                            None => target.types_in_file()?,
                        });
                    }
                    if self.in_file.as_ref().is_some_and(|t| t.contains(step_type)) {
                        return Err(corrupt_index(
                            target.name,
                            format!(
                                "a read of step type {} missed the chunks it has",
                                shorten(step_type)
                            ),
                        ));
                    }
                    TypeState::Gone {
                        on_disk: BTreeSet::new(),
                    }
                }
            },
        };
        let mut live = match state {
            TypeState::Live(live) => live,
            TypeState::Gone { on_disk } => {
                // A new type, or one that lost its last step earlier in this transaction
                // (its old chunks are rewritten or deleted at the flush).
                target.entry.step_type_count += 1;
                let first_seen = target.next_seq();
                Live {
                    first_seen,
                    chunks: BTreeMap::from([(0, Chunk::new(first_seen))]),
                    fresh: if on_disk.contains(&0) {
                        BTreeSet::new()
                    } else {
                        BTreeSet::from([0])
                    },
                    dirty: on_disk.iter().copied().chain([0]).collect(),
                    on_disk,
                    positions: Some((HashMap::new(), 0)),
                }
            }
        };
        let pushed = push_entry(&mut live, target, step_type, seq, step);
        self.types
            .insert(step_type.to_owned(), TypeState::Live(live));
        pushed
    }

    /// Removes the entry `(seq, step)` from `step_type`, and the type when it was its last
    /// step.
    pub(super) fn remove(
        &mut self,
        target: &mut Target<'_, '_>,
        step_type: &str,
        seq: u64,
        step: &str,
    ) -> Result<()> {
        let mut live = match self.types.remove(step_type) {
            Some(TypeState::Live(live)) => live,
            Some(TypeState::Gone { on_disk }) => {
                self.types
                    .insert(step_type.to_owned(), TypeState::Gone { on_disk });
                return Err(missing(target.name, step));
            }
            None => {
                if let Some(type_gone) = remove_in_place(target, step_type, seq, step)? {
                    if type_gone {
                        if let Some(in_file) = &mut self.in_file {
                            in_file.remove(step_type);
                        }
                        // Its chunks are deleted already: nothing for the flush to do.
                        self.types.insert(
                            step_type.to_owned(),
                            TypeState::Gone {
                                on_disk: BTreeSet::new(),
                            },
                        );
                    }
                    return Ok(());
                }
                Live {
                    first_seen: 0,
                    chunks: BTreeMap::new(),
                    on_disk: BTreeSet::new(),
                    dirty: BTreeSet::new(),
                    fresh: BTreeSet::new(),
                    positions: None,
                }
            }
        };
        if live.positions.is_none() {
            load_all(target, step_type, &mut live)?;
        }
        let Some((positions, len)) = &mut live.positions else {
            return Err(missing(target.name, step));
        };
        let Some(number) = positions.remove(&seq) else {
            return Err(missing(target.name, step));
        };
        let Some(chunk) = live.chunks.get_mut(&number) else {
            return Err(missing(target.name, step));
        };
        if !chunk.remove(seq, step) {
            return Err(missing(target.name, step));
        }
        let now_empty = chunk.is_empty();
        *len -= 1;
        if *len == 0 {
            target.entry.step_type_count = target.entry.step_type_count.saturating_sub(1);
            self.types.insert(
                step_type.to_owned(),
                TypeState::Gone {
                    on_disk: live.on_disk,
                },
            );
            return Ok(());
        }
        if now_empty && number != 0 {
            live.chunks.remove(&number);
            live.dirty.insert(number);
        } else {
            live.dirty.insert(number);
        }
        self.types
            .insert(step_type.to_owned(), TypeState::Live(live));
        Ok(())
    }

    /// Writes every changed chunk and deletes every emptied one, in key order.
    pub(super) fn flush(&mut self, target: &mut Target<'_, '_>) -> Result<()> {
        let mut touched: Vec<(&String, &mut TypeState)> = self.types.iter_mut().collect();
        // Key order: chunk keys are length-prefixed, so by type length, then type.
        touched.sort_unstable_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
        let (name, id) = (target.name, target.entry.id);
        for (step_type, state) in touched {
            let fail = |e| {
                storage_error(
                    format!(
                        "writing the index of step type {} in context {}",
                        shorten(step_type),
                        shorten(name)
                    ),
                    e,
                )
            };
            match state {
                TypeState::Gone { on_disk } => {
                    for number in std::mem::take(on_disk) {
                        target
                            .rows
                            .remove(typeindex::chunk_key(step_type, number).as_slice())
                            .map_err(fail)?;
                    }
                }
                TypeState::Live(live) => {
                    for number in std::mem::take(&mut live.dirty) {
                        let key = typeindex::chunk_key(step_type, number);
                        match live.chunks.get(&number) {
                            Some(chunk) => {
                                let existed =
                                    write_chunk(target.rows, id, &key, chunk).map_err(fail)?;
                                if existed && live.fresh.contains(&number) {
                                    return Err(corrupt_index(
                                        name,
                                        format!(
                                            "a chunk of step type {} is in the file although \
                                             reading it found none",
                                            shorten(step_type)
                                        ),
                                    ));
                                }
                                live.on_disk.insert(number);
                            }
                            None => {
                                target.rows.remove(key.as_slice()).map_err(fail)?;
                                live.on_disk.remove(&number);
                            }
                        }
                    }
                    live.fresh.clear();
                }
            }
        }
        Ok(())
    }

    /// After [`Self::flush`] and the catalog write of `entry` (its new revision): hands on
    /// the set of types in the file, if this writer had it or the store had it for the
    /// revision this writer started from, updated with the types created and removed here.
    pub(super) fn hand_on(self, known: &TxnKnownTypes, entry: &CatalogRecordV1) {
        let started_from = entry.revision.wrapping_sub(1);
        let Some(mut in_file) = self.in_file.or_else(|| known.take(entry.id, started_from)) else {
            return;
        };
        for (step_type, state) in self.types {
            match state {
                TypeState::Live(_) => {
                    in_file.insert(step_type);
                }
                TypeState::Gone { .. } => {
                    in_file.remove(&step_type);
                }
            }
        }
        known.put(entry.id, entry.revision, in_file);
    }
}

/// Appends the entry `(seq, step)` to the last chunk of a live type, or to a new chunk
/// after it when it is full.
fn push_entry(
    live: &mut Live,
    target: &Target<'_, '_>,
    step_type: &str,
    seq: u64,
    step: &str,
) -> Result<()> {
    let mut number = live.last_number();
    let full = live.chunks.get(&number).is_none_or(|c| !c.fits(step));
    if full {
        number = number.checked_add(1).ok_or_else(|| {
            corrupt_index(
                target.name,
                format!("step type {} has no chunk number left", shorten(step_type)),
            )
        })?;
        live.chunks.insert(number, Chunk::new(live.first_seen));
        // Above every chunk the file was read to hold, so it must not exist there.
        if !live.on_disk.contains(&number) {
            live.fresh.insert(number);
        }
    }
    if let Some(chunk) = live.chunks.get_mut(&number) {
        chunk.push(seq, step);
    }
    live.dirty.insert(number);
    if let Some((positions, len)) = &mut live.positions {
        positions.insert(seq, number);
        *len += 1;
    }
    Ok(())
}

/// Loads every chunk of `step_type` into `live`: what the file holds, overlaid by what this
/// transaction changed, and the map from position to chunk.
fn load_all(target: &Target<'_, '_>, step_type: &str, live: &mut Live) -> Result<()> {
    let (start, end) = typeindex::type_range(step_type);
    let mut chunks: BTreeMap<u32, Chunk> = BTreeMap::new();
    let read = target.read(step_type, &start, &end)?;
    if read.first().is_some_and(|(number, _)| *number != 0) {
        return Err(missing_first_chunk(target.name, step_type));
    }
    for (number, chunk) in read {
        live.on_disk.insert(number);
        chunks.insert(number, chunk);
    }
    for (number, chunk) in std::mem::take(&mut live.chunks) {
        chunks.insert(number, chunk);
    }
    let Some(first) = chunks.values().next() else {
        return Ok(());
    };
    live.first_seen = first.first_seen();
    let mut positions = HashMap::new();
    let mut len = 0;
    for (number, chunk) in &chunks {
        for (seq, _) in chunk.entries() {
            if positions.insert(seq, *number).is_some() {
                return Err(corrupt_index(
                    target.name,
                    format!(
                        "step type {} lists position {seq} twice",
                        shorten(step_type)
                    ),
                ));
            }
            len += 1;
        }
    }
    live.chunks = chunks;
    live.positions = Some((positions, len));
    Ok(())
}

fn missing(context: &str, step: &str) -> Error {
    corrupt_index(
        context,
        format!("step {} is missing from it", shorten(step)),
    )
}

/// Writes `chunk`, sealed, under `key` into the table of context `id`; whether a row was
/// there before.
pub(crate) fn write_chunk(
    rows: &mut Table<'_, &'static [u8], &'static [u8]>,
    id: u64,
    key: &[u8],
    chunk: &Chunk,
) -> std::result::Result<bool, redb::StorageError> {
    let mut value = chunk.encode_reserved();
    seal::seal_reserved(SEAL_TYPE_CHUNK, id, key, &mut value);
    Ok(rows.insert(key, value.as_slice())?.is_some())
}
