//! Invariant: an `upsert` (or an `upsert_many`) of exactly the specs the steps hold already
//! changes nothing and commits nothing: the revision, the counters, the names and the specs
//! stay as they are, and a file sees no write and no fsync; a handle of a cleared context
//! is still refused; an upsert that changes any one step is written whole, with a new
//! revision. Runs on a file or, with `PIPELINE_DEPS_TEST_BACKEND=postgres`, on PostgreSQL.

mod common;
mod support;

use common::{TestResult, manager, source, spec};
use pipeline_deps::{Error, RegistryManager, StepSpecification};
use proptest::prelude::*;
use support::fault_backend::Disk;

fn state(
    manager: &RegistryManager,
    registry: &pipeline_deps::SpecificationRegistry,
) -> TestResult<(u64, pipeline_deps::ContextStats, Vec<String>, Vec<String>)> {
    let stats = manager.get_context_stats()?[registry.context_name()].clone();
    Ok((
        registry.revision()?,
        stats,
        registry.list_step_names()?,
        registry.list_step_types()?,
    ))
}

#[test]
fn an_upsert_of_the_stored_spec_keeps_the_revision_and_the_counters() -> TestResult {
    let manager = manager()?;
    let registry = manager.get_registry("ctx")?;
    registry.register_many([
        ("a", spec("A")),
        ("b", source("B", "out")),
        ("c", spec("A")),
    ])?;
    let before = state(&manager, &registry)?;

    registry.upsert("a", &spec("A"))?;
    registry.upsert("b", &source("B", "out"))?;
    assert_eq!(
        registry.upsert_many([
            ("c", spec("A")),
            ("a", spec("A")),
            ("b", source("B", "out"))
        ])?,
        3
    );
    assert_eq!(
        state(&manager, &registry)?,
        before,
        "an identical upsert wrote"
    );
    assert_eq!(
        registry.get_specification("b")?.as_deref(),
        Some(&source("B", "out"))
    );

    // A different spec under a taken name, alone or among identical ones, is written.
    registry.upsert("a", &source("A", "changed"))?;
    let after_one = state(&manager, &registry)?;
    assert!(
        after_one.0 > before.0,
        "a changing upsert kept the revision"
    );
    registry.upsert_many([("a", source("A", "changed")), ("c", spec("C"))])?;
    let after_many = state(&manager, &registry)?;
    assert!(
        after_many.0 > after_one.0,
        "a changing batch kept the revision"
    );
    assert_eq!(after_many.3, ["A", "B", "C"]);
    assert_eq!(
        registry.get_specification("c")?.as_deref(),
        Some(&spec("C"))
    );
    // A new name among identical ones is inserted.
    registry.upsert_many([("a", source("A", "changed")), ("d", spec("D"))])?;
    assert_eq!(registry.list_step_names()?, ["a", "b", "c", "d"]);
    assert!(registry.revision()? > after_many.0);
    Ok(())
}

#[test]
fn an_identical_upsert_through_a_cleared_handle_is_refused() -> TestResult {
    let manager = manager()?;
    let stale = manager.get_registry("ctx")?;
    stale.register("a", &spec("A"))?;
    manager.clear_context("ctx")?;
    manager.get_registry("ctx")?.register("a", &spec("A"))?;
    for attempt in [
        stale.upsert("a", &spec("A")),
        stale.upsert_many([("a", spec("A"))]).map(drop),
    ] {
        assert!(
            matches!(attempt, Err(Error::ContextCleared { .. })),
            "{attempt:?}"
        );
    }
    Ok(())
}

#[test]
fn an_identical_upsert_does_not_touch_the_disk() -> TestResult {
    let disk = Disk::new();
    let manager = RegistryManager::builder().with_backend(disk.backend(), "counted")?;
    let registry = manager.get_registry("ctx")?;
    registry.register_many([("a", spec("A")), ("b", spec("B"))])?;
    let before = disk.counts();
    registry.upsert("a", &spec("A"))?;
    registry.upsert_many([("b", spec("B")), ("a", spec("A"))])?;
    let after = disk.counts();
    assert_eq!(
        (after.writes, after.syncs),
        (before.writes, before.syncs),
        "an identical upsert wrote to the disk"
    );
    registry.upsert("a", &spec("B"))?;
    assert!(disk.counts().syncs > after.syncs, "the counts miss a write");
    Ok(())
}

/// One of a few specs, so that a generated upsert often repeats what is stored.
fn variant(n: u8) -> StepSpecification {
    match n % 4 {
        0 => spec("A"),
        1 => source("A", "other"),
        2 => spec("B"),
        _ => source("B", "out"),
    }
}

