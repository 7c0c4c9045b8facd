//! Invariant: a capture's candidate scorer scores as the registry is, whatever the order of
//! the capture, the write and the scorer: one made after a write reads the registry again
//! (not the capture's stale specifications), and one made before a write, first used after
//! it, does too. Written against mutants of `candidate_scorer_held` and
//! `CandidateScorer::top_candidates_many` that the cited tests let survive (see the report of
//! the second mutation audit, cargo-mutants): the capture's specifications kept when the
//! revision moved. (`snapshot_capture`'s property test uses each scorer before the write, and
//! a fresh scorer at the new revision fills the candidate index the next one takes.)

use pipeline_deps::snapshot::SnapshotCapture;
use pipeline_deps::{
    DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
    SpecificationRegistry, StepSpecification, UnifiedDependencyResolver,
};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;
type Candidates = Vec<Option<indexmap::IndexMap<String, pipeline_deps::resolve::TopCandidates>>>;

const TOP: usize = 3;

fn producer(output: &str) -> StepSpecification {
    StepSpecification::new("Prep", NodeType::Source).with_output(OutputSpec::new(
        output,
        DependencyType::ProcessingOutput,
        format!("properties.{output}"),
    ))
}

/// `prep` (output `training_data`) and `train`, which needs `training_data`.
fn pipeline() -> TestResult<(RegistryManager, SpecificationRegistry, Vec<String>)> {
    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("pipeline")?;
    registry.register("prep", &producer("training_data"))?;
    registry.register(
        "train",
        &StepSpecification::new("Train", NodeType::Internal).with_dependency(
            DependencySpec::new("training_data", DependencyType::ProcessingOutput)
                .with_compatible_sources(["Prep"]),
        ),
    )?;
    Ok((
        manager,
        registry,
        vec!["prep".to_owned(), "train".to_owned()],
    ))
}

/// The candidates a fresh resolver, reading the registry, lists (its own candidate index).
fn as_the_registry_is(
    registry: &SpecificationRegistry,
    steps: &[String],
) -> TestResult<Candidates> {
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    Ok(resolver
        .candidate_scorer(steps)?
        .top_candidates_many(steps, TOP)?)
}

/// A write between the capture and the scoring: `prep`'s output renamed (the candidates
/// change).
fn rename_the_output(registry: &SpecificationRegistry) -> TestResult {
    registry.upsert("prep", &producer("model_input"))?;
    Ok(())
}

/// A write between the capture and the scoring: `train`'s dependency renamed (the consumer's
/// specification changes).
fn rename_the_dependency(registry: &SpecificationRegistry) -> TestResult {
    registry.upsert(
        "train",
        &StepSpecification::new("Train", NodeType::Internal).with_dependency(DependencySpec::new(
            "model_input",
            DependencyType::ProcessingOutput,
        )),
    )?;
    Ok(())
}

#[test]
fn a_scorer_made_after_a_write_scores_the_registry_as_it_is() -> TestResult {
    let (_manager, registry, steps) = pipeline()?;
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let capture = SnapshotCapture::of_all(&resolver)?;
    let before = as_the_registry_is(&registry, &steps)?;
    rename_the_output(&registry)?;
    let scored = capture
        .candidate_scorer(&resolver)?
        .top_candidates_many(&steps, TOP)?;
    let now = as_the_registry_is(&registry, &steps)?;
    assert_ne!(before, now, "the write changed no candidate");
    assert_eq!(scored, now);
    Ok(())
}

#[test]
fn a_scorer_made_before_a_write_and_first_used_after_it_scores_the_registry_as_it_is() -> TestResult
{
    let (_manager, registry, steps) = pipeline()?;
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let capture = SnapshotCapture::of_all(&resolver)?;
    let mut scorer = capture.candidate_scorer(&resolver)?;
    let before = as_the_registry_is(&registry, &steps)?;
    rename_the_dependency(&registry)?;
    let scored = scorer.top_candidates_many(&steps, TOP)?;
    let now = as_the_registry_is(&registry, &steps)?;
    assert_ne!(before, now, "the write changed no candidate");
    assert_eq!(scored, now);
    Ok(())
}
