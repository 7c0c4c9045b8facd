//! Persistent, isolated registries of ML/data pipeline step specifications.
//!
//! A pipeline is assembled from steps; each step declares a [`StepSpecification`]: its step
//! type, node type, the inputs it depends on ([`DependencySpec`]) and the outputs it
//! produces ([`OutputSpec`]). A [`SpecificationRegistry`] stores specifications for one
//! **context** (a pipeline, an environment, a test suite); a [`RegistryManager`] keeps many
//! contexts isolated from each other in **one redb database file**, so registries survive
//! restarts and crashes, test suites get throw-away temporary databases
//! ([`RegistryManager::temporary`]) and a file can be inspected offline.
//!
//! What it is not: a pipeline executor, or a multi-writer server: one process writes a file
//! at a time (others may read it in [`Concurrency::SingleWriter`] mode).
//!
//! - Every write commits durably before returning; a crash never leaves half a write (see
//!   [`SpecificationRegistry`]'s durability section).
//! - Context statistics come from a catalog updated in the same transaction as the data.
//! - Declaration order of dependencies and outputs, registration order of steps and
//!   creation order of contexts are kept.
//! - The process-wide default manager and the design's free functions ([`get_registry`],
//!   [`list_contexts`], ...) open `PIPELINE_DEPS_DB` or a per-user file.
//!
//! ```
//! use pipeline_deps::{
//!     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, StepSpecification,
//! };
//!
//! # fn main() -> pipeline_deps::Result<()> {
//! let dir = tempfile::tempdir().map_err(|e| pipeline_deps::Error::Io {
//!     action: "creating a temp dir".into(),
//!     source: e,
//! })?;
//! let path = dir.path().join("registry.redb");
//!
//! let training = StepSpecification::new("XGBoostTraining", NodeType::Internal)
//!     .with_dependency(DependencySpec::new("input_path", DependencyType::TrainingData))
//!     .with_output(OutputSpec::new(
//!         "model_output",
//!         DependencyType::ModelArtifacts,
//!         "properties.ModelArtifacts.S3ModelArtifacts",
//!     ));
//!
//! {
//!     let manager = RegistryManager::open(&path)?;
//!     let registry = manager.get_registry("fraud_detection_training")?;
//!     registry.register("training", &training)?;
//! } // closed: as after a restart
//!
//! let manager = RegistryManager::open(&path)?;
//! let registry = manager.get_registry("fraud_detection_training")?;
//! assert_eq!(registry.get_specification("training")?.as_deref(), Some(&training));
//! let stats = manager.get_context_stats()?;
//! assert_eq!(stats["fraud_detection_training"].step_count, 1);
//! # Ok(()) }
//! ```
//!
//! There are no cargo features.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod demo;
mod error;
mod global;
mod manager;
#[cfg(feature = "postgres")]
mod pg;
mod pipeline;
mod registry;
mod resolve;
mod scoped;
mod snapshot;
mod spec;
mod storage;
mod store;
mod transfer;

pub use demo::{
    DEMO_CONTEXTS, DEMO_STEPS, DemoContext, DemoSource, DemoStep, DemoSummary, EMBEDDED_DEMO_SPECS,
    build_demo, demo_specs,
};
pub use error::{Error, Result, ServerErrorKind};
pub use global::{
    DB_ENV_VAR, clear_all_contexts, clear_context, default_database_path, get_context_stats,
    get_default_registry, get_pipeline_registry, get_registry, list_contexts, registry_manager,
    resolve_default_path, set_default_database_path,
};
pub use manager::{Concurrency, ContextStats, DEFAULT_CACHE_SIZE, ManagerBuilder, RegistryManager};
pub use pipeline::{
    DEFAULT_PIPELINE_CONTEXT, PipelineConfig, WithRegistry, integrate_with_pipeline_builder,
};
pub use registry::{CompatibleOutput, ImportOptions, SpecificationRegistry};
pub use resolve::{
    ABBREVIATIONS, DEFAULT_CONTEXT, DependencyResolutionError, FailedDependency, InterfaceCatalog,
    InterfaceEntry, PipelineComponents, PipelineResolution, PropertyKey, PropertyPathPart,
    PropertyReference, REFERENCE_KNOWN_STEP_NAMES, REFERENCE_LEGACY_ALIASES, RESOLUTION_THRESHOLD,
    ResolutionDetails, ResolutionReport, ResolutionSummary, ResolveError, SEMANTIC_WEIGHT,
    STOP_WORDS, STRING_WEIGHT, SUBSTRING_WEIGHT, SYNONYM_GROUPS, ScopedPipelineComponents,
    ScoreBreakdown, ScoredCandidate, ScoringResolution, SemanticMatcher, SimilarityExplanation,
    StepReport, StepResolution, StepTypeCatalog, TOKEN_WEIGHT, UnifiedDependencyResolver,
    compatibility_score, data_types_compatible, keyword_match, merge_variant, normalize_name,
    parse_property_path, score_breakdown, sequence_ratio, types_compatible,
};
pub use scoped::ScopedContext;
pub use snapshot::{
    EDGE_SNAPSHOT_SCHEMA, EdgeDiff, EdgeSnapshot, RescoredEdge, ResolvedEdge, RewiredEdge,
    UnresolvedStep,
};
pub use spec::{
    DependencySpec, DependencyType, MAX_NAME_BYTES, NodeType, OutputSpec, SpecProblem,
    StepSpecification, validate_step_name,
};
pub use store::{SCHEMA_VERSION, StorageBackend};
pub use transfer::{EXPORT_SCHEMA, parse_steps_json};
