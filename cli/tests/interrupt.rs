//! Invariant: a command interrupted by Ctrl-C (SIGINT), terminated (SIGTERM) or hung up on
//! (SIGHUP) while it writes a file leaves the target as it was and no temporary file beside
//! it, and ends by that signal (as without a handler, which a shell reports as 128 + its
//! number): not by an exit with that number, after which a shell running a script or loop
//! carries on with it.
//! A SIGKILL, which no process can handle, leaves the file, and `check` then lists it.

#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{TestResult, command, run, s, temp_dir};

/// Names in `dir` other than `keep`.
fn others(dir: &Path, keep: &str) -> TestResult<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name != keep {
            names.push(name);
        }
    }
    Ok(names)
}

/// Imports context `big` of 20,000 steps into `db` (the JSON written in `dir`): enough for
/// its export or compaction to be caught writing.
fn fill(dir: &Path, db: &Path) -> TestResult {
    let specs = support::write_file(
        dir,
        "big.json",
        support::synthetic_specs("b", 20_000, 1).as_bytes(),
    )?;
    run(db, &["import", "big", s(&specs)?])?.expect(0)?;
    Ok(())
}

/// Sends `signal` to `child` once a file whose name starts with `prefix` appears in `dir`.
/// `Ok(None)` when the child finished first (too fast to catch); else how it ended.
fn interrupt_when_written(
    child: std::process::Child,
    dir: &Path,
    prefix: &str,
    signal: &str,
) -> TestResult<Option<std::process::ExitStatus>> {
    interrupt_when(child, dir, &|name| name.starts_with(prefix), prefix, signal)
}

/// Sends `signal` to `child` once a file whose name is `wanted` appears in `dir` (`what`
/// names it in the error when none does in time). `Ok(None)` when the child finished first;
/// else how it ended.
fn interrupt_when(
    mut child: std::process::Child,
    dir: &Path,
    wanted: &dyn Fn(&str) -> bool,
    what: &str,
    signal: &str,
) -> TestResult<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait()?.is_some() {
            return Ok(None);
        }
        if others(dir, "")?.iter().any(|name| wanted(name)) {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!("no file {what}… appeared in time").into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // The shell's `kill`, a builtin of every `sh`.
    let sent = std::process::Command::new("sh")
        .args(["-c", &format!("kill -{signal} {}", child.id())])
        .status()?;
    if !sent.success() {
        return Err(format!("kill -{signal} failed").into());
    }
    Ok(Some(child.wait()?))
}

/// Starts `<writer> big -o out/out.json` (`export` or `snapshot`) and sends `signal` once
/// its temporary file exists.
fn interrupt_export(
    db: &Path,
    out: &Path,
    writer: &str,
    signal: &str,
) -> TestResult<Option<std::process::ExitStatus>> {
    let target = out.join("out.json");
    let child = command(db, &[writer, "big", "--output", s(&target)?])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    interrupt_when_written(child, out, ".pipeline-deps-", signal)
}

#[test]
fn an_interrupted_export_leaves_the_target_as_it_was_and_no_temporary_file() -> TestResult {
    let dir = temp_dir()?;
    let db = dir.path().join("r.redb");
    fill(dir.path(), &db)?;
    let out = dir.path().join("out");
    std::fs::create_dir(&out)?;
    std::fs::write(out.join("out.json"), "the previous export\n")?;
    let cases = [
        ("export", "INT", 2),
        ("export", "TERM", 15),
        ("export", "HUP", 1),
        ("snapshot", "INT", 2),
        ("snapshot", "HUP", 1),
    ];
    for (writer, signal, number) in cases {
        // A fast machine may finish before the signal lands: try again, a few times.
        let mut caught = None;
        for _ in 0..20 {
            if let Some(exit) = interrupt_export(&db, &out, writer, signal)? {
                caught = Some(exit);
                break;
            }
            // It finished: put the previous file back for the next try.
            std::fs::write(out.join("out.json"), "the previous export\n")?;
        }
        let exit = caught.ok_or(format!("no {writer} was caught by SIG{signal} in 20 tries"))?;
        // Ended by the signal: a shell reports 128 + its number and stops a script too.
        assert_eq!(
            (
                exit.code(),
                std::os::unix::process::ExitStatusExt::signal(&exit)
            ),
            (None, Some(number)),
            "{writer}: SIG{signal}"
        );
        assert_eq!(
            others(&out, "out.json")?,
            Vec::<String>::new(),
            "{writer}: SIG{signal} left a temporary file"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("out.json"))?,
            "the previous export\n",
            "{writer}: SIG{signal} changed the target"
        );
    }
    Ok(())
}

