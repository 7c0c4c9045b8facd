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
//! What it is not: a pipeline executor. One process writes a file at a time (others may
//! read it in [`Concurrency::SingleWriter`] mode); many processes and machines can share a
//! registry on a PostgreSQL server instead (cargo feature `postgres`,
//! `RegistryManager::connect`).
//!
//! - Every write to a file or server commits durably before returning (concurrent writers
//!   of one manager may share a commit, each returning once it is durable); a crash never
//!   leaves half a write. [`RegistryManager::temporary`] and [`RegistryManager::in_memory`]
//!   skip the flush, since their data dies with them ([`Durability`]; see
//!   [`SpecificationRegistry`]'s durability section).
//! - Context statistics come from a catalog updated in the same transaction as the data.
//! - Declaration order of dependencies and outputs, registration order of steps and
//!   creation order of contexts are kept.
//! - The process-wide default manager and its free functions ([`get_registry`],
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
//! # Where things are
//!
//! The crate root holds what everyday use needs: the manager and its builder, the registry,
//! the specification model, the resolver with its result, the error type and the
//! default-manager functions. Everything else is in a module named by topic:
//!
//! | module | reach for it when you need |
//! |---|---|
//! | [`resolve`] | candidate-by-candidate explanations, resolution reports, ready-made resolver sets, property paths, the cursus interface format |
//! | [`scoring`] | the compatibility score's rules and parts, the name matcher and its tables |
//! | [`snapshot`] | to freeze a resolved edge graph and fail when it changes |
//! | [`transfer`] | JSON documents of specifications outside a registry (parse, export format) |
//! | [`spec`] | validation details: problems, name limits |
//! | [`pipeline`] | to give a pipeline builder the registry of its context |
//! | [`default_manager`] | to choose or inspect the file the default-manager functions use |
//! | [`storage`] | the stored format's version, the page cache default, a custom storage backend |
//!
//! The structs the library hands back (statistics, resolutions, reports, explanations,
//! snapshots, validation problems) are `#[non_exhaustive]`: read their public fields, but
//! they are not built with a struct literal outside the crate, so fields can be added. The
//! specification model ([`StepSpecification`], [`DependencySpec`], [`OutputSpec`]),
//! [`scoring::ScoreBreakdown`] and [`resolve::DependencyResolutionError`] are built by
//! callers and stay exhaustive.
//!
//! The design this crate implements, its storage layout and where it deliberately differs
//! from the Python reference are described in `docs/design.md` in the repository.
//!
//! # Cargo features
//! `postgres` (off by default) adds `RegistryManager::connect` and
//! `ManagerBuilder::connect`: the same API on a PostgreSQL server, through the synchronous
//! `postgres` client (embedded users compile none of it). `reference-resolver` (off by
//! default) compiles the unoptimised resolution path that the equivalence tests use as an
//! oracle; it is not part of the supported API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod error;
mod global;
mod maintenance;
mod manager;
#[cfg(feature = "postgres")]
mod pg;
pub mod pipeline;
mod registry;
pub mod resolve;
mod scoped;
mod seam;
pub mod snapshot;
pub mod spec;
mod store;
pub mod transfer;

pub use indexmap;
pub use serde_json;

pub use error::{Error, ErrorKind, Result, ServerErrorKind};
pub use global::{
    clear_all_contexts, clear_context, get_context_stats, get_default_registry,
    get_pipeline_registry, get_registry, list_contexts,
};
pub use manager::{Concurrency, ContextStats, Durability, ManagerBuilder, RegistryManager};
pub use registry::SpecificationRegistry;
pub use resolve::{PipelineResolution, PropertyReference, UnifiedDependencyResolver};
pub use scoped::ScopedContext;
pub use scoring::SemanticMatcher;
pub use spec::{DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification};
pub use transfer::ImportOptions;

pub mod scoring {
    //! How a (dependency, output) pair is scored: the rules, their parts and the name matcher.
    //!
    //! Reach for this module to explain or tune why a dependency resolved the way it did:
    //! [`compatibility_score`] and [`score_breakdown`] of one pair, the parts of a score
    //! ([`ScoreBreakdown`], whose values are the constants below), the step-type catalog of
    //! the compatible-sources rule ([`StepTypeCatalog`]), and the name similarity
    //! ([`SemanticMatcher`], [`normalize_name`], [`sequence_ratio`] and their tables).
    //!
    //! A score is: type [`TYPE_EQUAL`] or [`TYPE_COMPATIBLE`] (incompatible types score 0
    //! and stop); data type [`DATA_TYPE_EQUAL`] or [`DATA_TYPE_COMPATIBLE`];
    //! [`SIMILARITY_WEIGHT`] × name similarity (aliases included); [`EXACT_NAME_BONUS`];
    //! [`SOURCE_MATCH`] / [`SOURCE_MISMATCH`] for compatible sources (0 without any);
    //! [`KEYWORD_WEIGHT`] × keyword fraction; the sum capped at 1.0.
    //!
    //! ```
    //! use pipeline_deps::scoring::{StepTypeCatalog, score_breakdown};
    //! use pipeline_deps::{DependencySpec, DependencyType, OutputSpec, SemanticMatcher};
    //!
    //! let dep = DependencySpec::new("model_input", DependencyType::ModelArtifacts);
    //! let out = OutputSpec::new("model_output", DependencyType::ModelArtifacts, "properties.M");
    //! let parts = score_breakdown(
    //!     &SemanticMatcher::default(), &StepTypeCatalog::default(), &dep, &out, "Training",
    //! ).expect("equal types are compatible");
    //! assert_eq!(parts.type_compatibility, pipeline_deps::scoring::TYPE_EQUAL);
    //! assert!(parts.score() > pipeline_deps::resolve::RESOLUTION_THRESHOLD);
    //! ```