/// Over any sequence of upserts, the revision changes exactly when a step's stored spec
/// changes, and the registry holds what a map of the upserts holds (one manager, a context
/// per case).
#[test]
fn the_revision_moves_exactly_when_an_upsert_changes_a_spec() -> TestResult {
    let manager = manager()?;
    let case = std::cell::Cell::new(0u32);
    let writes =
        proptest::collection::vec(proptest::collection::btree_map(0u8..3, 0u8..4, 1..3), 1..8);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&writes, |writes| {
            case.set(case.get() + 1);
            upserts_move_the_revision_when_they_change(&manager, case.get(), &writes)
                .map_err(|e| TestCaseError::fail(e.to_string()))
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn upserts_move_the_revision_when_they_change(
    manager: &RegistryManager,
    case: u32,
    writes: &[std::collections::BTreeMap<u8, u8>],
) -> TestResult {
    let registry = manager.get_registry(&format!("case{case}"))?;
    let mut model = std::collections::BTreeMap::new();
    for batch in writes {
        let revision = registry.revision()?;
        let items: Vec<(String, StepSpecification)> = batch
            .iter()
            .map(|(step, n)| (format!("s{step}"), variant(*n)))
            .collect();
        let changes = items
            .iter()
            .any(|(step, spec)| model.get(step) != Some(spec));
        if let [(step, spec)] = &items[..] {
            registry.upsert(step, spec)?;
        } else {
            registry.upsert_many(items.clone())?;
        }
        model.extend(items);
        let moved = registry.revision()? != revision;
        if moved != changes {
            return Err(format!("changes {changes}, revision moved {moved}: {batch:?}").into());
        }
    }
    for (step, spec) in &model {
        if registry.get_specification(step)?.as_deref() != Some(spec) {
            return Err(format!("{step} does not hold its last upsert").into());
        }
    }
    Ok(())
}

#[test]
fn a_replacing_import_of_the_stored_steps_commits_nothing() -> TestResult {
    let disk = Disk::new();
    let manager = RegistryManager::builder().with_backend(disk.backend(), "counted")?;
    let steps = vec![
        ("a".to_owned(), spec("A")),
        ("b".to_owned(), source("B", "out")),
    ];
    manager.import_steps("ctx", &steps, false)?;
    let registry = manager.get_registry("ctx")?;
    let before = (state(&manager, &registry)?, disk.counts());

    let summary = manager.import_steps("ctx", &steps, true)?;
    assert_eq!(
        (
            summary.new,
            summary.replaced,
            summary.step_count,
            summary.written
        ),
        (0, 2, 2, false)
    );
    let after = (state(&manager, &registry)?, disk.counts());
    assert_eq!(after.0, before.0, "an identical import changed the context");
    assert_eq!(
        (after.1.writes, after.1.syncs),
        (before.1.writes, before.1.syncs),
        "an identical import wrote to the disk"
    );

    // One step that differs, and the import is written whole, with a new revision.
    let changed = vec![("a".to_owned(), spec("A")), ("b".to_owned(), spec("B"))];
    manager.import_steps("ctx", &changed, true)?;
    assert!(
        disk.counts().syncs > after.1.syncs,
        "the counts miss a write"
    );
    assert!(registry.revision()? > before.0.0);
    assert_eq!(
        registry.get_specification("b")?.as_deref(),
        Some(&spec("B"))
    );
    Ok(())
}

/// A replacing import that differs from what is stored only in the order of a spec's
/// outputs is a change: written, with a new revision, and read back in the new order.
#[test]
fn a_replacing_import_that_only_reorders_a_spec_is_written() -> TestResult {
    use pipeline_deps::{DependencyType, OutputSpec};
    let manager = manager()?;
    let output = |name: &str| {
        OutputSpec::new(
            name,
            DependencyType::ProcessingOutput,
            format!("properties.{name}"),
        )
    };
    let first = StepSpecification::new("S", pipeline_deps::NodeType::Source)
        .with_output(output("x"))
        .with_output(output("y"));
    let reordered = StepSpecification::new("S", pipeline_deps::NodeType::Source)
        .with_output(output("y"))
        .with_output(output("x"));
    manager.import_steps("ctx", &[("s".to_owned(), first)], false)?;
    let registry = manager.get_registry("ctx")?;
    let revision = registry.revision()?;
    let summary = manager.import_steps("ctx", &[("s".to_owned(), reordered)], true)?;
    assert!(summary.written, "{summary:?}");
    assert!(registry.revision()? > revision);
    let stored = registry.get_specification("s")?.ok_or("step s is gone")?;
    let order: Vec<&str> = stored.outputs.keys().map(String::as_str).collect();
    assert_eq!(order, ["y", "x"]);
    Ok(())
}
