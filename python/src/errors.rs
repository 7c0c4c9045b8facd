//! The Python exception hierarchy and the mapping of the library's errors onto it.
//!
//! ```text
//! pipeline_deps.Error
//! ├── InvalidInputError          bad names, bad JSON
//! │   └── InvalidSpecError       a specification failed validation
//! ├── AlreadyRegisteredError     `register` of a taken step name
//! ├── ContextClearedError        a registry object outlived `clear_context`
//! ├── InUseError                 another process or manager holds the file
//! ├── CorruptedError             damaged or foreign file
//! ├── SchemaTooNewError          written by a newer pipeline-deps
//! ├── DependencyResolutionError  required dependencies left unresolved
//! ├── ServerError                the PostgreSQL server could not be used
//! ├── ReadOnlyError              a write through a manager opened read-only
//! ├── NoSuchContextError         a missing context asked of a read-only manager
//! └── ClosedError                the manager or registry was closed
//! ```
//! Anything else (I/O, a contained panic, the default manager already open) is a plain
//! `pipeline_deps.Error`; an I/O error's `OSError` is its `__cause__`.
//!
//! Every exception has the attributes `context` and `step`: the exact names (not escaped,
//! not shortened, as the message shows them) of the context and the step it is about, or
//! `None`. `DependencyResolutionError` also has `dependencies`, the unresolved ones.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

use pipeline_deps::Error as LibError;

create_exception!(
    pipeline_deps,
    Error,
    PyException,
    "Base class of every error raised by pipeline_deps."
);
create_exception!(
    pipeline_deps,
    InvalidInputError,
    Error,
    "A name or input text was refused; nothing was written."
);
create_exception!(
    pipeline_deps,
    InvalidSpecError,
    InvalidInputError,
    "A step specification failed validation; nothing was written."
);
create_exception!(
    pipeline_deps,
    AlreadyRegisteredError,
    Error,
    "register() of a step name that is already taken (use upsert())."
);
create_exception!(
    pipeline_deps,
    ContextClearedError,
    Error,
    "The context was cleared after this registry object was taken."
);
create_exception!(
    pipeline_deps,
    InUseError,
    Error,
    "Another process or manager has the database file open."
);
create_exception!(
    pipeline_deps,
    CorruptedError,
    Error,
    "The database file is damaged or is not a pipeline-deps registry."
);
create_exception!(
    pipeline_deps,
    SchemaTooNewError,
    Error,
    "The database was written by a newer version of pipeline-deps."
);
create_exception!(
    pipeline_deps,
    DependencyResolutionError,
    Error,
    "A step has required dependencies that no available step provides."
);
create_exception!(
    pipeline_deps,
    ServerError,
    Error,
    "The PostgreSQL server of a postgres:// registry could not be used (unreachable, credentials refused, connection lost, timeout, read-only); the next call reconnects."
);
create_exception!(
    pipeline_deps,
    ReadOnlyError,
    Error,
    "A write through a manager opened with read_only=True; nothing was written."
);
create_exception!(
    pipeline_deps,
    NoSuchContextError,
    Error,
    "A context that does not exist was asked of a read-only manager, which cannot create it."
);
create_exception!(
    pipeline_deps,
    ClosedError,
    Error,
    "The manager or registry was closed."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("InvalidSpecError", py.get_type::<InvalidSpecError>())?;
    m.add(
        "AlreadyRegisteredError",
        py.get_type::<AlreadyRegisteredError>(),
    )?;
    m.add("ContextClearedError", py.get_type::<ContextClearedError>())?;
    m.add("InUseError", py.get_type::<InUseError>())?;
    m.add("CorruptedError", py.get_type::<CorruptedError>())?;
    m.add("SchemaTooNewError", py.get_type::<SchemaTooNewError>())?;
    m.add(
        "DependencyResolutionError",
        py.get_type::<DependencyResolutionError>(),
    )?;
    m.add("ServerError", py.get_type::<ServerError>())?;
    m.add("ReadOnlyError", py.get_type::<ReadOnlyError>())?;
    m.add("NoSuchContextError", py.get_type::<NoSuchContextError>())?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    // Class-level defaults, so that every exception has them (also one raised in Python).
    // `None` is immutable and so can be shared; a list cannot: each exception gets its own.
    let base = py.get_type::<Error>();
    base.setattr("context", py.None())?;
    base.setattr("step", py.None())?;
    py.get_type::<DependencyResolutionError>()
        .setattr("dependencies", Bound::new(py, OwnEmptyList)?)?;
    Ok(())
}

