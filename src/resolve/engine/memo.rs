//! What a resolver keeps across resolutions: interned names, strings and contents, and
//! name-similarity bounds and values.
//!
//! Everything here is a pure function of names, specification contents and the step-type
//! catalog, so it stays valid across registry changes (it is reset with the catalog).
//! Contents are interned to integer ids once, so scoring a (dependency, output) pair is a
//! handful of integer comparisons plus, for the few pairs that need it, a name similarity.

use super::contents::FxMap;
use super::contents::{
    ClassInfo, ClassScoring, DepInfo, DepScoring, Interner, KeywordList, ListInfo, ReverseIndex,
    StringInfo, bit_set, lower_with_mask,
};
use crate::resolve::matcher::{
    PreparedName, byte_mask, combine, quick_bound, similarity_bound, similarity_of,
};
use crate::resolve::scoring::{
    KEYWORD_WEIGHT, StepTypeCatalog, contains_bytes, data_type_group, strip_step,
};
use crate::spec::{DependencySpec, DependencyType, OutputSpec};

/// Entries above which the memo is emptied before a resolution (bounds memory for
/// long-lived resolvers fed ever new names).
pub(crate) const MEMO_LIMIT: usize = 4_000_000;

/// A similarity of a (dependency name, output name list) pair: an upper bound until the
/// exact value is needed.
#[derive(Clone, Copy)]
enum Similarity {
    /// A looser bound ([`quick_bound`] per name).
    Quick(f64),
    Bound(f64),
    Exact(f64),
}

/// Interned names, strings, dependency and class contents, and similarity bounds and
/// values per (dependency name, output name list).
pub(crate) struct ScoreMemo {
    /// Raw names (ids aligned with `names`).
    name_ids: Interner,
    names: Vec<PreparedName>,
    list_ids: FxMap<Box<[u32]>, u32>,
    lists: Vec<Box<[u32]>>,
    /// Per name id: the lists containing it.
    lists_of_name: ReverseIndex,
    /// Normalised names of non-empty raw names.
    norm_ids: Interner,
    /// Per name id: its normalised-name id (`u32::MAX` for an empty raw name).
    norm_of_name: Vec<u32>,
    /// Per normalised-name id: the lists containing a name with that normalised form.
    lists_of_norm: ReverseIndex,
    /// Data types, step types, sources and keywords.
    string_ids: Interner,
    strings: Vec<StringInfo>,
    string_list_ids: FxMap<Box<[u32]>, u32>,
    string_lists: Vec<(Box<[u32]>, ListInfo)>,
    /// Scratch buffer for list keys.
    scratch: Vec<u32>,
    keyword_list_ids: FxMap<Box<[u8]>, u32>,
    keyword_lists: Vec<KeywordList>,
    /// Scratch buffer for keyword-list keys.
    keyword_scratch: Vec<u8>,
    /// (name, type, data type, sources, keywords) → dependency id.
    dep_ids: FxMap<(u32, DependencyType, u32, u32, u32), u32>,
    deps: Vec<DepInfo>,
    /// (step type, output type, data type, name list) → class id.
    class_ids: FxMap<(u32, DependencyType, u32, u32), u32>,
    classes: Vec<ClassInfo>,
    similarities: FxMap<(u32, u32), Similarity>,
    /// Per (dependency name, output name): the similarity bound and, once computed, the
    /// similarity.
    pairs: FxMap<(u32, u32), (f64, Option<f64>)>,
}

fn map_with<K, V>(capacity: usize) -> FxMap<K, V> {
    FxMap::with_capacity_and_hasher(capacity, rustc_hash::FxBuildHasher)
}

