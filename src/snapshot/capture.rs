//! Capturing a snapshot: resolving a context's steps from one read of their specifications.
//!
//! A capture reads the specifications of its steps once, between two reads of the registry
//! revision, resolves from them ([`UnifiedDependencyResolver::resolve_all_dependencies`]'s
//! result at that revision, without reading and decoding the specifications again) and
//! scores each edge from them. When the revision moved meanwhile (another process wrote),
//! it captures again. A [`SnapshotCapture`] keeps the specifications it read, so that a
//! caller explaining the capture (the CLI's `resolve`) does not read them a third time.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{EdgeSnapshot, ResolvedEdge, UnresolvedStep};
use crate::error::{Error, Result, shorten};
use crate::registry::SpecificationRegistry;
use crate::resolve::{CandidateScorer, Held, PipelineResolution, UnifiedDependencyResolver};
use crate::spec::StepSpecification;

/// How many times a capture reads again when the registry changes under it.
const CAPTURE_ATTEMPTS: usize = 5;

/// An [`EdgeSnapshot`] with the specifications of its steps as the capture read them.
///
/// Use it to go on from a capture without reading the context again: its
/// [`steps`](Self::steps) give each step's specification, and its
/// [`candidate_scorer`](Self::candidate_scorer) scores candidates from them while the
/// registry has not changed since the capture.
///
/// ```
/// use pipeline_deps::snapshot::SnapshotCapture;
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("features", DependencyType::ProcessingOutput, "properties.F"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("labels", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let capture = SnapshotCapture::of_all(&resolver)?;
/// assert_eq!(capture.snapshot().unresolved[0].step, "train");
/// let (step, spec) = capture.steps().nth(1).expect("two steps");
/// assert_eq!((step, spec.map(|s| s.step_type.as_str())), ("train", Some("Train")));
///
/// // Why `train.labels` is not wired: its best candidate, scored from the capture's specs.
/// let mut scorer = capture.candidate_scorer(&resolver)?;
/// let labels = &scorer.top_candidates("train", 1)?.expect("registered")["labels"];
/// assert_eq!(labels.candidates[0].provider_step, "prep");
/// assert!(labels.candidates[0].score < 0.5);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SnapshotCapture {
    snapshot: EdgeSnapshot,
    /// Aligned with `snapshot.steps` (`None`: not registered).
    specs: Vec<Option<Arc<StepSpecification>>>,
    /// The registry read.
    registry: SpecificationRegistry,
    /// The registry revision `specs` were read at, when the capture could check it (it was
    /// the same before and after the read); `None` when writes kept moving it.
    revision: Option<u64>,
}

impl SnapshotCapture {
    /// [`EdgeSnapshot::capture`] of `steps`, keeping the specifications read.
    ///
    /// # Errors
    /// As [`EdgeSnapshot::capture`].
    pub fn of_steps<S: AsRef<str>>(
        resolver: &UnifiedDependencyResolver,
        steps: &[S],
    ) -> Result<Self> {
        let names: Vec<String> = steps.iter().map(|s| s.as_ref().to_owned()).collect();
        capture_list(resolver, Some(names))
    }

    /// [`EdgeSnapshot::capture_all`], keeping the specifications read.
    ///
    /// # Errors
    /// As [`EdgeSnapshot::capture_all`].
    pub fn of_all(resolver: &UnifiedDependencyResolver) -> Result<Self> {
        capture_list(resolver, None)
    }

    /// The snapshot captured.
    pub fn snapshot(&self) -> &EdgeSnapshot {
        &self.snapshot
    }

    /// The snapshot captured, without the specifications.
    pub fn into_snapshot(self) -> EdgeSnapshot {
        self.snapshot
    }

    /// Each step of the snapshot, in its order, with the specification the capture read
    /// (`None` for a step that was not registered: never the case in a capture of this
    /// version, which refuses unregistered steps).
    pub fn steps(&self) -> impl Iterator<Item = (&str, Option<&Arc<StepSpecification>>)> {
        self.snapshot
            .steps
            .iter()
            .zip(&self.specs)
            .map(|(name, spec)| (name.as_str(), spec.as_ref()))
    }

    /// A [`CandidateScorer`] of the snapshot's steps, as
    /// [`UnifiedDependencyResolver::candidate_scorer`] makes, that takes the specifications
    /// from this capture instead of reading them again, as long as `resolver` reads the same
    /// registry and that registry is still at the revision the capture read. Otherwise (a
    /// write since, or a capture that could not check its revision) it reads them, so its
    /// scores are always those of the registry as it is.
    ///
    /// # Errors
    /// As [`UnifiedDependencyResolver::candidate_scorer`].
    pub fn candidate_scorer<'a>(
        &'a self,
        resolver: &'a UnifiedDependencyResolver,
    ) -> Result<CandidateScorer<'a>> {
        let revision = match self.revision {
            Some(revision) if *resolver.registry() == self.registry => revision,
            _ => return resolver.candidate_scorer(&self.snapshot.steps),
        };
        let specs = self
            .steps()
            .filter_map(|(name, spec)| spec.map(|spec| (name, Arc::clone(spec))))
            .collect();
        resolver.candidate_scorer_held(&self.snapshot.steps, Held { revision, specs })
    }
}

impl EdgeSnapshot {
    /// Resolves `steps` (in that order) and freezes the result with each edge's score.
    ///
    /// The resolution and the scores are read from the same registry revision: if another
    /// process writes to the context meanwhile, the capture is repeated.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming a step in `steps` that is not registered; storage
    /// errors from the registry.
    pub fn capture<S: AsRef<str>>(
        resolver: &UnifiedDependencyResolver,
        steps: &[S],
    ) -> Result<Self> {
        SnapshotCapture::of_steps(resolver, steps).map(SnapshotCapture::into_snapshot)
    }

