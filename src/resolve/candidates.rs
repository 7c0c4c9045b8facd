//! The candidate index of [`resolve_with_scoring`](super::UnifiedDependencyResolver::resolve_with_scoring).
//!
//! `resolve_with_scoring` lists every (provider ≠ consumer) output with a score above 0,
//! best first, ties in step-list order then output order (`resolve_with_scoring_top` the
//! first few of them and how many there are). Everything about the providers is
//! independent of the consumer, so it is computed once per registry revision and step list
//! (cached beside the resolutions) and shared by every consumer:
//!
//! * **Output classes.** A breakdown depends on the provider only through its step type
//!   and on the output only through its type, data type, logical name and aliases
//!   ([`partial_breakdown`](super::scoring::partial_breakdown) and the alias-aware
//!   similarity read nothing else). Outputs equal in all of these form a class, scored
//!   once per dependency with exactly the calls the straightforward path makes on each of
//!   them, so every member gets the same breakdown, bit for bit.
//! * **Type index.** Classes are indexed by output type, so type-incompatible outputs cost
//!   nothing.
//! * **Known breakdowns.** A [`CandidateScorer`](super::CandidateScorer) keeps each
//!   (dependency contents, class) breakdown it computed ([`KnownBreakdowns`]), so the many
//!   consumers of a large context declaring equal dependencies score each class once (the
//!   keyword part lower-cases every keyword and dominated `resolve --explain`).
//! * **Shared references.** Each member's [`PropertyReference`] is built once; candidates
//!   clone it (two reference counts) instead of copying the [`OutputSpec`].
//! * **Order.** The straightforward path stably sorts by score; since
//!   [`f64::total_cmp`] is a total order, that is the order by (score descending, step-list
//!   position, output position). Classes are sorted by score and the members of classes
//!   with equal scores merged by position.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use super::outcome::ScoredCandidate;
use super::property::PropertyReference;
use super::scoring::ScoreBreakdown;
use crate::spec::{DependencySpec, DependencyType, OutputSpec, StepSpecification};

/// One provider output: where it is and what a candidate of it names.
struct Member {
    /// The provider's index among the distinct step names.
    provider: u32,
    /// (provider index, output index): the tie-breaking order.
    position: (u32, u32),
    /// The provider's name, exactly as given.
    provider_step: Arc<str>,
    /// The output's key in the provider's specification.
    output_name: String,
    reference: PropertyReference,
}

/// Provider outputs that every dependency scores alike.
struct OutputClass {
    /// The provider step type shared by the members.
    step_type: String,
    /// The first member's output (its type, data type, names and aliases are the class's).
    output: Arc<OutputSpec>,
    /// In position order.
    members: Vec<Member>,
}

/// What scoring resolutions over one step list share, whatever the consumer.
pub(super) struct CandidateIndex {
    /// Each distinct step name → its index (first place).
    providers: HashMap<String, u32>,
    /// How many distinct step names are registered.
    registered_steps: usize,
    classes: Vec<OutputClass>,
    /// Class ids per output type ([`DependencyType::ALL`] order).
    by_type: [Vec<u32>; 6],
}

