//! Everything that knows redb: opening the file, the schema, transactions and the mapping of
//! redb's errors onto [`Error`]. Nothing outside this module names a redb type.
//!
//! Durability per write, chosen per manager ([`crate::Durability`], `OpenOptions::durable`):
//!
//! - `Immediate` (files): every write transaction commits with redb's
//!   `Durability::Immediate`, so a commit that returned `Ok` is on stable storage (fsync'd)
//!   and survives a crash or power loss; a crash before that leaves the previous committed
//!   state, never a mix.
//! - `None` (temporary and in-memory databases): commits with redb's `Durability::None`: no
//!   fsync; the commit is visible to every later read of this process at once, but the
//!   header on disk still names the last durable commit, so a crash (kill or power loss)
//!   reopens at that commit, losing every non-durable one after it, together. Durable points:
//!   the open, [`Store::sync`] (an empty durable commit), and redb's clean close, which
//!   makes pending non-durable commits durable. redb refuses `None` in its multi-process
//!   modes, so it needs exclusive mode.
//!
//! redb's copy-on-write commit makes each transaction atomic, and the catalog counts are
//! written in the same transaction as the data they count. Concurrent registry writes share
//! transactions and their commit (`group`): each caller returns after the shared commit, so
//! its guarantee is the one above.

//!
//! Every call into redb from outside this module goes through [`Store::read`],
//! [`Store::write`] (and the group commit built on it) or the open, check and compaction
//! functions, which contain a panic of the storage engine on damaged data in one place (see
//! `guard`).
//!
//! Read-only opens never write the file. One whose file needs recovery (its last writer was
//! killed, or failed on a full disk) is served from a copy in memory, recovered and fully
//! integrity-checked there (`RegistryManager::recovered_from_copy` says so); that costs one
//! read of the whole file, memory for all of it and the engine's repair and checksum pass:
//! for a 34 MiB file of 100,000 specifications a median of 16 ms in a release build, against
//! 0.1 ms for a clean open (`tests/reliability_round2.rs`; RELIABILITY.md).

mod backend;
mod context;
mod copy;
mod group;
mod guard;
mod identity;
mod meta;
mod migrate;
mod migrate_v3;
mod open;
mod pristine;
mod recover;
mod schema;
mod seal;
mod txn;
mod typeindex;
pub(crate) mod url;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, ReadOnlyDatabase, ReadableDatabase};

use crate::error::{Error, Result};

pub(crate) use backend::MemoryBackend;
pub use backend::StorageBackend;
pub(crate) use context::{ContextReader, ContextWriter, PutOutcome};
use context::{KnownTypes, TxnKnownTypes};
pub(crate) use copy::{compact_file, repair_file, replacement_prefix};
pub(crate) use group::GroupCommit;
use guard::contain;
pub(crate) use guard::outside as run_callers_code;
use identity::FileCheck;
pub use schema::SCHEMA_VERSION;
pub(crate) use txn::{Reader, Writer};
pub use url::{is_postgres_url, refuse_url_as_file, url_scheme, url_without_password};

/// How a database is opened (the manager's builder fills this in).
#[derive(Debug, Clone)]
pub(crate) struct OpenOptions {
    pub cache_size: usize,
    pub single_writer: bool,
    pub check_integrity: bool,
    pub read_only: bool,
    /// Commit writes with an fsync ([`crate::Durability::Immediate`]); else without.
    pub durable: bool,
}

enum Db {
    ReadWrite(Database),
    ReadOnly(ReadOnlyDatabase),
    /// Only while the store is being dropped.
    Closed,
}

/// Where a store's pages live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The file (or backend) itself.
    Direct,
    /// An in-memory copy of an older-schema file, upgraded there (read-only opens).
    UpgradedCopy,
    /// An in-memory copy of a file that needed recovery, recovered there (read-only opens).
    RecoveredCopy,
    /// An in-memory copy taken for checking ([`Store::open_copy`]); `recovered` when the
    /// file needed recovery.
    CheckedCopy {
        /// The file needed recovery (its last writer did not close it).
        recovered: bool,
    },
}

