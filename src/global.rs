//! The process-wide default manager and the design's free functions.
//!
//! [`registry_manager`] opens, on first use, the file named by the `PIPELINE_DEPS_DB`
//! environment variable, or else [`default_database_path`] (`:memory:`, [`MEMORY`], is a
//! database in memory instead of a file). Call
//! [`set_default_database_path`] before first use to choose another file, and
//! [`close_default_manager`] before the program ends to close the file cleanly (a static is
//! never dropped, so without it the file is left as a crash leaves it: safe, but the next
//! open repairs it).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Weak};

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::manager::{ContextStats, RegistryManager};
use crate::registry::SpecificationRegistry;

/// The environment variable naming the default database file.
pub const DB_ENV_VAR: &str = "PIPELINE_DEPS_DB";

/// The open default manager, if any. Locked after [`CHOSEN_PATH`] when both are needed.
static MANAGER: Mutex<Option<RegistryManager>> = Mutex::new(None);
static CHOSEN_PATH: Mutex<Option<PathBuf>> = Mutex::new(None);
/// The file the open default manager was opened on (set with [`MANAGER`], under
/// [`CHOSEN_PATH`]'s lock).
static OPENED_ON: Mutex<Option<PathBuf>> = Mutex::new(None);
/// The file manager [`close_default_manager`] closed last, and its path: while registries
/// taken from it live, its file stays open (a second open of it would be `InUse`), so the
/// next use of the default manager on that path takes it back instead of opening it again.
static CLOSED: Mutex<Option<(PathBuf, Weak<crate::manager::Shared>)>> = Mutex::new(None);

