//! How a call into the library runs: with the GIL released and any panic contained
//! ([`run`]); long work on a thread of its own while the caller runs Python's signal
//! handlers ([`run_interruptible`], [`run_cancellable`]); and never taking the GIL again
//! once the interpreter finalizes (a daemon thread's call as the program ends).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::errors::{Error, to_py};

/// Whether the interpreter is running and not finalizing: `Py_IsInitialized` turns 0 at the
/// moment finalization starts (after the `atexit` handlers, as daemon threads are abandoned).
#[allow(unsafe_code)]
fn interpreter_running() -> bool {
    // SAFETY: `Py_IsInitialized` only reads a flag of the runtime; it may be called at any
    // time, also without the GIL (PyO3 calls it so before attaching a thread).
    unsafe { pyo3::ffi::Py_IsInitialized() != 0 }
}

/// Set by [`prepare_exit`] (the package's `atexit` handler): the program is ending.
static EXITING: AtomicBool = AtomicBool::new(false);
/// The thread that ran [`prepare_exit`]: it runs the remaining `atexit` handlers and the
/// finalization, so its calls always return.
static EXIT_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Calls whose work is done and that are taking the GIL again (or about to).
static RETURNING: AtomicUsize = AtomicUsize::new(0);
/// How long a call ending while the program exits waits for the finalization before it
/// takes the GIL again anyway (an `atexit` handler may be waiting for its thread).
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// Whether a call whose work is done may take the GIL again (false: the interpreter is
/// finalizing, and the thread must never touch it again). A `true` is counted in
/// [`RETURNING`] until the caller has the GIL.
fn may_take_the_gil_again(began_running: bool) -> bool {
    // Counted before EXITING is read, and prepare_exit sets EXITING before it reads the
    // count (both SeqCst): either this call sees EXITING, or prepare_exit sees this call.
    RETURNING.fetch_add(1, SeqCst);
    if !began_running {
        return true; // the finalizing thread's own call, made during the finalization
    }
    if !EXITING.load(SeqCst) || EXIT_THREAD.get() == Some(&std::thread::current().id()) {
        if interpreter_running() {
            return true;
        }
        RETURNING.fetch_sub(1, SeqCst);
        return false;
    }
    RETURNING.fetch_sub(1, SeqCst);
    let waited = Instant::now();
    while interpreter_running() && waited.elapsed() < EXIT_GRACE {
        std::thread::sleep(Duration::from_millis(1));
    }
    if !interpreter_running() {
        return false;
    }
    RETURNING.fetch_add(1, SeqCst);
    true
}

/// Called by the package's `atexit` handler: from now on a call that ends in another thread
/// (a daemon thread's) waits for the finalization rather than taking the GIL, and the
/// calls already taking it get it now (the GIL is released until none is left, two
/// seconds at most). Without this, CPython before 3.14 ends a daemon thread that waits for
/// the GIL when the finalization starts with `pthread_exit`, whose forced unwinding through
/// this module's Rust frames aborts the whole process ("FATAL: exception not rethrown").
#[pyfunction]
pub(crate) fn prepare_exit(py: Python<'_>) {
    let _ = EXIT_THREAD.set(std::thread::current().id());
    EXITING.store(true, SeqCst);
    let start = Instant::now();
    while RETURNING.load(SeqCst) > 0 && start.elapsed() < Duration::from_secs(2) {
        py.detach(|| std::thread::sleep(Duration::from_millis(1)));
    }
}

/// Called in a forked child (`os.register_at_fork`): the calls its parent's other threads
/// were returning from do not exist in it.
#[pyfunction]
pub(crate) fn forget_other_threads() {
    RETURNING.store(0, SeqCst);
}

/// Runs `work` with the GIL released and any panic contained: a panic becomes
/// `pipeline_deps.Error`, a library error its Python exception.
///
/// A call that ends while the interpreter finalizes (a daemon thread's, as the program
/// exits) never takes the GIL again ([`may_take_the_gil_again`]): its result is dropped
/// (so that it holds no database open) and the thread parks until the process ends, as
/// CPython 3.14 itself hangs such threads.
pub(crate) fn run<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> pipeline_deps::Result<T> + Send,
{
    let began_running = interpreter_running();
    let outcome = detached(py, began_running, || catch_unwind(AssertUnwindSafe(work)));
    settle(outcome)
}

/// How often a call running [`run_interruptible`] or [`run_cancellable`] lets Python run its
/// signal handlers.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// As [`run`], for long work that holds nothing of a database (reading a document): `work`
/// runs on a thread of its own while the calling thread waits for it, running Python's
/// signal handlers every [`SIGNAL_CHECK`]. The exception a handler raises (Ctrl-C's
/// `KeyboardInterrupt`) ends the call at once; `work` then runs on to its end in its
/// thread, and its result is dropped. Without this, Python runs a handler only once the
/// call returns: Ctrl-C during a long import came after the import was written.
pub(crate) fn run_interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> pipeline_deps::Result<T> + Send + 'static,
{
    interruptible(py, None, work)
}

