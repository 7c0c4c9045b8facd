//! The design's "Intelligent Registry Lifecycle" example: contexts are created on demand,
//! looked up without creating (`get_registry_if_exists`), cleared one by one
//! (`clear_context`) or all at once (`clear_all_contexts`), and everything not cleared
//! survives closing and reopening the database.
//!
//! Run: `cargo run --example lifecycle`. The database lives in a temporary directory that
//! is removed on exit.

#[path = "support/specs.rs"]
mod specs;

use pipeline_deps::RegistryManager;
use specs::design_specs;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let specs = design_specs(None)?;

    {
        let registry_manager = RegistryManager::open(&path)?;

        // Registries are created on demand.
        let pipeline_registry = registry_manager.get_registry("new_pipeline")?; // creates it
        let existing_registry = registry_manager.get_registry("new_pipeline")?; // the same one
        println!(
            "Same registry returned: {}",
            pipeline_registry == existing_registry
        );

        // Optional creation control: look up without creating.
        let maybe_registry = registry_manager.get_registry_if_exists("nonexistent")?;
        println!("get_registry_if_exists(\"nonexistent\"): {maybe_registry:?}");

        for (step, spec) in &specs {
            pipeline_registry.register(step.step_name, spec)?;
        }
        let old_pipeline = registry_manager.get_registry("old_pipeline")?;
        old_pipeline.register("data_loading", &specs[0].1)?;
        println!("Contexts: {:?}", registry_manager.list_contexts()?);
    } // the manager is dropped: the database is closed, as after a restart

    let registry_manager = RegistryManager::open(&path)?;
    let pipeline_registry = registry_manager.get_registry("new_pipeline")?;
    println!(
        "After reopening: {:?}, new_pipeline has {} steps",
        registry_manager.list_contexts()?,
        pipeline_registry.len()?
    );

    // Cleanup when no longer needed.
    let old_pipeline = registry_manager.get_registry("old_pipeline")?;
    let success = registry_manager.clear_context("old_pipeline")?;
    println!("Cleanup successful: {success}");
    if let Err(error) = old_pipeline.len() {
        println!("A handle taken before the clear: {error}");
    }
    let again = registry_manager.clear_context("old_pipeline")?;
    println!("Cleanup of a context that no longer exists: {again}");
    let fresh = registry_manager.get_registry("old_pipeline")?;
    println!("old_pipeline created again is empty: {}", fresh.is_empty()?);

    // Bulk cleanup.
    let cleared = registry_manager.clear_all_contexts()?;
    println!("Cleared {cleared} contexts");
    println!(
        "Remaining contexts: {}",
        registry_manager.list_contexts()?.len()
    );
    Ok(())
}
