//! The step-type index of schema version 3: for each step type, a few **chunk rows** in the
//! context's table, each listing up to about a kilobyte of `(seq, step name)` entries.
//!
//! Why chunks (schema version 2 had one index row per step): a registration then writes one
//! row of the index per step *type* it touches, not one per step, so a bulk import of 1,000
//! specs of 61 types writes about 61 index rows instead of 1,000 (the index was 6.4 M of
//! 25.2 M instructions per such import), and a single registration still reads and writes
//! one row (the type's last chunk) as before. The layout is in `store::schema`.
//!
//! A chunk's payload is `first_seen (u64 LE)` followed by its entries, each
//! `seq (u64 LE) ++ name length (u32 LE) ++ name (UTF-8)`. Every chunk of a type repeats the
//! type's first-seen position; readers take chunk 0's. Entries are appended, so they are in
//! seq order except after an `upsert` moved a step to another type (it keeps its old seq):
//! readers sort.

use super::schema::ROW_TYPE;

/// A chunk stops taking entries once its entries hold this many bytes (a chunk holds at
/// least one entry, whatever its size).
pub(crate) const CHUNK_TARGET_BYTES: usize = 1024;

/// Size of an entry's fixed part: seq and name length.
const ENTRY_HEADER: usize = 8 + 4;

/// The key of chunk `number` of `step_type`:
/// `b'I' ++ type length (u32 BE) ++ type ++ number (u32 BE)`.
pub(crate) fn chunk_key(step_type: &str, number: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + step_type.len() + 4);
    key.push(ROW_TYPE);
    // Step types are validated to a few KiB; saturating keeps this total.
    key.extend_from_slice(
        &u32::try_from(step_type.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    key.extend_from_slice(step_type.as_bytes());
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The inclusive key range of every chunk of `step_type`.
pub(crate) fn type_range(step_type: &str) -> (Vec<u8>, Vec<u8>) {
    (chunk_key(step_type, 0), chunk_key(step_type, u32::MAX))
}

/// The inclusive key range of every chunk of every type: each chunk key starts with `I`
/// and is longer than one byte, and no key equals `J`.
pub(crate) fn all_types_range() -> ([u8; 1], [u8; 1]) {
    ([ROW_TYPE], [ROW_TYPE + 1])
}

/// Splits a chunk key into its type and chunk number.
pub(crate) fn parse_chunk_key(key: &[u8]) -> Option<(&str, u32)> {
    let rest = key.strip_prefix(&[ROW_TYPE])?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (step_type, number) = rest.split_at_checked(len)?;
    let number: [u8; 4] = number.try_into().ok()?;
    Some((
        std::str::from_utf8(step_type).ok()?,
        u32::from_be_bytes(number),
    ))
}

/// One chunk's content: the type's first-seen position and its entries, kept encoded so
/// that appending to a loaded chunk copies no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    first_seen: u64,
    /// The encoded entries (validated when parsed, well-formed when built by `push`).
    entries: Vec<u8>,
    len: usize,
}

impl Chunk {
    /// An empty chunk of a type first seen at `first_seen`.
    pub(crate) fn new(first_seen: u64) -> Self {
        Chunk {
            first_seen,
            entries: Vec::new(),
            len: 0,
        }
    }

    /// Parses a chunk payload, checking every entry; `None` if it is malformed.
    pub(crate) fn parse(payload: &[u8]) -> Option<Self> {
        let (first_seen, entries) = payload.split_first_chunk::<8>()?;
        let mut len = 0;
        let mut rest = entries;
        while !rest.is_empty() {
            let (_, name, tail) = split_entry(rest)?;
            std::str::from_utf8(name).ok()?;
            rest = tail;
            len += 1;
        }
        Some(Chunk {
            first_seen: u64::from_le_bytes(*first_seen),
            entries: entries.to_vec(),
            len,
        })
    }

    /// The type's first-seen position (its place in type order).
    pub(crate) fn first_seen(&self) -> u64 {
        self.first_seen
    }

    /// Whether it holds no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether an entry for `name` still fits under [`CHUNK_TARGET_BYTES`] (an empty chunk
    /// takes any entry).
    pub(crate) fn fits(&self, name: &str) -> bool {
        self.len == 0 || self.entries.len() + ENTRY_HEADER + name.len() <= CHUNK_TARGET_BYTES
    }

    /// Appends an entry.
    pub(crate) fn push(&mut self, seq: u64, name: &str) {
        self.entries.extend_from_slice(&seq.to_le_bytes());
        // Names are validated to a few KiB; saturating keeps this total.
        self.entries
            .extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.entries.extend_from_slice(name.as_bytes());
        self.len += 1;
    }

    /// Removes the entry `(seq, name)`; false if the chunk has none.
    pub(crate) fn remove(&mut self, seq: u64, name: &str) -> bool {
        let mut offset = 0;
        let mut found = None;
        for (entry_seq, entry_name) in self.entries() {
            let size = ENTRY_HEADER + entry_name.len();
            if entry_seq == seq && entry_name == name {
                found = Some(offset..offset + size);
                break;
            }
            offset += size;
        }
        let Some(range) = found else {
            return false;
        };
        self.entries.drain(range);
        self.len -= 1;
        true
    }

    /// The entries in stored order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, &str)> {
        let mut rest = self.entries.as_slice();
        std::iter::from_fn(move || {
            let (seq, name, tail) = split_entry(rest)?;
            rest = tail;
            // Validated by `parse` or written by `push` from a `&str`.
            Some((seq, std::str::from_utf8(name).ok()?))
        })
    }

    /// The payload with 4 bytes reserved in front for the seal.
    pub(crate) fn encode_reserved(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 + self.entries.len());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.first_seen.to_le_bytes());
        out.extend_from_slice(&self.entries);
        out
    }
}

