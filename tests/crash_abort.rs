//! Invariant: an in-process abort in the middle of a write (a panic inside the storage
//! backend, inside a large `register_many` transaction, inside the caller's iterator or log
//! subscriber, or a transaction dropped half-way by an error) never leaves half a write:
//! reads through the surviving handles show no stale or foreign spec, and a reopen shows the
//! state before or after that write, nothing in between and nothing acknowledged lost.
//!
//! How a panic gets *inside* a transaction: `register_many` collects its iterator before the
//! transaction starts, so a panicking iterator aborts before any write (tested as such). To
//! panic mid-transaction the tests make the storage backend itself panic at a chosen write
//! or sync, with a page cache small enough that the storage engine writes pages while the
//! transaction is still open (the library contains such a panic as an I/O error: unwinding
//! through redb's poisoned locks would otherwise abort the process), and make a `tracing`
//! subscriber panic on the events the library logs right after a commit (that panic does
//! unwind through the library, with its locks held). Scale with `PIPELINE_DEPS_ABORT_STRIDE` (default 6; 1 tries
//! every write and sync).

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use pipeline_deps::{
    DependencySpec, DependencyType, Error, NodeType, OutputSpec, RegistryManager, StepSpecification,
};
use support::fault_backend::{Disk, Fault, FaultPlan, Keep, Rng, Target};
use support::harness::{Report, dry_run, quiet_injected_panics, run_case};
use support::model::{Ctx, Op, decode_ops};
use support::{TestResult, env_count, figure, seed};

const A: Ctx = Ctx { view: 0, short: 0 };
const B: Ctx = Ctx { view: 0, short: 1 };
const WS_B: Ctx = Ctx { view: 1, short: 1 };

fn workload() -> Vec<Op> {
    vec![
        Op::GetRegistry(A),
        Op::RegisterMany(A, vec![(0, 0), (1, 1), (2, 2)]),
        Op::GetRegistry(WS_B),
        Op::Upsert(WS_B, 3, 3),
        Op::Upsert(A, 1, 4),
        Op::GetRegistry(B),
        Op::ImportJson(B, vec![(0, 5), (4, 1)], true),
        Op::Unregister(A, 0),
        Op::ClearContext(WS_B),
        Op::Clear(B),
        Op::ClearAll(0),
        Op::GetRegistry(A),
        Op::Register(A, 2, 3),
    ]
}

/// A panic raised by the storage backend at every n-th write or sync of a workload, before
/// or after the call did its work.
#[test]
fn panic_inside_the_storage_backend_at_any_call() -> TestResult {
    quiet_injected_panics();
    let ops = workload();
    let counts = dry_run(&ops)?;
    let stride = env_count("PIPELINE_DEPS_ABORT_STRIDE", 6).max(1);
    let mut rng = Rng::new(seed("panic_inside_the_storage_backend_at_any_call"));
    let offset = rng.below(stride);
    let mut total = Report::default();
    let mut cases = 0;
    for nth in (offset..counts.mutations()).step_by(stride as usize) {
        for after in [false, true] {
            let plan = FaultPlan {
                target: Target::AnyMutation,
                nth,
                fault: Fault::Panic { after },
            };
            let report =
                run_case(&ops, Some(plan), rng.next_u64()).map_err(|f| format!("{plan:?}: {f}"))?;
            // The library contains a backend panic as an I/O error: nothing escapes.
            assert!(
                report.fired && report.injected_panics == 0,
                "{plan:?}: {report:?}"
            );
            total += report;
            cases += 1;
        }
    }
    figure(
        "crash_abort/backend_panic",
        &format!(
            "{cases} injected backend panics over {} mutating calls, each contained as an I/O error; {} reopens verified; {} acknowledged ops, 0 lost, 0 escaped panics",
            counts.mutations(),
            total.reopens,
            total.acked
        ),
    );
    Ok(())
}

