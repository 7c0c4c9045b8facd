//! The optimised resolution path.
//!
//! It returns exactly what the straightforward path (score every provider output for every
//! dependency, keep the best above 0.5, earliest on ties) returns, with far less work:
//!
//! * **Output classes.** A score depends on the provider only through its step type and on
//!   the output only through its type, data type, name and aliases. Outputs equal in all of
//!   these form a class; within a class every candidate has the same score, so only the
//!   earliest occurrence can win (ties go to the earlier provider, then output). Each class
//!   keeps its first occurrence and the first one from another provider name (used when the
//!   consumer itself holds the first, since a step never feeds itself). Classes are indexed
//!   by output type.
//! * **Winner memo.** Dependencies with the same name, types, sources and keywords have the
//!   same winner unless the consumer holds the first occurrence of some class.
//! * **Bounds.** The similarity is the only expensive part and is at most 1.0, so each
//!   candidate's score has an upper bound computed with the same float operations; candidates
//!   are visited by decreasing bound and the scan stops when no remaining bound can beat (or
//!   tie earlier than) the best score found.
//! * **Score memo** (kept by the resolver across calls, since it only depends on names and
//!   contents): prepared names, similarity per (dependency name, output name) and per
//!   (dependency name, output name + aliases), and the similarity-free score parts per
//!   (dependency content, output class).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use indexmap::IndexMap;

use super::matcher::{
    PreparedName, SEMANTIC_WEIGHT, STRING_WEIGHT, SUBSTRING_WEIGHT, TOKEN_WEIGHT, combine,
    other_components, short_circuit, string_component, string_upper_bound,
};
use super::outcome::{DependencyResolutionError, StepResolution};
use super::property::PropertyReference;
use super::scoring::{
    ScoreBreakdown, StepTypeCatalog, data_type_part, exact_part, keyword_fraction, types_compatible,
};
use crate::spec::{DependencySpec, DependencyType, OutputSpec, StepSpecification};

/// FxHash (rustc's hasher): fast for the small integer and string keys used here.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub(crate) type FxSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// Entries above which the memo is emptied before a resolution (bounds memory for
/// long-lived resolvers fed ever new names).
const MEMO_LIMIT: usize = 4_000_000;

/// A dependency's content as far as scoring goes (name, types, sources, keywords).
struct DepInfo {
    spec: DependencySpec,
    name: u32,
    lower_keywords: Vec<String>,
}

/// An output class's content as far as scoring goes (provider step type and the output's
/// type, data type, name and aliases).
struct ClassInfo {
    output_type: DependencyType,
    data_type: String,
    step_type: String,
    /// The provider step type after [`StepTypeCatalog::normalize_step_type`].
    normalized_step_type: String,
    logical_name: String,
    aliases: Vec<String>,
    list: u32,
    lower_name: String,
}

/// Everything that is a pure function of names and specification contents, kept by the
/// resolver across calls (valid across registry changes; reset with the step catalog):
/// prepared names, name-pair similarities, alias-aware similarities and the
/// similarity-free parts of scores per (dependency content, output class).
#[derive(Default)]
pub(crate) struct ScoreMemo {
    name_ids: FxMap<Box<str>, u32>,
    names: Vec<PreparedName>,
    pairs: FxMap<(u32, u32), f64>,
    /// Token, semantic and substring components per name pair.
    components: FxMap<(u32, u32), [f64; 3]>,
    list_ids: FxMap<Box<[u32]>, u32>,
    lists: Vec<Box<[u32]>>,
    best: FxMap<(u32, u32), f64>,
    /// Upper bounds of `best` not yet computed exactly.
    bounds: FxMap<(u32, u32), f64>,
    /// Content hash → ids of the dependencies with that hash (compared field by field).
    dep_ids: FxMap<u64, Vec<u32>>,
    deps: Vec<DepInfo>,
    /// Content hash → ids of the classes with that hash (compared field by field).
    class_ids: FxMap<u64, Vec<u32>>,
    classes: Vec<ClassInfo>,
    /// Score parts without similarity and keywords.
    partials: FxMap<(u32, u32), ScoreBreakdown>,
    /// The keyword part.
    keywords: FxMap<(u32, u32), f64>,
}

