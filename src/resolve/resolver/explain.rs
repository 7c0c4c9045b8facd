//! Explaining a resolution: [`UnifiedDependencyResolver::resolve_with_scoring`], every
//! candidate of a consumer's dependencies with its score breakdown (over a candidate index
//! cached per step list, which [`CandidateScorer`](crate::resolve::CandidateScorer) shares),
//! and [`UnifiedDependencyResolver::resolution_report`], a debugging report of a step list.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use super::{UnifiedDependencyResolver, borrowed, distinct_names, lock, owned_names};
use crate::resolve::candidates::{CandidateIndex, KnownBreakdowns};
use crate::resolve::engine::FxMap;
use crate::resolve::outcome::{
    DependencyResolutionError, ResolutionReport, ResolutionSummary, ScoredCandidate,
    ScoringResolution, StepReport,
};
use crate::resolve::scoring::partial_breakdown;
use crate::spec::{DependencySpec, StepSpecification};

impl UnifiedDependencyResolver {
    /// Every candidate of every dependency of `consumer` with its score breakdown (never
    /// fails for resolution reasons). The result is not cached; what every consumer shares
    /// (the providers' outputs grouped into classes that score alike) is, per registry
    /// revision and ordered step list, so scoring each consumer of a list costs a score per
    /// dependency and output class plus the candidates returned.
    ///
    /// Candidates are every (provider ≠ consumer) output with a score above 0, best first
    /// (stable); a step listed twice in `available_steps` is one provider (its first place
    /// counts), and `resolution_details` reports the list as given. A dependency resolves when its best score is **at least**
    /// [`RESOLUTION_THRESHOLD`](super::RESOLUTION_THRESHOLD) (inclusive,
    /// unlike normal resolution, as in the Python reference); otherwise it is reported with its
    /// top three candidates. Each breakdown's parts add up to the score before the 1.0 cap
    /// (docs/design.md, deliberate difference D5).
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared) when the registry's context
    /// was cleared after the handle was taken; storage errors when it cannot be read.
    pub fn resolve_with_scoring<S: AsRef<str>>(
        &self,
        consumer: &str,
        available_steps: &[S],
    ) -> crate::Result<ScoringResolution> {
        let names = owned_names(available_steps);
        let revision = self.registry.revision()?;
        let index = self.candidate_index(&names, revision)?;
        let consumer_spec = self.load_specs(&[consumer], revision)?.pop().flatten();
        let mut result = ScoringResolution::empty(
            consumer,
            consumer_spec.as_deref(),
            names,
            index.registered_steps(),
        );
        let Some(consumer_spec) = consumer_spec else {
            return Ok(result);
        };
        for (key, dep) in &consumer_spec.dependencies {
            let (candidates, _) = self.score(&index, consumer, dep, usize::MAX);
            result.file(key, dep, candidates);
        }
        Ok(result)
    }

    /// The candidate index of the step list `names` at `revision`, from the cache or built
    /// (and cached).
    pub(in crate::resolve) fn candidate_index(
        &self,
        names: &[String],
        revision: u64,
    ) -> crate::Result<Arc<CandidateIndex>> {
        self.candidate_index_from(names, revision, None)
    }

    /// As [`Self::candidate_index`]; when the index is not cached, the specifications found
    /// in `held` (step name → specification, read by the caller **at `revision`**) are taken
    /// from there instead of being read again, and only the others are read.
    pub(in crate::resolve) fn candidate_index_from(
        &self,
        names: &[String],
        revision: u64,
        held: Option<&FxMap<&str, Arc<StepSpecification>>>,
    ) -> crate::Result<Arc<CandidateIndex>> {
        if let Some(index) = self.cached(names, revision, |entry| entry.scoring.clone()) {
            return Ok(index);
        }
        let distinct = distinct_names(names);
        let specs = self.load_specs_held(&distinct, revision, held)?;
        let index = Arc::new(CandidateIndex::new(&distinct, &specs));
        self.store(names.to_vec(), revision, |entry| {
            entry.scoring = Some(Arc::clone(&index));
        });
        Ok(index)
    }

    /// The first `limit` candidates of `consumer`'s dependency `dep` in `index`, best first,
    /// and how many there are in all.
    pub(in crate::resolve) fn score(
        &self,
        index: &CandidateIndex,
        consumer: &str,
        dep: &DependencySpec,
        limit: usize,
    ) -> (Vec<ScoredCandidate>, usize) {
        let mut memo = lock(&self.memo);
        index.candidates(consumer, dep, limit, |_, out, step_type| {
            partial_breakdown(&self.catalog, dep, out, step_type)
                .map(|partial| partial.with_similarity(memo.with_aliases(&dep.logical_name, out)))
        })
    }

    /// As [`Self::score`], taking each (dependency, output class) breakdown from `known`
    /// (breakdowns of `index`'s classes) and computing only those it does not hold.
    pub(in crate::resolve) fn score_known(
        &self,
        index: &CandidateIndex,
        consumer: &str,
        dep: &DependencySpec,
        limit: usize,
        known: &mut KnownBreakdowns,
    ) -> (Vec<ScoredCandidate>, usize) {
        let Some(by_class) = known.of(dep, index.class_count()) else {
            return self.score(index, consumer, dep, limit);
        };
        let mut memo = lock(&self.memo);
        index.candidates(consumer, dep, limit, |class, out, step_type| {
            let mut compute = || {
                partial_breakdown(&self.catalog, dep, out, step_type).map(|partial| {
                    partial.with_similarity(memo.with_aliases(&dep.logical_name, out))
                })
            };
            match by_class.get_mut(class) {
                Some(Some(known)) => *known,
                Some(slot) => *slot.insert(compute()),
                None => compute(),
            }
        })
    }

    /// A debugging report of the resolution of `available_steps` (unregistered names are
    /// skipped). As in the Python reference, the summary's `total_dependencies` counts the
    /// dependencies of every step in the context; `available_dependencies` counts those of
    /// the reported steps.
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared) when the registry's context
    /// was cleared after the handle was taken; storage errors when it cannot be read.
    pub fn resolution_report<S: AsRef<str>>(
        &self,
        available_steps: &[S],
    ) -> crate::Result<ResolutionReport> {
        let names = owned_names(available_steps);
        let resolution = self.resolve_all_dependencies(&names)?;
        let revision = self.registry.revision()?;
        let specs = self.load_specs(&borrowed(&names), revision)?;
        let failures: HashMap<&str, &DependencyResolutionError> = resolution
            .unresolved
            .iter()
            .map(|e| (e.step.as_str(), e))
            .collect();
        let mut step_details = IndexMap::new();
        let mut unresolved_steps = Vec::new();
        let mut available_dependencies = 0;
        for (name, spec) in names.iter().zip(&specs) {
            let Some(spec) = spec else { continue };
            if step_details.contains_key(name) {
                continue;
            }
            available_dependencies += spec.dependencies.len();
            let error = failures.get(name.as_str());
            if error.is_some() {
                unresolved_steps.push(name.clone());
            }
            step_details.insert(
                name.clone(),
                StepReport {
                    step_type: spec.step_type.clone(),
                    total_dependencies: spec.dependencies.len(),
                    required_dependencies: spec.list_required_dependencies().len(),
                    optional_dependencies: spec.list_optional_dependencies().len(),
                    outputs: spec.outputs.len(),
                    resolved_dependencies: resolution
                        .get(name)
                        .map(|deps| {
                            deps.iter()
                                .map(|(d, r)| (d.clone(), r.to_string()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    // The reference leaves this empty (its resolution raises before it is
                    // filled); the names are what the field promises (docs/design.md, D10).
                    unresolved_dependencies: error
                        .map(|e| e.dependencies.clone())
                        .unwrap_or_default(),
                    error: error.map(ToString::to_string),
                },
            );
        }
        let total_dependencies: usize = self
            .registry
            .iter()?
            .map(|(_, spec)| spec.dependencies.len())
            .sum();
        let resolved_dependencies: usize = step_details
            .values()
            .map(|s| s.resolved_dependencies.len())
            .sum();
        Ok(ResolutionReport {
            total_steps: names.len(),
            registered_steps: specs.iter().filter(|s| s.is_some()).count(),
            step_details,
            resolution_summary: ResolutionSummary {
                total_dependencies,
                available_dependencies,
                resolved_dependencies,
                resolution_rate: if total_dependencies > 0 {
                    resolved_dependencies as f64 / total_dependencies as f64
                } else {
                    0.0
                },
                steps_with_errors: unresolved_steps.len(),
            },
            unresolved_dependencies: unresolved_steps,
        })
    }
}
