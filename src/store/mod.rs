//! Everything that knows redb: opening the file, the schema, transactions and the mapping of
//! redb's errors onto [`Error`]. Nothing outside this module names a redb type.
//!
//! Durability: every write transaction commits with redb's default `Durability::Immediate`,
//! so a commit that returned `Ok` is on stable storage (fsync'd) and survives a crash or
//! power loss; a crash before that leaves the previous committed state, never a mix. redb's
//! copy-on-write commit makes each transaction atomic, and the catalog counts are written in
//! the same transaction as the data they count.

mod backend;
mod context;
mod meta;
mod migrate;
mod recover;
mod schema;
mod seal;
mod txn;

use std::path::{Path, PathBuf};

use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTableMetadata};

use crate::error::{Error, Result};

pub(crate) use backend::MemoryBackend;
pub use backend::StorageBackend;
pub(crate) use context::{ContextReader, ContextWriter};
pub use schema::SCHEMA_VERSION;
use schema::{CATALOG, META, TABLE_PREFIX};
pub(crate) use txn::{Reader, Writer};

/// How a database is opened (the manager's builder fills this in).
#[derive(Debug, Clone)]
pub(crate) struct OpenOptions {
    pub cache_size: usize,
    pub single_writer: bool,
    pub check_integrity: bool,
    pub read_only: bool,
}

enum Db {
    ReadWrite(Database),
    ReadOnly(ReadOnlyDatabase),
    /// Only while the store is being dropped.
    Closed,
}

/// An open registry database.
pub(crate) struct Store {
    db: Db,
    /// The file, or a label such as `<in-memory>` for other backends.
    path: PathBuf,
    /// Refuses writes. True for a read-only open, including one served from an upgraded
    /// in-memory copy of an older file.
    read_only: bool,
}

/// Turns any redb error into the crate's error, saying what was being done.
pub(crate) fn storage_error(action: String, err: impl Into<redb::Error>) -> Error {
    match err.into() {
        redb::Error::Io(source) => Error::Io { action, source },
        redb::Error::Backend(source) => Error::Io {
            action,
            source: std::io::Error::other(source),
        },
        redb::Error::Corrupted(detail) => Error::corrupted(action, detail, None),
        redb::Error::PreviousIo
        | redb::Error::TransactionPoisoned
        | redb::Error::LockPoisoned(_) => Error::Poisoned { action },
        redb::Error::TableTypeMismatch { .. } | redb::Error::TableIsMultimap(_) => {
            Error::corrupted(
                action,
                "a table has a key or value type this library did not write",
                None,
            )
        }
        other => Error::Storage {
            action,
            source: Box::new(other),
        },
    }
}

impl Store {
    /// Opens (or, unless read-only, creates) the database file at `path`.
    pub(crate) fn open(path: &Path, options: &OpenOptions) -> Result<Store> {
        contain_open_panic(path, || Store::open_inner(path, options))
    }

    fn open_inner(path: &Path, options: &OpenOptions) -> Result<Store> {
        let builder = builder(options);
        let db = if options.read_only {
            builder
                .open_read_only(path)
                .map(Db::ReadOnly)
                .map_err(|e| open_error(path, e))?
        } else {
            match builder.create(path) {
                Ok(db) => Db::ReadWrite(db),
                // A crash while the file was being created: start it afresh.
                Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
                    if recover::is_not_a_database(&e) && recover::reset_interrupted_file(path)? =>
                {
                    builder
                        .create(path)
                        .map(Db::ReadWrite)
                        .map_err(|e| open_error(path, e))?
                }
                Err(e) => return Err(open_error(path, e)),
            }
        };
        Store::initialize(db, path.to_path_buf(), options, || std::fs::read(path))
    }

    /// Opens a database kept by a custom backend (in memory, or fault-injecting in tests).
    pub(crate) fn open_backend(
        backend: impl StorageBackend,
        label: &str,
        options: &OpenOptions,
    ) -> Result<Store> {
        contain_open_panic(Path::new(label), || {
            Store::open_backend_inner(backend, label, options)
        })
    }

    fn open_backend_inner(
        backend: impl StorageBackend,
        label: &str,
        options: &OpenOptions,
    ) -> Result<Store> {
        let path = PathBuf::from(label);
        if !options.read_only {
            recover::reset_interrupted_backend(&backend).map_err(|source| Error::Io {
                action: format!("opening {label}"),
                source,
            })?;
        }
        let backend = std::sync::Arc::new(backend);
        let adapter = backend::Adapter(backend::Shared(std::sync::Arc::clone(&backend)));
        let builder = builder(options);
        let db = if options.read_only {
            builder
                .open_read_only_with_backend(adapter)
                .map(Db::ReadOnly)
                .map_err(|e| open_error(&path, e))?
        } else {
            builder
                .create_with_backend(adapter)
                .map(Db::ReadWrite)
                .map_err(|e| open_error(&path, e))?
        };
        Store::initialize(db, path, options, || backend::read_all(&*backend))
    }

