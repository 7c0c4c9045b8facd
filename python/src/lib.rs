//! `pipeline_deps._native`: the Rust half of the `pipeline_deps` Python package.
//!
//! The Python half (`python/pipeline_deps/*.py`) gives the design's API its Pythonic shape
//! (dataclasses, the same registry object for the same context, the decorator, module-level
//! functions); this module only wraps the library. Specifications cross the boundary as JSON
//! text in the library's export format, results as plain Python values.
//!
//! Every call into the library releases the GIL ([`Python::detach`]) so that other Python
//! threads run meanwhile, and runs under [`std::panic::catch_unwind`], so a Rust panic reaches
//! Python as `pipeline_deps.Error`, never as a `PanicException`. Long work that writes
//! nothing (an import's reading of its document, an export) runs on a thread of its own
//! while the caller runs Python's signal handlers, so that Ctrl-C interrupts it
//! (`calls::run_interruptible`; an export, which holds the database, is stopped and waited
//! for first: `calls::run_cancellable`).
//! A call still running in another thread when the interpreter finalizes (a daemon thread's)
//! never takes the GIL again: its thread parks (`calls::run`).
// One audited call (`calls::interpreter_running`, a read of `Py_IsInitialized`) is allowed.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod calls;
mod errors;
mod handles;
mod resolver;
mod shown;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<handles::NativeManager>()?;
    m.add_class::<handles::NativeRegistry>()?;
    m.add_class::<resolver::NativeResolver>()?;
    m.add_function(wrap_pyfunction!(handles::default_database_path, m)?)?;
    m.add_function(wrap_pyfunction!(handles::set_default_database_path, m)?)?;
    m.add_function(wrap_pyfunction!(handles::url_without_password, m)?)?;
    m.add_function(wrap_pyfunction!(shown::shown_name, m)?)?;
    m.add_function(wrap_pyfunction!(shown::shown_path, m)?)?;
    m.add_function(wrap_pyfunction!(handles::close_default_manager, m)?)?;
    m.add_function(wrap_pyfunction!(calls::prepare_exit, m)?)?;
    m.add_function(wrap_pyfunction!(calls::forget_other_threads, m)?)?;
    m.add("EXPORT_SCHEMA", pipeline_deps::transfer::EXPORT_SCHEMA)?;
    m.add("SCHEMA_VERSION", pipeline_deps::storage::SCHEMA_VERSION)?;
    Ok(())
}
