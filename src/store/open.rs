//! Opening a registry database: a file or a custom backend, created, upgraded, or served
//! from a recovered or upgraded copy in memory for a read-only open; redb's open errors
//! mapped onto [`Error`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use redb::ReadableTableMetadata;

use super::guard::contain;
use super::schema::{CATALOG, META, SCHEMA_VERSION, TABLE_PREFIX};
use super::{
    Db, MemoryBackend, OpenOptions, Origin, StorageBackend, Store, backend, copy, meta, migrate,
    pristine, recover, storage_error,
};
use crate::error::{Error, Result};

impl Store {
    /// Opens (or, unless read-only, creates) the database file at `path`.
    pub(crate) fn open(path: &Path, options: &OpenOptions) -> Result<Store> {
        contain_open_panic(path, || Store::open_inner(path, options))
    }

    fn open_inner(path: &Path, options: &OpenOptions) -> Result<Store> {
        copy::check_regular_file(path)?;
        let builder = builder(options);
        let mut pristine = None;
        let db = if options.read_only {
            match builder.open_read_only(path) {
                Ok(db) => Db::ReadOnly(db),
                // The last writer did not close the file and none is running: a read-only
                // open must not repair it, so it reads a recovered copy.
                Err(redb::DatabaseError::RepairAborted) => {
                    match Store::recovered_copy(path.to_path_buf(), options, || std::fs::read(path))
                    {
                        // A writer that started meanwhile may have torn the copy while
                        // recovering the file; then the file itself reads again.
                        Err(copy_error) if copy_error.is_corruption() => builder
                            .open_read_only(path)
                            .map(Db::ReadOnly)
                            .map_err(|_| copy_error)?,
                        other => return other,
                    }
                }
                Err(e) => return Err(open_error(path, e)),
            }
        } else {
            // Taken before redb marks the file as needing recovery (see `pristine`).
            pristine = pristine::before_open(path);
            if pristine.is_some() {
                refuse_before_opening_writable(path, options)?;
            }
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
        // Which file the path names, taken before the first commit of this session.
        let identity = (!options.read_only)
            .then(|| super::FileCheck::at(path))
            .flatten()
            .map(Box::new);
        let mut store = Store::initialize(db, path.to_path_buf(), options, || std::fs::read(path))?;
        store.pristine = pristine;
        store.identity = identity;
        // The header as the open (and any migration or first commit) left it.
        store.wrote_file();
        Ok(store)
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
        let mut builder = builder(options);
        // A custom backend has no byte-range locks, which redb's shared modes (and so its
        // read-only open in them) need: the store is this process's alone, read-only or not.
        builder.set_concurrency_mode(redb::ConcurrencyMode::ExclusiveWriter);
        let db = if options.read_only {
            match builder.open_read_only_with_backend(adapter) {
                Ok(db) => Db::ReadOnly(db),
                // As for a file: the image was not closed by its last writer, and a read-only
                // open must not repair it, so it reads a copy recovered in memory.
                Err(redb::DatabaseError::RepairAborted) => {
                    return Store::recovered_copy(path, options, || backend::read_all(&*backend));
                }
                Err(e) => return Err(open_error(&path, e)),
            }
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
            origin: Origin::Direct,
            durable: options.durable,
            pristine: None,
            committed: AtomicBool::new(false),
            known_types: Arc::default(),
            process: std::process::id(),
            identity: None,
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
                store
                    .begin_read("looking up the context catalog")?
                    .require_catalog(&store.path)?;
                Ok(store)
            }
            _ => {
                let path = store.path.clone();
                drop(store);
                let bytes = copy().map_err(|source| Error::Io {
                    action: format!("copying {} to upgrade it in memory", path.display()),
                    source,
                })?;
                Store::copy_of(bytes, path, options, true, Origin::UpgradedCopy)
            }
        }
    }

    /// A read-only store over an in-memory copy (the bytes `read` returns) of the database
    /// `path` (a file, or a custom backend's label), which needed recovery: the copy is
    /// recovered and fully integrity-checked, the database itself is not written.
    fn recovered_copy(
        path: PathBuf,
        options: &OpenOptions,
        read: impl FnOnce() -> std::io::Result<Vec<u8>>,
    ) -> Result<Store> {
        let bytes = read().map_err(|source| Error::Io {
            action: format!("copying {} to recover it in memory", path.display()),
            source,
        })?;
        let store = Store::copy_of(bytes, path, options, true, Origin::RecoveredCopy)?;
        // Info, not a warning: nothing is wrong with the file, and callers say so themselves
        // (`RegistryManager::recovered_from_copy`; the CLI prints one note).
        tracing::info!(path = %store.path.display(), "the database was not closed by its last writer; reading a copy recovered in memory");
        Ok(store)
    }

    /// A read-only store over an in-memory copy of `bytes` (the file `path`), upgraded to
    /// the current schema if older. With `verify`, every page checksum of the copy is
    /// checked on open, so a copy torn by a concurrent writer is refused as corrupted
    /// rather than misread.
    pub(super) fn copy_of(
        bytes: Vec<u8>,
        path: PathBuf,
        options: &OpenOptions,
        verify: bool,
        origin: Origin,
    ) -> Result<Store> {
        let db = builder(&OpenOptions {
            check_integrity: verify,
            read_only: false,
            single_writer: false,
            ..options.clone()
        })
        .create_with_backend(backend::Adapter(MemoryBackend::from_bytes(bytes)))
        .map_err(|e| open_error(&path, e))?;
        let mut store = Store {
            db: Db::ReadWrite(db),
            path,
            read_only: false,
            origin,
            durable: options.durable,
            pristine: None,
            committed: AtomicBool::new(false),
            known_types: Arc::default(),
            process: std::process::id(),
            identity: None,
        };
        store.initialize_writable()?;
        store.read_only = true;
        Ok(store)
    }

