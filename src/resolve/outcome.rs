//! What the resolver returns: resolutions, errors, scored candidates and reports.

use indexmap::IndexMap;
use serde::Serialize;

use super::RESOLUTION_THRESHOLD;
use super::property::PropertyReference;
use super::scoring::ScoreBreakdown;
use crate::error::shorten;
use crate::spec::{DependencySpec, StepSpecification};

/// A consumer step has required dependencies that no available output matches with a
/// score above [`RESOLUTION_THRESHOLD`].
///
/// Returned inside [`Error::Unresolved`](crate::Error::Unresolved) by
/// [`resolve_step_dependencies`](super::UnifiedDependencyResolver::resolve_step_dependencies)
/// and listed in [`PipelineResolution::unresolved`].
///
/// ```
/// use pipeline_deps::resolve::DependencyResolutionError;
///
/// let error = DependencyResolutionError {
///     step: "train".into(),
///     dependencies: vec!["training_data".into()],
/// };
/// assert!(error.to_string().starts_with("step 'train' has unresolved required dependencies: ['training_data']"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyResolutionError {
    /// The consumer step.
    pub step: String,
    /// Every unresolved required dependency, in declaration order.
    pub dependencies: Vec<String>,
}

impl std::fmt::Display for DependencyResolutionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.dependencies.iter().map(|d| shorten(d)).collect();
        write!(
            f,
            "step {} has unresolved required dependencies: [{}]; make a step whose output matches each of them (compatibility score above {RESOLUTION_THRESHOLD}) available, or mark them optional",
            shorten(&self.step),
            names.join(", ")
        )
    }
}

impl std::error::Error for DependencyResolutionError {}

/// One consumer's resolution: dependency name → producer output, in declaration order.
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let resolution = resolver.resolve_step_dependencies("train", &["prep"])?;
/// assert_eq!(resolution["training_data"].to_string(), "prep.training_data");
/// # Ok(()) }
/// ```
pub type StepResolution = IndexMap<String, PropertyReference>;

/// The result of [`resolve_all_dependencies`](super::UnifiedDependencyResolver::resolve_all_dependencies).
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let resolution = resolver.resolve_all_dependencies(&["prep", "train", "missing"])?;
/// assert_eq!(resolution.edges().count(), 1);
/// assert_eq!(resolution.unregistered, ["missing"]);
/// assert!(!resolution.is_complete());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PipelineResolution {
    /// Per consumer step (in the order given) its resolved dependencies. Steps with nothing
    /// resolved, steps with unresolved required dependencies and unregistered steps are
    /// left out, as in the Python reference.
    pub resolved: IndexMap<String, StepResolution>,
    /// The steps left out because required dependencies stayed unresolved.
    pub unresolved: Vec<DependencyResolutionError>,
    /// Names given that have no specification in the registry (skipped).
    pub unregistered: Vec<String>,
}

impl PipelineResolution {
    /// The resolved dependencies of `step`, if it is in [`Self::resolved`].
    pub fn get(&self, step: &str) -> Option<&StepResolution> {
        self.resolved.get(step)
    }

    /// Every resolved edge as `(consumer, dependency, producer output)`.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str, &PropertyReference)> {
        self.resolved.iter().flat_map(|(consumer, deps)| {
            deps.iter()
                .map(move |(dep, r)| (consumer.as_str(), dep.as_str(), r))
        })
    }

    /// Whether every given step was registered and had its required dependencies resolved.
    pub fn is_complete(&self) -> bool {
        self.unresolved.is_empty() && self.unregistered.is_empty()
    }
}

/// One (provider output, score) candidate of [`resolve_with_scoring`](super::UnifiedDependencyResolver::resolve_with_scoring).
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let scoring = resolver.resolve_with_scoring("train", &["prep"])?;
/// let best = &scoring.candidates["training_data"][0];
/// assert_eq!((best.provider_step.as_str(), best.output_name.as_str()), ("prep", "training_data"));
/// assert_eq!(best.score, best.score_breakdown.score());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScoredCandidate {
    /// The providing step's name, as given.
    pub provider_step: String,
    /// The output's key in the provider's specification.
    pub output_name: String,
    /// The compatibility score (capped at 1.0).
    pub score: f64,
    /// The parts of the score; they add up to it before the cap.
    pub score_breakdown: ScoreBreakdown,
    /// The Python reference this candidate would resolve to.
    pub property_reference: PropertyReference,
}

