//! Invariant: `copy` run again finishes an interrupted copy between database files: it skips
//! the contexts the target already holds with the same steps and refuses, before writing, a
//! context that holds other steps.

use std::path::Path;

mod common;
use common::{TestResult, run, s, temp};

#[test]
fn copy_run_again_finishes_what_is_missing_and_refuses_other_steps() -> TestResult {
    let (dir, from) = temp()?;
    let to = dir.path().join("target.redb");
    run(&from, &["demo"])?.expect(0)?;
    let exports = |db: &Path| -> TestResult<Vec<String>> {
        [
            "fraud_detection_training",
            "fraud_detection_inference",
            "unit_tests",
        ]
        .iter()
        .map(|c| Ok(run(db, &["export", c])?.expect(0)?.stdout))
        .collect()
    };
    let copy = |json: bool| -> TestResult<common::Run> {
        let mut args = vec!["copy", "--from", s(&from)?, "--to", s(&to)?];
        if json {
            args.push("--json");
        }
        run(&from, &args)
    };
    copy(false)?.expect(0)?;
    assert_eq!(exports(&to)?, exports(&from)?);

    // As if the first copy had stopped before its last context: the run again copies that
    // one only.
    run(&to, &["clear", "unit_tests"])?.expect(0)?;
    let again = copy(true)?.expect(0)?.json()?;
    assert_eq!(again["context_count"], 1, "{again}");
    assert_eq!(again["contexts"][0]["name"], "unit_tests");
    assert_eq!(
        again["skipped"].as_array().map(Vec::len),
        Some(2),
        "{again}"
    );
    assert_eq!(exports(&to)?, exports(&from)?);
    let human = copy(false)?.expect(0)?.stdout;
    assert!(human.contains("skipped context 'unit_tests'"), "{human}");
    assert!(human.contains("copied 0 context(s)"), "{human}");

    // Other steps in a target context: refused before anything is written.
    let extra = dir.path().join("extra.json");
    std::fs::write(
        &extra,
        r#"{"steps": [{"step_name": "extra", "step_type": "Extra", "node_type": "singular"}]}"#,
    )?;
    run(&to, &["import", "unit_tests", s(&extra)?])?.expect(0)?;
    run(&to, &["clear", "fraud_detection_inference"])?.expect(0)?;
    let before = run(&to, &["--json", "contexts"])?.expect(0)?.stdout;
    let refused = copy(false)?.expect(4)?;
    assert!(
        refused.stderr.contains("already hold other steps")
            && refused.stderr.contains("unit_tests"),
        "{}",
        refused.stderr
    );
    assert_eq!(run(&to, &["--json", "contexts"])?.expect(0)?.stdout, before);
    // Under --json the refused contexts are listed exactly.
    let refused = copy(true)?.expect(4)?;
    let error: serde_json::Value =
        serde_json::from_str(refused.stderr.lines().last().ok_or("no error")?)?;
    assert_eq!(
        error["contexts"],
        serde_json::json!(["unit_tests"]),
        "{error}"
    );
    assert_eq!(run(&to, &["--json", "contexts"])?.expect(0)?.stdout, before);

    // An empty context already there is skipped like any context with the same steps.
    let empty_doc = dir.path().join("empty.json");
    std::fs::write(&empty_doc, r#"{"steps": []}"#)?;
    let (other, source) = (dir.path().join("other.redb"), dir.path().join("empty.redb"));
    run(&source, &["import", "nothing", s(&empty_doc)?])?.expect(0)?;
    for round in 0..2 {
        let args = ["copy", "--from", s(&source)?, "--to", s(&other)?, "--json"];
        let report = run(&source, &args)?.expect(0)?.json()?;
        let (copied, skipped) = (report["context_count"].clone(), report["skipped"].clone());
        assert_eq!(copied, u64::from(round == 0), "round {round}: {report}");
        assert_eq!(skipped.as_array().map(Vec::len), Some(round), "{report}");
    }

    // A source that is not a registry: the hint's command checks the source.
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "not a registry")?;
    let refused = run(&from, &["copy", "--from", s(&foreign)?, "--to", s(&to)?])?.expect(3)?;
    let hint = refused
        .stderr
        .lines()
        .find(|l| l.starts_with("  hint: "))
        .ok_or("no hint")?;
    assert!(
        hint.contains(&format!("--db {} check", foreign.display())),
        "{hint}"
    );
    // A missing source is named as the source, and no target is created.
    let (nowhere, fresh) = (
        dir.path().join("nowhere.redb"),
        dir.path().join("fresh.redb"),
    );
    let missing = run(&from, &["copy", "--from", s(&nowhere)?, "--to", s(&fresh)?])?.expect(3)?;
    assert!(
        missing.stderr.contains("to copy from; check --from"),
        "{}",
        missing.stderr
    );
    assert!(!fresh.exists(), "a target was created for a missing source");
    // Under --json, the error's database is the source the failure is about.
    let json = run(
        &from,
        &["--json", "copy", "--from", s(&foreign)?, "--to", s(&to)?],
    )?
    .expect(3)?;
    let error: serde_json::Value = serde_json::from_str(json.stderr.trim())?;
    assert_eq!(error["database"], s(&foreign)?, "{error}");
    Ok(())
}
