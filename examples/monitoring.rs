//! The design's "Production Monitoring and Management" example: a usage report over every
//! context (from the catalog, without scanning specifications), then the cleanup of
//! `test_` and `temp_` contexts.
//!
//! Run: `cargo run --example monitoring`. The database lives in a temporary directory that
//! is removed on exit.

#[path = "support/specs.rs"]
mod specs;

use pipeline_deps::default_manager::{
    close_default_manager, registry_manager, set_default_database_path,
};
use pipeline_deps::{Result, clear_context, get_context_stats, get_registry, list_contexts};
use specs::{build_design_contexts, design_specs};

/// Monitor registry usage across the application.
fn monitor_registry_usage() -> Result<()> {
    let stats = get_context_stats()?;

    println!("Registry Usage Report");
    println!("{}", "=".repeat(50));

    let total_contexts = stats.len();
    let total_steps: usize = stats.values().map(|info| info.step_count).sum();
    let total_types: usize = stats.values().map(|info| info.step_type_count).sum();

    println!("Total Contexts: {total_contexts}");
    println!("Total Steps: {total_steps}");
    println!("Total Step Types: {total_types}");
    println!();

    for (context_name, info) in &stats {
        println!("Context: {context_name}");
        println!("  Steps: {}", info.step_count);
        println!("  Types: {}", info.step_type_count);
        println!("  Registry Type: {}", info.registry_type);
        println!();
    }
    Ok(())
}

/// Clean up test and temporary contexts. (The design's version takes a maximum age; the
/// catalog keeps no creation time, so, as in the design's demo, the prefix decides.)
fn cleanup_old_contexts() -> Result<usize> {
    let mut cleaned = 0;
    for context in list_contexts()? {
        if (context.starts_with("test_") || context.starts_with("temp_"))
            && clear_context(&context)?
        {
            cleaned += 1;
            println!("Cleaned up context: {context}");
        }
    }
    println!("Cleaned up {cleaned} old contexts");
    Ok(cleaned)
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    set_default_database_path(dir.path().join("registry.redb"))?;

    // An application's contexts: the design's three, plus leftovers of tests and scratch work.
    build_design_contexts(&registry_manager()?, None)?;
    let specs = design_specs(None)?;
    for (context, count) in [("test_main", 2), ("test_helper", 1), ("temp_scratch", 3)] {
        let registry = get_registry(context)?;
        for (step, spec) in specs.iter().take(count) {
            registry.register(step.step_name, spec)?;
        }
    }

    // Run monitoring.
    monitor_registry_usage()?;

    // Periodic cleanup (in a real application, this might be scheduled).
    cleanup_old_contexts()?;
    println!("Remaining contexts: {:?}", list_contexts()?);
    // Closes the file cleanly (a static is never dropped).
    close_default_manager();
    Ok(())
}
