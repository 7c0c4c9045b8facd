//! Invariant: where the binary's output goes is respected. A closed standard output pipe is
//! not an error, yet a failed `check` still fails when its reader goes away; output files get
//! the umask's mode and an existing one keeps its own; an output file that is the database
//! itself is refused and the database left as it was.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

mod common;
use common::{BIN, FIXTURE, TestResult, run, run_command, s, temp};

/// this process.
fn spawn_piped(db: &Path, args: &[&str]) -> TestResult<Child> {
    Ok(Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("PIPELINE_DEPS_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}

#[test]
fn a_closed_stdout_pipe_is_not_an_error() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["import", "real", FIXTURE])?.expect(0)?;
    // The export (about 150 KB) is larger than a pipe's buffer: the binary is still
    // writing when the reader goes away. The completion scripts were written in many small
    // writes by a generator that panics when one fails.
    for args in [
        &["export", "real"][..],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
    ] {
        let mut child = spawn_piped(&db, args)?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first)?; // the reader is dropped here
        assert!(!first.is_empty(), "{args:?}");
        let output = child.wait_with_output()?;
        let stderr = String::from_utf8(output.stderr)?;
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    Ok(())
}

#[test]
fn a_failed_check_still_fails_when_its_reader_goes_away() -> TestResult {
    // `pipeline-deps check-snapshot … | head` in a CI gate: the broken pipe that ends the
    // report must not turn the failed check into success (found by an outside pass).
    let (dir, db) = temp()?;
    run(&db, &["import", "real", FIXTURE])?.expect(0)?;
    // Two of the real steps leave a required dependency unresolved.
    run(&db, &["resolve", "real", "--fail-on-unresolved"])?.expect(1)?;
    let snapshot = dir.path().join("edges.json");
    run(&db, &["snapshot", "real", "-o", s(&snapshot)?])?.expect(0)?;
    // The frozen wiring says another producer fed the first edge: the check fails.
    let mut frozen: Value = serde_json::from_str(&std::fs::read_to_string(&snapshot)?)?;
    frozen["edges"][0]["producer"] = Value::from("somebody_else");
    std::fs::write(&snapshot, serde_json::to_string_pretty(&frozen)?)?;
    run(&db, &["check-snapshot", "real", s(&snapshot)?])?.expect(1)?;
    for args in [
        &["resolve", "real", "--explain", "--fail-on-unresolved"][..],
        &["check-snapshot", "real", s(&snapshot)?],
        &["check-snapshot", "real", s(&snapshot)?, "--json"],
    ] {
        let mut child = spawn_piped(&db, args)?;
        // The reader is gone before the report's first write.
        drop(child.stdout.take());
        let output = child.wait_with_output()?;
        let stderr = String::from_utf8(output.stderr)?;
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    Ok(())
}

#[test]
fn output_files_get_the_umasks_mode_and_an_existing_one_keeps_its_own() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let mode = |path: &Path| -> TestResult<u32> {
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
    };
    // Under umask 022 (a shell sets it; Rust cannot), as a shared CI file should be.
    let with_umask = |args: &[&str]| -> TestResult<common::Run> {
        let mut command = Command::new("sh");
        command
            .args([
                "-c",
                "umask 022 && exec \"$0\" \"$@\"",
                BIN,
                "--db",
                s(&db)?,
            ])
            .args(args);
        run_command(command)
    };
    let export = dir.path().join("export.json");
    let snapshot = dir.path().join("edges.json");
    with_umask(&["export", "unit_tests", "-o", s(&export)?])?.expect(0)?;
    with_umask(&["snapshot", "unit_tests", "-o", s(&snapshot)?])?.expect(0)?;
    assert_eq!((mode(&export)?, mode(&snapshot)?), (0o644, 0o644));
    std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o600))?;
    with_umask(&["export", "unit_tests", "-o", s(&export)?])?.expect(0)?;
    assert_eq!(mode(&export)?, 0o600, "an existing file keeps its mode");
    Ok(())
}

#[cfg(unix)]
#[test]
fn an_output_file_that_is_the_database_itself_is_refused() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let link = dir.path().join("link.redb");
    std::os::unix::fs::symlink(&db, &link)?;
    let before = std::fs::read(&db)?;
    let dotted = dir.path().join(".").join("registry.redb");
    for output in [db.clone(), link, dotted] {
        for command in ["export", "snapshot"] {
            let out = run(&db, &[command, "unit_tests", "-o", s(&output)?])?.expect(4)?;
            assert!(
                out.stderr.contains("is the registry database itself"),
                "{command} -o {}: {}",
                output.display(),
                out.stderr
            );
            assert_eq!(
                std::fs::read(&db)?,
                before,
                "{command} changed the database"
            );
        }
    }
    run(&db, &["stats"])?.expect(0)?;
    Ok(())
}
