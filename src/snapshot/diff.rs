//! What changed between two edge snapshots: added, removed, re-wired and re-scored edges,
//! and newly unresolved or resolved steps.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::{EdgeSnapshot, ResolvedEdge, SCORE_TOLERANCE, UnresolvedStep};
use crate::resolve::RESOLUTION_THRESHOLD;

impl EdgeSnapshot {
    /// What changed from `self` (the frozen snapshot) to `current`.
    pub fn diff(&self, current: &EdgeSnapshot) -> EdgeDiff {
        let old: BTreeMap<_, _> = self.edges.iter().map(|e| (e.key(), e)).collect();
        let new: BTreeMap<_, _> = current.edges.iter().map(|e| (e.key(), e)).collect();
        let mut diff = EdgeDiff::default();
        for (key, before) in &old {
            match new.get(key) {
                None => diff.removed.push((*before).clone()),
                Some(after) if !before.same_wiring(after) => diff.rewired.push(RewiredEdge {
                    consumer: before.consumer.clone(),
                    dependency: before.dependency.clone(),
                    old_producer: before.producer.clone(),
                    old_output: before.output.clone(),
                    old_score: before.score,
                    new_producer: after.producer.clone(),
                    new_output: after.output.clone(),
                    new_score: after.score,
                }),
                Some(after) if (before.score - after.score).abs() > SCORE_TOLERANCE => {
                    diff.rescored.push(RescoredEdge {
                        edge: (*after).clone(),
                        old_score: before.score,
                    });
                }
                Some(_) => {}
            }
        }
        diff.added = new
            .iter()
            .filter(|(key, _)| !old.contains_key(*key))
            .map(|(_, e)| (*e).clone())
            .collect();
        let old_unresolved: BTreeMap<_, _> = self
            .unresolved
            .iter()
            .map(|u| (u.step.as_str(), u))
            .collect();
        let new_unresolved: BTreeMap<_, _> = current
            .unresolved
            .iter()
            .map(|u| (u.step.as_str(), u))
            .collect();
        diff.newly_unresolved = new_unresolved
            .iter()
            .filter(|(step, u)| old_unresolved.get(*step) != Some(*u))
            .map(|(_, u)| (*u).clone())
            .collect();
        diff.newly_resolved = old_unresolved
            .keys()
            .filter(|step| !new_unresolved.contains_key(*step))
            .map(|step| (*step).to_owned())
            .collect();
        let old_steps: BTreeSet<_> = self.steps.iter().collect();
        let new_steps: BTreeSet<_> = current.steps.iter().collect();
        diff.steps_added = new_steps
            .difference(&old_steps)
            .map(|s| (*s).clone())
            .collect();
        diff.steps_removed = old_steps
            .difference(&new_steps)
            .map(|s| (*s).clone())
            .collect();
        diff
    }
}

/// A dependency that is now fed by a different producer output.
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
/// let other = |output: OutputSpec| StepSpecification::new("Other", NodeType::Source).with_output(output);
/// resolver.registry().register("other", &other(
///     OutputSpec::new("model", DependencyType::ModelArtifacts, "properties.Model"),
/// ))?;
/// let frozen = EdgeSnapshot::capture(&resolver, &["prep", "other", "train"])?;
/// resolver.registry().upsert("other", &other(
///     OutputSpec::new("training_data", DependencyType::TrainingData, "properties.Other"),
/// ))?;
/// let diff = frozen.diff(&EdgeSnapshot::recapture(&resolver, &frozen)?);
/// let rewired = &diff.rewired[0];
/// assert_eq!((rewired.old_producer.as_str(), rewired.new_producer.as_str()), ("prep", "other"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RewiredEdge {
    /// The consumer step.
    pub consumer: String,
    /// The consumer's dependency.
    pub dependency: String,
    /// The producer step in the snapshot.
    pub old_producer: String,
    /// The producer output in the snapshot.
    pub old_output: String,
    /// The score in the snapshot.
    pub old_score: f64,
    /// The producer step now.
    pub new_producer: String,
    /// The producer output now.
    pub new_output: String,
    /// The score now.
    pub new_score: f64,
}

/// An edge wired as in the snapshot whose score changed.
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
/// let frozen = EdgeSnapshot::capture(&resolver, &["prep", "train"])?;
/// resolver.registry().upsert("train", &StepSpecification::new("Train", NodeType::Sink).with_dependency(
///     DependencySpec::new("training_data", DependencyType::TrainingData).with_keywords(["training"]),
/// ))?;
/// let diff = frozen.diff(&EdgeSnapshot::recapture(&resolver, &frozen)?);
/// assert!(!diff.changes_wiring()); // same producer, another score
/// assert!(diff.rescored[0].edge.score > diff.rescored[0].old_score);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RescoredEdge {
    /// The edge as it is now (with the new score). Serialized flat, as [`RewiredEdge`] is:
    /// `consumer`, `dependency`, `producer`, `output`, `score`, then `old_score`.
    #[serde(flatten)]
    pub edge: ResolvedEdge,
    /// The score in the snapshot.
    pub old_score: f64,
}

