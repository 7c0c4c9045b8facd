//! Group commit: concurrent writers through one manager share one write transaction and
//! its one fsync.
//!
//! Each writing thread applies its own operation, in its own thread, to the batch that is
//! open (serialised by the group's lock, so the batch is the operations in the order they
//! were applied: a serial order). The last thread to arrive commits the batch for everyone;
//! every member returns only after that commit did, so an `Ok` is as durable as the store's
//! [`Durability`](crate::Durability) promises, exactly as for a write of its own.
//!
//! An operation that fails may have written part of its change, so its failure aborts the
//! batch: the failing call returns its error, and the other members, whose changes the abort
//! discarded, apply theirs again to a new batch (an operation is a closure that can run
//! again). One operation's failure therefore fails that call alone. A failed commit fails
//! every member of its batch, as it would have failed each of them alone. A batch in which
//! every operation changed nothing (an unregister of a missing step, …) is rolled back
//! instead of committed: nothing to make durable, so no fsync.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::guard::contain_drop;
use super::{Store, Writer, contain};
use crate::error::{Error, Result};

/// The group-commit state of one manager (shared by its clones and registries).
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The batch accepting operations, if any.
    open: Option<Batch>,
    /// A batch's transaction is being committed: no other can begin until it is done.
    committing: bool,
    /// Threads in [`GroupCommit::run`] that have not yet applied their operation to a batch
    /// (including members of a discarded batch that have yet to apply theirs again).
    arriving: usize,
    /// What happened to batches that still have members to tell, by batch number.
    outcomes: HashMap<u64, Outcome>,
    next_batch: u64,
    /// Members of the last committed batch: more than one means writers are concurrent.
    last_members: usize,
}

struct Batch {
    writer: Writer,
    number: u64,
    /// Operations applied to it, not counting failed ones.
    members: usize,
    /// Whether any of them changed something: a batch of operations that all changed
    /// nothing ([`Writer::unchanged`]) is rolled back instead of committed (no fsync).
    changed: bool,
}

struct Outcome {
    /// `None` while the commit runs.
    verdict: Option<Verdict>,
    /// Members that have not collected the verdict yet.
    waiting: usize,
}

#[derive(Clone)]
enum Verdict {
    Committed,
    /// Another member's operation failed: nothing of the batch was committed.
    Retry,
    /// The commit failed with this error message; `io` when it was an I/O error (a full
    /// disk, a failed fsync), so that every member gets an error of the same kind.
    Failed {
        io: bool,
        message: String,
    },
}

