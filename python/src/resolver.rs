//! The dependency resolver, as Python sees it.
//!
//! Resolutions come back as plain values: an edge is `(provider step, output JSON)`, which
//! the Python half turns into a `PropertyReference`; scoring results and reports come back
//! as dicts with the design's keys.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use pipeline_deps::resolve::{
    ResolutionReport, ScoredCandidate, ScoringResolution, StepResolution,
};
use pipeline_deps::{PropertyReference, SemanticMatcher, UnifiedDependencyResolver};

use crate::calls::run;
use crate::errors::{ClosedError, to_py, within};
use crate::handles::NativeRegistry;

/// A resolver over one registry, with its result cache. `close()` lets go of the registry
/// (and so of the database file).
#[pyclass(module = "pipeline_deps._native", frozen)]
pub(crate) struct NativeResolver {
    inner: Mutex<Option<Arc<UnifiedDependencyResolver>>>,
    /// The registry's context, exactly: what an error after `close()` names.
    context: String,
}

impl NativeResolver {
    fn handle(&self) -> PyResult<Arc<UnifiedDependencyResolver>> {
        // The lock is let go of before the error is made (see `NativeRegistry::handle`).
        let handle = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        handle.ok_or_else(|| {
            let raised = ClosedError::new_err(format!(
                "the resolver over context {} is closed",
                crate::shown::name(&self.context)
            ));
            // Named exactly, as every error about a context names it (`context`).
            Python::attach(|py| {
                let _ = raised.value(py).setattr("context", &self.context);
            });
            raised
        })
    }

    /// Runs `work` on the resolver with the GIL released ([`run`]); an exception names the
    /// registry's context where the library's error names none ([`within`]).
    fn resolving<T, F>(&self, py: Python<'_>, work: F) -> PyResult<T>
    where
        T: Send,
        F: FnOnce(&UnifiedDependencyResolver) -> pipeline_deps::Result<T> + Send,
    {
        let resolver = self.handle()?;
        let context = resolver.registry().context_name();
        within(py, context, run(py, || work(&resolver)))
    }
}

/// `{dependency: (provider step, output JSON)}` of one step's resolution.
fn resolution_dict<'py>(
    py: Python<'py>,
    resolution: &StepResolution,
) -> PyResult<Bound<'py, PyDict>> {
    let result = PyDict::new(py);
    for (dependency, reference) in resolution {
        result.set_item(dependency, edge(reference)?)?;
    }
    Ok(result)
}

fn edge(reference: &PropertyReference) -> PyResult<(String, String)> {
    Ok((
        reference.step_name().to_owned(),
        spec_json_of_output(reference)?,
    ))
}

fn spec_json_of_output(reference: &PropertyReference) -> PyResult<String> {
    serde_json::to_string(reference.output_spec()).map_err(|e| {
        to_py(pipeline_deps::Error::InvalidInput {
            what: "an output specification being handed to Python".to_owned(),
            detail: e.to_string(),
            source: Some(Box::new(e)),
        })
    })
}

/// `{provider_step, output_name, score, score_breakdown, property_reference}` of a
/// candidate; the reference is an edge tuple.
fn candidate_dict<'py>(py: Python<'py>, c: &ScoredCandidate) -> PyResult<Bound<'py, PyDict>> {
    let result = PyDict::new(py);
    result.set_item("provider_step", &c.provider_step)?;
    result.set_item("output_name", &c.output_name)?;
    result.set_item("score", c.score)?;
    let b = &c.score_breakdown;
    let breakdown = PyDict::new(py);
    breakdown.set_item("type_compatibility", b.type_compatibility)?;
    breakdown.set_item("data_type_compatibility", b.data_type_compatibility)?;
    breakdown.set_item("semantic_similarity", b.semantic_similarity)?;
    breakdown.set_item("exact_match_bonus", b.exact_match_bonus)?;
    breakdown.set_item("source_compatibility", b.source_compatibility)?;
    breakdown.set_item("keyword_matching", b.keyword_matching)?;
    result.set_item("score_breakdown", breakdown)?;
    result.set_item("property_reference", edge(&c.property_reference)?)?;
    Ok(result)
}

fn candidate_list<'py>(
    py: Python<'py>,
    candidates: &[ScoredCandidate],
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    candidates.iter().map(|c| candidate_dict(py, c)).collect()
}

/// The design's shape of a scoring resolution (see `resolve_with_scoring` in Python).
fn scoring_dict<'py>(py: Python<'py>, r: &ScoringResolution) -> PyResult<Bound<'py, PyDict>> {
    let failed = PyDict::new(py);
    for (dependency, f) in &r.failed_with_scores {
        let entry = PyDict::new(py);
        let best = f
            .best_candidate
            .as_ref()
            .map(|c| candidate_dict(py, c))
            .transpose()?;
        entry.set_item("best_candidate", best)?;
        entry.set_item("all_candidates", candidate_list(py, &f.all_candidates)?)?;
        entry.set_item("required", f.required)?;
        failed.set_item(dependency, entry)?;
    }
    let d = &r.resolution_details;
    let details = PyDict::new(py);
    details.set_item("consumer_step", &d.consumer_step)?;
    if let Some(error) = &d.error {
        details.set_item("error", error)?;
    } else {
        details.set_item("consumer_step_type", &d.consumer_step_type)?;
        details.set_item("total_dependencies", d.total_dependencies)?;
        details.set_item("required_dependencies", d.required_dependencies)?;
        details.set_item("available_steps", &d.available_steps)?;
        details.set_item("available_step_count", d.available_step_count)?;
        details.set_item("registered_steps", d.registered_steps)?;
        details.set_item("resolution_threshold", d.resolution_threshold)?;
    }
    let candidates = PyDict::new(py);
    for (dependency, list) in &r.candidates {
        candidates.set_item(dependency, candidate_list(py, list)?)?;
    }
    let result = PyDict::new(py);
    result.set_item("resolved", resolution_dict(py, &r.resolved)?)?;
    result.set_item("candidates", candidates)?;
    result.set_item("failed_with_scores", failed)?;
    result.set_item("resolution_details", details)?;
    Ok(result)
}

