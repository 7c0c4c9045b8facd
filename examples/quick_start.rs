//! The README's quick start as a program of your own: a registry, two real-looking steps,
//! the context statistics, and the resolver wiring them, with `?` throughout in a `main`
//! that returns `pipeline_deps::Result`.
//!
//! Run: `cargo run --example quick_start`. It uses a temporary database file (removed on
//! exit); put `RegistryManager::open("registry.redb")?` in its place to keep one.

use pipeline_deps::{
    DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
    StepSpecification, UnifiedDependencyResolver,
};

fn main() -> pipeline_deps::Result<()> {
    let manager = RegistryManager::temporary()?; // or RegistryManager::open("registry.redb")?
    let training = manager.get_registry("fraud_detection_training")?;
    training.register(
        "preprocessing",
        &StepSpecification::new("TabularPreprocessing", NodeType::Internal)
            .with_dependency(DependencySpec::new(
                "DATA",
                DependencyType::ProcessingOutput,
            ))
            .with_output(OutputSpec::new(
                "processed_data",
                DependencyType::ProcessingOutput,
                "properties.ProcessingOutputConfig.Outputs['processed_data'].S3Output.S3Uri",
            )),
    )?;
    training.register(
        "model_training",
        &StepSpecification::new("XGBoostTraining", NodeType::Internal)
            .with_dependency(
                DependencySpec::new("input_path", DependencyType::TrainingData)
                    .with_compatible_sources(["TabularPreprocessing"]),
            )
            .with_output(OutputSpec::new(
                "model_output",
                DependencyType::ModelArtifacts,
                "properties.ModelArtifacts.S3ModelArtifacts",
            )),
    )?;
    for (context, stats) in manager.get_context_stats()? {
        println!(
            "{context}: {} steps, {} types",
            stats.step_count, stats.step_type_count
        );
    }

    // Which output feeds each dependency?
    let resolver = UnifiedDependencyResolver::new(training, SemanticMatcher::default());
    let inputs = resolver.resolve_step_dependencies("model_training", &["preprocessing"])?;
    let input = &inputs["input_path"];
    println!("model_training.input_path <- {input}");
    println!("as a SageMaker property: {}", input.to_sagemaker_property());

    // The whole pipeline at once; `preprocessing` needs DATA, which nothing produces.
    let pipeline = resolver.resolve_all_dependencies(&["preprocessing", "model_training"])?;
    for (consumer, dependency, output) in pipeline.edges() {
        println!("{consumer}.{dependency} <- {output}");
    }
    for failure in &pipeline.unresolved {
        println!("unresolved: {failure}");
    }
    Ok(())
}
