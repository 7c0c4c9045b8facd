//! Shared helpers for the core API tests: small specs and the real fixture.
#![allow(dead_code)]

use pipeline_deps::{
    DependencySpec, DependencyType, ImportOptions, NodeType, OutputSpec, StepSpecification,
};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

/// The 61 real step specifications, in fixture order, as (step name, spec).
pub fn real_specs() -> TestResult<Vec<(String, StepSpecification)>> {
    let text = std::fs::read_to_string(FIXTURE)?;
    Ok(pipeline_deps::transfer::parse_steps_json(
        &text,
        &ImportOptions::default(),
    )?)
}

/// A small valid spec of `step_type` with one dependency and one output.
pub fn spec(step_type: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Internal)
        .with_dependency(
            DependencySpec::new("input_data", DependencyType::ProcessingOutput)
                .with_keywords(["data"]),
        )
        .with_output(
            OutputSpec::new(
                "processed_data",
                DependencyType::ProcessingOutput,
                "properties.ProcessingOutputConfig.Outputs['processed_data'].S3Output.S3Uri",
            )
            .with_aliases(["training_data"]),
        )
}

/// A source spec of `step_type` producing `output`.
pub fn source(step_type: &str, output: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Source).with_output(OutputSpec::new(
        output,
        DependencyType::ProcessingOutput,
        format!("properties.{output}"),
    ))
}
