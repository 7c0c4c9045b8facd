//! Invariant: the snapshot gate (`check-snapshot`) fails on a spec edit that re-wires a
//! pipeline (an output alias dropped) and passes again once the pipeline is re-snapshotted.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{SIX, TestResult, fixture_subset, run, s, temp};

/// Drops `alias` from `output` of `step` in an export of `context` and imports it back.
fn drop_alias(
    db: &Path,
    dir: &Path,
    context: &str,
    step: &str,
    output: &str,
    alias: &str,
) -> TestResult {
    let mut doc: Value = serde_json::from_str(&run(db, &["export", context])?.expect(0)?.stdout)?;
    let steps = doc["steps"].as_array_mut().ok_or("no steps")?;
    let entry = steps
        .iter_mut()
        .find(|e| e["step_name"] == step)
        .ok_or("no such step")?;
    let aliases = entry["outputs"][output]["aliases"]
        .as_array_mut()
        .ok_or("no aliases")?;
    let before = aliases.len();
    aliases.retain(|a| a != alias);
    assert_eq!(aliases.len(), before - 1, "{alias} was not an alias");
    let path = dir.join("edited.json");
    std::fs::write(&path, serde_json::to_string(&doc)?)?;
    run(db, &["import", context, s(&path)?, "--replace"])?.expect(0)?;
    Ok(())
}

#[test]
fn the_snapshot_gate_fails_on_a_dropped_alias_and_passes_after_resnapshotting() -> TestResult {
    let (dir, db) = temp()?;
    let six = fixture_subset(dir.path(), &SIX)?;
    run(&db, &["import", "six", s(&six)?])?.expect(0)?;
    let snap = dir.path().join("edges.json");
    let mut args = vec!["snapshot", "six"];
    args.extend(SIX);
    args.extend(["-o", s(&snap)?]);
    let wrote = run(&db, &args)?.expect(0)?;
    assert!(wrote.stdout.contains("13 edge(s)"), "{wrote:?}");
    let frozen: Value = serde_json::from_str(&std::fs::read_to_string(&snap)?)?;
    assert_eq!(frozen["schema"], "pipeline-deps-edges/v1");
    assert_eq!(frozen["edges"].as_array().map(Vec::len), Some(13));
    let bytes = std::fs::read(&snap)?;
    run(&db, &args)?.expect(0)?;
    assert_eq!(std::fs::read(&snap)?, bytes, "snapshots are deterministic");

    let ok = run(&db, &["check-snapshot", "six", s(&snap)?])?.expect(0)?;
    assert!(ok.stdout.contains("matches the snapshot"), "{ok:?}");

    // Payload.payload_sample answers Registration's GeneratedPayloadSamples through an alias.
    drop_alias(
        &db,
        dir.path(),
        "six",
        "Payload",
        "payload_sample",
        "GeneratedPayloadSamples",
    )?;
    let failed = run(&db, &["check-snapshot", "six", s(&snap)?])?.expect(1)?;
    let report = &failed.stdout;
    assert!(
        report.contains("FAILED: 1 edge change(s): 1 re-wired"),
        "{report}"
    );
    assert!(
        report.contains("re-wired  TabularPreprocessing.SIGNATURE"),
        "{report}"
    );
    assert!(
        report.contains("was ← Payload.payload_sample             (0.5234)"),
        "{report}"
    );
    assert!(
        report.contains("now ← XGBoostTraining.evaluation_output  (0.5231)"),
        "{report}"
    );
    assert!(
        report.contains("rescored  Registration.GeneratedPayloadSamples ← Payload.payload_sample  0.8100 → 0.5779"),
        "{report}"
    );
    assert!(report.contains("--explain"), "{report}");
    let diff = run(&db, &["check-snapshot", "six", s(&snap)?, "--json"])?
        .expect(1)?
        .json()?;
    assert_eq!(diff["ok"], false);
    assert_eq!(
        diff["diff"]["rewired"][0]["consumer"],
        "TabularPreprocessing"
    );
    assert_eq!(diff["diff"]["rewired"][0]["old_producer"], "Payload");
    assert_eq!(
        diff["diff"]["rewired"][0]["new_producer"],
        "XGBoostTraining"
    );

    run(&db, &args)?.expect(0)?;
    run(&db, &["check-snapshot", "six", s(&snap)?])?.expect(0)?;

    // A snapshot over every step (no STEP arguments) sees steps added later.
    let all = dir.path().join("all.json");
    run(&db, &["snapshot", "six", "-o", s(&all)?])?.expect(0)?;
    run(&db, &["check-snapshot", "six", s(&all)?])?.expect(0)?;
    let extra = fixture_subset(dir.path(), &["ModelCalibration"])?;
    run(&db, &["import", "six", s(&extra)?])?.expect(0)?;
    let grown = run(&db, &["check-snapshot", "six", s(&all)?, "--json"])?
        .expect(1)?
        .json()?;
    assert_eq!(grown["diff"]["steps_added"][0], "ModelCalibration");

    // Files that are not snapshots are invalid input.
    run(&db, &["check-snapshot", "six", s(&six)?])?.expect(4)?;
    Ok(())
}