/// Random sequences with a panic at a random call.
#[test]
fn panic_inside_the_storage_backend_in_random_sequences() -> TestResult {
    quiet_injected_panics();
    let mut rng = Rng::new(seed("panic_inside_the_storage_backend_in_random_sequences"));
    let sequences = env_count("PIPELINE_DEPS_ABORT_CASES", 12);
    let mut total = Report::default();
    for _ in 0..sequences {
        let bytes: Vec<u8> = (0..rng.below(120)).map(|_| rng.next_u64() as u8).collect();
        let ops = decode_ops(&bytes);
        let counts = dry_run(&ops)?;
        let plan = FaultPlan {
            target: Target::AnyMutation,
            nth: rng.below(counts.mutations()),
            fault: Fault::Panic {
                after: rng.chance(50),
            },
        };
        total += run_case(&ops, Some(plan), rng.next_u64())
            .map_err(|f| format!("{plan:?} on {ops:?}: {f}"))?;
    }
    figure(
        "crash_abort/random_backend_panic",
        &format!(
            "{sequences} random sequences with a panic; {} reopens verified, 0 lost",
            total.reopens
        ),
    );
    Ok(())
}

fn big_spec(i: usize) -> StepSpecification {
    let mut dependency = DependencySpec::new("input", DependencyType::TrainingData)
        .with_keywords((0..20).map(|k| format!("keyword-{i}-{k}")));
    dependency.description = "x".repeat(1500);
    StepSpecification::new(format!("Type{}", i % 7), NodeType::Internal)
        .with_dependency(dependency)
        .with_output(OutputSpec::new(
            "out",
            DependencyType::ModelArtifacts,
            format!("properties.Out{i}"),
        ))
}

const BATCH: usize = 150;
const SMALL_CACHE: usize = 64 * 1024;

/// Opens the image, checks that `big` holds the 3 first steps and then either nothing more or
/// the whole batch, with exact counts and a clean integrity check. Returns whether the batch
/// is there.
fn check_batch_image(image: Vec<u8>) -> TestResult<bool> {
    let manager =
        RegistryManager::builder().with_backend(Disk::from_image(image).backend(), "img")?;
    let registry = manager
        .get_registry_if_exists("big")?
        .ok_or("context 'big' is missing")?;
    let steps: Vec<_> = registry.iter()?.collect();
    let with_batch = match steps.len() {
        3 => false,
        n if n == 3 + BATCH => true,
        n => return Err(format!("half a batch is visible: {n} steps").into()),
    };
    for (k, (name, spec)) in steps.iter().enumerate() {
        if name != &format!("step{k}") || **spec != big_spec(k) {
            return Err(format!("step {k} is wrong: {name}").into());
        }
    }
    let stats = manager.get_context_stats()?;
    assert_eq!(stats["big"].step_count, steps.len());
    assert_eq!(
        stats["big"].step_type_count,
        registry.list_step_types()?.len()
    );
    assert!(manager.check_integrity()?);
    Ok(with_batch)
}

