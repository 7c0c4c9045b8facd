//! What scripts and terminals may rely on, checked on the real binary: exit codes
//! (`--fail-on-unresolved`, idempotent `clear`), logs on stderr only (`-v`, `-q`,
//! `RUST_LOG`), `PIPELINE_DEPS_DB` shown in `--help`, tables aligned by display width (CJK),
//! tables fitted to `$COLUMNS` when it asks for a usable width, and completions for three
//! shells. Output for people (progress, bounded errors, escaped names) is in
//! `output_for_people.rs`; standard error under `--json` in `json_stderr.rs`.

use std::process::{Command, Stdio};

use serde_json::{Value, json};
use unicode_width::UnicodeWidthStr;

mod common;
use common::{BIN, SIX, TestResult, assert_no_raw_controls, command, output, run, s, subset, temp};

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
