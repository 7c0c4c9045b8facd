//! Invariant: output meant for people stays safe and short: progress bars show on a terminal
//! only (never piped or with `--json`), error output is bounded however many problems the
//! input has (issue 9, defect 7), and every name is escaped for people but exact in JSON
//! (defect 8).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

mod common;
use common::{FIXTURE, SIX, TestResult, assert_no_raw_controls, run, s, subset, temp};

/// Every step of the fixture `copies` times over (1,037 steps and about 5 MB for 17): an
/// import large enough for progress bars.
fn large_import(dir: &Path, copies: usize) -> TestResult<PathBuf> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE)?)?;
    let all = doc["steps"].as_array().ok_or("no steps")?;
    let mut steps = Vec::new();
    for copy in 0..copies {
        for step in all {
            let mut step = step.clone();
            let name = step["step_name"].as_str().ok_or("no name")?.to_owned();
            step["step_name"] = Value::from(format!("{name}_{copy}"));
            steps.push(step);
        }
    }
    let path = dir.join("large.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({ "steps": steps }))?,
    )?;
    Ok(path)
}

#[test]
fn progress_shows_on_a_terminal_only_and_never_with_json() -> TestResult {
    let (dir, db) = temp()?;
    let file = large_import(dir.path(), 17)?;
    let piped = run(&db, &["import", "a", s(&file)?])?.expect(0)?;
    assert!(piped.stderr.is_empty(), "{piped:?}");
    let out = dir.path().join("o.json");
    let export = run(&db, &["export", "a", "-o", s(&out)?])?.expect(0)?;
    assert!(export.stderr.is_empty(), "{export:?}");

    // On a terminal (util-linux `script` gives the command one), the bar shows, except with
    // --json.
    let on_tty = |args: &str| -> TestResult<Option<String>> {
        Ok(common::on_terminal(&db, args, "")?.map(|(_, shown)| shown))
    };
    let Some(shown) = on_tty(&format!("import b {}", s(&file)?))? else {
        eprintln!("skipped the terminal half: `script` (util-linux) is not installed");
        return Ok(());
    };
    assert!(shown.contains("importing 1037 step(s)"), "{shown}");
    let json = on_tty(&format!("import c {} --json", s(&file)?))?.ok_or("no terminal")?;
    assert!(!json.contains("importing 1037"), "{json}");
    assert!(json.contains("pipeline-deps/import/v1"), "{json}");
    let quiet = on_tty(&format!("-q import d {}", s(&file)?))?.ok_or("no terminal")?;
    assert!(!quiet.contains("importing 1037"), "{quiet}");
    // Exports show one too.
    let exported = on_tty(&format!("export a -o {}", s(&out)?))?.ok_or("no terminal")?;
    assert!(exported.contains("exporting context 'a'"), "{exported}");
    // Standard output a terminal but standard error redirected: no bar, in either.
    let errors = dir.path().join("stderr.txt");
    let redirected =
        on_tty(&format!("import e {} 2>{}", s(&file)?, s(&errors)?))?.ok_or("no terminal")?;
    assert!(redirected.contains("imported 1037 step(s)"), "{redirected}");
    assert!(!redirected.contains("importing 1037"), "{redirected}");
    let logged = std::fs::read_to_string(&errors)?;
    assert!(logged.is_empty(), "{logged}");
    Ok(())
}

/// `count` specifications with a blank step type, named by `name`.
fn bad_specs(dir: &Path, count: usize, name: impl Fn(usize) -> String) -> TestResult<PathBuf> {
    let steps: Vec<Value> = (0..count)
        .map(|i| json!({"step_name": name(i), "step_type": "", "node_type": "singular"}))
        .collect();
    let path = dir.join("bad.json");
    std::fs::write(&path, serde_json::to_string(&json!({ "steps": steps }))?)?;
    Ok(path)
}

