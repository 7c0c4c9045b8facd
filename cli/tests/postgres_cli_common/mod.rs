//! Helpers of the binary's PostgreSQL tests (`postgres_cli.rs`, `postgres_cli_connect.rs`):
//! run the binary without the caller's libpq variables, read its JSON, and take a fresh
//! database on the throw-away cluster. The including test declares `common` and
//! `pg_cluster`.
#![allow(dead_code)]

use std::process::Command;

use serde_json::Value;

use crate::common::{BIN, Run, TestResult, output, without_libpq_env};
use crate::pg_cluster;

pub fn run(args: &[&str], env: &[(&str, &str)]) -> TestResult<Run> {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("PIPELINE_DEPS_DB");
    without_libpq_env(&mut command);
    for (key, value) in env {
        command.env(key, value);
    }
    output(command)
}

pub fn json(run: &Run) -> TestResult<Value> {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    Ok(serde_json::from_str(&run.stdout)?)
}

/// A fresh database URL, or `None` when skipped.
pub fn database(test: &str) -> TestResult<Option<String>> {
    let Some(server) = pg_cluster::server(test)? else {
        return Ok(None);
    };
    Ok(Some(server.database(test)?))
}
