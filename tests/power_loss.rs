//! Invariant: after a simulated power loss or an I/O error at any write or sync, the failing
//! call returns `Err` without panicking, later writes through the same manager are refused,
//! and reopening yields exactly the last acknowledged state (or, for the one interrupted
//! operation, the state after it), with exact counts and no spec visible across contexts.
//! With concurrent writers sharing commits, no acknowledged write is lost either.
//!
//! Scale with `PIPELINE_DEPS_FAULT_CASES` (proptest sequences, 4 faults each, default 16)
//! and `PIPELINE_DEPS_FAULT_STRIDE` (try every n-th fault point of each fixed workload,
//! default 5 from a random offset; 1 tries them all).

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use support::fault_backend::{Fault, FaultPlan, Keep, Rng, Target};
use support::harness::{Report, dry_run, random_plan, run_case};
use support::model::{Ctx, Op, decode_ops};
use support::{TestResult, env_count, figure, seed};

const A: Ctx = Ctx { view: 0, short: 0 };
const B: Ctx = Ctx { view: 0, short: 1 };
const WS_A: Ctx = Ctx { view: 1, short: 0 };
const ROOT_WS_A: Ctx = Ctx { view: 0, short: 2 };

/// A workload that touches every operation kind, both views and a stale handle.
fn fixed_workload() -> Vec<Op> {
    vec![
        Op::GetRegistry(A),
        Op::Register(A, 0, 0),
        Op::GetRegistry(B),
        Op::RegisterMany(B, vec![(0, 1), (1, 2), (2, 3)]),
        Op::Upsert(A, 0, 4),
        Op::GetRegistry(WS_A),
        Op::ImportJson(WS_A, vec![(3, 5), (4, 0)], false),
        Op::Register(ROOT_WS_A, 1, 1),
        Op::Unregister(B, 1),
        Op::UpsertMany(B, vec![(1, 4), (0, 2)]),
        Op::Clear(A),
        Op::Register(A, 2, 2),
        Op::ClearContext(B),
        Op::Register(B, 3, 3),
        Op::GetRegistry(B),
        Op::Register(B, 3, 3),
        Op::ClearAll(1),
        Op::Register(A, 4, 5),
    ]
}

#[test]
fn fault_free_run_matches_the_model() -> TestResult {
    let report = run_case(&fixed_workload(), None, 1)?;
    assert!(report.acked >= 10, "{report:?}");
    Ok(())
}

/// The manager's operations that take no handle or act on one as a whole: bulk imports (one
/// creating its context with several steps, one replacing into a context this process holds
/// a handle to), an import into an empty context refused by a non-empty one and accepted by
/// a context it re-creates, clearing by handle (once for real, once a no-op on a context
/// cleared and re-created meanwhile) and taking handles only where contexts exist.
fn bulk_workload() -> Vec<Op> {
    vec![
        Op::GetRegistry(A),
        Op::Register(A, 0, 0),
        Op::ImportSteps(B, vec![(0, 1), (1, 2), (2, 3)], false),
        Op::GetRegistryIfExists(B),
        Op::ImportSteps(A, vec![(0, 4), (3, 5)], true),
        Op::ImportIntoEmpty(A, vec![(4, 0)]),
        Op::ClearContextOf(A),
        Op::ImportIntoEmpty(A, vec![(1, 1), (2, 2)]),
        Op::ClearContextOf(A),
        Op::GetRegistryIfExists(WS_A),
        Op::ImportIntoEmpty(WS_A, vec![(3, 3), (4, 4)]),
        Op::Register(ROOT_WS_A, 0, 5),
        Op::ClearContextOf(B),
        Op::GetRegistryIfExists(B),
    ]
}

#[test]
fn fault_free_bulk_run_matches_the_model() -> TestResult {
    let report = run_case(&bulk_workload(), None, 1)?;
    assert!(report.acked >= 8, "{report:?}");
    Ok(())
}

/// Every fault point of the fixed workload, for each kind of fault.
#[test]
fn every_fault_point_of_a_fixed_workload() -> TestResult {
    every_fault_point(
        "every_fault_point_of_a_fixed_workload",
        "power_loss/every_fault_point",
        &fixed_workload(),
    )
}

/// Every fault point of the bulk workload (imports, clearing by handle, handles only if the
/// context exists), for each kind of fault.
#[test]
fn every_fault_point_of_the_bulk_workload() -> TestResult {
    every_fault_point(
        "every_fault_point_of_the_bulk_workload",
        "power_loss/every_fault_point_bulk",
        &bulk_workload(),
    )
}

