//! Invariant: hostile input reaching the real binary gets a clear, bounded, escaped answer
//! and changes nothing: names with control characters never reach the terminal raw (human
//! output escapes them, `--json` stays exact JSON), 10,000 bad specs give at most about ten
//! problems and "N more", an import document with duplicate keys, an unknown schema or
//! unknown fields is refused naming what is wrong (unknown fields only with
//! `--allow-unknown-fields`), and a step repeated on the `resolve`/`snapshot` command line is
//! refused naming it.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{TestResult, run, s, temp_dir, write_file};

/// Control characters that must never reach a terminal raw, and where they hide.
const HOSTILE: [(&str, &str); 6] = [
    ("ESC", "ctx\u{1b}[31mRED\u{1b}]0;title\u{7}"),
    ("BEL", "ctx\u{7}bell"),
    ("newline", "ctx\nFAKE-LINE injected"),
    ("carriage return", "ctx\rFAKE-OVERWRITE"),
    ("DEL", "ctx\u{7f}del"),
    ("C1 CSI", "ctx\u{9b}31mC1"),
];

/// The raw control characters in human output (newline and tab excepted), if any.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect()
}

/// Human output (stdout and stderr) holds no raw control character and no line that the
/// name's own newline started.
fn assert_escaped(run: &support::Run) -> TestResult {
    for (stream, text) in [("stdout", run.out()), ("stderr", run.err())] {
        let raw = raw_controls(&text);
        if !raw.is_empty() {
            return Err(format!(
                "{}: raw control characters {raw:?} on {stream}:\n{text:?}",
                run.what
            )
            .into());
        }
        if let Some(line) = text.lines().find(|l| l.starts_with("FAKE-LINE")) {
            return Err(format!(
                "{}: a name's newline started a line of its own on {stream}: {line:?}",
                run.what
            )
            .into());
        }
    }
    Ok(())
}

/// A database holding context `base` with the steps of a small valid document.
fn base_db(dir: &Path) -> TestResult<std::path::PathBuf> {
    let db = dir.join("registry.redb");
    let doc = write_file(
        dir,
        "base.json",
        support::synthetic_specs("step", 3, 1).as_bytes(),
    )?;
    run(&db, &["import", "base", s(&doc)?])?.expect(0)?;
    Ok(db)
}

/// Context and step names given on the command line are echoed escaped, by every command
/// that takes one, in human output and in error messages.
#[test]
fn hostile_names_on_the_command_line_are_escaped() -> TestResult {
    let dir = temp_dir()?;
    let db = base_db(dir.path())?;
    let doc = write_file(
        dir.path(),
        "one.json",
        support::synthetic_specs("x", 1, 1).as_bytes(),
    )?;
    let snap = dir.path().join("snap.json");
    run(&db, &["snapshot", "base", "-o", s(&snap)?])?.expect(0)?;
    let mut runs = 0;
    for (what, name) in HOSTILE {
        let argument_lists: Vec<Vec<&str>> = vec![
            vec!["show", name],
            vec!["show", "base", name],
            vec!["types", name],
            vec!["types", "base", name],
            vec!["export", name],
            vec!["import", name, s(&doc)?],
            vec!["resolve", name],
            vec!["resolve", "base", name],
            vec!["snapshot", "base", name, "-o", s(&snap)?],
            vec!["check-snapshot", name, s(&snap)?],
            vec!["clear", name],
        ];
        for args in argument_lists {
            let result = run(&db, &args)?;
            result.contract()?;
            assert_escaped(&result).map_err(|e| format!("{what}: {e}"))?;
            runs += 1;
        }
    }
    // Nothing was created by any of them.
    let contexts = support::context_counts(&run(&db, &["contexts", "--json"])?.expect(0)?.json()?)?;
    assert_eq!(contexts.keys().collect::<Vec<_>>(), vec!["base"]);
    eprintln!(
        "FIGURE adversarial_input/names_on_command_line: {runs} runs, 0 raw control characters"
    );
    Ok(())
}

/// A database file whose path holds control characters is named escaped in messages.
#[test]
fn hostile_database_path_is_escaped() -> TestResult {
    let dir = temp_dir()?;
    let db = dir.path().join("db\u{1b}[2J\nFAKE-LINE.redb");
    for args in [&["stats"][..], &["contexts"], &["check"], &["show", "x"]] {
        let result = run(&db, args)?;
        result.expect(3)?;
        assert_escaped(&result)?;
    }
    Ok(())
}

