//! The optimised resolution path.
//!
//! It returns exactly what the straightforward path (score every provider output for every
//! dependency, keep the best above [`RESOLUTION_THRESHOLD`], earliest on ties) returns, with far less work:
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
//! * **Interned contents.** Dependencies and classes are interned once with their strings
//!   ([`ScoreMemo`]), so the type, data-type, exact-name and source parts of a score are a
//!   few integer comparisons, packed into one of 36 part codes.
//! * **Bounds.** The similarity is the only expensive part and is at most 1.0, so each
//!   candidate's score has an upper bound per part code, computed with the same float
//!   operations (similarity and keywords at their maximum). Candidates are visited level
//!   by level of decreasing bound; within a level, those whose output has a name equal to
//!   the dependency's after normalisation (similarity exactly 1.0, scored without any
//!   similarity work) come first, then the others by occurrence. A candidate is skipped
//!   as soon as a bound shows it cannot beat (or tie earlier than) the best found: with
//!   its actual keyword part, then with a similarity bound that leaves out the substring
//!   search and bounds the sequence ratio by common symbols, then with only the sequence
//!   ratio bounded, and only then is the exact similarity computed.
//! * **Memo** (kept by the resolver across calls, since it only depends on names and
//!   contents): interned contents and prepared names, similarity bounds and values per
//!   (dependency name, output name) and per (dependency name, output name + aliases).

mod contents;
mod memo;

use std::sync::Arc;

use indexmap::IndexMap;

use self::contents::ClassScoring;
use self::memo::{MEMO_LIMIT, to_u32};
use super::matcher::{SEMANTIC_WEIGHT, STRING_WEIGHT, SUBSTRING_WEIGHT, TOKEN_WEIGHT};
use super::outcome::{DependencyResolutionError, StepResolution};
use super::property::PropertyReference;
use super::resolver::RESOLUTION_THRESHOLD;
use super::scoring::{
    DATA_PARTS, EXACT_PARTS, KEYWORD_WEIGHT, SOURCE_PARTS, ScoreBreakdown, StepTypeCatalog,
    TYPE_PARTS, part, types_compatible,
};
use crate::spec::{DependencyType, StepSpecification};

pub(crate) use self::contents::{FxMap, FxSet};
pub(crate) use self::memo::ScoreMemo;

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
/// Ordered as the Python reference breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Occurrence {
    provider: u32,
    output: u32,
}

/// The number of part codes.
const CODES: usize = 36;

/// The breakdown of a part code ([`DepScoring::code`](contents::DepScoring::code)), without
/// similarity and keywords: the values come from the score rules
/// ([`partial_breakdown`](super::scoring::partial_breakdown) reads the same tables).
fn breakdown(code: usize) -> ScoreBreakdown {
    ScoreBreakdown {
        type_compatibility: part(&TYPE_PARTS, code / 18),
        data_type_compatibility: part(&DATA_PARTS, code / 6 % 3),
        semantic_similarity: 0.0,
        exact_match_bonus: part(&EXACT_PARTS, code / 3 % 2),
        source_compatibility: part(&SOURCE_PARTS, code % 3),
        keyword_matching: 0.0,
    }
}

/// An output class of one resolution: its memo id and where it first occurs.
struct Class {
    global: u32,
    scoring: ClassScoring,
    first: Occurrence,
    /// The first list position of the first provider's name (names are compared by it).
    first_name: u32,
    second: Option<Occurrence>,
}