/// A dependency that [`resolve_with_scoring`](super::UnifiedDependencyResolver::resolve_with_scoring)
/// could not resolve, with the best candidates found.
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// registry_with_model_dependency(&resolver)?;
/// let scoring = resolver.resolve_with_scoring("deploy", &["prep", "deploy"])?;
/// let failed = &scoring.failed_with_scores["model"];
/// assert!(failed.required && failed.best_candidate.is_none()); // nothing type-compatible
/// # Ok(()) }
/// # fn registry_with_model_dependency(r: &UnifiedDependencyResolver) -> pipeline_deps::Result<()> {
/// #     r.registry().register("deploy", &StepSpecification::new("Deploy", NodeType::Sink)
/// #         .with_dependency(DependencySpec::new("model", DependencyType::ModelArtifacts)))
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FailedDependency {
    /// The best candidate (below the threshold), `None` when nothing was type-compatible.
    pub best_candidate: Option<ScoredCandidate>,
    /// The top three candidates, best first.
    pub all_candidates: Vec<ScoredCandidate>,
    /// Whether the dependency is required.
    pub required: bool,
}

/// Context of a scoring resolution.
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let details = resolver.resolve_with_scoring("train", &["prep", "train"])?.resolution_details;
/// assert_eq!(details.consumer_step_type.as_deref(), Some("Train"));
/// assert_eq!((details.available_step_count, details.registered_steps), (2, 2));
/// assert_eq!(details.resolution_threshold, pipeline_deps::resolve::RESOLUTION_THRESHOLD);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ResolutionDetails {
    /// The consumer step.
    pub consumer_step: String,
    /// Its step type (`None` when it is not registered).
    pub consumer_step_type: Option<String>,
    /// Number of its dependencies.
    pub total_dependencies: usize,
    /// Number of its required dependencies.
    pub required_dependencies: usize,
    /// The available steps, as given.
    pub available_steps: Vec<String>,
    /// Their number.
    pub available_step_count: usize,
    /// How many of them are registered.
    pub registered_steps: usize,
    /// The inclusive threshold of scoring resolution (0.5).
    pub resolution_threshold: f64,
    /// `Some("No specification found")` when the consumer is not registered.
    pub error: Option<String>,
}

/// The result of [`resolve_with_scoring`](super::UnifiedDependencyResolver::resolve_with_scoring).
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let scoring = resolver.resolve_with_scoring("train", &["prep"])?;
/// assert_eq!(scoring.resolved["training_data"].to_string(), "prep.training_data");
/// assert!(scoring.failed_with_scores.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScoringResolution {
    /// Dependencies whose best candidate scores at least 0.5.
    pub resolved: StepResolution,
    /// The other dependencies with their best candidates.
    pub failed_with_scores: IndexMap<String, FailedDependency>,
    /// Every candidate with a non-zero score per dependency, best first (stable).
    pub candidates: IndexMap<String, Vec<ScoredCandidate>>,
    /// Context of the resolution.
    pub resolution_details: ResolutionDetails,
}

/// Per-step part of a [`ResolutionReport`].
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let report = resolver.resolution_report(&["prep", "train"])?;
/// let train = &report.step_details["train"];
/// assert_eq!((train.total_dependencies, train.required_dependencies), (1, 1));
/// assert_eq!(train.resolved_dependencies["training_data"], "prep.training_data");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StepReport {
    /// The step's type.
    pub step_type: String,
    /// Number of dependencies.
    pub total_dependencies: usize,
    /// Number of required dependencies.
    pub required_dependencies: usize,
    /// Number of optional dependencies.
    pub optional_dependencies: usize,
    /// Number of outputs.
    pub outputs: usize,
    /// Dependency → `"provider.output"`.
    pub resolved_dependencies: IndexMap<String, String>,
    /// The required dependencies left unresolved, in declaration order (then `error` says
    /// so; the Python reference always left this empty).
    pub unresolved_dependencies: Vec<String>,
    /// The resolution error message, when resolution failed.
    pub error: Option<String>,
}

/// Totals of a [`ResolutionReport`].
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let summary = resolver.resolution_report(&["prep", "train"])?.resolution_summary;
/// assert_eq!((summary.total_dependencies, summary.resolved_dependencies), (1, 1));
/// assert_eq!(summary.resolution_rate, 1.0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ResolutionSummary {
    /// Dependencies of **every** step registered in the context (not only the available
    /// ones), as in the Python reference.
    pub total_dependencies: usize,
    /// Dependencies of the registered available steps (the meaningful denominator).
    pub available_dependencies: usize,
    /// Resolved dependencies of the reported steps (failed steps count 0).
    pub resolved_dependencies: usize,
    /// `resolved_dependencies / total_dependencies` (0 when there are none), as in the
    /// reference.
    pub resolution_rate: f64,
    /// Number of steps whose resolution failed.
    pub steps_with_errors: usize,
}

