//! The registry manager: opens the database and creates, lists, clears and monitors contexts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use indexmap::IndexMap;

use crate::codec::CatalogRecordV1;
use crate::error::{Error, Result, shorten};
use crate::registry::{ContextState, SpecificationRegistry};
use crate::seam::{Backend, CatalogWrite};
use crate::spec::check_name;
use crate::store::{GroupCommit, Store};

mod builder;

pub use builder::{
    Concurrency, DEFAULT_CACHE_SIZE, DEFAULT_CONNECTIONS, Durability, ManagerBuilder,
};

/// Per-context statistics, read from the catalog without scanning specifications.
///
/// ```
/// use pipeline_deps::{NodeType, RegistryManager, StepSpecification};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = RegistryManager::in_memory()?;
/// let registry = manager.get_registry("ml")?;
/// registry.register("a", &StepSpecification::new("Train", NodeType::Singular))?;
/// registry.register("b", &StepSpecification::new("Train", NodeType::Singular))?;
/// let stats = &manager.get_context_stats()?["ml"];
/// assert_eq!((stats.step_count, stats.step_type_count), (2, 1));
/// assert_eq!(stats.registry_type, "SpecificationRegistry");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ContextStats {
    /// Registered steps.
    pub step_count: usize,
    /// Distinct step types among them.
    pub step_type_count: usize,
    /// Always `"SpecificationRegistry"`, as in the design's monitoring output.
    pub registry_type: &'static str,
}

