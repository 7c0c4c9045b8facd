//! Issue 9's defects 3, 4 and 6, driven through the real binary: damaged files never make a
//! command exit 101, die by a signal or print panic text; `check` never writes the file
//! (also on a read-only medium; `check --repair` writes a backup beside it first) and
//! `compact` never makes a file less readable; a write that fails on a damaged file leaves
//! it as it was.

use std::path::Path;
use std::process::Command;

mod defects_common;
use defects_common::{
    Run, TestResult, base_db, expect, mount_tmpfs, run, two_context_db, write_doc,
};

// ---------------------------------------------------------------------------------------
// Defects 3, 4 and 6

/// Every command that reads or writes an existing file, with what it needs.
fn every_command(snapshot: &Path) -> Vec<Vec<String>> {
    let snap = snapshot.display().to_string();
    [
        vec!["stats"],
        vec!["contexts"],
        vec!["export", "base"],
        vec!["show", "base"],
        vec!["show", "base", "base3"],
        vec!["types", "base"],
        vec!["resolve", "base"],
        vec!["snapshot", "base", "-o", &snap],
        vec!["check-snapshot", "base", &snap],
        vec!["check"],
        vec!["clear", "base"],
        vec!["compact"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_owned).collect())
    .collect()
}

#[test]
fn damaged_files_never_panic_crash_or_print_panic_text_in_any_command() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = base_db(dir.path())?;
    let snapshot = dir.path().join("snap.json");
    expect(
        run(
            &db,
            &["snapshot", "base", "-o", &snapshot.display().to_string()],
        )?,
        0,
    )?;
    let original = std::fs::read(&db)?;
    let damaged = dir.path().join("damaged.redb");
    let commands = every_command(&snapshot);
    let mut runs = 0;
    // The start of each page (B-tree headers, first keys): where a flipped bit made the
    // engine index out of bounds on the read-only context lookup.
    for page in 0..original.len() / 4096 {
        for byte in [0usize, 6, 9, 15, 39] {
            let at = page * 4096 + byte;
            for args in &commands {
                let mut bytes = original.clone();
                bytes[at] ^= 1 << (at % 8);
                std::fs::write(&damaged, &bytes)?;
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let run = run(&damaged, &args)?;
                let documented = matches!(run.code, Some(0 | 1 | 3 | 4));
                if !documented || run.stderr.contains("panicked") {
                    return Err(format!("byte {at}, {args:?}: {run:#?}").into());
                }
                runs += 1;
            }
        }
    }
    eprintln!("FIGURE damaged-file runs: {runs}, 0 panics, 0 undocumented exit codes");
    Ok(())
}

fn exports(db: &Path) -> TestResult<Vec<String>> {
    let mut out = Vec::new();
    for context in ["base", "other"] {
        let run = run(db, &["export", context])?;
        if run.code == Some(0) {
            out.push(run.stdout);
        }
    }
    Ok(out)
}

#[test]
fn check_never_writes_and_compact_never_makes_a_damaged_file_less_readable() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = two_context_db(dir.path())?;
    let original = std::fs::read(&db)?;
    let damaged = dir.path().join("damaged.redb");
    let (mut files, mut refused) = (0, 0);
    for page in 0..original.len() / 4096 {
        for byte in [3usize, 12, 40, 77] {
            let at = page * 4096 + byte;
            let mut bytes = original.clone();
            bytes[at] ^= 1 << (at % 8);
            std::fs::write(&damaged, &bytes)?;
            let before = exports(&damaged)?;
            let check = run(&damaged, &["check"])?;
            assert!(
                matches!(check.code, Some(0 | 1 | 3)),
                "byte {at}: {check:#?}"
            );
            assert!(
                std::fs::read(&damaged)? == bytes,
                "byte {at}: check wrote the file"
            );
            let compact = run(&damaged, &["compact"])?;
            assert!(
                matches!(compact.code, Some(0 | 3)),
                "byte {at}: {compact:#?}"
            );
            if compact.code == Some(3) {
                refused += 1;
                assert!(
                    std::fs::read(&damaged)? == bytes,
                    "byte {at}: refused, but wrote"
                );
            }
            let after = exports(&damaged)?;
            for export in &before {
                assert!(
                    after.contains(export),
                    "byte {at}: a context stopped exporting"
                );
            }
            files += 1;
        }
    }
    eprintln!(
        "FIGURE check/compact over {files} damaged files: check wrote 0, compact refused {refused}, 0 made less readable"
    );
    Ok(())
}

