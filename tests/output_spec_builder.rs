//! Invariant: an `OutputSpec` can be built with everything a `DependencySpec` builder sets
//! that an output has (name, type, property path, data type, keywords, plus its aliases),
//! and what the builder sets is what the registry stores and exports.

mod common;

use common::TestResult;
use pipeline_deps::{DependencyType, NodeType, OutputSpec, RegistryManager, StepSpecification};

#[test]
fn an_output_built_with_keywords_is_stored_and_exported_as_built() -> TestResult {
    let output = OutputSpec::new(
        "metrics",
        DependencyType::ProcessingOutput,
        "properties.ProcessingOutputConfig.Outputs['metrics'].S3Output.S3Uri",
    )
    .with_aliases(["evaluation_metrics"])
    .with_keywords(["evaluation", "metrics"])
    .with_data_type("String");
    assert_eq!(output.semantic_keywords, ["evaluation", "metrics"]);
    assert_eq!(output.aliases, ["evaluation_metrics"]);
    assert_eq!(output.data_type, "String");
    let spec = StepSpecification::new("Eval", NodeType::Source).with_output(output.clone());

    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("ml")?;
    registry.register("eval", &spec)?;
    let stored = registry.get_specification("eval")?.ok_or("not stored")?;
    assert_eq!(stored.outputs.get("metrics"), Some(&output));

    let copy = manager.get_registry("copy")?;
    copy.import_json(&registry.export_json()?)?;
    assert_eq!(copy.get_specification("eval")?.as_deref(), Some(&spec));
    Ok(())
}
