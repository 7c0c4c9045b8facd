//! Invariant: a role that may connect to a database holding a registry but may not read its
//! tables is told it lacks a privilege (`permission_denied`, exit 3) by every command, read
//! or write, never that the database is no registry; and nothing of its commands is applied.
#![cfg(feature = "postgres")]

#[path = "../../tests/support/pg_cluster.rs"]
mod pg_cluster;

mod common;

use std::process::Command;

use serde_json::Value;

use common::{BIN, Run, TestResult, hermetic, output, without_libpq_env};

fn run(args: &[&str]) -> TestResult<Run> {
    let mut command = Command::new(BIN);
    command.args(args);
    without_libpq_env(hermetic(&mut command));
    output(command)
}

/// `stats --json` as the owner, without the `database` key.
fn stats(url: &str) -> TestResult<Value> {
    let out = run(&["--db", url, "--json", "stats"])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut doc: Value = serde_json::from_str(&out.stdout)?;
    doc.as_object_mut().map(|o| o.remove("database"));
    Ok(doc)
}

#[test]
fn a_role_that_may_not_read_the_registry_is_told_it_lacks_a_privilege() -> TestResult {
    let test = "no_select_role";
    let Some(server) = pg_cluster::owned_server(test)? else {
        return Ok(());
    };
    let url = server.database(test)?;
    let dir = tempfile::tempdir()?;
    let document = dir.path().join("unit_tests.json");
    let document = document.to_str().ok_or("path")?;
    // The owner builds the registry; the role may connect (PUBLIC's CONNECT) and nothing
    // else: no SELECT on the registry's tables.
    let demo = run(&["--db", &url, "demo"])?;
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    let export = run(&["--db", &url, "export", "unit_tests", "-o", document])?;
    assert_eq!(export.code, 0, "{}", export.stderr);
    let before = stats(&url)?;
    let mut owner = postgres::Client::connect(&url, postgres::NoTls)?;
    owner.batch_execute(
        "DO $$ BEGIN CREATE ROLE pd_cli_no_select LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
    )?;
    let role = url.replacen("postgres://postgres@", "postgres://pd_cli_no_select@", 1);

    let commands: [&[&str]; 8] = [
        &["stats"],
        &["contexts"],
        &["show", "unit_tests"],
        &["export", "unit_tests"],
        &["resolve", "unit_tests"],
        &["import", "unit_tests", document, "--replace"],
        &["clear", "unit_tests"],
        &["clear-all", "--yes"],
    ];
    for command in commands {
        let mut args = vec!["--db", role.as_str(), "--json"];
        args.extend_from_slice(command);
        let out = run(&args)?;
        assert_eq!(out.code, 3, "{command:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{command:?}: {}", out.stdout);
        let error: Value = serde_json::from_str(out.stderr.trim())?;
        assert_eq!(error["kind"], "permission_denied", "{command:?}: {error}");

        let mut args = vec!["--db", role.as_str()];
        args.extend_from_slice(command);
        let out = run(&args)?;
        assert_eq!(out.code, 3, "{command:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("lacks a privilege") && out.stderr.contains("permission denied"),
            "{command:?}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("not a pipeline-deps registry"),
            "{command:?}: {}",
            out.stderr
        );
    }
    assert_eq!(stats(&url)?, before, "nothing was applied");

    // Granted SELECT, the role reads (and its writes are still refused as a privilege).
    owner.batch_execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO pd_cli_no_select")?;
    let reading = run(&["--db", &role, "--json", "stats"])?;
    assert_eq!(reading.code, 0, "{}", reading.stderr);
    let write = run(&["--db", &role, "--json", "clear", "unit_tests"])?;
    assert_eq!(write.code, 3, "{}", write.stderr);
    let error: Value = serde_json::from_str(write.stderr.trim())?;
    assert_eq!(error["kind"], "permission_denied", "{error}");
    assert_eq!(stats(&url)?, before, "nothing was applied");
    Ok(())
}
