//! Invariant: a read-only open refuses what it cannot read and writes nothing, and a writable
//! open makes a registry of what a creation left: on a custom storage backend, an image left
//! by an interrupted creation (no magic number, nothing but zeros past the header) is reset
//! and created afresh by a writable open, and refused untouched by a read-only one; a redb
//! file with no schema version (no table at all) is not a registry to a read-only open.
//! Written against mutants of `Store::open_backend_inner` and `check_version` that the cited
//! tests let survive (see the report of the second mutation audit, cargo-mutants): the reset
//! run for read-only opens instead of writable ones, and a missing schema version accepted
//! for a read-only open.

mod support;

use std::sync::{Arc, Mutex, PoisonError};

use pipeline_deps::storage::StorageBackend;
use pipeline_deps::{Error, RegistryManager};
use support::TestResult;

/// A storage backend whose bytes the test can look at and set.
#[derive(Clone, Debug, Default)]
struct MemoryDisk(Arc<Mutex<Vec<u8>>>);

impl MemoryDisk {
    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StorageBackend for MemoryDisk {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.bytes().len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let bytes = self.bytes();
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let part = bytes
            .get(start..start + out.len())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(part);
        Ok(())
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        self.bytes().resize(len, 0);
        Ok(())
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut bytes = self.bytes();
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let end = start + data.len();
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        Ok(())
    }
}

/// The image a crash before redb's last creation write leaves: a created database's header
/// without its magic number, zeros past the header (as in
/// `a_file_left_by_an_interrupted_creation_is_reset_and_opens_empty` for files).
fn interrupted_creation() -> TestResult<MemoryDisk> {
    let disk = MemoryDisk::default();
    drop(RegistryManager::builder().with_backend(disk.clone(), "memory")?);
    let mut bytes = disk.bytes();
    if bytes.len() <= 320 {
        return Err(format!("a created image is only {} bytes long", bytes.len()).into());
    }
    bytes[..9].fill(0);
    bytes[320..].fill(0);
    drop(bytes);
    Ok(disk)
}

#[test]
fn a_backend_image_left_by_an_interrupted_creation_is_reset_by_a_writable_open() -> TestResult {
    let disk = interrupted_creation()?;
    let manager = RegistryManager::builder().with_backend(disk.clone(), "memory")?;
    assert!(manager.list_contexts()?.is_empty());
    manager.get_registry("ctx")?;
    drop(manager);
    let reopened = RegistryManager::builder().with_backend(disk, "memory")?;
    assert_eq!(reopened.list_contexts()?, ["ctx"]);
    Ok(())
}

#[test]
fn a_read_only_open_of_an_interrupted_backend_image_refuses_it_and_writes_nothing() -> TestResult {
    let disk = interrupted_creation()?;
    let before = disk.bytes().clone();
    let opened = RegistryManager::builder()
        .read_only(true)
        .with_backend(disk.clone(), "memory");
    assert!(
        matches!(opened, Err(Error::NotARegistry { .. })),
        "a read-only open of an interrupted creation: {:?}",
        opened.map(|m| m.is_read_only())
    );
    assert!(*disk.bytes() == before, "a read-only open wrote the image");
    Ok(())
}

/// A redb database that holds no table at all (what `redb::Database::create` leaves): a
/// writable open would make it a registry, a read-only one has nothing to read and must say
/// so rather than serve an empty registry.
#[test]
fn a_read_only_open_of_a_redb_file_without_a_schema_version_is_not_a_registry() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("empty.redb");
    drop(redb::Database::create(&path)?);
    let before = std::fs::read(&path)?;
    let opened = RegistryManager::builder().read_only(true).open(&path);
    assert!(
        matches!(opened, Err(Error::NotARegistry { .. })),
        "a read-only open of a redb file without a schema version: {:?}",
        opened.map(|m| m.list_contexts())
    );
    assert!(
        std::fs::read(&path)? == before,
        "a read-only open wrote the file"
    );
    Ok(())
}
