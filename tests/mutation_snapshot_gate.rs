//! Invariant: the snapshot gate reports an edge as re-wired when its dependency is fed by
//! another output of the same producer, not only by another producer (the edge is the pair
//! producer and output). Written against a mutant of the wiring comparison that looked at the
//! producer alone, which the earlier tests let survive (see the report of the mutation audit).

mod common;

use common::TestResult;
use pipeline_deps::snapshot::EdgeSnapshot;
use pipeline_deps::{
    DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
    StepSpecification, UnifiedDependencyResolver,
};

#[test]
fn a_dependency_moved_to_another_output_of_the_same_producer_is_re_wired() -> TestResult {
    let registry = RegistryManager::in_memory()?.get_registry("pipeline")?;
    let prep = |outputs: Vec<OutputSpec>| {
        outputs.into_iter().fold(
            StepSpecification::new("Prep", NodeType::Source),
            |spec, o| spec.with_output(o),
        )
    };
    registry.register(
        "prep",
        &prep(vec![
            OutputSpec::new(
                "training_data",
                DependencyType::ProcessingOutput,
                "properties.Data",
            ),
            OutputSpec::new("model", DependencyType::ModelArtifacts, "properties.Model"),
        ]),
    )?;
    registry.register(
        "train",
        &StepSpecification::new("Train", NodeType::Sink).with_dependency(DependencySpec::new(
            "training_data",
            DependencyType::TrainingData,
        )),
    )?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let frozen = EdgeSnapshot::capture(&resolver, &["prep", "train"])?;
    assert!(
        frozen
            .diff(&EdgeSnapshot::recapture(&resolver, &frozen)?)
            .is_empty(),
        "nothing changed yet"
    );
    // The same producer now feeds the dependency from another output, found by its alias.
    resolver.registry().upsert(
        "prep",
        &prep(vec![
            OutputSpec::new("model", DependencyType::ModelArtifacts, "properties.Model"),
            OutputSpec::new(
                "train_split",
                DependencyType::ProcessingOutput,
                "properties.Split",
            )
            .with_aliases(["training_data"]),
        ]),
    )?;
    let diff = frozen.diff(&EdgeSnapshot::recapture(&resolver, &frozen)?);
    assert!(
        diff.changes_wiring(),
        "the gate passed a re-wiring: {diff:?}"
    );
    let [rewired] = diff.rewired.as_slice() else {
        return Err(format!("expected one re-wired edge, got {diff:?}").into());
    };
    assert_eq!(
        (
            rewired.old_producer.as_str(),
            rewired.old_output.as_str(),
            rewired.new_producer.as_str(),
            rewired.new_output.as_str()
        ),
        ("prep", "training_data", "prep", "train_split")
    );
    assert!(diff.removed.is_empty() && diff.added.is_empty(), "{diff:?}");
    Ok(())
}
