//! Whether the file a writable file store opened is still the one at its path, as this store
//! left it. Something else can change the file under an open manager: delete or move it,
//! replace it by another file (`mv backup.redb registry.redb`), or overwrite or truncate it
//! in place (`cp backup.redb registry.redb`, `> registry.redb`). A write after any of these
//! would be lost with the handle while reported durable, or would mix this manager's state in
//! memory (its allocator, its page cache) with contents it did not write, destroying both;
//! so every write first checks, and refuses with [`Error::Io`], writing nothing.
//!
//! The check costs one `stat` of the path (device and inode: still the same file?) and one
//! read of the engine's file header, 320 bytes (still as this store's last commit left it?).
//! The header holds both commit slots, each with its transaction id and the checksums of the
//! tree roots, so other contents cannot have the same header; contents written by another
//! program always change it (its commit slots, or its length when truncated). Nothing
//! else writes the file while this store has it open: in every concurrency mode other
//! processes only read it, and this store records the header after each of its own
//! commits, compactions and repairs ([`FileCheck::record`]).
//!
//! Closing writes the file too (redb commits its allocator state and rewrites the header),
//! so a store whose file was changed in place first moves those contents out of the way of
//! its close ([`FileCheck::keep_foreign_contents`]): a new file holding them is renamed over
//! the path, and the close then writes only the old file, which no path names any more. The
//! contents the other program wrote are kept whole, and the path opens again. Unix only (device and inode);
//! temporary databases are exempt (their path is no one else's, and a temp cleaner deleting
//! the file must not stop a long-running program's writes).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};

/// The bytes of redb's file header: its magic number and god byte (64 bytes) and its two
/// commit slots (128 bytes each).
const HEADER_BYTES: usize = 320;

/// Which file a path names: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    /// The identity of the file `path` names now; `None` when it names none (or cannot be
    /// asked, and on platforms without inodes).
    pub(crate) fn of(path: &Path) -> Option<FileIdentity> {
        #[cfg(unix)]
        {
            std::fs::metadata(path)
                .ok()
                .map(|metadata| Self::from_metadata(&metadata))
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    #[cfg(unix)]
    fn from_metadata(metadata: &std::fs::Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// Where a store's file stands ([`FileCheck::state`]).
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// At its path, as this store's last commit left it.
    AsLeft,
    /// The path names no file, or another one.
    Gone,
    /// At its path, with contents another program wrote.
    ChangedInPlace,
}

/// What a write of a writable file store checks first (see the module's docs).
pub(crate) struct FileCheck {
    /// The store's path made absolute when it opened (a later change of the working
    /// directory changes nothing).
    absolute: PathBuf,
    opened: FileIdentity,
    /// A read-only handle on the opened file, for its header (closing it releases none of
    /// the engine's locks: they are per open file, not per process, where redb takes them).
    file: File,
    /// The header as this store's last commit left it; `None` when it could not be read
    /// then (the next check takes what it finds).
    header: Mutex<Option<[u8; HEADER_BYTES]>>,
}

impl FileCheck {
    /// The check for the file `path` names now; `None` when the path cannot be made
    /// absolute or opened, or on platforms without inodes (no check is made there). It
    /// holds no header yet: the store records one ([`Self::record`]) once its open, with
    /// any migration or first commit, is done, and checks nothing before.
    pub(crate) fn at(path: &Path) -> Option<FileCheck> {
        #[cfg(not(unix))]
        {
            let _ = path;
            return None;
        }
        let absolute = std::path::absolute(path).ok()?;
        let file = File::open(&absolute).ok()?;
        let opened = FileIdentity::from_metadata(&file.metadata().ok()?);
        // The handle must be on the file the path named (not on one swapped in between).
        if FileIdentity::of(&absolute) != Some(opened) {
            return None;
        }
        Some(FileCheck {
            absolute,
            opened,
            file,
            header: Mutex::new(None),
        })
    }

    /// Records the header as it is now: after this store's own commit (successful or not),
    /// compaction or repair.
    pub(crate) fn record(&self) {
        let header = self.read_header();
        *self.header.lock().unwrap_or_else(PoisonError::into_inner) = header;
    }

    fn read_header(&self) -> Option<[u8; HEADER_BYTES]> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            let mut header = [0; HEADER_BYTES];
            self.file.read_exact_at(&mut header, 0).ok()?;
            Some(header)
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// Whether the path still names the opened file, and another program changed it in
    /// place since this store's last commit.
    pub(crate) fn changed_in_place(&self) -> bool {
        self.state() == State::ChangedInPlace
    }

    /// Where the file at the path stands against what this store opened and last wrote. A
    /// header that could not be read at the last commit is taken as it is now (there is
    /// nothing to compare it with).
    fn state(&self) -> State {
        if FileIdentity::of(&self.absolute) != Some(self.opened) {
            return State::Gone;
        }
        let now = self.read_header();
        let mut recorded = self.header.lock().unwrap_or_else(PoisonError::into_inner);
        match (*recorded, now) {
            (Some(before), Some(now)) if before == now => State::AsLeft,
            (None, Some(now)) => {
                *recorded = Some(now);
                State::AsLeft
            }
            _ => State::ChangedInPlace,
        }
    }

    /// Puts the file's present contents, which another program wrote in place, in a new file
    /// renamed over the path (same permissions, owner and group; synced, and its directory
    /// too), so that this store's close, which writes the file it opened, does not damage them.
    ///
    /// # Errors
    /// I/O errors reading the file or writing the new one (the path then keeps the file,
    /// and the close writes it).
    pub(crate) fn keep_foreign_contents(&self) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut contents = Vec::new();
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut contents))
            .map_err(|source| Error::Io {
                action: format!(
                    "reading {} to keep what another program wrote in it",
                    self.absolute.display()
                ),
                source,
            })?;
        super::copy::replace_file(
            &self.absolute,
            &contents,
            "the contents another program wrote in place",
        )
    }

    /// [`Error::Io`] when the path no longer names the opened file, or the file's header is
    /// not as this store's last commit left it. `shown` is the path as the user gave it.
    pub(crate) fn check(&self, shown: &Path) -> Result<()> {
        let refuse = |kind: std::io::ErrorKind, what: &str| Error::Io {
            action: format!("writing {}", shown.display()),
            source: std::io::Error::new(
                kind,
                format!("{what}; drop the manager and open the path again"),
            ),
        };
        match self.state() {
            State::AsLeft => Ok(()),
            State::Gone => Err(refuse(
                std::io::ErrorKind::NotFound,
                "the file was deleted, moved or replaced by another file after this manager opened it, so nothing was written: a write would reach a file no one opens again",
            )),
            State::ChangedInPlace => Err(refuse(
                std::io::ErrorKind::Other,
                "the file was overwritten or truncated in place by another program after this manager opened it, so nothing was written: a write would mix this manager's state with contents it did not write, damaging both",
            )),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::FileCheck;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// Making a check reads no header (the store records one after its open, which may
    /// commit, and so would overwrite it at once): what the file holds when it is first
    /// recorded or looked at is what later looks compare with.
    #[test]
    fn making_a_check_reads_no_header() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("file");
        std::fs::write(&path, [1u8; 400])?;
        let check = FileCheck::at(&path).ok_or("no check on a plain file")?;
        std::fs::write(&path, [2u8; 400])?;
        assert!(!check.changed_in_place(), "the header was read when made");
        std::fs::write(&path, [3u8; 400])?;
        assert!(check.changed_in_place(), "a change after the record");
        Ok(())
    }
}