/// The class attribute `DependencyResolutionError.dependencies`: an exception that was not
/// given its list (one raised in Python, say) gets an empty list of its own the first time
/// it is read, kept in its `__dict__`. A list shared as a class-level default would be
/// changed for every exception by an `append` to one. A non-data descriptor (no `__set__`):
/// a list set on an exception (as `About::set_on` does) is the exception's own and is read
/// before it.
#[pyclass(module = "pipeline_deps._native", name = "_OwnEmptyList", frozen)]
struct OwnEmptyList;

#[pymethods]
impl OwnEmptyList {
    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        instance: Option<Bound<'py, PyAny>>,
        _owner: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let Some(instance) = instance.filter(|i| !i.is_none()) else {
            // Read on the class itself: an empty list, as the class attribute was (and as
            // the stub types it), a new one each time.
            return Ok(pyo3::types::PyList::empty(py).into_any());
        };
        let own = instance.getattr("__dict__")?.call_method1(
            "setdefault",
            ("dependencies", pyo3::types::PyList::empty(py)),
        )?;
        Ok(own)
    }
}

/// The exact names an error is about: its context, its step (for a specification refused,
/// the step when every problem is about that one step) and, for unresolved dependencies,
/// which.
struct About {
    context: Option<String>,
    step: Option<String>,
    dependencies: Option<Vec<String>>,
}

impl About {
    fn of(error: &LibError) -> About {
        let (context, step) = match error {
            LibError::AlreadyRegistered { context, step } => (Some(context), Some(step)),
            LibError::ContextCleared { context }
            | LibError::NoSuchContext { context, .. }
            | LibError::ContextNotEmpty { context, .. } => (Some(context), None),
            LibError::InvalidContextName { name, .. } => (Some(name), None),
            LibError::InvalidStepName { name, .. } => (None, Some(name)),
            LibError::InvalidSpec { context, problems } => {
                let step = problems.first().map(|p| &p.step);
                let one = step.filter(|s| problems.iter().all(|p| &p.step == *s));
                (Some(context), one)
            }
            LibError::Unresolved(unresolved) => (None, Some(&unresolved.step)),
            _ => (None, None),
        };
        About {
            context: context.cloned(),
            step: step.cloned(),
            dependencies: error.unresolved().map(|u| u.dependencies.clone()),
        }
    }

    /// Sets the attributes on `raised` (a failure to set one leaves it `None`: the
    /// exception itself matters more).
    fn set_on(&self, py: Python<'_>, raised: &PyErr) {
        let value = raised.value(py);
        if let Some(context) = &self.context {
            let _ = value.setattr("context", context);
        }
        if let Some(step) = &self.step {
            let _ = value.setattr("step", step);
        }
        if let Some(dependencies) = &self.dependencies {
            let _ = value.setattr("dependencies", dependencies);
        }
    }
}

/// `result`, whose exception (if any) names `context` when the library's error did not (an
/// import refusal, unresolved dependencies: errors about a registry's context that carry
/// no context of their own).
pub(crate) fn within<T>(py: Python<'_>, context: &str, result: PyResult<T>) -> PyResult<T> {
    result.inspect_err(|raised| {
        let value = raised.value(py);
        if value.getattr("context").is_ok_and(|c| c.is_none()) {
            let _ = value.setattr("context", context);
        }
    })
}

/// Sets `step` on a raised exception (an import refusal, whose step the library reports
/// apart from its error).
pub(crate) fn set_step(py: Python<'_>, raised: &PyErr, step: &str) {
    let _ = raised.value(py).setattr("step", step);
}

