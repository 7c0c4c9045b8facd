//! Opening a manager: [`ManagerBuilder`] and the choices it takes (cache size,
//! [`Concurrency`], [`Durability`], read-only, integrity check on open).

use std::path::Path;

use super::RegistryManager;
use crate::error::{Error, Result};
use crate::seam::Backend;
use crate::store::{OpenOptions, StorageBackend, Store};

/// The default page cache: 32 MiB (redb's own default is 1 GiB, far more than a registry
/// needs).
pub const DEFAULT_CACHE_SIZE: usize = 32 * 1024 * 1024;

/// The default limit of connections a manager opens to a PostgreSQL server: 8. They are
/// opened only as concurrent calls need them (a single-threaded process holds one), so the
/// limit matters for threads sharing a manager, which it lets run 8 calls at once, and for
/// the server's `max_connections` (100 by default), which a dozen busy processes at the
/// limit would not exhaust.
pub const DEFAULT_CONNECTIONS: usize = 8;

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

/// Opens a [`RegistryManager`] with explicit settings.
///
/// Defaults: cache [`DEFAULT_CACHE_SIZE`], [`Concurrency::Exclusive`], no integrity check on
/// open, read-write, [`Durability::Immediate`] for files and [`Durability::None`] for
/// temporary and in-memory databases, at most [`DEFAULT_CONNECTIONS`] connections to a
/// PostgreSQL server.
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
    /// Chosen with [`ManagerBuilder::connections`].
    connections: usize,
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
            connections: DEFAULT_CONNECTIONS,
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
    /// [`Concurrency::SingleWriter`] is refused by `open` and `temporary` with
    /// [`Error::InvalidInput`].
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

    /// At most `n` connections to a PostgreSQL server at once (default
    /// [`DEFAULT_CONNECTIONS`]; `0` counts as 1): threads sharing the manager run up to `n`
    /// calls on the server at the same time, each in its own transaction, where one
    /// connection would make them take turns. Connections are opened only as concurrent calls
    /// need them, so a single-threaded process holds one. Ignored for files, whose
    /// concurrent writers share commits instead.
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n;
        self
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
    /// RELIABILITY.md). The same holds for a custom backend ([`Self::with_backend`]): an
    /// image its last writer did not close is read from a recovered copy in memory.
    ///
    /// [`Self::temporary`] and [`Self::in_memory`] refuse it ([`Error::InvalidInput`]): their
    /// database starts empty, so a read-only one could never hold anything.
    pub fn read_only(mut self, enabled: bool) -> Self {
        self.options.read_only = enabled;
        self
    }

    /// Opens the database at `path`, creating it (and not its parent directory) if missing
    /// unless read-only. A writable open upgrades a file of an older schema version in
    /// place, in the same transaction (a crash mid-upgrade leaves the old version intact).
    ///
    /// The manager writes the file `path` named when it was opened, as its own commits left
    /// it. On Unix, once `path` no longer names that file (deleted, moved, or replaced by
    /// another, as restoring a backup with `mv` does), or another program has overwritten or
    /// truncated the file in place (restoring a backup with `cp`), every write is refused
    /// with [`Error::Io`] and writes nothing, rather than being acknowledged into a file no
    /// one opens again or mixed with contents the manager did not write; reads go on from
    /// the file the manager has open (after an overwrite in place they may fail). Drop the
    /// manager and open the path again: closing leaves what the other program wrote whole
    /// (it is moved to a new file at the same path before the close writes the old one).
    ///
    /// # Errors
    /// [`Error::InUse`] when another process holds the file; [`Error::NotARegistry`] for a
    /// file that is not a registry; [`Error::Io`], before the storage engine touches it, for
    /// a path that is not a regular file (a FIFO, a directory, a device, a socket); [`Error::SchemaTooNew`] for a file from a newer version;
    /// [`Error::Io`] / [`Error::Corrupted`] for unreadable files; [`Error::InvalidInput`]
    /// for a `postgres://` URL, which is never taken for a file name (`connect` opens a
    /// server), and for an empty path.
    pub fn open(self, path: impl AsRef<Path>) -> Result<RegistryManager> {
        if path.as_ref().as_os_str().is_empty() {
            return Err(Error::InvalidInput {
                what: "the database path".into(),
                detail: "it is empty; give the path of a registry file".into(),
                source: None,
            });
        }
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
    /// directory percent-encoded as the host). What the URL leaves out comes from libpq's
    /// environment variables (`PGHOST`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`, …) and a
    /// password still missing from the password file (`~/.pgpass`), as for `psql`. The
    /// first opener creates or upgrades the schema (SQL migrations applied in one
    /// transaction under an advisory lock).
    ///
    /// With [`read_only`](Self::read_only) the manager creates and upgrades nothing (an
    /// inspector may use a database role without write rights): every write returns
    /// [`Error::ReadOnly`] before anything is sent, and the session's transactions are
    /// read-only, so the server refuses a write too. Unlike a read-only file manager, it
    /// sees every later commit of the writers.
    ///
    /// The file-only settings of this builder (cache size, concurrency, integrity check,
    /// durability) do not apply: a write is as durable as the server's `synchronous_commit`
    /// makes it (on by default: its WAL is flushed before the commit returns).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed URL, or an environment variable holding a
    /// value its setting cannot take, or a `search_path` whose first schema holds no registry
    /// while a later one does (or that names no usable schema); [`Error::Server`] when the server cannot
    /// be reached or refuses the credentials; [`Error::SchemaTooNew`] for a database written
    /// by a newer version; read-only, [`Error::NotARegistry`] for a database that holds no
    /// registry yet.
    #[cfg(feature = "postgres")]
    pub fn connect(self, url: &str) -> Result<RegistryManager> {
        let store = crate::pg::PgStore::connect(url, self.options.read_only, self.connections)?;
        Ok(RegistryManager::from_backend(
            Backend::Postgres(Box::new(store)),
            None,
        ))
    }

    /// A database in a new temporary file, removed when the last handle is dropped: for test
    /// suites. Only a drop removes it: a manager never dropped (kept in a `static` or a
    /// `OnceLock`, leaked with `std::mem::forget`) or a process that ends without dropping
    /// it (`std::process::exit`, a signal, an abort) leaves its `pipeline-deps-*.redb` file in
    /// [`std::env::temp_dir`]. For a database shared by a whole test binary, prefer
    /// [`Self::in_memory`], which leaves nothing behind.
    ///
    /// # Errors
    /// [`Error::Io`] when no temporary file can be created; [`Error::InvalidInput`] with
    /// [`Self::read_only`], or with [`Durability::None`] and [`Concurrency::SingleWriter`].
    pub fn temporary(self) -> Result<RegistryManager> {
        self.refuse_read_only("a temporary database")?;
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
        let store = Store::open(&temp, &options)?.without_path_check();
        Ok(RegistryManager::from_backend(
            Backend::File(store),
            Some(temp),
        ))
    }

    /// A database kept in memory only. Only this process can reach it, so
    /// [`Self::concurrency`] is ignored (it always runs exclusive); nothing reaches a disk, so
    /// no durability setting makes its data outlive the manager.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] with [`Self::read_only`]; otherwise only if the storage engine
    /// fails to initialise.
    pub fn in_memory(self) -> Result<RegistryManager> {
        self.refuse_read_only("an in-memory database")?;
        let durability = self.durability.unwrap_or(Durability::None);
        self.durability(durability)
            .with_backend(crate::store::MemoryBackend::default(), "<in-memory>")
    }

    /// [`Error::InvalidInput`] when [`Self::read_only`] was asked for `what`, a database
    /// that starts empty.
    fn refuse_read_only(&self, what: &str) -> Result<()> {
        if !self.options.read_only {
            return Ok(());
        }
        Err(Error::InvalidInput {
            what: format!("the options for opening {what}"),
            detail: "read-only was asked for a database that starts empty, so it could never hold anything; open a file or a server read-only instead".into(),
            source: None,
        })
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

/// [`Durability::None`] with [`Concurrency::SingleWriter`]: refused.
fn non_durable_shared(path: &Path) -> Error {
    Error::InvalidInput {
        what: format!("the options for opening {}", path.display()),
        detail: "Durability::None cannot be combined with Concurrency::SingleWriter: commits without fsync exist only in this process's memory, so other processes could not read them; use Concurrency::Exclusive, or Durability::Immediate".into(),
        source: None,
    }
}