/// Splits one entry off the front of `bytes`: seq, name bytes and the rest.
fn split_entry(bytes: &[u8]) -> Option<(u64, &[u8], &[u8])> {
    let (seq, rest) = bytes.split_first_chunk::<8>()?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    let (name, rest) = rest.split_at_checked(len)?;
    Some((u64::from_le_bytes(*seq), name, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_round_trips_and_removes_exactly_one_entry() -> Result<(), String> {
        let mut chunk = Chunk::new(7);
        for (seq, name) in [(8, "a"), (9, "ünï"), (12, ""), (13, "a")] {
            chunk.push(seq, name);
        }
        let encoded = chunk.encode_reserved();
        let parsed = Chunk::parse(&encoded[4..]).ok_or("a pushed chunk parses")?;
        assert_eq!(parsed, chunk);
        assert_eq!(parsed.first_seen(), 7);
        let mut parsed = parsed;
        assert!(parsed.remove(13, "a"));
        assert!(!parsed.remove(13, "a"));
        assert!(!parsed.remove(9, "a"));
        let left: Vec<(u64, &str)> = parsed.entries().collect();
        assert_eq!(left, [(8, "a"), (9, "ünï"), (12, "")]);
        assert_eq!(parsed.entries().count(), 3);
        assert!(!parsed.is_empty());
        Ok(())
    }

    #[test]
    fn malformed_payloads_do_not_parse() {
        let mut chunk = Chunk::new(1);
        chunk.push(2, "name");
        let encoded = chunk.encode_reserved();
        let payload = &encoded[4..];
        for cut in 0..payload.len() {
            if cut == 8 {
                continue; // the header alone is an empty chunk
            }
            assert!(Chunk::parse(&payload[..cut]).is_none(), "cut at {cut}");
        }
        let mut bad_utf8 = payload.to_vec();
        let last = bad_utf8.len() - 1;
        bad_utf8[last] = 0xff;
        assert!(Chunk::parse(&bad_utf8).is_none());
    }

    #[test]
    fn chunk_keys_parse_back_and_sort_by_type_then_number() {
        let key = chunk_key("Train", 3);
        assert_eq!(parse_chunk_key(&key), Some(("Train", 3)));
        assert!(chunk_key("Train", 3) < chunk_key("Train", 4));
        assert!(chunk_key("Train", u32::MAX) < chunk_key("Trains", 0));
        let (start, end) = type_range("Train");
        assert!(start <= key && key <= end);
        let (all_start, all_end) = all_types_range();
        assert!(all_start.as_slice() <= key.as_slice() && key.as_slice() <= all_end.as_slice());
        assert_eq!(parse_chunk_key(b"Ishort"), None);
    }

    #[test]
    fn a_chunk_fills_to_its_target_and_always_takes_one_entry() {
        let mut chunk = Chunk::new(0);
        let long = "x".repeat(CHUNK_TARGET_BYTES * 2);
        assert!(chunk.fits(&long));
        chunk.push(1, &long);
        assert!(!chunk.fits("y"));
        let mut chunk = Chunk::new(0);
        let mut n = 0;
        while chunk.fits("step_name_of_twenty_") {
            chunk.push(n, "step_name_of_twenty_");
            n += 1;
        }
        assert_eq!(n, CHUNK_TARGET_BYTES as u64 / (12 + 20));
    }
}
