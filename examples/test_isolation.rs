//! The design's "Testing with Registry Isolation" example: a small test suite whose tests
//! each get `test_main` and `test_helper` registries from [`ScopedContext`] guards, which
//! clear their context when dropped (the design's `tearDown`), even when a test panics.
//!
//! Run: `cargo run --example test_isolation`. The database lives in a temporary directory
//! that is removed on exit.

use std::panic::{self, AssertUnwindSafe};

#[path = "support/specs.rs"]
mod specs;

use pipeline_deps::default_manager::{
    close_default_manager, registry_manager, set_default_database_path,
};
use pipeline_deps::{
    Result, ScopedContext, SpecificationRegistry, StepSpecification, get_context_stats,
    get_default_registry, get_pipeline_registry, get_registry, list_contexts,
};
use specs::design_specs;

type Outcome = std::result::Result<(), String>;

fn check(condition: bool, what: &str) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

fn failed(error: pipeline_deps::Error) -> String {
    error.to_string()
}

/// The design's `setUp`: clear leftover `test_` contexts, then take guarded registries.
/// Dropping the returned guards is its `tearDown`.
struct Fixture {
    test_registry: ScopedContext,
    helper_registry: ScopedContext,
}

impl Fixture {
    fn set_up() -> Result<Fixture> {
        let manager = registry_manager()?;
        for context in list_contexts()? {
            if context.starts_with("test_") {
                manager.clear_context(&context)?;
            }
        }
        Ok(Fixture {
            test_registry: manager.scoped_context("test_main")?,
            helper_registry: manager.scoped_context("test_helper")?,
        })
    }
}

fn test_registry_isolation(
    f: &Fixture,
    spec1: &StepSpecification,
    spec2: &StepSpecification,
) -> Outcome {
    f.test_registry.register("step1", spec1).map_err(failed)?;
    f.helper_registry.register("step2", spec2).map_err(failed)?;

    let main_steps = f.test_registry.list_step_names().map_err(failed)?;
    let helper_steps = f.helper_registry.list_step_names().map_err(failed)?;
    check(main_steps.contains(&"step1".into()), "step1 in test_main")?;
    check(
        !helper_steps.contains(&"step1".into()),
        "step1 not in test_helper",
    )?;
    check(
        helper_steps.contains(&"step2".into()),
        "step2 in test_helper",
    )?;
    check(
        !main_steps.contains(&"step2".into()),
        "step2 not in test_main",
    )
}

fn test_manager_coordination(
    f: &Fixture,
    spec1: &StepSpecification,
    spec2: &StepSpecification,
) -> Outcome {
    f.test_registry
        .register("main_step", spec1)
        .map_err(failed)?;
    f.helper_registry
        .register("helper_step", spec2)
        .map_err(failed)?;

    let stats = get_context_stats().map_err(failed)?;
    check(stats.contains_key("test_main"), "test_main in the stats")?;
    check(
        stats.contains_key("test_helper"),
        "test_helper in the stats",
    )?;
    check(stats["test_main"].step_count == 1, "test_main has 1 step")?;
    check(
        stats["test_helper"].step_count == 1,
        "test_helper has 1 step",
    )
}

fn test_cleanup_functionality(
    _: &Fixture,
    spec1: &StepSpecification,
    _: &StepSpecification,
) -> Outcome {
    let temp_registry = get_registry("test_temp").map_err(failed)?;
    temp_registry.register("temp_step", spec1).map_err(failed)?;
    check(
        list_contexts()
            .map_err(failed)?
            .contains(&"test_temp".into()),
        "test_temp exists",
    )?;

    let manager = registry_manager().map_err(failed)?;
    check(
        manager.clear_context("test_temp").map_err(failed)?,
        "clearing test_temp succeeds",
    )?;
    check(
        !list_contexts()
            .map_err(failed)?
            .contains(&"test_temp".into()),
        "test_temp is gone",
    )?;
    check(
        !manager.clear_context("nonexistent").map_err(failed)?,
        "clearing nonexistent is false",
    )
}

fn test_backward_compatible_functions(
    _: &Fixture,
    _: &StepSpecification,
    _: &StepSpecification,
) -> Outcome {
    let manager = registry_manager().map_err(failed)?;
    let pipeline_registry = manager.scoped_context("test_pipeline").map_err(failed)?;
    let default_registry: SpecificationRegistry = get_default_registry().map_err(failed)?;
    check(
        get_pipeline_registry("test_pipeline").map_err(failed)? == *pipeline_registry,
        "get_pipeline_registry is get_registry",
    )?;
    check(
        get_registry("default").map_err(failed)? == default_registry,
        "get_default_registry is get_registry(\"default\")",
    )?;
    manager.clear_context("default").map_err(failed)?;
    Ok(())
}

fn test_guard_clears_even_when_a_test_panics(
    _: &Fixture,
    spec1: &StepSpecification,
    _: &StepSpecification,
) -> Outcome {
    let manager = registry_manager().map_err(failed)?;
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| -> Result<()> {
        let scratch = manager.scoped_context("test_panicking")?;
        scratch.register("doomed", spec1)?;
        panic!("a failing assertion in a test");
    }));
    panic::set_hook(quiet);
    check(result.is_err(), "the test panicked")?;
    check(
        !list_contexts()
            .map_err(failed)?
            .contains(&"test_panicking".into()),
        "its context was cleared during unwinding",
    )
}

type Test = fn(&Fixture, &StepSpecification, &StepSpecification) -> Outcome;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    set_default_database_path(dir.path().join("registry.redb"))?;
    let specs = design_specs(None)?;
    let (spec1, spec2) = (&specs[5].1, &specs[6].1);

    // A production context that the suite must leave alone.
    get_registry("fraud_detection_training")?.register("model_training", &specs[2].1)?;

    let tests: [(&str, Test); 5] = [
        ("test_registry_isolation", test_registry_isolation),
        ("test_manager_coordination", test_manager_coordination),
        ("test_cleanup_functionality", test_cleanup_functionality),
        (
            "test_backward_compatible_functions",
            test_backward_compatible_functions,
        ),
        (
            "test_guard_clears_even_when_a_test_panics",
            test_guard_clears_even_when_a_test_panics,
        ),
    ];
    let mut failures = 0;
    for (name, test) in tests {
        let fixture = Fixture::set_up()?;
        let outcome = test(&fixture, spec1, spec2);
        drop(fixture); // tearDown: the guards clear test_main and test_helper
        match outcome {
            Ok(()) => println!("{name} ... ok"),
            Err(why) => {
                failures += 1;
                println!("{name} ... FAILED: {why}");
            }
        }
    }
    println!("Contexts after the suite: {:?}", list_contexts()?);
    // Closes the file cleanly (a static is never dropped).
    close_default_manager();
    if failures > 0 {
        return Err(format!("{failures} of {} isolation checks failed", tests.len()).into());
    }
    println!("All {} isolation checks passed", tests.len());
    Ok(())
}