/// Asks the work of a [`run_cancellable`] call to stop: set when a signal handler raised.
#[derive(Clone, Default)]
pub(crate) struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Whether the call was interrupted: the work should stop (failing) as soon as it can.
    pub(crate) fn requested(&self) -> bool {
        self.0.load(SeqCst)
    }
}

/// As [`run_interruptible`], for long work that holds a database (an export: it reads the
/// file, so the manager's `close()` could not release it while it runs): when a signal
/// handler raises, the work is told to stop (`Stop::requested`), and the exception is
/// raised once its thread has stopped and let go of everything it held. The work must check
/// the [`Stop`] often; while it is waited for, handlers run on ([`wait_for_stop`]), and
/// one that raises again ends the wait.
pub(crate) fn run_cancellable<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Stop) -> pipeline_deps::Result<T> + Send + 'static,
{
    let stop = Stop::default();
    let seen = stop.clone();
    interruptible(py, Some(stop), move || work(&seen))
}

/// [`run_interruptible`], and with `stop` the work told to stop and waited for when a
/// signal handler raises ([`run_cancellable`]).
fn interruptible<T, F>(py: Python<'_>, stop: Option<Stop>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> pipeline_deps::Result<T> + Send + 'static,
{
    let began_running = interpreter_running();
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("pipeline-deps call".to_owned())
        .spawn(move || {
            // The caller may be gone (interrupted): then nobody wants the result.
            let _ = sender.send(catch_unwind(AssertUnwindSafe(work)));
        })
        .map_err(|e| {
            let raised = Error::new_err(format!(
                "could not start a thread for a pipeline-deps call, nothing was done: {e}"
            ));
            raised.set_cause(py, Some(PyErr::from(e)));
            raised
        })?;
    let mut receiver = receiver;
    loop {
        // The receiver goes along (it is `Send`, not `Sync`) and comes back.
        let (received, back) = detached(py, began_running, move || {
            (receiver.recv_timeout(SIGNAL_CHECK), receiver)
        });
        receiver = back;
        match received {
            Ok(outcome) => return settle(outcome),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    if let Some(stop) = &stop {
                        stop.0.store(true, SeqCst);
                        wait_for_stop(py, began_running, receiver, &interrupt)?;
                    }
                    return Err(interrupt);
                }
            }
            // Not reached: the thread sends before it ends, also after a panic (caught).
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Error::new_err(
                    "internal error in pipeline-deps (a bug; nothing was half-written): a \
                     call's thread ended without its result",
                ));
            }
        }
    }
}

/// Waits for the thread of a [`run_cancellable`] call that was told to stop (`interrupt` is
/// the exception that stopped it), running Python's signal handlers every [`SIGNAL_CHECK`]
/// meanwhile: the work stops at its next write of text, but a read of the database that
/// stalls (a PostgreSQL server that does not answer) holds it until the read returns. An
/// exception a handler raises meanwhile (Ctrl-C again) ends the wait, with `interrupt` as
/// its `__context__`; the thread then lets go of the database once its read returns.
fn wait_for_stop<T: Send>(
    py: Python<'_>,
    began_running: bool,
    mut receiver: std::sync::mpsc::Receiver<T>,
    interrupt: &PyErr,
) -> PyResult<()> {
    loop {
        let (received, back) = detached(py, began_running, move || {
            (receiver.recv_timeout(SIGNAL_CHECK), receiver)
        });
        receiver = back;
        // Its result (an error saying it stopped, or its work done after all) is dropped:
        // the interrupt is what the caller gets. `Disconnected` means the thread is gone,
        // having let go of its work too.
        if !matches!(received, Err(RecvTimeoutError::Timeout)) {
            return Ok(());
        }
        if let Err(again) = py.check_signals() {
            // What Python itself sets on an exception raised while another was pending.
            let _ = again.value(py).setattr("__context__", interrupt.value(py));
            return Err(again);
        }
    }
}

/// Runs `work` with the GIL released; if the interpreter finalized meanwhile (the call of
/// a daemon thread as the program ends), its result is dropped and the thread parks for
/// good instead of taking the GIL again ([`may_take_the_gil_again`]).
fn detached<T, F>(py: Python<'_>, began_running: bool, work: F) -> T
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let outcome = py.detach(|| {
        let outcome = work();
        if !may_take_the_gil_again(began_running) {
            drop(outcome);
            loop {
                std::thread::park();
            }
        }
        outcome
    });
    RETURNING.fetch_sub(1, SeqCst);
    outcome
}

/// The result of a call's work: a library error as its Python exception, a contained
/// panic as `pipeline_deps.Error`.
fn settle<T>(outcome: std::thread::Result<pipeline_deps::Result<T>>) -> PyResult<T> {
    match outcome {
        Ok(result) => result.map_err(to_py),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(Error::new_err(format!(
                "internal error in pipeline-deps (a bug; nothing was half-written): {detail}"
            )))
        }
    }
}