/// The design's shape of a resolution report.
fn report_dict<'py>(py: Python<'py>, r: &ResolutionReport) -> PyResult<Bound<'py, PyDict>> {
    let steps = PyDict::new(py);
    for (step, s) in &r.step_details {
        let entry = PyDict::new(py);
        entry.set_item("step_type", &s.step_type)?;
        entry.set_item("total_dependencies", s.total_dependencies)?;
        entry.set_item("required_dependencies", s.required_dependencies)?;
        entry.set_item("optional_dependencies", s.optional_dependencies)?;
        entry.set_item("outputs", s.outputs)?;
        let resolved = PyDict::new(py);
        for (dependency, target) in &s.resolved_dependencies {
            resolved.set_item(dependency, target)?;
        }
        entry.set_item("resolved_dependencies", resolved)?;
        entry.set_item("unresolved_dependencies", &s.unresolved_dependencies)?;
        if let Some(error) = &s.error {
            entry.set_item("error", error)?;
        }
        steps.set_item(step, entry)?;
    }
    let t = &r.resolution_summary;
    let summary = PyDict::new(py);
    summary.set_item("total_dependencies", t.total_dependencies)?;
    summary.set_item("available_dependencies", t.available_dependencies)?;
    summary.set_item("resolved_dependencies", t.resolved_dependencies)?;
    summary.set_item("resolution_rate", t.resolution_rate)?;
    summary.set_item("steps_with_errors", t.steps_with_errors)?;
    let result = PyDict::new(py);
    result.set_item("total_steps", r.total_steps)?;
    result.set_item("registered_steps", r.registered_steps)?;
    result.set_item("step_details", steps)?;
    result.set_item("unresolved_dependencies", &r.unresolved_dependencies)?;
    result.set_item("resolution_summary", summary)?;
    Ok(result)
}

#[pymethods]
impl NativeResolver {
    /// A resolver over `registry` with the default semantic matcher.
    #[new]
    fn new(registry: &NativeRegistry) -> PyResult<Self> {
        let handle = registry.handle()?;
        let context = handle.context_name().to_owned();
        let resolver = UnifiedDependencyResolver::new(handle, SemanticMatcher::default());
        Ok(NativeResolver {
            inner: Mutex::new(Some(Arc::new(resolver))),
            context,
        })
    }

    /// `{consumer: {dependency: (provider step, output JSON)}}` for every step of
    /// `available_steps` whose required dependencies all resolve.
    fn resolve_all_dependencies<'py>(
        &self,
        py: Python<'py>,
        available_steps: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let resolution = self.resolving(py, |resolver| {
            resolver.resolve_all_dependencies(&available_steps)
        })?;
        let result = PyDict::new(py);
        for (consumer, dependencies) in &resolution.resolved {
            result.set_item(consumer, resolution_dict(py, dependencies)?)?;
        }
        Ok(result)
    }

    /// `{dependency: (provider step, output JSON)}` of `consumer`; raises
    /// `DependencyResolutionError` when a required dependency stays unresolved.
    fn resolve_step_dependencies<'py>(
        &self,
        py: Python<'py>,
        consumer_step: String,
        available_steps: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let resolution = self.resolving(py, |resolver| {
            resolver.resolve_step_dependencies(&consumer_step, &available_steps)
        })?;
        resolution_dict(py, &resolution)
    }

    /// Every candidate of every dependency of `consumer`, with score breakdowns.
    fn resolve_with_scoring<'py>(
        &self,
        py: Python<'py>,
        consumer_step: String,
        available_steps: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let result = self.resolving(py, |resolver| {
            resolver.resolve_with_scoring(&consumer_step, &available_steps)
        })?;
        scoring_dict(py, &result)
    }

    /// The resolution report of `available_steps`.
    fn get_resolution_report<'py>(
        &self,
        py: Python<'py>,
        available_steps: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let report = self.resolving(py, |resolver| resolver.resolution_report(&available_steps))?;
        report_dict(py, &report)
    }

    /// Empties the result cache.
    fn clear_cache(&self) -> PyResult<()> {
        self.handle()?.clear_cache();
        Ok(())
    }

    /// Lets go of the registry.
    fn close(&self) {
        // Dropped once the lock is let go of.
        let taken = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(taken);
    }

    /// Seconds per call of the Rust API doing `resolve_all_dependencies(available_steps)`
    /// `iterations` times with the result cache cleared before each call: the same-process
    /// baseline of the Python benchmark (python/bench/bench_resolve.py).
    fn rust_resolve_seconds(
        &self,
        py: Python<'_>,
        available_steps: Vec<String>,
        iterations: u32,
    ) -> PyResult<f64> {
        let resolver = self.handle()?;
        run(py, || {
            let iterations = iterations.max(1);
            let start = Instant::now();
            for _ in 0..iterations {
                resolver.clear_cache();
                let resolution = resolver.resolve_all_dependencies(&available_steps)?;
                std::hint::black_box(resolution);
            }
            Ok(start.elapsed().as_secs_f64() / f64::from(iterations))
        })
    }
}
