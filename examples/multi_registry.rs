//! The design's "Basic Multi-Registry Management" example: three isolated contexts in one
//! database, filled with real step specifications, then listed and monitored through the
//! process-wide default manager and its free functions.
//!
//! Run: `cargo run --example multi_registry`. The database lives in a temporary directory
//! that is removed on exit.

#[path = "support/specs.rs"]
mod specs;

use pipeline_deps::default_manager::set_default_database_path;
use pipeline_deps::{StepSpecification, get_context_stats, get_registry, list_contexts};
use specs::design_specs;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    set_default_database_path(dir.path().join("registry.redb"))?;

    // Real specifications (cursus), under the names the design gives its placeholders.
    let specs = design_specs(None)?;
    let spec = |step: &str| -> Result<&StepSpecification, String> {
        specs
            .iter()
            .find(|(demo, _)| demo.step_name == step)
            .map(|(_, spec)| spec)
            .ok_or_else(|| format!("no design spec for {step}"))
    };

    // Create registries for different purposes.
    let training_registry = get_registry("fraud_detection_training")?;
    let inference_registry = get_registry("fraud_detection_inference")?;
    let testing_registry = get_registry("unit_tests")?;

    // Register different specifications in each.
    training_registry.register("data_loading", spec("data_loading")?)?;
    training_registry.register("feature_engineering", spec("feature_engineering")?)?;
    training_registry.register("model_training", spec("model_training")?)?;

    inference_registry.register("model_loading", spec("model_loading")?)?;
    inference_registry.register("batch_transform", spec("batch_transform")?)?;

    testing_registry.register("mock_data_source", spec("mock_data_source")?)?;
    testing_registry.register("test_processor", spec("test_processor")?)?;

    // Monitor all registries.
    let contexts = list_contexts()?;
    println!("Active contexts: {contexts:?}");

    for (context, info) in get_context_stats()? {
        println!(
            "{context}: {} steps, {} types",
            info.step_count, info.step_type_count
        );
    }

    // Each registry is isolated: the same step name means nothing in another context.
    println!(
        "data_loading in fraud_detection_inference: {}",
        inference_registry.contains("data_loading")?
    );
    Ok(())
}
