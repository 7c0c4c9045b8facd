//! Invariant: standard error carries only the command's messages (under `--json`, one JSON
//! object a line), so an `export -o` or `snapshot -o` naming standard error
//! (`-o /dev/stderr`, or the file or pipe standard error was redirected to) is a usage
//! error (exit 2) that opens and writes nothing, rather than a document mixed with those
//! messages or replacing the file they went to; standard error that is standard output
//! too (`2>&1`) is standard output, which gets the document alone.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

mod common;
use common::{TestResult, command, output, run, s, temp};

/// `export unit_tests` and `snapshot unit_tests`, each with `-o output`.
fn writers(output: &str) -> [Vec<&str>; 2] {
    [
        vec!["export", "unit_tests", "-o", output],
        vec!["snapshot", "unit_tests", "-o", output],
    ]
}

/// A refusal on standard error: the usage error naming standard error, JSON or text.
fn assert_refused(stderr: &str, json: bool, args: &[&str]) -> TestResult {
    if json {
        let error: Value = serde_json::from_str(stderr.trim())
            .map_err(|e| format!("{args:?}: stderr is not one JSON object ({e}): {stderr}"))?;
        assert_eq!(error["kind"], "usage", "{args:?}: {error}");
        assert_eq!(error["exit_code"], 2, "{args:?}: {error}");
        let message = error["message"].as_str().ok_or("no message")?;
        assert!(message.contains("is standard error"), "{args:?}: {message}");
    } else {
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("is standard error"), "{args:?}: {stderr}");
    }
    Ok(())
}

#[test]
fn an_output_that_is_standard_error_is_a_usage_error_that_writes_nothing() -> TestResult {
    if !Path::new("/dev/stderr").exists() {
        eprintln!("skipped: no /dev/stderr on this system");
        return Ok(());
    }
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let before = std::fs::read(&db)?;
    for json in [false, true] {
        for mut args in writers("/dev/stderr") {
            if json {
                args.push("--json");
            }
            // Standard error a pipe.
            let out = run(&db, &args)?.expect(2)?;
            assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
            assert_refused(&out.stderr, json, &args)?;

            // Standard error redirected to a file, named as /dev/stderr or by its own path:
            // the file keeps the error, not a document in its place.
            let file = dir.path().join("stderr.txt");
            let named = s(&file)?.to_owned();
            for given in ["/dev/stderr", named.as_str()] {
                let args: Vec<&str> = args
                    .iter()
                    .map(|&a| if a == "/dev/stderr" { given } else { a })
                    .collect();
                let mut c = command(&db);
                c.args(&args)
                    .stderr(Stdio::from(std::fs::File::create(&file)?));
                let out = output(c)?.expect(2)?;
                assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
                assert_refused(&std::fs::read_to_string(&file)?, json, &args)?;
            }
        }
    }
    assert_eq!(std::fs::read(&db)?, before, "the database changed");
    // Refused before the database is opened: one that does not exist is not reported.
    let missing = dir.path().join("missing.redb");
    for args in writers("/dev/stderr") {
        let out = run(&missing, &args)?.expect(2)?;
        assert_refused(&out.stderr, false, &args)?;
    }
    assert!(!missing.exists(), "the refusal created the database");
    Ok(())
}

#[test]
fn standard_error_that_is_standard_output_too_gets_the_document_alone() -> TestResult {
    if !Path::new("/dev/stderr").exists() {
        eprintln!("skipped: no /dev/stderr on this system");
        return Ok(());
    }
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    // `>both.txt 2>&1`: one file for both streams.
    let both = dir.path().join("both.txt");
    let file = std::fs::File::create(&both)?;
    let mut c = command(&db);
    c.args(["--json", "export", "unit_tests", "-o", "/dev/stderr"])
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file));
    output(c)?.expect(0)?;
    let text = std::fs::read_to_string(&both)?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("not the document alone ({e}): {text}"))?;
    assert_eq!(doc["schema"], "pipeline-deps-export/v1", "{doc}");
    assert_eq!(doc["steps"].as_array().map(Vec::len), Some(2), "{doc}");
    Ok(())
}
