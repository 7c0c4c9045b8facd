//! The interned forms of dependencies, output classes, strings and keyword lists that the
//! [`ScoreMemo`](super::memo::ScoreMemo) keeps, and the hash-map and bit-set helpers they use.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use crate::resolve::matcher::byte_mask;
use crate::spec::DependencyType;

/// A hash map with rustc's fast hasher (`rustc-hash`): the keys here are small integers
/// and short strings from the caller's own specs, so no DoS-resistant hashing is needed.
pub(crate) type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;
/// A hash set with rustc's fast hasher.
pub(crate) type FxSet<K> = rustc_hash::FxHashSet<K>;

/// Interned strings in one buffer (no allocation per string), with ids in order of first
/// sight. Looked up by a 64-bit hash, verified against the stored bytes; strings whose hash
/// is already taken by another string go to a fallback map, so lookups are exact.
#[derive(Default)]
pub(super) struct Interner {
    buffer: String,
    /// Per id: the end of its string in `buffer` (its start is the previous end).
    ends: Vec<usize>,
    by_hash: FxMap<u64, u32>,
    collisions: FxMap<Box<str>, u32>,
}

impl Interner {
    /// An empty interner with room for `strings` strings of `bytes` bytes in all.
    pub(super) fn with_capacity(strings: usize, bytes: usize) -> Self {
        Interner {
            buffer: String::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
            by_hash: FxMap::with_capacity_and_hasher(strings, rustc_hash::FxBuildHasher),
            collisions: FxMap::default(),
        }
    }

    fn hash(s: &str) -> u64 {
        let mut hasher = FxHasher::default();
        hasher.write_usize(s.len());
        hasher.write(s.as_bytes());
        hasher.finish()
    }

    /// The string of id `id` (empty for an unknown id).
    pub(super) fn get(&self, id: u32) -> &str {
        let i = id as usize;
        let start = match i.checked_sub(1) {
            None => 0,
            Some(p) => self.ends.get(p).copied().unwrap_or(0),
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.buffer.get(start..end).unwrap_or_default()
    }

    /// The id of `s`, if interned.
    pub(super) fn find(&self, s: &str) -> Option<u32> {
        match self.by_hash.get(&Self::hash(s)) {
            Some(&id) if self.get(id) == s => Some(id),
            Some(_) => self.collisions.get(s).copied(),
            None => None,
        }
    }

    /// The id of `s`, interned on first sight, and whether it was new.
    pub(super) fn intern(&mut self, s: &str) -> (u32, bool) {
        if let Some(id) = self.find(s) {
            return (id, false);
        }
        let id = u32::try_from(self.ends.len()).unwrap_or(u32::MAX);
        self.buffer.push_str(s);
        self.ends.push(self.buffer.len());
        match self.by_hash.entry(Self::hash(s)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.insert(s.into(), id);
            }
        }
        (id, true)
    }
}

/// A dependency's content as far as scoring goes (name, types, sources, keywords), as ids.
pub(crate) struct DepInfo {
    pub(super) dependency_type: DependencyType,
    /// Raw name id.
    pub(crate) name: u32,
    /// Data-type string id.
    pub(super) data: u32,
    /// String-list id of the compatible sources.
    pub(super) sources: u32,
    /// Keyword-list id ([`ScoreMemo::keyword_list_id`](super::memo::ScoreMemo::keyword_list_id)).
    pub(super) keywords: u32,
}

/// An output class's content as far as scoring goes (provider step type and the output's
/// type, data type, name and aliases), as ids.
pub(crate) struct ClassInfo {
    /// What the score parts other than similarity and keywords need.
    pub(crate) scoring: ClassScoring,
    /// The logical name, lowercased (keyword matching), and its [`byte_mask`].
    pub(super) lower_name: (String, u64),
}

/// What the type, data-type, exact-name and source parts of a score need of a class.
#[derive(Clone, Copy)]
pub(crate) struct ClassScoring {
    pub(crate) output_type: DependencyType,
    /// Data-type string id and its group ([`StringInfo::group`]).
    pub(super) data: (u32, u8),
    /// String id of the provider step type after [`StepTypeCatalog::normalize_step_type`](crate::resolve::scoring::StepTypeCatalog::normalize_step_type).
    pub(super) step: u32,
    /// String id of that without one trailing `Step`.
    pub(super) step_stripped: u32,
    /// Name-list id (logical name, then aliases).
    pub(crate) list: u32,
}