/// A debugging report of the resolution of a set of steps.
///
/// ```
/// use pipeline_deps::{
///     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
///     StepSpecification, UnifiedDependencyResolver,
/// };
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
/// registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
///     OutputSpec::new("training_data", DependencyType::ProcessingOutput, "properties.Data"),
/// ))?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData),
/// ))?;
/// let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
/// let report = resolver.resolution_report(&["prep", "train", "missing"])?;
/// assert_eq!((report.total_steps, report.registered_steps), (3, 2));
/// assert!(report.unresolved_dependencies.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ResolutionReport {
    /// Number of step names given.
    pub total_steps: usize,
    /// How many of them are registered.
    pub registered_steps: usize,
    /// Per registered step, in the order given.
    pub step_details: IndexMap<String, StepReport>,
    /// Steps whose resolution failed.
    pub unresolved_dependencies: Vec<String>,
    /// Totals.
    pub resolution_summary: ResolutionSummary,
}

impl ScoringResolution {
    /// The scoring resolution of `consumer` before any dependency is filed: its details
    /// (`available_steps` as given, `registered_steps` of its distinct names).
    pub(super) fn empty(
        consumer: &str,
        consumer_spec: Option<&StepSpecification>,
        available_steps: Vec<String>,
        registered_steps: usize,
    ) -> Self {
        let details = ResolutionDetails {
            consumer_step: consumer.to_owned(),
            consumer_step_type: consumer_spec.map(|s| s.step_type.clone()),
            total_dependencies: consumer_spec.map_or(0, |s| s.dependencies.len()),
            required_dependencies: consumer_spec
                .map_or(0, |s| s.list_required_dependencies().len()),
            available_step_count: available_steps.len(),
            available_steps,
            registered_steps,
            resolution_threshold: RESOLUTION_THRESHOLD,
            error: consumer_spec
                .is_none()
                .then(|| "No specification found".to_owned()),
        };
        ScoringResolution {
            resolved: IndexMap::new(),
            failed_with_scores: IndexMap::new(),
            candidates: IndexMap::new(),
            resolution_details: details,
        }
    }

    /// Files dependency `key`'s candidates (best first): resolved when the best scores at
    /// least [`RESOLUTION_THRESHOLD`], else failed with its top three.
    pub(super) fn file(
        &mut self,
        key: &str,
        dep: &DependencySpec,
        candidates: Vec<ScoredCandidate>,
    ) {
        match candidates.first() {
            Some(best) if best.score >= RESOLUTION_THRESHOLD => {
                self.resolved
                    .insert(key.to_owned(), best.property_reference.clone());
            }
            best => {
                self.failed_with_scores.insert(
                    key.to_owned(),
                    FailedDependency {
                        best_candidate: best.cloned(),
                        all_candidates: candidates.iter().take(3).cloned().collect(),
                        required: dep.required,
                    },
                );
            }
        }
        self.candidates.insert(key.to_owned(), candidates);
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification};

    #[test]
    fn a_report_names_each_steps_unresolved_required_dependencies() -> crate::Result<()> {
        let manager = crate::RegistryManager::in_memory()?;
        let registry = manager.get_registry("report")?;
        registry.register(
            "prep",
            &StepSpecification::new("Prep", NodeType::Source).with_output(OutputSpec::new(
                "processed_data",
                DependencyType::ProcessingOutput,
                "properties.P",
            )),
        )?;
        registry.register(
            "train",
            &StepSpecification::new("Train", NodeType::Sink)
                .with_dependency(DependencySpec::new(
                    "processed_data",
                    DependencyType::ProcessingOutput,
                ))
                .with_dependency(DependencySpec::new(
                    "hyper",
                    DependencyType::Hyperparameters,
                ))
                .with_dependency(
                    DependencySpec::new("extra", DependencyType::CustomProperty).optional(),
                ),
        )?;
        let resolver =
            crate::UnifiedDependencyResolver::new(registry, crate::SemanticMatcher::default());
        let report = resolver.resolution_report(&["prep", "train"])?;
        let train = &report.step_details["train"];
        assert_eq!(
            train.unresolved_dependencies,
            ["hyper"],
            "the optional one is not listed"
        );
        assert!(train.error.is_some());
        assert!(
            report.step_details["prep"]
                .unresolved_dependencies
                .is_empty()
        );
        assert_eq!(report.unresolved_dependencies, ["train"]);
        Ok(())
    }
}