/// Free-text fields that the library stores (aliases, keywords, compatible sources, data
/// and property paths) may hold control characters: `show` prints them escaped, `--json`
/// gives them back exactly.
#[test]
fn hostile_stored_text_is_escaped_in_tables_and_exact_in_json() -> TestResult {
    let dir = temp_dir()?;
    let db = dir.path().join("registry.redb");
    let evil = "evil\u{1b}[31m\u{7}\nFAKE-LINE\u{7f}\u{9b}";
    let doc = json!({"steps": [{
        "step_name": "victim",
        "step_type": "Victim",
        "node_type": "internal",
        "dependencies": {"input": {
            "type": "processing_output",
            "compatible_sources": [evil],
            "semantic_keywords": [evil],
            "data_type": evil,
        }},
        "outputs": {"output": {
            "type": "processing_output",
            "property_path": evil,
            "aliases": [evil],
            "semantic_keywords": [evil],
            "data_type": evil,
        }},
    }]});
    let file = write_file(dir.path(), "evil.json", doc.to_string().as_bytes())?;
    let imported = run(&db, &["import", "evil", s(&file)?])?;
    imported.contract()?;
    if imported.code != Some(0) {
        // Refusing control characters in these fields is fine too, if said escaped.
        imported.expect(4)?;
        assert_escaped(&imported)?;
        return Ok(());
    }
    for args in [
        &["show", "evil", "victim"][..],
        &["show", "evil"],
        &["types", "evil"],
        &["resolve", "evil", "--explain"],
        &["contexts"],
        &["stats"],
    ] {
        let result = run(&db, args)?;
        result.expect(0)?;
        assert_escaped(&result)?;
    }
    let shown = run(&db, &["show", "evil", "victim", "--json"])?
        .expect(0)?
        .json()?;
    assert!(
        contains_string(&shown, evil),
        "--json lost the exact text: {shown}"
    );
    let exported = run(&db, &["export", "evil"])?.expect(0)?.json()?;
    assert!(contains_string(&exported, evil), "export changed the text");
    Ok(())
}

/// Whether any string in the document equals `needle`.
fn contains_string(doc: &Value, needle: &str) -> bool {
    match doc {
        Value::String(s) => s == needle,
        Value::Array(items) => items.iter().any(|v| contains_string(v, needle)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k == needle || contains_string(v, needle)),
        _ => false,
    }
}

/// Invalid step names inside an import document (which the library refuses) are named
/// escaped in the refusal.
#[test]
fn hostile_step_names_in_a_document_are_escaped() -> TestResult {
    let dir = temp_dir()?;
    let db = base_db(dir.path())?;
    for (what, name) in HOSTILE {
        let doc = json!({"steps": [
            {"step_name": name, "step_type": "T", "node_type": "internal"},
            {"step_name": "ok", "step_type": name, "node_type": "internal",
             "outputs": {name: {"type": "processing_output", "property_path": "p"}}},
        ]});
        let file = write_file(dir.path(), "hostile.json", doc.to_string().as_bytes())?;
        let result = run(&db, &["import", "base", s(&file)?])?;
        result.expect(4)?;
        assert_escaped(&result).map_err(|e| format!("{what}: {e}"))?;
        let json_result = run(&db, &["import", "base", s(&file)?, "--json"])?;
        json_result.expect(4)?;
        assert!(
            raw_controls(&json_result.out()).is_empty(),
            "{what}: raw control characters in --json stdout"
        );
    }
    Ok(())
}

