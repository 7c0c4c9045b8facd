//! The manager and registry handles Python holds.
//!
//! Each wraps a library handle in a `Mutex<Option<_>>` so that Python can close it
//! deterministically (`close()`, `with` blocks) instead of waiting for the garbage collector:
//! the database file is released once the manager and every registry and resolver taken from
//! it are closed or collected. Calls clone the (cheap, `Arc`-backed) library handle out of the
//! lock and run without the GIL.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use pipeline_deps::{RegistryManager, SpecificationRegistry, StepSpecification};

use crate::calls::{Stop, run, run_cancellable, run_interruptible};
use crate::errors::{ClosedError, Error, json_decode_error, set_step, to_py, within};

/// Locks `mutex`; a poisoned lock only means another thread panicked while holding it, and
/// the `Option` inside is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registry manager: one database (a file, a temporary file, memory, or a PostgreSQL
/// server).
#[pyclass(module = "pipeline_deps._native", frozen)]
pub(crate) struct NativeManager {
    inner: Mutex<Option<RegistryManager>>,
    /// The file, `:memory:`, or the server (without its password), as the OS names it
    /// (Python sees a file name that is not UTF-8 with `os.fsdecode`'s escapes, so that it
    /// names the same file).
    path: std::ffi::OsString,
}

impl NativeManager {
    fn wrap(manager: RegistryManager, path: impl Into<std::ffi::OsString>) -> Self {
        NativeManager {
            inner: Mutex::new(Some(manager)),
            path: path.into(),
        }
    }

    fn handle(&self) -> PyResult<RegistryManager> {
        // The lock is let go of first ([`NativeRegistry::handle`]).
        let handle = lock(&self.inner).clone();
        handle.ok_or_else(|| {
            // As the library's messages show a path.
            ClosedError::new_err(format!(
                "the registry manager of {} is closed",
                crate::shown::path(Path::new(&self.path))
            ))
        })
    }
}

