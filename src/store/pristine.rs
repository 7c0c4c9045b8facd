//! A failed writable session leaves the file as it found it.
//!
//! redb marks a file "recovery required" in its header (bit 1 of the byte at offset 9) as it
//! opens it for writing, and clears the mark in its close. On a damaged file whose damage
//! only writes reach (a page of the engine's own system tables, say: every read still works),
//! a write fails, redb's handle is poisoned and its close cannot run, so the mark stays.
//! Every later open must then repair the file, and the repair, which verifies every page,
//! fails on the same damage: reads that worked before the failed write would fail after it,
//! although the write changed nothing else (nothing was committed).
//!
//! So a writable file store keeps the header as it was before its open, and when it closes
//! having committed nothing, with the engine's handle failed by a write (a healthy one
//! closes normally, committing), and the file's header
//! differs from that one only by this mark (every other header byte equal, the file no
//! shorter), it cuts the file back to its old length (a failed transaction can leave the
//! space it took at the end) and puts the mark back as it was, then lets redb close: the
//! file is byte for byte what it was before the session. Anything else (a commit, a repair
//! at open, a mark already set before the open) leaves the file to redb's recovery. It runs while the store's redb
//! handle still holds the file's writer lock (in both concurrency modes), so no other
//! process is writing the file; readers never act on the mark. Custom backends are not
//! covered (they are this process's own, in memory or in tests).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Offset of redb's flag byte (after its 9-byte magic number).
const FLAG_OFFSET: usize = 9;
/// redb's "recovery required" bit in the flag byte.
const RECOVERY_REQUIRED: u8 = 2;
/// Length of redb's database header (the flag byte and both commit slots).
const HEADER_LEN: usize = 320;

/// A file's header and length as its last clean close left them.
#[derive(Debug)]
pub(super) struct Pristine {
    /// Boxed: the store that holds it is moved around.
    header: Box<[u8; HEADER_LEN]>,
    len: u64,
}

/// The header of the file at `path` before a writable open, if it is a cleanly closed redb
/// file (one whose mark is clear); `None` for a new, empty or unreadable file, or one that
/// needs recovery anyway.
pub(super) fn before_open(path: &Path) -> Option<Pristine> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).ok()?;
    (header[FLAG_OFFSET] & RECOVERY_REQUIRED == 0).then(|| Pristine {
        header: Box::new(header),
        len,
    })
}

/// Whether `now` is `before` with only the recovery mark added (the file may have grown: a
/// failed transaction can leave the space it took at the end).
fn only_marked(before: &Pristine, now: &[u8; HEADER_LEN], len: u64) -> bool {
    len >= before.len
        && now[FLAG_OFFSET] == before.header[FLAG_OFFSET] | RECOVERY_REQUIRED
        && now
            .iter()
            .zip(before.header.iter())
            .enumerate()
            .all(|(i, (a, b))| i == FLAG_OFFSET || a == b)
}

/// After a writable session that committed nothing, clears the recovery mark of the file at
/// `path` if that mark is its only change since `before`; true if it did. The caller holds
/// the file's writer lock (through its redb handle).
///
/// # Errors
/// I/O errors reading or writing the file (the caller only logs them: the file is then left
/// to redb's recovery, as without this step).
pub(super) fn restore(path: &Path, before: &Pristine) -> std::io::Result<bool> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let len = file.metadata()?.len();
    let mut now = [0u8; HEADER_LEN];
    file.read_exact(&mut now)?;
    if !only_marked(before, &now, len) {
        return Ok(false);
    }
    // Past the old length is only space the failed transaction took: the header, unchanged
    // but for the mark, describes the old layout.
    if len > before.len {
        file.set_len(before.len)?;
    }
    file.seek(SeekFrom::Start(FLAG_OFFSET as u64))?;
    file.write_all(&before.header[FLAG_OFFSET..=FLAG_OFFSET])?;
    file.sync_data()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pristine(flag: u8) -> Pristine {
        let mut header = [7u8; HEADER_LEN];
        header[FLAG_OFFSET] = flag;
        Pristine {
            header: Box::new(header),
            len: 4096,
        }
    }

    #[test]
    fn only_the_added_mark_counts_as_unchanged() {
        let before = pristine(5);
        let mut now = *before.header;
        now[FLAG_OFFSET] = 7;
        assert!(only_marked(&before, &now, 4096));
        assert!(
            only_marked(&before, &now, 8192),
            "grown by a failed transaction"
        );
        assert!(!only_marked(&before, &now, 2048), "a shrunk file");
        now[100] = 0;
        assert!(!only_marked(&before, &now, 4096), "a new commit slot");
        let mut unmarked = *before.header;
        unmarked[FLAG_OFFSET] = 5;
        assert!(!only_marked(&before, &unmarked, 4096), "nothing to restore");
    }
}
