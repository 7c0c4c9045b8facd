//! Invariant: `SpecificationRegistry::step_names_by_type`, read from the step-type index
//! alone, equals grouping `iter()` by step type (types in the order of their first step in
//! registration order, names in registration order) after any history of registrations,
//! upserts that change a step's type, removals, batches and clears, on a file and on
//! PostgreSQL. That order is not the index's first-seen order (`list_step_types`), which
//! these histories make differ.

#[cfg(feature = "postgres")]
#[path = "support/pg_cluster.rs"]
mod pg_cluster;
#[path = "support/type_history.rs"]
mod type_history;

use pipeline_deps::{Error, RegistryManager, SpecificationRegistry, StepSpecification};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use type_history::{Draw, Op, op, spec};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Step names and step types the histories draw from (few, so that they collide).
const DRAW: Draw = Draw {
    names: 10,
    types: 6,
    writes: 4,
    removals: 3,
    batch: 6,
};

fn name(step: u8) -> String {
    format!("step{step}")
}

/// Applies `op`; a refused registration of a taken name changes nothing and is fine.
fn apply(registry: &SpecificationRegistry, op: &Op) -> pipeline_deps::Result<()> {
    // A batch names each step once (a repeated name is invalid input): the first one stays.
    let batch = |items: &[(u8, u8)]| -> Vec<(String, StepSpecification)> {
        let mut seen = std::collections::HashSet::new();
        items
            .iter()
            .filter(|(s, _)| seen.insert(*s))
            .map(|&(s, t)| (name(s), spec(t)))
            .collect()
    };
    let result = match op {
        Op::Register(s, t) => registry.register(&name(*s), &spec(*t)),
        Op::Upsert(s, t) => registry.upsert(&name(*s), &spec(*t)),
        Op::Unregister(s) => registry.unregister(&name(*s)).map(drop),
        Op::RegisterMany(items) => registry.register_many(batch(items)).map(drop),
        Op::UpsertMany(items) => registry.upsert_many(batch(items)).map(drop),
        Op::Clear => registry.clear(),
    };
    match result {
        Err(Error::AlreadyRegistered { .. }) => Ok(()),
        other => other,
    }
}

/// Grouping `iter()` by step type: what `types CONTEXT` printed before the index listing.
fn grouped_from_iter(registry: &SpecificationRegistry) -> TestResult<Vec<(String, Vec<String>)>> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (step, spec) in registry.iter()? {
        match groups.iter_mut().find(|(t, _)| *t == spec.step_type) {
            Some((_, names)) => names.push(step),
            None => groups.push((spec.step_type.clone(), vec![step])),
        }
    }
    Ok(groups)
}

/// Runs each history in a fresh context of `manager`, comparing after every operation;
/// returns how many histories ended with an index type order unlike the iteration order.
fn check_histories(manager: &RegistryManager, cases: u32) -> TestResult<u32> {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let counter = std::cell::Cell::new(0_u32);
    let differing = std::cell::Cell::new(0_u32);
    runner
        .run(&prop::collection::vec(op(DRAW), 1..24), |history| {
            let check = || -> TestResult {
                counter.set(counter.get() + 1);
                let registry = manager.get_registry(&format!("h{}", counter.get()))?;
                for (at, op) in history.iter().enumerate() {
                    apply(&registry, op)?;
                    let listed = registry.step_names_by_type()?;
                    let expected = grouped_from_iter(&registry)?;
                    if listed != expected {
                        return Err(format!(
                            "after op {at} ({op:?}): step_names_by_type {listed:?}, \
                             grouped iter {expected:?}"
                        )
                        .into());
                    }
                }
                let first_seen = registry.list_step_types()?;
                let listed: Vec<String> = registry
                    .step_names_by_type()?
                    .into_iter()
                    .map(|(t, _)| t)
                    .collect();
                if first_seen != listed {
                    differing.set(differing.get() + 1);
                }
                manager.clear_context(registry.context_name())?;
                Ok(())
            };
            check().map_err(|e| TestCaseError::fail(e.to_string()))
        })
        .map_err(|e| e.to_string())?;
    Ok(differing.get())
}

#[test]
fn names_by_type_equal_grouped_iteration_on_a_file() -> TestResult {
    let manager = RegistryManager::temporary()?;
    let differing = check_histories(&manager, 256)?;
    // The histories do reach states where first-seen order is not the right one.
    assert!(differing > 0, "no history made the two type orders differ");
    Ok(())
}

#[cfg(feature = "postgres")]
#[test]
fn names_by_type_equal_grouped_iteration_on_postgres() -> TestResult {
    let Some(url) = pg_cluster::database("type_members")? else {
        return Ok(());
    };
    let manager = RegistryManager::connect(&url)?;
    let differing = check_histories(&manager, 48)?;
    assert!(differing > 0, "no history made the two type orders differ");
    Ok(())
}

/// The cases behind the choice of order, spelled out: a type keeps its first-seen place
/// after the step that brought it goes or moves, but the listing follows the steps.
#[test]
fn the_listing_follows_the_steps_not_the_first_seen_order() -> TestResult {
    let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    registry.register("a", &spec(0))?;
    registry.register("b", &spec(1))?;
    registry.register("c", &spec(0))?;
    registry.unregister("a")?;
    let owned = |t: &str, names: &[&str]| -> (String, Vec<String>) {
        (
            t.to_owned(),
            names.iter().map(|n| (*n).to_owned()).collect(),
        )
    };
    assert_eq!(registry.list_step_types()?, ["Type0", "Type1"]);
    assert_eq!(
        registry.step_names_by_type()?,
        [owned("Type1", &["b"]), owned("Type0", &["c"])]
    );
    // A step moved to a new type keeps its place, and so brings its new type forward.
    registry.upsert("b", &spec(2))?;
    assert_eq!(registry.list_step_types()?, ["Type0", "Type2"]);
    assert_eq!(
        registry.step_names_by_type()?,
        [owned("Type2", &["b"]), owned("Type0", &["c"])]
    );
    assert_eq!(
        registry.step_names_by_type()?,
        grouped_from_iter(&registry)?
    );
    registry.clear()?;
    assert!(registry.step_names_by_type()?.is_empty());
    Ok(())
}