#[test]
fn ten_thousand_bad_specs_make_a_short_error_in_every_output_mode() -> TestResult {
    let (dir, db) = temp()?;
    let bad = bad_specs(dir.path(), 10_000, |i| format!("step_{i}"))?;
    let human = run(&db, &["import", "x", s(&bad)?])?.expect(4)?;
    assert!(human.stderr.len() < 4_000, "{} bytes", human.stderr.len());
    assert!(human.stderr.lines().count() <= 13, "{}", human.stderr);
    assert!(
        human.stderr.contains("refused 10000 invalid"),
        "{}",
        human.stderr
    );
    assert!(human.stderr.contains("and 9990 more"), "{}", human.stderr);

    let json = run(&db, &["import", "x", s(&bad)?, "--json"])?.expect(4)?;
    assert!(json.stderr.len() < 4_000, "{} bytes", json.stderr.len());
    let doc: Value = serde_json::from_str(&json.stderr)?;
    assert_eq!(doc["kind"], "invalid_spec");
    assert_eq!(doc["problems"].as_array().map(Vec::len), Some(10));
    assert_eq!(doc["problems_omitted"], 9990);
    assert!(!db.exists() || run(&db, &["contexts"])?.stdout.starts_with("no contexts"));

    // Long names are shortened too: 2,000 names of 20,000 bytes.
    let long = bad_specs(dir.path(), 2_000, |i| format!("{i}{}", "n".repeat(20_000)))?;
    for args in [
        &["import", "y", s(&long)?][..],
        &["import", "y", s(&long)?, "--json"],
    ] {
        let out = run(&db, args)?.expect(4)?;
        assert!(
            out.stderr.len() < 8_000,
            "{args:?}: {} bytes",
            out.stderr.len()
        );
    }
    Ok(())
}

#[test]
fn hostile_names_are_escaped_for_people_and_exact_in_json() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    // Names the command line echoes in messages.
    let evil = "ctx\u{1b}[31m\u{7}\nsecond line\u{7f}\u{9b}";
    let missing = run(&db, &["show", evil])?.expect(4)?;
    assert_no_raw_controls(&missing.stderr);
    assert_eq!(missing.stderr.lines().count(), 1, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains(r"ctx\u{1b}[31m\u{7}\nsecond line\u{7f}\u{9b}"),
        "{missing:?}"
    );
    let missing = run(&db, &["show", "unit_tests", evil, "--json"])?.expect(4)?;
    let doc: Value = serde_json::from_str(&missing.stderr)?;
    assert_eq!(doc["step"], evil, "JSON keeps the exact name");
    for args in [
        &["types", "unit_tests", evil][..],
        &["export", evil],
        &["resolve", evil],
    ] {
        let out = run(&db, args)?.expect(4)?;
        assert_no_raw_controls(&out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    }

    // Names the library accepts but a terminal would reorder (bidi override, zero width)
    // in tables and messages.
    let context = "ctx\u{202e}gnp.exe";
    let step = |n: &str| format!("{n}\u{200b}\u{2066}");
    let file = subset(dir.path(), &SIX, step)?;
    let imported = run(&db, &["import", context, s(&file)?])?.expect(0)?;
    assert!(
        imported.stdout.contains(r"ctx\u{202e}gnp.exe"),
        "{imported:?}"
    );
    for args in [
        &["contexts"][..],
        &["stats"],
        &["show", context],
        &["types", context],
        &["resolve", context, "--explain", "--top", "1"],
    ] {
        let out = run(&db, args)?.expect(0)?;
        assert!(
            !out.stdout.contains('\u{202e}') && !out.stdout.contains('\u{200b}'),
            "{args:?}: {}",
            out.stdout
        );
        assert!(out.stdout.contains(r"\u{202e}") || out.stdout.contains(r"\u{200b}"));
    }
    let one = run(&db, &["show", context, &step("Payload")])?.expect(0)?;
    assert!(one.stdout.contains(r"Payload\u{200b}\u{2066}"), "{one:?}");
    let json = run(&db, &["show", context, "--json"])?.expect(0)?;
    let doc: Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(doc["context"], context);
    assert_eq!(doc["steps"][0]["step_name"], step("TabularPreprocessing"));

    // Names in a list of invalid specifications.
    let bad = bad_specs(dir.path(), 3, |i| format!("bad\u{1b}]0;title\u{7}{i}"))?;
    let refused = run(&db, &["import", "z", s(&bad)?])?.expect(4)?;
    assert_no_raw_controls(&refused.stderr);
    assert!(
        refused.stderr.contains(r"bad\u{1b}]0;title\u{7}0"),
        "{refused:?}"
    );
    Ok(())
}