fn fx_hash(value: &impl Hash) -> u64 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl ScoreMemo {
    fn entries(&self) -> usize {
        self.pairs.len()
            + self.best.len()
            + self.names.len()
            + self.partials.len()
            + self.keywords.len()
            + self.bounds.len()
            + self.components.len()
    }

    fn name_id(&mut self, raw: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(raw) {
            return id;
        }
        let id = to_u32(self.names.len());
        self.names.push(PreparedName::new(raw));
        self.name_ids.insert(raw.into(), id);
        id
    }

    fn list_id(&mut self, logical_name: &str, aliases: &[String]) -> u32 {
        let ids: Vec<u32> = std::iter::once(logical_name)
            .chain(aliases.iter().map(String::as_str))
            .map(|n| self.name_id(n))
            .collect();
        if let Some(&id) = self.list_ids.get(ids.as_slice()) {
            return id;
        }
        let id = to_u32(self.lists.len());
        self.lists.push(ids.clone().into_boxed_slice());
        self.list_ids.insert(ids.into_boxed_slice(), id);
        id
    }

    /// The alias-aware similarity of a dependency name to an output.
    pub(crate) fn with_aliases(&mut self, name: &str, output: &OutputSpec) -> f64 {
        let dep = self.name_id(name);
        let list = self.list_id(&output.logical_name, &output.aliases);
        self.best(dep, list)
    }

    /// The token, semantic and substring components of a name pair (shared by its bound
    /// and its exact similarity).
    fn others(&mut self, dep: u32, out: u32) -> [f64; 3] {
        if let Some(c) = self.components.get(&(dep, out)) {
            return *c;
        }
        let c = match (self.names.get(dep as usize), self.names.get(out as usize)) {
            (Some(a), Some(b)) => other_components(a, b),
            _ => [0.0; 3],
        };
        self.components.insert((dep, out), c);
        c
    }

    /// The exact similarity of a name pair ([`similarity_of`](super::matcher::similarity_of)).
    fn pair(&mut self, dep: u32, out: u32) -> f64 {
        if let Some(&s) = self.pairs.get(&(dep, out)) {
            return s;
        }
        let s = match (self.names.get(dep as usize), self.names.get(out as usize)) {
            (Some(a), Some(b)) => match short_circuit(a, b) {
                Some(s) => s,
                None => {
                    let string = string_component(a, b);
                    combine(string, self.others(dep, out))
                }
            },
            _ => 0.0,
        };
        self.pairs.insert((dep, out), s);
        s
    }

    /// An upper bound of [`Self::pair`] without sequence matching.
    fn pair_bound(&mut self, dep: u32, out: u32) -> f64 {
        if let Some(&s) = self.pairs.get(&(dep, out)) {
            return s;
        }
        match (self.names.get(dep as usize), self.names.get(out as usize)) {
            (Some(a), Some(b)) => match short_circuit(a, b) {
                Some(s) => s,
                None => {
                    let string = string_upper_bound(a, b);
                    combine(string, self.others(dep, out))
                }
            },
            _ => 0.0,
        }
    }

    /// `calculate_similarity_with_aliases`: the logical name first, an alias replaces the
    /// best only when strictly better — so the result is the maximum over the names. It is
    /// computed by decreasing upper bound, stopping when no remaining bound exceeds the
    /// maximum found (a name equal after normalisation gives 1.0, the largest value).
    fn best(&mut self, dep: u32, list: u32) -> f64 {
        if let Some(&s) = self.best.get(&(dep, list)) {
            return s;
        }
        let names = self.lists.get(list as usize).cloned().unwrap_or_default();
        let mut bounds: Vec<(f64, u32)> = names
            .iter()
            .map(|&n| (self.pair_bound(dep, n), n))
            .collect();
        bounds.sort_by(|x, y| y.0.total_cmp(&x.0));
        let mut best: Option<f64> = None;
        for (bound, name) in bounds {
            if best.is_some_and(|b| bound <= b) {
                break;
            }
            let s = self.pair(dep, name);
            if best.is_none_or(|b| s > b) {
                best = Some(s);
            }
        }
        let best = best.unwrap_or(0.0);
        self.best.insert((dep, list), best);
        best
    }

    /// An upper bound of [`Self::best`] without sequence matching (the exact value when
    /// already known).
    fn bound(&mut self, dep: u32, list: u32) -> f64 {
        if let Some(&s) = self.best.get(&(dep, list)) {
            return s;
        }
        if let Some(&b) = self.bounds.get(&(dep, list)) {
            return b;
        }
        let names = self.lists.get(list as usize).cloned().unwrap_or_default();
        let b = names
            .iter()
            .map(|&n| self.pair_bound(dep, n))
            .fold(0.0, f64::max);
        self.bounds.insert((dep, list), b);
        b
    }

    fn dep_id(&mut self, dep: &DependencySpec) -> u32 {
        let hash = fx_hash(&(
            &dep.logical_name,
            dep.dependency_type,
            &dep.data_type,
            &dep.compatible_sources,
            &dep.semantic_keywords,
        ));
        if let Some(ids) = self.dep_ids.get(&hash) {
            for &id in ids {
                let same = self.deps.get(id as usize).is_some_and(|info| {
                    let s = &info.spec;
                    s.logical_name == dep.logical_name
                        && s.dependency_type == dep.dependency_type
                        && s.data_type == dep.data_type
                        && s.compatible_sources == dep.compatible_sources
                        && s.semantic_keywords == dep.semantic_keywords
                });
                if same {
                    return id;
                }
            }
        }
        let id = to_u32(self.deps.len());
        let name = self.name_id(&dep.logical_name);
        self.deps.push(DepInfo {
            spec: dep.clone(),
            name,
            lower_keywords: dep
                .semantic_keywords
                .iter()
                .map(|k| k.to_lowercase())
                .collect(),
        });
        self.dep_ids.entry(hash).or_default().push(id);
        id
    }

    fn class_id(&mut self, catalog: &StepTypeCatalog, step_type: &str, out: &OutputSpec) -> u32 {
        let hash = fx_hash(&(
            step_type,
            out.output_type,
            &out.data_type,
            &out.logical_name,
            &out.aliases,
        ));
        if let Some(ids) = self.class_ids.get(&hash) {
            for &id in ids {
                let same = self.classes.get(id as usize).is_some_and(|c| {
                    c.step_type == step_type
                        && c.output_type == out.output_type
                        && c.data_type == out.data_type
                        && c.logical_name == out.logical_name
                        && c.aliases == out.aliases
                });
                if same {
                    return id;
                }
            }
        }
        let id = to_u32(self.classes.len());
        let list = self.list_id(&out.logical_name, &out.aliases);
        self.classes.push(ClassInfo {
            output_type: out.output_type,
            data_type: out.data_type.clone(),
            step_type: step_type.to_owned(),
            normalized_step_type: catalog.normalize_step_type(step_type).to_owned(),
            logical_name: out.logical_name.clone(),
            aliases: out.aliases.clone(),
            list,
            lower_name: out.logical_name.to_lowercase(),
        });
        self.class_ids.entry(hash).or_default().push(id);
        id
    }

    /// The keyword part of a (dependency, class) score.
    fn keyword(&mut self, dep: u32, class: u32) -> f64 {
        if let Some(&k) = self.keywords.get(&(dep, class)) {
            return k;
        }
        let k = match (
            self.deps.get(dep as usize),
            self.classes.get(class as usize),
        ) {
            (Some(d), Some(c)) => keyword_fraction(&d.lower_keywords, &c.lower_name) * 0.05,
            _ => 0.0,
        };
        self.keywords.insert((dep, class), k);
        k
    }

    /// The score parts other than the similarity and the keywords (same helpers as
    /// [`partial_breakdown`](super::scoring::partial_breakdown)); only called for
    /// type-compatible pairs.
    fn partial(&mut self, catalog: &StepTypeCatalog, dep: u32, class: u32) -> ScoreBreakdown {
        if let Some(p) = self.partials.get(&(dep, class)) {
            return *p;
        }
        let zero = ScoreBreakdown {
            type_compatibility: 0.0,
            data_type_compatibility: 0.0,
            semantic_similarity: 0.0,
            exact_match_bonus: 0.0,
            source_compatibility: 0.0,
            keyword_matching: 0.0,
        };
        let p = match (
            self.deps.get(dep as usize),
            self.classes.get(class as usize),
        ) {
            (Some(d), Some(c)) => ScoreBreakdown {
                type_compatibility: if d.spec.dependency_type == c.output_type {
                    0.4
                } else {
                    0.2
                },
                data_type_compatibility: data_type_part(&d.spec.data_type, &c.data_type),
                semantic_similarity: 0.0,
                exact_match_bonus: exact_part(&d.spec.logical_name, &c.logical_name, &c.aliases),
                source_compatibility: catalog
                    .source_part(&c.normalized_step_type, &d.spec.compatible_sources),
                keyword_matching: 0.0,
            },
            _ => zero,
        };
        self.partials.insert((dep, class), p);
        p
    }
}

