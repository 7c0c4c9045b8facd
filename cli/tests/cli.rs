//! The `pipeline-deps` binary, run as a real process against temporary databases.
//!
//! Invariant: every command does what `--help` says and exits with the documented code
//! (0 ok, 1 check failed, 2 usage, 3 database or file error, 4 invalid input); `--json`
//! output is valid JSON with the documented fields; read commands never change the file and
//! work while another process owns it in single-writer mode; a failed import changes
//! nothing; the snapshot gate fails on a spec edit that re-wires a pipeline and passes
//! again once re-snapshotted; a closed stdout pipe is not an error; `copy` run again
//! finishes an interrupted copy, skipping the contexts already there with the same steps
//! and refusing, before writing, a context that holds other steps; an output file that is
//! the database itself is refused and the database left as it was.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

mod common;
use common::{BIN, FIXTURE, Holder, SIX, TestResult, run, run_command, s, temp};

/// Writes a fixture-format file holding only the given steps of the real fixture.
fn fixture_subset(dir: &Path, steps: &[&str]) -> TestResult<PathBuf> {
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE)?)?;
    let all = doc["steps"]
        .as_array()
        .ok_or("fixture has no steps")?
        .clone();
    let kept: Vec<Value> = steps
        .iter()
        .map(|name| {
            all.iter()
                .find(|s| s["step_name"] == *name)
                .cloned()
                .ok_or_else(|| format!("fixture lacks {name}"))
        })
        .collect::<Result<_, _>>()?;
    doc["steps"] = Value::Array(kept);
    let path = dir.join("subset.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
    Ok(path)
}

fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= 100,
            "line wider than 100 columns: {line:?}"
        );
    }
}