    /// Resolves every step of the resolver's registry, in registration order, and freezes
    /// the result; a later [`Self::recapture`] takes the context's steps as they are then.
    ///
    /// # Errors
    /// Storage errors from the registry.
    pub fn capture_all(resolver: &UnifiedDependencyResolver) -> Result<Self> {
        SnapshotCapture::of_all(resolver).map(SnapshotCapture::into_snapshot)
    }

    /// Captures again what `frozen` captured: the same step list in the same order, or every
    /// current step of the context when `frozen` was taken over all of them. Steps of the
    /// frozen list that are no longer registered are left out (the diff reports them in
    /// [`EdgeDiff::steps_removed`](super::EdgeDiff::steps_removed), and their edges as
    /// removed).
    ///
    /// # Errors
    /// Storage errors from the registry.
    pub fn recapture(resolver: &UnifiedDependencyResolver, frozen: &EdgeSnapshot) -> Result<Self> {
        if frozen.all_steps {
            return Self::capture_all(resolver);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let revision = resolver.registry().revision()?;
            // The frozen steps still registered (read alone, not the whole context).
            let wanted: Vec<&str> = frozen.steps.iter().map(String::as_str).collect();
            let registered = resolver.registry().get_specifications(&wanted)?;
            let steps: Vec<String> = frozen
                .steps
                .iter()
                .zip(registered)
                .filter(|(_, spec)| spec.is_some())
                .map(|(step, _)| step.clone())
                .collect();
            match Self::capture(resolver, &steps) {
                // A step was removed between the listing and the capture: list again.
                Err(Error::InvalidInput { .. })
                    if attempt < CAPTURE_ATTEMPTS
                        && resolver.registry().revision()? != revision => {}
                other => return other,
            }
        }
    }

    /// Builds a snapshot from a resolution of `steps`, scoring each edge with `resolver`
    /// against the specifications in `specs` (aligned with `steps`). Edges whose consumer or
    /// producer is missing get a score of 0.
    fn from_resolution(
        context: &str,
        steps: Vec<String>,
        all_steps: bool,
        resolver: &UnifiedDependencyResolver,
        resolution: &PipelineResolution,
        specs: &[Option<Arc<StepSpecification>>],
    ) -> Self {
        let by_name: FxHashMap<&str, &StepSpecification> = steps
            .iter()
            .zip(specs)
            .filter_map(|(name, spec)| spec.as_deref().map(|spec| (name.as_str(), spec)))
            .collect();
        let edges = resolution
            .edges()
            .map(|(consumer, dependency, reference)| {
                let score = by_name
                    .get(consumer)
                    .and_then(|c| c.dependencies.get(dependency))
                    .zip(by_name.get(reference.step_name()))
                    .map_or(0.0, |(dep, producer)| {
                        resolver.calculate_compatibility(dep, reference.output_spec(), producer)
                    });
                ResolvedEdge {
                    consumer: consumer.to_owned(),
                    dependency: dependency.to_owned(),
                    producer: reference.step_name().to_owned(),
                    output: reference.output_name().to_owned(),
                    score,
                }
            })
            .collect();
        let unresolved = resolution
            .unresolved
            .iter()
            .map(|e| UnresolvedStep {
                step: e.step.clone(),
                dependencies: e.dependencies.clone(),
            })
            .collect();
        Self::new(context, steps, all_steps, edges, unresolved)
    }
}

/// Reads the specifications of `steps` (every step of the context when `None`), resolves
/// from them and freezes the result, again while the registry revision moves under it.
fn capture_list(
    resolver: &UnifiedDependencyResolver,
    steps: Option<Vec<String>>,
) -> Result<SnapshotCapture> {
    let registry = resolver.registry();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let revision = registry.revision()?;
        // Only the listed steps are read: a snapshot of a few steps of a large context
        // costs what those steps cost, and another step's record plays no part.
        let (names, all_steps, specs) = match &steps {
            Some(steps) => {
                let wanted: Vec<&str> = steps.iter().map(String::as_str).collect();
                let specs = registry.get_specifications(&wanted)?;
                if let Some(at) = specs.iter().position(Option::is_none) {
                    return Err(Error::InvalidInput {
                        what: format!(
                            "the step list of context {}",
                            shorten(registry.context_name())
                        ),
                        detail: format!("step {} is not registered in it", shorten(&steps[at])),
                        source: None,
                    });
                }
                (steps.clone(), false, specs)
            }
            None => {
                let (names, specs): (Vec<String>, Vec<_>) = registry
                    .iter()?
                    .map(|(name, spec)| (name, Some(spec)))
                    .unzip();
                (names, true, specs)
            }
        };
        // What `resolve_all_dependencies` returns at the revision read, from the
        // specifications just read (it would read and decode them again).
        let resolution = resolver.resolve_loaded(&names, &specs);
        let unchanged = registry.revision()? == revision;
        if !unchanged && attempt < CAPTURE_ATTEMPTS {
            continue;
        }
        let snapshot = EdgeSnapshot::from_resolution(
            registry.context_name(),
            names,
            all_steps,
            resolver,
            &resolution,
            &specs,
        );
        return Ok(SnapshotCapture {
            snapshot,
            specs,
            registry: registry.clone(),
            revision: unchanged.then_some(revision),
        });
    }
}