/// The largest value [`similarity_of`](super::matcher::similarity_of) can return, computed with its float operations.
fn max_similarity() -> f64 {
    let mut total = STRING_WEIGHT;
    total += TOKEN_WEIGHT;
    total += SEMANTIC_WEIGHT;
    total += SUBSTRING_WEIGHT;
    total.max(1.0)
}

fn type_index(t: DependencyType) -> usize {
    DependencyType::ALL
        .iter()
        .position(|x| *x == t)
        .unwrap_or(0)
}

/// A provider output position: (index in the step list, index in the provider's outputs).
/// Ordered as the reference breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Occurrence {
    provider: u32,
    output: u32,
}

/// An output class of one resolution: its memo id and where it first occurs.
struct Class {
    global: u32,
    output_type: DependencyType,
    first: Occurrence,
    /// The first list position of the first provider's name (names are compared by it).
    first_name: u32,
    second: Option<Occurrence>,
}

/// One resolution pass over a fixed list of steps and their specifications.
pub(crate) struct Engine<'a> {
    catalog: &'a StepTypeCatalog,
    memo: &'a mut ScoreMemo,
    specs: &'a [Option<Arc<StepSpecification>>],
    classes: Vec<Class>,
    by_type: [Vec<u32>; 6],
    /// Each distinct step name → its first position in the list.
    positions: FxMap<&'a str, u32>,
    /// Name positions of the steps holding the first occurrence of some class.
    owners: FxSet<u32>,
    winners: FxMap<(u32, Option<u32>), Option<Occurrence>>,
    names: &'a [String],
    refs: FxMap<Occurrence, PropertyReference>,
    sim_max: f64,
    keyword_max: f64,
}

