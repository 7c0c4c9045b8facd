//! Invariant: a file under `check --repair`'s backup name is always a whole copy of the
//! registry: a repair whose backup cannot be written completely (a full disk, a file-size
//! limit) fails with a clear error naming the registry, and leaves the registry as it was
//! and no backup, partial or not, beside it; and a backup never replaces, nor writes
//! through, whatever already has its name.

#![cfg(unix)]

mod support;

use std::process::Command;

use support::{BIN, TestResult, run, run_timed, s, temp_dir, write_file};

/// `check --repair` under a file-size limit half the registry's size: writing the backup
/// fails part-way (`SIGXFSZ` ignored, so the write returns an error instead of killing).
#[test]
fn a_backup_that_cannot_be_written_whole_leaves_no_backup() -> TestResult {
    let dir = temp_dir()?;
    let db = dir.path().join("r.redb");
    let specs = write_file(
        dir.path(),
        "specs.json",
        support::synthetic_specs("s", 2_000, 1).as_bytes(),
    )?;
    run(&db, &["import", "ctx", s(&specs)?])?.expect(0)?;
    let before = std::fs::read(&db)?;
    // In blocks of 1,024 bytes (bash) or 512 (dash): below the file's size either way.
    let limit = before.len() / 2 / 1024;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {limit}; exec \"$0\" \"$@\""
        ))
        .arg(BIN)
        .arg("--db")
        .arg(&db)
        .args(["check", "--repair"])
        .env_remove("PIPELINE_DEPS_DB")
        .env_remove("RUST_LOG");
    let repair = run_timed(command, "check --repair under a file-size limit".into())?;
    let err = repair.err();
    assert_eq!(repair.code, Some(3), "{err}");
    assert!(
        err.contains("writing the backup copy of") && err.contains(s(&db)?),
        "{err}"
    );
    assert!(std::fs::read(&db)? == before, "the registry changed");
    let beside: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    let mut beside: Vec<&str> = beside
        .iter()
        .map(String::as_str)
        .filter(|n| !["r.redb", "specs.json"].contains(n))
        .collect();
    beside.sort_unstable();
    assert_eq!(beside, Vec::<&str>::new(), "left beside the registry");
    // The next repair, without the limit, writes the first backup name.
    run(&db, &["check", "--repair"])?.expect(0)?;
    assert!(std::fs::read(dir.path().join("r.redb.backup"))? == before);
    Ok(())
}

/// A name already taken, even by a link to nothing, is never written through nor replaced:
/// the backup takes the next free name.
#[test]
fn a_backup_never_replaces_what_has_its_name() -> TestResult {
    let dir = temp_dir()?;
    let db = support::healthy_db(dir.path())?;
    let before = std::fs::read(&db)?;
    let taken = dir.path().join("healthy.redb.backup");
    let nowhere = dir.path().join("nowhere");
    std::os::unix::fs::symlink(&nowhere, &taken)?;
    let repair = run(&db, &["check", "--repair"])?;
    repair.expect(0)?;
    let backup = dir.path().join("healthy.redb.backup.1");
    assert!(repair.out().contains(s(&backup)?), "{}", repair.out());
    assert!(std::fs::read(&backup)? == before);
    assert_eq!(std::fs::read_link(&taken)?, nowhere);
    assert!(!nowhere.exists(), "written through the link");
    Ok(())
}