impl Default for ScoreMemo {
    /// An empty memo, sized for a few hundred names (the 61 real specifications have 364).
    fn default() -> Self {
        ScoreMemo {
            name_ids: Interner::with_capacity(512, 512 * 24),
            names: Vec::with_capacity(512),
            list_ids: map_with(256),
            lists: Vec::with_capacity(256),
            lists_of_name: ReverseIndex::default(),
            norm_ids: Interner::with_capacity(512, 512 * 24),
            norm_of_name: Vec::with_capacity(512),
            lists_of_norm: ReverseIndex::default(),
            string_ids: Interner::with_capacity(256, 256 * 16),
            strings: Vec::with_capacity(256),
            string_list_ids: map_with(128),
            string_lists: Vec::with_capacity(128),
            scratch: Vec::new(),
            keyword_list_ids: map_with(128),
            keyword_lists: Vec::with_capacity(128),
            keyword_scratch: Vec::new(),
            dep_ids: map_with(256),
            deps: Vec::with_capacity(256),
            class_ids: map_with(256),
            classes: Vec::with_capacity(256),
            similarities: map_with(2048),
            pairs: map_with(4096),
        }
    }
}

/// `n` as a `u32` id (saturating; ids never get near the limit, see [`MEMO_LIMIT`]).
pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl ScoreMemo {
    /// The number of memoised entries.
    pub(crate) fn entries(&self) -> usize {
        self.names.len()
            + self.lists.len()
            + self.strings.len()
            + self.string_lists.len()
            + self.keyword_lists.len()
            + self.deps.len()
            + self.classes.len()
            + self.similarities.len()
            + self.pairs.len()
    }

    fn name_id(&mut self, raw: &str) -> u32 {
        let (id, new) = self.name_ids.intern(raw);
        if new {
            let prepared = PreparedName::new(raw);
            let norm = prepared
                .normalized()
                .map_or(u32::MAX, |norm| self.norm_ids.intern(norm).0);
            self.names.push(prepared);
            self.norm_of_name.push(norm);
        }
        id
    }

    /// The lists holding a name equal to name `name` after normalisation (both raw names
    /// non-empty): the lists whose similarity to `name` is 1.0.
    /// (As of the last [`Self::refresh_indexes`]; pairs of normalised-name id and list id.)
    fn lists_of_norm(&self, name: u32) -> &[(u32, u32)] {
        self.norm_of_name
            .get(name as usize)
            .map_or(&[], |&n| self.lists_of_norm.get(n))
    }

    /// Indexes the lists interned since the last call in the name → lists indexes.
    fn refresh_indexes(&mut self) {
        self.lists_of_name.refresh();
        self.lists_of_norm.refresh();
    }

    fn string_id(&mut self, s: &str) -> u32 {
        let (id, new) = self.string_ids.intern(s);
        if new {
            self.strings.push(StringInfo {
                group: data_type_group(s),
                step: None,
            });
        }
        id
    }

    /// The string id of a provider step type, and those of its normalised form and of that
    /// without `Step`.
    fn step_ids(&mut self, catalog: &StepTypeCatalog, step_type: &str) -> (u32, (u32, u32)) {
        let id = self.string_id(step_type);
        if let Some(ids) = self.strings.get(id as usize).and_then(|s| s.step) {
            return (id, ids);
        }
        let normalized = catalog.normalize_step_type(step_type);
        let ids = (
            self.string_id(normalized),
            self.string_id(strip_step(normalized)),
        );
        if let Some(info) = self.strings.get_mut(id as usize) {
            info.step = Some(ids);
        }
        (id, ids)
    }

    /// Interns the ids in `self.scratch` as a list (`lists` and `ids` are the list table and
    /// its index).
    fn intern_scratch<T>(
        scratch: &[u32],
        ids: &mut FxMap<Box<[u32]>, u32>,
        lists: &mut Vec<T>,
        make: impl FnOnce(Box<[u32]>) -> T,
    ) -> u32 {
        if let Some(&id) = ids.get(scratch) {
            return id;
        }
        let id = to_u32(lists.len());
        lists.push(make(scratch.into()));
        ids.insert(scratch.into(), id);
        id
    }

    fn string_list_id(&mut self, strings: &[String]) -> u32 {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(strings.iter().map(|s| self.string_id(s)));
        let id = Self::intern_scratch(
            &scratch,
            &mut self.string_list_ids,
            &mut self.string_lists,
            |list| (list, ListInfo::default()),
        );
        self.scratch = scratch;
        id
    }

    fn list_id(&mut self, logical_name: &str, aliases: &[String]) -> u32 {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.push(self.name_id(logical_name));
        scratch.extend(aliases.iter().map(|a| self.name_id(a)));
        let known = self.lists.len();
        let id = Self::intern_scratch(&scratch, &mut self.list_ids, &mut self.lists, |l| l);
        if self.lists.len() > known {
            for &name in &scratch {
                self.lists_of_name.add(name, id);
                let norm = self.norm_of_name.get(name as usize).copied();
                if let Some(norm) = norm.filter(|&n| n != u32::MAX) {
                    self.lists_of_norm.add(norm, id);
                }
            }
        }
        self.scratch = scratch;
        id
    }

    /// What scoring needs of dependency `dep`.
    pub(crate) fn dep_scoring(&mut self, dep: u32) -> Option<DepScoring<'_>> {
        self.refresh_indexes();
        let d = self.deps.get(dep as usize)?;
        let sources = self
            .string_lists
            .get(d.sources as usize)
            .filter(|(list, _)| !list.is_empty())
            .map(|(_, info)| match &info.sources {
                Some((exact, stripped)) => (exact.as_slice(), stripped.as_slice()),
                None => (&[][..], &[][..]),
            });
        Some(DepScoring {
            dependency_type: d.dependency_type,
            data: (d.data, self.group(d.data)),
            sure_lists: self.lists_of_norm(d.name),
            exact_lists: self.lists_of_name.get(d.name),
            sources,
        })
    }

    fn group(&self, string: u32) -> u8 {
        self.strings.get(string as usize).map_or(0, |s| s.group)
    }

    /// The raw name id of dependency `dep`.
    pub(crate) fn dep_name(&self, dep: u32) -> Option<u32> {
        self.deps.get(dep as usize).map(|d| d.name)
    }

    /// What scoring needs of class `class`.
    pub(crate) fn class_scoring(&self, class: u32) -> Option<ClassScoring> {
        self.classes.get(class as usize).map(|c| c.scoring)
    }

    /// The alias-aware similarity of a dependency name to an output.
    pub(crate) fn with_aliases(&mut self, name: &str, output: &OutputSpec) -> f64 {
        let dep = self.name_id(name);
        let list = self.list_id(&output.logical_name, &output.aliases);
        self.exact(dep, list)
    }

    /// An upper bound of [`Self::exact`] without sequence matching (the exact value when
    /// already known): the largest pair bound over the list. A looser bound without
    /// substring search is returned when `prunes` accepts it.
    pub(crate) fn bound(&mut self, dep: u32, list: u32, prunes: impl Fn(f64) -> bool) -> f64 {
        match self.similarities.get(&(dep, list)) {
            Some(Similarity::Bound(s) | Similarity::Exact(s)) => return *s,
            Some(Similarity::Quick(s)) if prunes(*s) => return *s,
            Some(Similarity::Quick(_)) => {}
            None => {
                let quick = self.quick(dep, list);
                if prunes(quick) {
                    self.similarities
                        .insert((dep, list), Similarity::Quick(quick));
                    return quick;
                }
            }
        }
        let mut b = 0.0_f64;
        for i in 0..self.list_len(list) {
            let name = self.list_name(list, i);
            b = b.max(self.pair_bound(dep, name));
        }
        self.similarities.insert((dep, list), Similarity::Bound(b));
        b
    }

    /// The largest [`quick_bound`] over the list (the memoised pair bound when known).
    fn quick(&self, dep: u32, list: u32) -> f64 {
        let (Some(a), Some(names)) = (self.names.get(dep as usize), self.lists.get(list as usize))
        else {
            return 0.0;
        };
        names
            .iter()
            .map(|&n| match self.pairs.get(&(dep, n)) {
                Some((bound, _)) => *bound,
                None => self
                    .names
                    .get(n as usize)
                    .map_or(0.0, |b| quick_bound(a, b)),
            })
            .fold(0.0, f64::max)
    }

    fn list_len(&self, list: u32) -> usize {
        self.lists.get(list as usize).map_or(0, |l| l.len())
    }

    fn list_name(&self, list: u32, i: usize) -> u32 {
        self.lists
            .get(list as usize)
            .and_then(|l| l.get(i))
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// [`similarity_bound`] of a name pair (memoised with its exact value).
    fn pair_bound(&mut self, dep: u32, name: u32) -> f64 {
        if let Some(pair) = self.pairs.get(&(dep, name)) {
            return pair.0;
        }
        let b = match (self.names.get(dep as usize), self.names.get(name as usize)) {
            (Some(a), Some(b)) => similarity_bound(a, b),
            _ => 0.0,
        };
        self.pairs.insert((dep, name), (b, None));
        b
    }

    /// [`similarity_of`] of a name pair (memoised).
    fn pair_exact(&mut self, dep: u32, name: u32) -> f64 {
        let bound = match self.pairs.get(&(dep, name)) {
            Some((_, Some(s))) => return *s,
            Some((b, None)) => Some(*b),
            None => None,
        };
        let s = match (self.names.get(dep as usize), self.names.get(name as usize)) {
            (Some(a), Some(b)) => similarity_of(a, b),
            _ => 0.0,
        };
        self.pairs
            .insert((dep, name), (bound.unwrap_or(s), Some(s)));
        s
    }

    /// `calculate_similarity_with_aliases`: the logical name first, an alias replaces the
    /// best only when strictly better — so the result is the maximum over the names. It is
    /// computed by decreasing upper bound, stopping when no remaining bound exceeds the
    /// maximum found (a name equal after normalisation gives 1.0, the largest value).
    pub(crate) fn exact(&mut self, dep: u32, list: u32) -> f64 {
        if let Some(Similarity::Exact(s)) = self.similarities.get(&(dep, list)) {
            return *s;
        }
        self.refresh_indexes();
        let sure = self.lists_of_norm(dep).iter().any(|&(_, l)| l == list);
        if sure && combine(1.0, [1.0; 3]) <= 1.0 {
            // A name equal after normalisation scores 1.0, which no name exceeds.
            return 1.0;
        }
        let best = if self.list_len(list) == 1 {
            self.pair_exact(dep, self.list_name(list, 0))
        } else {
            let mut bounds: Vec<(f64, u32)> = (0..self.list_len(list))
                .map(|i| {
                    let name = self.list_name(list, i);
                    (self.pair_bound(dep, name), name)
                })
                .collect();
            bounds.sort_by(|x, y| y.0.total_cmp(&x.0));
            let mut best: Option<f64> = None;
            for (bound, name) in bounds {
                if best.is_some_and(|s| bound <= s) {
                    break;
                }
                let s = self.pair_exact(dep, name);
                if best.is_none_or(|x| s > x) {
                    best = Some(s);
                }
            }
            best.unwrap_or(0.0)
        };
        self.similarities
            .insert((dep, list), Similarity::Exact(best));
        best
    }

    /// The id of a keyword list as far as scoring goes: its keywords lowercased, in order.
    fn keyword_list_id(&mut self, keywords: &[String]) -> u32 {
        let mut key = std::mem::take(&mut self.keyword_scratch);
        key.clear();
        for k in keywords {
            let start = key.len();
            key.extend_from_slice(&[0; 4]);
            if k.is_ascii() {
                key.extend(k.bytes().map(|b| b.to_ascii_lowercase()));
            } else {
                key.extend_from_slice(k.to_lowercase().as_bytes());
            }
            let len = u32::try_from(key.len() - start - 4).unwrap_or(u32::MAX);
            if let Some(slot) = key.get_mut(start..start + 4) {
                slot.copy_from_slice(&len.to_le_bytes());
            }
        }
        let id = match self.keyword_list_ids.get(key.as_slice()) {
            Some(&id) => id,
            None => {
                let id = to_u32(self.keyword_lists.len());
                let mut list = KeywordList {
                    encoded: key.as_slice().into(),
                    masks: vec![0; keywords.len()].into(),
                };
                let masks: Vec<u64> = list.iter().map(|(word, _)| byte_mask(word)).collect();
                list.masks = masks.into();
                self.keyword_lists.push(list);
                self.keyword_list_ids.insert(key.as_slice().into(), id);
                id
            }
        };
        self.keyword_scratch = key;
        id
    }

    /// The id of a dependency's content (interned on first sight).
    pub(crate) fn dep_id(&mut self, catalog: &StepTypeCatalog, dep: &DependencySpec) -> u32 {
        let key = (
            self.name_id(&dep.logical_name),
            dep.dependency_type,
            self.string_id(&dep.data_type),
            self.string_list_id(&dep.compatible_sources),
            self.keyword_list_id(&dep.semantic_keywords),
        );
        if let Some(&id) = self.dep_ids.get(&key) {
            return id;
        }
        let (name, dependency_type, data, sources, keywords) = key;
        if let Some((_, info)) = self.string_lists.get_mut(sources as usize)
            && info.sources.is_none()
        {
            let (exact, stripped) = catalog.source_keys(&dep.compatible_sources);
            let exact: Vec<u32> = exact.iter().map(|s| self.string_id(s)).collect();
            let stripped: Vec<u32> = stripped.iter().map(|s| self.string_id(s)).collect();
            if let Some((_, info)) = self.string_lists.get_mut(sources as usize) {
                info.sources = Some((bit_set(exact), bit_set(stripped)));
            }
        }
        let id = to_u32(self.deps.len());
        self.deps.push(DepInfo {
            dependency_type,
            name,
            data,
            sources,
            keywords,
        });
        self.dep_ids.insert(key, id);
        id
    }

    /// The id of an output class's content (interned on first sight).
    pub(crate) fn class_id(
        &mut self,
        catalog: &StepTypeCatalog,
        step_type: &str,
        out: &OutputSpec,
    ) -> u32 {
        let (raw_step, (step, step_stripped)) = self.step_ids(catalog, step_type);
        let key = (
            raw_step,
            out.output_type,
            self.string_id(&out.data_type),
            self.list_id(&out.logical_name, &out.aliases),
        );
        if let Some(&id) = self.class_ids.get(&key) {
            return id;
        }
        let id = to_u32(self.classes.len());
        self.classes.push(ClassInfo {
            scoring: ClassScoring {
                output_type: out.output_type,
                data: (key.2, self.group(key.2)),
                step,
                step_stripped,
                list: key.3,
            },
            lower_name: lower_with_mask(&out.logical_name),
        });
        self.class_ids.insert(key, id);
        id
    }

    /// The keyword part of a score of `dep` against `class`
    /// ([`keyword_match`](crate::resolve::scoring::keyword_match) × 0.05): the fraction of keywords
    /// occurring in the lowercase output name (a keyword with a byte outside the name's
    /// cannot occur).
    pub(crate) fn keyword_part(&self, dep: u32, class: u32) -> f64 {
        let (Some(dep), Some(class)) = (
            self.deps.get(dep as usize),
            self.classes.get(class as usize),
        ) else {
            return 0.0;
        };
        let Some(keywords) = self
            .keyword_lists
            .get(dep.keywords as usize)
            .filter(|k| !k.masks.is_empty())
        else {
            return 0.0;
        };
        let (name, name_mask) = &class.lower_name;
        let matches = keywords
            .iter()
            .filter(|(k, mask)| mask & !name_mask == 0 && contains_bytes(name.as_bytes(), k))
            .count();
        matches as f64 / keywords.masks.len() as f64 * KEYWORD_WEIGHT
    }
}