impl<'a> Engine<'a> {
    /// Indexes the outputs of `specs` (aligned with `names`; `None` = unregistered).
    pub(crate) fn new(
        catalog: &'a StepTypeCatalog,
        memo: &'a mut ScoreMemo,
        names: &'a [String],
        specs: &'a [Option<Arc<StepSpecification>>],
    ) -> Self {
        if memo.entries() > MEMO_LIMIT {
            *memo = ScoreMemo::default();
        }
        let mut engine = Engine {
            catalog,
            memo,
            specs,
            names,
            classes: Vec::new(),
            by_type: Default::default(),
            positions: FxMap::default(),
            owners: FxSet::default(),
            winners: FxMap::default(),
            refs: FxMap::default(),
            sim_max: max_similarity(),
            keyword_max: 0.05,
        };
        let mut local: FxMap<u32, u32> = FxMap::default();
        for (p, (name, spec)) in names.iter().zip(specs).enumerate() {
            let name_position = *engine.positions.entry(name.as_str()).or_insert(to_u32(p));
            let (Some(spec), false) = (spec, name.trim().is_empty()) else {
                continue;
            };
            for (o, out) in spec.outputs.values().enumerate() {
                let occurrence = Occurrence {
                    provider: to_u32(p),
                    output: to_u32(o),
                };
                let global = engine.memo.class_id(catalog, &spec.step_type, out);
                if let Some(&c) = local.get(&global) {
                    if let Some(class) = engine.classes.get_mut(c as usize)
                        && class.second.is_none()
                        && class.first_name != name_position
                    {
                        class.second = Some(occurrence);
                    }
                    continue;
                }
                let id = to_u32(engine.classes.len());
                local.insert(global, id);
                engine.by_type[type_index(out.output_type)].push(id);
                engine.owners.insert(name_position);
                engine.classes.push(Class {
                    global,
                    output_type: out.output_type,
                    first: occurrence,
                    first_name: name_position,
                    second: None,
                });
            }
        }
        engine
    }

