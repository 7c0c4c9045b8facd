//! A write through a manager whose file was deleted, moved or replaced (a backup restored
//! with `mv`) after it was opened is refused as an I/O error naming the file, writing
//! nothing; before, it was acknowledged as durable into a file no one opens again, while
//! another manager could open the path and write there too.
#![cfg(unix)]

mod common;

use common::{TestResult, spec};
use pipeline_deps::{Durability, ErrorKind, RegistryManager};

#[test]
fn writes_after_the_file_was_deleted_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ml")?;
    registry.register("prep", &spec("Prep"))?;
    std::fs::remove_file(&path)?;

    let error = registry
        .register("train", &spec("Train"))
        .err()
        .ok_or("a write into the deleted file was acknowledged")?;
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    assert!(error.to_string().contains("registry.redb"), "{error}");
    assert!(manager.get_registry("new_context").is_err());
    assert!(manager.clear_context("ml").is_err());
    assert!(manager.sync().is_err());
    // Reads are served from the file this manager has open.
    assert_eq!(registry.list_step_names()?, ["prep"]);

    // Another manager opening the path meanwhile gets a file of its own, written by it alone.
    let other = RegistryManager::open(&path)?;
    other.get_registry("fresh")?.register("a", &spec("A"))?;
    assert!(registry.upsert("prep", &spec("Prep2")).is_err());
    drop((registry, manager));
    assert_eq!(other.list_contexts()?, ["fresh"]);
    Ok(())
}

#[test]
fn writes_after_the_file_was_replaced_or_moved_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let backup = dir.path().join("backup.redb");
    {
        let manager = RegistryManager::open(&backup)?;
        manager.get_registry("from_backup")?;
    }
    for durability in [Durability::Immediate, Durability::None] {
        let _ = std::fs::remove_file(&path);
        let copy = dir.path().join("copy.redb");
        std::fs::copy(&backup, &copy)?;
        let manager = RegistryManager::builder()
            .durability(durability)
            .open(&path)?;
        let registry = manager.get_registry("ml")?;
        registry.register("prep", &spec("Prep"))?;
        // `mv copy.redb registry.redb`: the path names another file now.
        std::fs::rename(&copy, &path)?;
        let error = registry
            .register("train", &spec("Train"))
            .err()
            .ok_or("a write into the replaced file was acknowledged")?;
        assert_eq!(error.kind(), ErrorKind::Io, "{error}");
        assert!(manager.sync().is_err());
        drop((registry, manager));
        // The file now at the path is the backup, untouched.
        let reopened = RegistryManager::open(&path)?;
        assert_eq!(reopened.list_contexts()?, ["from_backup"]);
        drop(reopened);

        // Moved away: the path names no file.
        let manager = RegistryManager::open(&path)?;
        let registry = manager.get_registry("from_backup")?;
        std::fs::rename(&path, dir.path().join("moved.redb"))?;
        assert!(registry.register("x", &spec("X")).is_err());
    }
    Ok(())
}

#[test]
fn a_hard_link_made_and_removed_stops_no_write() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ml")?;
    registry.register("prep", &spec("Prep"))?;
    std::fs::hard_link(&path, dir.path().join("link.redb"))?;
    registry.register("train", &spec("Train"))?;
    std::fs::remove_file(dir.path().join("link.redb"))?;
    registry.register("evaluate", &spec("Evaluate"))?;
    drop((registry, manager));
    let manager = RegistryManager::open(&path)?;
    assert_eq!(
        manager.get_registry("ml")?.list_step_names()?,
        ["prep", "train", "evaluate"]
    );
    Ok(())
}

#[test]
fn a_temporary_database_whose_file_a_cleaner_deleted_keeps_working() -> TestResult {
    let manager = RegistryManager::temporary()?;
    let registry = manager.get_registry("ml")?;
    registry.register("prep", &spec("Prep"))?;
    std::fs::remove_file(manager.path())?;
    registry.register("train", &spec("Train"))?;
    assert_eq!(registry.list_step_names()?, ["prep", "train"]);
    Ok(())
}
