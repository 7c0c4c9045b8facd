//! Helpers shared by the process tests of ordinary behaviour (`cli.rs`, `contracts.rs`,
//! `golden.rs`, the PostgreSQL ones and the others that declare `mod common`): run the real
//! binary on a database and read what it printed. The
//! adversarial suite has its own harness (`support/`), with timeouts and signal checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

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

/// Set in a re-executed copy of a test binary: hold this database open ([`Holder`]).
const HOLD_ENV: &str = "PIPELINE_DEPS_CLI_TEST_HOLD";
/// `single` or `exclusive`.
const HOLD_MODE_ENV: &str = "PIPELINE_DEPS_CLI_TEST_HOLD_MODE";
/// What the holder prints once it holds the database.
const READY: &str = "HOLDER-READY";

/// A copy of the running test binary holding a database open, in single-writer (`single`)
/// or exclusive (`exclusive`) mode, with a commit of its own (context `held`), until its
/// stdin closes. The binary must have a test named `holder_process` that calls
/// [`hold_if_asked`].
pub struct Holder {
    child: std::process::Child,
    /// The child's stdout, kept open (and drained at the end) so it can report its result.
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Holder {
    /// Starts the holder and waits until it holds `db`.
    pub fn start(db: &Path, mode: &str) -> TestResult<Holder> {
        use std::io::BufRead;
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "--exact",
                "holder_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOLD_ENV, db)
            .env(HOLD_MODE_ENV, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().ok_or("no holder stdout")?);
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                let _ = child.wait();
                return Err("the holder exited before holding the database".into());
            }
            if line.contains(READY) {
                return Ok(Holder { child, stdout });
            }
        }
    }

    /// Lets the holder close the database and checks that it succeeded.
    pub fn stop(mut self) -> TestResult {
        use std::io::Read;
        drop(self.child.stdin.take());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest)?;
        let status = self.child.wait()?;
        assert!(status.success(), "holder failed: {status}\n{rest}");
        Ok(())
    }
}

/// The body of a [`Holder`] in the child process (the test `holder_process`): holds the
/// database its environment names until stdin closes. Without that environment (the test
/// run as a test) it does nothing.
pub fn hold_if_asked() -> TestResult {
    use std::io::{Read, Write};
    let Some(db) = std::env::var_os(HOLD_ENV) else {
        return Ok(());
    };
    let mode = match std::env::var(HOLD_MODE_ENV).as_deref() {
        Ok("exclusive") => pipeline_deps::Concurrency::Exclusive,
        _ => pipeline_deps::Concurrency::SingleWriter,
    };
    let manager = pipeline_deps::RegistryManager::builder()
        .concurrency(mode)
        .open(&db)?;
    let registry = manager.get_registry("held")?;
    registry.upsert(
        "writer_step",
        &pipeline_deps::StepSpecification::new("Writer", pipeline_deps::NodeType::Source)
            .with_output(pipeline_deps::OutputSpec::new(
                "out",
                pipeline_deps::DependencyType::ProcessingOutput,
                "properties.Out",
            )),
    )?;
    println!("{READY}");
    std::io::stdout().flush()?;
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink)?;
    drop(manager);
    Ok(())
}

/// The context names a `contexts --json` document lists, in its order.
pub fn context_names(contexts: &Value) -> TestResult<Vec<&str>> {
    Ok(contexts["contexts"]
        .as_array()
        .ok_or("no contexts array")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect())
}

/// Writes a fixture-format file holding only the given steps of the real fixture.
pub fn fixture_subset(dir: &Path, steps: &[&str]) -> TestResult<PathBuf> {
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE)?)?;
    let all = doc["steps"]
        .as_array()
        .ok_or("fixture has no steps")?
        .clone();
    let kept: Vec<Value> = steps
        .iter()
        .map(|name| {
            all.iter()
                .find(|s| s["step_name"] == *name)
                .cloned()
                .ok_or_else(|| format!("fixture lacks {name}"))
        })
        .collect::<Result<_, _>>()?;
    doc["steps"] = Value::Array(kept);
    let path = dir.join("subset.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
    Ok(path)
}

/// Writes a fixture-format file of `steps` of the real fixture, renamed by `rename`.
pub fn subset(dir: &Path, steps: &[&str], rename: impl Fn(&str) -> String) -> TestResult<PathBuf> {
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
pub fn assert_no_raw_controls(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in {text:?}");
}
