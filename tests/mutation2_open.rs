//! Invariant: an open refuses what it must not read or adopt, and writes nothing then; and
//! it makes a registry of what an interrupted creation left. On a custom storage backend, an
//! image left by an interrupted creation (no magic number, nothing but zeros past the
//! header) is reset and created afresh by a writable open, and refused untouched by a
//! read-only one; a redb file with no schema version is not a registry to a read-only open;
//! a registry file that lost its meta table but keeps catalog rows is refused, not adopted;
//! with the integrity check on open, damage is dealt with at the open, never left for a
//! read; and a damaged registry is told apart from someone else's file (a damaged engine
//! header is corruption; a file cut short inside its header is too short to be a database;
//! a read error at open is an I/O error, no verdict on the file).
//! Written against mutants of `src/store/open.rs` that the cited tests let survive (see
//! the report of the second mutation audit, cargo-mutants): the backend reset run for
//! read-only opens instead of writable ones, a missing schema version accepted for a
//! read-only open, catalog rows no longer counted as a sign of someone's data, the
//! integrity check on open made for read-only opens only, and `open_error` taking every
//! engine corruption, or every I/O error, for a foreign or short file (or no short read for
//! a short one).

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

/// A registry file whose meta table is gone (and with it the schema version and the next
/// context id) still has catalog rows: adopting it as a new registry would hand the next new
/// context the id, and so the table, of an existing one. A writable open refuses it as not a
/// registry and leaves it byte for byte as it was.
#[test]
fn a_registry_file_that_lost_its_meta_table_is_refused_not_adopted() -> TestResult {
    const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("pipeline_deps.meta");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    {
        let manager = RegistryManager::open(&path)?;
        manager
            .get_registry("ctx")?
            .register("step", &support::numbered_spec(1, 1))?;
    }
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        if !txn.delete_table(META)? {
            return Err("the registry had no meta table to delete".into());
        }
        txn.commit()?;
    }
    let before = std::fs::read(&path)?;
    let opened = RegistryManager::open(&path);
    assert!(
        matches!(opened, Err(Error::NotARegistry { .. })),
        "a writable open of a registry without its meta table: {:?}",
        opened.map(|m| m.list_contexts())
    );
    assert!(
        std::fs::read(&path)? == before,
        "the refused open wrote the file"
    );
    Ok(())
}

/// With `check_integrity_on_open(true)` every page is verified at open, so damage is dealt
/// with up front: the open refuses the file (or the engine falls back to an earlier commit
/// that the damage did not reach), and no later read meets it.
#[test]
fn with_the_integrity_check_on_open_damage_never_waits_for_a_read() -> TestResult {
    const DESCRIPTION: &str = "a description that appears once in the file";
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    {
        let manager = RegistryManager::open(&path)?;
        let mut spec = support::numbered_spec(1, 1);
        if let Some(output) = spec.outputs.get_mut("out") {
            output.description = DESCRIPTION.to_owned();
        }
        manager.get_registry("ctx")?.register("step", &spec)?;
    }
    let mut bytes = std::fs::read(&path)?;
    let mut flipped = 0;
    while let Some(at) = bytes
        .windows(DESCRIPTION.len())
        .position(|w| w == DESCRIPTION.as_bytes())
    {
        bytes[at] ^= 1;
        flipped += 1;
    }
    assert!(flipped > 0, "the description is not in the file");
    std::fs::write(&path, &bytes)?;
    let manager = match RegistryManager::builder()
        .check_integrity_on_open(true)
        .open(&path)
    {
        Err(error) => {
            assert!(error.is_corruption(), "{error:?}");
            return Ok(());
        }
        Ok(manager) => manager,
    };
    for context in manager.list_contexts()? {
        let registry = manager.get_registry(&context)?;
        for step in registry.list_step_names()? {
            registry.get_specification(&step)?;
        }
    }
    Ok(())
}

/// A closed, empty registry file at `dir/name`, and its bytes.
fn fresh_registry(dir: &std::path::Path, name: &str) -> TestResult<(std::path::PathBuf, Vec<u8>)> {
    let path = dir.join(name);
    drop(RegistryManager::open(&path)?);
    let bytes = std::fs::read(&path)?;
    Ok((path, bytes))
}

/// A registry whose engine header is damaged behind an intact magic number (its page size
/// field, at offset 12) is a damaged registry: `Error::Corrupted`, which tells the user to
/// restore a backup, not `Error::NotARegistry`, which says the file is someone else's.
#[test]
fn a_registry_with_a_damaged_header_is_corrupted_not_someone_elses_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (path, mut bytes) = fresh_registry(dir.path(), "registry.redb")?;
    bytes[12] ^= 0x55;
    std::fs::write(&path, &bytes)?;
    for read_only in [false, true] {
        let opened = RegistryManager::builder().read_only(read_only).open(&path);
        assert!(
            matches!(opened, Err(Error::Corrupted { .. })),
            "read-only {read_only}: {:?}",
            opened.map(|m| m.is_read_only())
        );
        assert!(
            std::fs::read(&path)? == bytes,
            "the refused open wrote the file"
        );
    }
    Ok(())
}

/// A registry cut short inside its engine header (its magic number intact) is refused as
/// too short to be a database, and left as it is.
#[test]
fn a_registry_cut_short_inside_its_header_is_too_short_to_be_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (path, bytes) = fresh_registry(dir.path(), "registry.redb")?;
    let cut = bytes
        .get(..100)
        .ok_or("a registry file shorter than 100 bytes")?;
    std::fs::write(&path, cut)?;
    for read_only in [false, true] {
        match RegistryManager::builder().read_only(read_only).open(&path) {
            Err(error @ Error::NotARegistry { .. }) => {
                assert!(error.to_string().contains("too short"), "{error}");
            }
            other => panic!(
                "read-only {read_only}: expected NotARegistry, got {:?}",
                other.map(|m| m.is_read_only())
            ),
        }
        assert!(
            std::fs::read(&path)? == cut,
            "the refused open wrote the file"
        );
    }
    Ok(())
}

/// A storage backend of `len` bytes whose every read fails, as a disk with a bad sector does.
#[derive(Debug)]
struct UnreadableDisk {
    len: u64,
}

impl StorageBackend for UnreadableDisk {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.len)
    }
    fn read(&self, _offset: u64, _out: &mut [u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("injected read error"))
    }
    fn set_len(&self, _len: u64) -> std::io::Result<()> {
        Ok(())
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn write(&self, _offset: u64, _data: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}

/// An open whose reads fail is an I/O error, with the disk's error as its cause: not a
/// verdict on the file (neither "not a redb database" nor "too short"), which the next open
/// on a healthy disk may well read.
#[test]
fn a_read_error_at_open_is_an_io_error_not_a_verdict_on_the_file() -> TestResult {
    let error = RegistryManager::builder()
        .read_only(true)
        .with_backend(UnreadableDisk { len: 1 << 20 }, "unreadable")
        .err()
        .ok_or("an unreadable disk opened")?;
    assert!(
        matches!(error, Error::Io { .. }),
        "expected an I/O error, got {error:?}"
    );
    let cause = std::error::Error::source(&error).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("injected read error"), "{error}");
    Ok(())
}
