//! Invariant: a library error reaches the user once: the message (which names no command),
//! each cause once on its own `caused by:` line, and the CLI's own hint for the error's kind;
//! a long name is cut once, with its true length; an output file that cannot be created
//! names its directory, never a temporary file; a relative database path is named in full.

use std::process::Command;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline-deps");

/// Runs the binary; returns (exit code, stderr).
fn run(args: &[&std::ffi::OsStr]) -> TestResult<(i32, String)> {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("PIPELINE_DEPS_DB")
        .output()?;
    Ok((
        output.status.code().ok_or("killed by a signal")?,
        String::from_utf8(output.stderr)?,
    ))
}

#[test]
fn invalid_json_prints_the_parser_message_once_as_the_cause() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("registry.redb");
    let input = dir.path().join("bad.json");
    std::fs::write(&input, "{\"steps\": [}")?;
    let (code, stderr) = run(&[
        "--db".as_ref(),
        db.as_os_str(),
        "import".as_ref(),
        "ml".as_ref(),
        input.as_os_str(),
    ])?;
    assert_eq!(code, 4, "{stderr}");
    let Err(parse) = serde_json::from_str::<serde_json::Value>("{\"steps\": [}") else {
        return Err("the input parsed".into());
    };
    let parser_message = parse.to_string();
    assert_eq!(
        stderr.matches(&parser_message).count(),
        1,
        "the parser's message must appear exactly once:\n{stderr}"
    );
    let first = stderr.lines().next().ok_or("no stderr")?;
    assert!(
        first.starts_with("pipeline-deps: error: invalid input in "),
        "{stderr}"
    );
    assert!(first.contains("line 1, column 12"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("  caused by: {parser_message}")),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn a_foreign_file_gets_the_cli_hint_and_a_message_without_commands() -> TestResult {
    let dir = tempfile::tempdir()?;
    // A name a shell would split: the hint's command must still paste as it is.
    let db = dir.path().join("team's notes.txt");
    std::fs::write(&db, vec![b'x'; 8192])?;
    let (code, stderr) = run(&["--db".as_ref(), db.as_os_str(), "stats".as_ref()])?;
    assert_eq!(code, 3, "{stderr}");
    let first = stderr.lines().next().ok_or("no stderr")?;
    assert!(
        first.contains("is not a pipeline-deps registry database"),
        "{stderr}"
    );
    assert!(
        !first.contains("`pipeline-deps"),
        "the library message names a command: {first}"
    );
    let hints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("  hint: "))
        .collect();
    assert_eq!(hints.len(), 1, "{stderr}");
    // The hint's command names this file and, pasted into a shell, checks it.
    let command = hints[0]
        .split('`')
        .nth(1)
        .ok_or("the hint names no command")?;
    assert!(command.ends_with(" check"), "{stderr}");
    let pasted = Command::new("sh")
        .arg("-c")
        .arg(command.replacen("pipeline-deps", "\"$BIN\"", 1))
        .env("BIN", BIN)
        .env_remove("PIPELINE_DEPS_DB")
        .output()?;
    assert_eq!(pasted.status.code(), Some(1), "{command}: {pasted:?}");
    let report = String::from_utf8(pasted.stdout)?;
    assert!(report.contains("team's notes.txt"), "{report}");
    assert!(report.contains("not a redb database"), "{report}");
    Ok(())
}

#[test]
fn a_long_invalid_step_name_is_cut_once_with_its_true_length() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("registry.redb");
    let input = dir.path().join("long.json");
    let name = "L".repeat(2000);
    std::fs::write(
        &input,
        format!(
            r#"{{"steps": [{{"step_name": "{name}", "step_type": "T", "node_type": "singular"}}]}}"#
        ),
    )?;
    let (code, stderr) = run(&[
        "--db".as_ref(),
        db.as_os_str(),
        "import".as_ref(),
        "c".as_ref(),
        input.as_os_str(),
    ])?;
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("… (2000 bytes)'"), "{stderr}");
    assert!(!stderr.contains("……"), "{stderr}");
    Ok(())
}

