//! Invariant: one process writes a database file at a time. A second process (or manager)
//! opening the same file gets `Error::InUse`, whose message says how to inspect the file
//! read-only; while the owner runs in single-writer mode a read-only inspector in another
//! process works, follows every commit the owner acknowledges, and cannot write.

mod support;

use std::io::BufRead;

use pipeline_deps::{Concurrency, Error, RegistryManager, StepSpecification};
use support::{Conversation, TestResult, figure, is_child, say};

const DB_VAR: &str = "PIPELINE_DEPS_MP_DB";
const MODE_VAR: &str = "PIPELINE_DEPS_MP_MODE";

fn spec(n: usize) -> StepSpecification {
    support::numbered_spec(n, 2)
}

/// Child mode: owns the database and registers step `s<k>` for every `WRITE <k>` line on
/// stdin, answering `DONE <k>`; stops at `EXIT` or end of input.
#[test]
#[ignore = "child process of the multiprocess tests"]
fn owner_child() -> TestResult {
    if !is_child() {
        return Ok(());
    }
    let path = std::env::var(DB_VAR)?;
    let mode = if std::env::var(MODE_VAR)? == "single" {
        Concurrency::SingleWriter
    } else {
        Concurrency::Exclusive
    };
    let manager = RegistryManager::builder().concurrency(mode).open(&path)?;
    let registry = manager.get_registry("owned")?;
    say("READY");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if let Some(k) = line.strip_prefix("WRITE ") {
            let k: usize = k.trim().parse()?;
            registry.register(&format!("s{k}"), &spec(k))?;
            say(&format!("DONE {k}"));
        } else if line.trim() == "EXIT" {
            break;
        }
    }
    Ok(())
}

/// The owner process (`owner_child`), which writes on request.
struct Owner(Conversation);

impl Owner {
    fn start(path: &std::path::Path, mode: &str) -> TestResult<Owner> {
        Conversation::start(
            "owner_child",
            &[
                (DB_VAR, path.display().to_string()),
                (MODE_VAR, mode.to_owned()),
            ],
        )
        .map(Owner)
    }

    fn write(&mut self, k: usize) -> TestResult {
        self.0.send(&format!("WRITE {k}"))?;
        self.0.expect(&format!("DONE {k}"))
    }

    fn stop(self) -> TestResult {
        self.0.stop()
    }
}

fn expect_in_use(result: pipeline_deps::Result<RegistryManager>, what: &str) -> TestResult {
    match result {
        Err(e @ Error::InUse { .. }) => {
            let message = e.to_string();
            for needle in ["already open", "read-only", "single-writer"] {
                if !message.contains(needle) {
                    return Err(
                        format!("{what}: the InUse message lacks {needle:?}: {message}").into(),
                    );
                }
            }
            Ok(())
        }
        other => Err(format!("{what}: expected InUse, got {other:?}").into()),
    }
}

#[test]
fn second_process_gets_in_use_with_a_read_only_hint() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("owned.redb");
    let mut owner = Owner::start(&path, "exclusive")?;
    owner.write(0)?;
    expect_in_use(RegistryManager::open(&path), "writable open")?;
    expect_in_use(
        RegistryManager::builder()
            .concurrency(Concurrency::SingleWriter)
            .open(&path),
        "single-writer open",
    )?;
    // An exclusive owner admits no reader either.
    expect_in_use(
        RegistryManager::open_read_only(&path),
        "read-only open of an exclusive owner's file",
    )?;
    owner.write(1)?;
    owner.stop()?;
    // Once the owner is gone, the file opens and holds both acknowledged writes.
    let manager = RegistryManager::open(&path)?;
    assert_eq!(
        manager.get_registry("owned")?.list_step_names()?,
        vec!["s0", "s1"]
    );
    Ok(())
}

#[test]
fn second_manager_in_the_same_process_gets_in_use() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("twice.redb");
    let first = RegistryManager::open(&path)?;
    expect_in_use(RegistryManager::open(&path), "second manager")?;
    drop(first);
    RegistryManager::open(&path)?;
    Ok(())
}

#[test]
fn read_only_inspector_follows_a_single_writer_owner() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("shared.redb");
    let mut owner = Owner::start(&path, "single")?;
    expect_in_use(
        RegistryManager::open(&path),
        "writable open of a single-writer file",
    )?;
    let inspector = RegistryManager::open_read_only(&path)?;
    assert!(inspector.is_read_only());
    assert_eq!(inspector.list_contexts()?, vec!["owned"]);
    let commits = 12;
    for k in 0..commits {
        owner.write(k)?;
        // Every acknowledged commit is visible to the inspector at once.
        let registry = inspector
            .get_registry_if_exists("owned")?
            .ok_or("the inspector does not see the owner's context")?;
        assert_eq!(registry.len()?, k + 1);
        assert_eq!(
            registry.get_specification(&format!("s{k}"))?.as_deref(),
            Some(&spec(k))
        );
        assert_eq!(inspector.get_context_stats()?["owned"].step_count, k + 1);
    }
    // The inspector cannot write, and says why.
    let registry = inspector
        .get_registry_if_exists("owned")?
        .ok_or("context missing")?;
    assert!(matches!(
        registry.register("x", &spec(0)),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(
        inspector.get_registry("new"),
        Err(Error::NoSuchContext { .. })
    ));
    assert!(matches!(
        inspector.clear_context("owned"),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(
        inspector.check_integrity(),
        Err(Error::ReadOnly { .. })
    ));
    owner.stop()?;
    // Once the inspector is closed too, the file opens for writing with every commit.
    drop((registry, inspector));
    let reopened = RegistryManager::open(&path)?;
    assert_eq!(reopened.get_registry("owned")?.len()?, commits);
    figure(
        "multiprocess",
        &format!(
            "a read-only inspector followed {commits} commits of a single-writer owner in another process; writable opens refused with InUse naming the read-only command"
        ),
    );
    Ok(())
}
