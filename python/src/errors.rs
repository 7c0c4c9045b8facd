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