/// An open registry database.
pub(crate) struct Store {
    db: Db,
    /// The file, or a label such as `<in-memory>` for other backends.
    path: PathBuf,
    /// Refuses writes. True for a read-only open, including one served from an in-memory
    /// copy.
    read_only: bool,
    origin: Origin,
    /// Whether writes commit with an fsync (see [`OpenOptions::durable`]).
    durable: bool,
    /// The file's header before a writable open, for leaving it as it was if the session
    /// commits nothing and cannot close (see `pristine`); only for writable file stores.
    pristine: Option<pristine::Pristine>,
    /// Some commit of this session succeeded.
    committed: AtomicBool,
    /// The step types of contexts this session wrote (see `context::known`).
    known_types: Arc<KnownTypes>,
    /// The process that opened the store. A process forked from it inherits the file's
    /// handle and the engine's state in memory, both still the parent's: it must neither
    /// use nor close them ([`Store::check_process`], and `Drop`).
    process: u32,
    /// For a writable file store: that its path still names the file it opened, as its last
    /// commit left it (`identity`); Unix only, `None` for other stores. Every write checks
    /// ([`Store::check_still_at_path`]).
    /// Boxed: the store is moved around, and the check holds the header.
    identity: Option<Box<FileCheck>>,
}

/// What the storage engine said about damage it found: the cause of an
/// [`Error::Corrupted`].
#[derive(Debug)]
struct EngineReport(String);

impl std::fmt::Display for EngineReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the storage engine: {}", self.0)
    }
}

impl std::error::Error for EngineReport {}

