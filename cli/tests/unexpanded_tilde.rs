//! A database path that begins with `~/` reached the tool unexpanded (quoted, or from
//! `PIPELINE_DEPS_DB`): it is a usage error (exit 2, JSON under `--json`) that creates
//! nothing, where it created a directory named `~` in the current directory.

mod common;

use std::process::Command;

use common::{BIN, TestResult, hermetic, output, s, temp};
use serde_json::Value;

#[test]
fn an_unexpanded_tilde_in_a_database_path_is_a_usage_error_that_creates_nothing() -> TestResult {
    let (dir, db) = temp()?;
    let run_in = |env: Option<&str>, args: &[&str]| {
        let mut c = Command::new(BIN);
        hermetic(&mut c);
        c.current_dir(dir.path()).args(args);
        if let Some(value) = env {
            c.env("PIPELINE_DEPS_DB", value);
        }
        output(c)
    };
    let people = run_in(Some("~/registry.redb"), &["demo"])?.expect(2)?;
    assert!(people.stderr.contains("~/registry.redb"), "{people:?}");
    assert!(people.stderr.contains("$HOME"), "{people:?}");
    let people = run_in(None, &["--db", "~/registry.redb", "stats"])?.expect(2)?;
    assert!(people.stdout.is_empty(), "{people:?}");
    let json = run_in(None, &["--db", "~/r.redb", "import", "x", "-", "--json"])?.expect(2)?;
    let error: Value = serde_json::from_str(&json.stderr)?;
    assert_eq!(error["kind"], "usage", "{error}");
    assert_eq!(error["exit_code"], 2, "{error}");
    run_in(None, &["--db", s(&db)?, "copy", "--to", "~/copy.redb"])?.expect(2)?;
    run_in(
        None,
        &[
            "--db",
            s(&db)?,
            "copy",
            "--from",
            "~/x.redb",
            "--to",
            "c.redb",
        ],
    )?
    .expect(2)?;
    assert!(
        !dir.path().join("~").exists(),
        "a directory named ~ was created"
    );
    assert!(!dir.path().join("c.redb").exists());

    // A directory that is named `~` is reached as ./~/….
    run_in(None, &["--db", "./~/registry.redb", "demo"])?.expect(0)?;
    assert!(dir.path().join("~").join("registry.redb").is_file());
    Ok(())
}