/// Runs `ops` with each kind of fault at every n-th mutating call (and every n-th sync for
/// the faults that only a sync shows), printing the figure `name`.
fn every_fault_point(test: &str, name: &str, ops: &[Op]) -> TestResult {
    let counts = dry_run(ops)?;
    let stride = env_count("PIPELINE_DEPS_FAULT_STRIDE", 5).max(1);
    let seed = seed(test);
    let mut rng = Rng::new(seed);
    let offset = rng.below(stride);
    let mut total = Report::default();
    let mut cases = 0u64;
    let mut run = |plan: FaultPlan, rng: &mut Rng| -> TestResult {
        let report =
            run_case(ops, Some(plan), rng.next_u64()).map_err(|f| format!("{plan:?}: {f}"))?;
        assert!(report.fired, "{plan:?} never fired");
        total += report;
        cases += 1;
        Ok(())
    };
    for nth in (offset..counts.mutations()).step_by(stride as usize) {
        for fault in [
            Fault::IoError { sticky: false },
            Fault::PowerLoss {
                keep: Keep::Nothing,
            },
            Fault::PowerLoss {
                keep: Keep::RandomSectors {
                    seed: rng.next_u64(),
                },
            },
            Fault::PowerLoss {
                keep: Keep::Prefix {
                    seed: rng.next_u64(),
                },
            },
        ] {
            let plan = FaultPlan {
                target: Target::AnyMutation,
                nth,
                fault,
            };
            run(plan, &mut rng)?;
        }
    }
    for nth in (offset.min(counts.syncs.saturating_sub(1))..counts.syncs).step_by(stride as usize) {
        for fault in [
            Fault::IoError { sticky: true },
            Fault::PowerLoss {
                keep: Keep::Everything,
            },
        ] {
            let plan = FaultPlan {
                target: Target::Sync,
                nth,
                fault,
            };
            run(plan, &mut rng)?;
        }
    }
    figure(
        name,
        &format!(
            "{cases} fault cases (stride {stride}) over {} mutating calls ({} writes, {} syncs) of a workload of {} ops; {} reopens verified; {} acknowledged ops, 0 lost, 0 panics",
            counts.mutations(),
            counts.writes,
            counts.syncs,
            ops.len(),
            total.reopens,
            total.acked
        ),
    );
    Ok(())
}

/// Random operation sequences with a random fault at a random call.
#[test]
fn random_sequences_with_random_faults() -> TestResult {
    let cases = env_count("PIPELINE_DEPS_FAULT_CASES", 16) as u32;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let total = std::cell::RefCell::new((Report::default(), 0u64));
    runner
        .run(
            &(proptest::collection::vec(any::<u8>(), 0..160), any::<u64>()),
            |(bytes, seed)| {
                let ops = decode_ops(&bytes);
                let counts = dry_run(&ops).map_err(|f| TestCaseError::fail(f.0))?;
                let mut rng = Rng::new(seed);
                for _ in 0..4 {
                    let plan =
                        random_plan(&mut rng, counts.writes, counts.syncs, counts.mutations());
                    let report = run_case(&ops, Some(plan), rng.next_u64())
                        .map_err(|f| TestCaseError::fail(format!("{plan:?} on {ops:?}: {f}")))?;
                    let mut total = total.borrow_mut();
                    total.0 += report;
                    total.1 += 1;
                }
                Ok(())
            },
        )
        .map_err(|e| e.to_string())?;
    let (report, runs) = total.into_inner();
    figure(
        "power_loss/random",
        &format!(
            "{runs} random fault cases ({cases} sequences x 4 faults); {} reopens verified; {} acknowledged ops, 0 lost, 0 panics",
            report.reopens, report.acked
        ),
    );
    Ok(())
}

/// The steps `(thread, index)` of the concurrent workload present in `image`, after
/// checking counts against a recount and the file's integrity.
fn concurrent_steps_in(image: Vec<u8>, contexts: usize) -> TestResult<Vec<(usize, usize)>> {
    let disk = support::fault_backend::Disk::from_image(image);
    let manager = pipeline_deps::RegistryManager::builder().with_backend(disk.backend(), "disk")?;
    let mut found = Vec::new();
    for c in 0..contexts {
        let Some(registry) = manager.get_registry_if_exists(&format!("ctx{c}"))? else {
            continue;
        };
        let names = registry.list_step_names()?;
        assert_eq!(registry.len()?, names.len(), "ctx{c}: count != recount");
        for name in names {
            let mut parts = name.trim_start_matches('t').split('_');
            let thread: usize = parts.next().ok_or("bad name")?.parse()?;
            let index: usize = parts.next().ok_or("bad name")?.parse()?;
            let spec = registry
                .get_specification(&name)?
                .ok_or("listed but missing")?;
            assert_eq!(spec.step_type, format!("Type{thread}"), "{name}");
            assert_eq!(thread % contexts, c, "{name} in the wrong context");
            found.push((thread, index));
        }
    }
    assert!(manager.check_integrity()?);
    Ok(found)
}

