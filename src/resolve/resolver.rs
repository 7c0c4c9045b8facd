//! The dependency resolver over a [`SpecificationRegistry`]: the resolver, its caches and
//! normal resolution; `resolver/explain.rs` explains resolutions (candidates with their
//! score breakdowns, reports).

mod explain;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use indexmap::IndexMap;

use super::candidates::CandidateIndex;
use super::engine::Engine;
use super::engine::ScoreMemo;
use super::engine::{FxMap, FxSet};
use super::matcher::SemanticMatcher;
use super::outcome::{DependencyResolutionError, PipelineResolution, StepResolution};
use super::scoring::{ScoreBreakdown, StepTypeCatalog, compatibility_score};
use crate::registry::SpecificationRegistry;
use crate::spec::{DependencySpec, OutputSpec, StepSpecification};

/// The strict threshold of normal resolution (a candidate needs a score above it) and the
/// inclusive one of [`UnifiedDependencyResolver::resolve_with_scoring`].
pub const RESOLUTION_THRESHOLD: f64 = 0.5;

/// Distinct step lists whose resolutions are cached; the cache is emptied beyond this.
const MAX_CACHED_LISTS: usize = 64;

pub(super) type Outcome = Result<StepResolution, DependencyResolutionError>;

#[derive(Default)]
struct ListCache {
    steps: HashMap<String, Outcome>,
    all: Option<PipelineResolution>,
    /// What [`UnifiedDependencyResolver::resolve_with_scoring`] shares across consumers.
    scoring: Option<Arc<CandidateIndex>>,
}

#[derive(Default)]
struct ResolutionCache {
    revision: Option<u64>,
    lists: HashMap<Vec<String>, ListCache>,
}

/// Resolves which producer output feeds each dependency of a pipeline's steps, with the
/// reference resolver's scores, threshold and tie-breaking.
///
/// Every available step other than the consumer is a candidate provider (no DAG
/// restriction, so cycles are possible, and one output may feed several dependencies, as
/// in the Python reference). For each dependency the candidate outputs are scored
/// ([`compatibility_score`]); the best score **above** [`RESOLUTION_THRESHOLD`]
/// wins, ties going to the earlier step in the list given, then to the earlier output.
///
/// # Caching
/// Resolutions are cached per **ordered** step list (order decides ties) and the cache is
/// dropped whenever [`SpecificationRegistry::revision`] changes, so writes made directly on
/// the registry, by another handle or before a restart are seen (docs/design.md, deliberate difference D4:
/// the Python reference keys its cache by the sorted list and only clears it on
/// `register_specification`). Name similarities are memoised for the resolver's lifetime.
///
/// # Differences from the Python reference (docs/design.md, D8)
/// A provider whose name is blank after trimming cannot be referenced and is skipped (the
/// reference fails building its `PropertyReference`). A step listed twice is resolved once.
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = RegistryManager::in_memory()?;
/// let registry = manager.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("processed_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let resolution = resolver.resolve_all_dependencies(&["prep", "train"])?;
/// assert_eq!(resolution.resolved["train"]["training_data"].to_string(), "prep.processed_data");
/// # Ok(()) }
/// ```
pub struct UnifiedDependencyResolver {
    registry: SpecificationRegistry,
    matcher: SemanticMatcher,
    pub(super) catalog: StepTypeCatalog,
    cache: Mutex<ResolutionCache>,
    pub(super) memo: Mutex<ScoreMemo>,
}

impl std::fmt::Debug for UnifiedDependencyResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnifiedDependencyResolver")
            .field("registry", &self.registry)
            .field("matcher", &self.matcher)
            .finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn owned_names<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    names.iter().map(|s| s.as_ref().to_owned()).collect()
}