    /// Resolves one consumer (which need not be in the step list).
    pub(crate) fn resolve_consumer(
        &mut self,
        consumer: &str,
        spec: &StepSpecification,
    ) -> Result<StepResolution, DependencyResolutionError> {
        let owner = self
            .positions
            .get(consumer)
            .copied()
            .filter(|p| self.owners.contains(p));
        let mut resolved = IndexMap::with_capacity(spec.dependencies.len());
        let mut unresolved = Vec::new();
        for (key, dep) in &spec.dependencies {
            let dep_id = self.memo.dep_id(dep);
            let winner = match self.winners.get(&(dep_id, owner)) {
                Some(w) => *w,
                None => {
                    let w = self.find_winner(dep_id, dep.dependency_type, owner);
                    self.winners.insert((dep_id, owner), w);
                    w
                }
            };
            match winner.and_then(|occ| self.reference(occ)) {
                Some(reference) => {
                    resolved.insert(key.clone(), reference);
                }
                None if dep.required => unresolved.push(key.clone()),
                None => {}
            }
        }
        if unresolved.is_empty() {
            Ok(resolved)
        } else {
            Err(DependencyResolutionError {
                step: consumer.to_owned(),
                dependencies: unresolved,
            })
        }
    }

    /// The earliest best candidate scoring above 0.5, or `None`.
    fn find_winner(
        &mut self,
        dep_id: u32,
        dep_type: DependencyType,
        owner: Option<u32>,
    ) -> Option<Occurrence> {
        let dep_name = self.memo.deps.get(dep_id as usize)?.name;
        let mut candidates: Vec<(f64, Occurrence, u32, ScoreBreakdown)> = Vec::new();
        for t in DependencyType::ALL {
            if !types_compatible(dep_type, t) {
                continue;
            }
            for &c in &self.by_type[type_index(t)] {
                let Some(class) = self.classes.get(c as usize) else {
                    continue;
                };
                debug_assert_eq!(class.output_type, t);
                let occurrence = if Some(class.first_name) == owner {
                    match class.second {
                        Some(o) => o,
                        None => continue,
                    }
                } else {
                    class.first
                };
                let mut partial = self.memo.partial(self.catalog, dep_id, class.global);
                partial.keyword_matching = self.keyword_max;
                let bound = partial.with_similarity(self.sim_max).score();
                if bound > 0.5 {
                    candidates.push((bound, occurrence, class.global, partial));
                }
            }
        }
        candidates.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        let mut best: Option<(f64, Occurrence)> = None;
        let hopeless = |bound: f64, occurrence: Occurrence, best: Option<(f64, Occurrence)>| {
            bound <= 0.5
                || best
                    .is_some_and(|(score, at)| bound < score || (bound == score && occurrence > at))
        };
        for (bound, occurrence, global, mut partial) in candidates {
            if hopeless(bound, occurrence, best) {
                break;
            }
            // The actual keyword part, then the bound again before the similarity.
            partial.keyword_matching = self.memo.keyword(dep_id, global);
            if hopeless(
                partial.with_similarity(self.sim_max).score(),
                occurrence,
                best,
            ) {
                continue;
            }
            let list = self.memo.classes.get(global as usize).map_or(0, |c| c.list);
            // A cheap bound of the similarity before computing it.
            let bound = self.memo.bound(dep_name, list);
            if hopeless(partial.with_similarity(bound).score(), occurrence, best) {
                continue;
            }
            let score = partial
                .with_similarity(self.memo.best(dep_name, list))
                .score();
            let better = match best {
                None => true,
                Some((s, at)) => score > s || (score == s && occurrence < at),
            };
            if score > 0.5 && better {
                best = Some((score, occurrence));
            }
        }
        best.map(|(_, occurrence)| occurrence)
    }

    fn reference(&mut self, occurrence: Occurrence) -> Option<PropertyReference> {
        if let Some(r) = self.refs.get(&occurrence) {
            return Some(r.clone());
        }
        let p = occurrence.provider as usize;
        let name: Arc<str> = Arc::from(self.names.get(p)?.trim());
        let spec = self.specs.get(p)?.as_ref()?;
        let output = spec.outputs.get_index(occurrence.output as usize)?.1;
        let reference = PropertyReference::from_parts(name, Arc::new(output.clone()));
        self.refs.insert(occurrence, reference.clone());
        Some(reference)
    }
}