/// The open default manager (a clone: they share one database handle).
fn open_manager() -> Option<RegistryManager> {
    MANAGER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The per-user default database file, used when `PIPELINE_DEPS_DB` is not set:
/// `pipeline-deps/registry.redb` under the platform's per-user local data directory, as
/// the `directories` crate finds it: `$XDG_DATA_HOME` (when absolute), else
/// `$HOME/.local/share` (Linux and other Unixes), `$HOME/Library/Application Support`
/// (macOS), `%LOCALAPPDATA%` (Windows).
/// `None` when no home directory can be found.
pub fn default_database_path() -> Option<PathBuf> {
    let base = directories::BaseDirs::new()?;
    Some(
        base.data_local_dir()
            .join("pipeline-deps")
            .join("registry.redb"),
    )
}

/// The file the default manager opens (or opened): the path set with
/// [`set_default_database_path`], else `PIPELINE_DEPS_DB`, else [`default_database_path`].
pub fn resolve_default_path() -> Option<PathBuf> {
    let chosen = CHOSEN_PATH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    path_after(chosen)
}

/// The lookup order after an explicitly chosen path: `PIPELINE_DEPS_DB`, then the per-user
/// default.
fn path_after(chosen: Option<PathBuf>) -> Option<PathBuf> {
    chosen
        .or_else(|| {
            std::env::var_os(DB_ENV_VAR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(default_database_path)
}

/// Points the default manager at `path`. Must be called before its first use (or after
/// [`close_default_manager`]).
///
/// # Errors
/// [`Error::DefaultManagerOpen`] when the default manager is already open;
/// [`Error::InvalidInput`] for an empty path (which names no file), and nothing changes.
pub fn set_default_database_path(path: impl AsRef<Path>) -> Result<()> {
    if path.as_ref().as_os_str().is_empty() {
        return Err(Error::InvalidInput {
            what: "the default database path".into(),
            detail: "it is empty; name a file or a postgres:// URL".into(),
            source: None,
        });
    }
    let mut chosen = CHOSEN_PATH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(manager) = open_manager() {
        return Err(Error::DefaultManagerOpen {
            path: manager.path(),
        });
    }
    *chosen = Some(path.as_ref().to_path_buf());
    Ok(())
}

/// The path that names an in-memory database for the default manager (as in SQLite and the
/// Python package's `RegistryManager(":memory:")`); never a file name.
pub const MEMORY: &str = ":memory:";

/// Opens the default manager on `path`: [`MEMORY`] is an in-memory database, a
/// `postgres://` or `postgresql://` URL connects to that server (cargo feature `postgres`;
/// without it the URL is refused, never taken for a file name), anything else is a file
/// whose directory is created.
fn open_default(path: &std::path::Path) -> Result<RegistryManager> {
    if path.as_os_str() == MEMORY {
        return RegistryManager::in_memory();
    }
    if crate::store::is_postgres_url(path) {
        // Never a URL made text by replacing bytes: that would name another database.
        #[cfg(feature = "postgres")]
        return RegistryManager::connect(crate::store::url::postgres_url_text(path)?);
        #[cfg(not(feature = "postgres"))]
        return Err(Error::InvalidInput {
            what: format!("the default database named by {DB_ENV_VAR}"),
            detail: "it names a PostgreSQL server, but this build of pipeline-deps has no PostgreSQL support (cargo feature `postgres`)".into(),
            source: None,
        });
    }
    crate::store::refuse_url_as_file(path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            action: format!("creating the directory {}", parent.display()),
            source,
        })?;
    }
    RegistryManager::open(path)
}

/// The process-wide manager, opened on first use (creating the file and its directory), or
/// on the first use after [`close_default_manager`]. It is returned as a clone: clones share
/// one database handle.
///
/// # Errors
/// [`Error::InvalidInput`] when no path can be determined (no `PIPELINE_DEPS_DB`, no home
/// directory); the errors of [`RegistryManager::open`].
pub fn registry_manager() -> Result<RegistryManager> {
    if let Some(manager) = open_manager() {
        return Ok(manager);
    }
    // Serialise first opens: the path lock is held while opening.
    let _guard = CHOSEN_PATH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(manager) = open_manager() {
        return Ok(manager);
    }
    let path = path_after(_guard.clone()).ok_or_else(|| Error::InvalidInput {
            what: "the default database path".into(),
            detail: format!(
                "neither {DB_ENV_VAR} nor a home/data directory variable is set; set {DB_ENV_VAR} to a file path"
            ),
            source: None,
        })?;
    let closed = CLOSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let still_open = closed
        .filter(|(closed_on, _)| *closed_on == path)
        .and_then(|(_, shared)| shared.upgrade());
    let manager = match still_open {
        Some(shared) => RegistryManager::from_shared(shared),
        None => open_default(&path)?,
    };
    *MANAGER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(manager.clone());
    *OPENED_ON
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(path);
    Ok(manager)
}

/// Closes the default manager: the file is closed cleanly (as dropping a manager closes it)
/// once the registries and clones taken from it are dropped too, and the next use of the
/// default manager opens it again, on the path chosen then. Returns whether it was open.
/// A next use on the same file while registries or clones taken before still hold it open
/// takes that open manager back (opening the file a second time would be
/// [`Error::InUse`]).
///
/// A static is never dropped, so a program that used the free functions and ends without
/// this leaves the file as a crash would: every acknowledged write is there, but redb's
/// "recovery required" mark is set, and the next open repairs the file (a read-only open
/// recovers a copy in memory).
///
/// ```
/// # fn main() -> pipeline_deps::Result<()> {
/// let dir = tempfile::tempdir().map_err(|e| pipeline_deps::Error::Io { action: "making a directory".into(), source: e })?;
/// pipeline_deps::default_manager::set_default_database_path(dir.path().join("registry.redb"))?;
/// pipeline_deps::get_registry("training")?;
/// assert!(pipeline_deps::default_manager::close_default_manager());
/// // Closed: another file can be chosen, and the next use opens it.
/// pipeline_deps::default_manager::set_default_database_path(dir.path().join("other.redb"))?;
/// assert!(pipeline_deps::list_contexts()?.is_empty());
/// assert!(pipeline_deps::default_manager::close_default_manager());
/// # Ok(()) }
/// ```
pub fn close_default_manager() -> bool {
    let _guard = CHOSEN_PATH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let closed = MANAGER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let opened_on = OPENED_ON
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some(manager) = closed else {
        return false;
    };
    // A file only: a database in memory or on a server is opened afresh (neither can be
    // `InUse`), as before.
    let file =
        opened_on.filter(|path| path.as_os_str() != MEMORY && !crate::store::is_postgres_url(path));
    *CLOSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        file.map(|path| (path, std::sync::Arc::downgrade(&manager.shared)));
    true
}

/// `registry_manager()?.get_registry(context)`.
///
/// # Errors
/// See [`registry_manager`] and [`RegistryManager::get_registry`].
pub fn get_registry(context: &str) -> Result<SpecificationRegistry> {
    registry_manager()?.get_registry(context)
}

/// The same as [`get_registry`] (the design's backward-compatible name).
///
/// # Errors
/// See [`get_registry`].
pub fn get_pipeline_registry(pipeline_name: &str) -> Result<SpecificationRegistry> {
    get_registry(pipeline_name)
}

/// The registry of context `"default"`.
///
/// # Errors
/// See [`get_registry`].
pub fn get_default_registry() -> Result<SpecificationRegistry> {
    get_registry("default")
}

/// `registry_manager()?.list_contexts()`.
///
/// # Errors
/// See [`RegistryManager::list_contexts`].
pub fn list_contexts() -> Result<Vec<String>> {
    registry_manager()?.list_contexts()
}

/// `registry_manager()?.clear_context(context)`.
///
/// # Errors
/// See [`RegistryManager::clear_context`].
pub fn clear_context(context: &str) -> Result<bool> {
    registry_manager()?.clear_context(context)
}

/// `registry_manager()?.clear_all_contexts()`.
///
/// # Errors
/// See [`RegistryManager::clear_all_contexts`].
pub fn clear_all_contexts() -> Result<usize> {
    registry_manager()?.clear_all_contexts()
}

/// `registry_manager()?.get_context_stats()`.
///
/// # Errors
/// See [`RegistryManager::get_context_stats`].
pub fn get_context_stats() -> Result<IndexMap<String, ContextStats>> {
    registry_manager()?.get_context_stats()
}
