//! Recovery from a crash while a new database file was being created.
//!
//! redb creates a file by sizing it, writing its header *without* the magic number, syncing,
//! and only then writing the magic number. A crash (or power loss, or I/O error) before that
//! last write is durable leaves a non-empty file without the magic number that redb refuses
//! as "not a redb database", forever. Such a file holds nothing: its first bytes (where the
//! magic number goes) are zero and so is everything past the header. It is reset to empty so
//! that the open creates the database afresh; any other file is left alone.

use std::io::{self, Read};
use std::path::Path;

use super::StorageBackend;
use crate::error::{Error, Result};

/// Length of redb's magic number at offset 0.
const MAGIC_LEN: u64 = 9;
/// Length of redb's database header (super-header before page 0's content).
const HEADER_LEN: u64 = 320;
const CHUNK: usize = 64 * 1024;

/// Whether a redb open error says the file is not a redb database (no magic number).
pub(super) fn is_not_a_database(source: &io::Error) -> bool {
    source.kind() == io::ErrorKind::InvalidData && source.to_string().starts_with("Not a redb")
}

/// Whether the bytes `read` gives for a file of `len` bytes are those of an interrupted
/// creation: zero where the magic number goes, zero past the header.
fn interrupted(
    len: u64,
    mut read: impl FnMut(u64, &mut [u8]) -> io::Result<()>,
) -> io::Result<bool> {
    if len == 0 {
        return Ok(false);
    }
    let mut buf = vec![0u8; CHUNK];
    let head = usize::try_from(len.min(MAGIC_LEN)).map_err(io::Error::other)?;
    read(0, &mut buf[..head])?;
    if buf[..head].iter().any(|&b| b != 0) {
        return Ok(false);
    }
    let mut offset = HEADER_LEN;
    while offset < len {
        let n = usize::try_from((len - offset).min(CHUNK as u64)).map_err(io::Error::other)?;
        read(offset, &mut buf[..n])?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

/// Resets the file at `path` to empty if it is an interrupted creation; true if it did.
/// Holds an exclusive lock on the file while it checks, so it never touches a file that
/// another process has open.
pub(super) fn reset_interrupted_file(path: &Path) -> Result<bool> {
    let io_error = |source| Error::Io {
        action: format!("checking {} for an interrupted creation", path.display()),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::InUse {
                path: path.to_path_buf(),
            });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(io_error(source)),
    }
    let len = file.metadata().map_err(io_error)?.len();
    let mut reader = &file;
    let mut position = 0u64;
    let is_interrupted = interrupted(len, |offset, out| {
        if offset != position {
            io::Seek::seek(&mut reader, io::SeekFrom::Start(offset))?;
        }
        reader.read_exact(out)?;
        position = offset + out.len() as u64;
        Ok(())
    })
    .map_err(io_error)?;
    if is_interrupted {
        file.set_len(0).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        tracing::warn!(path = %path.display(), "reset a database file whose creation was interrupted");
    }
    Ok(is_interrupted)
}

/// As [`reset_interrupted_file`], for a custom backend (which runs exclusive).
pub(super) fn reset_interrupted_backend(backend: &impl StorageBackend) -> io::Result<()> {
    let len = backend.len()?;
    if interrupted(len, |offset, out| backend.read(offset, out))? {
        backend.set_len(0)?;
        backend.sync_data()?;
    }
    Ok(())
}
