//! Invariant: under group commit a write that fails fails alone, also when it fails before
//! its operation ran (its write transaction could not even start): the writes after it,
//! alone or concurrent, commit as if it had never been tried.
//! Written against mutants of `src/store/group.rs` that `group_commit` and `noop_writes` let
//! survive (see the report of the third mutation audit, cargo-mutants): the failed start
//! left counted as a writer still on its way, so that every later batch waited for it.

mod common;
mod support;

use std::time::Duration;

use common::spec;
use pipeline_deps::{Error, RegistryManager};
use support::{TestResult, bounded};

#[cfg(unix)]
#[test]
fn a_write_refused_before_its_transaction_started_does_not_hold_up_later_writes() -> TestResult {
    bounded(Duration::from_secs(120), refused_then_written)
}

#[cfg(unix)]
fn refused_then_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("reg.redb");
    let moved = dir.path().join("moved.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ctx")?;
    registry.register("before", &spec("Processing"))?;

    // While the path names no file, a write is refused before its transaction starts.
    std::fs::rename(&path, &moved)?;
    let refused = registry.register("refused", &spec("Processing"));
    assert!(matches!(refused, Err(Error::Io { .. })), "{refused:?}");
    std::fs::rename(&moved, &path)?;

    // Back at its path, the file takes writes again: one alone, then concurrent ones.
    registry.register("alone", &spec("Processing"))?;
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let registry = registry.clone();
            std::thread::spawn(move || registry.register(&format!("w{i}"), &spec("Training")))
        })
        .collect();
    for writer in writers {
        writer.join().map_err(|_| "a writer panicked")??;
    }
    drop(registry);
    drop(manager);

    let reopened = RegistryManager::open(&path)?;
    let mut names = reopened.get_registry("ctx")?.list_step_names()?;
    names[2..].sort();
    assert_eq!(names, ["before", "alone", "w0", "w1", "w2", "w3"]);
    Ok(())
}
