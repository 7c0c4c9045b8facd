//! The `pipeline-deps` binary, run as a real process against temporary databases.
//!
//! Invariant: every command does what `--help` says and exits with the documented code
//! (0 ok, 1 check failed, 2 usage, 3 database or file error, 4 invalid input); `--json`
//! output is valid JSON with the documented fields; a failed import changes nothing;
//! `clear-all` clears only after a yes on a terminal; a bug is reported plainly, without the
//! panic text. The file access rules are in `file_access.rs`, the snapshot gate in
//! `snapshot_gate.rs`, pipes and output files in `pipes_and_output_files.rs`, `copy` run
//! again in `copy_run_again.rs`.

use std::process::{Command, Stdio};

use serde_json::Value;

mod common;
use common::{
    BIN, FIXTURE, SIX, TestResult, context_names, fixture_subset, run, run_command, s, temp,
};

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