#[pymethods]
impl NativeManager {
    /// Opens (or creates) the database file at `path`; `single_writer` lets read-only
    /// managers in other processes read it meanwhile (`Concurrency::SingleWriter`).
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf, single_writer: bool) -> PyResult<Self> {
        let mode = if single_writer {
            pipeline_deps::Concurrency::SingleWriter
        } else {
            pipeline_deps::Concurrency::Exclusive
        };
        let manager = run(py, || {
            RegistryManager::builder().concurrency(mode).open(&path)
        })?;
        Ok(NativeManager::wrap(manager, path))
    }

    /// Opens the database file at `path` read-only.
    #[staticmethod]
    fn open_read_only(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let manager = run(py, || RegistryManager::open_read_only(&path))?;
        Ok(NativeManager::wrap(manager, path))
    }

    /// Connects to a registry on the PostgreSQL server named by `url`; `read_only` creates
    /// nothing and refuses every write.
    #[staticmethod]
    fn connect(py: Python<'_>, url: String, read_only: bool) -> PyResult<Self> {
        let manager = run(py, || {
            RegistryManager::builder()
                .read_only(read_only)
                .connect(&url)
        })?;
        // The server without the password.
        let shown = manager.path();
        Ok(NativeManager::wrap(manager, shown))
    }

    /// Whether other processes may write the same registry meanwhile (a PostgreSQL
    /// server), so that a registry object kept per context must be checked before reuse.
    #[getter]
    fn shared(&self) -> PyResult<bool> {
        Ok(self.handle()?.is_shared())
    }

    /// A database in a temporary file, removed when the manager and its registries are gone.
    #[staticmethod]
    fn temporary(py: Python<'_>) -> PyResult<Self> {
        let manager = run(py, RegistryManager::temporary)?;
        let path = manager.path();
        Ok(NativeManager::wrap(manager, path))
    }

    /// A database in memory.
    #[staticmethod]
    fn in_memory(py: Python<'_>) -> PyResult<Self> {
        let manager = run(py, RegistryManager::in_memory)?;
        Ok(NativeManager::wrap(manager, ":memory:"))
    }

    /// The process-wide default manager (shared with Rust code in this process).
    #[staticmethod]
    fn default_manager(py: Python<'_>) -> PyResult<Self> {
        let manager = run(py, pipeline_deps::default_manager::registry_manager)?;
        // In memory it is `:memory:`, as for `RegistryManager(":memory:")`.
        let memory = pipeline_deps::default_manager::resolve_default_path()
            .is_some_and(|p| p.as_os_str() == pipeline_deps::default_manager::MEMORY);
        let path = if memory {
            PathBuf::from(pipeline_deps::default_manager::MEMORY)
        } else {
            manager.path()
        };
        Ok(NativeManager::wrap(manager, path))
    }

    /// The database file (or `:memory:`).
    #[getter]
    fn path(&self) -> std::ffi::OsString {
        self.path.clone()
    }

    /// Whether the manager was opened read-only.
    #[getter]
    fn read_only(&self) -> PyResult<bool> {
        Ok(self.handle()?.is_read_only())
    }

    /// The registry of `context`, created durably when missing and `create` is true;
    /// `None` when it is missing and `create_if_missing` is false. (Parameters are named as
    /// in the public API: a `TypeError` names them.)
    fn get_registry(
        &self,
        py: Python<'_>,
        context_name: String,
        create_if_missing: bool,
    ) -> PyResult<Option<NativeRegistry>> {
        let manager = self.handle()?;
        let registry = run(py, move || {
            if create_if_missing {
                manager.get_registry(&context_name).map(Some)
            } else {
                manager.get_registry_if_exists(&context_name)
            }
        })?;
        Ok(registry.map(NativeRegistry::wrap))
    }

    /// Every context, in creation order.
    fn list_contexts(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let manager = self.handle()?;
        run(py, move || manager.list_contexts())
    }

    /// Deletes `context` with its specifications; whether it existed.
    fn clear_context(&self, py: Python<'_>, context_name: String) -> PyResult<bool> {
        let manager = self.handle()?;
        run(py, move || manager.clear_context(&context_name))
    }

    /// Deletes the context of `registry` if it is still that context (not one created again
    /// under its name since); whether it deleted it.
    fn clear_context_of(&self, py: Python<'_>, registry: &NativeRegistry) -> PyResult<bool> {
        let manager = self.handle()?;
        let registry = registry.handle()?;
        run(py, move || manager.clear_context_of(&registry))
    }

    /// Deletes every context; how many there were.
    fn clear_all_contexts(&self, py: Python<'_>) -> PyResult<usize> {
        let manager = self.handle()?;
        run(py, move || manager.clear_all_contexts())
    }

    /// `{context: {"step_count", "step_type_count", "registry_type"}}` in creation order.
    fn get_context_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let manager = self.handle()?;
        let stats = run(py, move || manager.get_context_stats())?;
        let result = PyDict::new(py);
        for (context, stat) in stats {
            let entry = PyDict::new(py);
            entry.set_item("step_count", stat.step_count)?;
            entry.set_item("step_type_count", stat.step_type_count)?;
            entry.set_item("registry_type", stat.registry_type)?;
            result.set_item(context, entry)?;
        }
        Ok(result)
    }

    /// Seconds per round of the Rust API registering `steps` (name, export-format JSON;
    /// parsed once, before timing) into a fresh context, `iterations` rounds; the contexts
    /// are cleared afterwards. The same-process baseline of python/bench/bench_resolve.py.
    fn rust_register_seconds(
        &self,
        py: Python<'_>,
        steps: Vec<(String, String)>,
        iterations: u32,
    ) -> PyResult<f64> {
        let manager = self.handle()?;
        run(py, move || {
            let specs = steps
                .iter()
                .map(|(name, json)| Ok((name.as_str(), StepSpecification::from_json(json)?)))
                .collect::<pipeline_deps::Result<Vec<_>>>()?;
            let iterations = iterations.max(1);
            let contexts: Vec<String> = (0..iterations)
                .map(|i| format!("__bench_rust_{i}"))
                .collect();
            let start = std::time::Instant::now();
            for context in &contexts {
                let registry = manager.get_registry(context)?;
                for (name, spec) in &specs {
                    registry.register(name, spec)?;
                }
            }
            let seconds = start.elapsed().as_secs_f64() / f64::from(iterations);
            for context in &contexts {
                manager.clear_context(context)?;
            }
            Ok(seconds)
        })
    }

    /// Lets go of the database (it closes once every registry taken from it is closed too).
    fn close(&self) {
        // Dropped once the lock is let go of: the last handle closes the database.
        let taken = lock(&self.inner).take();
        drop(taken);
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        lock(&self.inner).is_none()
    }
}

/// The registry of one context.
#[pyclass(module = "pipeline_deps._native", frozen)]
pub(crate) struct NativeRegistry {
    inner: Mutex<Option<SpecificationRegistry>>,
    context: String,
}

impl NativeRegistry {
    fn wrap(registry: SpecificationRegistry) -> Self {
        NativeRegistry {
            context: registry.context_name().to_owned(),
            inner: Mutex::new(Some(registry)),
        }
    }

    /// The library handle (for the resolver).
    pub(crate) fn handle(&self) -> PyResult<SpecificationRegistry> {
        // The lock is let go of before the error is made: making it lets go of the GIL
        // (pyo3 normalizes the exception so), and a thread that took the GIL meanwhile and
        // waited for this lock would hang the process, holding the GIL this one needs.
        let handle = lock(&self.inner).clone();
        handle.ok_or_else(|| {
            let raised = ClosedError::new_err(format!(
                "the registry of context {} is closed",
                crate::shown::name(&self.context)
            ));
            // Named exactly, as every error about a context names it (`context`).
            Python::attach(|py| {
                let _ = raised.value(py).setattr("context", &self.context);
            });
            raised
        })
    }
}

