//! Scoring many consumers against one step list: [`CandidateScorer`].
//!
//! [`UnifiedDependencyResolver::resolve_with_scoring`] is one call per consumer, and each
//! call pays for the step list again: it copies the list into its
//! [`ResolutionDetails`](super::ResolutionDetails), hashes it to find the shared candidate
//! index, and builds every candidate value. Over every consumer of a 10,000-step context that
//! is quadratic (the CLI's `resolve` took 8.8 s there). A scorer takes the list once; each
//! consumer then costs a score per dependency and output class, plus the few candidates kept.

use std::sync::Arc;

use indexmap::IndexMap;

use super::candidates::{CandidateIndex, KnownBreakdowns};
use super::engine::FxMap;
use super::outcome::ScoredCandidate;
use super::resolver::{UnifiedDependencyResolver, owned_names};
use crate::spec::StepSpecification;

/// The best candidates of one dependency and how many candidates it has in all.
///
/// Built by [`CandidateScorer::top_candidates`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TopCandidates {
    /// Whether the dependency is required.
    pub required: bool,
    /// The first candidates, best first, exactly as the start of the dependency's list in
    /// [`ScoringResolution::candidates`](super::ScoringResolution::candidates).
    pub candidates: Vec<ScoredCandidate>,
    /// How many candidates (outputs scoring above 0) the dependency has in all.
    pub total: usize,
}

/// Scores consumers against one ordered step list, as
/// [`UnifiedDependencyResolver::resolve_with_scoring`] does, keeping only each
/// dependency's first few candidates.
///
/// Made by [`UnifiedDependencyResolver::candidate_scorer`]. It reads the registry's
/// revision on every call and rebuilds what it shares across consumers when the registry
/// changed, so it never scores against specifications that were replaced or cleared.
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager,
///     SemanticMatcher, StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// for name in ["prep_a", "prep_b", "prep_c"] {
///     registry.register(name, &StepSpecification::new("Prep", NodeType::Source).with_output(
///         OutputSpec::new("features", DependencyType::ProcessingOutput, "properties.F"),
///     ))?;
/// }
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("labels", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let mut scorer = resolver.candidate_scorer(&["prep_a", "prep_b", "prep_c", "train"])?;
/// let labels = &scorer.top_candidates("train", 1)?.expect("train is registered")["labels"];
/// assert_eq!((labels.candidates.len(), labels.total), (1, 3));
/// assert_eq!(labels.candidates[0].provider_step, "prep_a");
/// # Ok(()) }
/// ```
pub struct CandidateScorer<'r> {
    resolver: &'r UnifiedDependencyResolver,
    names: Vec<String>,
    revision: u64,
    index: Arc<CandidateIndex>,
    /// Specifications the caller read at [`Held::revision`], used instead of reading them
    /// again while the registry is at that revision.
    held: Option<Held<'r>>,
    /// The breakdowns scored so far against `index`'s output classes.
    known: KnownBreakdowns,
}

/// Specifications read at one registry revision (step name → specification).
pub(crate) struct Held<'r> {
    pub(crate) revision: u64,
    pub(crate) specs: FxMap<&'r str, Arc<StepSpecification>>,
}

impl std::fmt::Debug for CandidateScorer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandidateScorer")
            .field("available_steps", &self.names.len())
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl UnifiedDependencyResolver {
    /// A scorer of consumers against `available_steps` (ordered: order breaks ties), for
    /// explaining many consumers' dependencies without paying for the list on each one.
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared) when the registry's context
    /// was cleared after the handle was taken; storage errors when it cannot be read.
    pub fn candidate_scorer<S: AsRef<str>>(
        &self,
        available_steps: &[S],
    ) -> crate::Result<CandidateScorer<'_>> {
        let names = owned_names(available_steps);
        let revision = self.registry().revision()?;
        let index = self.candidate_index(&names, revision)?;
        Ok(CandidateScorer {
            resolver: self,
            names,
            revision,
            index,
            held: None,
            known: KnownBreakdowns::default(),
        })
    }

    /// [`Self::candidate_scorer`] of `available_steps`, given specifications the caller read
    /// at the registry revision `held.revision` (a verified snapshot capture's): while the
    /// registry is still at that revision they are taken from `held` instead of being read
    /// and decoded again; once it moved, the scorer reads the registry as any other.
    pub(crate) fn candidate_scorer_held<'r, S: AsRef<str>>(
        &'r self,
        available_steps: &[S],
        held: Held<'r>,
    ) -> crate::Result<CandidateScorer<'r>> {
        let names = owned_names(available_steps);
        let revision = self.registry().revision()?;
        let held = Some(held).filter(|held| held.revision == revision);
        let index =
            self.candidate_index_from(&names, revision, held.as_ref().map(|held| &held.specs))?;
        Ok(CandidateScorer {
            resolver: self,
            names,
            revision,
            index,
            held,
            known: KnownBreakdowns::default(),
        })
    }
}

impl CandidateScorer<'_> {
    /// The first `top` candidates of each of `consumer`'s dependencies (in declaration
    /// order) and how many each has, or `None` when `consumer` is not registered. The
    /// candidates, their order and their scores are exactly those that
    /// [`UnifiedDependencyResolver::resolve_with_scoring`] lists first; only the kept ones
    /// are built, so a small `top` costs the same in a context of ten steps or of ten
    /// thousand sharing a few step types.
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared) when the registry's context
    /// was cleared after the handle was taken; storage errors when it cannot be read.
    pub fn top_candidates(
        &mut self,
        consumer: &str,
        top: usize,
    ) -> crate::Result<Option<IndexMap<String, TopCandidates>>> {
        Ok(self.top_candidates_many(&[consumer], top)?.pop().flatten())
    }

    /// [`Self::top_candidates`] of each of `consumers` (aligned), all scored against one
    /// state of the registry, read once: on a PostgreSQL registry that is one revision
    /// check and one read of the consumers' specifications for the whole list instead of
    /// two round trips per consumer. Every result is held at once, so a caller keeping many
    /// candidates per dependency scores a long list in parts.
    ///
    /// # Errors
    /// As [`Self::top_candidates`].
    pub fn top_candidates_many<S: AsRef<str>>(
        &mut self,
        consumers: &[S],
        top: usize,
    ) -> crate::Result<Vec<Option<IndexMap<String, TopCandidates>>>> {
        let revision = self.resolver.registry().revision()?;
        if revision != self.revision {
            self.index = self.resolver.candidate_index(&self.names, revision)?;
            self.revision = revision;
            self.known = KnownBreakdowns::default();
        }
        // Specifications held from the caller's read serve only at the revision they were
        // read at; after a write every one is read again.
        if self
            .held
            .as_ref()
            .is_some_and(|held| held.revision != revision)
        {
            self.held = None;
        }
        let names: Vec<&str> = consumers.iter().map(AsRef::as_ref).collect();
        let held = self.held.as_ref().map(|held| &held.specs);
        let specs = self.resolver.load_specs_held(&names, revision, held)?;
        let mut all = Vec::with_capacity(names.len());
        for (consumer, spec) in names.iter().zip(specs) {
            let scored = spec.map(|spec| {
                let mut scored = IndexMap::with_capacity(spec.dependencies.len());
                for (key, dep) in &spec.dependencies {
                    let (candidates, total) =
                        self.resolver
                            .score_known(&self.index, consumer, dep, top, &mut self.known);
                    let top = TopCandidates {
                        required: dep.required,
                        candidates,
                        total,
                    };
                    scored.insert(key.clone(), top);
                }
                scored
            });
            all.push(scored);
        }
        Ok(all)
    }
}
