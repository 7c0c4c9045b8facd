//! The registry manager: opens the database and creates, lists, clears and monitors contexts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use indexmap::IndexMap;

use crate::error::{Error, Result, shorten};
use crate::registry::{ContextState, SpecificationRegistry};
use crate::seam::{Backend, CatalogWrite};
use crate::spec::check_name;
use crate::store::{GroupCommit, OpenOptions, StorageBackend, Store};

/// The default page cache: 32 MiB (redb's own default is 1 GiB, far more than a registry
/// needs).
pub const DEFAULT_CACHE_SIZE: usize = 32 * 1024 * 1024;

/// How other processes may share the database file.
///
/// ```
/// use pipeline_deps::{Concurrency, RegistryManager};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// # let dir = tempfile::tempdir().map_err(|e| pipeline_deps::Error::Io { action: "tempdir".into(), source: e })?;
/// let path = dir.path().join("registry.redb");
/// let owner = RegistryManager::builder().concurrency(Concurrency::SingleWriter).open(&path)?;
/// owner.get_registry("ml")?;
/// let inspector = RegistryManager::open_read_only(&path)?; // allowed while the owner runs
/// assert_eq!(inspector.list_contexts()?, ["ml"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Concurrency {
    /// This process is the only one with the file open; any other open (even read-only) is
    /// refused with [`Error::InUse`]. The default.
    #[default]
    Exclusive,
    /// This process is the only writer, and any number of processes may open the file
    /// read-only (e.g. `pipeline-deps stats`) and follow its commits.
    SingleWriter,
}

/// What a write that returned `Ok` guarantees if the process or the machine crashes
/// afterwards (see README's "Durability and storage").
///
/// Whatever the choice, every write is atomic (a crash never leaves part of one), counts
/// change in the same transaction as the data, and a write is visible to every later read
/// through the same manager as soon as it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Every write is on stable storage (fsync'd) before it returns: after `Ok`, it survives a
    /// process kill and a power loss. The default for files.
    #[default]
    Immediate,
    /// Writes commit without an fsync: much faster, but a crash (a process kill as well as a
    /// power loss) loses *every* write since the last durable point, all of them together:
    /// the file reopens in the state of its last durable commit, never a mix. The durable
    /// points are opening the file, [`RegistryManager::sync`], and a clean close (dropping
    /// the last handle makes every write durable with one fsync). The default for
    /// [`RegistryManager::temporary`] and [`RegistryManager::in_memory`], whose data dies
    /// with the handle anyway. Needs [`Concurrency::Exclusive`]: another process could not
    /// see commits that exist only in this one's memory.
    None,
}

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
pub struct ContextStats {
    /// Registered steps.
    pub step_count: usize,
    /// Distinct step types among them.
    pub step_type_count: usize,
    /// Always `"SpecificationRegistry"`, as in the design's monitoring output.
    pub registry_type: &'static str,
}

pub(crate) struct Shared {
    // Field order matters: the database closes before the temporary file is removed.
    store: RwLock<Backend>,
    /// Concurrent writes share commits (see `store::group`; a PostgreSQL registry commits
    /// each write on its own).
    pub(crate) group: GroupCommit,
    /// Contexts this process has handles to, by full name (writable managers only).
    live: Mutex<HashMap<String, Arc<ContextState>>>,
    _temp: Option<tempfile::TempPath>,
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

/// Opens a [`RegistryManager`] with explicit settings.
///
/// Defaults: cache [`DEFAULT_CACHE_SIZE`], [`Concurrency::Exclusive`], no integrity check on
/// open, read-write, [`Durability::Immediate`] for files and [`Durability::None`] for
/// temporary and in-memory databases.
///
/// ```
/// use pipeline_deps::{Concurrency, Durability, RegistryManager};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = RegistryManager::builder()
///     .cache_size(8 * 1024 * 1024)
///     .concurrency(Concurrency::Exclusive)
///     .check_integrity_on_open(true)
///     .durability(Durability::None) // the default of a temporary database
///     .temporary()?; // or .open(path)
/// assert!(!manager.is_read_only());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ManagerBuilder {
    pub(crate) options: OpenOptions,
    /// Chosen with [`ManagerBuilder::durability`]; else the default of the kind of database.
    durability: Option<Durability>,
}

impl Default for ManagerBuilder {
    fn default() -> Self {
        ManagerBuilder {
            options: OpenOptions {
                cache_size: DEFAULT_CACHE_SIZE,
                single_writer: false,
                check_integrity: false,
                read_only: false,
                durable: true,
            },
            durability: None,
        }
    }
}

