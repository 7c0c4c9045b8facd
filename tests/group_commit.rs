//! Invariant: concurrent writes through one manager share commits (group commit) without
//! changing what any single write means: each call returns only after its own write is
//! durable, one call's failure (a taken name, an invalid spec, a cleared context) fails that
//! call alone and leaves no trace, and the result is a serial order of the calls that
//! returned `Ok`, with exact counts.

mod common;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::spec;
use pipeline_deps::storage::StorageBackend;
use pipeline_deps::{Error, RegistryManager, StepSpecification};
use support::fault_backend::Disk;
use support::gated::Gated;
use support::{TestResult, bounded};

/// Steps (in registration order) of `ctx` in the database image `image`, after checking
/// counts against a recount and the file's integrity.
fn steps_in(image: Vec<u8>, ctx: &str) -> TestResult<Vec<String>> {
    let manager =
        RegistryManager::builder().with_backend(Disk::from_image(image).backend(), "image")?;
    let Some(registry) = manager.get_registry_if_exists(ctx)? else {
        return Ok(Vec::new());
    };
    let names = registry.list_step_names()?;
    assert_eq!(registry.len()?, names.len());
    assert_eq!(manager.get_context_stats()?[ctx].step_count, names.len());
    assert!(manager.check_integrity()?);
    Ok(names)
}

/// One queued writer: its label and its write.
type Job = Box<dyn Fn() -> pipeline_deps::Result<()> + Send>;

