//! What scripts and terminals may rely on, checked on the real binary: exit codes
//! (`--fail-on-unresolved`, idempotent `clear`), logs on stderr only (`-v`, `-q`,
//! `RUST_LOG`), `PIPELINE_DEPS_DB` shown in `--help`, tables aligned by display width (CJK),
//! tables fitted to `$COLUMNS` when it asks for a usable width, completions for three
//! shells, progress bars on a terminal only (never piped or with
//! `--json`), error output bounded however
//! many problems the input has (issue 9, defect 7), every name escaped for people but
//! exact in JSON (defect 8), and under `--json` every line on stderr a JSON object (logs,
//! notes, errors), and `--version --json` a JSON document.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use unicode_width::UnicodeWidthStr;

mod common;
use common::{BIN, FIXTURE, SIX, TestResult, command, output, run, s, temp};

/// Writes a fixture-format file of `steps` of the real fixture, renamed by `rename`.
fn subset(dir: &Path, steps: &[&str], rename: impl Fn(&str) -> String) -> TestResult<PathBuf> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE)?)?;
    let all = doc["steps"].as_array().ok_or("no steps")?;
    let mut kept = Vec::new();
    for name in steps {
        let mut step = all
            .iter()
            .find(|s| s["step_name"] == *name)
            .cloned()
            .ok_or_else(|| format!("fixture lacks {name}"))?;
        step["step_name"] = Value::from(rename(name));
        kept.push(step);
    }
    let path = dir.join("subset.json");
    std::fs::write(&path, serde_json::to_string(&json!({ "steps": kept }))?)?;
    Ok(path)
}

/// No byte that a terminal interprets: C0 controls other than newline, DEL, and the
/// C1 controls.
fn assert_no_raw_controls(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in {text:?}");
}

#[test]
fn fail_on_unresolved_exits_1_only_when_a_required_dependency_stays_unresolved() -> TestResult {
    let (dir, db) = temp()?;
    let six = subset(dir.path(), &SIX, str::to_owned)?;
    run(&db, &["import", "six", s(&six)?])?.expect(0)?;
    // The six steps wire completely; alone, Payload lacks its model.
    run(&db, &["resolve", "six", "--fail-on-unresolved"])?.expect(0)?;
    run(&db, &["resolve", "six", "Payload"])?.expect(0)?;
    run(&db, &["resolve", "six", "Payload", "--fail-on-unresolved"])?.expect(1)?;
    let json = run(
        &db,
        &[
            "resolve",
            "six",
            "Payload",
            "--fail-on-unresolved",
            "--json",
        ],
    )?
    .expect(1)?;
    let doc: Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(doc["unresolved"][0]["step"], "Payload");
    Ok(())
}

