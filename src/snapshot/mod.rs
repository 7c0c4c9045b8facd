//! Frozen resolved-edge graphs and their differences: the gate that catches silent re-wiring.
//!
//! Reach for this module to guard a pipeline's wiring in CI: capture the edges once
//! ([`EdgeSnapshot::capture`], [`EdgeSnapshot::to_json`]), commit the file, and later fail
//! when [`EdgeSnapshot::diff`] against a fresh capture [`changes_wiring`](EdgeDiff::changes_wiring).
//!
//! A pipeline's wiring is computed: every consumer dependency is fed by the best-scoring
//! producer output. When a specification edit drops an alias or a keyword, or the resolver
//! changes, a dependency can quietly switch producer, or stop resolving, without any error.
//! An [`EdgeSnapshot`] freezes the resolved edges of a context (consumer.dependency ←
//! producer.output, with the score) in a small JSON file; [`EdgeSnapshot::diff`] compares it
//! with a fresh resolution and lists the added, removed and re-wired edges.
//!
//! # File format
//! ```json
//! {
//!   "schema": "pipeline-deps-edges/v1",
//!   "context": "training_pipeline",
//!   "all_steps": false,
//!   "steps": ["prep", "train"],
//!   "edges": [
//!     {"consumer": "train", "dependency": "training_data",
//!      "producer": "prep", "output": "processed_data", "score": 0.9072916666666667}
//!   ],
//!   "unresolved": []
//! }
//! ```
//! `steps` is the step list in the order it was resolved (order breaks score ties);
//! `all_steps` says that it was every step of the context, so a check resolves the context's
//! steps as they are then (a step added since is part of the check). Edges are sorted by
//! consumer then dependency name and unresolved steps by name, so a file written twice from
//! the same registry is byte-identical and version-control diffs stay small.
//!
//! ```
//! use pipeline_deps::snapshot::EdgeSnapshot;
//! use pipeline_deps::{
//!     DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
//!     StepSpecification, UnifiedDependencyResolver,
//! };
//!
//! # fn main() -> pipeline_deps::Result<()> {
//! let manager = RegistryManager::in_memory()?;
//! let registry = manager.get_registry("pipeline")?;
//! registry.register("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
//!     OutputSpec::new("processed_data", DependencyType::ProcessingOutput, "properties.Data")
//!         .with_aliases(["training_data"]),
//! ))?;
//! registry.register("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
//!     DependencySpec::new("training_data", DependencyType::TrainingData),
//! ))?;
//! let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
//!
//! let frozen = EdgeSnapshot::capture_all(&resolver)?;
//! assert_eq!(frozen.edges[0].to_string(), "train.training_data ← prep.processed_data");
//! let frozen = EdgeSnapshot::from_json(&frozen.to_json())?; // as if read back from a file
//!
//! // The alias that made the match is dropped: the edge disappears.
//! registry.upsert("prep", &StepSpecification::new("Prep", NodeType::Source).with_output(
//!     OutputSpec::new("other", DependencyType::ModelArtifacts, "properties.Other"),
//! ))?;
//! let diff = frozen.diff(&EdgeSnapshot::recapture(&resolver, &frozen)?);
//! assert!(diff.changes_wiring());
//! assert_eq!(diff.removed.len(), 1);
//! # Ok(()) }
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

mod capture;
mod diff;
mod file;

pub use capture::SnapshotCapture;
pub use diff::{EdgeDiff, RescoredEdge, RewiredEdge};

/// The `schema` value of an [`EdgeSnapshot`] file.
pub const EDGE_SNAPSHOT_SCHEMA: &str = "pipeline-deps-edges/v1";

/// Two scores at most this far apart are equal (scores are computed deterministically, so
/// this only absorbs the last bit of a decimal round trip).
const SCORE_TOLERANCE: f64 = 1e-12;

