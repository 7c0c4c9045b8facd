//! Invariant: under 8 threads of mixed operations on shared and separate contexts, including
//! `clear_context` and `clear_all_contexts` racing registrations through older handles, the
//! final state equals a serial order of the operations that returned `Ok` (each committed
//! into the context its handle was taken from, none into a context created later), counts
//! are exact, every read sees a consistent snapshot with no foreign spec, and nothing
//! deadlocks: the test fails rather than hangs when it runs over its time bound.
//!
//! Scale with `PIPELINE_DEPS_STRESS_OPS` (operations per thread, default 40) and
//! `PIPELINE_DEPS_STRESS_ROUNDS` (default 3).

mod support;

use std::sync::mpsc;
use std::time::Duration;

use pipeline_deps::{
    DependencySpec, DependencyType, Error, NodeType, OutputSpec, RegistryManager,
    SpecificationRegistry, StepSpecification,
};
use support::fault_backend::Rng;
use support::{TestResult, env_count, figure, seed};

const THREADS: usize = 8;
/// Contexts shared by threads: written by some, cleared by others.
const SHARED: &str = "shared";
const WS_SHARED: &str = "ws::b";
const TIME_BOUND: Duration = Duration::from_secs(150);

/// A spec whose description names the context and step it was written for.
fn tagged(context: &str, step: &str, version: u64) -> StepSpecification {
    let mut dependency = DependencySpec::new("input", DependencyType::ProcessingOutput);
    dependency.description = format!("{context}/{step}");
    StepSpecification::new(format!("Type{}", version % 3), NodeType::Internal)
        .with_dependency(dependency)
        .with_output(OutputSpec::new(
            "output",
            DependencyType::ModelArtifacts,
            format!("properties.V{version}"),
        ))
}

fn tag_of(spec: &StepSpecification) -> &str {
    spec.dependencies
        .get("input")
        .map_or("", |d| d.description.as_str())
}

/// Checks one read snapshot of `registry`: every spec carries its own context and step.
fn check_snapshot(registry: &SpecificationRegistry) -> Result<(), String> {
    let steps = match registry.iter() {
        Ok(steps) => steps.collect::<Vec<_>>(),
        Err(Error::ContextCleared { .. }) => return Ok(()),
        Err(e) => return Err(format!("iter failed: {e}")),
    };
    let mut seen = std::collections::HashSet::new();
    for (step, spec) in &steps {
        if !seen.insert(step.clone()) {
            return Err(format!("step {step} listed twice"));
        }
        let expected = format!("{}/{step}", registry.context_name());
        if tag_of(spec) != expected {
            return Err(format!(
                "context {} shows step {step} with the spec of {:?}",
                registry.context_name(),
                tag_of(spec)
            ));
        }
    }
    Ok(())
}

/// What one thread did to a shared context through one handle.
#[derive(Debug)]
enum SharedOp {
    Put { step: String, version: u64 },
    Unregister { step: String, removed: bool },
}

struct Log {
    /// (context, handle, operation) for every write that returned `Ok`, in program order.
    shared: Vec<(String, SpecificationRegistry, SharedOp)>,
    /// Writes refused with `ContextCleared` (they raced a clear).
    refused: u64,
    ok_writes: u64,
    reads: u64,
    clears: u64,
}

