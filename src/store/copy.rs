//! Working on copies so that the file is never made worse: refusing what is not a regular
//! file, copying a file while no writer has it open, and the two maintenance operations that
//! do write it — compaction (into a new file renamed into place) and an explicit repair
//! (after a backup copy).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::backend::{self, MemoryBackend};
use super::open::{builder, open_error};
use super::{Db, OpenOptions, Origin, Store, contain, storage_error};
use crate::error::{Error, Result};
use crate::spec::StepSpecification;

/// What [`compact_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompactReport {
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// What [`repair_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepairReport {
    pub backup: PathBuf,
    pub was_consistent: bool,
}

/// Refuses a path that exists but is not a regular file (a FIFO, a directory, a device, a
/// socket) before the storage engine touches it: opening a FIFO would block forever. It is
/// an [`Error::Io`] (kind `InvalidInput`) whose source names the kind of file. A missing
/// path is left to the open (created, or reported as missing). A `postgres://` URL is
/// [`Error::InvalidInput`]: it is never taken for a file name (`postgres:` would become a
/// directory beside the caller), and so is any other URL ([`super::url::url_scheme`]).
pub(crate) fn check_regular_file(path: &Path) -> Result<()> {
    super::url::refuse_url_as_file(path)?;
    if path.as_os_str() == crate::default_manager::MEMORY {
        return Err(Error::InvalidInput {
            what: "the database path".into(),
            detail: "`:memory:` names no file here; `RegistryManager::in_memory()` opens a database in memory (the default manager takes `:memory:` for one), and `./:memory:` names a file of that name".into(),
            source: None,
        });
    }
    if super::url::is_postgres_url(path) {
        return Err(Error::InvalidInput {
            what: "the database path".into(),
            detail: "it is a PostgreSQL URL, not a file; connect to the server with `RegistryManager::connect` (cargo feature `postgres`)".into(),
            source: None,
        });
    }
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                action: format!("opening {}", path.display()),
                source,
            });
        }
    };
    if metadata.is_file() {
        return Ok(());
    }
    Err(Error::Io {
        action: format!("opening {}", path.display()),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is {}, not a regular file; a registry database is a regular file",
                path.display(),
                kind_of(&metadata)
            ),
        ),
    })
}

#[cfg(unix)]
fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    if metadata.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

fn io_error(action: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { action, source }
}

/// Opens the file read-only in exclusive mode: while the returned handle lives no writer
/// can open it (a running writer makes this [`Error::InUse`]). `Ok(None)` when the file
/// needs recovery (its last writer did not close it), which a read-only open cannot do.
fn hold(path: &Path) -> Result<Option<redb::ReadOnlyDatabase>> {
    let mut builder = redb::Builder::new();
    builder
        .set_cache_size(1 << 20)
        .set_concurrency_mode(redb::ConcurrencyMode::ExclusiveWriter);
    match builder.open_read_only(path) {
        Ok(db) => Ok(Some(db)),
        Err(redb::DatabaseError::RepairAborted) => Ok(None),
        Err(e) => Err(open_error(path, e)),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io_error(format!("copying {}", path.display())))
}

/// The bytes of the file, read while no writer has it open, and whether it needed recovery.
/// A file needing recovery has no running writer (redb reports a running one as in use),
/// so it is copied as it is; a writer starting during the copy could tear it, which the
/// copy's integrity check then reports.
pub(super) fn read_quiesced(path: &Path) -> Result<(Vec<u8>, bool)> {
    let holder = hold(path)?;
    let bytes = read_file(path)?;
    let recovered = holder.is_none();
    super::guard::contain_drop(move || drop(holder));
    Ok((bytes, recovered))
}

/// Every context with all its steps.
type Contents = Vec<(String, Vec<(String, StepSpecification)>)>;

/// Every context with all its steps, read in one transaction (each row's seal checked,
/// counts checked against the catalog).
fn read_everything(store: &Store) -> Result<Contents> {
    store.read(
        || "reading every context".to_owned(),
        |reader| {
            reader
                .catalog()?
                .into_iter()
                .map(|(name, entry)| {
                    let context = reader.context(&name, entry.id)?;
                    context.step_types()?;
                    let steps = context.all()?;
                    Ok((name, steps))
                })
                .collect()
        },
    )
}