    pub use crate::registry::CompatibleOutput;
    pub use crate::resolve::matcher::{
        SEMANTIC_WEIGHT, STRING_WEIGHT, SUBSTRING_WEIGHT, SYNONYM_GROUPS, SemanticMatcher,
        SimilarityExplanation, TOKEN_WEIGHT,
    };
    pub use crate::resolve::normalize::{
        ABBREVIATIONS, STOP_WORDS, normalize_name, sequence_ratio,
    };
    pub use crate::resolve::scoring::{
        DATA_TYPE_COMPATIBLE, DATA_TYPE_EQUAL, EXACT_NAME_BONUS, KEYWORD_WEIGHT,
        REFERENCE_KNOWN_STEP_NAMES, REFERENCE_LEGACY_ALIASES, SIMILARITY_WEIGHT, SOURCE_MATCH,
        SOURCE_MISMATCH, ScoreBreakdown, StepTypeCatalog, TYPE_COMPATIBLE, TYPE_EQUAL,
        compatibility_score, data_types_compatible, keyword_match, score_breakdown,
        types_compatible,
    };
}

pub mod default_manager {
    //! The process-wide default manager behind the free functions at the crate root.
    //!
    //! Reach for this module when a program or test needs to choose which file the free
    //! functions ([`get_registry`](crate::get_registry), [`list_contexts`](crate::list_contexts),
    //! ...) use, or to get at the manager itself. [`registry_manager`] opens, on first use,
    //! the file named by the [`DB_ENV_VAR`] environment variable, or else
    //! [`default_database_path`] (or a database in memory for [`MEMORY`], `:memory:`); call
    //! [`set_default_database_path`] before first use to choose another file, and
    //! [`close_default_manager`] before the program ends to close the file cleanly (a
    //! static is never dropped).
    //!
    //! ```no_run
    //! # fn main() -> pipeline_deps::Result<()> {
    //! pipeline_deps::default_manager::set_default_database_path("/tmp/registry.redb")?;
    //! let registry = pipeline_deps::get_registry("training")?;
    //! assert_eq!(registry.context_name(), "training");
    //! # Ok(()) }
    //! ```

    pub use crate::global::{
        DB_ENV_VAR, MEMORY, close_default_manager, default_database_path, registry_manager,
        resolve_default_path, set_default_database_path,
    };
}

pub mod storage {
    //! The stored format and the storage engine underneath a manager.
    //!
    //! Reach for this module to check which schema version this build writes
    //! ([`SCHEMA_VERSION`]), to size the page cache against its default
    //! ([`DEFAULT_CACHE_SIZE`], see [`ManagerBuilder::cache_size`](crate::ManagerBuilder::cache_size)),
    //! or a server's connection limit ([`DEFAULT_CONNECTIONS`], see
    //! [`ManagerBuilder::connections`](crate::ManagerBuilder::connections)),
    //! to read what a compaction or repair did ([`CompactReport`], [`RepairReport`]),
    //! or to put a manager on storage of your own, such as a fault-injecting backend in
    //! tests ([`StorageBackend`], see [`ManagerBuilder::with_backend`](crate::ManagerBuilder::with_backend)),
    //! or to tell a server URL from a file path ([`is_postgres_url`], [`url_scheme`], [`refuse_url_as_file`]) and show one
    //! without its password ([`url_without_password`]).
    //! The layout of the file is described in `docs/design.md`.
    //!
    //! ```
    //! assert_eq!(pipeline_deps::storage::SCHEMA_VERSION, 3);
    //! assert_eq!(pipeline_deps::storage::DEFAULT_CACHE_SIZE, 32 * 1024 * 1024);
    //! ```

    pub use crate::maintenance::{CompactReport, RepairReport};
    pub use crate::manager::{DEFAULT_CACHE_SIZE, DEFAULT_CONNECTIONS};
    pub use crate::store::{
        SCHEMA_VERSION, StorageBackend, is_postgres_url, refuse_url_as_file, url_scheme,
        url_without_password,
    };
}