/// The Python exception for a library error: the library's message, then each of its causes
/// on a `caused by:` line (as the command-line tool prints them: a library message never
/// repeats its cause), and the first cause as `__cause__` too (an `OSError` subclass, such
/// as `FileNotFoundError`, for an I/O cause).
pub(crate) fn to_py(error: LibError) -> PyErr {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    let first_cause = source.map(cause_of);
    while let Some(cause) = source {
        let text = pipeline_deps::spec::escape_name(&cause.to_string()).into_owned();
        message.push_str("\n  caused by: ");
        message.push_str(&text);
        source = cause.source();
    }
    let about = About::of(&error);
    let raised = exception_of(error, message);
    Python::attach(|py| {
        about.set_on(py, &raised);
        if let Some(cause) = first_cause {
            raised.set_cause(py, Some(cause));
        }
    });
    raised
}

/// The Python exception standing for a library error's cause: an `OSError` subclass for an
/// I/O error, a `ValueError` for the JSON parser's (see [`json_decode_error`] for the one
/// of a document Python passed in), else an `Exception`.
fn cause_of(cause: &(dyn std::error::Error + 'static)) -> PyErr {
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        return PyErr::from(std::io::Error::new(io.kind(), io.to_string()));
    }
    if cause.is::<serde_json::Error>() {
        return PyValueError::new_err(cause.to_string());
    }
    PyException::new_err(cause.to_string())
}

/// The `json.JSONDecodeError` standing for `error` when it is about `document` not being
/// JSON (a syntax error or its early end), as Python's own `json.loads` would raise it:
/// its message, the document and the position (in characters) where the parser stopped,
/// from which it computes `lineno` and `colno`. `None` for any other error.
pub(crate) fn json_decode_error(
    py: Python<'_>,
    error: &LibError,
    text: &str,
    document: &Bound<'_, PyAny>,
) -> Option<PyErr> {
    use serde_json::error::Category;
    let mut source = std::error::Error::source(error);
    let parser = loop {
        let cause = source?;
        if let Some(parser) = cause.downcast_ref::<serde_json::Error>() {
            break parser;
        }
        source = cause.source();
    };
    if !matches!(parser.classify(), Category::Syntax | Category::Eof) || parser.line() == 0 {
        return None;
    }
    let message = parser.to_string();
    let suffix = format!(" at line {} column {}", parser.line(), parser.column());
    let message = message.strip_suffix(&suffix).unwrap_or(&message);
    let position = char_position(text, parser.line(), parser.column());
    let decode_error = py
        .import("json")
        .and_then(|json| json.getattr("JSONDecodeError"))
        .and_then(|class| class.call1((message, document, position)))
        .ok()?;
    Some(PyErr::from_value(decode_error))
}

/// The position in characters of the parser's line (from 1) and column (in bytes from 1,
/// the byte where it stopped) in `text`: the character holding that byte.
fn char_position(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut byte = (line_start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    text[..byte].chars().count()
}

/// The exception class of `error`, carrying `message`.
fn exception_of(error: LibError, message: String) -> PyErr {
    match error {
        LibError::InvalidSpec { .. } => InvalidSpecError::new_err(message),
        LibError::InvalidContextName { .. } | LibError::InvalidInput { .. } => {
            InvalidInputError::new_err(message)
        }
        LibError::AlreadyRegistered { .. } => AlreadyRegisteredError::new_err(message),
        LibError::ContextCleared { .. } => ContextClearedError::new_err(message),
        LibError::InUse { .. } | LibError::Forked { .. } => InUseError::new_err(message),
        LibError::Corrupted { .. } | LibError::NotARegistry { .. } => {
            CorruptedError::new_err(message)
        }
        LibError::SchemaTooNew { .. } => SchemaTooNewError::new_err(message),
        LibError::Unresolved(_) => DependencyResolutionError::new_err(message),
        LibError::Server { .. } => ServerError::new_err(message),
        LibError::ReadOnly { .. } => ReadOnlyError::new_err(message),
        LibError::NoSuchContext { .. } => NoSuchContextError::new_err(message),
        _ => Error::new_err(message),
    }
}

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
/// the [`Stop`] often; the call waits for it without running handlers meanwhile.
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
                        // Its result (an error saying it stopped, or its work done after
                        // all) is dropped: the interrupt is what the caller gets. An
                        // `Err` means the thread is gone, having let go of its work too.
                        drop(detached(py, began_running, move || receiver.recv()));
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