/// Concurrent writers (sharing commits through one manager) hit by a power loss or a
/// sticky I/O error at a sync: every acknowledged write survives, and of each thread's
/// unacknowledged writes at most its one in flight.
#[test]
fn concurrent_writers_lose_no_acknowledged_write() -> TestResult {
    support::bounded(
        std::time::Duration::from_secs(600),
        concurrent_writers_under_faults,
    )
}

fn concurrent_writers_under_faults() -> TestResult {
    use pipeline_deps::RegistryManager;
    use std::sync::Arc;
    const THREADS: usize = 4;
    const CONTEXTS: usize = 2;
    const PER_THREAD: usize = 12;
    let mut rng = Rng::new(seed("concurrent_writers_lose_no_acknowledged_write"));
    let cases = env_count("PIPELINE_DEPS_CONCURRENT_FAULTS", 12);
    let (mut acked_total, mut syncs_total) = (0usize, 0u64);
    for case in 0..cases {
        let disk = support::fault_backend::Disk::new();
        let manager = RegistryManager::builder().with_backend(disk.backend(), "disk")?;
        for c in 0..CONTEXTS {
            manager.get_registry(&format!("ctx{c}"))?;
        }
        let start = disk.counts().syncs;
        let keep = match case % 4 {
            0 => Keep::Nothing,
            1 => Keep::Prefix {
                seed: rng.next_u64(),
            },
            2 => Keep::RandomSectors {
                seed: rng.next_u64(),
            },
            _ => Keep::Everything,
        };
        let fault = if case % 5 == 4 {
            Fault::IoError { sticky: true }
        } else {
            Fault::PowerLoss { keep }
        };
        disk.arm(FaultPlan {
            target: Target::Sync,
            // A batch holds at most one write per thread, so there are at least PER_THREAD
            // commits (syncs) to hit.
            nth: start + rng.below(PER_THREAD as u64 - 2),
            fault,
        });
        let manager = Arc::new(manager);
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let registry = manager.get_registry(&format!("ctx{}", t % CONTEXTS));
                std::thread::spawn(move || -> TestResult<usize> {
                    let registry = registry?;
                    let spec = pipeline_deps::StepSpecification::new(
                        format!("Type{t}"),
                        pipeline_deps::NodeType::Singular,
                    );
                    for i in 0..PER_THREAD {
                        match registry.register(&format!("t{t}_{i:02}"), &spec) {
                            Ok(()) => {}
                            Err(
                                pipeline_deps::Error::Io { .. }
                                | pipeline_deps::Error::Poisoned { .. }
                                | pipeline_deps::Error::Storage { .. },
                            ) => return Ok(i),
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Ok(PER_THREAD)
                })
            })
            .collect();
        let mut acked = Vec::new();
        for thread in threads {
            acked.push(thread.join().map_err(|_| "a writer panicked")??);
        }
        assert!(disk.fired(), "case {case}: the fault never fired");
        let image = match fault {
            Fault::IoError { .. } => disk.current_image(),
            _ => disk.image_after_power_loss(keep),
        };
        drop(manager);
        let found = concurrent_steps_in(image, CONTEXTS)
            .map_err(|e| format!("case {case} ({fault:?}): {e}"))?;
        for (t, &acked_t) in acked.iter().enumerate() {
            let mut indexes: Vec<usize> = found
                .iter()
                .filter(|(thread, _)| *thread == t)
                .map(|(_, i)| *i)
                .collect();
            indexes.sort_unstable();
            let expected_prefix = (0..indexes.len()).collect::<Vec<_>>();
            assert_eq!(
                indexes, expected_prefix,
                "case {case}: thread {t} has a gap"
            );
            assert!(
                indexes.len() == acked_t || indexes.len() == acked_t + 1,
                "case {case} ({fault:?}): thread {t} acknowledged {acked_t} writes, {} survived",
                indexes.len()
            );
            acked_total += acked_t;
        }
        syncs_total += disk.counts().syncs - start;
    }
    figure(
        "power_loss/concurrent",
        &format!(
            "{cases} faults under {THREADS} concurrent writers; {acked_total} acknowledged writes, 0 lost; {syncs_total} syncs"
        ),
    );
    Ok(())
}