/// A panic in the middle of a large `register_many` transaction: the small page cache makes
/// the storage engine write pages before the commit, and the backend panics at each of them.
#[test]
fn panic_in_the_middle_of_a_large_register_many() -> TestResult {
    quiet_injected_panics();
    let setup = |disk: &Disk| -> TestResult<RegistryManager> {
        let manager = RegistryManager::builder()
            .cache_size(SMALL_CACHE)
            .with_backend(disk.backend(), "big")?;
        let registry = manager.get_registry("big")?;
        for k in 0..3 {
            registry.register(&format!("step{k}"), &big_spec(k))?;
        }
        Ok(manager)
    };
    let batch: Vec<(String, StepSpecification)> = (3..3 + BATCH)
        .map(|k| (format!("step{k}"), big_spec(k)))
        .collect();
    let run_batch = |manager: &RegistryManager| -> pipeline_deps::Result<usize> {
        manager
            .get_registry("big")?
            .register_many(batch.iter().map(|(n, s)| (n.as_str(), s)))
    };
    // Dry run: which calls belong to the batch's transaction.
    let disk = Disk::new();
    let manager = setup(&disk)?;
    let before = disk.counts();
    run_batch(&manager)?;
    let after = disk.counts();
    drop(manager);
    let first_sync = before.syncs;
    let writes_in_txn = after.writes - before.writes;
    let mid_txn_writes = {
        // Writes issued before the commit's first sync are written mid-transaction.
        let disk = Disk::new();
        let manager = setup(&disk)?;
        disk.arm(FaultPlan {
            target: Target::Sync,
            nth: first_sync,
            fault: Fault::IoError { sticky: true },
        });
        let writes_at = disk.counts().writes;
        let _ = run_batch(&manager);
        disk.counts().writes - writes_at
    };
    let mut rng = Rng::new(seed("panic_in_the_middle_of_a_large_register_many"));
    let mut tried = 0;
    let stride = (writes_in_txn / 12).max(1);
    for nth in (before.writes..after.writes).step_by(stride as usize) {
        for after_work in [false, true] {
            let disk = Disk::new();
            let manager = setup(&disk)?;
            disk.arm(FaultPlan {
                target: Target::Write,
                nth,
                fault: Fault::Panic { after: after_work },
            });
            let result = catch_unwind(AssertUnwindSafe(|| run_batch(&manager)))
                .map_err(|_| format!("the injected panic at write {nth} escaped the library"))?;
            assert!(
                disk.fired(),
                "the injected panic at write {nth} did not fire"
            );
            // A panic in a write the engine only needs for speed may be ignored: then the
            // batch was acknowledged and must be in every image.
            let acknowledged = result.is_ok();
            // The old manager: reads give an error or the state before or after, never half.
            let read = catch_unwind(AssertUnwindSafe(|| {
                manager
                    .get_registry_if_exists("big")
                    .and_then(|r| {
                        r.ok_or(Error::Poisoned {
                            action: String::new(),
                        })
                    })
                    .and_then(|r| r.len())
            }));
            match read {
                Ok(Ok(n)) => assert!(n == 3 || n == 3 + BATCH, "half a batch visible: {n}"),
                Ok(Err(_)) => {}
                Err(_) => return Err("reading after an injected panic panicked".into()),
            }
            let _ = catch_unwind(AssertUnwindSafe(move || drop(manager)));
            for image in [
                disk.current_image(),
                disk.image_after_power_loss(Keep::RandomSectors {
                    seed: rng.next_u64(),
                }),
            ] {
                let with_batch = check_batch_image(image)?;
                assert!(
                    with_batch || !acknowledged,
                    "an acknowledged batch was lost"
                );
            }
            tried += 1;
        }
    }
    figure(
        "crash_abort/mid_transaction_panic",
        &format!(
            "{tried} panics inside one {BATCH}-step register_many ({writes_in_txn} writes in its transaction, {mid_txn_writes} of them before the commit with a {SMALL_CACHE}-byte cache); 2 images each, all or nothing, 0 lost"
        ),
    );
    Ok(())
}

/// `register_many` collects its iterator before the transaction starts: a panicking iterator
/// aborts before anything is written and leaves the manager fully usable.
#[test]
fn panicking_iterator_in_register_many_writes_nothing() -> TestResult {
    quiet_injected_panics();
    let manager = RegistryManager::temporary()?;
    let registry = manager.get_registry("ctx")?;
    registry.register("keep", &big_spec(0))?;
    let specs: Vec<StepSpecification> = (1..5).map(big_spec).collect();
    let names = ["a", "b", "c", "d"];
    let result = catch_unwind(AssertUnwindSafe(|| {
        registry.register_many(names.iter().zip(&specs).enumerate().map(|(i, (n, s))| {
            if i == 2 {
                panic!("injected panic in the caller's iterator");
            }
            (*n, s)
        }))
    }));
    assert!(result.is_err());
    assert_eq!(registry.list_step_names()?, vec!["keep"]);
    registry.register_many(names.iter().copied().zip(&specs))?;
    assert_eq!(registry.len()?, 5);
    assert_eq!(manager.get_context_stats()?["ctx"].step_count, 5);
    Ok(())
}

/// A write transaction dropped half-way by an error (the third item of a batch is taken, or
/// invalid, or the context was cleared meanwhile) leaves nothing behind, in process and
/// after a reopen; so does a batch naming a step twice, refused before it starts.
#[test]
fn transaction_dropped_half_way_leaves_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.redb");
    let (a, b, c) = (big_spec(1), big_spec(2), big_spec(3));
    {
        let manager = RegistryManager::open(&path)?;
        let registry = manager.get_registry("ctx")?;
        registry.register("taken", &a)?;
        let err = registry
            .register_many([("n1", &a), ("n2", &b), ("taken", &c)])
            .err()
            .ok_or("a taken name was accepted")?;
        assert!(matches!(err, Error::AlreadyRegistered { .. }), "{err}");
        let err = registry
            .register_many([("n1", &a), ("n1", &b)])
            .err()
            .ok_or("a repeated name was accepted")?;
        // Refused before the transaction starts: the batch itself is at fault.
        assert!(err.is_invalid_input(), "{err}");
        let invalid = StepSpecification::new("", NodeType::Internal);
        let err = registry
            .upsert_many([("n1", &a), ("n2", &invalid)])
            .err()
            .ok_or("an invalid spec was accepted")?;
        assert!(matches!(err, Error::InvalidSpec { .. }), "{err}");
        assert_eq!(registry.list_step_names()?, vec!["taken"]);
        assert_eq!(registry.list_step_types()?, vec![a.step_type.clone()]);
        let stale = registry.clone();
        manager.clear_context("ctx")?;
        let err = stale
            .register_many([("n1", &a)])
            .err()
            .ok_or("a cleared handle wrote")?;
        assert!(matches!(err, Error::ContextCleared { .. }), "{err}");
        let fresh = manager.get_registry("ctx")?;
        assert!(fresh.is_empty()?);
        fresh.register("after", &b)?;
    }
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ctx")?;
    assert_eq!(registry.list_step_names()?, vec!["after"]);
    assert_eq!(manager.get_context_stats()?["ctx"].step_count, 1);
    assert!(manager.check_integrity()?);
    Ok(())
}

