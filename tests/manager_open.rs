//! Invariant: a manager opens only what it should and leaves nothing behind. In-memory and
//! temporary databases leave no file; a read-only manager (on a file or a custom backend,
//! also on an unclosed image it reads from a recovered copy) reads but never writes; the
//! builder's settings open a working database; a second open of the same file is in use;
//! read-only is refused for databases that start empty, and an empty path is invalid input
//! naming the problem.

mod common;

use std::sync::Arc;

use common::{TestResult, spec};
use pipeline_deps::{Concurrency, Error, RegistryManager};

#[test]
fn in_memory_and_temporary_databases_leave_nothing_behind() -> TestResult {
    let memory = RegistryManager::in_memory()?;
    memory.get_registry("a")?.register("s", &spec("T"))?;
    assert_eq!(memory.get_context_stats()?["a"].step_count, 1);

    let temporary = RegistryManager::temporary()?;
    let path = temporary.path();
    assert!(path.exists());
    let clone = temporary.clone();
    drop(temporary);
    assert!(path.exists(), "a clone keeps the database open");
    drop(clone);
    assert!(
        !path.exists(),
        "the temporary file is removed with the last handle"
    );
    Ok(())
}

#[test]
fn a_read_only_manager_reads_but_never_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    {
        let manager = RegistryManager::open(&path)?;
        manager.get_registry("ctx")?.register("s", &spec("T"))?;
    }
    let reader = RegistryManager::open_read_only(&path)?;
    assert!(reader.is_read_only());
    let registry = reader.get_registry("ctx")?;
    assert_eq!(registry.list_step_names()?, ["s"]);
    assert!(matches!(
        registry.register("t", &spec("T")),
        Err(Error::ReadOnly { .. })
    ));
    let missing = reader.get_registry("missing");
    assert!(
        matches!(&missing, Err(Error::NoSuchContext { context, .. }) if context == "missing"),
        "{missing:?}"
    );
    assert_eq!(reader.get_registry_if_exists("missing")?, None);
    assert!(matches!(
        reader.clear_context("ctx"),
        Err(Error::ReadOnly { .. })
    ));
    assert_eq!(registry.len()?, 1);
    Ok(())
}

/// A plain in-memory disk: a custom backend without byte-range locks.
#[derive(Debug, Clone, Default)]
struct MemoryDisk(Arc<std::sync::Mutex<Vec<u8>>>);

impl MemoryDisk {
    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl pipeline_deps::storage::StorageBackend for MemoryDisk {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.bytes().len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let bytes = self.bytes();
        let start = offset as usize;
        out.copy_from_slice(&bytes[start..start + out.len()]);
        Ok(())
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.bytes().resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut bytes = self.bytes();
        let end = offset as usize + data.len();
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
}

/// Regression: a read-only open on a custom backend used to fail with an `Unsupported`
/// storage error (it asked the storage engine for the shared-lock mode, which needs byte-range
/// locks a custom backend does not have).
#[test]
fn a_read_only_manager_on_a_custom_backend_reads_but_never_writes() -> TestResult {
    let disk = MemoryDisk::default();
    {
        let manager = RegistryManager::builder().with_backend(disk.clone(), "memory")?;
        manager.get_registry("ctx")?.register("s", &spec("T"))?;
    }
    reads_step_s_without_writing(&disk, false)
}

/// Opens `disk` read-only: it shows context `ctx` holding step `s` (from a copy recovered in
/// memory when `recovered`), refuses a write, and leaves the disk's bytes as they were.
fn reads_step_s_without_writing(disk: &MemoryDisk, recovered: bool) -> TestResult {
    let image = disk.bytes().clone();
    let reader = RegistryManager::builder()
        .read_only(true)
        .with_backend(disk.clone(), "memory")?;
    assert!(reader.is_read_only());
    assert_eq!(reader.recovered_from_copy(), recovered);
    let registry = reader.get_registry("ctx")?;
    assert_eq!(registry.list_step_names()?, ["s"]);
    assert!(matches!(
        registry.register("t", &spec("T")),
        Err(Error::ReadOnly { .. })
    ));
    drop((registry, reader));
    assert!(*disk.bytes() == image, "a read-only manager wrote");
    Ok(())
}

#[test]
fn a_read_only_manager_on_a_custom_backend_reads_an_unclosed_image_from_a_recovered_copy()
-> TestResult {
    let disk = MemoryDisk::default();
    let writer = RegistryManager::builder().with_backend(disk.clone(), "memory")?;
    writer.get_registry("ctx")?.register("s", &spec("T"))?;
    // The image as a crash would leave it: committed, never closed.
    let crashed = MemoryDisk(Arc::new(std::sync::Mutex::new(disk.bytes().clone())));
    drop(writer);
    reads_step_s_without_writing(&crashed, true)
}

#[test]
fn builder_settings_open_a_working_database() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tuned.redb");
    let manager = RegistryManager::builder()
        .cache_size(4 * 1024 * 1024)
        .concurrency(Concurrency::SingleWriter)
        .check_integrity_on_open(true)
        .open(&path)?;
    manager.get_registry("ctx")?.register("s", &spec("T"))?;
    assert!(manager.check_integrity()?);
    drop(manager);
    let reopened = RegistryManager::builder()
        .check_integrity_on_open(true)
        .open(&path)?;
    assert_eq!(reopened.get_registry("ctx")?.len()?, 1);
    Ok(())
}

#[test]
fn a_second_open_of_the_same_file_is_in_use() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let _owner = RegistryManager::open(&path)?;
    let Err(error) = RegistryManager::open(&path) else {
        panic!("a second open succeeded");
    };
    assert!(matches!(error, Error::InUse { .. }), "{error}");
    assert!(error.to_string().contains("read-only"), "{error}");
    Ok(())
}

#[test]
fn read_only_is_refused_for_databases_that_start_empty() -> TestResult {
    for (what, result) in [
        (
            "temporary",
            RegistryManager::builder().read_only(true).temporary(),
        ),
        (
            "in memory",
            RegistryManager::builder().read_only(true).in_memory(),
        ),
    ] {
        let Err(error) = result else {
            panic!("a read-only {what} database was opened");
        };
        assert!(error.is_invalid_input(), "{what}: {error:?}");
        assert!(error.to_string().contains("starts empty"), "{error}");
    }
    // Without it, both open writable.
    RegistryManager::builder().temporary()?.get_registry("t")?;
    RegistryManager::builder().in_memory()?.get_registry("m")?;
    Ok(())
}

#[test]
fn an_empty_path_is_invalid_input_naming_the_problem() -> TestResult {
    for result in [
        RegistryManager::open(""),
        RegistryManager::open_read_only(""),
    ] {
        let error = result.err().ok_or("an empty path opened a database")?;
        assert!(error.is_invalid_input(), "{error:?}");
        assert!(error.to_string().contains("the database path"), "{error}");
    }
    Ok(())
}