    /// Checks (and for a writable file, creates or upgrades) the schema. `copy` gives the
    /// file's bytes, for a read-only open of an older schema version, which is served from
    /// an upgraded copy in memory so that the file itself is never written.
    fn initialize(
        db: Db,
        path: PathBuf,
        options: &OpenOptions,
        copy: impl FnOnce() -> std::io::Result<Vec<u8>>,
    ) -> Result<Store> {
        let read_only = matches!(db, Db::ReadOnly(_));
        let store = Store {
            db,
            path,
            read_only,
        };
        if !read_only {
            store.initialize_writable()?;
            return Ok(store);
        }
        let meta = store.begin_read("reading the schema version")?.meta()?;
        store.check_version(meta.as_ref().and_then(|m| m.schema_version), false)?;
        match meta {
            Some(meta) if meta.schema_version == Some(SCHEMA_VERSION) => {
                meta.checked_next_context_id(&store.path)?;
                Ok(store)
            }
            _ => {
                let path = store.path.clone();
                drop(store);
                let bytes = copy().map_err(|source| Error::Io {
                    action: format!("copying {} to upgrade it in memory", path.display()),
                    source,
                })?;
                Store::upgraded_copy(bytes, path, options)
            }
        }
    }

    /// A read-only store over an in-memory copy of an older file, upgraded to the current
    /// schema. The copy is fully integrity-checked, so a copy torn by a concurrent writer
    /// is refused as corrupted rather than misread.
    fn upgraded_copy(bytes: Vec<u8>, path: PathBuf, options: &OpenOptions) -> Result<Store> {
        let db = builder(&OpenOptions {
            check_integrity: true,
            read_only: false,
            ..options.clone()
        })
        .create_with_backend(backend::Adapter(MemoryBackend::from_bytes(bytes)))
        .map_err(|e| open_error(&path, e))?;
        let mut store = Store {
            db: Db::ReadWrite(db),
            path,
            read_only: false,
        };
        store.initialize_writable()?;
        store.read_only = true;
        Ok(store)
    }

    fn initialize_writable(&self) -> Result<()> {
        let action = || format!("initialising {}", self.path.display());
        let txn = self.begin_write_raw()?;
        let found = {
            let table = txn
                .open_table(META)
                .map_err(|e| storage_error(action(), e))?;
            meta::Meta::read(&table)?
        };
        match found.schema_version {
            Some(SCHEMA_VERSION) => {
                found.checked_next_context_id(&self.path)?;
                // Up to date: nothing to write, so opening costs no commit (and no fsync).
                return txn.abort().map_err(|e| storage_error(action(), e));
            }
            Some(version) => {
                self.check_version(Some(version), true)?;
                let next_context_id = found.next_context_id.ok_or_else(|| {
                    Error::corrupted(
                        format!("{} (meta table)", self.path.display()),
                        "the next context id is missing",
                        None,
                    )
                })?;
                migrate::upgrade(&txn, version, &self.path)?;
                let mut table = txn
                    .open_table(META)
                    .map_err(|e| storage_error(action(), e))?;
                meta::write(&mut table, next_context_id)?;
            }
            None => {
                let foreign = txn
                    .list_tables()
                    .map_err(|e| storage_error(action(), e))?
                    .any(|t| !redb::TableHandle::name(&t).starts_with(TABLE_PREFIX));
                let catalog_rows = txn
                    .open_table(CATALOG)
                    .map_err(|e| storage_error(action(), e))?
                    .len()
                    .map_err(|e| storage_error(action(), e))?;
                if foreign || catalog_rows > 0 {
                    return Err(Error::NotARegistry {
                        path: self.path.clone(),
                        detail:
                            "it is a redb database holding tables that pipeline-deps did not create"
                                .into(),
                        source: None,
                    });
                }
                let mut table = txn
                    .open_table(META)
                    .map_err(|e| storage_error(action(), e))?;
                meta::write(&mut table, 1)?;
            }
        }
        txn.commit().map_err(|e| storage_error(action(), e))
    }

