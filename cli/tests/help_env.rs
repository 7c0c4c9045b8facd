//! `--help` shows the value of `PIPELINE_DEPS_DB` (clap's `[env: …=VALUE]`), but never a
//! password it holds: a server URL with a password in it is shown as the variable's name
//! only, a file path or a URL without a password as it is; an empty one (read as unset)
//! is named as an unset one is.

mod common;

use std::process::Command;

use common::{BIN, TestResult, hermetic, output};

/// What `pipeline-deps <args>` prints with `PIPELINE_DEPS_DB=value`: standard output and
/// standard error together.
fn shown_with(value: &str, args: &[&str]) -> TestResult<String> {
    let mut command = Command::new(BIN);
    command.args(args);
    hermetic(&mut command);
    // Wide enough that no `[env: …]` note is wrapped.
    command
        .env("PIPELINE_DEPS_DB", value)
        .env("COLUMNS", "1000");
    let run = output(command)?;
    Ok(format!("{}{}", run.stdout, run.stderr))
}

#[test]
fn help_never_shows_a_password_from_pipeline_deps_db() -> TestResult {
    for secret_url in [
        "postgres://bob:s3cret@db.example/registry",
        "postgresql://bob@db.example/registry?password=s3cret&sslmode=require",
        "postgres://bob:p@s3cret@db.example/registry",
    ] {
        for args in [
            &["--help"][..],
            &["-h"],
            &["help", "stats"],
            &["stats", "--help"],
        ] {
            let shown = shown_with(secret_url, args)?;
            assert!(
                shown.contains("[env: PIPELINE_DEPS_DB]"),
                "{args:?}: {shown}"
            );
            assert!(
                !shown.contains("s3cret"),
                "{args:?} shows the password: {shown}"
            );
        }
    }
    // Without a password the value helps (which database a command would use): shown.
    for plain in ["postgres://bob@db.example/registry", "/srv/registry.redb"] {
        let shown = shown_with(plain, &["--help"])?;
        assert!(
            shown.contains(&format!("[env: PIPELINE_DEPS_DB={plain}]")),
            "{shown}"
        );
    }
    Ok(())
}

#[test]
fn help_names_pipeline_deps_db_when_it_is_empty_as_when_it_is_unset() -> TestResult {
    let mut unset = Command::new(BIN);
    unset.arg("--help");
    hermetic(&mut unset).env("COLUMNS", "1000");
    let unset = output(unset)?.stdout;
    assert!(unset.contains("[env: PIPELINE_DEPS_DB=]"), "{unset}");
    assert_eq!(shown_with("", &["--help"])?, unset);
    Ok(())
}
