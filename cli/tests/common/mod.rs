//! Helpers shared by the process tests of ordinary behaviour (`cli.rs`, `contracts.rs`,
//! `golden.rs`, the PostgreSQL ones): run the real binary on a database and read what it
//! printed. The
//! adversarial suite has its own harness (`support/`), with timeouts and signal checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The error type of these tests.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pipeline-deps");

/// The real step specifications (cursus fixture format).
pub const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/cursus-step-specs.json"
);

/// The steps of the Python reference's resolved-edge snapshot test, in its order.
pub const SIX: [&str; 6] = [
    "TabularPreprocessing",
    "XGBoostTraining",
    "XGBoostModel",
    "Package",
    "Payload",
    "Registration",
];

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when a signal ended the process).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output parsed as one JSON document.
    pub fn json(&self) -> TestResult<Value> {
        serde_json::from_str(&self.stdout)
            .map_err(|e| format!("stdout is not JSON ({e}):\n{}", self.stdout).into())
    }

    /// This run, if it exited with `code`; else an error showing it.
    pub fn expect(self, code: i32) -> TestResult<Run> {
        if self.code == code {
            Ok(self)
        } else {
            Err(format!("expected exit code {code}, got {self:#?}").into())
        }
    }
}

/// `pipeline-deps --db <db>`, with stdin closed and none of `PIPELINE_DEPS_DB`, `RUST_LOG`
/// and `COLUMNS` inherited.
pub fn command(db: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.arg("--db").arg(db);
    hermetic(&mut command);
    command
}

/// Closes stdin and drops `PIPELINE_DEPS_DB`, `RUST_LOG` and `COLUMNS` from the
/// environment.
pub fn hermetic(command: &mut Command) -> &mut Command {
    command
        .env_remove("PIPELINE_DEPS_DB")
        .env_remove("RUST_LOG")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
}

/// Drops libpq's `PG*` variables of the test's own environment, which would fill in what a
/// PostgreSQL test's URL leaves out (each test sets the ones it is about).
pub fn without_libpq_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
    command
}

/// Runs `command` to its end.
pub fn output(mut command: Command) -> TestResult<Run> {
    let out = command.output()?;
    Ok(Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout)?,
        stderr: String::from_utf8(out.stderr)?,
    })
}

/// Runs `command` to its end after making it [`hermetic`].
pub fn run_command(mut command: Command) -> TestResult<Run> {
    hermetic(&mut command);
    output(command)
}

/// Runs `pipeline-deps --db <db> <args>` (see [`command`]).
pub fn run(db: &Path, args: &[&str]) -> TestResult<Run> {
    let mut command = command(db);
    command.args(args);
    output(command)
}

/// A temporary directory and the path of a database file in it (not created).
pub fn temp() -> TestResult<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("registry.redb");
    Ok((dir, db))
}

/// `path` as text (temporary paths are UTF-8 here).
pub fn s(path: &Path) -> TestResult<&str> {
    path.to_str().ok_or_else(|| "non-UTF-8 temp path".into())
}

/// The command that runs `pipeline-deps --db <db> <args>` on a terminal of its own
/// (util-linux `script`), without the environment that would change what it prints; `None`
/// when `script` is not installed.
pub fn script(db: &Path, args: &str) -> TestResult<Option<Command>> {
    if Command::new("script").arg("--version").output().is_err() {
        return Ok(None);
    }
    let line = format!("{BIN} --db {} {args}", s(db)?);
    let mut script = Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .env_remove("PIPELINE_DEPS_DB")
        .env_remove("RUST_LOG")
        .env_remove("COLUMNS");
    Ok(Some(script))
}

/// What `pipeline-deps --db <db> <args>` printed on a terminal (util-linux `script` gives it
/// one; standard output and error both reach it) and its exit code (-1 when a signal ended
/// it), with `typed` typed into the terminal; `None` when `script` is not installed (the
/// caller says it skipped).
pub fn on_terminal(db: &Path, args: &str, typed: &str) -> TestResult<Option<(i32, String)>> {
    use std::io::Write;
    let Some(mut script) = script(db, args)? else {
        return Ok(None);
    };
    let mut child = script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Typed, then the end of input.
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(typed.as_bytes())?;
    let output = child.wait_with_output()?;
    Ok(Some((
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )))
}
