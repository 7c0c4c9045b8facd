//! The registry manager: opens the database and creates, lists, clears and monitors contexts.
//!
//! This module holds the manager itself (opening, workspace views, maintenance of the open
//! file); `contexts.rs` hands out registries and lists and monitors contexts, `clear.rs`
//! deletes them, `builder.rs` holds the manager's options.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use crate::error::{Error, Result, shorten};
use crate::registry::ContextState;
use crate::seam::Backend;
use crate::spec::check_name;
use crate::store::{GroupCommit, Store};

mod builder;
mod clear;
mod contexts;

pub use builder::{
    Concurrency, DEFAULT_CACHE_SIZE, DEFAULT_CONNECTIONS, Durability, ManagerBuilder,
};
pub use contexts::ContextStats;

pub(crate) struct Shared {
    // Field order matters: the database closes before the temporary file is removed.
    store: RwLock<Backend>,
    /// Concurrent writes share commits (see `store::group`; a PostgreSQL registry commits
    /// each write on its own).
    pub(crate) group: GroupCommit,
    /// Contexts this process has handles to, by full name (writable managers only).
    live: Mutex<HashMap<String, Arc<ContextState>>>,
    _temp: Option<TempFile>,
}

/// The file of a [`RegistryManager::temporary`] database, removed when the manager's last
/// handle drops, by the process that made it only: a forked child's copy leaves it to the
/// parent, which still uses it.
struct TempFile {
    path: Option<tempfile::TempPath>,
    process: u32,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if std::process::id() != self.process
            && let Some(path) = self.path.take()
        {
            std::mem::forget(path);
        }
    }
}

impl Shared {
    pub(crate) fn store(&self) -> Result<RwLockReadGuard<'_, Backend>> {
        self.store.read().map_err(|_| Error::Poisoned {
            action: "using the database after a panic in another thread".into(),
        })
    }

    pub(crate) fn live(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<ContextState>>>> {
        self.live.lock().map_err(|_| Error::Poisoned {
            action: "using the context table after a panic in another thread".into(),
        })
    }
}

/// Many isolated registries (contexts) in one redb database file.
///
/// Cloning is cheap and gives another handle to the same database. A manager from
/// [`RegistryManager::workspace`] is a view that prefixes every context name with
/// `"<workspace>::"` and sees only its own workspace's contexts.
///
/// Every write commits before returning, with the manager's [`Durability`]: see
/// [`SpecificationRegistry`](crate::SpecificationRegistry) for the guarantees.
///
/// ```
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = pipeline_deps::RegistryManager::temporary()?;
/// let training = manager.get_registry("training_pipeline")?;
/// assert_eq!(manager.list_contexts()?, vec!["training_pipeline"]);
/// assert!(manager.clear_context("training_pipeline")?);
/// assert!(training.len().is_err()); // the handle outlived its context
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RegistryManager {
    pub(crate) shared: Arc<Shared>,
    /// `"ws::"` for a workspace view, empty otherwise.
    prefix: String,
    /// The workspace name of a view whose name has an empty `::`-separated part (see
    /// [`RegistryManager::workspace`]): every call of the view is refused.
    bad_workspace: Option<Arc<str>>,
}

impl std::fmt::Debug for RegistryManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.shared.store().map(|s| s.path()).unwrap_or_default();
        f.debug_struct("RegistryManager")
            .field("path", &path)
            .field("workspace_prefix", &self.prefix)
            .finish()
    }
}

impl RegistryManager {
    /// A manager over a redb store.
    pub(crate) fn from_store(store: Store, temp: Option<tempfile::TempPath>) -> Self {
        RegistryManager::from_backend(Backend::File(store), temp)
    }

    fn from_backend(store: Backend, temp: Option<tempfile::TempPath>) -> Self {
        RegistryManager {
            shared: Arc::new(Shared {
                store: RwLock::new(store),
                group: GroupCommit::default(),
                live: Mutex::new(HashMap::new()),
                _temp: temp.map(|path| TempFile {
                    path: Some(path),
                    process: std::process::id(),
                }),
            }),
            prefix: String::new(),
            bad_workspace: None,
        }
    }