impl GroupCommit {
    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| Error::Poisoned {
            action: "writing after a panic in another writing thread".into(),
        })
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> Result<MutexGuard<'a, State>> {
        self.changed.wait(guard).map_err(|_| Error::Poisoned {
            action: "writing after a panic in another writing thread".into(),
        })
    }

    /// Runs `op` in a write transaction shared with concurrent callers and returns its
    /// result once that transaction has committed. `op` may run more than once (when another
    /// operation of its batch failed); only its last run's changes are committed.
    pub(crate) fn run<T>(
        &self,
        store: &Store,
        what: &dyn Fn() -> String,
        op: &mut dyn FnMut(&Writer) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.lock()?;
        state.arriving += 1;
        loop {
            while state.open.is_none() && state.committing {
                state = self.wait(state)?;
            }
            let open = match state.open.take() {
                Some(batch) => batch,
                // Contained like every call into the engine: after an earlier contained panic
                // its locks are poisoned, and starting a transaction can panic too.
                None => match contain(what, || store.begin_write()) {
                    Ok(writer) => {
                        let number = state.next_batch;
                        state.next_batch += 1;
                        Batch {
                            writer,
                            number,
                            members: 0,
                            changed: false,
                        }
                    }
                    Err(e) => {
                        state.arriving -= 1;
                        self.changed.notify_all();
                        return Err(e);
                    }
                },
            };
            state.arriving -= 1;
            let batch = state.open.insert(open);
            let number = batch.number;
            match contain(what, || op(&batch.writer)) {
                Ok(out) => {
                    batch.members += 1;
                    if !batch.writer.take_unchanged() {
                        batch.changed = true;
                    }
                    match self.await_commit(store, state, number, what)? {
                        (_, Some(result)) => return result.map(|()| out),
                        // Counted as arriving again by the thread that discarded the batch.
                        (guard, None) => state = guard,
                    }
                }
                Err(e) => {
                    // Its changes may be partial: discard the batch, and let its members
                    // apply theirs again.
                    if let Some(batch) = state.open.take() {
                        // Its members arrive again at once, so that they share one batch.
                        state.arriving += batch.members;
                        if batch.members > 0 {
                            state.outcomes.insert(
                                batch.number,
                                Outcome {
                                    verdict: Some(Verdict::Retry),
                                    waiting: batch.members,
                                },
                            );
                        }
                        // Aborting runs the engine's rollback, which panics on locks that a
                        // contained panic of the operation poisoned: dropping must not unwind.
                        let writer = batch.writer;
                        contain_drop(move || drop(writer));
                    }
                    self.changed.notify_all();
                    return Err(e);
                }
            }
        }
    }

    /// Waits for batch `number`, which this thread's operation joined, to be committed
    /// (committing it when this thread is the last to arrive). `Some(result)` is the
    /// caller's result; `None` means the batch was discarded and the operation must run again.
    fn await_commit<'a>(
        &'a self,
        store: &Store,
        mut state: MutexGuard<'a, State>,
        number: u64,
        what: &dyn Fn() -> String,
    ) -> Result<(MutexGuard<'a, State>, Option<Result<()>>)> {
        let mut yielded = false;
        loop {
            if let Some(outcome) = state.outcomes.get_mut(&number)
                && let Some(verdict) = outcome.verdict.clone()
            {
                outcome.waiting -= 1;
                if outcome.waiting == 0 {
                    state.outcomes.remove(&number);
                }
                let result = match verdict {
                    Verdict::Committed => Some(Ok(())),
                    Verdict::Retry => None,
                    Verdict::Failed { io, message } => {
                        let action =
                            format!("{} (committed in a group with concurrent writes)", what());
                        Some(Err(if io {
                            Error::Io {
                                action,
                                source: std::io::Error::other(message),
                            }
                        } else {
                            Error::Storage {
                                action,
                                source: message.into(),
                            }
                        }))
                    }
                };
                return Ok((state, result));
            }
            let mine_is_open = state.open.as_ref().is_some_and(|b| b.number == number);
            if mine_is_open && state.arriving == 0 && !yielded && state.last_members > 1 {
                // Concurrent writers that the last commit just released may be on their way
                // back: let them run once, so that they join this batch rather than queue
                // behind its commit (a yield costs microseconds, a commit an fsync).
                yielded = true;
                drop(state);
                std::thread::yield_now();
                state = self.lock()?;
                continue;
            }
            // Everyone who came has applied: commit for the whole batch.
            if state.arriving == 0
                && let Some(batch) = state.open.take_if(|batch| batch.number == number)
            {
                state.committing = true;
                state.outcomes.insert(
                    number,
                    Outcome {
                        verdict: None,
                        waiting: batch.members - 1,
                    },
                );
                drop(state);
                let result = if batch.changed {
                    let result = contain(what, || batch.writer.commit(what));
                    store.wrote_file();
                    if result.is_ok() {
                        store.note_commit();
                    }
                    result
                } else {
                    contain(what, || batch.writer.roll_back(what))
                };
                let mut state = self.lock()?;
                state.committing = false;
                state.last_members = batch.members;
                let verdict = match &result {
                    Ok(()) => Verdict::Committed,
                    Err(e) => Verdict::Failed {
                        io: e.is_io(),
                        message: e.to_string(),
                    },
                };
                if batch.members > 1 {
                    if let Some(outcome) = state.outcomes.get_mut(&number) {
                        outcome.verdict = Some(verdict);
                    }
                } else {
                    state.outcomes.remove(&number);
                }
                self.changed.notify_all();
                return Ok((state, Some(result)));
            }
            state = self.wait(state)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{NodeType, RegistryManager, StepSpecification};

    /// Every batch's outcome is collected and dropped by its last member: after concurrent
    /// writes (shared commits, failures that send a batch's members to retry) the group
    /// keeps no outcome, so a long-running writer's memory does not grow with its batches.
    #[test]
    fn no_outcome_is_kept_once_every_member_has_collected_it() -> crate::Result<()> {
        let manager = RegistryManager::temporary()?;
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let manager = &manager;
                scope.spawn(move || -> crate::Result<()> {
                    let registry = manager.get_registry(&format!("ctx{}", thread % 3))?;
                    for n in 0..40 {
                        let spec = StepSpecification::new(format!("T{n}"), NodeType::Singular);
                        // Half of the names are taken by another thread: failures inside
                        // shared batches.
                        let _ = registry.register(&format!("s{}_{n}", thread % 4), &spec);
                    }
                    Ok(())
                });
            }
        });
        let state = manager
            .shared
            .group
            .state
            .lock()
            .map_err(|_| crate::Error::Poisoned {
                action: "reading the group's state".into(),
            })?;
        assert!(
            state.outcomes.is_empty(),
            "{} outcomes kept",
            state.outcomes.len()
        );
        assert!(state.open.is_none() && !state.committing && state.arriving == 0);
        Ok(())
    }
}
