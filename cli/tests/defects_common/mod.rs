//! Helpers of the issue-9 defect tests (`defects.rs`, `defects_damaged.rs`): run the real
//! binary on a database under a timeout, read its exit code and output, and make the
//! databases and import documents those tests start from.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub const BIN: &str = env!("CARGO_BIN_EXE_pipeline-deps");
/// Every run gets this long; a hang fails the test instead of blocking it.
pub const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Run {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn command(db: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("PIPELINE_DEPS_DB")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the binary to the end within [`TIMEOUT`].
pub fn run(db: &Path, args: &[&str]) -> TestResult<Run> {
    let mut child = command(db, args).spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            child.kill()?;
            child.wait()?;
            return Err(format!("pipeline-deps {args:?} on {} hung", db.display()).into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Run {
        code: status.code(),
        stdout: out.join().map_err(|_| "reader thread")?,
        stderr: err.join().map_err(|_| "reader thread")?,
    })
}

pub fn expect(run: Run, code: i32) -> TestResult<Run> {
    if run.code == Some(code) {
        Ok(run)
    } else {
        Err(format!("expected exit code {code}, got {run:#?}").into())
    }
}

/// An import document of `n` steps named `prefix0..`.
pub fn document(prefix: &str, n: usize) -> String {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "step_name": format!("{prefix}{i}"),
                "step_type": format!("Type{}", i % 11),
                "node_type": "internal",
                "dependencies": {},
                "outputs": {"out": {
                    "logical_name": "out",
                    "output_type": "processing_output",
                    "property_path": "properties.Out"
                }}
            })
        })
        .collect();
    json!({ "steps": steps }).to_string()
}

pub fn write_doc(dir: &Path, name: &str, prefix: &str, n: usize) -> TestResult<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, document(prefix, n))?;
    Ok(path)
}

/// Context name → step count, from `contexts --json`.
pub fn counts(db: &Path) -> TestResult<Vec<(String, u64)>> {
    parse_counts(&expect(run(db, &["--json", "contexts"])?, 0)?)
}

pub fn parse_counts(run: &Run) -> TestResult<Vec<(String, u64)>> {
    let value: Value = serde_json::from_str(&run.stdout)?;
    let list = value
        .get("contexts")
        .and_then(Value::as_array)
        .or_else(|| value.as_array())
        .ok_or_else(|| format!("unexpected contexts JSON: {}", run.stdout))?;
    list.iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).ok_or("no name")?;
            let steps = c
                .get("step_count")
                .and_then(Value::as_u64)
                .ok_or("no count")?;
            Ok((name.to_owned(), steps))
        })
        .collect()
}

/// A database with context `base` (10 steps), closed cleanly.
pub fn base_db(dir: &Path) -> TestResult<PathBuf> {
    let db = dir.join("r.redb");
    let doc = write_doc(dir, "base.json", "base", 10)?;
    expect(
        run(&db, &["import", "base", &doc.display().to_string()])?,
        0,
    )?;
    Ok(db)
}

/// [`base_db`] plus context `other` (300 steps): the file the damage tests flip bits in.
pub fn two_context_db(dir: &Path) -> TestResult<PathBuf> {
    let db = base_db(dir)?;
    let other = write_doc(dir, "other.json", "o", 300)?;
    expect(
        run(&db, &["import", "other", &other.display().to_string()])?,
        0,
    )?;
    Ok(db)
}

/// Mounts a tmpfs of `size` at `dir` (root only); false when that is not possible here.
#[cfg(unix)]
pub fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