type Outcome = (&'static str, Result<Vec<u8>, String>);

#[test]
fn writers_queued_behind_a_commit_share_the_next_one_and_fail_alone() -> TestResult {
    bounded(Duration::from_secs(120), queued_writers)
}

fn queued_writers() -> TestResult {
    let disk = Disk::new();
    let gated = Gated::new(&disk);
    let manager = RegistryManager::builder().with_backend(gated.clone(), "gated")?;
    let registry = manager.get_registry("ctx")?;
    registry.register("taken", &spec("Processing"))?;
    let doomed = manager.get_registry("doomed")?;
    manager.clear_context("doomed")?;

    // The first writer's commit is held at its fsync; the others queue behind it.
    gated.close();
    let first = {
        let registry = registry.clone();
        let disk = disk.clone();
        std::thread::spawn(move || -> Outcome {
            let result = registry.register("first", &spec("Processing"));
            (
                "first",
                result
                    .map(|()| disk.durable_image())
                    .map_err(|e| e.to_string()),
            )
        })
    };
    gated.await_held_sync()?;
    let before = disk.counts();

    let invalid = StepSpecification::new("", pipeline_deps::NodeType::Internal);
    let mut writers = Vec::new();
    let jobs: Vec<(&'static str, Job)> = vec![
        ("ok_1", {
            let r = registry.clone();
            Box::new(move || r.register("ok_1", &spec("Training")))
        }),
        ("ok_2", {
            let r = registry.clone();
            Box::new(move || r.register("ok_2", &spec("Processing")))
        }),
        ("ok_3", {
            let r = registry.clone();
            Box::new(move || {
                r.register_many([("ok_3a", &spec("Eval")), ("ok_3b", &spec("Eval"))])
                    .map(|_| ())
            })
        }),
        ("taken", {
            let r = registry.clone();
            Box::new(move || r.register("taken", &spec("Training")))
        }),
        ("half_taken", {
            let r = registry.clone();
            Box::new(move || {
                r.register_many([("fresh", &spec("Training")), ("taken", &spec("Training"))])
                    .map(|_| ())
            })
        }),
        ("invalid", {
            let r = registry.clone();
            let invalid = invalid.clone();
            Box::new(move || r.register("invalid", &invalid))
        }),
        ("cleared", {
            let r = doomed.clone();
            Box::new(move || r.register("x", &spec("Processing")))
        }),
    ];
    for (label, job) in jobs {
        let disk = disk.clone();
        writers.push(std::thread::spawn(move || -> Outcome {
            (
                label,
                job()
                    .map(|()| disk.durable_image())
                    // The error's kind first: each must be the one it would have had alone.
                    .map_err(|e| format!("{:?}: {e}", e.kind())),
            )
        }));
    }
    // Give the queued writers time to reach the group (not a timing assertion: a writer
    // that arrives later only forms one more batch, which the sync bound below allows).
    std::thread::sleep(Duration::from_millis(300));
    gated.open();

    let mut outcomes = vec![first.join().map_err(|_| "a writer panicked")?];
    for writer in writers {
        outcomes.push(writer.join().map_err(|_| "a writer panicked")?);
    }
    let mut committed = 0;
    for (label, outcome) in &outcomes {
        let expect_ok = label.starts_with("ok") || *label == "first";
        match outcome {
            Ok(image) => {
                assert!(expect_ok, "{label} succeeded");
                committed += 1;
                // Durable when it returned: the synced bytes at that moment hold it.
                let steps = steps_in(image.clone(), "ctx")?;
                let own = match *label {
                    "ok_3" => "ok_3a",
                    other => other,
                };
                assert!(
                    steps.iter().any(|s| s == own),
                    "{label} not durable on return: {steps:?}"
                );
            }
            Err(message) => {
                assert!(!expect_ok, "{label} failed: {message}");
                // Its own error, as alone: not one of another member of the batch.
                let own = match *label {
                    "taken" | "half_taken" => "AlreadyExists: step 'taken' is already registered",
                    "invalid" => "InvalidInput: ",
                    _ => "State: ",
                };
                assert!(message.starts_with(own), "{label}: {message}");
                if *label == "cleared" {
                    assert!(message.contains("'doomed'"), "{label}: {message}");
                }
            }
        }
    }
    assert_eq!(committed, 4);
    // The held write and three queued successful ones: without group commit, four syncs.
    // (The engine also syncs when it grows the file; those syncs are not commits.)
    let after = disk.counts();
    let syncs = (after.syncs - before.syncs) - (after.set_lens - before.set_lens);
    assert!(
        syncs < 4,
        "{syncs} syncs for the held write and the 3 queued successful ones: no commit was shared"
    );

    let mut steps = registry.list_step_names()?;
    steps.sort();
    assert_eq!(steps, ["first", "ok_1", "ok_2", "ok_3a", "ok_3b", "taken"]);
    assert_eq!(registry.len()?, 6);
    assert_eq!(
        registry.list_step_types()?.len(),
        manager.get_context_stats()?["ctx"].step_type_count
    );
    assert_eq!(
        registry
            .get_specification("taken")?
            .ok_or("taken lost")?
            .step_type,
        "Processing"
    );
    assert!(manager.get_registry_if_exists("doomed")?.is_none());
    drop((registry, doomed, manager));
    let mut durable = steps_in(disk.durable_image(), "ctx")?;
    durable.sort();
    assert_eq!(durable, steps);
    Ok(())
}

#[test]
fn racing_writers_equal_a_serial_order() -> TestResult {
    bounded(Duration::from_secs(120), racing_writers)
}

fn racing_writers() -> TestResult {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 12;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("race.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ctx")?;
    let winners = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let registry = registry.clone();
            let winners = Arc::clone(&winners);
            std::thread::spawn(move || -> pipeline_deps::Result<()> {
                for i in 0..PER_THREAD {
                    // Every thread races for the same contested names, and writes its own.
                    let contested = format!("contested_{i}");
                    match registry.register(&contested, &spec(&format!("T{t}"))) {
                        Ok(()) => winners.lock().map(|mut w| w.push((contested, t))).ok(),
                        Err(Error::AlreadyRegistered { .. }) => None,
                        Err(e) => return Err(e),
                    };
                    registry.register(&format!("own_{t}_{i}"), &spec("Own"))?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a writer panicked")??;
    }
    let winners = winners.lock().map_err(|_| "poisoned")?.clone();
    assert_eq!(
        winners.len(),
        PER_THREAD,
        "each contested name is won exactly once"
    );
    for (name, thread) in &winners {
        let stored = registry.get_specification(name)?.ok_or("winner missing")?;
        assert_eq!(stored.step_type, format!("T{thread}"), "{name}");
    }
    assert_eq!(registry.len()?, PER_THREAD * (THREADS + 1));
    assert_eq!(
        registry.list_step_names()?.len(),
        PER_THREAD * (THREADS + 1)
    );
    let stats = &manager.get_context_stats()?["ctx"];
    assert_eq!(stats.step_type_count, registry.list_step_types()?.len());
    drop((registry, manager));
    let reopened = RegistryManager::open(&path)?;
    assert_eq!(
        reopened.get_registry("ctx")?.len()?,
        PER_THREAD * (THREADS + 1)
    );
    assert!(reopened.check_integrity()?);
    Ok(())
}

#[test]
fn types_that_come_and_go_under_racing_writers_stay_exact() -> TestResult {
    bounded(Duration::from_secs(120), types_come_and_go)
}

/// Step types created, emptied and created again by racing writers, with failing calls
/// discarding shared batches: the set of types each write relies on (kept between
/// transactions) must stay the file's, or a later write would refuse a type as hidden by
/// damage, or count one twice.
fn types_come_and_go() -> TestResult {
    const THREADS: usize = 6;
    const ROUNDS: usize = 10;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("types.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ctx")?;
    registry.register("contested", &spec("Shared"))?;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let registry = registry.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let err = |e: Error| e.to_string();
                for i in 0..ROUNDS {
                    let (step, own) = (format!("s{t}_{i}"), format!("Own{t}_{i}"));
                    // A new type, gone again, then back.
                    registry.register(&step, &spec(&own)).map_err(err)?;
                    if !registry.unregister(&step).map_err(err)? {
                        return Err(format!("{step} was not there to unregister"));
                    }
                    registry.register(&step, &spec(&own)).map_err(err)?;
                    // A failing call in the same batches.
                    match registry.register("contested", &spec(&own)) {
                        Err(Error::AlreadyRegistered { .. }) => {}
                        other => return Err(format!("contested name: {other:?}")),
                    }
                    // A type shared by every thread, and moves between types.
                    registry
                        .upsert(&format!("m{t}"), &spec(&format!("Move{}", i % 3)))
                        .map_err(err)?;
                    registry
                        .register(&format!("shared{t}_{i}"), &spec("Shared"))
                        .map_err(err)?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a writer panicked")??;
    }
    let check = |manager: &RegistryManager| -> TestResult {
        let registry = manager.get_registry("ctx")?;
        let mut recount: Vec<String> = registry.iter()?.map(|(_, s)| s.step_type.clone()).collect();
        recount.sort();
        recount.dedup();
        let mut listed = registry.list_step_types()?;
        listed.sort();
        assert_eq!(listed, recount);
        let stats = &manager.get_context_stats()?["ctx"];
        assert_eq!(stats.step_type_count, recount.len());
        assert_eq!(stats.step_count, 1 + THREADS * (2 * ROUNDS + 1));
        Ok(())
    };
    check(&manager)?;
    // Every type, present or gone, takes a new step: none is refused as hidden.
    for t in 0..THREADS {
        registry.register(&format!("again{t}"), &spec(&format!("Own{t}_0")))?;
        registry.register(&format!("gone{t}"), &spec(&format!("Move{}", (t + 1) % 3)))?;
    }
    let expected_types = registry.list_step_types()?.len();
    drop((registry, manager));
    let reopened = RegistryManager::open(&path)?;
    assert_eq!(
        reopened.get_registry("ctx")?.list_step_types()?.len(),
        expected_types
    );
    assert!(reopened.check_integrity()?);
    Ok(())
}

/// A [`Gated`] disk whose writes and syncs fail with an I/O error once `failing` is set (a
/// sync already at the gate when it is set goes through): the commit of the batch queued
/// behind a held one fails while the held one commits.
#[derive(Debug, Clone)]
struct FailingAfterGate {
    gated: Gated,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl FailingAfterGate {
    fn fail(&self) -> std::io::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(std::io::Error::other("injected: the disk failed"))
        } else {
            Ok(())
        }
    }
}

impl StorageBackend for FailingAfterGate {
    fn len(&self) -> std::io::Result<u64> {
        self.gated.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.gated.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.fail()?;
        self.gated.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.fail()?;
        self.gated.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.fail()?;
        self.gated.write(offset, data)
    }
}

/// Every member of a batch whose commit fails on an I/O error gets an I/O error, as each
/// would have alone (`Error::Io`, never the kind of another failure), and none of their
/// writes is kept. Written against a mutant that gave the members other than the
/// committing one a `Storage` error, which the tests above let survive (see the report of
/// the mutation audit).
#[test]
fn every_member_of_a_batch_whose_commit_fails_gets_an_io_error() -> TestResult {
    bounded(Duration::from_secs(120), failed_batch)
}

fn failed_batch() -> TestResult {
    let disk = Disk::new();
    let backend = FailingAfterGate {
        gated: Gated::new(&disk),
        failing: Arc::default(),
    };
    let manager = RegistryManager::builder().with_backend(backend.clone(), "failing")?;
    let registry = manager.get_registry("ctx")?;
    registry.register("before", &spec("Processing"))?;

    // The first writer's commit is held at its fsync; three others queue behind it and
    // share the next batch, whose commit then fails.
    backend.gated.close();
    let first = {
        let registry = registry.clone();
        std::thread::spawn(move || registry.register("first", &spec("Processing")))
    };
    backend.gated.await_held_sync()?;
    backend
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let queued: Vec<_> = (0..3)
        .map(|i| {
            let registry = registry.clone();
            std::thread::spawn(move || registry.register(&format!("queued_{i}"), &spec("Eval")))
        })
        .collect();
    // Time for the queued writers to reach the group (not a timing assertion: one that
    // arrives later forms a batch of its own, which fails on its own).
    std::thread::sleep(Duration::from_millis(300));
    backend.gated.open();
    first.join().map_err(|_| "the first writer panicked")??;
    let mut failed = 0;
    for writer in queued {
        match writer.join().map_err(|_| "a queued writer panicked")? {
            // Poisoned: a writer that arrived after the failed commit.
            Err(Error::Io { .. } | Error::Poisoned { .. }) => failed += 1,
            other => return Err(format!("a queued write on a failing disk gave {other:?}").into()),
        }
    }
    assert_eq!(failed, 3);
    drop((registry, manager));
    // The held write is durable; none of the failed batch is.
    let mut durable = steps_in(disk.durable_image(), "ctx")?;
    durable.sort();
    assert_eq!(durable, ["before", "first"]);
    Ok(())
}