    /// Another handle (an unprefixed view) to the database of `shared`.
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        RegistryManager {
            shared,
            prefix: String::new(),
            bad_workspace: None,
        }
    }

    /// A builder for cache size, concurrency mode, integrity checking and read-only opens.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Opens (creating if missing) the database file at `path` with default settings.
    ///
    /// # Errors
    /// See [`ManagerBuilder::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().open(path)
    }

    /// Opens an existing database read-only, e.g. to inspect it while its owner runs in
    /// [`Concurrency::SingleWriter`] mode.
    ///
    /// # Errors
    /// See [`ManagerBuilder::open`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().read_only(true).open(path)
    }

    /// A database in a temporary file that is removed on drop: for test suites (a manager
    /// that is never dropped leaves it behind: see [`ManagerBuilder::temporary`]).
    ///
    /// # Errors
    /// See [`ManagerBuilder::temporary`].
    pub fn temporary() -> Result<Self> {
        Self::builder().temporary()
    }

    /// Connects to a registry in a PostgreSQL database (cargo feature `postgres`).
    ///
    /// # Errors
    /// See [`ManagerBuilder::connect`].
    #[cfg(feature = "postgres")]
    pub fn connect(url: &str) -> Result<Self> {
        Self::builder().connect(url)
    }

    /// A database in memory only.
    ///
    /// # Errors
    /// See [`ManagerBuilder::in_memory`].
    pub fn in_memory() -> Result<Self> {
        Self::builder().in_memory()
    }

    /// The database file (or a label such as `<in-memory>`); for a PostgreSQL registry, the
    /// server as `postgres://user@host:port/database` (never the password).
    pub fn path(&self) -> PathBuf {
        self.shared.store().map(|s| s.path()).unwrap_or_default()
    }

    /// Makes every write so far durable, with one fsync: a no-op in effect under
    /// [`Durability::Immediate`], the durable point of [`Durability::None`] (a crash after
    /// `sync` returned loses no write made before it).
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only manager; storage errors.
    pub fn sync(&self) -> Result<()> {
        self.shared.store()?.sync()
    }

    /// Whether this manager was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.shared
            .store()
            .map(|s| s.is_read_only())
            .unwrap_or(true)
    }

    /// Whether other processes may write this registry while this manager is open: true for
    /// a PostgreSQL server, false for a file (one writer at a time) or memory. On a shared
    /// registry a context may be cleared by another process at any time; a registry handle
    /// taken before then returns [`Error::ContextCleared`], and `get_registry` gives a
    /// fresh one.
    pub fn is_shared(&self) -> bool {
        self.shared.store().map(|s| s.is_shared()).unwrap_or(false)
    }

    /// A view of this database in which every context name is prefixed with
    /// `"<workspace>::"`: `get_registry`, `list_contexts`, `clear_context`,
    /// `clear_all_contexts` and `get_context_stats` all take and return names *within* the
    /// workspace and see only its contexts. Registries from it report their full name
    /// (`"ws::ctx"`) from `context_name()`. An empty workspace name gives an unprefixed view
    /// (this one, unchanged). Views nest: `workspace("a").workspace("b")` and
    /// `workspace("a::b")` use `"a::b::"`.
    ///
    /// A name with an empty `::`-separated part — one that ends or starts with `::` (`"a::"`,
    /// which would name contexts `a::::ctx`), holds `::::`, or is only separators (`"::"`,
    /// which is not the unprefixed view) — gives a view whose every call is refused with
    /// [`Error::InvalidInput`] naming the workspace, changing nothing (and the views nested
    /// in it too):
    ///
    /// ```
    /// # fn main() -> pipeline_deps::Result<()> {
    /// let manager = pipeline_deps::RegistryManager::in_memory()?;
    /// let refused = manager.workspace("team::").get_registry("ctx");
    /// assert!(refused.is_err_and(|e| e.is_invalid_input()));
    /// assert!(manager.workspace("::").list_contexts().is_err());
    /// manager.workspace("team").get_registry("ctx")?;
    /// assert_eq!(manager.list_contexts()?, ["team::ctx"]);
    /// # Ok(()) }
    /// ```
    pub fn workspace(&self, workspace: &str) -> RegistryManager {
        let prefix = if workspace.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}{workspace}::", self.prefix)
        };
        let empty_part = !workspace.is_empty()
            && (workspace.starts_with("::")
                || workspace.ends_with("::")
                || workspace.contains("::::"));
        let bad_workspace = match &self.bad_workspace {
            Some(bad) => Some(Arc::clone(bad)),
            None if empty_part => Some(Arc::from(format!("{}{workspace}", self.prefix))),
            None => None,
        };
        RegistryManager {
            shared: Arc::clone(&self.shared),
            prefix,
            bad_workspace,
        }
    }

    /// [`Error::InvalidInput`] for a view whose workspace name has an empty part.
    fn check_view(&self) -> Result<()> {
        match &self.bad_workspace {
            None => Ok(()),
            Some(name) => Err(Error::InvalidInput {
                what: format!("the workspace name {}", shorten(name)),
                detail: "it has an empty part between `::` separators (it starts or ends with `::`, holds `::::`, or is only separators); name the workspace without them: workspace(\"team\") already names its contexts team::CONTEXT. Nothing was changed".into(),
                source: None,
            }),
        }
    }

    pub(crate) fn full_name(&self, context: &str) -> Result<String> {
        self.check_view()?;
        // The name given is checked on its own too: in a workspace view, an empty one would
        // otherwise name the context `ws::`.
        check_name(context).map_err(|reason| Error::InvalidContextName {
            name: context.to_owned(),
            reason,
        })?;
        let full = format!("{}{context}", self.prefix);
        check_name(&full).map_err(|reason| Error::InvalidContextName {
            name: full.clone(),
            reason,
        })?;
        Ok(full)
    }

    /// Runs the storage engine's full integrity check (checksums of every page). Needs every
    /// other handle's transactions to be finished. `Ok(true)` when the file is consistent;
    /// `Ok(false)` when it was not and the engine repaired it. On a manager from
    /// [`ManagerBuilder::open_copy`] it checks (and repairs) the copy only, never the file.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only manager that reads the file itself;
    /// [`Error::Corrupted`] when the file is damaged beyond repair; storage errors.
    pub fn check_integrity(&self) -> Result<bool> {
        let mut store = self.shared.store.write().map_err(|_| Error::Poisoned {
            action: "checking integrity after a panic in another thread".into(),
        })?;
        store.file_mut("checking the integrity")?.check_integrity()
    }

    /// Compacts the file: moves pages so that free space at its end can be released.
    /// Returns whether anything was moved. The file shrinks for good when the database is
    /// closed (redb re-grows an open file by a little), so measure the size reclaimed
    /// before opening and after dropping the manager. This compacts the open file in place;
    /// [`RegistryManager::compact_file`] (what `pipeline-deps compact` uses) verifies a copy
    /// first and replaces the file atomically, so it never makes a damaged file worse.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only manager; storage errors (for instance while a read
    /// transaction is open).
    pub fn compact(&self) -> Result<bool> {
        let mut store = self.shared.store.write().map_err(|_| Error::Poisoned {
            action: "compacting after a panic in another thread".into(),
        })?;
        store.file_mut("compacting")?.compact()
    }
}