/// What the type, data-type, exact-name and source parts of a score need of a dependency,
/// borrowed from the memo.
pub(crate) struct DepScoring<'m> {
    pub(super) dependency_type: DependencyType,
    /// Data-type string id and its group.
    pub(super) data: (u32, u8),
    /// The name lists containing the dependency's raw name, as (key, list id) pairs.
    pub(super) exact_lists: &'m [(u32, u32)],
    /// The name lists with a similarity of 1.0 to the dependency's name, as (key, list id) pairs.
    pub(super) sure_lists: &'m [(u32, u32)],
    /// Bit sets of compatible step-type keys; `None` without sources.
    pub(super) sources: Option<(&'m [u64], &'m [u64])>,
}

impl DepScoring<'_> {
    /// The name lists containing the dependency's raw name (exact-name bonus), as (key,
    /// list id) pairs.
    pub(crate) fn exact_lists(&self) -> &[(u32, u32)] {
        self.exact_lists
    }

    /// The name lists whose similarity to the dependency's name is known to be 1.0, the
    /// largest possible (a name equal after normalisation).
    pub(crate) fn sure_lists(&self) -> &[(u32, u32)] {
        self.sure_lists
    }

    /// The indices of the type, data-type, exact-name and source parts against `class`
    /// packed as `((type · 3 + data) · 2 + exact) · 3 + source`, where type is 1 for equal
    /// types (else 0), data 2 for equal data types, 1 for compatible ones, exact 1 when the
    /// dependency name is the output's name or an alias (`exact`, from [`Self::exact_lists`]),
    /// and source 0 without sources, 1 for a compatible provider, 2 otherwise.
    pub(crate) fn code(&self, class: &ClassScoring, exact: bool) -> usize {
        let same_type = usize::from(self.dependency_type == class.output_type);
        let data = if self.data.0 == class.data.0 {
            2
        } else {
            usize::from(self.data.1 != 0 && self.data.1 == class.data.1)
        };
        let exact = usize::from(exact);
        let source = match self.sources {
            None => 0,
            Some((exact, stripped))
                if bit_is_set(exact, class.step) || bit_is_set(stripped, class.step_stripped) =>
            {
                1
            }
            Some(_) => 2,
        };
        ((same_type * 3 + data) * 2 + exact) * 3 + source
    }
}

/// An interned string: its data-type group and, once needed, its normalised step type.
pub(super) struct StringInfo {
    /// 1 for `S3Uri`/`String`, 2 for `Integer`/`Float`, else 0 (two data types are
    /// compatible when their groups are equal and non-zero).
    pub(super) group: u8,
    /// As a provider step type: the string ids of its normalised form and of that without
    /// one trailing `Step`.
    pub(super) step: Option<(u32, u32)>,
}

/// What a string list means as compatible sources and as keywords, computed on first use.
#[derive(Default)]
pub(super) struct ListInfo {
    /// As sources: bit sets of the string ids a compatible normalised provider type may
    /// equal, and that type without `Step` may equal ([`StepTypeCatalog::source_keys`](crate::resolve::scoring::StepTypeCatalog::source_keys)).
    pub(super) sources: Option<(Vec<u64>, Vec<u64>)>,
}

/// A list of lowercased keywords: `(length, bytes)` per keyword in one buffer (also its
/// key), with each keyword's [`byte_mask`].
pub(super) struct KeywordList {
    pub(super) encoded: Box<[u8]>,
    pub(super) masks: Box<[u64]>,
}

impl KeywordList {
    /// The keywords, lowercased, with their masks.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        let mut rest: &[u8] = &self.encoded;
        self.masks.iter().map_while(move |&mask| {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            let word = tail.get(..len)?;
            rest = tail.get(len..)?;
            Some((word, mask))
        })
    }
}

/// A reverse index key → ids, as one sorted array (no allocation per key): additions are
/// appended and indexed by [`Self::refresh`], which must run before [`Self::get`] sees
/// them.
#[derive(Default)]
pub(super) struct ReverseIndex {
    /// (key, id) pairs; the first `indexed` are sorted and deduplicated.
    entries: Vec<(u32, u32)>,
    indexed: usize,
    /// Per key `k`: its ids are `entries[starts[k]..starts[k + 1]]`.
    starts: Vec<u32>,
}