/// One resolved edge: `consumer.dependency ← producer.output`, with its compatibility score.
///
/// `Display` renders `consumer.dependency ← producer.output`.
///
/// ```
/// use pipeline_deps::snapshot::EdgeSnapshot;
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
/// let snapshot = EdgeSnapshot::capture(&resolver, &["prep", "train"])?;
/// let edge = &snapshot.edges[0];
/// assert_eq!(edge.to_string(), "train.training_data ← prep.training_data");
/// assert_eq!((edge.target(), edge.source()), ("train.training_data".into(), "prep.training_data".into()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ResolvedEdge {
    /// The consumer step's name.
    pub consumer: String,
    /// The consumer's dependency (its key in the consumer's specification).
    pub dependency: String,
    /// The producer step's name.
    pub producer: String,
    /// The producer's output (its logical name).
    pub output: String,
    /// The compatibility score that made this output win (above
    /// [`RESOLUTION_THRESHOLD`](crate::resolve::RESOLUTION_THRESHOLD), at most 1.0).
    pub score: f64,
}

impl ResolvedEdge {
    /// `consumer.dependency`: the edge's key in a diff.
    pub fn target(&self) -> String {
        format!("{}.{}", self.consumer, self.dependency)
    }

    /// `producer.output`.
    pub fn source(&self) -> String {
        format!("{}.{}", self.producer, self.output)
    }

    fn key(&self) -> (&str, &str) {
        (&self.consumer, &self.dependency)
    }

    fn same_wiring(&self, other: &ResolvedEdge) -> bool {
        self.producer == other.producer && self.output == other.output
    }
}

impl fmt::Display for ResolvedEdge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} ← {}.{}",
            self.consumer, self.dependency, self.producer, self.output
        )
    }
}

/// A step left out of the resolution because required dependencies found no output scoring
/// above [`RESOLUTION_THRESHOLD`](crate::resolve::RESOLUTION_THRESHOLD) (so none of its
/// dependencies is wired, as in the Python reference).
///
/// ```
/// use pipeline_deps::snapshot::EdgeSnapshot;
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
/// let snapshot = EdgeSnapshot::capture(&resolver, &["train"])?; // no producer listed
/// assert_eq!(snapshot.unresolved[0].step, "train");
/// assert_eq!(snapshot.unresolved[0].dependencies, ["training_data"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UnresolvedStep {
    /// The consumer step.
    pub step: String,
    /// Its unresolved required dependencies, in declaration order.
    pub dependencies: Vec<String>,
}

/// The resolved edge graph of a context's steps, frozen (see the module docs for the file
/// format).
///
/// ```
/// use pipeline_deps::snapshot::EdgeSnapshot;
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
///
/// let snapshot = EdgeSnapshot::capture(&resolver, &["prep", "train"])?;
/// assert_eq!(snapshot.steps, ["prep", "train"]);
/// let edge = snapshot.edge("train", "training_data").expect("the edge is resolved");
/// assert_eq!(edge.source(), "prep.training_data");
/// assert!(snapshot.diff(&EdgeSnapshot::recapture(&resolver, &snapshot)?).is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EdgeSnapshot {
    /// Always [`EDGE_SNAPSHOT_SCHEMA`] for snapshots this version writes.
    pub schema: String,
    /// The context resolved.
    pub context: String,
    /// Whether `steps` was every step of the context (a re-check then takes the context's
    /// steps as they are at that time).
    pub all_steps: bool,
    /// The steps resolved, in the order given to the resolver (order breaks ties).
    pub steps: Vec<String>,
    /// Every resolved edge, sorted by consumer then dependency.
    pub edges: Vec<ResolvedEdge>,
    /// The steps whose required dependencies stayed unresolved, sorted by step name.
    #[serde(default)]
    pub unresolved: Vec<UnresolvedStep>,
}

impl EdgeSnapshot {
    /// A snapshot of the given edges (sorted here) and unresolved steps.
    pub fn new(
        context: impl Into<String>,
        steps: Vec<String>,
        all_steps: bool,
        mut edges: Vec<ResolvedEdge>,
        mut unresolved: Vec<UnresolvedStep>,
    ) -> Self {
        edges.sort_by(|a, b| a.key().cmp(&b.key()));
        unresolved.sort_by(|a, b| a.step.cmp(&b.step));
        EdgeSnapshot {
            schema: EDGE_SNAPSHOT_SCHEMA.to_owned(),
            context: context.into(),
            all_steps,
            steps,
            edges,
            unresolved,
        }
    }