fn type_index(t: DependencyType) -> usize {
    DependencyType::ALL
        .iter()
        .position(|x| *x == t)
        .unwrap_or(0)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What makes two outputs score alike: provider step type, output type, data type,
/// logical name and aliases.
type ClassKey<'s> = (&'s str, DependencyType, &'s str, &'s str, &'s [String]);

impl CandidateIndex {
    /// Indexes the outputs of `specs`, aligned with `distinct` (distinct step names in
    /// order; `None` = unregistered). Providers with a blank name cannot be referenced and
    /// are left out.
    pub(super) fn new(distinct: &[&str], specs: &[Option<Arc<StepSpecification>>]) -> Self {
        let mut index = CandidateIndex {
            providers: HashMap::with_capacity(distinct.len()),
            registered_steps: specs.iter().filter(|s| s.is_some()).count(),
            classes: Vec::new(),
            by_type: Default::default(),
        };
        let mut ids: HashMap<ClassKey<'_>, u32> = HashMap::new();
        for (p, (&name, spec)) in distinct.iter().zip(specs).enumerate() {
            let provider = to_u32(p);
            index.providers.entry(name.to_owned()).or_insert(provider);
            let (Some(spec), false) = (spec, name.trim().is_empty()) else {
                continue;
            };
            let provider_step: Arc<str> = Arc::from(name);
            for (o, (output_name, out)) in spec.outputs.iter().enumerate() {
                let output = Arc::new(out.clone());
                let member = Member {
                    provider,
                    position: (provider, to_u32(o)),
                    provider_step: Arc::clone(&provider_step),
                    output_name: output_name.clone(),
                    reference: PropertyReference::from_parts(
                        Arc::clone(&provider_step),
                        Arc::clone(&output),
                    ),
                };
                let key: ClassKey<'_> = (
                    spec.step_type.as_str(),
                    out.output_type,
                    out.data_type.as_str(),
                    out.logical_name.as_str(),
                    out.aliases.as_slice(),
                );
                let id = *ids.entry(key).or_insert_with(|| {
                    let id = to_u32(index.classes.len());
                    index.classes.push(OutputClass {
                        step_type: spec.step_type.clone(),
                        output,
                        members: Vec::new(),
                    });
                    if let Some(list) = index.by_type.get_mut(type_index(out.output_type)) {
                        list.push(id);
                    }
                    id
                });
                if let Some(class) = index.classes.get_mut(id as usize) {
                    class.members.push(member);
                }
            }
        }
        index
    }

    /// How many distinct step names are registered.
    pub(super) fn registered_steps(&self) -> usize {
        self.registered_steps
    }

    /// How many output classes the index has.
    pub(super) fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// The first `limit` candidates of `dep` for `consumer`, best first, ties in
    /// (step-list, output) order, and how many candidates there are in all. `breakdown`
    /// scores an output of a provider with the given step type (`None` for incompatible
    /// types), given with its class's index (below [`Self::class_count`]); it is called once
    /// per class of compatible type. Only the returned candidates
    /// are built: the total is counted per class (its members less the consumer's own, a
    /// range of its position-ordered members), so a small `limit` costs a score per class,
    /// not a value per provider output.
    pub(super) fn candidates(
        &self,
        consumer: &str,
        dep: &DependencySpec,
        limit: usize,
        mut breakdown: impl FnMut(usize, &OutputSpec, &str) -> Option<ScoreBreakdown>,
    ) -> (Vec<ScoredCandidate>, usize) {
        let skip = self.providers.get(consumer).copied();
        let mut scored: Vec<(f64, ScoreBreakdown, &OutputClass)> = Vec::new();
        let mut total = 0;
        for t in DependencyType::ALL {
            if !super::scoring::types_compatible(dep.dependency_type, t) {
                continue;
            }
            let ids = self
                .by_type
                .get(type_index(t))
                .map_or(&[][..], Vec::as_slice);
            for &c in ids {
                let Some(class) = self.classes.get(c as usize) else {
                    continue;
                };
                let Some(parts) = breakdown(c as usize, &class.output, &class.step_type) else {
                    continue;
                };
                let score = parts.score();
                if score > 0.0 {
                    total += class.members.len() - class.own_members(skip);
                    scored.push((score, parts, class));
                }
            }
        }
        // Best first; classes of equal score are merged by position below, so their order
        // here does not matter.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut candidates = Vec::with_capacity(total.min(limit));
        let mut rest = scored.as_slice();
        while let Some(first) = rest.first() {
            let room = limit.saturating_sub(candidates.len());
            if room == 0 {
                break;
            }
            let same = rest
                .iter()
                .take_while(|s| s.0.total_cmp(&first.0).is_eq())
                .count()
                .max(1);
            let (group, tail) = rest.split_at(same.min(rest.len()));
            rest = tail;
            let classes: Vec<&OutputClass> = group.iter().map(|(_, _, class)| *class).collect();
            for (g, member) in merged(&classes, skip).take(room) {
                let Some(&(score, parts, _)) = group.get(g) else {
                    continue;
                };
                candidates.push(ScoredCandidate {
                    provider_step: member.provider_step.as_ref().to_owned(),
                    output_name: member.output_name.clone(),
                    score,
                    score_breakdown: parts,
                    property_reference: member.reference.clone(),
                });
            }
        }
        (candidates, total)
    }
}

/// The members of `classes` (each in position order) merged into one position order, with
/// the index of each member's class, leaving out the members of provider `skip`. Lazy: taking
/// the first few of many large classes costs a few heap steps, not a sort of every member
/// (a dependency tied across classes of thousands of providers each made every consumer's
/// scoring grow with the size of the context).
fn merged<'c>(
    classes: &[&'c OutputClass],
    skip: Option<u32>,
) -> impl Iterator<Item = (usize, &'c Member)> {
    let mut cursors: Vec<std::iter::Peekable<_>> = classes
        .iter()
        .map(|class| {
            class
                .members
                .iter()
                .filter(move |m| Some(m.provider) != skip)
                .peekable()
        })
        .collect();
    let mut heads: BinaryHeap<Reverse<((u32, u32), usize)>> = cursors
        .iter_mut()
        .enumerate()
        .filter_map(|(g, cursor)| cursor.peek().map(|m| Reverse((m.position, g))))
        .collect();
    std::iter::from_fn(move || {
        let Reverse((_, g)) = heads.pop()?;
        let cursor = cursors.get_mut(g)?;
        let member = cursor.next()?;
        if let Some(next) = cursor.peek() {
            heads.push(Reverse((next.position, g)));
        }
        Some((g, member))
    })
}