thread_local! {
    /// The event message on which this thread's log subscriber panics.
    static ARMED: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// A global `tracing` subscriber that panics on the event whose message is armed on the
/// current thread (global, so that no other test thread's callsite-interest caching hides
/// events from it).
struct PanicOnEvent;

impl tracing::Subscriber for PanicOnEvent {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if ARMED.with(|armed| armed.get() == Some(message.0.as_str())) {
            panic!("injected panic in a log subscriber on {:?}", message.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn with_panicking_log<T>(message: &'static str, f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(PanicOnEvent);
    });
    ARMED.with(|armed| armed.set(Some(message)));
    let result = catch_unwind(AssertUnwindSafe(f));
    ARMED.with(|armed| armed.set(None));
    result
}

/// The caller's log subscriber panics on the events the library emits right after a commit
/// (step registered, context created, context cleared). The commit is durable; no handle
/// serves a cleared context's specs from its cache; later calls return values or clean
/// errors, never a panic.
#[test]
fn panicking_log_subscriber_after_a_commit() -> TestResult {
    quiet_injected_panics();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.redb");
    let spec = big_spec(1);
    {
        let manager = RegistryManager::open(&path)?;
        let x = manager.get_registry("x")?;
        let y = manager.get_registry("y")?;
        x.register("s", &spec)?;
        y.register("s", &spec)?;
        // Fill both handles' caches.
        assert!(x.get_specification("s")?.is_some());
        assert!(y.get_specification("s")?.is_some());

        let outcome = with_panicking_log("registered step", || x.register("t", &spec));
        assert!(outcome.is_err(), "the subscriber did not panic");
        assert_eq!(
            x.list_step_names()?,
            vec!["s", "t"],
            "the commit is durable"
        );

        let outcome = with_panicking_log("cleared context", || manager.clear_all_contexts());
        assert!(outcome.is_err(), "the subscriber did not panic");
        for (name, handle) in [("x", &x), ("y", &y)] {
            let got = catch_unwind(AssertUnwindSafe(|| handle.get_specification("s")))
                .map_err(|_| format!("reading {name} panicked"))?;
            if let Ok(Some(_)) = got {
                return Err(format!(
                    "handle of cleared context {name:?} still serves its specs from its cache"
                )
                .into());
            }
        }
        let listed = catch_unwind(AssertUnwindSafe(|| manager.list_contexts()))
            .map_err(|_| "list_contexts panicked")?;
        if let Ok(listed) = listed {
            assert!(listed.is_empty(), "{listed:?}");
        }

        let outcome = with_panicking_log("created context", || manager.get_registry("z"));
        assert!(outcome.is_err(), "the subscriber did not panic");
        let z = catch_unwind(AssertUnwindSafe(|| manager.get_registry("z")))
            .map_err(|_| "get_registry panicked after a panicking subscriber")??;
        z.register("s", &spec)?;
        // The manager stays fully usable.
        manager.get_registry("w")?.register("s", &spec)?;
        manager.clear_context("w")?;
    }
    let manager = RegistryManager::open(&path)?;
    let listed = manager.list_contexts()?;
    assert!(listed == vec!["z"], "{listed:?}");
    for (name, stats) in manager.get_context_stats()? {
        let registry = manager
            .get_registry_if_exists(&name)?
            .ok_or("listed context missing")?;
        assert_eq!(stats.step_count, registry.iter()?.count());
    }
    assert!(manager.check_integrity()?);
    Ok(())
}