/// A copy of `bytes` (of the file `path`) in memory, passing the engine's full integrity
/// check, with everything it holds.
type Verified = (Store, Arc<MemoryBackend>, Contents);

fn verified_copy(bytes: Vec<u8>, path: &Path, options: &OpenOptions) -> Result<Verified> {
    let memory = Arc::new(MemoryBackend::from_bytes(bytes));
    let mut store = Store::copy_on(Arc::clone(&memory), path, options)?;
    if !store.check_integrity()? {
        return Err(Error::corrupted(
            path.display().to_string(),
            "the storage engine's integrity check found damage (its allocator state is inconsistent)",
            None,
        ));
    }
    let contents = read_everything(&store)?;
    Ok((store, memory, contents))
}

/// Compacts the file at `path` without ever leaving it less readable: a copy of it in
/// memory must pass the engine's integrity check and read completely; the copy is compacted,
/// checked again to hold exactly the same contexts and steps, written to a new file beside
/// the original, synced, and renamed over it (the directory is synced too). No writer can
/// open the file meanwhile. A file whose last writer did not close it is first recovered
/// in place, as any writer's open would, but only after a recovered copy passed the checks.
pub(crate) fn compact_file(path: &Path, options: &OpenOptions) -> Result<CompactReport> {
    contain(
        || format!("compacting {}", path.display()),
        || compact_inner(path, options),
    )
}