    fn check_version(&self, version: Option<u64>, writable: bool) -> Result<()> {
        match version {
            Some(found) if found > SCHEMA_VERSION => Err(Error::SchemaTooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            }),
            Some(0) => Err(Error::corrupted(
                format!("{} (meta table)", self.path.display()),
                "schema version 0 does not exist",
                None,
            )),
            Some(_) => Ok(()),
            None if writable => Ok(()),
            None => Err(Error::NotARegistry {
                path: self.path.clone(),
                detail: "it has no pipeline-deps schema version".into(),
                source: None,
            }),
        }
    }

    /// The file (or backend label).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn closed(&self, action: &str) -> Error {
        Error::Poisoned {
            action: format!("{action} ({} is being closed)", self.path.display()),
        }
    }

    fn refuse_if_read_only(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly {
                path: self.path.clone(),
            })
        } else {
            Ok(())
        }
    }

    /// Starts a read transaction: a consistent snapshot of the last commit.
    pub(crate) fn begin_read(&self, action: &str) -> Result<Reader> {
        let txn = match &self.db {
            Db::ReadWrite(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
            Db::Closed => return Err(self.closed(action)),
        }
        .map_err(|e| storage_error(action.to_owned(), e))?;
        Ok(Reader { txn })
    }

    fn begin_write_raw(&self) -> Result<redb::WriteTransaction> {
        match &self.db {
            Db::ReadWrite(db) => db
                .begin_write()
                .map_err(|e| storage_error("starting a write transaction".into(), e)),
            Db::ReadOnly(_) => Err(Error::ReadOnly {
                path: self.path.clone(),
            }),
            Db::Closed => Err(self.closed("writing")),
        }
    }

    /// Starts the (only) write transaction; blocks while another is open in this process.
    pub(crate) fn begin_write(&self) -> Result<Writer> {
        self.refuse_if_read_only()?;
        Ok(Writer {
            txn: self.begin_write_raw()?,
            path: self.path.clone(),
        })
    }

    /// Runs redb's full integrity check (checksums of every page); repairs the allocator
    /// state if needed. `Ok(true)` when the file was consistent.
    pub(crate) fn check_integrity(&mut self) -> Result<bool> {
        self.refuse_if_read_only()?;
        match &mut self.db {
            Db::ReadWrite(db) => db
                .check_integrity()
                .map_err(|e| storage_error("checking the database's integrity".into(), e)),
            Db::ReadOnly(_) => Err(Error::ReadOnly {
                path: self.path.clone(),
            }),
            Db::Closed => Err(self.closed("writing")),
        }
    }

    /// Compacts the file; `Ok(true)` when pages were reclaimed.
    pub(crate) fn compact(&mut self) -> Result<bool> {
        self.refuse_if_read_only()?;
        match &mut self.db {
            Db::ReadWrite(db) => db
                .compact()
                .map_err(|e| storage_error("compacting the database".into(), e)),
            Db::ReadOnly(_) => Err(Error::ReadOnly {
                path: self.path.clone(),
            }),
            Db::Closed => Err(self.closed("writing")),
        }
    }
}

impl Drop for Store {
    /// Closing commits redb's allocator state, which panics if an earlier panic on damaged
    /// data (reported as [`Error::Corrupted`]) poisoned the engine's locks; dropping a
    /// handle must not panic, so that panic is contained here and the file keeps its last
    /// commit.
    fn drop(&mut self) {
        let db = std::mem::replace(&mut self.db, Db::Closed);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(db)));
    }
}

/// redb's plain open trusts a file it shut down cleanly and may panic on one damaged since;
/// such a panic is reported as corruption instead of unwinding into the caller.
fn contain_open_panic(path: &Path, open: impl FnOnce() -> Result<Store>) -> Result<Store> {
    contain(|| format!("opening {}", path.display()), open)
}

/// Runs `f`, reporting a panic of the storage engine on damaged data (possible after a plain
/// open of a file altered outside this library) as [`Error::Corrupted`].
pub(crate) fn contain<T>(
    action: impl FnOnce() -> String,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::corrupted(
            action(),
            format!(
                "the storage engine failed on damaged data ({message}); open the file with `check_integrity_on_open(true)` for a full check"
            ),
            None,
        ))
    })
}

fn builder(options: &OpenOptions) -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder
        .set_cache_size(options.cache_size)
        .set_check_integrity_on_open(options.check_integrity && !options.read_only)
        .set_concurrency_mode(if options.single_writer || options.read_only {
            redb::ConcurrencyMode::SingleWriter
        } else {
            redb::ConcurrencyMode::ExclusiveWriter
        });
    builder
}

fn open_error(path: &Path, err: redb::DatabaseError) -> Error {
    match err {
        redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch => {
            Error::InUse {
                path: path.to_path_buf(),
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(detail))
            if detail.contains("magic number") =>
        {
            Error::NotARegistry {
                path: path.to_path_buf(),
                detail: "it is not a redb database".into(),
                source: None,
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if recover::is_not_a_database(&source) =>
        {
            Error::NotARegistry {
                path: path.to_path_buf(),
                detail: "it is not a redb database".into(),
                source: Some(Box::new(source)),
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Error::NotARegistry {
                path: path.to_path_buf(),
                detail: "it is too short to be a redb database".into(),
                source: Some(Box::new(source)),
            }
        }
        redb::DatabaseError::UpgradeRequired(version) => Error::NotARegistry {
            path: path.to_path_buf(),
            detail: format!("it uses redb file format {version}, which this build cannot read"),
            source: None,
        },
        other => storage_error(format!("opening {}", path.display()), other),
    }
}
