//! Invariant: a write that changes nothing (an unregister of a step that is not registered,
//! a batch or an import of no steps, clearing an empty or a missing context) commits
//! nothing: the disk sees no write and no fsync, and every revision stays as it was; a stale
//! handle is still refused; and such a write inside a group-committed batch neither breaks
//! the batch nor makes a batch of its own commit.

mod common;
mod support;

use std::time::Duration;

use common::spec;
use pipeline_deps::{Error, RegistryManager, StepSpecification};
use support::fault_backend::Disk;
use support::gated::Gated;
use support::{TestResult, bounded};

fn no_steps() -> Vec<(String, StepSpecification)> {
    Vec::new()
}

#[test]
fn writes_that_change_nothing_commit_nothing_and_keep_the_revision() -> TestResult {
    let disk = Disk::new();
    let manager = RegistryManager::builder().with_backend(disk.backend(), "counted")?;
    let registry = manager.get_registry("ctx")?;
    registry.register("a", &spec("A"))?;
    let empty = manager.get_registry("empty")?;
    let doomed = manager.get_registry("doomed")?;
    manager.clear_context("doomed")?;
    let (revision, empty_revision) = (registry.revision()?, empty.revision()?);
    let before = disk.counts();

    assert!(!registry.unregister("absent")?);
    assert!(
        !registry.unregister("a\0b")?,
        "a name that cannot be stored"
    );
    assert_eq!(registry.register_many(no_steps())?, 0);
    assert_eq!(registry.upsert_many(no_steps())?, 0);
    assert_eq!(registry.import_json(r#"{"steps": []}"#)?, 0);
    let summary = manager.import_steps("ctx", &no_steps(), true)?;
    assert_eq!((summary.new, summary.step_count), (0, 1));
    assert!(!summary.context_created);
    empty.clear()?;
    assert!(!manager.clear_context("absent")?);
    assert!(manager.clear_context_with_stats("absent")?.is_none());
    assert_eq!(manager.workspace("nobody").clear_all_contexts()?, 0);
    assert!(!manager.clear_context_of(&doomed)?);

    let after = disk.counts();
    assert_eq!(
        (after.writes, after.syncs),
        (before.writes, before.syncs),
        "writes that change nothing wrote to the disk"
    );
    assert_eq!(registry.revision()?, revision);
    assert_eq!(empty.revision()?, empty_revision);
    assert_eq!(registry.list_step_names()?, ["a"]);
    assert_eq!(manager.list_contexts()?, ["ctx", "empty"]);

    // A handle of a cleared context is refused, as by any write.
    for attempt in [
        doomed.register_many(no_steps()).map(drop),
        doomed.unregister("absent").map(drop),
        doomed.clear(),
    ] {
        assert!(
            matches!(attempt, Err(Error::ContextCleared { .. })),
            "{attempt:?}"
        );
    }

    // The counts do see a write that changes something.
    assert!(registry.unregister("a")?);
    assert!(disk.counts().syncs > after.syncs);
    assert!(registry.revision()? > revision);
    let revision = registry.revision()?;
    registry.clear()?;
    assert_eq!(registry.revision()?, revision, "the context is empty now");
    Ok(())
}

type Job = Box<dyn FnOnce() -> pipeline_deps::Result<bool> + Send>;

/// Holds a first `register` at its fsync, queues `jobs` behind it, lets them all run, and
/// returns each job's label and result with the durable image at its return, and the
/// fsyncs of commits from the held one on (growing the file also syncs; those are not
/// commits).
#[allow(clippy::type_complexity)]
fn behind_a_held_commit(
    disk: &Disk,
    gated: &Gated,
    registry: &pipeline_deps::SpecificationRegistry,
    jobs: Vec<(&'static str, Job)>,
) -> TestResult<(Vec<(&'static str, Result<(bool, Vec<u8>), String>)>, u64)> {
    gated.close();
    let first = {
        let registry = registry.clone();
        std::thread::spawn(move || registry.register("first", &spec("First")))
    };
    gated.await_held_sync()?;
    let before = disk.counts();
    let mut threads = Vec::new();
    for (label, job) in jobs {
        let disk = disk.clone();
        threads.push(std::thread::spawn(move || {
            let result = job()
                .map(|out| (out, disk.durable_image()))
                .map_err(|e| e.to_string());
            (label, result)
        }));
    }
    // Time for the queued writers to reach the group (not a timing assertion: one that
    // arrives later forms a batch of its own, and the assertions allow for it).
    std::thread::sleep(Duration::from_millis(300));
    gated.open();
    first.join().map_err(|_| "the first writer panicked")??;
    let mut outcomes = Vec::new();
    for thread in threads {
        outcomes.push(thread.join().map_err(|_| "a writer panicked")?);
    }
    let after = disk.counts();
    let syncs = (after.syncs - before.syncs) - (after.set_lens - before.set_lens);
    Ok((outcomes, syncs))
}

fn names_in(image: Vec<u8>) -> TestResult<Vec<String>> {
    let manager =
        RegistryManager::builder().with_backend(Disk::from_image(image).backend(), "image")?;
    Ok(manager.get_registry("ctx")?.list_step_names()?)
}

#[test]
fn a_write_that_changes_nothing_does_not_break_its_batch() -> TestResult {
    bounded(Duration::from_secs(120), mixed_batch)
}

fn mixed_batch() -> TestResult {
    let disk = Disk::new();
    let gated = Gated::new(&disk);
    let manager = RegistryManager::builder().with_backend(gated.clone(), "gated")?;
    let registry = manager.get_registry("ctx")?;
    let r = || registry.clone();
    let jobs: Vec<(&'static str, Job)> = vec![
        ("absent", {
            let r = r();
            Box::new(move || r.unregister("absent"))
        }),
        ("queued", {
            let r = r();
            Box::new(move || r.register("queued", &spec("Queued")).map(|()| true))
        }),
        ("nothing", {
            let r = r();
            Box::new(move || r.register_many(no_steps()).map(|n| n > 0))
        }),
    ];
    let (outcomes, syncs) = behind_a_held_commit(&disk, &gated, &registry, jobs)?;
    for (label, outcome) in outcomes {
        let (changed, image) = outcome.map_err(|e| format!("{label} failed: {e}"))?;
        assert_eq!(changed, label == "queued", "{label}");
        if label == "queued" {
            assert!(
                names_in(image)?.contains(&"queued".to_owned()),
                "queued was not durable when it returned"
            );
        }
    }
    assert!(syncs >= 2, "{syncs}: the queued write was not committed");
    assert_eq!(registry.list_step_names()?, ["first", "queued"]);
    drop((registry, manager));
    assert_eq!(names_in(disk.durable_image())?, ["first", "queued"]);
    Ok(())
}

#[test]
fn a_batch_of_writes_that_change_nothing_commits_nothing() -> TestResult {
    bounded(Duration::from_secs(120), batch_of_nothing)
}

fn batch_of_nothing() -> TestResult {
    let disk = Disk::new();
    let gated = Gated::new(&disk);
    let manager = RegistryManager::builder().with_backend(gated.clone(), "gated")?;
    let registry = manager.get_registry("ctx")?;
    let empty = manager.get_registry("empty")?;
    let jobs: Vec<(&'static str, Job)> = vec![
        ("absent", {
            let r = registry.clone();
            Box::new(move || r.unregister("absent"))
        }),
        ("also absent", {
            let r = registry.clone();
            Box::new(move || r.unregister("also absent"))
        }),
        ("clear empty", {
            let r = empty.clone();
            Box::new(move || r.clear().map(|()| false))
        }),
    ];
    let revision = empty.revision()?;
    let (outcomes, syncs) = behind_a_held_commit(&disk, &gated, &registry, jobs)?;
    for (label, outcome) in outcomes {
        let (changed, _) = outcome.map_err(|e| format!("{label} failed: {e}"))?;
        assert!(!changed, "{label}");
    }
    assert_eq!(syncs, 1, "only the held register's commit syncs");
    assert_eq!(empty.revision()?, revision);
    assert_eq!(registry.list_step_names()?, ["first"]);
    Ok(())
}