#[test]
fn help_documents_every_command_and_the_exit_codes() -> TestResult {
    let mut command = Command::new(BIN);
    command.arg("--help");
    let help = run_command(command)?.expect(0)?.stdout;
    for word in [
        "contexts",
        "stats",
        "show",
        "types",
        "export",
        "import",
        "resolve",
        "snapshot",
        "check-snapshot",
        "clear",
        "clear-all",
        "check",
        "compact",
        "demo",
        "EXIT CODES",
        "PIPELINE_DEPS_DB",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let mut command = Command::new(BIN);
    command.arg("bogus");
    let bad = run_command(command)?.expect(2)?;
    assert!(bad.stderr.contains("unrecognized subcommand"), "{bad:?}");
    Ok(())
}

#[test]
fn demo_then_every_read_command_in_both_output_modes() -> TestResult {
    let (_dir, db) = temp()?;
    let demo = run(&db, &["demo"])?.expect(0)?;
    assert!(
        demo.stdout
            .contains("fraud_detection_training: 3 steps, 3 types"),
        "{demo:?}"
    );
    assert_fits(&demo.stdout);

    let contexts = run(&db, &["contexts", "--json"])?.expect(0)?.json()?;
    let names = context_names(&contexts)?;
    assert_eq!(
        names,
        [
            "fraud_detection_training",
            "fraud_detection_inference",
            "unit_tests"
        ]
    );
    assert_eq!(contexts["contexts"][0]["step_count"], 3);
    assert_eq!(contexts["contexts"][1]["step_type_count"], 2);
    let table = run(&db, &["contexts"])?.expect(0)?.stdout;
    assert!(table.starts_with("CONTEXT"), "{table}");
    assert!(table.contains("unit_tests"), "{table}");

    // --db and --json are global: accepted after the command too.
    let mut command = Command::new(BIN);
    command.args(["stats", "--json", "--db"]).arg(&db);
    let stats = run_command(command)?.expect(0)?.json()?;
    assert_eq!(stats["totals"]["contexts"], 3);
    assert_eq!(stats["totals"]["steps"], 7);
    assert_eq!(stats["contexts"][2]["name"], "unit_tests");
    assert_eq!(stats["contexts"][2]["step_count"], 2);
    assert_eq!(
        stats["contexts"][2]["registry_type"],
        "SpecificationRegistry"
    );
    assert!(stats["file_size_bytes"].as_u64().ok_or("no size")? > 0);
    // ... and the database can come from PIPELINE_DEPS_DB.
    let out = Command::new(BIN)
        .arg("stats")
        .env("PIPELINE_DEPS_DB", &db)
        .stdin(Stdio::null())
        .output()?;
    assert_eq!(out.status.code(), Some(0));
    let human = String::from_utf8(out.stdout)?;
    assert!(human.contains("fraud_detection_inference"), "{human}");
    assert_fits(&human);

    let show = run(&db, &["show", "fraud_detection_training"])?
        .expect(0)?
        .stdout;
    assert!(
        show.contains("data_loading") && show.contains("CradleDataLoading"),
        "{show}"
    );
    assert_fits(&show);
    let show = run(&db, &["show", "fraud_detection_training", "--json"])?
        .expect(0)?
        .json()?;
    let steps = show["steps"].as_array().ok_or("no steps")?;
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["step_name"], "data_loading");

    let one = run(
        &db,
        &[
            "show",
            "fraud_detection_training",
            "model_training",
            "--json",
        ],
    )?
    .expect(0)?
    .json()?;
    assert_eq!(one["step_name"], "model_training");
    assert_eq!(one["step_type"], "XGBoostTraining");
    assert!(
        one["dependencies"]
            .as_object()
            .is_some_and(|d| !d.is_empty())
    );
    assert!(one["outputs"].as_object().is_some_and(|o| !o.is_empty()));
    let full = run(&db, &["show", "fraud_detection_training", "model_training"])?
        .expect(0)?
        .stdout;
    assert!(
        full.contains("property path") && full.contains("dependencies ("),
        "{full}"
    );
    assert_fits(&full);

    let types = run(&db, &["types", "fraud_detection_training", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(types["types"].as_array().map(Vec::len), Some(3));
    let step_type = types["types"][0]["step_type"]
        .as_str()
        .ok_or("no type")?
        .to_owned();
    let only = run(
        &db,
        &["types", "fraud_detection_training", &step_type, "--json"],
    )?
    .expect(0)?
    .json()?;
    assert_eq!(only["types"][0]["steps"][0], "data_loading");
    assert_fits(
        &run(&db, &["types", "fraud_detection_training"])?
            .expect(0)?
            .stdout,
    );

    // Unknown names are invalid input (4), and say what exists.
    let missing = run(&db, &["show", "nope"])?.expect(4)?;
    assert!(missing.stderr.contains("unit_tests"), "{missing:?}");
    run(&db, &["show", "unit_tests", "nope"])?.expect(4)?;
    run(&db, &["types", "unit_tests", "NoSuchType"])?.expect(4)?;
    Ok(())
}

#[test]
fn read_commands_need_an_existing_file_and_never_create_one() -> TestResult {
    let (_dir, db) = temp()?;
    for args in [
        vec!["contexts"],
        vec!["stats"],
        vec!["show", "x"],
        vec!["export", "x"],
        vec!["resolve", "x"],
        vec!["clear", "x"],
        vec!["check"],
        vec!["compact"],
    ] {
        let failed = run(&db, &args)?.expect(3)?;
        assert!(failed.stderr.contains("no registry database"), "{failed:?}");
    }
    assert!(!db.exists());
    // A file that is not a registry is a database error for reads, a failed check for check.
    std::fs::write(&db, b"definitely not a redb file, just some bytes of text")?;
    run(&db, &["stats"])?.expect(3)?;
    let check = run(&db, &["check"])?.expect(1)?;
    assert!(check.stdout.contains("FAILED"), "{check:?}");
    Ok(())
}

#[test]
fn import_and_export_round_trip_with_variants() -> TestResult {
    let (dir, db) = temp()?;
    let imported = run(&db, &["import", "real", FIXTURE, "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(imported["imported"], 61);
    assert_eq!(imported["new"], 61);
    let exported = dir.path().join("real.json");
    run(&db, &["export", "real", "-o", s(&exported)?])?.expect(0)?;
    run(&db, &["import", "copy", s(&exported)?])?.expect(0)?;
    let a: Value = serde_json::from_str(&run(&db, &["export", "real"])?.expect(0)?.stdout)?;
    let b: Value = serde_json::from_str(&run(&db, &["export", "copy"])?.expect(0)?.stdout)?;
    assert_eq!(a["schema"], "pipeline-deps-export/v1");
    assert_eq!(a["steps"], b["steps"]);

    // Re-importing needs --replace, and then replaces every step.
    let taken = run(&db, &["import", "real", FIXTURE])?.expect(4)?;
    assert!(taken.stderr.contains("--replace"), "{taken:?}");
    let training = run(
        &db,
        &[
            "import",
            "real",
            FIXTURE,
            "--replace",
            "--variant",
            "training",
            "--json",
        ],
    )?
    .expect(0)?
    .json()?;
    assert_eq!(training["replaced"], 61);
    assert_eq!(training["step_count"], 61);
    let c: Value = serde_json::from_str(&run(&db, &["export", "real"])?.expect(0)?.stdout)?;
    assert_ne!(
        a["steps"], c["steps"],
        "the training variants differ from the base specs"
    );

    // All 61 real steps resolve; the two GraphStorm steps lack a training config.
    let all = run(&db, &["resolve", "copy"])?.expect(0)?.stdout;
    assert!(all.contains("61 step(s)"), "{all}");
    assert_fits(&all);
    let all = run(&db, &["resolve", "copy", "--json"])?
        .expect(0)?
        .json()?;
    let unresolved: Vec<&str> = all["unresolved"]
        .as_array()
        .ok_or("no unresolved")?
        .iter()
        .filter_map(|u| u["step"].as_str())
        .collect();
    assert_eq!(unresolved, ["GraphStormGNNTraining", "GraphStormGNNTuning"]);
    Ok(())
}

#[test]
fn an_import_of_a_taken_step_name_imports_nothing_and_names_it() -> TestResult {
    let (dir, db) = temp()?;
    let six = fixture_subset(dir.path(), &SIX[..2])?;
    run(&db, &["import", "six", s(&six)?])?.expect(0)?;
    let before = run(&db, &["export", "six"])?.expect(0)?.stdout;
    // One new step beside one the context already has.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&six)?)?;
    let steps = doc["steps"].as_array_mut().ok_or("no steps")?;
    steps[0]["step_name"] = Value::from("brand_new");
    let mixed = dir.path().join("mixed.json");
    std::fs::write(&mixed, serde_json::to_string(&doc)?)?;
    let taken = SIX[1];

    let refused = run(&db, &["import", "six", s(&mixed)?])?.expect(4)?;
    assert!(
        refused.stderr.contains(&format!("'{taken}'"))
            && refused.stderr.contains("nothing was imported")
            && refused.stderr.contains("--replace"),
        "{refused:?}"
    );
    let refused = run(&db, &["import", "six", s(&mixed)?, "--json"])?.expect(4)?;
    let error: Value = serde_json::from_str(&refused.stderr)?;
    assert_eq!(error["kind"], "already_registered", "{error}");
    assert_eq!(error["context"], "six", "{error}");
    assert_eq!(error["step"], taken, "{error}");
    assert_eq!(error["exit_code"], 4, "{error}");
    // The new step was not imported either.
    assert_eq!(run(&db, &["export", "six"])?.expect(0)?.stdout, before);
    Ok(())
}

#[test]
fn a_bad_import_changes_nothing_and_reports_every_problem() -> TestResult {
    let (dir, db) = temp()?;
    let six = fixture_subset(dir.path(), &SIX)?;
    run(&db, &["import", "six", s(&six)?])?.expect(0)?;
    let before = run(&db, &["export", "six"])?.expect(0)?.stdout;
    let contexts_before = run(&db, &["contexts", "--json"])?.expect(0)?.stdout;

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"steps": [
            {"step_name": "ok_step", "step_type": "Fine", "outputs": {"o": {"type": "processing_output"}}},
            {"step_name": "blank_type", "step_type": " ", "outputs": {"o": {}}},
            {"step_name": "wrong_key", "step_type": "T", "outputs": {"o": {"logical_name": "p"}}}
        ]}"#,
    )?;
    for context in ["six", "fresh"] {
        let refused = run(&db, &["import", context, s(&bad)?, "--replace"])?.expect(4)?;
        assert!(
            refused.stderr.contains("nothing was written"),
            "{refused:?}"
        );
        assert!(
            refused.stderr.contains("step 'blank_type': step_type"),
            "{refused:?}"
        );
        assert!(
            refused.stderr.contains("step 'wrong_key': outputs.o"),
            "{refused:?}"
        );
    }
    std::fs::write(&bad, "{\"steps\": [ not json")?;
    let malformed = run(&db, &["import", "fresh", s(&bad)?])?.expect(4)?;
    assert!(malformed.stderr.contains("line 1"), "{malformed:?}");
    run(
        &db,
        &["import", "fresh", s(&dir.path().join("missing.json"))?],
    )?
    .expect(3)?;
    // Duplicate step names inside one file: refused after the context was created, which
    // is then removed again.
    std::fs::write(
        &bad,
        r#"{"steps": [
            {"step_name": "a", "step_type": "T", "outputs": {"o": {}}},
            {"step_name": "a", "step_type": "T", "outputs": {"o": {}}}
        ]}"#,
    )?;
    run(&db, &["import", "fresh", s(&bad)?])?.expect(4)?;

    assert_eq!(run(&db, &["export", "six"])?.expect(0)?.stdout, before);
    assert_eq!(
        run(&db, &["contexts", "--json"])?.expect(0)?.stdout,
        contexts_before
    );
    Ok(())
}