/// Turns any redb error into the crate's error, saying what was being done.
pub(crate) fn storage_error(action: String, err: impl Into<redb::Error>) -> Error {
    match err.into() {
        redb::Error::Io(source) => Error::Io { action, source },
        redb::Error::Backend(source) => Error::Io {
            action,
            source: std::io::Error::other(source),
        },
        // The engine's own words are the cause, not the message.
        redb::Error::Corrupted(detail) => Error::corrupted(
            action,
            "the storage engine found damaged pages",
            Some(Box::new(EngineReport(detail))),
        ),
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

    /// Runs `f` in a read transaction (a consistent snapshot of the last commit), with a
    /// storage-engine panic reported as corruption.
    pub(crate) fn read<T>(
        &self,
        action: impl Fn() -> String,
        f: impl FnOnce(&Reader) -> Result<T>,
    ) -> Result<T> {
        contain(&action, || f(&self.begin_read(&action())?))
    }

    /// Runs `f` in the write transaction and commits it (durably) if `f` succeeds; nothing
    /// is written otherwise, nor when `f` declared that it changed nothing
    /// ([`Writer::unchanged`]: the transaction is rolled back, without an fsync). A storage-engine panic is reported as corruption.
    pub(crate) fn write<T>(
        &self,
        action: impl Fn() -> String,
        f: impl FnOnce(&Writer) -> Result<T>,
    ) -> Result<T> {
        contain(&action, || {
            let writer = self.begin_write()?;
            let out = f(&writer)?;
            if writer.take_unchanged() {
                writer.roll_back(&action)?;
            } else {
                let committed = writer.commit(&action);
                self.wrote_file();
                committed?;
                self.note_commit();
            }
            Ok(out)
        })
    }

    /// Starts a read transaction: a consistent snapshot of the last commit.
    fn begin_read(&self, action: &str) -> Result<Reader> {
        self.check_process()?;
        let txn = match &self.db {
            Db::ReadWrite(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
            Db::Closed => return Err(self.closed(action)),
        }
        .map_err(|e| storage_error(action.to_owned(), e))?;
        Ok(Reader { txn })
    }

    /// `error`, with this store's file named in a corruption's location when it is not
    /// already: damage found deep in a read or write is located by its context and step,
    /// and a program with several registry files must know which one to restore.
    pub(crate) fn naming_file(&self, error: Error) -> Error {
        error.located_in(&crate::spec::escape_name_exact(
            &self.path.to_string_lossy(),
        ))
    }

    /// [`Error::Forked`] in a process forked from the one that opened the store.
    pub(crate) fn check_process(&self) -> Result<()> {
        let process = std::process::id();
        if process == self.process {
            return Ok(());
        }
        Err(Error::Forked {
            path: self.path.clone(),
            opened_by: self.process,
            process,
        })
    }

    fn begin_write_raw(&self) -> Result<redb::WriteTransaction> {
        self.check_process()?;
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

    /// [`Error::Io`] when the path of this writable file store no longer names the file it
    /// opened (the file was deleted, moved, or replaced by another: restoring a backup with
    /// `mv`), or the file was changed in place by another program (restoring one with `cp`):
    /// see `identity`.
    fn check_still_at_path(&self) -> Result<()> {
        match &self.identity {
            Some(check) => check.check(&self.path),
            None => Ok(()),
        }
    }

    /// Records the file's header as this store's own write (a commit, successful or not, a
    /// compaction or a repair) left it, for the next [`Self::check_still_at_path`].
    fn wrote_file(&self) {
        if let Some(check) = &self.identity {
            check.record();
        }
    }

    /// This store without [`Self::check_still_at_path`]: for a temporary database, whose
    /// writes die with its handle anyway and whose path no one else opens (a temp cleaner
    /// deleting it must not stop a long-running program's writes).
    pub(crate) fn without_path_check(mut self) -> Self {
        self.identity = None;
        self
    }

    /// Starts the (only) write transaction; blocks while another is open in this process.
    /// Commits with the store's durability: with an fsync, or (non-durable) without one.
    pub(crate) fn begin_write(&self) -> Result<Writer> {
        self.refuse_if_read_only()?;
        self.check_still_at_path()?;
        let mut txn = self.begin_write_raw()?;
        if !self.durable {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| storage_error("starting a non-durable write".into(), e))?;
        }
        Ok(Writer {
            txn,
            path: self.path.clone(),
            known: TxnKnownTypes::new(Arc::clone(&self.known_types)),
            unchanged: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Makes every earlier commit durable with one empty durable commit (an fsync).
    pub(crate) fn sync(&self) -> Result<()> {
        self.refuse_if_read_only()?;
        self.check_still_at_path()?;
        let action = || format!("syncing {}", self.path.display());
        contain(action, || {
            let committed = self.begin_write_raw()?.commit();
            self.wrote_file();
            committed.map_err(|e| storage_error(action(), e))?;
            self.note_commit();
            Ok(())
        })
    }

    /// Records that a commit of this session succeeded (the file is no longer as it was).
    pub(crate) fn note_commit(&self) {
        self.committed.store(true, Ordering::Release);
    }

    /// Whether the engine's handle is failed, so that its close will not run (a latched I/O
    /// error, or locks poisoned by a contained panic): probed by starting a write transaction,
    /// which a healthy handle gives (and which is then dropped, writing nothing). A healthy
    /// handle closes normally, and its close commits, so there is nothing to put back.
    fn engine_failed(&self) -> bool {
        match contain(
            || "probing the storage engine".to_owned(),
            || self.begin_write_raw(),
        ) {
            Ok(txn) => {
                guard::contain_drop(move || drop(txn));
                false
            }
            Err(_) => true,
        }
    }

    /// Runs redb's full integrity check (checksums of every page); repairs the allocator
    /// state if needed. `Ok(true)` when the file was consistent. Allowed on a read-only
    /// store served from a copy: it checks (and repairs) the copy, never the file.
    pub(crate) fn check_integrity(&mut self) -> Result<bool> {
        if self.origin == Origin::Direct {
            self.refuse_if_read_only()?;
        }
        let shown = self.path.display().to_string();
        let action = || format!("checking the integrity of {shown}");
        self.check_process()?;
        let checked = match &mut self.db {
            Db::ReadWrite(db) => contain(action, || {
                db.check_integrity().map_err(|e| storage_error(action(), e))
            }),
            Db::ReadOnly(_) => Err(Error::ReadOnly {
                path: self.path.clone(),
            }),
            Db::Closed => Err(self.closed("writing")),
        };
        // A repair writes the file.
        self.wrote_file();
        checked
    }

    /// Compacts the file; `Ok(true)` when pages were reclaimed.
    pub(crate) fn compact(&mut self) -> Result<bool> {
        self.refuse_if_read_only()?;
        let shown = self.path.display().to_string();
        let action = || format!("compacting {shown}");
        self.check_process()?;
        self.check_still_at_path()?;
        let compacted = match &mut self.db {
            Db::ReadWrite(db) => contain(action, || {
                db.compact().map_err(|e| storage_error(action(), e))
            }),
            Db::ReadOnly(_) => Err(Error::ReadOnly {
                path: self.path.clone(),
            }),
            Db::Closed => Err(self.closed("writing")),
        };
        self.wrote_file();
        compacted
    }
}

impl Drop for Store {
    /// Closing commits redb's allocator state, which panics if an earlier panic on damaged
    /// data (reported as [`Error::Corrupted`]) poisoned the engine's locks; dropping a
    /// handle must not panic, so that panic is contained here and the file keeps its last
    /// commit. A session that committed nothing and whose engine handle failed puts the
    /// file's recovery mark back first, while this handle still holds the file's writer lock
    /// (see `pristine`); one whose file another program overwrote in place first moves those
    /// contents out of the way of the close (see `identity`).
    fn drop(&mut self) {
        if std::process::id() != self.process {
            // A forked child's copy: closing would write the parent's file (and release its
            // lock), so the handle is left as it is, for the parent.
            std::mem::forget(std::mem::replace(&mut self.db, Db::Closed));
            return;
        }
        // Before the recovery mark is put back (which changes the header this compares).
        let foreign = self
            .identity
            .as_ref()
            .filter(|check| check.changed_in_place());
        if let Some(check) = foreign {
            let path = &self.path;
            guard::contain_drop(|| match check.keep_foreign_contents() {
                Ok(()) => {
                    tracing::warn!(path = %path.display(), "another program overwrote the file in place while this manager had it open; its contents were moved to a new file at the same path before closing, so the close did not write them")
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "another program overwrote the file in place while this manager had it open, and its contents could not be moved out of the way of the close")
                }
            });
        }
        // (The path names other contents then: the mark is not theirs to put back.)
        if foreign.is_none()
            && let Some(before) = self.pristine.take()
            && !self.committed.load(Ordering::Acquire)
            && self.engine_failed()
        {
            let path = &self.path;
            // Logged inside the containment: a panicking log subscriber must not unwind
            // out of a drop.
            guard::contain_drop(|| match pristine::restore(path, &before) {
                Ok(true) => {
                    tracing::warn!(path = %path.display(), "no write of this session committed; the file's recovery mark was put back, so it is as it was before the session")
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "could not check whether the file is as it was before this session; it is left to recovery")
                }
            });
        }
        let db = std::mem::replace(&mut self.db, Db::Closed);
        guard::contain_drop(move || drop(db));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_s_words_about_damage_are_the_cause_not_the_message() {
        let error = storage_error(
            "checking the file".into(),
            redb::Error::Corrupted("Primary is corrupted despite 2-phase commit".into()),
        );
        let message = error.to_string();
        assert!(error.is_corruption(), "{error:?}");
        assert!(!message.contains("Primary"), "{message}");
        let cause = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            cause
                .as_deref()
                .is_some_and(|c| c.contains("Primary is corrupted")),
            "{cause:?}"
        );
    }
}