fn worker(manager: RegistryManager, thread: usize, ops: u64, seed: u64) -> Result<Log, String> {
    let mut rng = Rng::new(seed);
    let mut log = Log {
        shared: Vec::new(),
        refused: 0,
        ok_writes: 0,
        reads: 0,
        clears: 0,
    };
    let private = format!("private{thread}");
    let ws = manager.workspace("ws");
    let shared_names = [SHARED, WS_SHARED];
    let mut handles: Vec<SpecificationRegistry> = shared_names
        .iter()
        .map(|n| manager.get_registry(n))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mine = manager.get_registry(&private).map_err(|e| e.to_string())?;
    // The private context's expected content, in registration order.
    let mut expected: Vec<(String, u64)> = Vec::new();
    let mut version = 0u64;
    for _ in 0..ops {
        version += 1;
        let which = usize::from(rng.chance(50));
        let context = shared_names[which];
        let step = format!("t{thread}-{}", rng.below(6));
        match rng.below(12) {
            0..=3 => {
                let spec = tagged(context, &step, version);
                let result = if rng.chance(50) {
                    handles[which].upsert(&step, &spec)
                } else {
                    handles[which].register(&step, &spec)
                };
                match result {
                    Ok(()) => {
                        log.ok_writes += 1;
                        log.shared.push((
                            context.to_owned(),
                            handles[which].clone(),
                            SharedOp::Put { step, version },
                        ));
                    }
                    Err(Error::AlreadyRegistered { .. }) => {}
                    Err(Error::ContextCleared { .. }) => {
                        log.refused += 1;
                        handles[which] =
                            manager.get_registry(context).map_err(|e| e.to_string())?;
                    }
                    Err(e) => return Err(format!("thread {thread}: register failed: {e}")),
                }
            }
            4 => match handles[which].unregister(&step) {
                Ok(removed) => {
                    log.ok_writes += 1;
                    log.shared.push((
                        context.to_owned(),
                        handles[which].clone(),
                        SharedOp::Unregister { step, removed },
                    ));
                }
                Err(Error::ContextCleared { .. }) => {
                    log.refused += 1;
                    handles[which] = manager.get_registry(context).map_err(|e| e.to_string())?;
                }
                Err(e) => return Err(format!("thread {thread}: unregister failed: {e}")),
            },
            5 if thread == 5 || thread == 6 => {
                // Clear a shared context under the other threads' feet.
                manager.clear_context(context).map_err(|e| e.to_string())?;
                log.clears += 1;
            }
            6 if thread == 7 => {
                ws.clear_all_contexts().map_err(|e| e.to_string())?;
                log.clears += 1;
            }
            7 | 8 => {
                let step = format!("p{}", rng.below(5));
                let spec = tagged(&private, &step, version);
                mine.upsert(&step, &spec).map_err(|e| e.to_string())?;
                match expected.iter_mut().find(|(s, _)| *s == step) {
                    Some(entry) => entry.1 = version,
                    None => expected.push((step, version)),
                }
                log.ok_writes += 1;
            }
            9 => {
                let step = format!("p{}", rng.below(5));
                let removed = mine.unregister(&step).map_err(|e| e.to_string())?;
                let before = expected.len();
                expected.retain(|(s, _)| *s != step);
                if removed != (before != expected.len()) {
                    return Err(format!(
                        "thread {thread}: unregister({step}) said {removed}"
                    ));
                }
                log.ok_writes += 1;
            }
            _ => {
                for handle in &handles {
                    check_snapshot(handle).map_err(|e| format!("thread {thread}: {e}"))?;
                    if let Ok(Some(spec)) = handle.get_specification(&step) {
                        let tag = format!("{}/{step}", handle.context_name());
                        if tag_of(&spec) != tag {
                            return Err(format!("thread {thread}: foreign spec under {tag}"));
                        }
                    }
                }
                check_snapshot(&mine)?;
                let stats = manager.get_context_stats().map_err(|e| e.to_string())?;
                if stats.get(&private).map(|s| s.step_count) != Some(expected.len()) {
                    return Err(format!("thread {thread}: private count drifted"));
                }
                log.reads += 1;
            }
        }
    }
    let actual: Vec<(String, u64)> = mine
        .iter()
        .map_err(|e| e.to_string())?
        .map(|(step, spec)| {
            let version = spec.outputs["output"]
                .property_path
                .trim_start_matches("properties.V")
                .parse()
                .unwrap_or(u64::MAX);
            (step, version)
        })
        .collect();
    if actual != expected {
        return Err(format!(
            "thread {thread}: private context holds {actual:?}, expected {expected:?}"
        ));
    }
    Ok(log)
}