/// The context names a `contexts --json` document lists, in its order.
fn context_names(contexts: &Value) -> TestResult<Vec<&str>> {
    Ok(contexts["contexts"]
        .as_array()
        .ok_or("no contexts array")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect())
}

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

#[test]
fn resolve_prints_edges_unwired_dependencies_and_explanations() -> TestResult {
    let (dir, db) = temp()?;
    let six = fixture_subset(dir.path(), &SIX)?;
    run(&db, &["import", "six", s(&six)?])?.expect(0)?;
    let mut args = vec!["resolve", "six"];
    args.extend(SIX);
    let human = run(&db, &args)?.expect(0)?.stdout;
    assert!(human.contains("13 edge(s)"), "{human}");
    assert!(
        human.contains("Registration.GeneratedPayloadSamples   ←  Payload.payload_sample"),
        "{human}"
    );
    assert!(
        human.contains("XGBoostTraining.hyperparameters_s3_uri"),
        "{human}"
    );
    assert_fits(&human);

    args.push("--json");
    let json = run(&db, &args)?.expect(0)?.json()?;
    let edges = json["edges"].as_array().ok_or("no edges")?;
    assert_eq!(edges.len(), 13);
    let payload = edges
        .iter()
        .find(|e| e["consumer"] == "Registration" && e["dependency"] == "GeneratedPayloadSamples")
        .ok_or("edge missing")?;
    assert_eq!(payload["producer"], "Payload");
    assert!((payload["score"].as_f64().ok_or("no score")? - 0.81).abs() < 1e-9);
    assert_eq!(json["unwired"][0]["dependency"], "hyperparameters_s3_uri");
    assert_eq!(json["unwired"][0]["required"], false);

    args.extend(["--explain", "--top", "2"]);
    let explained = run(&db, &args)?.expect(0)?.json()?;
    let entries = explained["explain"].as_array().ok_or("no explain")?;
    let model_data = entries
        .iter()
        .find(|d| d["consumer"] == "XGBoostModel" && d["dependency"] == "model_data")
        .ok_or("no model_data")?;
    assert_eq!(model_data["wired_to"], "XGBoostTraining.model_output");
    let candidates = model_data["candidates"].as_array().ok_or("no candidates")?;
    assert!(candidates.len() <= 2);
    let b = &candidates[0]["score_breakdown"];
    let parts: f64 = [
        "type_compatibility",
        "data_type_compatibility",
        "semantic_similarity",
        "exact_match_bonus",
        "source_compatibility",
        "keyword_matching",
    ]
    .iter()
    .filter_map(|k| b[*k].as_f64())
    .sum();
    assert!(parts >= candidates[0]["score"].as_f64().ok_or("no score")? - 1e-9);

    let text = run(&db, &["resolve", "six", "--explain"])?
        .expect(0)?
        .stdout;
    assert!(text.contains(" *  XGBoostTraining.model_output"), "{text}");
    assert_fits(&text);

    let unknown = run(&db, &["resolve", "six", "NoSuchStep"])?.expect(4)?;
    assert!(unknown.stderr.contains("NoSuchStep"), "{unknown:?}");
    // --top without --explain is a usage error.
    run(&db, &["resolve", "six", "--top", "3"])?.expect(2)?;
    Ok(())
}

