//! The main job: builds the design's three example contexts from real specifications in a
//! database file, closes it, reopens it and prints what survived.
//!
//! Run: `cargo run --example main_job` (the cursus specs embedded in the example), or
//! `cargo run --example main_job -- FILE` to read another document in the cursus fixture
//! format. The database lives in a temporary directory that is removed on exit.

#[path = "support/specs.rs"]
mod specs;

use pipeline_deps::RegistryManager;
use specs::{DESIGN_CONTEXTS, build_design_contexts};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixture = std::env::args_os()
        .nth(1)
        .map(std::fs::read_to_string)
        .transpose()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");

    {
        let manager = RegistryManager::open(&path)?;
        let steps = build_design_contexts(&manager, fixture.as_deref())?;
        let source = match fixture {
            None => "the embedded cursus specifications",
            Some(_) => "the given fixture",
        };
        println!(
            "Built {} contexts with {steps} steps from {source}",
            DESIGN_CONTEXTS.len()
        );
    } // the manager is dropped: the file is closed, as after a restart

    let manager = RegistryManager::open(&path)?;
    println!(
        "Reopened {}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    println!("Active contexts: {:?}", manager.list_contexts()?);
    for (context, info) in manager.get_context_stats()? {
        println!(
            "{context}: {} steps, {} types",
            info.step_count, info.step_type_count
        );
        for (step, spec) in manager.get_registry(&context)?.iter()? {
            println!("  {step}: {}", spec.step_type);
        }
    }
    println!("Database size: {} bytes", std::fs::metadata(&path)?.len());
    Ok(())
}