/// Checks a shared context against the logs: its content is what the `Ok` writes through
/// handles of its current incarnation produce, in each thread's program order.
fn check_shared(manager: &RegistryManager, context: &str, logs: &[Log]) -> TestResult<usize> {
    let Some(current) = manager.get_registry_if_exists(context)? else {
        // Cleared last: every write went to an earlier incarnation.
        return Ok(0);
    };
    let actual: Vec<(String, std::sync::Arc<StepSpecification>)> = current.iter()?.collect();
    let mut expected_total = 0;
    for (thread, log) in logs.iter().enumerate() {
        let mut mine: Vec<(String, u64)> = Vec::new();
        for (ctx, handle, op) in &log.shared {
            if ctx != context || handle != &current {
                continue;
            }
            match op {
                SharedOp::Put { step, version } => match mine.iter_mut().find(|(s, _)| s == step) {
                    Some(entry) => entry.1 = *version,
                    None => mine.push((step.clone(), *version)),
                },
                SharedOp::Unregister { step, removed } => {
                    let before = mine.len();
                    mine.retain(|(s, _)| s != step);
                    if *removed != (before != mine.len()) {
                        return Err(format!(
                            "{context}: thread {thread}'s unregister({step}) returned {removed}, no serial order explains it"
                        )
                        .into());
                    }
                }
            }
        }
        // This thread's steps, in the context's registration order.
        let prefix = format!("t{thread}-");
        let theirs: Vec<(String, u64)> = actual
            .iter()
            .filter(|(s, _)| s.starts_with(&prefix))
            .map(|(s, spec)| {
                let version = spec.outputs["output"]
                    .property_path
                    .trim_start_matches("properties.V")
                    .parse()
                    .unwrap_or(u64::MAX);
                (s.clone(), version)
            })
            .collect();
        if theirs != mine {
            return Err(format!(
                "{context}: thread {thread}'s steps are {theirs:?}, its acknowledged writes give {mine:?}"
            )
            .into());
        }
        expected_total += mine.len();
    }
    if actual.len() != expected_total {
        return Err(format!("{context}: holds steps nobody acknowledged: {actual:?}").into());
    }
    check_snapshot(&current)?;
    Ok(actual.len())
}

#[test]
fn eight_threads_of_mixed_operations_serialize() -> TestResult {
    let ops = env_count("PIPELINE_DEPS_STRESS_OPS", 40);
    let rounds = env_count("PIPELINE_DEPS_STRESS_ROUNDS", 3);
    let mut rng = Rng::new(seed("eight_threads_of_mixed_operations_serialize"));
    let (mut writes, mut refused, mut reads, mut clears) = (0, 0, 0, 0);
    for _ in 0..rounds {
        let manager = RegistryManager::temporary()?;
        let (sender, receiver) = mpsc::channel();
        for thread in 0..THREADS {
            let manager = manager.clone();
            let sender = sender.clone();
            let seed = rng.next_u64();
            std::thread::spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    worker(manager, thread, ops, seed)
                }))
                .unwrap_or_else(|_| Err(format!("thread {thread} panicked")));
                let _ = sender.send((thread, result));
            });
        }
        drop(sender);
        let mut logs: Vec<Option<Log>> = (0..THREADS).map(|_| None).collect();
        for _ in 0..THREADS {
            // The watchdog: a deadlock fails the test instead of hanging it.
            let (thread, result) = receiver
                .recv_timeout(TIME_BOUND)
                .map_err(|_| format!("a worker did not finish within {TIME_BOUND:?}: deadlock?"))?;
            logs[thread] = Some(result?);
        }
        let logs: Vec<Log> = logs
            .into_iter()
            .map(Option::unwrap_or_default_log)
            .collect();
        for context in [SHARED, WS_SHARED] {
            check_shared(&manager, context, &logs)?;
        }
        let stats = manager.get_context_stats()?;
        for (name, entry) in &stats {
            let registry = manager
                .get_registry_if_exists(name)?
                .ok_or("listed context is missing")?;
            let steps: Vec<_> = registry.iter()?.collect();
            assert_eq!(entry.step_count, steps.len(), "{name}");
            let mut types: Vec<&str> = steps.iter().map(|(_, s)| s.step_type.as_str()).collect();
            types.sort_unstable();
            types.dedup();
            assert_eq!(entry.step_type_count, types.len(), "{name}");
            check_snapshot(&registry)?;
        }
        assert!(manager.check_integrity()?);
        for log in &logs {
            writes += log.ok_writes;
            refused += log.refused;
            reads += log.reads;
            clears += log.clears;
        }
    }
    figure(
        "concurrency_stress",
        &format!(
            "{rounds} rounds x {THREADS} threads x {ops} ops: {writes} acknowledged writes, {refused} writes refused through cleared handles, {clears} racing clears, {reads} snapshot reads; serial order found, counts exact, 0 deadlocks"
        ),
    );
    Ok(())
}

trait UnwrapLog {
    fn unwrap_or_default_log(self) -> Log;
}

impl UnwrapLog for Option<Log> {
    fn unwrap_or_default_log(self) -> Log {
        self.unwrap_or(Log {
            shared: Vec::new(),
            refused: 0,
            ok_writes: 0,
            reads: 0,
            clears: 0,
        })
    }
}