/// Found again from outside after round 2: on a file damaged where only writes reach (a
/// flip that every read survives), `demo` exited 101 with panic text (the engine's
/// rollback of the failed group commit ran outside the containment), and any failed write
/// left redb's "recovery required" mark in the header, so that every later command, reads
/// included, failed on the repair the mark asks for. Now a failed write exits 3 without
/// panic text and leaves the file byte for byte as it was, so everything that read before
/// still reads.
#[test]
fn a_failed_write_on_a_damaged_file_leaves_it_as_it_was() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = two_context_db(dir.path())?;
    expect(run(&db, &["compact"])?, 0)?;
    let new = write_doc(dir.path(), "new.json", "n", 2)?;
    let new = new.display().to_string();
    let writes: [&[&str]; 3] = [&["import", "new", &new], &["demo"], &["clear", "base"]];
    let original = std::fs::read(&db)?;
    let damaged = dir.path().join("damaged.redb");
    let (mut failed, mut by_command) = (0, [0usize; 3]);
    for page in 0..original.len() / 4096 {
        for byte in [12usize, 290] {
            let at = page * 4096 + byte;
            let mut bytes = original.clone();
            bytes[at] ^= 1 << (at % 8);
            std::fs::write(&damaged, &bytes)?;
            let before = exports(&damaged)?;
            if before.len() < 2 {
                continue; // damage that reads already reach: the other tests' subject
            }
            for (i, args) in writes.iter().enumerate() {
                std::fs::write(&damaged, &bytes)?;
                let write = run(&damaged, args)?;
                if write.code == Some(0) {
                    continue;
                }
                if write.code != Some(3) || write.stderr.contains("panicked") {
                    return Err(format!("byte {at}, {args:?}: {write:#?}").into());
                }
                assert!(
                    std::fs::read(&damaged)? == bytes,
                    "byte {at}, {args:?}: a failed write changed the file"
                );
                assert_eq!(
                    exports(&damaged)?,
                    before,
                    "byte {at}, {args:?}: reads changed after a failed write"
                );
                failed += 1;
                by_command[i] += 1;
            }
        }
    }
    // The damage this test is about must have occurred, or it checked nothing.
    assert!(
        by_command.iter().all(|&n| n > 0),
        "no flip made every write command fail while reads worked: {by_command:?}"
    );
    eprintln!(
        "FIGURE failed writes on damaged files: {failed} (import, demo, clear: {by_command:?}), each exit 3, file unchanged, reads unchanged"
    );
    Ok(())
}

#[test]
fn check_repair_writes_a_backup_beside_the_file_first() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = base_db(dir.path())?;
    let bytes = std::fs::read(&db)?;
    let run = expect(run(&db, &["check", "--repair"])?, 0)?;
    let backup = dir.path().join("r.redb.backup");
    assert!(
        run.stdout.contains(&backup.display().to_string()),
        "{run:#?}"
    );
    assert!(std::fs::read(&backup)? == bytes);
    Ok(())
}

/// Defect 10b: `check` on a read-only file and on a read-only medium. As root, file
/// permissions do not stop writes, so the medium case mounts a small tmpfs read-only; it
/// is skipped (and says so) where mounting is not possible.
#[cfg(unix)]
#[test]
fn check_works_on_a_read_only_file_and_a_read_only_medium() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let db = base_db(dir.path())?;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444))?;
    let bytes = std::fs::read(&db)?;
    let run_ro = expect(run(&db, &["check"])?, 0)?;
    assert!(run_ro.stdout.contains("result: ok"), "{run_ro:#?}");
    assert!(std::fs::read(&db)? == bytes);

    let mount = dir.path().join("medium");
    std::fs::create_dir(&mount)?;
    if !mount_tmpfs(&mount, "4m") {
        eprintln!("SKIPPED the read-only medium case: cannot mount a tmpfs here (not root?)");
        return Ok(());
    }
    let result = (|| -> TestResult {
        let on_medium = mount.join("r.redb");
        std::fs::copy(&db, &on_medium)?;
        let remounted = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&mount)
            .status()?;
        assert!(remounted.success(), "remounting read-only failed");
        assert!(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&on_medium)
                .is_err()
        );
        let run = expect(run(&on_medium, &["check"])?, 0)?;
        assert!(run.stdout.contains("result: ok"), "{run:#?}");
        expect(run_stats(&on_medium)?, 0)?;
        Ok(())
    })();
    let _ = Command::new("umount").arg(&mount).status();
    result
}

fn run_stats(db: &Path) -> TestResult<Run> {
    run(db, &["stats"])
}