#[test]
fn clear_of_a_missing_context_is_an_idempotent_success() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    run(&db, &["clear", "unit_tests"])?.expect(0)?;
    let contexts_before = run(&db, &["contexts", "--json"])?.expect(0)?.stdout;
    let again = run(&db, &["clear", "unit_tests"])?.expect(0)?;
    assert!(again.stdout.contains("nothing to clear"), "{again:?}");
    // The contexts there are, so that a misspelt name shows.
    assert!(
        again
            .stdout
            .contains("its contexts are: 'fraud_detection_training', 'fraud_detection_inference'"),
        "{again:?}"
    );
    let json = run(&db, &["clear", "unit_tests", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(json["existed"], false, "{json}");
    assert_eq!(json["step_count"], 0, "{json}");
    // Clearing a context that does not exist clears nothing else.
    assert_eq!(
        run(&db, &["contexts", "--json"])?.expect(0)?.stdout,
        contexts_before
    );
    run(&db, &["clear-all", "--yes"])?.expect(0)?;
    let empty = run(&db, &["clear-all", "--yes", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(
        (&empty["context_count"], &empty["step_count"]),
        (&json!(0), &json!(0)),
        "{empty}"
    );
    Ok(())
}

#[test]
fn clear_refuses_an_invalid_context_name_like_every_command() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let before = std::fs::read(&db)?;
    let long = "a".repeat(100_000);
    for name in [long.as_str(), "", "x\u{1b}y", "bell\u{7}"] {
        let refused = run(&db, &["clear", name])?.expect(4)?;
        assert!(
            refused.stdout.is_empty() && refused.stderr.len() < 2_000,
            "an unbounded refusal: {} bytes",
            refused.stderr.len()
        );
        assert!(
            refused.stderr.contains("invalid context name"),
            "{refused:?}"
        );
        assert!(!refused.stderr.contains('\u{1b}'), "raw ESC: {refused:?}");
        let json = run(&db, &["--json", "clear", name])?.expect(4)?;
        let error: Value = serde_json::from_str(json.stderr.trim())?;
        assert_eq!(error["kind"], "invalid_context_name", "{error}");
    }
    assert!(
        std::fs::read(&db)? == before,
        "a refused clear changed the file"
    );
    Ok(())
}

#[test]
fn logs_go_to_stderr_by_verbosity_or_rust_log() -> TestResult {
    let (dir, db) = temp()?;
    let six = subset(dir.path(), &SIX[..2], str::to_owned)?;
    let quiet = run(&db, &["import", "a", s(&six)?])?.expect(0)?;
    assert!(quiet.stderr.is_empty(), "{quiet:?}");

    let verbose = run(&db, &["-v", "import", "b", s(&six)?])?.expect(0)?;
    assert!(
        verbose.stderr.contains("INFO") && verbose.stderr.contains("created context"),
        "{verbose:?}"
    );
    assert!(!verbose.stderr.contains("DEBUG"), "{verbose:?}");
    assert!(!verbose.stdout.contains("created context"), "{verbose:?}");

    let debug = run(&db, &["-vv", "import", "c", s(&six)?])?.expect(0)?;
    assert!(
        debug.stderr.contains("DEBUG") && debug.stderr.contains("imported steps"),
        "{debug:?}"
    );
    // -vv: every step written, by import and by copy.
    let to = dir.path().join("copy.redb");
    let copied = run(&db, &["-vv", "copy", "--to", s(&to)?])?.expect(0)?;
    for out in [&debug, &copied] {
        for step in &SIX[..2] {
            assert!(
                out.stderr.contains(&format!("step={step}")),
                "{step} not logged: {out:?}"
            );
        }
    }

    let mut c = command(&db);
    c.args(["-q", "import", "d", s(&six)?])
        .env("RUST_LOG", "pipeline_deps=debug");
    let from_env = output(c)?.expect(0)?;
    assert!(from_env.stderr.contains("imported steps"), "{from_env:?}");

    // Log lines escape names for people, as tables and messages do. (A bidi override or a
    // word joiner is valid in a name; a control character is not.)
    let hostile = run(&db, &["-v", "import", "ev\u{202e}il\u{2060}", s(&six)?])?.expect(0)?;
    assert!(
        hostile.stderr.contains("context=ev\\u{202e}il\\u{2060}"),
        "{hostile:?}"
    );
    assert!(
        !hostile.stderr.contains(['\u{202e}', '\u{2060}']),
        "{hostile:?}"
    );

    // Logs never mix into JSON.
    let json = run(&db, &["-vv", "import", "e", s(&six)?, "--json"])?.expect(0)?;
    serde_json::from_str::<Value>(&json.stdout)?;
    assert!(json.stderr.contains("created context"), "{json:?}");
    run(&db, &["-v", "-q", "contexts"])?.expect(2)?;

    // An invalid RUST_LOG directive is reported through the logs as well: a JSON line under
    // --json, escaped text otherwise (the filter's own parser printed it raw).
    for json in [true, false] {
        let mut c = command(&db);
        c.arg("contexts")
            .env("RUST_LOG", "bogus[[[=,a=\u{1b}[2Jzz,pipeline_deps=info");
        if json {
            c.arg("--json");
        }
        let out = output(c)?.expect(0)?;
        assert!(
            out.stderr
                .contains("ignoring an invalid RUST_LOG directive"),
            "{out:?}"
        );
        assert_no_raw_controls(&out.stderr);
        if json {
            serde_json::from_str::<Value>(&out.stdout)?;
            for line in out.stderr.lines() {
                serde_json::from_str::<Value>(line)?;
            }
        }
    }
    Ok(())
}

#[test]
fn help_shows_the_database_variable_and_the_db_flag_reads_it() -> TestResult {
    let (_dir, db) = temp()?;
    let mut c = Command::new(BIN);
    c.arg("--help").env("PIPELINE_DEPS_DB", &db);
    let help = output(c)?.expect(0)?;
    assert!(help.stdout.contains("[env: PIPELINE_DEPS_DB="), "{help:?}");
    run(&db, &["demo"])?.expect(0)?;
    let mut c = Command::new(BIN);
    c.args(["contexts", "--json"])
        .env("PIPELINE_DEPS_DB", &db)
        .stdin(Stdio::null());
    let doc: Value = serde_json::from_str(&output(c)?.expect(0)?.stdout)?;
    assert_eq!(doc["contexts"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        doc["database"].as_str(),
        std::fs::canonicalize(&db)?.to_str()
    );
    Ok(())
}

/// An empty `PIPELINE_DEPS_DB` is unset, as for the library's default manager: the
/// per-user file is used.
#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn db_given_twice_is_refused_wherever_it_is_given() -> TestResult {
    let (dir, db) = temp()?;
    let other = dir.path().join("other.redb");
    run(&db, &["demo"])?.expect(0)?;
    // `run` puts one `--db` before the command; the second comes after it, or before it.
    for args in [
        vec!["contexts", "--db", s(&other)?],
        vec!["contexts", &format!("--db={}", s(&other)?)],
        vec!["--db", s(&other)?, "contexts"],
    ] {
        let out = run(&db, &args)?.expect(2)?;
        assert!(
            out.stderr.contains("cannot be used multiple times"),
            "{out:?}"
        );
    }
    assert!(!other.exists(), "nothing was opened");
    Ok(())
}

#[test]
fn an_empty_database_variable_means_the_per_user_file() -> TestResult {
    let home = tempfile::tempdir()?;
    let mut c = Command::new(BIN);
    c.args(["contexts"])
        .env("PIPELINE_DEPS_DB", "")
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .stdin(Stdio::null());
    let missing = output(c)?.expect(3)?;
    assert!(
        missing
            .stderr
            .contains(".local/share/pipeline-deps/registry.redb"),
        "{missing:?}"
    );
    Ok(())
}

#[test]
fn cjk_names_align_by_display_width() -> TestResult {
    let (dir, db) = temp()?;
    let six = subset(dir.path(), &SIX[..3], str::to_owned)?;
    for context in ["训练管道", "training", "推理"] {
        run(&db, &["import", context, s(&six)?])?.expect(0)?;
    }
    let cjk_steps = subset(dir.path(), &SIX[..2], |n| format!("步骤{n}"))?;
    run(&db, &["import", "训练管道", s(&cjk_steps)?])?.expect(0)?;
    for args in [&["contexts"][..], &["stats"], &["show", "训练管道"]] {
        let out = run(&db, args)?.expect(0)?.stdout;
        let table: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("CONTEXT") && !l.starts_with("STEP"))
            .collect();
        assert!(table.len() > 3, "{out}");
        // Right-aligned number columns end at the same display column on every line.
        let header = table[0];
        let (at, word) = ["STEPS", "DEPS"]
            .iter()
            .find_map(|w| header.find(w).map(|at| (at, *w)))
            .ok_or("no number column")?;
        let end = header[..at].width() + word.len();
        for line in &table[1..] {
            let prefix: String = line
                .chars()
                .scan(0, |w, c| {
                    *w += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                    (*w <= end).then_some(c)
                })
                .collect();
            assert_eq!(prefix.width(), end, "misaligned: {line:?}\n{out}");
            assert!(
                prefix.ends_with(|c: char| c.is_ascii_digit()),
                "misaligned: {line:?}\n{out}"
            );
        }
        for line in out.lines() {
            assert!(line.width() <= 100, "wider than 100 columns: {line:?}");
        }
    }
    Ok(())
}

#[test]
fn tables_fit_the_width_columns_asks_for() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let widest = |columns: Option<&str>, args: &[&str]| -> TestResult<usize> {
        let mut command = command(&db);
        command.args(args);
        if let Some(columns) = columns {
            command.env("COLUMNS", columns);
        }
        let out = output(command)?.expect(0)?.stdout;
        Ok(out.lines().map(UnicodeWidthStr::width).max().unwrap_or(0))
    };
    for args in [&["show", "fraud_detection_training"][..], &["stats"]] {
        // Piped, a table may take 100 columns; these take more than 60.
        let piped = widest(None, args)?;
        assert!((61..=100).contains(&piped), "{args:?}: {piped} columns");
        assert!(widest(Some("60"), args)? <= 60, "{args:?} with COLUMNS=60");
        // A width too narrow for a table, or not a number, is ignored.
        assert_eq!(widest(Some("20"), args)?, piped, "{args:?} with COLUMNS=20");
        assert_eq!(
            widest(Some("wide"), args)?,
            piped,
            "{args:?} with COLUMNS=wide"
        );
    }
    Ok(())
}