/// 10,000 invalid specs give a refusal of about ten problems and "N more": bounded stderr.
#[test]
fn ten_thousand_bad_specs_give_a_bounded_refusal() -> TestResult {
    let dir = temp_dir()?;
    let db = base_db(dir.path())?;
    let blank: Vec<Value> = (0..10_000)
        .map(|i| json!({"step_name": format!("s{i}"), "step_type": "", "node_type": "singular"}))
        .collect();
    let long: Vec<Value> = (0..2_000)
        .map(|i| {
            json!({"step_name": format!("{i}{}", "n".repeat(1000)), "step_type": " ",
                   "node_type": "internal",
                   "outputs": {"o".repeat(1000): {"type": "processing_output",
                               "logical_name": "x".repeat(1000), "property_path": "p"}}})
        })
        .collect();
    for (what, steps) in [
        ("10,000 blank step types", blank),
        ("2,000 long names", long),
    ] {
        let file = write_file(
            dir.path(),
            "bad.json",
            json!({ "steps": steps }).to_string().as_bytes(),
        )?;
        for json_flag in [false, true] {
            let mut args = vec!["import", "fresh", s(&file)?];
            if json_flag {
                args.push("--json");
            }
            let result = run(&db, &args)?;
            result.expect(4)?;
            let stderr = result.err();
            // Human output shortens names; JSON keeps them exact (at most 1,024 bytes each),
            // so its bound is on the number of problems listed.
            let limit = if json_flag { 48 * 1024 } else { 8 * 1024 };
            if json_flag && let Ok(error) = serde_json::from_str::<Value>(&stderr) {
                let listed = error["problems"].as_array().map_or(0, Vec::len);
                assert!(
                    listed <= 12,
                    "{what}: {listed} problems listed in the JSON error"
                );
            }
            assert!(
                stderr.len() <= limit,
                "{what} (--json {json_flag}): {} bytes on stderr:\n{}",
                stderr.len(),
                support::shorten(&stderr)
            );
            assert!(
                stderr.lines().count() <= 20,
                "{what} (--json {json_flag}): {} lines on stderr",
                stderr.lines().count()
            );
            assert!(
                json_flag || stderr.contains("more"),
                "{what}: no \"and N more\":\n{stderr}"
            );
            assert!(result.stdout.len() <= 8 * 1024, "{what}: unbounded stdout");
        }
    }
    let contexts = support::context_counts(&run(&db, &["contexts", "--json"])?.expect(0)?.json()?)?;
    assert!(
        !contexts.contains_key("fresh"),
        "a refused import created its context"
    );
    Ok(())
}

/// Imports that must be refused (exit 4), naming `needles` in the message, creating nothing.
fn assert_refused(db: &Path, dir: &Path, doc: &str, needles: &[&str]) -> TestResult {
    let file = write_file(dir, "doc.json", doc.as_bytes())?;
    let result = run(db, &["import", "fresh", s(&file)?])?;
    result.expect(4).map_err(|e| format!("{doc}: {e}"))?;
    let stderr = result.err();
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "the refusal of {doc} does not name {needle:?}:\n{stderr}"
        );
    }
    let contexts = support::context_counts(&run(db, &["contexts", "--json"])?.expect(0)?.json()?)?;
    assert!(
        !contexts.contains_key("fresh"),
        "a refused import created its context"
    );
    Ok(())
}

/// Duplicate keys anywhere in an import document are refused, naming the key and the step
/// (serde_json alone keeps the last, silently dropping a definition).
#[test]
fn duplicate_json_keys_are_refused_naming_key_and_step() -> TestResult {
    let dir = temp_dir()?;
    let db = base_db(dir.path())?;
    let output = r#"{"type": "processing_output", "property_path": "properties.A"}"#;
    let cases = [
        (
            format!(
                r#"{{"steps": [{{"step_name": "trainer", "step_type": "T", "node_type": "source", "outputs": {{"model": {output}, "model": {output}}}}}]}}"#
            ),
            vec!["model", "trainer"],
        ),
        (
            r#"{"steps": [{"step_name": "loader", "step_type": "A", "step_type": "B", "node_type": "singular"}]}"#.into(),
            vec!["step_type", "loader"],
        ),
        (
            r#"{"steps": [{"step_name": "prep", "step_type": "T", "node_type": "sink", "dependencies": {"data": {"type": "processing_output", "required": true, "required": false}}}]}"#.into(),
            vec!["required", "prep"],
        ),
        (
            r#"{"steps": [], "steps": [{"step_name": "x", "step_type": "T", "node_type": "singular"}]}"#.into(),
            vec!["steps"],
        ),
    ];
    for (doc, needles) in cases {
        assert_refused(&db, dir.path(), &doc, &needles)?;
    }
    Ok(())
}

/// An unknown `schema` value is refused; the two known formats import.
#[test]
fn unknown_schema_is_refused() -> TestResult {
    let dir = temp_dir()?;
    let db = base_db(dir.path())?;
    let step = json!({"step_name": "s", "step_type": "T", "node_type": "singular"});
    for schema in [
        "pipeline-deps-export/v2",
        "cursus-step-specs/v9",
        "",
        "nonsense",
    ] {
        let doc = json!({"schema": schema, "steps": [step]}).to_string();
        assert_refused(&db, dir.path(), &doc, &["schema"])?;
    }
    for (context, schema) in [
        ("a", "pipeline-deps-export/v1"),
        ("b", "cursus-step-specs/v1"),
    ] {
        let doc = json!({"schema": schema, "steps": [step]}).to_string();
        let file = write_file(dir.path(), "known.json", doc.as_bytes())?;
        run(&db, &["import", context, s(&file)?])?.expect(0)?;
    }
    Ok(())
}