/// The output of an export from Python: `out`, until the call is interrupted ([`Stop`]), when
/// the next write fails and so ends the export.
struct UntilStopped<'a> {
    out: &'a mut Vec<u8>,
    stop: &'a Stop,
}

impl std::io::Write for UntilStopped<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.stop.requested() {
            // Not `Interrupted`, which `write_all` would retry.
            return Err(std::io::Error::other("the export was interrupted"));
        }
        self.out.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The specification of step `step` that the package's Python half wrote (`spec_json` in
/// `_spec.py`: `json.dumps` of a spec it has already read key by key, so no key is unknown or
/// given twice), read as it is: the strict reading of [`StepSpecification::from_json`],
/// meant for text from outside, parses it twice and made a registration from Python about
/// 20 % slower. Its error names the step.
fn read_own_json(text: &str, step: &str) -> pipeline_deps::Result<StepSpecification> {
    serde_json::from_str(text).map_err(|e| pipeline_deps::Error::InvalidInput {
        what: format!(
            "the specification of step {} handed over by the Python package",
            crate::shown::name(step)
        ),
        detail: e.to_string(),
        source: Some(Box::new(e)),
    })
}

/// The export-format JSON of `spec`.
pub(crate) fn spec_json(spec: &StepSpecification) -> pipeline_deps::Result<String> {
    serde_json::to_string(spec).map_err(|e| pipeline_deps::Error::InvalidInput {
        what: "a specification being handed to Python".to_owned(),
        detail: e.to_string(),
        source: Some(Box::new(e)),
    })
}

#[pymethods]
impl NativeRegistry {
    /// The context this registry belongs to.
    #[getter]
    fn context_name(&self) -> String {
        self.context.clone()
    }

    /// A second handle to this registry's context (the same context, not one created again
    /// under its name), closed independently of this one.
    fn duplicate(&self) -> PyResult<NativeRegistry> {
        Ok(NativeRegistry::wrap(self.handle()?))
    }

    /// Registers `spec_json` (one step in the export format) as `step_name`; fails if taken.
    fn register(&self, py: Python<'_>, step_name: String, spec_json: String) -> PyResult<()> {
        let registry = self.handle()?;
        run(py, move || {
            let spec = read_own_json(&spec_json, &step_name)?;
            registry.register(&step_name, &spec)
        })
    }

    /// Registers or replaces `step_name`.
    fn upsert(&self, py: Python<'_>, step_name: String, spec_json: String) -> PyResult<()> {
        let registry = self.handle()?;
        run(py, move || {
            let spec = read_own_json(&spec_json, &step_name)?;
            registry.upsert(&step_name, &spec)
        })
    }

    /// The export-format JSON of `step_name`'s specification, or `None`.
    fn get_specification(&self, py: Python<'_>, step_name: String) -> PyResult<Option<String>> {
        let registry = self.handle()?;
        run(py, move || {
            registry
                .get_specification(&step_name)?
                .map(|spec| spec_json(&spec))
                .transpose()
        })
    }

    /// `(step name, JSON)` of every step of `step_type`, in registration order.
    fn get_specifications_by_type(
        &self,
        py: Python<'_>,
        step_type: String,
    ) -> PyResult<Vec<String>> {
        let registry = self.handle()?;
        run(py, move || {
            registry
                .get_specifications_by_type(&step_type)?
                .iter()
                .map(|spec| spec_json(spec))
                .collect()
        })
    }

