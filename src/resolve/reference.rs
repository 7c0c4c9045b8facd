//! The unoptimised reference path of the resolver: the test oracle of the optimised engine.
//!
//! Compiled only with the cargo feature `reference-resolver`, which the equivalence tests
//! (`tests/resolver_equivalence.rs`, `resolver_parity.rs`, `resolver_real_specs.rs`) and the
//! resolver benchmark enable. It is not part of the supported API: it exists so that the
//! optimised engine (`engine/`) can be checked against the straightforward algorithm
//! (score every provider output for every dependency with
//! [`compatibility_score`](super::scoring::compatibility_score), keep the best above
//! [`RESOLUTION_THRESHOLD`], earliest on ties).

use std::collections::HashSet;

use indexmap::IndexMap;

use super::outcome::{
    DependencyResolutionError, PipelineResolution, ScoredCandidate, ScoringResolution,
    StepResolution,
};
use super::property::PropertyReference;
use super::resolver::{
    RESOLUTION_THRESHOLD, UnifiedDependencyResolver, assemble, distinct_names, lock, owned_names,
};
use super::scoring::partial_breakdown;
use crate::error::Error;

impl UnifiedDependencyResolver {
    /// The straightforward resolution of one step, without caches, indexes or memos: every
    /// provider output is scored with
    /// [`compatibility_score`](super::scoring::compatibility_score) and the candidates above
    /// [`RESOLUTION_THRESHOLD`] are stably sorted. Test oracle only (feature
    /// `reference-resolver`).
    ///
    /// # Errors
    /// As [`Self::resolve_step_dependencies`].
    pub fn resolve_step_dependencies_unoptimized<S: AsRef<str>>(
        &self,
        consumer: &str,
        available_steps: &[S],
    ) -> crate::Result<StepResolution> {
        let registry = self.registry();
        let Some(consumer_spec) = registry.get_specification(consumer)? else {
            return Ok(IndexMap::new());
        };
        let mut resolved = IndexMap::new();
        let mut unresolved = Vec::new();
        for (key, dep) in &consumer_spec.dependencies {
            let mut candidates: Vec<(f64, PropertyReference)> = Vec::new();
            for provider in available_steps.iter().map(AsRef::as_ref) {
                if provider == consumer || provider.trim().is_empty() {
                    continue;
                }
                let Some(provider_spec) = registry.get_specification(provider)? else {
                    continue;
                };
                for out in provider_spec.outputs.values() {
                    let score = self.calculate_compatibility(dep, out, &provider_spec);
                    if score > RESOLUTION_THRESHOLD {
                        candidates.push((
                            score,
                            PropertyReference::of_registered(provider, out.clone()),
                        ));
                    }
                }
            }
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
            match candidates.into_iter().next() {
                Some((_, reference)) => {
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
            }
            .into())
        }
    }

    /// [`Self::resolve_all_dependencies`] through
    /// [`Self::resolve_step_dependencies_unoptimized`] (no cache). Test oracle only (feature
    /// `reference-resolver`).
    ///
    /// # Errors
    /// As [`Self::resolve_all_dependencies`].
    pub fn resolve_all_dependencies_unoptimized<S: AsRef<str>>(
        &self,
        available_steps: &[S],
    ) -> crate::Result<PipelineResolution> {
        let mut outcomes = Vec::new();
        let mut seen = HashSet::new();
        for name in available_steps.iter().map(AsRef::as_ref) {
            if !seen.insert(name) {
                continue;
            }
            let outcome = if self.registry().get_specification(name)?.is_none() {
                None
            } else {
                match self.resolve_step_dependencies_unoptimized(name, available_steps) {
                    Ok(r) => Some(Ok(r)),
                    Err(Error::Unresolved(e)) => Some(Err(e)),
                    Err(e) => return Err(e),
                }
            };
            outcomes.push((name.to_owned(), outcome));
        }
        Ok(assemble(outcomes))
    }

    /// [`Self::resolve_with_scoring`] as it was first written, without the per-list
    /// candidate index: every output of every distinct registered provider other than the
    /// consumer gets its own breakdown, the candidates are stably sorted by score. Test
    /// oracle only (feature `reference-resolver`).
    ///
    /// # Errors
    /// As [`Self::resolve_with_scoring`].
    pub fn resolve_with_scoring_unoptimized<S: AsRef<str>>(
        &self,
        consumer: &str,
        available_steps: &[S],
    ) -> crate::Result<ScoringResolution> {
        let names = owned_names(available_steps);
        let revision = self.registry().revision()?;
        let distinct = distinct_names(&names);
        let specs = self.load_specs(&distinct, revision)?;
        let registered_steps = specs.iter().filter(|s| s.is_some()).count();
        let consumer_spec = self.load_specs(&[consumer], revision)?.pop().flatten();
        let mut result = ScoringResolution::empty(
            consumer,
            consumer_spec.as_deref(),
            names.clone(),
            registered_steps,
        );
        let Some(consumer_spec) = consumer_spec else {
            return Ok(result);
        };
        let mut memo = lock(&self.memo);
        for (key, dep) in &consumer_spec.dependencies {
            let mut candidates = Vec::new();
            for (&name, spec) in distinct.iter().zip(&specs) {
                let Some(spec) = spec.as_ref().filter(|_| name != consumer) else {
                    continue;
                };
                for (output_name, out) in &spec.outputs {
                    let Some(partial) = partial_breakdown(&self.catalog, dep, out, &spec.step_type)
                    else {
                        continue;
                    };
                    let breakdown =
                        partial.with_similarity(memo.with_aliases(&dep.logical_name, out));
                    let score = breakdown.score();
                    if name.trim().is_empty() {
                        continue;
                    }
                    let reference = PropertyReference::of_registered(name, out.clone());
                    if score > 0.0 {
                        candidates.push(ScoredCandidate {
                            provider_step: name.to_owned(),
                            output_name: output_name.clone(),
                            score,
                            score_breakdown: breakdown,
                            property_reference: reference,
                        });
                    }
                }
            }
            candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
            result.file(key, dep, candidates);
        }
        Ok(result)
    }
}