fn borrowed(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

impl UnifiedDependencyResolver {
    /// A resolver over `registry` using `matcher` and the Python reference's step-type catalog.
    pub fn new(registry: SpecificationRegistry, matcher: SemanticMatcher) -> Self {
        UnifiedDependencyResolver {
            registry,
            matcher,
            catalog: StepTypeCatalog::default(),
            cache: Mutex::new(ResolutionCache::default()),
            memo: Mutex::new(ScoreMemo::default()),
        }
    }

    /// Replaces the known step names and legacy aliases used by the compatible-sources rule.
    #[must_use]
    pub fn with_step_catalog(mut self, catalog: StepTypeCatalog) -> Self {
        self.catalog = catalog;
        self.clear_cache();
        *lock(&self.memo) = ScoreMemo::default();
        self
    }

    /// The registry resolved over.
    pub fn registry(&self) -> &SpecificationRegistry {
        &self.registry
    }

    /// The name matcher.
    pub fn matcher(&self) -> &SemanticMatcher {
        &self.matcher
    }

    /// The step-type catalog of the compatible-sources rule.
    pub fn step_catalog(&self) -> &StepTypeCatalog {
        &self.catalog
    }

    /// Registers a specification in the registry (the cache follows the registry revision).
    ///
    /// # Errors
    /// As [`SpecificationRegistry::register`].
    pub fn register_specification(
        &self,
        step_name: &str,
        spec: &StepSpecification,
    ) -> crate::Result<()> {
        self.registry.register(step_name, spec)
    }

    /// Empties the resolution cache (the similarity memo is kept: it cannot go stale).
    pub fn clear_cache(&self) {
        let mut cache = lock(&self.cache);
        cache.revision = None;
        cache.lists.clear();
    }

    /// The compatibility score of `dep` against `out` of a provider with `provider_spec`.
    pub fn calculate_compatibility(
        &self,
        dep: &DependencySpec,
        out: &OutputSpec,
        provider_spec: &StepSpecification,
    ) -> f64 {
        compatibility_score(
            &self.matcher,
            &self.catalog,
            dep,
            out,
            &provider_spec.step_type,
        )
    }

    /// The parts of [`Self::calculate_compatibility`] (`None` for incompatible types).
    pub fn score_breakdown(
        &self,
        dep: &DependencySpec,
        out: &OutputSpec,
        provider_spec: &StepSpecification,
    ) -> Option<ScoreBreakdown> {
        super::scoring::score_breakdown(
            &self.matcher,
            &self.catalog,
            dep,
            out,
            &provider_spec.step_type,
        )
    }

    /// Runs `f` on the cache entry of `names` (if any) after syncing the cache with
    /// `revision`.
    fn cached<R>(
        &self,
        names: &[String],
        revision: u64,
        f: impl FnOnce(&ListCache) -> Option<R>,
    ) -> Option<R> {
        let mut cache = lock(&self.cache);
        if cache.revision != Some(revision) {
            cache.lists.clear();
            cache.revision = Some(revision);
        }
        cache.lists.get(names).and_then(f)
    }

    /// Stores into the cache entry of `names`, unless the registry moved on meanwhile.
    fn store(&self, names: Vec<String>, revision: u64, f: impl FnOnce(&mut ListCache)) {
        let mut cache = lock(&self.cache);
        if cache.revision != Some(revision) {
            return;
        }
        if !cache.lists.contains_key(names.as_slice()) && cache.lists.len() >= MAX_CACHED_LISTS {
            cache.lists.clear();
        }
        f(cache.lists.entry(names).or_default());
    }

    /// The specifications of `names` (aligned; `None` = unregistered). The registry serves
    /// them from its in-process cache of decoded specifications, which every write
    /// invalidates (on PostgreSQL: checked against `revision`, the context's revision this
    /// call read, once for all).
    pub(super) fn load_specs(
        &self,
        names: &[&str],
        revision: u64,
    ) -> crate::Result<Vec<Option<Arc<StepSpecification>>>> {
        self.registry.get_specifications_at(names, Some(revision))
    }

    /// As [`Self::load_specs`], taking those found in `held` (step name → specification, read
    /// by the caller at `revision`) from there and reading only the others.
    pub(super) fn load_specs_held(
        &self,
        names: &[&str],
        revision: u64,
        held: Option<&FxMap<&str, Arc<StepSpecification>>>,
    ) -> crate::Result<Vec<Option<Arc<StepSpecification>>>> {
        let Some(held) = held else {
            return self.load_specs(names, revision);
        };
        let mut specs: Vec<Option<Arc<StepSpecification>>> =
            names.iter().map(|name| held.get(name).cloned()).collect();
        let missing: Vec<usize> = (0..names.len()).filter(|&at| specs[at].is_none()).collect();
        if !missing.is_empty() {
            let wanted: Vec<&str> = missing.iter().map(|&at| names[at]).collect();
            let read = self.load_specs(&wanted, revision)?;
            for (at, spec) in missing.into_iter().zip(read) {
                specs[at] = spec;
            }
        }
        Ok(specs)
    }

    /// Resolves the dependencies of `consumer` against the outputs of `available_steps`.
    ///
    /// Returns dependency name → producer output for every resolved dependency, in
    /// declaration order; unresolved optional dependencies are left out. An unregistered
    /// consumer resolves to an empty map, as in the reference, with a `tracing` warning
    /// naming it (a misspelt name would otherwise look like a step without dependencies).
    ///
    /// # Errors
    /// [`Error::Unresolved`](crate::Error::Unresolved) naming every unresolved required
    /// dependency; [`Error::ContextCleared`](crate::Error::ContextCleared) when the
    /// registry's context was cleared after the handle was taken; storage errors when the
    /// registry cannot be read.
    pub fn resolve_step_dependencies<S: AsRef<str>>(
        &self,
        consumer: &str,
        available_steps: &[S],
    ) -> crate::Result<StepResolution> {
        let names = owned_names(available_steps);
        let revision = self.registry.revision()?;
        let hit = self.cached(&names, revision, |entry| {
            entry.steps.get(consumer).cloned().or_else(|| {
                entry
                    .all
                    .as_ref()
                    .filter(|_| names.iter().any(|n| n == consumer))
                    .map(|all| outcome_in(all, consumer))
            })
        });
        if let Some(hit) = hit {
            return Ok(hit?);
        }
        let consumer_spec = self.load_specs(&[consumer], revision)?.pop().flatten();
        let outcome = match consumer_spec {
            None => {
                // As the reference does: an empty answer is also what a misspelt name
                // gets, so it is said (once per registry revision and set of steps: the
                // answer is cached).
                tracing::warn!(
                    context = %self.registry.context_name(),
                    step = consumer,
                    "no specification is registered for the consumer step; it resolves to no dependencies"
                );
                Ok(IndexMap::new())
            }
            Some(spec) => {
                let specs = self.load_specs(&borrowed(&names), revision)?;
                let mut memo = lock(&self.memo);
                let mut engine = Engine::new(&self.catalog, &mut memo, &names, &specs);
                engine.resolve_consumer(consumer, &spec)
            }
        };
        self.store(names, revision, |entry| {
            entry.steps.insert(consumer.to_owned(), outcome.clone());
        });
        Ok(outcome?)
    }

    /// Resolves every step of `available_steps` against the others.
    ///
    /// Never fails for resolution reasons: steps with unresolved required dependencies are
    /// left out of [`PipelineResolution::resolved`] and listed in
    /// [`PipelineResolution::unresolved`].
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared) when the registry's context
    /// was cleared after the handle was taken; storage errors when it cannot be read.
    pub fn resolve_all_dependencies<S: AsRef<str>>(
        &self,
        available_steps: &[S],
    ) -> crate::Result<PipelineResolution> {
        let names = owned_names(available_steps);
        let revision = self.registry.revision()?;
        if let Some(hit) = self.cached(&names, revision, |entry| entry.all.clone()) {
            return Ok(hit);
        }
        let specs = self.load_specs(&borrowed(&names), revision)?;
        let resolution = self.resolve_loaded(&names, &specs);
        self.store(names, revision, |entry| {
            entry.all = Some(resolution.clone())
        });
        Ok(resolution)
    }

    /// What [`Self::resolve_all_dependencies`] returns for `names` when the registry holds
    /// `specs` (aligned with `names`; `None` = unregistered), from specifications the caller
    /// has already read, so that they are not read and decoded again.
    ///
    /// Neither the registry nor the resolution cache is touched: only the caller knows at
    /// which revision `specs` were read (a snapshot capture checks the revision before and
    /// after its read and captures again when it moved), so the result is not cached under
    /// a revision it may not belong to. The similarity memo is shared, as it depends on
    /// names and contents only.
    pub(crate) fn resolve_loaded(
        &self,
        names: &[String],
        specs: &[Option<Arc<StepSpecification>>],
    ) -> PipelineResolution {
        let mut outcomes: Vec<(String, Option<Outcome>)> = Vec::with_capacity(names.len());
        {
            let mut memo = lock(&self.memo);
            let mut engine = Engine::new(&self.catalog, &mut memo, names, specs);
            let mut seen = FxSet::default();
            for (name, spec) in names.iter().zip(specs) {
                if seen.insert(name.as_str()) {
                    let outcome = spec.as_ref().map(|s| engine.resolve_consumer(name, s));
                    outcomes.push((name.clone(), outcome));
                }
            }
        }
        assemble(outcomes)
    }
}

/// Each name of `names` once, at its first place.
pub(super) fn distinct_names(names: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    names
        .iter()
        .map(String::as_str)
        .filter(|name| seen.insert(*name))
        .collect()
}

/// Builds the public result from per-step outcomes (`None` = unregistered).
pub(super) fn assemble(outcomes: Vec<(String, Option<Outcome>)>) -> PipelineResolution {
    let mut resolution = PipelineResolution::default();
    for (name, outcome) in outcomes {
        match outcome {
            None => resolution.unregistered.push(name),
            Some(Ok(deps)) if !deps.is_empty() => {
                resolution.resolved.insert(name, deps);
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => resolution.unresolved.push(e),
        }
    }
    resolution
}

/// The outcome of `consumer` (a name of the resolved list) read back from a resolution.
fn outcome_in(resolution: &PipelineResolution, consumer: &str) -> Outcome {
    if let Some(failure) = resolution.unresolved.iter().find(|e| e.step == consumer) {
        return Err(failure.clone());
    }
    Ok(resolution.get(consumer).cloned().unwrap_or_default())
}