impl ContextStats {
    /// The statistics a catalog record holds.
    fn of(entry: &CatalogRecordV1) -> Self {
        ContextStats {
            step_count: usize::try_from(entry.step_count).unwrap_or(usize::MAX),
            step_type_count: usize::try_from(entry.step_type_count).unwrap_or(usize::MAX),
            registry_type: "SpecificationRegistry",
        }
    }
}

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
/// [`SpecificationRegistry`] for the guarantees.
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

    /// The registry of `context`, creating the context durably if it does not exist.
    /// Calls with the same name return handles that compare equal.
    ///
    /// # Errors
    /// [`Error::InvalidContextName`] for an empty name, one over 1,024 bytes or one with
    /// control characters (`::`, `/`, spaces and unicode are fine); [`Error::NoSuchContext`]
    /// when the context is missing and the manager is read-only (so it cannot be created);
    /// storage errors.
    pub fn get_registry(&self, context: &str) -> Result<SpecificationRegistry> {
        let full = self.full_name(context)?;
        self.registry(full.clone(), true)?
            .ok_or_else(|| Error::NoSuchContext {
                context: full,
                path: self.path(),
            })
    }

    /// The registry of `context` if it exists (the design's `create_if_missing=False`).
    ///
    /// # Errors
    /// As [`RegistryManager::get_registry`], without creating anything.
    pub fn get_registry_if_exists(&self, context: &str) -> Result<Option<SpecificationRegistry>> {
        let full = self.full_name(context)?;
        self.registry(full, false)
    }

    fn registry(&self, full: String, create: bool) -> Result<Option<SpecificationRegistry>> {
        let store = self.shared.store()?;
        if store.is_read_only() {
            let entry = store.read("looking up a context", |r| r.catalog_entry(&full))?;
            return Ok(entry.map(|entry| {
                SpecificationRegistry::new(
                    Arc::clone(&self.shared),
                    Arc::new(ContextState::new(full, entry.id, false)),
                )
            }));
        }
        let mut live = self.shared.live()?;
        // On a shared backend another process may have cleared (and re-created) the context
        // since this process took its handle, so the catalog decides.
        let shared_backend = store.is_shared();
        // A handle already taken would be answered from memory: refused in a forked child
        // like every call that reads the file.
        store.check_process()?;
        if !shared_backend && let Some(state) = live.get(&full) {
            return Ok(Some(SpecificationRegistry::new(
                Arc::clone(&self.shared),
                Arc::clone(state),
            )));
        }
        let looking_up = format!("looking up context {}", shorten(&full));
        let existing = store.read(&looking_up, |r| r.catalog_entry(&full))?;
        if let (Some(entry), Some(state)) = (&existing, live.get(&full))
            && entry.id == state.id()
        {
            return Ok(Some(SpecificationRegistry::new(
                Arc::clone(&self.shared),
                Arc::clone(state),
            )));
        }
        if let Some(stale) = live.remove(&full) {
            stale.mark_cleared();
        }
        let (id, created) = match existing {
            Some(entry) => (entry.id, false),
            None if !create => return Ok(None),
            None => {
                let creating = format!("creating context {}", shorten(&full));
                let (entry, created) = store.write(&creating, |w| {
                    let (entry, created) = w.create_context(&full)?;
                    if !created {
                        // Created meanwhile by another process: nothing to commit.
                        w.unchanged();
                    }
                    Ok((entry, created))
                })?;
                (entry.id, created)
            }
        };
        let state = Arc::new(ContextState::new(full.clone(), id, true));
        live.insert(full.clone(), Arc::clone(&state));
        // Logged after the lock is released: a panicking log subscriber must not poison it.
        drop(live);
        if created {
            tracing::info!(context = %full, id, "created context");
        }
        Ok(Some(SpecificationRegistry::new(
            Arc::clone(&self.shared),
            state,
        )))
    }

    /// Context names (within this view) in creation order.
    ///
    /// # Errors
    /// Storage errors.
    pub fn list_contexts(&self) -> Result<Vec<String>> {
        Ok(self.catalog()?.into_iter().map(|(name, _)| name).collect())
    }

    fn catalog(&self) -> Result<Vec<(String, crate::codec::CatalogRecordV1)>> {
        self.check_view()?;
        let store = self.shared.store()?;
        let catalog = store.read("listing contexts", |r| r.catalog())?;
        Ok(catalog
            .into_iter()
            .filter_map(|(name, entry)| {
                name.strip_prefix(&self.prefix)
                    .map(|short| (short.to_owned(), entry))
            })
            .collect())
    }

    /// Deletes `context` and everything in it, durably. Handles taken earlier return
    /// [`Error::ContextCleared`] from then on; `get_registry` afterwards creates a fresh,
    /// empty context. Returns whether the context existed.
    ///
    /// # Errors
    /// [`Error::InvalidContextName`], [`Error::ReadOnly`], storage errors.
    pub fn clear_context(&self, context: &str) -> Result<bool> {
        Ok(self.clear_context_with_stats(context)?.is_some())
    }

    /// [`Self::clear_context`], returning the statistics the context had when it was
    /// deleted (read in the deleting transaction, so they count every write committed
    /// before it, by any process), or `None` when it did not exist.
    ///
    /// ```
    /// # fn main() -> pipeline_deps::Result<()> {
    /// use pipeline_deps::{NodeType, RegistryManager, StepSpecification};
    ///
    /// let manager = RegistryManager::temporary()?;
    /// manager.get_registry("ci")?.register("prep", &StepSpecification::new("Prep", NodeType::Singular))?;
    /// assert_eq!(manager.clear_context_with_stats("ci")?.map(|s| s.step_count), Some(1));
    /// assert_eq!(manager.clear_context_with_stats("ci")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Self::clear_context`].
    pub fn clear_context_with_stats(&self, context: &str) -> Result<Option<ContextStats>> {
        let full = self.full_name(context)?;
        let mut cleared = self.clear_where(|_| Ok(vec![full]))?;
        Ok(cleared.pop().map(|(_, stats)| stats))
    }

    /// Deletes the context `registry` belongs to, if it is still that context: not one that
    /// was cleared meanwhile and created again under the same name by someone else (whose
    /// handles would then fail with [`Error::ContextCleared`]). Returns whether it deleted it.
    /// How a test's scope ([`ScopedContext`](crate::ScopedContext)) cleans up after itself.
    ///
    /// ```
    /// # fn main() -> pipeline_deps::Result<()> {
    /// let manager = pipeline_deps::RegistryManager::temporary()?;
    /// let mine = manager.get_registry("scratch")?;
    /// manager.clear_context("scratch")?;
    /// manager.get_registry("scratch")?; // someone else's now
    /// assert!(!manager.clear_context_of(&mine)?);
    /// assert_eq!(manager.list_contexts()?, ["scratch"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when another manager handed `registry` out (also one opened
    /// on the same file or server: clear by name with [`Self::clear_context`] there);
    /// [`Error::ReadOnly`]; storage errors.
    pub fn clear_context_of(&self, registry: &SpecificationRegistry) -> Result<bool> {
        if !registry.is_of(&self.shared) {
            return Err(Error::InvalidInput {
                what: format!(
                    "the registry of context {}",
                    crate::error::shorten(registry.context_name())
                ),
                detail: "another manager handed it out (possibly one of the same database); clear it through that manager, or by name with clear_context".into(),
                source: None,
            });
        }
        let (full, id) = (registry.context_name(), registry.context_id());
        let cleared = self.clear_where(|writer| match writer.context(full, id) {
            Ok(_) => Ok(vec![full.to_owned()]),
            Err(Error::ContextCleared { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        })?;
        Ok(!cleared.is_empty())
    }

    /// Deletes every context (of this view), durably and in one transaction. Returns how
    /// many were deleted.
    ///
    /// # Errors
    /// [`Error::ReadOnly`], storage errors.
    pub fn clear_all_contexts(&self) -> Result<usize> {
        Ok(self.clear_all_contexts_with_stats()?.len())
    }

    /// [`Self::clear_all_contexts`], returning each deleted context (of this view) in
    /// creation order with the statistics it had when it was deleted, all read in the one
    /// deleting transaction: a context another process created or wrote meanwhile is both
    /// deleted and counted.
    ///
    /// # Errors
    /// As [`Self::clear_all_contexts`].
    pub fn clear_all_contexts_with_stats(&self) -> Result<IndexMap<String, ContextStats>> {
        self.check_view()?;
        let cleared = self.clear_where(|writer| {
            Ok(writer
                .context_names()?
                .into_iter()
                .filter(|name| name.starts_with(&self.prefix))
                .collect())
        })?;
        Ok(cleared
            .into_iter()
            .filter_map(|(full, stats)| {
                full.strip_prefix(&self.prefix)
                    .map(|short| (short.to_owned(), stats))
            })
            .collect())
    }

    /// Deletes, in one write transaction, the contexts that `select` names (it runs inside
    /// that transaction, so nothing created concurrently is missed or half-deleted).
    /// Returns those deleted (full names) with their statistics as deleted, in creation
    /// (catalog id) order.
    fn clear_where(
        &self,
        select: impl FnOnce(&mut dyn CatalogWrite) -> Result<Vec<String>>,
    ) -> Result<Vec<(String, ContextStats)>> {
        let store = self.shared.store()?;
        let mut live = self.shared.live()?;
        let mut cleared = store.write("clearing contexts", |writer| {
            let names = select(writer)?;
            let mut cleared = Vec::new();
            for name in names {
                if let Some(entry) = writer.drop_context(&name)? {
                    cleared.push((name, entry));
                }
            }
            if cleared.is_empty() {
                // No such context: nothing to commit.
                writer.unchanged();
            }
            Ok(cleared)
        })?;
        cleared.sort_by_key(|(_, entry)| entry.id);
        for (name, _) in &cleared {
            if let Some(state) = live.remove(name) {
                state.mark_cleared();
            }
        }
        // Logged once every handle is marked and the lock released: a panicking log
        // subscriber must leave no cleared context's handle serving its cache.
        drop(live);
        for (name, _) in &cleared {
            tracing::info!(context = %name, "cleared context");
        }
        Ok(cleared
            .into_iter()
            .map(|(name, entry)| (name, ContextStats::of(&entry)))
            .collect())
    }

    /// Statistics of every context (of this view) in creation order, read from the catalog
    /// in one read transaction, without scanning specifications.
    ///
    /// # Errors
    /// Storage errors.
    pub fn get_context_stats(&self) -> Result<IndexMap<String, ContextStats>> {
        Ok(self
            .catalog()?
            .into_iter()
            .map(|(name, entry)| (name, ContextStats::of(&entry)))
            .collect())
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
