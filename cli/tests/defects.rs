//! Issue 9's defects 1, 2 and 5, driven through the real binary: an import into a new
//! context is all or nothing, even under SIGKILL, and readers never see it empty; read
//! commands work at once after a writer was killed, say so in one line and leave the file
//! alone; paths that are not regular files are refused at once with exit 3. Defects 3, 4, 6
//! and 10b (damaged files) are in `defects_damaged.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod defects_common;
use defects_common::{
    TIMEOUT, TestResult, base_db, command, counts, document, expect, mount_tmpfs, parse_counts,
    run, write_doc,
};

// ---------------------------------------------------------------------------------------
// Defect 1

#[test]
fn a_failed_import_into_a_new_context_leaves_no_context() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = base_db(dir.path())?;
    let mut bad: Value = serde_json::from_str(&document("x", 50))?;
    bad["steps"][30]["step_type"] = json!("  ");
    let bad_path = dir.path().join("bad.json");
    std::fs::write(&bad_path, bad.to_string())?;
    expect(
        run(&db, &["import", "fresh", &bad_path.display().to_string()])?,
        4,
    )?;
    let mut repeated: Value = serde_json::from_str(&document("y", 5))?;
    if let Some(steps) = repeated["steps"].as_array_mut() {
        let again = steps[1].clone();
        steps.push(again);
    }
    let repeated_path = dir.path().join("repeated.json");
    std::fs::write(&repeated_path, repeated.to_string())?;
    expect(
        run(
            &db,
            &["import", "fresh", &repeated_path.display().to_string()],
        )?,
        4,
    )?;
    assert_eq!(counts(&db)?, vec![("base".to_owned(), 10)]);
    Ok(())
}

/// A full disk during an import into a new context: the import fails (exit 3) and leaves
/// no empty context (before the fix the context was committed first, and the clean-up
/// failed on the full disk too). Needs a small tmpfs, so root; skipped (and said) if not.
#[cfg(unix)]
#[test]
fn a_full_disk_during_an_import_into_a_new_context_leaves_no_context() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount)?;
    if !mount_tmpfs(&mount, "1m") {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (not root?)");
        return Ok(());
    }
    let result = (|| -> TestResult {
        let db = mount.join("r.redb");
        let base = write_doc(dir.path(), "base.json", "base", 10)?;
        expect(
            run(&db, &["import", "base", &base.display().to_string()])?,
            0,
        )?;
        let big = write_doc(dir.path(), "big.json", "big", 30_000)?;
        let failed = expect(
            run(&db, &["import", "fresh", &big.display().to_string()])?,
            3,
        )?;
        assert!(failed.stderr.contains("No space left"), "{failed:#?}");
        assert_eq!(counts(&db)?, vec![("base".to_owned(), 10)]);
        Ok(())
    })();
    let _ = Command::new("umount").arg(&mount).status();
    result
}

#[test]
fn sigkill_during_a_large_import_into_a_new_context_leaves_nothing_or_everything() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = base_db(dir.path())?;
    let doc = write_doc(dir.path(), "big.json", "big", 20_000)?;
    let doc = doc.display().to_string();
    // How long a whole import takes here, so that the kills spread over parsing, the write
    // and the commit (the last ones land after it).
    let started = Instant::now();
    expect(run(&db, &["import", "timing", &doc])?, 0)?;
    let whole = started.elapsed();
    let (mut nothing, mut everything) = (0, 0);
    for round in 0..6u32 {
        let context = format!("new{round}");
        let mut child = command(&db, &["import", &context, &doc]).spawn()?;
        std::thread::sleep(whole * (round + 2) / 6);
        child.kill()?;
        child.wait()?;
        let now = counts(&db)?;
        match now.iter().find(|(name, _)| *name == context) {
            None => nothing += 1,
            Some((_, 20_000)) => everything += 1,
            Some((_, n)) => {
                return Err(format!("round {round}: context {context} has {n} steps").into());
            }
        }
    }
    eprintln!(
        "FIGURE import kills: {nothing} left nothing, {everything} left everything, 0 partial"
    );
    Ok(())
}

