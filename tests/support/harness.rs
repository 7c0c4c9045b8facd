//! Runs an operation sequence on a database over a fault-injecting disk, then reopens the
//! surviving image(s) and checks them against the model.
//!
//! What is checked, for a fault at any write or sync:
//! - no call panics (unless the fault is an injected panic, which is caught);
//! - the faulting operation returns an error of the storage family, and after such an error
//!   every later write through the same manager is refused (no write on a poisoned handle);
//! - reads through the failed manager return an error or a state the model allows (a
//!   `GetRegistryIfExists` among the operations too, which therefore rules out no
//!   candidate state: the engine's memory need not show what reached the disk);
//! - every reopen succeeds and holds exactly the state after the last acknowledged
//!   operation, or, for the one operation interrupted by the fault, the state after it:
//!   nothing in between, nothing lost, nothing leaked across contexts;
//! - the reopened database accepts a new write, which survives another reopen.
//!
//! Shared by `tests/power_loss.rs`, `tests/crash_abort.rs` and the fuzz crate.
#![allow(dead_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use pipeline_deps::RegistryManager;

use super::fault_backend::{Disk, Fault, FaultPlan, Keep, Rng};
use super::model::{
    Candidates, ErrKind, Executor, Failure, Model, Op, Outcome, Written, fail, verify,
};

/// What a fault case did, for the figures in RELIABILITY.md.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    /// The armed fault fired.
    pub fired: bool,
    /// Operations acknowledged (returned `Ok` and wrote) before the fault.
    pub acked: u64,
    /// Images reopened and verified.
    pub reopens: u64,
    /// Injected panics caught.
    pub injected_panics: u64,
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, other: Report) {
        self.fired |= other.fired;
        self.acked += other.acked;
        self.reopens += other.reopens;
        self.injected_panics += other.injected_panics;
    }
}

const LABEL: &str = "fault-disk";

/// Silences the default panic message for injected panics (others still print).
pub fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| m.starts_with("injected panic"))
                || info
                    .payload()
                    .downcast_ref::<String>()
                    .is_some_and(|m| m.starts_with("injected panic"));
            if !injected {
                default(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".to_owned())
}

fn is_injected(payload: &(dyn std::any::Any + Send)) -> bool {
    panic_message(payload).starts_with("injected panic")
}

/// Opens a manager on `disk`, turning a panic into a failure.
pub fn open_on(disk: &Disk) -> Result<pipeline_deps::Result<RegistryManager>, Failure> {
    let backend = disk.backend();
    catch_unwind(AssertUnwindSafe(|| {
        RegistryManager::builder().with_backend(backend, LABEL)
    }))
    .map_err(|p| Failure(format!("opening panicked: {}", panic_message(&*p))))
}

/// Runs `ops` from an empty disk with `plan` armed (or none), then verifies every surviving
/// image. `seed` picks which unsynced sectors survive a simulated power loss.
pub fn run_case(ops: &[Op], plan: Option<FaultPlan>, seed: u64) -> Result<Report, Failure> {
    run_case_on(Disk::new(), ops, plan, seed, Images::All)
}

/// Which surviving images a case reopens and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    /// Every image (the process-crash image and the power-loss image), each written to once
    /// more and reopened again.
    All,
    /// One image only (the power-loss image when `power_loss`), written to and reopened again
    /// only when `probe`: a cheaper case for the fuzzer, which varies the choice by input.
    One {
        /// Verify the power-loss image rather than the process-crash image.
        power_loss: bool,
        /// Write once more after recovery and reopen again.
        probe: bool,
    },
}

