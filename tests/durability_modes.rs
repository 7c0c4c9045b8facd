//! Invariant: each `Durability` keeps its documented promise. `Immediate`: every write is on
//! stable storage when it returns. `None` (the default of temporary and in-memory
//! databases): no write calls fsync, every write is visible to later reads at once, and a
//! crash (power loss or SIGKILL) loses exactly the writes since the last durable point
//! (open, `sync`, clean close), all of them together; a clean close keeps them all.

mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use common::spec;
use pipeline_deps::{Concurrency, Durability, Error, RegistryManager};
use support::fault_backend::{Disk, Keep, Rng};
use support::{TestResult, heard, is_child, say, seed, spawn_child};

/// Opens the database kept on `disk` (as after a reboot, when `disk` is built from an image).
fn open_on(disk: &Disk, durability: Durability) -> pipeline_deps::Result<RegistryManager> {
    RegistryManager::builder()
        .durability(durability)
        .with_backend(disk.backend(), "disk")
}

/// Checks that the database in `image` holds exactly `steps` in context `ctx` (counts
/// included) and is consistent.
fn holds_exactly(image: Vec<u8>, ctx: &str, steps: &[&str]) -> TestResult {
    let manager = open_on(&Disk::from_image(image), Durability::Immediate)?;
    let names = match manager.get_registry_if_exists(ctx)? {
        Some(registry) => {
            assert_eq!(registry.len()?, registry.list_step_names()?.len());
            registry.list_step_names()?
        }
        None => Vec::new(),
    };
    assert_eq!(names, steps, "context {ctx}");
    assert!(manager.check_integrity()?);
    Ok(())
}

#[test]
fn non_durable_writes_never_sync_and_are_visible_at_once() -> TestResult {
    let disk = Disk::new();
    let manager = open_on(&disk, Durability::None)?;
    let after_open = disk.counts();
    let registry = manager.get_registry("ctx")?;
    for i in 0..20 {
        registry.register(&format!("step_{i:02}"), &spec("Processing"))?;
        assert!(registry.contains(&format!("step_{i:02}"))?);
    }
    registry.unregister("step_00")?;
    // The engine syncs only when it grows the file (a rare, amortised event), never per write.
    let during = disk.counts();
    assert!(
        during.syncs - after_open.syncs <= during.set_lens - after_open.set_lens,
        "non-durable writes synced: {after_open:?} then {during:?}"
    );
    assert_eq!(registry.len()?, 19);
    assert_eq!(manager.get_context_stats()?["ctx"].step_count, 19);
    assert_eq!(registry.list_step_names()?.len(), 19);
    // A clean close makes them durable: one more sync, and a reopen sees every write.
    drop((registry, manager));
    assert!(disk.counts().syncs > during.syncs);
    let expected: Vec<String> = (1..20).map(|i| format!("step_{i:02}")).collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    holds_exactly(disk.durable_image(), "ctx", &expected)
}

#[test]
fn power_loss_under_none_loses_everything_since_the_last_sync_and_nothing_before() -> TestResult {
    let mut rng = Rng::new(seed(
        "power_loss_under_none_loses_everything_since_the_last_sync_and_nothing_before",
    ));
    for round in 0..12 {
        let disk = Disk::new();
        let manager = open_on(&disk, Durability::None)?;
        let registry = manager.get_registry("ctx")?;
        registry.register("kept_1", &spec("Processing"))?;
        registry.register("kept_2", &spec("Training"))?;
        manager.sync()?;
        let synced = disk.counts();
        registry.register("lost_1", &spec("Processing"))?;
        registry.upsert("kept_1", &spec("Training"))?;
        registry.unregister("kept_2")?;
        let now = disk.counts();
        assert!(now.syncs - synced.syncs <= now.set_lens - synced.set_lens);
        let keep = match round % 4 {
            0 => Keep::Nothing,
            1 => Keep::Everything,
            2 => Keep::Prefix {
                seed: rng.next_u64(),
            },
            _ => Keep::RandomSectors {
                seed: rng.next_u64(),
            },
        };
        // Power fails now: whatever of the unsynced writes reached the disk, the reopened
        // file is the state at `sync`.
        let image = disk.image_after_power_loss(keep);
        drop((registry, manager));
        holds_exactly(image.clone(), "ctx", &["kept_1", "kept_2"])
            .map_err(|e| format!("round {round} ({keep:?}): {e}"))?;
        let reopened = open_on(&Disk::from_image(image), Durability::Immediate)?;
        let kept = reopened
            .get_registry("ctx")?
            .get_specification("kept_1")?
            .ok_or("kept_1 is missing")?;
        assert_eq!(
            kept.step_type, "Processing",
            "round {round}: the upsert leaked"
        );
    }
    Ok(())
}