#[test]
fn a_reader_never_sees_a_new_context_empty_while_it_is_imported() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = base_db(dir.path())?;
    let doc = write_doc(dir.path(), "big.json", "big", 20_000)?;
    let mut importer: Child = command(&db, &["import", "big", &doc.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut looks = 0;
    loop {
        let finished = importer.try_wait()?.is_some();
        let run = run(&db, &["--json", "contexts"])?;
        if run.code == Some(0) {
            for (name, steps) in parse_counts(&run)? {
                if name == "big" && steps != 20_000 {
                    return Err(format!("a reader saw context big with {steps} steps").into());
                }
            }
            looks += 1;
        }
        if finished {
            break;
        }
    }
    assert!(looks > 0);
    assert!(counts(&db)?.contains(&("big".to_owned(), 20_000)));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Defect 2

/// Kills an import into `db` once it has opened the file for writing (its header changes
/// then), while it writes: the file then needs recovery.
fn kill_a_writer(db: &Path, doc: &str) -> TestResult<()> {
    for extra in [50u64, 0, 200, 400] {
        let modified = std::fs::metadata(db)?.modified()?;
        let mut child = command(db, &["import", "killed", doc]).spawn()?;
        let started = Instant::now();
        while std::fs::metadata(db)?.modified()? == modified
            && started.elapsed() < TIMEOUT
            && child.try_wait()?.is_none()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(extra));
        child.kill()?;
        child.wait()?;
        let probe = run(db, &["contexts"])?;
        if probe.stderr.contains("recovered in memory") {
            return Ok(());
        }
        // It finished before the kill: try again with a fresh context.
        if counts(db)?.iter().any(|(n, _)| n == "killed") {
            expect(run(db, &["clear", "killed"])?, 0)?;
        }
    }
    Err("no kill left the file needing recovery".into())
}

#[test]
fn read_commands_work_at_once_after_a_writer_was_killed_and_leave_the_file_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = base_db(dir.path())?;
    let doc = write_doc(dir.path(), "big.json", "big", 30_000)?;
    kill_a_writer(&db, &doc.display().to_string())?;
    let bytes = std::fs::read(&db)?;
    for args in [
        vec!["stats"],
        vec!["contexts"],
        vec!["export", "base"],
        vec!["show", "base"],
        vec!["types", "base"],
        vec!["check"],
    ] {
        let run = expect(run(&db, &args)?, 0)?;
        let notes = run
            .stderr
            .lines()
            .filter(|l| l.contains("recovered in memory"))
            .count();
        assert_eq!(notes, 1, "{args:?}: {run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:#?}");
    }
    assert!(
        std::fs::read(&db)? == bytes,
        "a read command wrote the file"
    );
    // The next writer recovers the file for real.
    expect(run(&db, &["clear", "base"])?, 0)?;
    let after = expect(run(&db, &["stats"])?, 0)?;
    assert!(after.stderr.is_empty(), "{after:#?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Defect 5

#[cfg(unix)]
#[test]
fn paths_that_are_not_regular_files_are_refused_at_once_with_exit_3() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status()?.success());
    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket)?;
    let doc = write_doc(dir.path(), "doc.json", "s", 3)?;
    let doc = doc.display().to_string();
    for target in [
        fifo,
        socket,
        dir.path().to_path_buf(),
        PathBuf::from("/dev/null"),
    ] {
        for args in [
            vec!["stats"],
            vec!["contexts"],
            vec!["export", "c"],
            vec!["show", "c"],
            vec!["check"],
            vec!["compact"],
            vec!["import", "c", &doc],
            vec!["clear", "c"],
        ] {
            let run = run(&target, &args)?;
            // The advice fits the failure: where --db should point, not a full disk.
            if run.code != Some(3)
                || !run.stderr.contains("not a regular file")
                || !run
                    .stderr
                    .contains("hint: point --db at a registry database file")
                || run.stderr.contains("disk")
            {
                return Err(format!("{} {args:?}: {run:#?}", target.display()).into());
            }
        }
    }
    Ok(())
}

/// `copy` names the option that gave the path that is not a registry file: `--to`, `--from`,
/// or `--db` for a source it gave.
#[test]
fn a_copy_to_or_from_a_directory_names_the_option_that_gave_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("registry.redb");
    run(&db, &["demo"])?;
    let directory = dir.path().display().to_string();
    let file = dir.path().join("copy.redb").display().to_string();
    for (db, args, option) in [
        (&db, vec!["copy", "--to", &directory], "--to"),
        (
            &db,
            vec!["copy", "--from", &directory, "--to", &file],
            "--from",
        ),
        (
            &dir.path().to_path_buf(),
            vec!["copy", "--to", &file],
            "--db",
        ),
    ] {
        let run = run(db, &args)?;
        let hint = format!("hint: point {option} at a registry database file");
        if run.code != Some(3) || !run.stderr.contains(&hint) {
            return Err(format!("{args:?}: {run:#?}").into());
        }
    }
    Ok(())
}