/// As [`run_case`], starting from `disk`, which is empty or holds a registry with no context
/// (the model's initial state), and verifying the `images` chosen; `plan` counts the calls
/// from the disk's first.
pub fn run_case_on(
    disk: Disk,
    ops: &[Op],
    plan: Option<FaultPlan>,
    seed: u64,
    images: Images,
) -> Result<Report, Failure> {
    if let Some(plan) = plan {
        disk.arm(plan);
    }
    let panics_expected = matches!(
        plan,
        Some(FaultPlan {
            fault: Fault::Panic { .. },
            ..
        })
    );
    let mut report = Report::default();
    let mut candidates = Candidates::new(Model::default());

    let opened = catch_unwind(AssertUnwindSafe(|| {
        RegistryManager::builder().with_backend(disk.backend(), LABEL)
    }));
    let manager = match opened {
        Ok(Ok(manager)) => Some(manager),
        Ok(Err(error)) if ErrKind::of(&error).is_fault() && disk.fired() => None,
        Ok(Err(error)) => return fail(format!("opening the disk failed: {error}")),
        Err(p) if panics_expected && is_injected(&*p) => {
            report.injected_panics += 1;
            None
        }
        Err(p) => return fail(format!("opening panicked: {}", panic_message(&*p))),
    };

    if let Some(manager) = manager {
        run_ops(
            &disk,
            manager,
            ops,
            &mut candidates,
            panics_expected,
            &mut report,
        )?;
    }
    report.fired = disk.fired();

    let candidates = candidates.reopened();
    let (power_loss_only, probe) = match images {
        Images::All => (None, true),
        Images::One { power_loss, probe } => (Some(power_loss), probe),
    };
    let images = if disk.powered_off() {
        vec![("power loss", disk.image_after_power_loss(Keep::Nothing))]
    } else {
        let power_loss = (power_loss_only != Some(false)).then(|| {
            (
                "power loss after the run",
                disk.image_after_power_loss(Keep::RandomSectors { seed }),
            )
        });
        // Taken last: the disk's own image, without a copy.
        let crash =
            (power_loss_only != Some(true)).then(|| ("process crash", disk.into_current_image()));
        crash.into_iter().chain(power_loss).collect()
    };
    for (what, image) in images {
        reopen_and_verify_with(image, &candidates, probe)
            .map_err(|f| Failure(format!("{what}: {f}")))?;
        report.reopens += 1;
    }
    Ok(report)
}

/// Runs the operations, observing each outcome into `candidates`.
fn run_ops(
    disk: &Disk,
    manager: RegistryManager,
    ops: &[Op],
    candidates: &mut Candidates,
    panics_expected: bool,
    report: &mut Report,
) -> Result<(), Failure> {
    let mut executor = Executor::new(manager);
    let mut failed = false;
    for op in ops {
        let op = executor.normalize(op);
        let mutations_before = disk.counts().mutations();
        let outcome = match catch_unwind(AssertUnwindSafe(|| executor.run(&op))) {
            Ok(outcome) => outcome,
            Err(p) if panics_expected && is_injected(&*p) => {
                report.injected_panics += 1;
                Outcome::Err(ErrKind::Panicked)
            }
            Err(p) => {
                if panics_expected && failed {
                    // After an injected panic the storage engine may have poisoned locks.
                    return fail(format!(
                        "{op:?} panicked after an injected panic: {}",
                        panic_message(&*p)
                    ));
                }
                return fail(format!("{op:?} panicked: {}", panic_message(&*p)));
            }
        };
        let reached_disk = disk.counts().mutations() != mutations_before;
        let is_fault = matches!(outcome, Outcome::Err(kind) if kind.is_fault());
        if is_fault && !disk.fired() {
            return fail(format!(
                "{op:?} failed with {outcome:?} although no fault fired"
            ));
        }
        if failed && op.writes() && matches!(outcome, Outcome::Ok(_)) {
            return fail(format!(
                "{op:?} succeeded after an earlier I/O failure: a poisoned handle wrote"
            ));
        }
        let mode = if is_fault && reached_disk {
            Written::Maybe
        } else if (is_fault || failed) && !reached_disk {
            Written::Nothing
        } else {
            Written::AsModelled
        };
        if std::env::var_os("PIPELINE_DEPS_TRACE").is_some() {
            eprintln!("{op:?} -> {outcome:?} ({mode:?}, fired: {})", disk.fired());
        }
        candidates.observe(&op, outcome, mode)?;
        if is_fault {
            failed = true;
        } else if op.writes() && matches!(outcome, Outcome::Ok(_)) && !failed {
            report.acked += 1;
        }
    }
    // Reads through the failed handle: an error, or a state the model allows.
    let read = catch_unwind(AssertUnwindSafe(|| super::model::snapshot(&executor.root)));
    match read {
        Ok(Ok(actual)) => {
            if !candidates.0.iter().any(|m| m.snapshot() == actual) {
                return fail(format!(
                    "after the fault, reads through the old handle show a state the model does not allow: {}",
                    super::model::describe(&actual)
                ));
            }
        }
        Ok(Err(_)) => {}
        Err(p) if panics_expected => {
            // Tolerated only after an injected panic; recorded as a failure otherwise.
            if !failed {
                return fail(format!("reading panicked: {}", panic_message(&*p)));
            }
        }
        Err(p) => return fail(format!("reading panicked: {}", panic_message(&*p))),
    }
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(executor)));
    if let Err(p) = dropped
        && !(panics_expected && is_injected(&*p))
    {
        return fail(format!(
            "closing the manager panicked: {}",
            panic_message(&*p)
        ));
    }
    Ok(())
}