/// The difference between a frozen [`EdgeSnapshot`] and a fresh one, from
/// [`EdgeSnapshot::diff`].
///
/// The wiring changed when an edge was added, removed or re-wired
/// ([`EdgeDiff::changes_wiring`]); a score that moved on an unchanged edge, steps that
/// became (un)resolvable and steps added to or removed from the list are reported alongside.
/// `Display` renders a readable report, one change per line.
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
/// let frozen = EdgeSnapshot::capture_all(&resolver)?;
/// resolver.registry().unregister("prep")?;
/// let diff = frozen.diff(&EdgeSnapshot::recapture(&resolver, &frozen)?);
/// assert!(diff.changes_wiring());
/// assert_eq!(diff.steps_removed, ["prep"]);
/// assert_eq!(diff.newly_unresolved[0].step, "train");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EdgeDiff {
    /// Edges that resolve now but did not in the snapshot.
    pub added: Vec<ResolvedEdge>,
    /// Edges of the snapshot that no longer resolve (with their old score).
    pub removed: Vec<ResolvedEdge>,
    /// Dependencies that switched producer output.
    pub rewired: Vec<RewiredEdge>,
    /// Edges wired as before whose score changed.
    pub rescored: Vec<RescoredEdge>,
    /// Steps that are unresolved now (or with different unresolved dependencies).
    pub newly_unresolved: Vec<UnresolvedStep>,
    /// Steps unresolved in the snapshot that resolve now.
    pub newly_resolved: Vec<String>,
    /// Steps resolved now that were not in the snapshot's step list.
    pub steps_added: Vec<String>,
    /// Steps of the snapshot's list that are no longer resolved.
    pub steps_removed: Vec<String>,
}

impl EdgeDiff {
    /// Whether an edge was added, removed or re-wired: the gate's failure condition.
    pub fn changes_wiring(&self) -> bool {
        !(self.added.is_empty() && self.removed.is_empty() && self.rewired.is_empty())
    }

    /// Whether nothing at all differs (not even a score).
    pub fn is_empty(&self) -> bool {
        !self.changes_wiring()
            && self.rescored.is_empty()
            && self.newly_unresolved.is_empty()
            && self.newly_resolved.is_empty()
            && self.steps_added.is_empty()
            && self.steps_removed.is_empty()
    }
}

/// Scores as the reports print them: four decimals, or all of them when four would hide a
/// difference.
fn score(value: f64) -> String {
    format!("{value:.4}")
}

/// A name in a report line: whole up to 100 characters, else its first 100, `…` and its
/// length in bytes (as messages cut names; the JSON diff keeps them exact).
fn cut(name: &str) -> String {
    crate::error::cut_head(name).map_or_else(
        || name.to_owned(),
        |head| format!("{head}… ({} bytes)", name.len()),
    )
}

/// How many names a list in the report shows before `… and N more`.
const LISTED: usize = 20;

/// `names` for one line of the report: the first [`LISTED`] (each [`cut`]), then how many
/// more there are. A step with 50,000 required dependencies, or a snapshot 100,000 steps
/// behind, would otherwise make one line of megabytes; the diff's fields keep every name.
fn preview(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(LISTED)
        .map(|name| cut(name))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        text.push_str(&format!(", … and {} more", names.len() - LISTED));
    }
    text
}

fn score_pair(old: f64, new: f64) -> (String, String) {
    let (a, b) = (score(old), score(new));
    if a == b && (old - new).abs() > SCORE_TOLERANCE {
        (old.to_string(), new.to_string())
    } else {
        (a, b)
    }
}

impl fmt::Display for EdgeDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no changes: the edge graph matches the snapshot");
        }
        let wiring = self.added.len() + self.removed.len() + self.rewired.len();
        if wiring > 0 {
            writeln!(
                f,
                "{wiring} edge change(s): {} re-wired, {} removed, {} added",
                self.rewired.len(),
                self.removed.len(),
                self.added.len()
            )?;
        } else if self.rescored.is_empty() {
            writeln!(f, "the wiring matches the snapshot")?;
        } else {
            writeln!(
                f,
                "the wiring matches the snapshot, but {} score(s) moved",
                self.rescored.len()
            )?;
        }
        for e in &self.rewired {
            let (old, new) = score_pair(e.old_score, e.new_score);
            let was = format!("{}.{}", e.old_producer, e.old_output);
            let now = format!("{}.{}", e.new_producer, e.new_output);
            let width = was.chars().count().max(now.chars().count());
            writeln!(f, "  re-wired  {}.{}", e.consumer, e.dependency)?;
            writeln!(f, "              was ← {was:<width$}  ({old})")?;
            writeln!(f, "              now ← {now:<width$}  ({new})")?;
        }
        for e in &self.removed {
            writeln!(f, "  removed   {e}  (was {})", score(e.score))?;
        }
        for e in &self.added {
            writeln!(f, "  added     {e}  ({})", score(e.score))?;
        }
        for u in &self.newly_unresolved {
            writeln!(
                f,
                "  unresolved step {} (nothing wired; no output above {RESOLUTION_THRESHOLD} for required {})",
                cut(&u.step),
                preview(&u.dependencies)
            )?;
        }
        for step in &self.newly_resolved {
            writeln!(f, "  resolved  step {step} (unresolved in the snapshot)")?;
        }
        if !self.steps_added.is_empty() {
            writeln!(f, "  steps added:   {}", preview(&self.steps_added))?;
        }
        if !self.steps_removed.is_empty() {
            writeln!(f, "  steps removed: {}", preview(&self.steps_removed))?;
        }
        for r in &self.rescored {
            let (old, new) = score_pair(r.old_score, r.edge.score);
            writeln!(f, "  rescored  {}  {old} → {new}", r.edge)?;
        }
        Ok(())
    }
}