#[test]
fn immediate_writes_are_durable_when_they_return() -> TestResult {
    let disk = Disk::new();
    let manager = open_on(&disk, Durability::Immediate)?;
    let registry = manager.get_registry("ctx")?;
    let mut names = Vec::new();
    for i in 0..5 {
        let name = format!("step_{i}");
        registry.register(&name, &spec("Processing"))?;
        names.push(name);
        // Only synced bytes: what a power loss right now would leave.
        let expected: Vec<&str> = names.iter().map(String::as_str).collect();
        holds_exactly(disk.durable_image(), "ctx", &expected)?;
    }
    Ok(())
}

#[test]
fn non_durable_needs_exclusive_mode() -> TestResult {
    let dir = tempfile::tempdir()?;
    let refused = RegistryManager::builder()
        .concurrency(Concurrency::SingleWriter)
        .durability(Durability::None)
        .open(dir.path().join("shared.redb"));
    match refused {
        Err(e @ Error::InvalidInput { .. }) => {
            assert!(e.to_string().contains("Exclusive"), "{e}");
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    // Refused input changes nothing: no file was created.
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
    // `temporary()` refuses the same combination when it is asked for.
    let refused = RegistryManager::builder()
        .concurrency(Concurrency::SingleWriter)
        .durability(Durability::None)
        .temporary();
    match refused {
        Err(e @ Error::InvalidInput { .. }) => {
            assert!(e.to_string().contains("Exclusive"), "{e}");
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    // A temporary database in single-writer mode falls back to durable commits.
    let shared = RegistryManager::builder()
        .concurrency(Concurrency::SingleWriter)
        .temporary()?;
    shared.get_registry("ctx")?.register("a", &spec("P"))?;
    assert_eq!(shared.get_registry("ctx")?.len()?, 1);
    Ok(())
}

#[test]
fn a_temporary_database_is_removed_on_drop() -> TestResult {
    let manager = RegistryManager::temporary()?;
    let path = manager.path();
    manager.get_registry("ctx")?.register("a", &spec("P"))?;
    assert!(path.exists());
    drop(manager);
    assert!(!path.exists(), "{} outlived its manager", path.display());
    Ok(())
}

const KIND_VAR: &str = "PIPELINE_DEPS_DURABILITY_KIND";
const PATH_VAR: &str = "PIPELINE_DEPS_DURABILITY_PATH";

/// Child mode: writes three steps to a `temporary()` database (kind `temporary`) or to a
/// durable file (kind `file`), prints the path and `ACK` after the writes, then waits to be
/// killed.
#[test]
#[ignore = "child process of sigkill_loses_a_temporary_databases_writes_but_not_a_files"]
fn durability_child() -> TestResult {
    if !is_child() {
        return Ok(());
    }
    let manager = match std::env::var(KIND_VAR)?.as_str() {
        "temporary" => RegistryManager::temporary()?,
        _ => RegistryManager::open(std::env::var(PATH_VAR)?)?,
    };
    say(&format!("PATH {}", manager.path().display()));
    let registry = manager.get_registry("ctx")?;
    for name in ["a", "b", "c"] {
        registry.register(name, &spec("Processing"))?;
    }
    say("ACK");
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

/// Kills a child of `kind` after its writes and returns the database file it used.
fn killed_after_writes(kind: &str, path: &std::path::Path) -> TestResult<std::path::PathBuf> {
    let mut child = spawn_child(
        "durability_child",
        &[
            (KIND_VAR, kind.to_owned()),
            (PATH_VAR, path.display().to_string()),
        ],
    )?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut used = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        match heard(&line) {
            Some(message) if message.starts_with("PATH ") => {
                used = Some(std::path::PathBuf::from(&message[5..]));
            }
            Some("ACK") => break,
            _ => {}
        }
    }
    child.kill()?;
    child.wait()?;
    Ok(used.ok_or("the child never said its path")?)
}

#[test]
fn sigkill_loses_a_temporary_databases_writes_but_not_a_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Durable: the acknowledged writes are there after the kill.
    let file = killed_after_writes("file", &dir.path().join("durable.redb"))?;
    let manager = RegistryManager::open(&file)?;
    let registry = manager
        .get_registry_if_exists("ctx")?
        .ok_or("the durable context is gone")?;
    assert_eq!(registry.list_step_names()?, ["a", "b", "c"]);
    drop((registry, manager));
    // Non-durable: a kill leaves the file as it was created (a kill skips the removal).
    let temp = killed_after_writes("temporary", dir.path())?;
    let _cleanup = tempfile::TempPath::try_from_path(&temp)?;
    let manager = RegistryManager::open(&temp)?;
    assert!(manager.get_registry_if_exists("ctx")?.is_none());
    assert!(manager.list_contexts()?.is_empty());
    assert!(manager.check_integrity()?);
    Ok(())
}