#[test]
fn clear_clear_all_check_and_compact() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let cleared = run(&db, &["clear", "unit_tests", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(cleared["schema"], "pipeline-deps/clear/v1");
    assert_eq!(cleared["context"], "unit_tests");
    assert_eq!(cleared["existed"], true);
    assert_eq!(cleared["step_count"], 2);
    // Clearing is idempotent: a context that is gone is exit 0, and says so.
    let again = run(&db, &["clear", "unit_tests", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(again["existed"], false);
    let again = run(&db, &["clear", "unit_tests"])?.expect(0)?;
    assert!(again.stdout.contains("nothing to clear"), "{again:?}");
    // The contexts there are show, so that a misspelt name is noticed.
    assert!(
        again.stdout.contains(
            "(its contexts are: 'fraud_detection_training', 'fraud_detection_inference')"
        ),
        "{again:?}"
    );

    // Not a terminal and no --yes: refused, nothing cleared.
    let refused = run(&db, &["clear-all"])?.expect(2)?;
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    let stats = run(&db, &["stats", "--json"])?.expect(0)?.json()?;
    assert_eq!(stats["totals"]["contexts"], 2);

    let check = run(&db, &["check", "--json"])?.expect(0)?.json()?;
    assert_eq!(check["ok"], true);
    assert_eq!(check["pages"]["ok"], true);
    assert_eq!(check["contexts"].as_array().map(Vec::len), Some(2));
    let human = run(&db, &["check"])?.expect(0)?.stdout;
    assert!(human.contains("result: ok"), "{human}");

    let all = run(&db, &["clear-all", "--yes", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(all["context_count"], 2);
    let compact = run(&db, &["compact", "--json"])?.expect(0)?.json()?;
    let before = compact["bytes_before"].as_u64().ok_or("no before")?;
    let after = compact["bytes_after"].as_u64().ok_or("no after")?;
    assert_eq!(compact["bytes_reclaimed"].as_u64(), Some(before - after));
    assert_eq!(std::fs::metadata(&db)?.len(), after);
    let human = run(&db, &["compact"])?.expect(0)?.stdout;
    assert!(human.contains("reclaimed"), "{human}");
    let contexts = run(&db, &["contexts"])?.expect(0)?.stdout;
    assert!(contexts.starts_with("no contexts"), "{contexts}");
    Ok(())
}

/// Not a test of its own: the body of [`Holder`], run in a child process. Without the
/// environment variable it does nothing.
#[test]
fn holder_process() -> TestResult {
    common::hold_if_asked()
}

#[test]
fn read_commands_work_while_a_single_writer_owns_the_file() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let holder = Holder::start(&db, "single")?;
    let result = (|| -> TestResult {
        let contexts = run(&db, &["contexts", "--json"])?.expect(0)?.json()?;
        let names = context_names(&contexts)?;
        assert!(
            names.contains(&"held"),
            "the owner's commit is visible: {names:?}"
        );
        run(&db, &["stats"])?.expect(0)?;
        run(&db, &["show", "held", "writer_step"])?.expect(0)?;
        run(&db, &["export", "fraud_detection_training"])?.expect(0)?;
        run(&db, &["resolve", "fraud_detection_training"])?.expect(0)?;
        // Writing is the owner's job: refused with the library's explanation.
        let refused = run(&db, &["clear", "unit_tests"])?.expect(3)?;
        assert!(
            refused.stderr.contains("already open by another process"),
            "{refused:?}"
        );
        Ok(())
    })();
    holder.stop()?;
    result?;
    // After the owner is gone, writes work again.
    run(&db, &["clear", "unit_tests"])?.expect(0)?;
    Ok(())
}

#[test]
fn an_exclusive_owner_is_reported_with_what_to_do() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let holder = Holder::start(&db, "exclusive")?;
    let result = run(&db, &["stats"]);
    // A write command refused the same way is pointed to a read command instead.
    let write = run(&db, &["clear", "unit_tests"]);
    holder.stop()?;
    let refused = result?.expect(3)?;
    assert!(
        refused.stderr.contains("already open by another process"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("single-writer mode"), "{refused:?}");
    // The hint does not suggest the read command that was just refused.
    assert!(
        refused.stderr.contains("owner holds it exclusively") && !refused.stderr.contains("stats`"),
        "{refused:?}"
    );
    let write = write?.expect(3)?;
    let read_command = format!(
        "inspect it read-only with `pipeline-deps --db {} stats`",
        s(&db)?
    );
    assert!(write.stderr.contains(&read_command), "{write:?}");
    // The refused clear cleared nothing: the demo's contexts and the owner's are all there.
    let contexts = run(&db, &["contexts", "--json"])?.expect(0)?.json()?;
    let names = context_names(&contexts)?;
    assert_eq!(
        names,
        [
            "fraud_detection_training",
            "fraud_detection_inference",
            "unit_tests",
            "held"
        ]
    );
    Ok(())
}

#[test]
fn an_empty_file_is_reported_as_holding_no_database_and_a_write_command_creates_one() -> TestResult
{
    let (_dir, db) = temp()?;
    std::fs::write(&db, b"")?;
    for command in [&["stats"][..], &["contexts"], &["check"], &["clear", "x"]] {
        let refused = run(&db, command)?.expect(3)?;
        assert!(
            refused.stderr.contains("there is no registry database at"),
            "{command:?}: {refused:?}"
        );
        assert_eq!(
            std::fs::metadata(&db)?.len(),
            0,
            "{command:?} wrote the file"
        );
    }
    run(&db, &["demo"])?.expect(0)?;
    run(&db, &["contexts"])?.expect(0)?;
    Ok(())
}

#[test]
fn a_bug_is_reported_plainly_without_the_panic_text() -> TestResult {
    for json in [false, true] {
        let mut command = Command::new(BIN);
        command
            .env("PIPELINE_DEPS_TEST_PANIC", "1")
            .env_remove("PIPELINE_DEPS_DB");
        if json {
            command.arg("--json");
        }
        let out = command.arg("stats").output()?;
        let stderr = String::from_utf8(out.stderr)?;
        assert_eq!(out.status.code(), Some(101), "{stderr}");
        assert!(stderr.contains("internal error"), "{stderr}");
        assert!(stderr.contains("please report"), "{stderr}");
        assert!(!stderr.contains("must not be shown"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        if json {
            let error: serde_json::Value = serde_json::from_str(stderr.trim())?;
            assert_eq!(error["kind"], "internal", "{error}");
            assert_eq!(error["exit_code"], 101, "{error}");
        }
    }
    Ok(())
}

/// `pipeline-deps --db <db> <args>` started with its standard output and error piped to
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

#[test]
fn clear_all_asks_on_a_terminal_and_only_yes_clears() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    for (answer, code, left) in [("n\n", 2, 3), ("\n", 2, 3), ("", 2, 3), ("yes\n", 0, 0)] {
        let Some((exit, shown)) = common::on_terminal(&db, "clear-all", answer)? else {
            println!("SKIPPED: no `script` command to give clear-all a terminal");
            return Ok(());
        };
        assert_eq!(exit, code, "{answer:?}: {shown}");
        assert!(shown.contains("[y/N]"), "{shown}");
        // The end of input (Ctrl-D) is no answer, and the message after it starts a line.
        // (Typed answers are echoed before the question here: they reach the terminal first.)
        if answer.is_empty() {
            assert!(shown.contains("[y/N] \r\npipeline-deps: "), "{shown:?}");
        }
        // The cursor is never hidden, so nothing is left to restore after a Ctrl-C.
        assert!(!shown.contains("\u{1b}[?25l"), "{shown:?}");
        let contexts: Value =
            serde_json::from_str(&run(&db, &["contexts", "--json"])?.expect(0)?.stdout)?;
        assert_eq!(
            contexts["contexts"].as_array().map(Vec::len),
            Some(left),
            "{answer:?}"
        );
    }
    // Under --json nothing is asked (standard error carries only JSON): --yes is needed.
    run(&db, &["demo"])?.expect(0)?;
    let (exit, shown) = common::on_terminal(&db, "clear-all --json", "")?.ok_or("no terminal")?;
    assert_eq!(exit, 2, "{shown}");
    assert!(
        shown.contains("--json asks no questions") && !shown.contains("[y/N]"),
        "{shown}"
    );
    Ok(())
}

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
