//! Issue 9's defects 1–6 and 10b, driven through the real binary: an import into a new
//! context is all or nothing, even under SIGKILL, and readers never see it empty; read
//! commands work at once after a writer was killed, say so in one line and leave the file
//! alone; damaged files never make a command exit 101, die by a signal or print panic text;
//! `check` never writes the file (also on a read-only medium) and `compact` never makes a
//! file less readable; a write that fails on a damaged file leaves it as it was; paths that
//! are not regular files are refused at once with exit 3.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline-deps");
/// Every run gets this long; a hang fails the test instead of blocking it.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Run {
    /// `None` when killed by a signal.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn command(db: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("PIPELINE_DEPS_DB")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the binary to the end within [`TIMEOUT`].
fn run(db: &Path, args: &[&str]) -> TestResult<Run> {
    let mut child = command(db, args).spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            child.kill()?;
            child.wait()?;
            return Err(format!("pipeline-deps {args:?} on {} hung", db.display()).into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Run {
        code: status.code(),
        stdout: out.join().map_err(|_| "reader thread")?,
        stderr: err.join().map_err(|_| "reader thread")?,
    })
}

fn expect(run: Run, code: i32) -> TestResult<Run> {
    if run.code == Some(code) {
        Ok(run)
    } else {
        Err(format!("expected exit code {code}, got {run:#?}").into())
    }
}

/// An import document of `n` steps named `prefix0..`.
fn document(prefix: &str, n: usize) -> String {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "step_name": format!("{prefix}{i}"),
                "step_type": format!("Type{}", i % 11),
                "node_type": "internal",
                "dependencies": {},
                "outputs": {"out": {
                    "logical_name": "out",
                    "output_type": "processing_output",
                    "property_path": "properties.Out"
                }}
            })
        })
        .collect();
    json!({ "steps": steps }).to_string()
}

fn write_doc(dir: &Path, name: &str, prefix: &str, n: usize) -> TestResult<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, document(prefix, n))?;
    Ok(path)
}

/// Context name → step count, from `contexts --json`.
fn counts(db: &Path) -> TestResult<Vec<(String, u64)>> {
    parse_counts(&expect(run(db, &["--json", "contexts"])?, 0)?)
}

fn parse_counts(run: &Run) -> TestResult<Vec<(String, u64)>> {
    let value: Value = serde_json::from_str(&run.stdout)?;
    let list = value
        .get("contexts")
        .and_then(Value::as_array)
        .or_else(|| value.as_array())
        .ok_or_else(|| format!("unexpected contexts JSON: {}", run.stdout))?;
    list.iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).ok_or("no name")?;
            let steps = c
                .get("step_count")
                .and_then(Value::as_u64)
                .ok_or("no count")?;
            Ok((name.to_owned(), steps))
        })
        .collect()
}

/// A database with context `base` (10 steps), closed cleanly.
fn base_db(dir: &Path) -> TestResult<PathBuf> {
    let db = dir.join("r.redb");
    let doc = write_doc(dir, "base.json", "base", 10)?;
    expect(
        run(&db, &["import", "base", &doc.display().to_string()])?,
        0,
    )?;
    Ok(db)
}

/// [`base_db`] plus context `other` (300 steps): the file the damage tests flip bits in.
fn two_context_db(dir: &Path) -> TestResult<PathBuf> {
    let db = base_db(dir)?;
    let other = write_doc(dir, "other.json", "o", 300)?;
    expect(
        run(&db, &["import", "other", &other.display().to_string()])?,
        0,
    )?;
    Ok(db)
}

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

/// Mounts a tmpfs of `size` at `dir` (root only); false when that is not possible here.
#[cfg(unix)]
fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
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