    /// A read-only store over an in-memory copy of the file at `path`, for checking it
    /// without writing it: taken while no writer has the file open, recovered in memory if
    /// the last writer did not close the file; not integrity-checked yet (see
    /// [`Store::check_integrity`], which checks the copy).
    pub(crate) fn open_copy(path: &Path, options: &OpenOptions) -> Result<Store> {
        contain_open_panic(path, || {
            copy::check_regular_file(path)?;
            let (bytes, recovered) = copy::read_quiesced(path)?;
            Store::copy_of(
                bytes,
                path.to_path_buf(),
                options,
                false,
                Origin::CheckedCopy { recovered },
            )
        })
    }

    /// Where this store's pages live.
    pub(crate) fn origin(&self) -> Origin {
        self.origin
    }

    pub(super) fn initialize_writable(&self) -> Result<()> {
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
                // Every initialised file has a catalog; opening a missing one here would
                // create an empty catalog and orphan every context at the first write. (A
                // read transaction looks it up without creating it.)
                self.begin_read("looking up the context catalog")?
                    .require_catalog(&self.path)?;
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
                refuse_foreign(&self.path, foreign, catalog_rows)?;
                let mut table = txn
                    .open_table(META)
                    .map_err(|e| storage_error(action(), e))?;
                meta::write(&mut table, 1)?;
            }
        }
        txn.commit().map_err(|e| storage_error(action(), e))?;
        self.note_commit();
        Ok(())
    }

    fn check_version(&self, version: Option<u64>, writable: bool) -> Result<()> {
        check_version(&self.path, version, writable)
    }
}

/// Refuses a schema version this build cannot open: newer ones, 0, and none at all for a
/// read-only open.
fn check_version(path: &Path, version: Option<u64>, writable: bool) -> Result<()> {
    match version {
        Some(found) if found > SCHEMA_VERSION => Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        }),
        Some(0) => Err(Error::corrupted(
            format!("{} (meta table)", path.display()),
            "schema version 0 does not exist",
            None,
        )),
        Some(_) => Ok(()),
        None if writable => Ok(()),
        None => Err(Error::NotARegistry {
            path: path.to_path_buf(),
            detail: "it has no pipeline-deps schema version".into(),
            source: None,
        }),
    }
}

/// Refuses a cleanly closed file that a writable open would refuse only after opening it
/// (a newer schema version, a meta table whose checksum fails, someone else's tables),
/// looking at it through a read-only open, which writes nothing: the engine's close after a
/// refused writable open would rewrite its allocator state, so a refused file would not be
/// left untouched. Anything else (an older version, a file the read-only open cannot read)
/// is left to the writable open, which decides as before.
fn refuse_before_opening_writable(path: &Path, options: &OpenOptions) -> Result<()> {
    let read_only = OpenOptions {
        read_only: true,
        ..options.clone()
    };
    let Ok(db) = builder(&read_only).open_read_only(path) else {
        return Ok(());
    };
    let Ok(txn) = redb::ReadableDatabase::begin_read(&db) else {
        return Ok(());
    };
    let found = match txn.open_table(META) {
        Ok(table) => match meta::Meta::read(&table) {
            Ok(found) => found,
            Err(_) => return Ok(()),
        },
        Err(redb::TableError::TableDoesNotExist(_)) => {
            let Ok(mut tables) = txn.list_tables() else {
                return Ok(());
            };
            let foreign = tables.any(|t| !redb::TableHandle::name(&t).starts_with(TABLE_PREFIX));
            let catalog_rows = match txn.open_table(CATALOG) {
                Ok(table) => table.len().unwrap_or(0),
                Err(_) => 0,
            };
            return refuse_foreign(path, foreign, catalog_rows);
        }
        Err(_) => return Ok(()),
    };
    check_version(path, found.schema_version, true)?;
    if found.schema_version == Some(SCHEMA_VERSION) {
        found.checked_next_context_id(path)?;
    }
    Ok(())
}

/// [`Error::NotARegistry`] for a file without a schema version that holds tables this crate
/// did not create, or catalog rows.
fn refuse_foreign(path: &Path, foreign: bool, catalog_rows: u64) -> Result<()> {
    if foreign || catalog_rows > 0 {
        return Err(Error::NotARegistry {
            path: path.to_path_buf(),
            detail: "it is a redb database holding tables that pipeline-deps did not create".into(),
            source: None,
        });
    }
    Ok(())
}

/// redb's plain open trusts a file it shut down cleanly and may panic on one damaged since;
/// such a panic is reported as corruption instead of unwinding into the caller.
fn contain_open_panic(path: &Path, open: impl FnOnce() -> Result<Store>) -> Result<Store> {
    contain(|| format!("opening {}", path.display()), open)
}

pub(super) fn builder(options: &OpenOptions) -> redb::Builder {
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

/// The error of a failed open of `path`. redb 4.6 checks a file's magic number before it
/// parses the header and reports a mismatch as an I/O error ("Not a redb database"), which
/// is someone else's file; a header damaged after the magic number is corruption.
pub(super) fn open_error(path: &Path, err: redb::DatabaseError) -> Error {
    match err {
        redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch => {
            Error::InUse {
                path: path.to_path_buf(),
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