/// A directory holding `work/r.redb`, the registry the compact tests compact (with the
/// directory, to keep it alive), the `work` directory and the registry's path.
fn compacted_registry() -> TestResult<(tempfile::TempDir, PathBuf, PathBuf)> {
    let dir = temp_dir()?;
    let work = dir.path().join("work");
    std::fs::create_dir(&work)?;
    let db = work.join("r.redb");
    fill(dir.path(), &db)?;
    Ok((dir, work, db))
}

/// Starts `compact` on `db` and sends `signal` once its new file exists in `work` (`None`:
/// it ended first).
fn interrupt_compact(
    db: &Path,
    work: &Path,
    signal: &str,
) -> TestResult<Option<std::process::ExitStatus>> {
    let child = command(db, &["compact"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    interrupt_when_written(child, work, ".pipeline-deps-replace-", signal)
}

/// `compact` writes the new file through the library, under a name only this process's
/// files start with; Ctrl-C while it is written removes it, and the registry is as it was.
#[test]
fn an_interrupted_compact_leaves_the_registry_and_no_new_file() -> TestResult {
    let (_dir, work, db) = compacted_registry()?;
    let shown = |db: &Path| -> TestResult<String> {
        let show = run(db, &["show", "big"])?;
        show.expect(0)?;
        Ok(show.out())
    };
    let before = shown(&db)?;
    let mut caught = None;
    for _ in 0..30 {
        if let Some(status) = interrupt_compact(&db, &work, "INT")? {
            caught = Some(status);
            break;
        }
    }
    let status = caught.ok_or("no compact was caught writing its new file in 30 tries")?;
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(2),
        "{status:?}"
    );
    assert_eq!(
        others(&work, "r.redb")?,
        Vec::<String>::new(),
        "a file was left"
    );
    assert_eq!(shown(&db)?, before, "the registry changed");
    Ok(())
}

/// No process can handle SIGKILL: a `compact` killed while writing its new file leaves it
/// beside the registry, and `check` lists it (a note, exit 0) without deleting it.
#[test]
fn a_killed_compacts_new_file_is_listed_by_check() -> TestResult {
    let (_dir, work, db) = compacted_registry()?;
    let mut left = None;
    for _ in 0..30 {
        if interrupt_compact(&db, &work, "KILL")?.is_none() {
            continue;
        }
        // Killed while the file existed (not just after it was renamed into place).
        let names = others(&work, "r.redb")?;
        if let Some(name) = names
            .into_iter()
            .find(|n| n.starts_with(".pipeline-deps-replace-"))
        {
            left = Some(name);
            break;
        }
    }
    let name = left.ok_or("no compact was killed writing its new file in 30 tries")?;
    let check = run(&db, &["check"])?;
    check.expect(0)?;
    let report = check.out();
    assert!(
        report.contains("leftover  1 file(s) beside the registry") && report.contains(&name),
        "{report}"
    );
    assert!(work.join(&name).exists(), "check deleted {name}");
    Ok(())
}

/// Starts `check --repair` on `db` and sends `signal` once its backup or any of its new
/// files appears in `work` (`None`: it ended first).
fn interrupt_repair(
    db: &Path,
    work: &Path,
    signal: &str,
) -> TestResult<Option<std::process::ExitStatus>> {
    let child = command(db, &["check", "--repair"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let wanted =
        |name: &str| name.starts_with(".pipeline-deps-") || name.starts_with("r.redb.backup");
    interrupt_when(child, work, &wanted, "of check --repair", signal)
}

/// `check --repair` writes a backup before anything else: Ctrl-C (or SIGTERM, SIGHUP) at
/// any moment leaves the registry as it was, no temporary file, and no backup that is not
/// a complete copy of the file (a partial copy under the backup's name would be restored
/// by someone trusting it).
#[test]
fn an_interrupted_repair_leaves_the_file_and_no_partial_backup() -> TestResult {
    let (_dir, work, db) = compacted_registry()?;
    let before = std::fs::read(&db)?;
    let mut caught = 0;
    for (signal, number) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
        for _ in 0..10 {
            let Some(exit) = interrupt_repair(&db, &work, signal)? else {
                // Finished first: its backup is a whole copy; removed for the next try.
                for name in others(&work, "r.redb")? {
                    std::fs::remove_file(work.join(name))?;
                }
                continue;
            };
            caught += 1;
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&exit),
                Some(number),
                "SIG{signal}: {exit:?}"
            );
            assert!(
                std::fs::read(&db)? == before,
                "SIG{signal} changed the file"
            );
            for name in others(&work, "r.redb")? {
                assert!(
                    name.starts_with("r.redb.backup"),
                    "SIG{signal} left {name} beside the registry"
                );
                assert!(
                    std::fs::read(work.join(&name))? == before,
                    "SIG{signal} left a backup that is not a whole copy of the file"
                );
                std::fs::remove_file(work.join(name))?;
            }
        }
    }
    assert!(caught > 0, "no check --repair was caught in 30 tries");
    Ok(())
}