fn compact_inner(path: &Path, options: &OpenOptions) -> Result<CompactReport> {
    check_regular_file(path)?;
    if !path.exists() {
        return Err(Error::Io {
            action: format!("compacting {}", path.display()),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    check_writable(path, "compacting")?;
    let holder = match hold(path)? {
        Some(holder) => holder,
        None => {
            // Needs recovery: prove on a copy that recovery gives a sound database, then
            // let the engine recover the file itself (a writer's open does exactly this).
            drop(verified_copy(read_file(path)?, path, options)?);
            let mut builder = redb::Builder::new();
            builder.set_concurrency_mode(redb::ConcurrencyMode::ExclusiveWriter);
            let db = builder.open(path).map_err(|e| open_error(path, e))?;
            db.close()
                .map_err(|e| storage_error(format!("recovering {}", path.display()), e))?;
            hold(path)?.ok_or_else(|| {
                Error::corrupted(
                    path.display().to_string(),
                    "it still needs recovery after the storage engine recovered it",
                    None,
                )
            })?
        }
    };
    let bytes = read_file(path)?;
    let bytes_before = bytes.len() as u64;
    // The new file replaces the file itself, not a symbolic link to it.
    let target = std::fs::canonicalize(path)
        .map_err(io_error(format!("resolving the path {}", path.display())))?;
    let (mut store, memory, before) = verified_copy(bytes, path, options)?;
    store.read_only = false;
    store.compact()?;
    store.close()?;
    let compacted = backend::read_all(&*memory).map_err(io_error(format!(
        "reading the compacted copy of {}",
        path.display()
    )))?;
    let (_, _, after) = verified_copy(compacted.clone(), path, options)?;
    if after != before {
        return Err(Error::corrupted(
            path.display().to_string(),
            "the compacted copy does not hold exactly what the file holds; the file was left as it was",
            None,
        ));
    }
    replace_file(&target, &compacted, "the compacted database")?;
    super::guard::contain_drop(move || drop(holder));
    Ok(CompactReport {
        bytes_before,
        bytes_after: compacted.len() as u64,
    })
}

/// [`Error::Io`] (permission denied) when this process may not write the file itself.
/// Replacing a file takes only the directory's permission, so a file the user may not write
/// (mode 0444, say) would otherwise be rewritten.
fn check_writable(path: &Path, doing: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map(drop)
        .map_err(io_error(format!("{doing} {}", path.display())))
}

/// The start of the name of the new file [`replace_file`] writes beside a database: it holds
/// this process's id, so that a signal handler of this process can remove the file without
/// touching another process's.
pub(crate) fn replacement_prefix() -> String {
    format!(".pipeline-deps-replace-{}-", std::process::id())
}

/// `path`'s directory, and a new temporary file there (its name starts with
/// [`replacement_prefix`], removed when dropped) holding `bytes`, not synced yet.
fn written_beside<'p>(
    path: &'p Path,
    bytes: &[u8],
    action: &dyn Fn() -> String,
) -> Result<(&'p Path, tempfile::NamedTempFile)> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&replacement_prefix())
        .tempfile_in(dir)
        .map_err(io_error(action()))?;
    temp.write_all(bytes).map_err(io_error(action()))?;
    Ok((dir, temp))
}

/// Writes `bytes` to a new file beside `path` (same permissions, and on Unix the same owner
/// and group), syncs it, renames it over `path` and syncs the directory: a crash leaves the
/// old file or the new one. When the owner cannot be kept (another user's file, group-
/// writable), nothing is replaced.
pub(super) fn replace_file(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let action = || format!("writing {what} to {}", path.display());
    let (dir, temp) = written_beside(path, bytes, &action)?;
    let metadata = std::fs::metadata(path).map_err(io_error(action()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::os::unix::fs::fchown(temp.as_file(), Some(metadata.uid()), Some(metadata.gid()))
            .map_err(io_error(format!(
                "keeping the owner and group of {} for {what}",
                path.display()
            )))?;
    }
    // After the owner: changing it may clear the set-id bits a mode carries.
    temp.as_file()
        .set_permissions(metadata.permissions())
        .map_err(io_error(action()))?;
    temp.as_file().sync_all().map_err(io_error(action()))?;
    temp.persist(path).map_err(|e| Error::Io {
        action: action(),
        source: e.error,
    })?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(format!("syncing the directory {}", dir.display())))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A name beside `path` that nothing has yet (not even a dangling link): `<file>.backup`,
/// then `<file>.backup.1`, …
fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".backup");
    let free = |candidate: &PathBuf| std::fs::symlink_metadata(candidate).is_err();
    let first = path.with_file_name(&name);
    if free(&first) {
        return first;
    }
    (1u32..)
        .map(|n| {
            let mut numbered = name.clone();
            numbered.push(format!(".{n}"));
            path.with_file_name(numbered)
        })
        .find(free)
        .unwrap_or(first)
}

/// Writes `bytes`, the file `path` holds, as its backup beside it, with the file's
/// permissions, and returns the backup's name. The copy is written and synced under a
/// temporary name (one [`replacement_prefix`] starts) and only then given the first free
/// backup name, never replacing anything there: so a backup name never holds a partial copy.
/// A write that fails (a full disk, a size limit) or is interrupted leaves no backup, only
/// the temporary file when the process is killed (which `check` lists).
fn write_backup(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let action = || format!("writing the backup copy of {}", path.display());
    let (dir, mut temp) = written_beside(path, bytes, &action)?;
    let permissions = std::fs::metadata(path)
        .map_err(io_error(action()))?
        .permissions();
    temp.as_file()
        .set_permissions(permissions)
        .map_err(io_error(action()))?;
    temp.as_file().sync_all().map_err(io_error(action()))?;
    // Another process may take the free name first: a few tries, each at the next one.
    let mut tries = 0;
    loop {
        let backup = backup_path(path);
        match temp.persist_noclobber(&backup) {
            Ok(_) => {
                sync_dir(dir)?;
                return Ok(backup);
            }
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists && tries < 8 => {
                tries += 1;
                temp = e.file;
            }
            Err(e) => {
                return Err(Error::Io {
                    action: format!("naming the backup copy {}", backup.display()),
                    source: e.error,
                });
            }
        }
    }
}

/// Repairs the file with the storage engine without ever leaving it less readable: the file
/// is first copied byte for byte to a backup beside it (synced); then a copy in memory is
/// recovered and integrity-checked by the engine (which rebuilds its allocator state), must
/// pass a second check and read completely, and only then replaces the file (a new file
/// beside it, synced, renamed over it, directory synced). When the engine cannot repair the
/// copy, the file is left exactly as it was. No writer can open the file meanwhile.
pub(crate) fn repair_file(path: &Path, options: &OpenOptions) -> Result<RepairReport> {
    contain(
        || format!("repairing {}", path.display()),
        || repair_inner(path, options),
    )
}

fn repair_inner(path: &Path, options: &OpenOptions) -> Result<RepairReport> {
    check_regular_file(path)?;
    check_writable(path, "repairing")?;
    // Keeps writers out until the file is replaced; `None` when the file needs recovery,
    // which means no writer runs (a running one makes `hold` report the file in use).
    let holder = hold(path)?;
    let bytes = read_file(path)?;
    let backup = write_backup(path, &bytes)?;
    // Contained here too, so that a storage-engine panic on damaged data also removes the
    // backup below.
    let result = contain(
        || format!("repairing {}", path.display()),
        || repair_from(path, options, bytes, holder),
    );
    if result.is_err() {
        // The file was left as it was (replacing it is the last step, and atomic), so the
        // backup is a copy of it that nobody asked for: removed, best effort.
        if let Err(e) = std::fs::remove_file(&backup) {
            tracing::warn!(backup = %backup.display(), error = %e, "could not remove the backup of a failed repair");
        }
    }
    let was_consistent = result?;
    Ok(RepairReport {
        backup,
        was_consistent,
    })
}

/// The part of a repair after the backup: checks a copy of `bytes` in memory, and replaces
/// the file with the repaired copy when it needed repair. Whether it was consistent.
fn repair_from(
    path: &Path,
    options: &OpenOptions,
    bytes: Vec<u8>,
    holder: Option<redb::ReadOnlyDatabase>,
) -> Result<bool> {
    let needed_recovery = holder.is_none();
    let memory = Arc::new(MemoryBackend::from_bytes(bytes));
    let mut store = Store::copy_on(Arc::clone(&memory), path, options)?;
    let was_consistent = store.check_integrity()? && !needed_recovery;
    if !store.check_integrity()? {
        return Err(Error::corrupted(
            path.display().to_string(),
            "the storage engine could not repair it (its integrity check still fails on a repaired copy); the file was left as it was",
            None,
        ));
    }
    read_everything(&store)?;
    store.close()?;
    if !was_consistent {
        let repaired = backend::read_all(&*memory).map_err(io_error(format!(
            "reading the repaired copy of {}",
            path.display()
        )))?;
        // The bytes that will replace the file open, pass the check and read completely.
        drop(verified_copy(repaired.clone(), path, options)?);
        let target = std::fs::canonicalize(path)
            .map_err(io_error(format!("resolving the path {}", path.display())))?;
        replace_file(&target, &repaired, "the repaired database")?;
    }
    super::guard::contain_drop(move || drop(holder));
    Ok(was_consistent)
}

impl Store {
    /// A store over the in-memory database `memory` (a copy of the file `path`), upgraded
    /// in memory if older, not integrity-checked yet.
    fn copy_on(memory: Arc<MemoryBackend>, path: &Path, options: &OpenOptions) -> Result<Store> {
        let db = builder(&OpenOptions {
            check_integrity: false,
            read_only: false,
            single_writer: false,
            ..options.clone()
        })
        .create_with_backend(backend::Adapter(backend::Shared(memory)))
        .map_err(|e| open_error(path, e))?;
        let mut store = Store {
            db: Db::ReadWrite(db),
            path: path.to_path_buf(),
            read_only: false,
            origin: Origin::CheckedCopy { recovered: false },
            // A copy in memory: nothing to sync, and it is closed (made whole) before use.
            durable: false,
            pristine: None,
            committed: std::sync::atomic::AtomicBool::new(false),
            known_types: Arc::default(),
            process: std::process::id(),
            identity: None,
        };
        store.initialize_writable()?;
        store.read_only = true;
        Ok(store)
    }

    /// Closes the database, reporting what closing it failed on (a drop ignores it).
    pub(crate) fn close(mut self) -> Result<()> {
        let action = || format!("closing {}", self.path.display());
        match std::mem::replace(&mut self.db, Db::Closed) {
            Db::ReadWrite(db) => contain(action, || {
                db.close().map_err(|e| storage_error(action(), e))
            }),
            Db::ReadOnly(db) => contain(action, || {
                db.close().map_err(|e| storage_error(action(), e))
            }),
            Db::Closed => Ok(()),
        }
    }
}
