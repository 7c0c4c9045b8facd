//! A file that another program overwrites or truncates in place while a manager has it open
//! (a backup restored with `cp`, a `> registry.redb`) is neither written by that manager's
//! later writes, which are refused as I/O errors writing nothing, nor by its close: what the
//! other program wrote opens afterwards, whole. Changing only the file's times (`touch`)
//! stops nothing.
#![cfg(unix)]

mod common;

use std::path::Path;

use common::{TestResult, spec};
use pipeline_deps::{Durability, ErrorKind, RegistryManager};

/// A registry file holding context `from_backup` with one step, closed.
fn backup(path: &Path) -> TestResult {
    let manager = RegistryManager::open(path)?;
    manager
        .get_registry("from_backup")?
        .register("kept", &spec("Kept"))?;
    Ok(())
}

/// A manager (and its registry `ml` holding `prep` and `train`) of `DIR/registry.redb`,
/// written with `durability`, over which a backup of `from_backup` has just been copied in
/// place (`cp backup.redb registry.redb`: the same file, its inode, with other contents).
fn backup_copied_over_an_open_file(
    dir: &Path,
    durability: Durability,
) -> TestResult<(RegistryManager, pipeline_deps::SpecificationRegistry)> {
    let path = dir.join("registry.redb");
    let saved = dir.join("backup.redb");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&saved);
    backup(&saved)?;
    let manager = RegistryManager::builder()
        .durability(durability)
        .open(&path)?;
    let registry = manager.get_registry("ml")?;
    registry.register("prep", &spec("Prep"))?;
    registry.register("train", &spec("Train"))?;
    std::fs::copy(&saved, &path)?;
    Ok((manager, registry))
}

fn assert_refused(result: pipeline_deps::Result<()>, what: &str) -> TestResult {
    let error = result.err().ok_or(format!(
        "{what} was acknowledged on a file changed in place"
    ))?;
    assert_eq!(error.kind(), ErrorKind::Io, "{what}: {error}");
    let shown = format!(
        "{error}: {}",
        std::error::Error::source(&error).ok_or("no cause")?
    );
    assert!(shown.contains("registry.redb"), "{shown}");
    assert!(shown.contains("in place"), "{shown}");
    Ok(())
}

#[test]
fn a_backup_copied_over_the_open_file_survives_its_writes_and_its_close() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    for durability in [Durability::Immediate, Durability::None] {
        let (manager, registry) = backup_copied_over_an_open_file(dir.path(), durability)?;

        assert_refused(
            registry.register("evaluate", &spec("Evaluate")),
            "a register",
        )?;
        assert_refused(registry.upsert("prep", &spec("Prep2")), "an upsert")?;
        assert_refused(manager.clear_context("ml").map(drop), "a clear")?;
        assert_refused(manager.get_registry("new_context").map(drop), "a create")?;
        assert_refused(manager.sync(), "a sync")?;
        drop((registry, manager));

        // Neither the refused writes nor the close wrote the backup's contents.
        let reopened = RegistryManager::open(&path)?;
        assert_eq!(reopened.list_contexts()?, ["from_backup"]);
        assert_eq!(
            reopened.get_registry("from_backup")?.list_step_names()?,
            ["kept"]
        );
        assert!(
            reopened.check_integrity()?,
            "the backup's pages are all intact"
        );
        // And the path is writable again, by the manager that opened it now.
        reopened
            .get_registry("from_backup")?
            .register("after", &spec("After"))?;
    }
    Ok(())
}

#[test]
fn a_backup_copied_over_a_file_only_read_survives_the_close() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    for durability in [Durability::Immediate, Durability::None] {
        let (manager, registry) = backup_copied_over_an_open_file(dir.path(), durability)?;
        // Only reads after the copy: the close alone would write the file (with
        // `Durability::None`, the commits it has yet to make durable).
        assert_eq!(registry.list_step_names()?, ["prep", "train"]);
        drop((registry, manager));
        let reopened = RegistryManager::open(&path)?;
        assert_eq!(reopened.list_contexts()?, ["from_backup"], "{durability:?}");
        assert!(reopened.check_integrity()?, "{durability:?}");
    }
    Ok(())
}

#[test]
fn a_file_truncated_in_place_is_not_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ml")?;
    registry.register("prep", &spec("Prep"))?;
    // `> registry.redb`
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)?;
    assert_refused(registry.register("train", &spec("Train")), "a register")?;
    drop((registry, manager));
    // The empty file the other program left is still empty: nothing wrote into it.
    assert_eq!(std::fs::metadata(&path)?.len(), 0);
    Ok(())
}

#[test]
fn touching_the_file_stops_no_write() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ml")?;
    registry.register("prep", &spec("Prep"))?;
    let file = std::fs::File::options().write(true).open(&path)?;
    file.set_modified(std::time::SystemTime::UNIX_EPOCH)?;
    drop(file);
    registry.register("train", &spec("Train"))?;
    // Many writes of every kind in a row: each sees the header its predecessor left.
    for i in 0..20 {
        registry.upsert(&format!("step_{i}"), &spec("Step"))?;
        manager.get_registry(&format!("ctx_{i}"))?;
    }
    manager.clear_context("ctx_0")?;
    manager.sync()?;
    drop((registry, manager));
    let reopened = RegistryManager::open(&path)?;
    assert_eq!(reopened.get_registry("ml")?.len()?, 22);
    Ok(())
}
