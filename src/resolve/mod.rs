//! Dependency resolution: which producer output feeds each consumer dependency.
//!
//! A port of the reference resolver (`cursus.core.deps`) with the same scores, bit for bit
//! on the real specifications, the same threshold and the same tie-breaking:
//!
//! * [`SemanticMatcher`] — name similarity (normalisation, four weighted components,
//!   the asymmetric `difflib` ratio, aliases).
//! * [`compatibility_score`] / [`ScoreBreakdown`] — the six-part score of a (dependency,
//!   output) pair: type (0.4 / 0.2 / incompatible → 0), data type (0.2 / 0.1), 0.25 ×
//!   similarity, exact-name bonus 0.05, compatible sources ±0.1 through
//!   [`StepTypeCatalog`], keyword bonus up to 0.05; capped at 1.0.
//! * [`UnifiedDependencyResolver`] — resolves steps over a [`SpecificationRegistry`](crate::SpecificationRegistry):
//!   best score strictly above 0.5, ties by the caller's step order then output order.
//! * [`PropertyReference`] — the resolved output, rendered as `{"Get": "Steps.<step>.<path>"}`.
//! * [`PipelineComponents`] / [`ScopedPipelineComponents`] — a matched manager, registry,
//!   matcher and resolver in one call.
//! * [`InterfaceCatalog`] and [`merge_variant`] — the cursus fixture format and job-type
//!   variants.
//!
//! Deliberate differences from the reference (each documented where it applies and tested):
//! the resolution cache is keyed by the ordered step list and follows the registry revision
//! (13.4); score breakdowns add up to the score (13.5); `explain_similarity` does not fail on
//! names that normalise to nothing (13.6).

mod contents;
mod engine;
mod factory;
mod matcher;
mod memo;
mod normalize;
mod outcome;
mod property;
mod resolver;
mod scoring;
mod variants;

pub use factory::{DEFAULT_CONTEXT, PipelineComponents, ScopedPipelineComponents};
pub use matcher::{
    SEMANTIC_WEIGHT, STRING_WEIGHT, SUBSTRING_WEIGHT, SYNONYM_GROUPS, SemanticMatcher,
    SimilarityExplanation, TOKEN_WEIGHT,
};
pub use normalize::{ABBREVIATIONS, STOP_WORDS, normalize_name, sequence_ratio};
pub use outcome::{
    DependencyResolutionError, FailedDependency, PipelineResolution, ResolutionDetails,
    ResolutionReport, ResolutionSummary, ResolveError, ScoredCandidate, ScoringResolution,
    StepReport, StepResolution,
};
pub use property::{PropertyKey, PropertyPathPart, PropertyReference, parse_property_path};
pub use resolver::{RESOLUTION_THRESHOLD, UnifiedDependencyResolver};
pub use scoring::{
    REFERENCE_KNOWN_STEP_NAMES, REFERENCE_LEGACY_ALIASES, ScoreBreakdown, StepTypeCatalog,
    compatibility_score, data_types_compatible, keyword_match, score_breakdown, types_compatible,
};
pub use variants::{InterfaceCatalog, InterfaceEntry, merge_variant};