#[test]
fn a_long_database_path_is_printed_whole() -> TestResult {
    let (dir, _) = temp()?;
    let deep = dir.path().join("a".repeat(60)).join("b".repeat(60));
    std::fs::create_dir_all(&deep)?;
    let db = deep.join("registry.redb");
    run(&db, &["demo"])?.expect(0)?;
    let out = run(&db, &["stats"])?.expect(0)?.stdout;
    assert!(out.contains(s(&db)?), "the path was cut or wrapped:\n{out}");
    Ok(())
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() -> TestResult {
    let (_dir, db) = temp()?;
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef pipeline-deps"),
        ("fish", "complete -c pipeline-deps"),
    ] {
        let out = run(&db, &["completions", shell])?.expect(0)?;
        assert!(out.stdout.contains(marker), "{shell}: {}", out.stdout);
        assert!(out.stdout.contains("check-snapshot"), "{shell}");
    }
    run(&db, &["completions", "tcsh"])?.expect(2)?;
    // A script has no JSON form: under --json, a usage error as a JSON document, no script.
    let json = run(&db, &["completions", "bash", "--json"])?.expect(2)?;
    assert!(json.stdout.is_empty(), "{}", json.stdout);
    let error: Value = serde_json::from_str(json.stderr.trim())?;
    assert_eq!(error["kind"], "usage", "{error}");
    assert!(!db.exists(), "completions touched the database");
    Ok(())
}

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
