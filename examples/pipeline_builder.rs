//! The design's "Advanced Pipeline Builder Integration" example: a builder per environment,
//! each given the registry of context `"{pipeline_name}_{environment}"` by [`WithRegistry`]
//! (the design's `@integrate_with_pipeline_builder` decorator), so that the `dev` and
//! `prod` pipelines never see each other's specifications.
//!
//! Run: `cargo run --example pipeline_builder`. The database lives in a temporary directory
//! that is removed on exit.

#[path = "support/specs.rs"]
mod specs;

use pipeline_deps::default_manager::{
    close_default_manager, registry_manager, set_default_database_path,
};
use pipeline_deps::pipeline::{PipelineConfig, WithRegistry, integrate_with_pipeline_builder};
use pipeline_deps::{ContextStats, Result, StepSpecification, get_context_stats, list_contexts};
use specs::design_specs;

/// The builder's configuration.
#[derive(Clone)]
struct Config {
    pipeline_name: String,
    environment: String,
}

impl PipelineConfig for Config {
    fn pipeline_name(&self) -> Option<&str> {
        Some(&self.pipeline_name)
    }

    fn environment(&self) -> Option<&str> {
        Some(&self.environment)
    }
}

/// The environment's specifications: what the design calls `DEV_DATA_LOADING_SPEC`,
/// `PROD_DATA_LOADING_SPEC` and so on, here real cursus specs.
struct Specs {
    dev_data_loading: StepSpecification,
    prod_data_loading: StepSpecification,
    training: StepSpecification,
}

struct MultiEnvironmentPipelineBuilder {
    base_config: Config,
    environment: String,
}

impl MultiEnvironmentPipelineBuilder {
    fn new(config: Config) -> Self {
        MultiEnvironmentPipelineBuilder {
            environment: config.environment.clone(),
            base_config: config,
        }
    }
}

/// What the builder does with the registry it was given.
trait EnvironmentPipeline {
    /// Registers the environment's specifications and returns the pipeline's steps.
    fn build_training_pipeline(&self, specs: &Specs) -> Result<Vec<String>>;
    /// Statistics of this environment's context.
    fn get_environment_stats(&self) -> Result<Option<ContextStats>>;
}

impl EnvironmentPipeline for WithRegistry<MultiEnvironmentPipelineBuilder> {
    fn build_training_pipeline(&self, specs: &Specs) -> Result<Vec<String>> {
        // Register environment-specific specifications.
        match self.environment.as_str() {
            "dev" => {
                self.registry()
                    .register("data_loading", &specs.dev_data_loading)?;
                self.registry().register("training", &specs.training)?;
            }
            "prod" => {
                self.registry()
                    .register("data_loading", &specs.prod_data_loading)?;
                self.registry().register("training", &specs.training)?;
            }
            _ => {}
        }
        // Build the pipeline from the environment-specific registry.
        self.registry().list_step_names()
    }

    fn get_environment_stats(&self) -> Result<Option<ContextStats>> {
        let context_name = self.base_config.context_name();
        Ok(get_context_stats()?.swap_remove(&context_name))
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    set_default_database_path(dir.path().join("registry.redb"))?;

    let demo = design_specs(None)?;
    let spec = |step: &str| -> std::result::Result<StepSpecification, String> {
        demo.iter()
            .find(|(d, _)| d.step_name == step)
            .map(|(_, spec)| spec.clone())
            .ok_or_else(|| format!("no design spec for {step}"))
    };
    let specs = Specs {
        dev_data_loading: spec("mock_data_source")?,
        prod_data_loading: spec("data_loading")?,
        training: spec("model_training")?,
    };

    // Create builders for different environments.
    let dev_config = Config {
        pipeline_name: "fraud_detection".into(),
        environment: "dev".into(),
    };
    let prod_config = Config {
        pipeline_name: "fraud_detection".into(),
        environment: "prod".into(),
    };

    let manager = registry_manager()?;
    let dev_builder = WithRegistry::new(
        &manager,
        &dev_config,
        MultiEnvironmentPipelineBuilder::new(dev_config.clone()),
    )?;
    let prod_builder = WithRegistry::new(
        &manager,
        &prod_config,
        MultiEnvironmentPipelineBuilder::new(prod_config.clone()),
    )?;
    println!(
        "Dev registry context: {}",
        dev_builder.registry().context_name()
    );
    println!(
        "Prod registry context: {}",
        prod_builder.registry().context_name()
    );

    // Each builder gets its own isolated registry.
    let dev_pipeline = dev_builder.build_training_pipeline(&specs)?;
    let prod_pipeline = prod_builder.build_training_pipeline(&specs)?;
    println!("Dev pipeline steps: {dev_pipeline:?}");
    println!("Prod pipeline steps: {prod_pipeline:?}");

    // Registries are completely isolated.
    for (label, builder) in [("Dev", &dev_builder), ("Prod", &prod_builder)] {
        let stats = builder.get_environment_stats()?;
        println!("{label} environment: {}", serde_json::to_string(&stats)?);
        let loading = builder.registry().get_specification("data_loading")?;
        println!(
            "{label} data_loading step type: {}",
            loading.map_or_else(|| "<none>".to_owned(), |s| s.step_type.clone())
        );
    }

    // The free function gives the same registry as the wrapper.
    let same =
        integrate_with_pipeline_builder(&dev_builder.base_config)? == *dev_builder.registry();
    println!("integrate_with_pipeline_builder gives the same registry: {same}");
    println!("Contexts: {:?}", list_contexts()?);
    // Closes the file cleanly (a static is never dropped).
    close_default_manager();
    Ok(())
}