/// A candidate of [`Engine::find_winner`]: score bound, occurrence, class id, part code,
/// and whether its similarity is known to be 1.0.
type Candidate = (f64, Occurrence, u32, u8, bool);

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
    /// Candidate buffer of [`Self::find_winner`].
    candidates: Vec<Candidate>,
    /// The candidates of one bound level.
    level: Vec<Candidate>,
    /// Per memo list id: (generation, bits) marks of [`Self::find_winner`].
    list_marks: Vec<(u32, u8)>,
    generation: u32,
    /// The score bound of each part code (similarity and keywords at their maximum).
    bounds: [f64; CODES],
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
            candidates: Vec::new(),
            level: Vec::new(),
            list_marks: Vec::new(),
            generation: 0,
            bounds: [0.0; CODES],
            sim_max: max_similarity(),
            keyword_max: KEYWORD_WEIGHT,
        };
        for (code, bound) in engine.bounds.iter_mut().enumerate() {
            let mut parts = breakdown(code);
            parts.keyword_matching = engine.keyword_max;
            *bound = parts.with_similarity(engine.sim_max).score();
        }
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
                let Some(scoring) = engine.memo.class_scoring(global) else {
                    continue;
                };
                engine.classes.push(Class {
                    global,
                    scoring,
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
            let dep_id = self.memo.dep_id(self.catalog, dep);
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

    /// The earliest best candidate scoring above [`RESOLUTION_THRESHOLD`], or `None`.
    fn find_winner(
        &mut self,
        dep_id: u32,
        dep_type: DependencyType,
        owner: Option<u32>,
    ) -> Option<Occurrence> {
        let dep_name = self.memo.dep_name(dep_id)?;
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        if let Some(dep) = self.memo.dep_scoring(dep_id) {
            // Mark the lists with the exact-name bonus (bit 1) and with similarity 1.0
            // (bit 2), stamped with a new generation instead of clearing.
            self.generation = self.generation.wrapping_add(1);
            let generation = self.generation;
            for (lists, bit) in [(dep.exact_lists(), 1u8), (dep.sure_lists(), 2u8)] {
                for &(_, list) in lists {
                    let l = list as usize;
                    if self.list_marks.len() <= l {
                        self.list_marks.resize(l + 1, (0, 0));
                    }
                    if let Some(mark) = self.list_marks.get_mut(l) {
                        *mark = if mark.0 == generation {
                            (generation, mark.1 | bit)
                        } else {
                            (generation, bit)
                        };
                    }
                }
            }
            for t in DependencyType::ALL {
                if !types_compatible(dep_type, t) {
                    continue;
                }
                for &c in &self.by_type[type_index(t)] {
                    let Some(class) = self.classes.get(c as usize) else {
                        continue;
                    };
                    debug_assert_eq!(class.scoring.output_type, t);
                    let occurrence = if Some(class.first_name) == owner {
                        match class.second {
                            Some(o) => o,
                            None => continue,
                        }
                    } else {
                        class.first
                    };
                    let marks = match self.list_marks.get(class.scoring.list as usize) {
                        Some(&(g, bits)) if g == generation => bits,
                        _ => 0,
                    };
                    let code = dep.code(&class.scoring, marks & 1 != 0);
                    let bound = self.bounds.get(code).copied().unwrap_or(f64::INFINITY);
                    if bound > RESOLUTION_THRESHOLD {
                        let sure = marks & 2 != 0;
                        candidates.push((bound, occurrence, class.global, code as u8, sure));
                    }
                }
            }
        }
        // Candidates are visited by decreasing bound, level by level (bounds take few
        // distinct values and the scan usually stops after a few levels, so only the
        // visited levels are sorted), each level by occurrence.
        let mut best: Option<(f64, Occurrence)> = None;
        let hopeless = |bound: f64, occurrence: Occurrence, best: Option<(f64, Occurrence)>| {
            bound <= RESOLUTION_THRESHOLD
                || best
                    .is_some_and(|(score, at)| bound < score || (bound == score && occurrence > at))
        };
        let mut level_buffer = std::mem::take(&mut self.level);
        let mut ceiling = f64::INFINITY;
        loop {
            let mut level = f64::NEG_INFINITY;
            for c in &candidates {
                if c.0 < ceiling && c.0 > level {
                    level = c.0;
                }
            }
            if level <= RESOLUTION_THRESHOLD || best.is_some_and(|(score, _)| level < score) {
                break;
            }
            ceiling = level;
            level_buffer.clear();
            level_buffer.extend(candidates.iter().filter(|c| c.0 == level));
            // Candidates of similarity 1.0 first (scored without similarity work, they
            // usually settle the best early), then the others by occurrence.
            level_buffer.sort_unstable_by_key(|c| (!c.4, c.1));
            for &(bound, occurrence, global, code, sure) in &level_buffer {
                if hopeless(bound, occurrence, best) {
                    continue;
                }
                let candidate = (global, usize::from(code), occurrence, sure);
                if let Some(score) = self.score_if_better(dep_id, dep_name, candidate, best) {
                    best = Some((score, occurrence));
                }
            }
        }
        self.level = level_buffer;
        self.candidates = candidates;
        best.map(|(_, occurrence)| occurrence)
    }

    /// The score of candidate `global` at `occurrence` when it is above [`RESOLUTION_THRESHOLD`] and beats
    /// `best` (higher, or equal and earlier); bounds skip the similarity when it cannot.
    fn score_if_better(
        &mut self,
        dep_id: u32,
        dep_name: u32,
        (global, code, occurrence, sure): (u32, usize, Occurrence, bool),
        best: Option<(f64, Occurrence)>,
    ) -> Option<f64> {
        let beats = |score: f64| {
            score > RESOLUTION_THRESHOLD
                && best.is_none_or(|(s, at)| score > s || (score == s && occurrence < at))
        };
        let mut partial = breakdown(code);
        let list = self.memo.class_scoring(global)?.list;
        // The actual keyword part, then the bound again before the similarity.
        partial.keyword_matching = self.memo.keyword_part(dep_id, global);
        if !beats(partial.with_similarity(self.sim_max).score()) {
            return None;
        }
        // A cheap bound of the similarity before computing it (the similarity itself when
        // it is known to be 1.0, which is cheap).
        let bound = if sure {
            self.memo.exact(dep_name, list)
        } else {
            self.memo.bound(dep_name, list, |b| {
                !beats(partial.with_similarity(b).score())
            })
        };
        if !beats(partial.with_similarity(bound).score()) {
            return None;
        }
        let score = partial
            .with_similarity(self.memo.exact(dep_name, list))
            .score();
        beats(score).then_some(score)
    }

    fn reference(&mut self, occurrence: Occurrence) -> Option<PropertyReference> {
        if let Some(r) = self.refs.get(&occurrence) {
            return Some(r.clone());
        }
        let p = occurrence.provider as usize;
        // The name exactly as registered: trimming it could name another step.
        let name: Arc<str> = Arc::from(self.names.get(p)?.as_str());
        let spec = self.specs.get(p)?.as_ref()?;
        let output = spec.outputs.get_index(occurrence.output as usize)?.1;
        let reference = PropertyReference::from_parts(name, Arc::new(output.clone()));
        self.refs.insert(occurrence, reference.clone());
        Some(reference)
    }
}
