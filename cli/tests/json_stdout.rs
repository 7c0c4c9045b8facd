//! Invariant: under `--json` standard output holds one JSON document or nothing: asking for
//! help (text for people, with no JSON form) is a JSON usage error with nothing on
//! standard output, and an output file that is standard output itself (`-o /dev/stdout`,
//! or the file standard output was redirected to) gets the exported document alone, not
//! followed by the command's report, with or without `--json`.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

mod common;
use common::{FIXTURE, TestResult, command, output, run, s, temp};

#[test]
fn help_under_json_is_a_json_usage_error_and_nothing_on_stdout() -> TestResult {
    let (_dir, db) = temp()?;
    for args in [
        &["--json", "help"][..],
        &["--json", "--help"],
        &["--json", "-h"],
        &["--json", "help", "export"],
        &["--json", "export", "--help"],
        &["contexts", "--help", "--json"],
    ] {
        let out = run(&db, args)?.expect(2)?;
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        let error: Value = serde_json::from_str(out.stderr.trim()).map_err(|e| {
            format!(
                "{args:?}: stderr is not one JSON line ({e}): {}",
                out.stderr
            )
        })?;
        assert_eq!(error["schema"], "pipeline-deps/error/v1", "{error}");
        assert_eq!(error["kind"], "usage", "{error}");
        assert_eq!(error["exit_code"], 2, "{error}");
        let message = error["message"].as_str().ok_or("no message")?;
        assert!(message.contains("without --json"), "{message}");
    }
    // Without --json, help is the text it always was.
    for args in [&["help"][..], &["--help"], &["export", "--help"]] {
        let out = run(&db, args)?.expect(0)?;
        assert!(out.stdout.contains("Usage: pipeline-deps"), "{args:?}");
    }
    assert!(!db.exists(), "help touched the database");
    Ok(())
}

/// A database holding context `ml` (three steps of the real fixture).
fn database(dir: &Path) -> TestResult<std::path::PathBuf> {
    let db = dir.join("reg.redb");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE)?)?;
    let steps: Vec<Value> = doc["steps"]
        .as_array()
        .ok_or("no steps")?
        .iter()
        .take(3)
        .cloned()
        .collect();
    let input = dir.join("three.json");
    std::fs::write(&input, serde_json::json!({ "steps": steps }).to_string())?;
    run(&db, &["import", "ml", s(&input)?])?.expect(0)?;
    Ok(db)
}

#[test]
fn an_output_that_is_standard_output_gets_the_document_alone() -> TestResult {
    if !Path::new("/dev/stdout").exists() {
        eprintln!("skipped: no /dev/stdout on this system");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let db = database(dir.path())?;
    let cases: [(&[&str], &str); 4] = [
        (
            &["--json", "export", "ml", "-o", "/dev/stdout"],
            "pipeline-deps-export/v1",
        ),
        (
            &["export", "ml", "-o", "/dev/stdout"],
            "pipeline-deps-export/v1",
        ),
        (
            &["--json", "snapshot", "ml", "-o", "/dev/stdout"],
            "snapshot",
        ),
        (&["snapshot", "ml", "-o", "/dev/stdout"], "snapshot"),
    ];
    for (args, kind) in cases {
        // Standard output a pipe.
        let out = run(&db, args)?.expect(0)?;
        let doc = out.json().map_err(|e| format!("{args:?}: {e}"))?;
        check_document(&doc, kind, args)?;
        // Standard output redirected to a file: the file holds the document once.
        let file = dir.path().join("stdout.txt");
        let mut c = command(&db);
        c.args(args)
            .stdout(Stdio::from(std::fs::File::create(&file)?));
        output(c)?.expect(0)?;
        let text = std::fs::read_to_string(&file)?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| {
            format!("{args:?}: the redirected file is not one document ({e}): {text}")
        })?;
        check_document(&doc, kind, args)?;
    }
    // Standard output named by its redirection's own path is standard output too.
    let file = dir.path().join("named.txt");
    let mut c = command(&db);
    c.args(["--json", "export", "ml", "-o", s(&file)?])
        .stdout(Stdio::from(std::fs::File::create(&file)?));
    output(c)?.expect(0)?;
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    check_document(&doc, "pipeline-deps-export/v1", &["-o", "named.txt"])?;
    // Any other file still gets the export and standard output the report.
    let other = dir.path().join("other.json");
    let out = run(&db, &["--json", "export", "ml", "-o", s(&other)?])?.expect(0)?;
    assert_eq!(out.json()?["schema"], "pipeline-deps/export/v1");
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&other)?)?;
    check_document(&exported, "pipeline-deps-export/v1", &["-o", "other.json"])?;
    Ok(())
}

fn check_document(doc: &Value, kind: &str, args: &[&str]) -> TestResult {
    let right = if kind == "snapshot" {
        doc["edges"].is_array()
    } else {
        doc["schema"] == kind && doc["steps"].as_array().map(Vec::len) == Some(3)
    };
    if right {
        Ok(())
    } else {
        Err(format!("{args:?}: not the {kind} document: {doc}").into())
    }
}
