//! Dependency resolution: which producer output feeds each consumer dependency.
//!
//! Reach for this module when you need more than
//! [`UnifiedDependencyResolver::resolve_all_dependencies`] and its [`PipelineResolution`]
//! (both also at the crate root): explaining a resolution candidate by candidate
//! ([`ScoringResolution`]; [`CandidateScorer`] for the best few candidates of many consumers
//! over one step list), a pipeline report ([`ResolutionReport`]), ready-made sets of
//! manager, registry and resolver ([`PipelineComponents`]), SageMaker property paths
//! ([`parse_property_path`]) or the cursus interface format with its job-type variants
//! ([`InterfaceCatalog`], [`merge_variant`]). The scoring rules themselves are in
//! [`crate::scoring`].
//!
//! The resolver reproduces the scores, threshold and tie-breaking of the Python reference
//! implementation described in `docs/design.md`, bit for bit on the real specifications:
//!
//! * [`UnifiedDependencyResolver`] resolves steps over a
//!   [`SpecificationRegistry`](crate::SpecificationRegistry): for each dependency the best
//!   [`compatibility_score`](crate::scoring::compatibility_score) strictly above
//!   [`RESOLUTION_THRESHOLD`] wins, ties going to the caller's step order, then output order.
//! * [`PropertyReference`] is the resolved output, rendered as
//!   `{"Get": "Steps.<step>.<path>"}`.
//! * [`PipelineComponents`] / [`ScopedPipelineComponents`] give a matched manager, registry,
//!   matcher and resolver in one call.
//!
//! Deliberate differences from the Python reference (docs/design.md, each documented where it
//! applies and tested): the resolution cache is keyed by the ordered step list and follows
//! the registry revision (D4); score breakdowns add up to the score (D5);
//! `explain_similarity` does not fail on names that normalise to nothing, and its weighted
//! components add up to its total (D6).
//!
//! Internals, for contributors: `resolver.rs` holds the public resolver and its caches
//! (`resolver/explain.rs` its scoring resolutions and reports),
//! `candidates.rs` the candidate index of scoring resolutions and `scorer.rs` its
//! many-consumer scorer,
//! `engine/` the optimised resolution path (interning, output classes, score bounds),
//! `scoring.rs` the score rules that both paths use, `matcher.rs` (with `matcher/` the
//! prepared names and the similarity components) and `normalize.rs` the name similarity,
//! and `reference.rs` the unoptimised path that the equivalence tests use as an oracle
//! (cargo feature `reference-resolver`, not public API).

mod candidates;
mod engine;
mod factory;
pub(crate) mod matcher;
pub(crate) mod normalize;
mod outcome;
mod property;
#[cfg(feature = "reference-resolver")]
mod reference;
mod resolver;
mod scorer;
pub(crate) mod scoring;
mod variants;

pub use factory::{DEFAULT_CONTEXT, PipelineComponents, ScopedPipelineComponents};
pub use outcome::{
    DependencyResolutionError, FailedDependency, PipelineResolution, ResolutionDetails,
    ResolutionReport, ResolutionSummary, ScoredCandidate, ScoringResolution, StepReport,
    StepResolution,
};
pub use property::{PropertyKey, PropertyPathPart, PropertyReference, parse_property_path};
pub use resolver::{RESOLUTION_THRESHOLD, UnifiedDependencyResolver};
pub(crate) use scorer::Held;
pub use scorer::{CandidateScorer, TopCandidates};
pub use variants::{InterfaceCatalog, InterfaceEntry, merge_variant};