#[test]
fn an_output_into_a_missing_directory_names_the_directory_not_a_temporary_file() -> TestResult {
    // Not tempfile's `.tmp` prefix: a temporary file's name must appear nowhere.
    let dir = tempfile::Builder::new().prefix("outputs").tempdir()?;
    let db = dir.path().join("registry.redb");
    let (code, stderr) = run(&["--db".as_ref(), db.as_os_str(), "demo".as_ref()])?;
    assert_eq!(code, 0, "{stderr}");
    let missing = dir.path().join("no such dir");
    for (command, file) in [("export", "out.json"), ("snapshot", "edges.json")] {
        let output = missing.join(file);
        let (code, stderr) = run(&[
            "--db".as_ref(),
            db.as_os_str(),
            command.as_ref(),
            "unit_tests".as_ref(),
            "-o".as_ref(),
            output.as_os_str(),
        ])?;
        assert_eq!(code, 3, "{command}: {stderr}");
        let wanted = format!(
            "  caused by: cannot create a file in directory {}: ",
            missing.display()
        );
        assert!(stderr.contains(&wanted), "{command}: {stderr}");
        assert!(!stderr.contains(".tmp"), "{command}: {stderr}");
    }
    Ok(())
}

#[test]
fn a_relative_database_path_is_named_in_full() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("notes.txt"), "not a registry")?;
    let output = Command::new(BIN)
        .args(["--db", "notes.txt", "stats"])
        .current_dir(dir.path())
        .env_remove("PIPELINE_DEPS_DB")
        .output()?;
    let stderr = String::from_utf8(output.stderr)?;
    let full = dir.path().canonicalize()?.join("notes.txt");
    let first = stderr.lines().next().ok_or("no stderr")?;
    assert!(first.contains(&full.display().to_string()), "{stderr}");
    Ok(())
}

#[test]
fn a_mistyped_server_url_is_a_usage_error_that_creates_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    for args in [
        vec!["--db", "postgress://ci@db/registry", "demo"],
        vec!["--db", "postgress://ci@db/registry", "contexts"],
        vec![
            "copy",
            "--from",
            "x.redb",
            "--to",
            "postgresq://ci@db/registry",
        ],
        vec!["copy", "--from", "sqlite://x.db", "--to", "y.redb"],
        vec!["--db", ":memory:", "demo"],
        vec!["--db", "postgres:/ci:hunter2@db/registry", "demo"],
        vec!["--db", "postgres:ci:hunter2@db/registry", "stats"],
        vec!["--db", " postgres://ci:hunter2@db/registry", "demo"],
        vec!["--db", "mysql://ci:hunter2@db/registry", "demo"],
    ] {
        let output = Command::new(BIN)
            .args(&args)
            .current_dir(dir.path())
            .env_remove("PIPELINE_DEPS_DB")
            .output()?;
        let stderr = String::from_utf8(output.stderr)?;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("written as a URL")
                || stderr.contains("looks like a PostgreSQL URL")
                || stderr.contains(":memory: names no file"),
            "{stderr}"
        );
        assert!(stderr.contains("./"), "{stderr}");
        // The option (or the database) is the subject of the sentence.
        let subject = match args[0] {
            "copy" if args[2].contains("://") => "--from ",
            "copy" => "--to ",
            _ => "the database ",
        };
        assert!(
            stderr.starts_with(&format!("pipeline-deps: error: {subject}")),
            "{stderr}"
        );
        // A URL may hold a password: the message never repeats it.
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0, "{args:?}");
    }
    Ok(())
}

#[test]
fn an_error_in_an_input_document_names_the_document() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("registry.redb");
    let cases = [
        ("syntax.json", "{\"steps\": [}", "import"),
        (
            "unknown.json",
            "{\"schema\": \"pipeline-deps-export/v1\", \"steps\": [{\"step_name\": \"a\", \"step_type\": \"T\", \"node_type\": \"singular\", \"outputz\": {}}]}",
            "import",
        ),
        (
            "invalid.json",
            "{\"schema\": \"pipeline-deps-export/v1\", \"steps\": [{\"step_name\": \"a\", \"step_type\": \" \", \"node_type\": \"singular\"}]}",
            "import",
        ),
        (
            "export.json",
            "{\"schema\": \"pipeline-deps-export/v1\", \"steps\": []}",
            "check-snapshot",
        ),
    ];
    for (name, text, command) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, text)?;
        let (code, stderr) = run(&[
            "--db".as_ref(),
            db.as_os_str(),
            command.as_ref(),
            "ml".as_ref(),
            input.as_os_str(),
        ])?;
        assert_eq!(code, 4, "{name}: {stderr}");
        let first = stderr.lines().next().ok_or("no stderr")?;
        assert!(
            first.contains(&input.display().to_string()),
            "{name}: {stderr}"
        );
        // Advice is given once, as the CLI's flag, not also as the library's option.
        assert!(!first.contains("allow unknown fields"), "{name}: {stderr}");
    }
    Ok(())
}