    /// Step names in registration order.
    fn list_step_names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let registry = self.handle()?;
        run(py, move || registry.list_step_names())
    }

    /// Step types in first-seen order.
    fn list_step_types(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let registry = self.handle()?;
        run(py, move || registry.list_step_types())
    }

    /// Removes `step_name`; whether it was registered.
    fn unregister(&self, py: Python<'_>, step_name: String) -> PyResult<bool> {
        let registry = self.handle()?;
        run(py, move || registry.unregister(&step_name))
    }

    /// Removes every step of the context (the context stays).
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        let registry = self.handle()?;
        run(py, move || registry.clear())
    }

    /// Number of steps.
    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        let registry = self.handle()?;
        run(py, move || registry.len())
    }

    /// The context's revision (it changes with every write); `ContextClearedError` once the
    /// context was cleared, also by another process.
    fn revision(&self, py: Python<'_>) -> PyResult<u64> {
        let registry = self.handle()?;
        run(py, move || registry.revision())
    }

    /// Whether `step_name` is registered.
    fn contains(&self, py: Python<'_>, step_name: String) -> PyResult<bool> {
        let registry = self.handle()?;
        run(py, move || registry.contains(&step_name))
    }

    /// The context in the export format (`pipeline-deps export`'s JSON). It is made on a
    /// thread of its own, so that Ctrl-C interrupts a long export at once
    /// ([`run_cancellable`]): the export stops at its next write of text, and
    /// `KeyboardInterrupt` is raised once it has, so that it holds the database no longer
    /// (an export writes nothing to it). A read that stalls on a PostgreSQL server holds it
    /// until the server answers: a second Ctrl-C meanwhile raises at once.
    fn export_json(&self, py: Python<'_>) -> PyResult<String> {
        let registry = self.handle()?;
        let text = run_cancellable(py, move |stop| {
            let mut text = Vec::new();
            registry.export_json_to(UntilStopped {
                out: &mut text,
                stop,
            })?;
            Ok(text)
        })?;
        String::from_utf8(text).map_err(|e| {
            Error::new_err(format!(
                "internal error in pipeline-deps (a bug; nothing was written): the export of \
                 context {} is not UTF-8: {e}",
                crate::shown::name(&self.context)
            ))
        })
    }

    /// Imports the export format or the cursus fixture format in one transaction; how many
    /// steps were written.
    ///
    /// The document is read on a thread of its own ([`run_interruptible`]): Ctrl-C while it
    /// is read raises at once and writes nothing. The write is one transaction and runs to
    /// its end: a signal that came during it raises once it is done, with a note saying
    /// that the import was completed (not, as Python alone would, with no word of it).
    fn import_json(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyString>,
        replace: bool,
        allow_unknown_fields: bool,
    ) -> PyResult<usize> {
        let registry = self.handle()?;
        let document = text.to_cow()?.into_owned();
        let options = pipeline_deps::ImportOptions::new()
            .replace(replace)
            .allow_unknown_fields(allow_unknown_fields);
        let (document, parsed) = run_interruptible(py, move || {
            let parsed = pipeline_deps::transfer::parse_steps_json_located(&document, &options);
            Ok((document, parsed))
        })?;
        let steps = match parsed {
            Ok(steps) => steps,
            Err(refusal) => {
                // Worded as the library's own `import_json_with` words it.
                let refusal = refusal.in_context(&self.context);
                let decode_error = json_decode_error(py, &refusal.error, &document, text.as_any());
                let raised = to_py(refusal.error);
                if let Some(step) = refusal.step {
                    set_step(py, &raised, &step);
                }
                if let Some(decode_error) = decode_error {
                    raised.set_cause(py, Some(decode_error));
                }
                return within(py, &self.context, Err(raised));
            }
        };
        drop(document);
        // A signal that came as the reading ended: nothing is written yet.
        py.check_signals()?;
        let written = run(py, move || {
            let items = steps.iter().map(|(name, spec)| (name.as_str(), spec));
            if replace {
                registry.upsert_many(items)
            } else {
                registry.register_many(items)
            }
        });
        let written = within(py, &self.context, written)?;
        if let Err(interrupt) = py.check_signals() {
            let note = format!(
                "the import into context {} was writing when the signal came, and was \
                 completed: its {written} step(s) were written",
                crate::shown::name(&self.context)
            );
            // Python 3.11 and later show notes; before, the exception goes without it.
            let _ = interrupt.value(py).call_method1("add_note", (note,));
            return Err(interrupt);
        }
        Ok(written)
    }

    /// Lets go of this registry's hold on the database.
    fn close(&self) {
        // Dropped once the lock is let go of: the last handle closes the database.
        let taken = lock(&self.inner).take();
        drop(taken);
    }
}

/// The file the process-wide default manager opens (or opened), if any, as a `str` (a
/// `pathlib.Path` would fold a `postgres://` URL's `//`).
#[pyfunction]
pub(crate) fn default_database_path() -> Option<std::ffi::OsString> {
    pipeline_deps::default_manager::resolve_default_path().map(PathBuf::into_os_string)
}

/// `path` as it may be shown: a server URL without its password (the library's reading,
/// which hides a password however it is written), anything else as it is.
#[pyfunction]
pub(crate) fn url_without_password(path: &str) -> String {
    pipeline_deps::storage::url_without_password(path)
}

/// Closes the process-wide default manager (its file closes once every handle taken from it
/// is dropped); the next use opens it again. Whether it was open.
#[pyfunction]
pub(crate) fn close_default_manager(py: Python<'_>) -> bool {
    py.detach(pipeline_deps::default_manager::close_default_manager)
}

/// Chooses the default manager's file before its first use (an error once it is open on
/// another file).
#[pyfunction]
pub(crate) fn set_default_database_path(py: Python<'_>, path: PathBuf) -> PyResult<()> {
    run(py, move || {
        pipeline_deps::default_manager::set_default_database_path(path)
    })
}
