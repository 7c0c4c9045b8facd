//! Invariant: under `--json` everything on standard error is JSON a script can read: a
//! `--json` flag given a value still gets a JSON usage error, `--version --json` is a JSON
//! document (a line otherwise), errors name the file and context involved, and every line on
//! standard error (logs, notes, errors) is a JSON object.

use std::process::{Command, Stdio};

use serde_json::Value;

mod common;
use common::{BIN, SIX, TestResult, run, s, subset, temp};

#[test]
fn a_json_flag_given_a_value_still_gets_a_json_usage_error() -> TestResult {
    let (_dir, db) = temp()?;
    let out = run(&db, &["stats", "--json=true"])?.expect(2)?;
    let error: Value = serde_json::from_str(out.stderr.trim())?;
    assert_eq!(error["kind"], "usage", "{error}");
    assert_eq!(error["exit_code"], 2, "{error}");
    Ok(())
}

#[test]
fn version_is_a_json_document_under_json_and_a_line_otherwise() -> TestResult {
    let (_dir, db) = temp()?;
    for args in [["--version", "--json"], ["--json", "-V"]] {
        let out = run(&db, &args)?.expect(0)?;
        let doc: Value = serde_json::from_str(&out.stdout)?;
        assert_eq!(doc["schema"], "pipeline-deps/version/v1", "{args:?}");
        assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            doc["storage_schema_version"],
            pipeline_deps::storage::SCHEMA_VERSION
        );
        assert_eq!(doc["postgres"], cfg!(feature = "postgres"));
        assert!(out.stderr.is_empty(), "{}", out.stderr);
    }
    let plain = run(&db, &["--version"])?.expect(0)?;
    assert_eq!(
        plain.stdout.trim(),
        format!("pipeline-deps {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(!db.exists(), "--version touched the database");
    Ok(())
}

#[test]
fn json_errors_name_the_file_and_context_involved() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let missing = dir.path().join("missing.json");
    let read = run(&db, &["import", "c", s(&missing)?, "--json"])?.expect(3)?;
    let error: Value = serde_json::from_str(read.stderr.trim())?;
    assert_eq!(error["kind"], "io", "{read:?}");
    assert_eq!(error["file"], s(&missing)?, "{read:?}");
    let unknown = run(&db, &["show", "nope", "--json"])?.expect(4)?;
    let error: Value = serde_json::from_str(unknown.stderr.trim())?;
    assert_eq!(error["context"], "nope", "{unknown:?}");
    // Steps of an import that are taken: the context, the first taken step and the file.
    let six = subset(dir.path(), &SIX[..2], str::to_owned)?;
    run(&db, &["import", "twice", s(&six)?])?.expect(0)?;
    let again = run(&db, &["import", "twice", s(&six)?, "--json"])?.expect(4)?;
    let error: Value = serde_json::from_str(again.stderr.trim())?;
    assert_eq!(error["kind"], "already_registered", "{again:?}");
    assert_eq!(error["context"], "twice", "{again:?}");
    assert_eq!(error["step"], SIX[0], "{again:?}");
    assert_eq!(error["file"], s(&six.canonicalize()?)?, "{again:?}");
    // Malformed input names its file; an I/O error of the database names the database.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"steps\": [")?;
    let parse = run(&db, &["import", "c", s(&broken)?, "--json"])?.expect(4)?;
    let error: Value = serde_json::from_str(parse.stderr.trim())?;
    assert_eq!(error["file"], s(&broken.canonicalize()?)?, "{parse:?}");
    assert_eq!(error["context"], "c", "the import's context: {parse:?}");
    // A failure that names no context gets the one the command works on (here an output
    // file that cannot be created, while exporting a context).
    let nowhere = dir.path().join("no such dir").join("out.json");
    let export = run(&db, &["export", "unit_tests", "-o", s(&nowhere)?, "--json"])?.expect(3)?;
    let error: Value = serde_json::from_str(export.stderr.trim())?;
    assert_eq!(error["kind"], "io", "{export:?}");
    assert_eq!(error["context"], "unit_tests", "{export:?}");
    // A command without a context leaves it null.
    let stats = run(dir.path(), &["stats", "--json"])?.expect(3)?;
    let error: Value = serde_json::from_str(stats.stderr.trim())?;
    assert_eq!(error["context"], Value::Null, "{stats:?}");
    // Invalid specs name the document they came from; standard input is `-`.
    let invalid = dir.path().join("invalid.json");
    std::fs::write(
        &invalid,
        r#"{"steps": [{"step_name": "x", "step_type": "", "node_type": "source"}]}"#,
    )?;
    let refused = run(&db, &["import", "c", s(&invalid)?, "--json"])?.expect(4)?;
    let error: Value = serde_json::from_str(refused.stderr.trim())?;
    assert_eq!(error["kind"], "invalid_spec", "{refused:?}");
    assert_eq!(error["file"], s(&invalid.canonicalize()?)?, "{refused:?}");
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["import", "c", "-", "--json"])
        .env_remove("PIPELINE_DEPS_DB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(b"{\"steps\": [")?;
    }
    let piped = child.wait_with_output()?;
    assert_eq!(piped.status.code(), Some(4));
    let error: Value = serde_json::from_str(String::from_utf8(piped.stderr)?.trim())?;
    assert_eq!(error["file"], "-", "{error}");
    let not_a_file = run(dir.path(), &["stats", "--json"])?.expect(3)?;
    let error: Value = serde_json::from_str(not_a_file.stderr.trim())?;
    assert_eq!(error["kind"], "io", "{not_a_file:?}");
    assert_eq!(
        error["file"],
        s(&dir.path().canonicalize()?)?,
        "{not_a_file:?}"
    );
    Ok(())
}