    /// The edge of `consumer.dependency`, if it resolved.
    pub fn edge(&self, consumer: &str, dependency: &str) -> Option<&ResolvedEdge> {
        self.edges
            .iter()
            .find(|e| e.consumer == consumer && e.dependency == dependency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, Result};

    fn edge(consumer: &str, dep: &str, producer: &str, output: &str, score: f64) -> ResolvedEdge {
        ResolvedEdge {
            consumer: consumer.into(),
            dependency: dep.into(),
            producer: producer.into(),
            output: output.into(),
            score,
        }
    }

    fn snap(edges: Vec<ResolvedEdge>) -> EdgeSnapshot {
        EdgeSnapshot::new(
            "ctx",
            vec!["a".into(), "b".into()],
            false,
            edges,
            Vec::new(),
        )
    }

    #[test]
    fn edges_are_sorted_and_json_round_trips_byte_identically() -> Result<()> {
        let s = snap(vec![
            edge("b", "y", "a", "o", 0.75),
            edge("a", "z", "b", "o", 1.0),
            edge("a", "x", "b", "p", 0.6093750000000001),
        ]);
        let keys: Vec<_> = s.edges.iter().map(ResolvedEdge::target).collect();
        assert_eq!(keys, ["a.x", "a.z", "b.y"]);
        let text = s.to_json();
        let back = EdgeSnapshot::from_json(&text)?;
        assert_eq!(back, s);
        assert_eq!(back.to_json(), text);
        Ok(())
    }

    #[test]
    fn a_file_that_is_not_what_a_capture_writes_is_refused() -> Result<()> {
        let text = snap(vec![edge("a", "x", "b", "o", 0.75)]).to_json();
        let edge_text = r#""consumer": "a""#;
        let cases = [
            // A key given twice (a hand merge): serde would keep the last silently.
            (
                text.replacen("\"edges\"", "\"edges\": [],\n  \"edges\"", 1),
                "appears twice",
            ),
            (
                text.replacen("\"all_steps\"", "\"notes\": \"x\",\n  \"all_steps\"", 1),
                "has the unknown field `notes`",
            ),
            (text.replacen("0.75", "5", 1), "scores are between 0 and 1"),
            (
                text.replacen("\"b\"\n  ]", "\"b\",\n    \"a\"\n  ]", 1),
                "lists step 'a' twice",
            ),
            (
                text.replacen(
                    edge_text,
                    r#""consumer": "a", "dependency": "x", "producer": "c", "output": "o", "score": 0.5}, {"consumer": "a""#,
                    1,
                ),
                "two edges for 'a.x'",
            ),
            // Names no registry holds: a newline in a foreign file could forge report lines.
            (
                text.replacen(edge_text, r#""consumer": "a\nforged line""#, 1),
                "the name of an edge's consumer, 'a\\nforged line', contains the control character",
            ),
            (
                text.replacen("\"context\": \"ctx\"", "\"context\": \"c\\u001b[31m\"", 1),
                "the name of the context",
            ),
            (
                text.replacen("\"output\": \"o\"", "\"output\": \"\"", 1),
                "the name of an edge's output, '', is empty",
            ),
        ];
        for (bad, why) in cases {
            let error = EdgeSnapshot::from_json(&bad)
                .err()
                .ok_or_else(|| Error::InvalidInput {
                    what: "the test".into(),
                    detail: format!("accepted: {bad}"),
                    source: None,
                })?;
            assert!(error.is_invalid_input(), "{error:?}");
            assert!(error.to_string().contains(why), "{why}: {error}");
        }
        Ok(())
    }

    #[test]
    fn diff_classifies_every_change() {
        let old = snap(vec![
            edge("a", "x", "b", "o", 0.8),
            edge("a", "y", "b", "o", 0.7),
            edge("b", "z", "a", "p", 0.9),
        ]);
        let mut new = snap(vec![
            edge("a", "x", "c", "q", 0.6),
            edge("a", "y", "b", "o", 0.65),
            edge("c", "w", "a", "p", 1.0),
        ]);
        new.unresolved.push(UnresolvedStep {
            step: "b".into(),
            dependencies: vec!["z".into()],
        });
        new.steps.push("c".into());
        let diff = old.diff(&new);
        assert!(diff.changes_wiring());
        assert_eq!(diff.rewired.len(), 1);
        assert_eq!(diff.rewired[0].old_producer, "b");
        assert_eq!(diff.rewired[0].new_producer, "c");
        assert_eq!(diff.removed, vec![edge("b", "z", "a", "p", 0.9)]);
        assert_eq!(diff.added, vec![edge("c", "w", "a", "p", 1.0)]);
        assert_eq!(diff.rescored.len(), 1);
        assert_eq!(diff.newly_unresolved.len(), 1);
        assert_eq!(diff.steps_added, ["c"]);
        let text = diff.to_string();
        assert!(
            text.contains("3 edge change(s): 1 re-wired, 1 removed, 1 added"),
            "{text}"
        );
        assert!(text.contains("was ← b.o  (0.8000)"), "{text}");
        assert!(text.contains("now ← c.q  (0.6000)"), "{text}");
        assert!(text.contains("removed   b.z ← a.p  (was 0.9000)"), "{text}");
        assert!(
            text.contains("rescored  a.y ← b.o  0.7000 → 0.6500"),
            "{text}"
        );
    }

    #[test]
    fn a_long_name_is_cut_in_the_report_and_kept_whole_in_the_diff() {
        let old = snap(Vec::new());
        let mut new = snap(Vec::new());
        let long = "L".repeat(300);
        new.unresolved.push(UnresolvedStep {
            step: long.clone(),
            dependencies: vec!["d".repeat(150)],
        });
        let diff = old.diff(&new);
        assert_eq!(diff.newly_unresolved[0].step, long);
        let text = diff.to_string();
        assert!(
            text.contains(&format!("{}… (300 bytes)", "L".repeat(100))),
            "{text}"
        );
        assert!(
            text.contains(&format!("{}… (150 bytes)", "d".repeat(100))),
            "{text}"
        );
        assert!(!text.contains(&"L".repeat(101)), "{text}");
    }

    #[test]
    fn a_diff_of_scores_only_says_the_wiring_matches_but_scores_moved() {
        let old = snap(vec![edge("a", "x", "b", "o", 0.8)]);
        let new = snap(vec![edge("a", "x", "b", "o", 0.6)]);
        let diff = old.diff(&new);
        assert!(!diff.changes_wiring());
        let text = diff.to_string();
        assert!(
            text.starts_with("the wiring matches the snapshot, but 1 score(s) moved"),
            "{text}"
        );
    }

    #[test]
    fn identical_snapshots_do_not_differ_and_tiny_score_changes_show_full_digits() {
        let s = snap(vec![edge("a", "x", "b", "o", 0.8)]);
        assert!(s.diff(&s).is_empty());
        assert!(s.diff(&s).to_string().starts_with("no changes"));
        let moved = snap(vec![edge("a", "x", "b", "o", 0.80000001)]);
        let diff = s.diff(&moved);
        assert!(!diff.changes_wiring());
        assert!(diff.to_string().contains("0.8 → 0.80000001"), "{diff}");
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_named_in_the_message_and_explained_in_the_source() -> Result<()>
    {
        let text = snap(vec![edge("a", "x", "b", "o", 0.75)]).to_json();
        let bad = text.replacen("0.75", "\"high\"", 1);
        let Err(error) = EdgeSnapshot::from_json(&bad) else {
            return Err(Error::InvalidSpec {
                context: "the test".into(),
                problems: Vec::new(),
            });
        };
        let message = error.to_string();
        assert!(message.contains("field `edges[0].score`"), "{message}");
        assert!(!message.contains("invalid type"), "{message}");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            source
                .as_deref()
                .is_some_and(|s| s.contains("invalid type")),
            "{source:?}"
        );
        Ok(())
    }

    #[test]
    fn foreign_or_malformed_files_are_invalid_input() {
        for text in [
            "not json",
            "{}",
            r#"{"schema": "pipeline-deps-export/v1", "steps": []}"#,
            r#"{"schema": "pipeline-deps-edges/v1", "context": "c"}"#,
        ] {
            let err = EdgeSnapshot::from_json(text).err();
            assert!(
                err.as_ref().is_some_and(Error::is_invalid_input),
                "{text}: {err:?}"
            );
        }
    }
}
