//! Invariant: what the terminal shows for a failure the PostgreSQL server reports is the tool's
//! message naming the server, then the server's own error as its cause (`ERROR: …`), with the
//! command's exit code: never the client library's wrapper line ("db error", which said
//! nothing and stood under every such message), never panic text; `--json` lists the same
//! causes.
#![cfg(feature = "postgres")]

#[path = "../../tests/support/pg_cluster.rs"]
mod pg_cluster;

mod common;

use std::process::Command;

use common::{BIN, FIXTURE, Run, TestResult, output, without_libpq_env};

fn run(args: &[&str]) -> TestResult<Run> {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("PIPELINE_DEPS_DB");
    without_libpq_env(&mut command);
    output(command)
}

/// Checks a failed run's terminal text: its exit code, a first line naming the server, the
/// server's error among the causes, and no wrapper line or panic text.
fn check_terminal(what: &str, run: &Run, code: i32, server_says: &str) {
    assert_eq!(run.code, code, "{what}: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("pipeline-deps: error: ") && l.contains("postgres://")),
        "{what}: {}",
        run.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start().starts_with("caused by: ") && l.contains(server_says)),
        "{what}: the server's error among the causes: {}",
        run.stderr
    );
    for line in &lines {
        assert_ne!(line.trim(), "caused by: db error", "{what}: {}", run.stderr);
        assert!(!line.contains("panicked"), "{what}: {}", run.stderr);
    }
}

#[test]
fn a_server_s_error_is_shown_as_its_own_cause_without_the_client_s_wrapper() -> TestResult {
    let test = "terminal_causes";
    let Some(server) = pg_cluster::server(test)? else {
        return Ok(());
    };
    // A registry whose database then refuses writes (as a hot standby does).
    let read_only = server.database("terminal_read_only")?;
    assert_eq!(run(&["--db", &read_only, "demo"])?.code, 0);
    let name = read_only.rsplit('/').next().unwrap_or_default().to_owned();
    let mut admin = postgres::Client::connect(&server.admin_url(), postgres::NoTls)?;
    admin.batch_execute(&format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"
    ))?;
    let refused = run(&["--db", &read_only, "clear", "unit_tests"])?;
    check_terminal("read-only", &refused, 3, "ERROR: cannot execute");

    // A setting of the URL's options the server refuses (invalid input).
    let setting = format!("{read_only}?options=-c%20lock_timeout%3Dbanana");
    let refused = run(&["--db", &setting, "stats"])?;
    check_terminal("a refused setting", &refused, 4, "\"banana\"");

    // A registry whose table was dropped by hand (a storage error).
    let damaged = server.database("terminal_damaged")?;
    assert_eq!(run(&["--db", &damaged, "import", "a", FIXTURE])?.code, 0);
    let mut owner = postgres::Client::connect(&damaged, postgres::NoTls)?;
    owner.batch_execute("DROP TABLE pd_step_types")?;
    let refused = run(&["--db", &damaged, "import", "b", FIXTURE])?;
    check_terminal("a dropped table", &refused, 3, "pd_step_types");

    // Under --json the causes are the same: the server's error, no wrapper.
    let refused = run(&["--db", &read_only, "--json", "clear", "unit_tests"])?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    let error: serde_json::Value = serde_json::from_str(&refused.stderr)?;
    let causes = error["causes"].as_array().ok_or("causes")?;
    assert!(
        causes.iter().any(|c| c
            .as_str()
            .is_some_and(|c| c.contains("ERROR: cannot execute"))),
        "{error}"
    );
    assert!(!causes.iter().any(|c| c == "db error"), "{error}");
    Ok(())
}