/// Each line of `stderr` parsed as JSON; an error names the line that is not.
fn json_lines(stderr: &str) -> TestResult<Vec<Value>> {
    stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).map_err(|e| format!("not a JSON line: {line:?}: {e}").into())
        })
        .collect()
}

#[test]
fn under_json_every_stderr_line_is_a_json_object() -> TestResult {
    let (dir, db) = temp()?;
    let six = subset(dir.path(), &SIX[..2], str::to_owned)?;

    // Logs: one object per event, with its level and fields.
    let logged = run(&db, &["-vv", "--json", "import", "a", s(&six)?])?.expect(0)?;
    serde_json::from_str::<Value>(&logged.stdout)?;
    let events = json_lines(&logged.stderr)?;
    assert!(
        events.iter().any(|e| e["level"] == "INFO"
            && e["message"] == "created context"
            && e["context"] == "a"),
        "{logged:?}"
    );
    assert!(events.iter().any(|e| e["level"] == "DEBUG"), "{logged:?}");

    // The note about a file its last writer did not close (read from a copy recovered in
    // memory): a `pipeline-deps/note/v1` document, and the command's output as usual.
    let unclosed = dir.path().join("unclosed.redb");
    {
        let writer = pipeline_deps::RegistryManager::open(&db)?;
        writer.get_registry("b")?.register(
            "s",
            &pipeline_deps::StepSpecification::new("T", pipeline_deps::NodeType::Singular),
        )?;
        // The image as a crash would leave it: committed, never closed.
        std::fs::copy(&db, &unclosed)?;
    }
    // Reached through a symbolic link: shown by its canonical path all the same.
    let link = dir.path().join("link.redb");
    std::os::unix::fs::symlink(&unclosed, &link)?;
    for args in [
        vec!["contexts"],
        vec!["stats"],
        vec!["show", "b"],
        vec!["check"],
    ] {
        let mut with_json = args.clone();
        with_json.push("--json");
        let shown = run(&link, &with_json)?.expect(0)?;
        serde_json::from_str::<Value>(&shown.stdout)?;
        let notes = json_lines(&shown.stderr)?;
        assert_eq!(notes.len(), 1, "{args:?}: {shown:?}");
        assert_eq!(notes[0]["schema"], "pipeline-deps/note/v1", "{shown:?}");
        assert_eq!(notes[0]["kind"], "recovered_copy", "{shown:?}");
        assert_eq!(
            notes[0]["database"].as_str(),
            unclosed.canonicalize()?.to_str(),
            "{shown:?}"
        );
        // The message names the file as every output does: canonical.
        let canonical = s(&unclosed.canonicalize()?)?.to_owned();
        assert!(
            notes[0]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&canonical)),
            "{shown:?}"
        );
        // Without --json: the same note, as a line of text.
        let text = run(&unclosed, &args)?.expect(0)?;
        assert!(
            text.stderr.starts_with("pipeline-deps: note: ") && text.stderr.lines().count() == 1,
            "{args:?}: {text:?}"
        );
    }

    // An error after a note: still one object per line.
    let failed = run(&unclosed, &["show", "nope", "--json"])?.expect(4)?;
    let lines = json_lines(&failed.stderr)?;
    let schemas: Vec<&Value> = lines.iter().map(|l| &l["schema"]).collect();
    assert_eq!(
        schemas,
        ["pipeline-deps/note/v1", "pipeline-deps/error/v1"],
        "{failed:?}"
    );
    Ok(())
}