/// Opens `image`, verifies it against `candidates`, writes once more and verifies that the
/// write survives a further reopen.
pub fn reopen_and_verify(image: Vec<u8>, candidates: &Candidates) -> Result<Model, Failure> {
    reopen_and_verify_with(image, candidates, true)
}

/// As [`reopen_and_verify`]; the write after recovery and the second reopen only when
/// `probe`.
pub fn reopen_and_verify_with(
    image: Vec<u8>,
    candidates: &Candidates,
    probe: bool,
) -> Result<Model, Failure> {
    let disk = Disk::from_image(image);
    let manager = match open_on(&disk)? {
        Ok(manager) => manager,
        Err(error) => return fail(format!("reopening failed: {error} ({error:?})")),
    };
    let index = catch_unwind(AssertUnwindSafe(|| verify(&manager, candidates, true)))
        .map_err(|p| Failure(format!("verifying panicked: {}", panic_message(&*p))))??;
    let mut model = candidates.0[index].clone();
    if !probe {
        // Nothing reads this disk again: no need for the close's commit.
        drop_as_if_crashed(manager);
        return Ok(model);
    }
    // The recovered database must take new writes that survive another reopen.
    let mut executor = Executor::new(manager);
    let probe = [
        Op::GetRegistry(super::model::Ctx { view: 0, short: 1 }),
        Op::Upsert(super::model::Ctx { view: 0, short: 1 }, 4, 5),
    ];
    for op in &probe {
        let outcome = executor.run(op);
        let predicted = model.apply(op);
        if outcome != predicted {
            return fail(format!(
                "after recovery, {op:?} returned {outcome:?}, expected {predicted:?}"
            ));
        }
    }
    drop(executor);
    let again = Disk::from_image(disk.into_current_image());
    let manager = match open_on(&again)? {
        Ok(manager) => manager,
        Err(error) => return fail(format!("second reopen failed: {error}")),
    };
    let model = model.reopened();
    verify(&manager, &Candidates::new(model.clone()), false)?;
    Ok(model)
}

/// Drops `manager` while its thread unwinds (a caught `resume_unwind`, which runs no panic
/// hook), as a process crash would: redb then skips its close's commit, which records the
/// allocator state (a durable commit, about a tenth of a fuzz execution), and writes nothing.
/// Only for a database whose disk is discarded next: the image is left as after a crash.
pub fn drop_as_if_crashed(manager: RegistryManager) {
    struct Unwinding;
    let _unwound = catch_unwind(AssertUnwindSafe(move || {
        let _dropped_while_unwinding = manager;
        std::panic::resume_unwind(Box::new(Unwinding))
    }));
}

/// A fault plan from a seed, for a run with `counts` calls: any target, any fault, any keep
/// policy, at any call.
pub fn random_plan(rng: &mut Rng, writes: u64, syncs: u64, mutations: u64) -> FaultPlan {
    use super::fault_backend::Target;
    let (target, total) = match rng.below(3) {
        0 => (Target::Write, writes),
        1 => (Target::Sync, syncs),
        _ => (Target::AnyMutation, mutations),
    };
    let nth = rng.below(total.max(1));
    let seed = rng.next_u64();
    let fault = match rng.below(6) {
        0 => Fault::IoError { sticky: false },
        1 => Fault::IoError { sticky: true },
        2 => Fault::PowerLoss {
            keep: Keep::Nothing,
        },
        3 => Fault::PowerLoss {
            keep: Keep::Everything,
        },
        4 => Fault::PowerLoss {
            keep: Keep::Prefix { seed },
        },
        _ => Fault::PowerLoss {
            keep: Keep::RandomSectors { seed },
        },
    };
    FaultPlan { target, nth, fault }
}

/// Counts the calls a fault-free run of `ops` makes (its fault points).
pub fn dry_run(ops: &[Op]) -> Result<super::fault_backend::Counts, Failure> {
    let disk = Disk::new();
    let manager = match open_on(&disk)? {
        Ok(m) => m,
        Err(e) => return fail(format!("opening failed: {e}")),
    };
    let mut executor = Executor::new(manager);
    for op in ops {
        let op = executor.normalize(op);
        executor.run(&op);
    }
    drop(executor);
    Ok(disk.counts())
}
