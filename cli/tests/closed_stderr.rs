//! A reader of standard error that goes away (`-v … 2>&1 | head`) stops no command: log lines
//! that cannot be written are dropped, the command finishes its work, prints its report and
//! exits as it would have (never 101, an internal error, half of a `demo` written).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, TestResult, hermetic, s, temp};
use serde_json::Value;

/// `pipeline-deps --db <db> <args>` with standard error a pipe whose reading end is closed,
/// so that every write to it fails (EPIPE): its exit code and standard output.
fn with_stderr_closed(db: &Path, args: &[&str]) -> TestResult<(i32, String)> {
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    let mut command = Command::new(BIN);
    command.arg("--db").arg(db).args(args);
    hermetic(&mut command);
    let out = command
        .stdout(Stdio::piped())
        .stderr(Stdio::from(writer))
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout)?,
    ))
}

/// The contexts of `db` and their step counts, read by a plain run.
fn contexts(db: &Path) -> TestResult<Vec<(String, u64)>> {
    let run = common::run(db, &["contexts", "--json"])?.expect(0)?;
    // The last writer closed the file: no note about a copy recovered in memory.
    assert!(run.stderr.is_empty(), "{run:?}");
    let doc = run.json()?;
    Ok(doc["contexts"]
        .as_array()
        .ok_or("no contexts array")?
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["step_count"].as_u64().unwrap_or_default(),
            )
        })
        .collect())
}

#[test]
fn logging_into_a_closed_stderr_finishes_the_command_and_its_report() -> TestResult {
    let (dir, db) = temp()?;

    // -v logs each context created; demo goes on to build all three.
    let (code, out) = with_stderr_closed(&db, &["-v", "demo"])?;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("built the design's 3 example contexts"),
        "{out}"
    );
    assert_eq!(
        contexts(&db)?,
        [
            ("fraud_detection_training".to_owned(), 3),
            ("fraud_detection_inference".to_owned(), 2),
            ("unit_tests".to_owned(), 2),
        ]
    );

    // -vv logs every step an import writes, under --json as JSON lines.
    let export = dir.path().join("unit_tests.json");
    common::run(&db, &["export", "unit_tests", "-o", s(&export)?])?.expect(0)?;
    for (context, json) in [("copy", false), ("copy_json", true)] {
        let mut args = vec!["-vv", "import", context, s(&export)?];
        if json {
            args.push("--json");
        }
        let (code, out) = with_stderr_closed(&db, &args)?;
        assert_eq!(code, 0, "{out}");
        if json {
            let doc: Value = serde_json::from_str(&out)?;
            assert_eq!(doc["imported"], 2, "{out}");
        } else {
            assert!(out.starts_with("imported 2 step(s)"), "{out}");
        }
    }

    // -v logs a context cleared.
    let (code, out) = with_stderr_closed(&db, &["-v", "clear", "unit_tests"])?;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("cleared context 'unit_tests'"), "{out}");
    assert_eq!(
        contexts(&db)?,
        [
            ("fraud_detection_training".to_owned(), 3),
            ("fraud_detection_inference".to_owned(), 2),
            ("copy".to_owned(), 2),
            ("copy_json".to_owned(), 2),
        ]
    );

    // A failure still gets its exit code (its message has nowhere to go).
    let (code, _) = with_stderr_closed(&db, &["-v", "show", "nope"])?;
    assert_eq!(code, 4);
    Ok(())
}