impl OutputClass {
    /// How many members the provider `skip` (the consumer, when it is one) holds: a range
    /// of the members, which are in position order.
    fn own_members(&self, skip: Option<u32>) -> usize {
        let Some(provider) = skip else {
            return 0;
        };
        let start = self.members.partition_point(|m| m.provider < provider);
        let end = self.members.partition_point(|m| m.provider <= provider);
        end.saturating_sub(start)
    }
}

/// The most breakdowns [`KnownBreakdowns`] holds (about 56 bytes each); beyond, it starts
/// again empty.
const KNOWN_LIMIT: usize = 1 << 19;

/// What a breakdown reads of a dependency: its type, data type, name, compatible sources
/// and keywords ([`partial_breakdown`](super::scoring::partial_breakdown) and the
/// alias-aware similarity read nothing else).
struct DepContents {
    logical_name: String,
    dependency_type: DependencyType,
    data_type: String,
    compatible_sources: Vec<String>,
    semantic_keywords: Vec<String>,
}

impl DepContents {
    fn of(dep: &DependencySpec) -> Self {
        DepContents {
            logical_name: dep.logical_name.clone(),
            dependency_type: dep.dependency_type,
            data_type: dep.data_type.clone(),
            compatible_sources: dep.compatible_sources.clone(),
            semantic_keywords: dep.semantic_keywords.clone(),
        }
    }

    fn matches(&self, dep: &DependencySpec) -> bool {
        self.logical_name == dep.logical_name
            && self.dependency_type == dep.dependency_type
            && self.data_type == dep.data_type
            && self.compatible_sources == dep.compatible_sources
            && self.semantic_keywords == dep.semantic_keywords
    }

    /// The hash of `dep`'s contents, equal to that of `DepContents::of(dep)`.
    fn hash_of(dep: &DependencySpec) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = rustc_hash::FxHasher::default();
        dep.logical_name.hash(&mut hasher);
        dep.dependency_type.hash(&mut hasher);
        dep.data_type.hash(&mut hasher);
        dep.compatible_sources.hash(&mut hasher);
        dep.semantic_keywords.hash(&mut hasher);
        hasher.finish()
    }
}

/// One dependency's breakdown against each output class: `None` until computed, then the
/// breakdown as computed (`Some(None)` for incompatible types).
type Slots = Vec<Option<Option<ScoreBreakdown>>>;

/// Breakdowns of dependencies against the output classes of one [`CandidateIndex`], by the
/// dependency contents a breakdown reads: the consumers of a context declaring equal
/// dependencies (many copies of a few step types) score each class once instead of once
/// per consumer. Each slot is `None` until computed, then the breakdown exactly as
/// computed (`Some(None)` for incompatible types).
#[derive(Default)]
pub(super) struct KnownBreakdowns {
    by_hash: HashMap<u64, Vec<(DepContents, Slots)>>,
    /// How many slots are held in all.
    slots: usize,
}

impl KnownBreakdowns {
    /// The slots of `dep`'s contents, one per class of an index of `classes` classes; `None`
    /// when an index has too many classes to keep their breakdowns.
    pub(super) fn of(&mut self, dep: &DependencySpec, classes: usize) -> Option<&mut Slots> {
        if classes > KNOWN_LIMIT {
            return None;
        }
        let hash = DepContents::hash_of(dep);
        let known = self
            .by_hash
            .get(&hash)
            .and_then(|bucket| bucket.iter().position(|(key, _)| key.matches(dep)));
        let at = match known {
            Some(at) => at,
            None => {
                if self.slots + classes > KNOWN_LIMIT {
                    self.by_hash.clear();
                    self.slots = 0;
                }
                self.slots += classes;
                let bucket = self.by_hash.entry(hash).or_default();
                bucket.push((DepContents::of(dep), vec![None; classes]));
                bucket.len() - 1
            }
        };
        self.by_hash
            .get_mut(&hash)
            .and_then(|bucket| bucket.get_mut(at))
            .map(|(_, slots)| slots)
    }
}