/// Unknown fields, at the top, in a step, a dependency or an output, are refused naming the
/// field, unless `--allow-unknown-fields` is given; the real fixture (every key it has)
/// imports without the flag.
#[test]
fn unknown_fields_are_refused_unless_allowed() -> TestResult {
    let dir = temp_dir()?;
    let db = base_db(dir.path())?;
    let cases = [
        (
            r#"{"stepz": [], "steps": [{"step_name": "s", "step_type": "T", "node_type": "singular"}]}"#,
            "stepz",
        ),
        (
            r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "singular", "ouputs": {}}]}"#,
            "ouputs",
        ),
        (
            r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "sink", "dependencies": {"d": {"type": "processing_output", "requird": false}}}]}"#,
            "requird",
        ),
        (
            r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "source", "outputs": {"o": {"type": "processing_output", "property_path": "p", "alias": ["x"]}}}]}"#,
            "alias",
        ),
    ];
    for (index, (doc, field)) in cases.iter().enumerate() {
        assert_refused(&db, dir.path(), doc, &[field])?;
        let file = write_file(dir.path(), "strict.json", doc.as_bytes())?;
        let refused = run(&db, &["import", "strict", s(&file)?])?;
        refused.expect(4)?;
        assert!(
            refused.err().contains("hint: pass --allow-unknown-fields"),
            "the refusal does not say how to import anyway:\n{}",
            refused.err()
        );
        let file = write_file(dir.path(), "lenient.json", doc.as_bytes())?;
        let context = format!("lenient{index}");
        run(
            &db,
            &["import", &context, s(&file)?, "--allow-unknown-fields"],
        )?
        .expect(0)?;
    }
    run(&db, &["import", "cursus", support::FIXTURE])?.expect(0)?;
    run(
        &db,
        &[
            "import",
            "cursus",
            support::FIXTURE,
            "--replace",
            "--variant",
            "training",
        ],
    )?
    .expect(0)?;
    let exported = dir.path().join("cursus.json");
    run(&db, &["export", "cursus", "-o", s(&exported)?])?.expect(0)?;
    run(&db, &["import", "again", s(&exported)?])?.expect(0)?;
    Ok(())
}

/// `resolve CTX A A` (and `snapshot`) refuse the repeated step, naming it, with exit 4;
/// distinct steps still resolve.
#[test]
fn repeated_steps_on_the_command_line_are_refused() -> TestResult {
    let dir = temp_dir()?;
    let db = dir.path().join("registry.redb");
    run(&db, &["import", "cursus", support::FIXTURE])?.expect(0)?;
    let snap = dir.path().join("snap.json");
    for args in [
        vec!["resolve", "cursus", "Package", "Package"],
        vec![
            "resolve",
            "cursus",
            "XGBoostTraining",
            "Package",
            "XGBoostTraining",
            "--json",
        ],
        vec![
            "snapshot",
            "cursus",
            "Package",
            "Payload",
            "Package",
            "-o",
            s(&snap)?,
        ],
    ] {
        let result = run(&db, &args)?;
        result.expect(4)?;
        let stderr = result.err();
        let repeated = if args.contains(&"XGBoostTraining") {
            "XGBoostTraining"
        } else {
            "Package"
        };
        assert!(
            stderr.contains(repeated)
                && (stderr.contains("more than once") || stderr.contains("repeat")),
            "{}: the refusal does not name the repeated step:\n{stderr}",
            result.what
        );
    }
    assert!(!snap.exists(), "a refused snapshot wrote its file");
    // The `--json` errors name the context and the step, as for every other refusal of a
    // named step (a repeated one and an unregistered one alike).
    for (args, step) in [
        (
            vec!["resolve", "cursus", "Package", "Package", "--json"],
            "Package",
        ),
        (
            vec!["resolve", "cursus", "NoSuchStep", "--json"],
            "NoSuchStep",
        ),
        (
            vec![
                "snapshot",
                "cursus",
                "NoSuchStep",
                "-o",
                s(&snap)?,
                "--json",
            ],
            "NoSuchStep",
        ),
    ] {
        let refused = run(&db, &args)?;
        refused.expect(4)?;
        let error: serde_json::Value = serde_json::from_str(refused.err().trim())?;
        assert_eq!(error["context"], "cursus", "{args:?}: {error}");
        assert_eq!(error["step"], step, "{args:?}: {error}");
    }
    let resolved = run(
        &db,
        &["resolve", "cursus", "XGBoostTraining", "Package", "--json"],
    )?;
    resolved.expect(0)?;
    Ok(())
}