impl ReverseIndex {
    /// Adds `id` under `key` (seen by [`Self::get`] after the next [`Self::refresh`]).
    pub(super) fn add(&mut self, key: u32, id: u32) {
        self.entries.push((key, id));
    }

    /// Indexes the additions since the last refresh.
    pub(super) fn refresh(&mut self) {
        if self.entries.len() == self.indexed {
            return;
        }
        self.entries.sort_unstable();
        self.entries.dedup();
        self.indexed = self.entries.len();
        let keys = self.entries.last().map_or(0, |&(k, _)| k as usize + 1);
        self.starts.clear();
        self.starts.resize(keys + 1, 0);
        for &(k, _) in &self.entries {
            if let Some(count) = self.starts.get_mut(k as usize + 1) {
                *count += 1;
            }
        }
        for k in 1..self.starts.len() {
            let previous = self.starts.get(k - 1).copied().unwrap_or(0);
            if let Some(start) = self.starts.get_mut(k) {
                *start += previous;
            }
        }
    }

    /// The ids under `key` as of the last [`Self::refresh`] (key-sorted pairs).
    pub(super) fn get(&self, key: u32) -> &[(u32, u32)] {
        let k = key as usize;
        match (self.starts.get(k), self.starts.get(k + 1)) {
            (Some(&a), Some(&b)) => self.entries.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// A lowercased string with its [`byte_mask`].
pub(super) fn lower_with_mask(s: &str) -> (String, u64) {
    let lower = s.to_lowercase();
    let mask = byte_mask(lower.as_bytes());
    (lower, mask)
}

/// A bit set of ids.
pub(super) fn bit_set(ids: Vec<u32>) -> Vec<u64> {
    let mut bits = Vec::new();
    for id in ids {
        let word = (id / 64) as usize;
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        if let Some(w) = bits.get_mut(word) {
            *w |= 1 << (id % 64);
        }
    }
    bits
}

pub(super) fn bit_is_set(bits: &[u64], id: u32) -> bool {
    bits.get((id / 64) as usize)
        .is_some_and(|w| (w >> (id % 64)) & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_index_sees_additions_after_refresh_once_each() {
        let mut index = ReverseIndex::default();
        index.add(3, 7);
        index.add(1, 2);
        index.add(3, 7);
        index.add(3, 5);
        assert!(index.get(3).is_empty());
        index.refresh();
        let ids = |index: &ReverseIndex, k| index.get(k).iter().map(|p| p.1).collect::<Vec<_>>();
        assert_eq!(ids(&index, 3), [5, 7]);
        assert_eq!(ids(&index, 1), [2]);
        assert!(index.get(0).is_empty() && index.get(2).is_empty() && index.get(9).is_empty());
        index.add(0, 4);
        index.refresh();
        assert_eq!(ids(&index, 0), [4]);
        assert_eq!(ids(&index, 3), [5, 7]);
    }

    #[test]
    fn interner_ids_are_exact_even_on_hash_collisions() {
        let mut strings = Interner::with_capacity(2, 4);
        assert_eq!(strings.intern("a"), (0, true));
        assert_eq!(strings.intern(""), (1, true));
        // Make "b" collide with "a": it must get its own id, found through the fallback.
        strings.by_hash.insert(Interner::hash("b"), 0);
        assert_eq!(strings.find("b"), None);
        assert_eq!(strings.intern("b"), (2, true));
        assert_eq!(strings.intern("b"), (2, false));
        assert_eq!(strings.find("a"), Some(0));
        assert_eq!(strings.find(""), Some(1));
        assert_eq!(
            (strings.get(0), strings.get(1), strings.get(2)),
            ("a", "", "b")
        );
        assert_eq!(strings.get(9), "");
        assert_eq!(strings.find("c"), None);
    }

    #[test]
    fn bit_sets() {
        let bits = bit_set(vec![0, 65, 3]);
        assert!(bit_is_set(&bits, 0) && bit_is_set(&bits, 65) && bit_is_set(&bits, 3));
        assert!(!bit_is_set(&bits, 1) && !bit_is_set(&bits, 64) && !bit_is_set(&bits, 500));
    }
}
