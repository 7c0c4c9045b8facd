//! Invariant: after a simulated power loss or an I/O error at any write or sync, the failing
//! call returns `Err` without panicking, later writes through the same manager are refused,
//! and reopening yields exactly the last acknowledged state (or, for the one interrupted
//! operation, the state after it), with exact counts and no spec visible across contexts.
//!
//! Scale with `PIPELINE_DEPS_FAULT_CASES` (proptest sequences, 4 faults each, default 16)
//! and `PIPELINE_DEPS_FAULT_STRIDE` (try every n-th fault point of the fixed workload,
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

/// Every fault point of the fixed workload, for each kind of fault.
#[test]
fn every_fault_point_of_a_fixed_workload() -> TestResult {
    let ops = fixed_workload();
    let counts = dry_run(&ops)?;
    let stride = env_count("PIPELINE_DEPS_FAULT_STRIDE", 5).max(1);
    let seed = seed("every_fault_point_of_a_fixed_workload");
    let mut rng = Rng::new(seed);
    let offset = rng.below(stride);
    let mut total = Report::default();
    let mut cases = 0u64;
    let mut run = |plan: FaultPlan, rng: &mut Rng| -> TestResult {
        let report =
            run_case(&ops, Some(plan), rng.next_u64()).map_err(|f| format!("{plan:?}: {f}"))?;
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
        "power_loss/every_fault_point",
        &format!(
            "{cases} fault cases (stride {stride}) over {} mutating calls ({} writes, {} syncs) of an {}-op workload; {} reopens verified; {} acknowledged ops, 0 lost, 0 panics",
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