impl ManagerBuilder {
    /// Bytes of page cache (default [`DEFAULT_CACHE_SIZE`]).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.options.cache_size = bytes;
        self
    }

    /// How other processes may share the file (default [`Concurrency::Exclusive`]).
    pub fn concurrency(mut self, mode: Concurrency) -> Self {
        self.options.single_writer = mode == Concurrency::SingleWriter;
        self
    }

    /// Verify the checksum of every page on open and repair the allocator state (default
    /// off). Costs one full read of the file per open (measured: see RELIABILITY.md); without
    /// it redb still checks and repairs after an unclean shutdown, and every stored row's
    /// own checksum is still verified whenever it is read, so damage is reported when it is
    /// reached rather than up front. Ignored for read-only opens, which never write.
    pub fn check_integrity_on_open(mut self, enabled: bool) -> Self {
        self.options.check_integrity = enabled;
        self
    }

    /// What a write guarantees after a crash (default [`Durability::Immediate`] for files,
    /// [`Durability::None`] for [`ManagerBuilder::temporary`] and
    /// [`ManagerBuilder::in_memory`]). [`Durability::None`] with
    /// [`Concurrency::SingleWriter`] is refused by `open` with [`Error::Storage`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = Some(durability);
        self
    }

    /// The options with the durability resolved: `fallback` unless one was chosen.
    fn resolved(&self, fallback: Durability) -> OpenOptions {
        let mut options = self.options.clone();
        options.durable = self.durability.unwrap_or(fallback) == Durability::Immediate;
        options
    }

    /// Open without write access (default off). Every write returns [`Error::ReadOnly`]. A
    /// read-only manager can read a file whose owner runs in [`Concurrency::SingleWriter`]
    /// mode; it caches nothing, so it always sees the owner's latest commit. A file of an
    /// older [`SCHEMA_VERSION`](crate::storage::SCHEMA_VERSION) is not upgraded on disk: it is copied
    /// into memory, integrity-checked and upgraded there, and read from that copy (which
    /// then does not follow later commits of an owner).
    ///
    /// A read-only open never writes the file. A file that needs recovery (its last writer
    /// was killed, or failed on a full disk, and no writer runs) is likewise read from a
    /// copy in memory, recovered and integrity-checked there; it shows the last committed
    /// state, and [`RegistryManager::recovered_from_copy`] says so. The cost: one read of
    /// the whole file, memory for all of it, and the engine's repair and checksum pass
    /// (measured for a 34 MiB file of 100,000 specifications, release build: a median of
    /// 16 ms and 34 MiB of memory, against 0.1 ms for the same file closed cleanly; see
    /// RELIABILITY.md).
    pub fn read_only(mut self, enabled: bool) -> Self {
        self.options.read_only = enabled;
        self
    }

    /// Opens the database at `path`, creating it (and not its parent directory) if missing
    /// unless read-only. A writable open upgrades a file of an older schema version in
    /// place, in the same transaction (a crash mid-upgrade leaves the old version intact).
    ///
    /// # Errors
    /// [`Error::InUse`] when another process holds the file; [`Error::NotARegistry`] for a
    /// file that is not a registry; [`Error::Io`], before the storage engine touches it, for
    /// a path that is not a regular file (a FIFO, a directory, a device, a socket); [`Error::SchemaTooNew`] for a file from a newer version;
    /// [`Error::Io`] / [`Error::Corrupted`] for unreadable files.
    pub fn open(self, path: impl AsRef<Path>) -> Result<RegistryManager> {
        let options = self.resolved(Durability::Immediate);
        if !options.durable && options.single_writer && !options.read_only {
            return Err(non_durable_shared(path.as_ref()));
        }
        let store = Store::open(path.as_ref(), &options)?;
        Ok(RegistryManager::from_store(store, None))
    }

    /// Connects to a registry kept in a PostgreSQL database (cargo feature `postgres`), shared
    /// by every process and machine that connects to it. `url` is a `postgres://` or
    /// `postgresql://` URL (`postgres://user:password@host:port/database`, or a Unix socket
    /// directory percent-encoded as the host). The first opener creates or upgrades the
    /// schema (SQL migrations applied in one transaction under an advisory lock). The
    /// file-only settings of this builder (cache size, concurrency, integrity check,
    /// read-only, durability) do not apply: a write is as durable as the server's
    /// `synchronous_commit` makes it (on by default: its WAL is flushed before the commit
    /// returns).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed URL; [`Error::Server`] when the server cannot
    /// be reached or refuses the credentials; [`Error::SchemaTooNew`] for a database written
    /// by a newer version.
    #[cfg(feature = "postgres")]
    pub fn connect(self, url: &str) -> Result<RegistryManager> {
        let store = crate::pg::PgStore::connect(url)?;
        Ok(RegistryManager::from_backend(
            Backend::Postgres(Box::new(store)),
            None,
        ))
    }

    /// A database in a new temporary file, removed when the last handle is dropped: for test
    /// suites.
    ///
    /// # Errors
    /// [`Error::Io`] when no temporary file can be created.
    pub fn temporary(self) -> Result<RegistryManager> {
        let temp = tempfile::Builder::new()
            .prefix("pipeline-deps-")
            .suffix(".redb")
            .tempfile()
            .map_err(|source| Error::Io {
                action: "creating a temporary database file".into(),
                source,
            })?
            .into_temp_path();
        // Commits another process could read must be durable (redb refuses otherwise).
        let fallback = if self.options.single_writer {
            Durability::Immediate
        } else {
            Durability::None
        };
        let mut options = self.resolved(fallback);
        options.read_only = false;
        if !options.durable && options.single_writer {
            return Err(non_durable_shared(&temp));
        }
        let store = Store::open(&temp, &options)?;
        Ok(RegistryManager::from_backend(
            Backend::File(store),
            Some(temp),
        ))
    }

    /// A database kept in memory only.
    ///
    /// # Errors
    /// Only if the storage engine fails to initialise.
    pub fn in_memory(self) -> Result<RegistryManager> {
        let durability = self.durability.unwrap_or(Durability::None);
        self.durability(durability)
            .with_backend(crate::store::MemoryBackend::default(), "<in-memory>")
    }

    /// A database on a custom [`StorageBackend`] (e.g. a fault-injecting one in tests), which
    /// runs in exclusive mode (default [`Durability::Immediate`]: every write ends with the
    /// backend's `sync_data`). `label` names it in messages.
    ///
    /// # Errors
    /// As for [`ManagerBuilder::open`].
    pub fn with_backend(
        self,
        backend: impl StorageBackend,
        label: &str,
    ) -> Result<RegistryManager> {
        let mut options = self.resolved(Durability::Immediate);
        options.single_writer = false;
        let store = Store::open_backend(backend, label, &options)?;
        Ok(RegistryManager::from_backend(Backend::File(store), None))
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
                _temp: temp,
            }),
            prefix: String::new(),
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

    /// A database in a temporary file that is removed on drop: for test suites.
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

    /// A view of this database in which every context name is prefixed with
    /// `"<workspace>::"`: `get_registry`, `list_contexts`, `clear_context`,
    /// `clear_all_contexts` and `get_context_stats` all take and return names *within* the
    /// workspace and see only its contexts. Registries from it report their full name
    /// (`"ws::ctx"`) from `context_name()`. An empty workspace name gives an unprefixed view.
    /// Views nest: `workspace("a").workspace("b")` uses `"a::b::"`.
    pub fn workspace(&self, workspace: &str) -> RegistryManager {
        let prefix = if workspace.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}{workspace}::", self.prefix)
        };
        RegistryManager {
            shared: Arc::clone(&self.shared),
            prefix,
        }
    }

    pub(crate) fn full_name(&self, context: &str) -> Result<String> {
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
                let (entry, created) = store.write(&creating, |w| w.create_context(&full))?;
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
        let full = self.full_name(context)?;
        Ok(self.clear_where(|_| Ok(vec![full]))? == 1)
    }

    /// Deletes every context (of this view), durably and in one transaction. Returns how
    /// many were deleted.
    ///
    /// # Errors
    /// [`Error::ReadOnly`], storage errors.
    pub fn clear_all_contexts(&self) -> Result<usize> {
        self.clear_where(|writer| {
            Ok(writer
                .context_names()?
                .into_iter()
                .filter(|name| name.starts_with(&self.prefix))
                .collect())
        })
    }

    /// Deletes, in one write transaction, the contexts that `select` names (it runs inside
    /// that transaction, so nothing created concurrently is missed or half-deleted).
    fn clear_where(
        &self,
        select: impl FnOnce(&mut dyn CatalogWrite) -> Result<Vec<String>>,
    ) -> Result<usize> {
        let store = self.shared.store()?;
        let mut live = self.shared.live()?;
        let cleared = store.write("clearing contexts", |writer| {
            let names = select(writer)?;
            let mut cleared = Vec::new();
            for name in names {
                if writer.drop_context(&name)?.is_some() {
                    cleared.push(name);
                }
            }
            Ok(cleared)
        })?;
        for name in &cleared {
            if let Some(state) = live.remove(name) {
                state.mark_cleared();
            }
        }
        // Logged once every handle is marked and the lock released: a panicking log
        // subscriber must leave no cleared context's handle serving its cache.
        drop(live);
        for name in &cleared {
            tracing::info!(context = %name, "cleared context");
        }
        Ok(cleared.len())
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
            .map(|(name, entry)| {
                (
                    name,
                    ContextStats {
                        step_count: usize::try_from(entry.step_count).unwrap_or(usize::MAX),
                        step_type_count: usize::try_from(entry.step_type_count)
                            .unwrap_or(usize::MAX),
                        registry_type: "SpecificationRegistry",
                    },
                )
            })
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

/// [`Durability::None`] with [`Concurrency::SingleWriter`]: refused.
fn non_durable_shared(path: &Path) -> Error {
    Error::InvalidInput {
        what: format!("the options for opening {}", path.display()),
        detail: "Durability::None cannot be combined with Concurrency::SingleWriter: commits without fsync exist only in this process's memory, so other processes could not read them; use Concurrency::Exclusive, or Durability::Immediate".into(),
        source: None,
    }
}
