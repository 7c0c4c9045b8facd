//! Shared helpers of the outside-in adversarial suite (`adversarial_*.rs`): run the real
//! `pipeline-deps` binary as a process under a timeout, and judge every run against the
//! documented contract (exit codes 0–4 only, never a signal, never a hang, never panic text).
//!
//! Scale: `PIPELINE_DEPS_ADVERSARIAL=heavy` selects the heavy mode whose figures RELIABILITY.md
//! reports; the default keeps the whole suite to a few minutes of a debug build.
//! `PIPELINE_DEPS_SEED=<n>` replays a randomised run (each test prints its seed).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../common/mod.rs"]
mod common;
/// The error type, the binary under test and the real step specifications, as in the
/// ordinary process tests.
pub use common::{BIN, FIXTURE, TestResult};

/// A run that takes longer than this is a hang, which fails the test.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The exit codes of the README's table.
pub const DOCUMENTED_CODES: [i32; 5] = [0, 1, 2, 3, 4];

/// Whether `PIPELINE_DEPS_ADVERSARIAL=heavy` asks for the heavy mode.
pub fn heavy() -> bool {
    std::env::var("PIPELINE_DEPS_ADVERSARIAL").is_ok_and(|v| v == "heavy")
}

/// `default` in the ordinary run, `heavy` in the heavy mode.
pub fn scale(default: usize, heavy_value: usize) -> usize {
    if heavy() { heavy_value } else { default }
}

/// The seed of a randomised test: `PIPELINE_DEPS_SEED`, else the clock. Printed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("PIPELINE_DEPS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("{test}: PIPELINE_DEPS_SEED={seed}");
    seed
}

/// A small deterministic generator (xorshift64*), enough to pick offsets and moments.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// How a run of the binary ended.
#[derive(Debug)]
pub struct Run {
    /// What was run, for messages.
    pub what: String,
    /// The exit code, when the process exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Killed by this harness after [`TIMEOUT`].
    pub timed_out: bool,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

/// Panic text that must never reach a user, and the CLI's own report of a bug (exit 101),
/// which damaged files or hostile input must never cause: the library contains the storage
/// engine's panics and turns them into errors.
const PANIC_MARKERS: [&str; 5] = [
    "panicked",
    "RUST_BACKTRACE",
    "stack backtrace",
    "thread 'main'",
    "internal error",
];

impl Run {
    /// Standard output as text (lossy).
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (lossy).
    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Standard output as JSON.
    pub fn json(&self) -> TestResult<Value> {
        serde_json::from_slice(&self.stdout).map_err(|e| {
            format!(
                "{}: stdout is not JSON ({e}):\n{}",
                self.what,
                shorten(&self.out())
            )
            .into()
        })
    }

    /// The contract every run keeps, whatever its input: it ended on its own within the
    /// timeout, by an exit code of the documented table, and printed no panic text.
    pub fn contract(&self) -> TestResult<&Self> {
        let stderr = self.err();
        if self.timed_out {
            return Err(format!("{}: hung (killed after {TIMEOUT:?})", self.what).into());
        }
        if let Some(signal) = self.signal {
            return Err(format!(
                "{}: died by signal {signal}; stderr:\n{}",
                self.what,
                shorten(&stderr)
            )
            .into());
        }
        match self.code {
            Some(code) if DOCUMENTED_CODES.contains(&code) => {}
            code => {
                return Err(format!(
                    "{}: exit code {code:?} is not in the documented table; stderr:\n{}",
                    self.what,
                    shorten(&stderr)
                )
                .into());
            }
        }
        if let Some(marker) = PANIC_MARKERS.iter().find(|m| stderr.contains(*m)) {
            return Err(format!(
                "{}: panic text {marker:?} on stderr:\n{}",
                self.what,
                shorten(&stderr)
            )
            .into());
        }
        Ok(self)
    }

    /// [`Run::contract`], and the exit code is `code`.
    pub fn expect(&self, code: i32) -> TestResult<&Self> {
        self.contract()?;
        if self.code == Some(code) {
            Ok(self)
        } else {
            Err(format!(
                "{}: expected exit code {code}, got {:?}; stdout:\n{}\nstderr:\n{}",
                self.what,
                self.code,
                shorten(&self.out()),
                shorten(&self.err())
            )
            .into())
        }
    }
}

/// The first 4,000 characters of a text, for failure messages.
pub fn shorten(text: &str) -> String {
    if text.chars().count() <= 4000 {
        text.to_owned()
    } else {
        let head: String = text.chars().take(4000).collect();
        format!("{head}… ({} bytes in all)", text.len())
    }
}

/// `pipeline-deps --db <db> <args>`, with stdin closed, `RUST_BACKTRACE=1` (so any panic
/// would print as loudly as possible) and no `PIPELINE_DEPS_DB` from the environment.
pub fn command(db: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("PIPELINE_DEPS_DB")
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `pipeline-deps --db <db> <args>` to its end (or the timeout).
pub fn run(db: &Path, args: &[&str]) -> TestResult<Run> {
    let what = format!("pipeline-deps --db {} {}", db.display(), args.join(" "));
    run_timed(command(db, args), what)
}

/// Runs a prepared command under [`TIMEOUT`]; a child still running then is killed and the
/// run reported as `timed_out`. Its pipes are drained while it runs.
pub fn run_timed(mut command: Command, what: String) -> TestResult<Run> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn()?;
    finish(child, what, TIMEOUT)
}

/// Waits for a spawned `child` (stdout and stderr piped) for at most `timeout`, draining its
/// pipes on threads so a chatty child cannot block on a full pipe; kills it after `timeout`.
pub fn finish(mut child: Child, what: String, timeout: Duration) -> TestResult<Run> {
    use std::os::unix::process::ExitStatusExt;
    let stdout = child.stdout.take().map(|p| thread::spawn(move || drain(p)));
    let stderr = child.stderr.take().map(|p| thread::spawn(move || drain(p)));
    let started = Instant::now();
    let mut timed_out = false;
    let status: ExitStatus = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            timed_out = true;
            child.kill()?;
            break child.wait()?;
        }
        thread::sleep(Duration::from_millis(2));
    };
    let stdout = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    Ok(Run {
        what,
        code: status.code(),
        signal: if timed_out { None } else { status.signal() },
        timed_out,
        stdout,
        stderr,
    })
}

fn drain(mut pipe: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    // A read error just ends the capture; the exit status tells what happened.
    let _ = pipe.read_to_end(&mut out);
    out
}

/// A fixture-format document of `n` synthetic steps named `{prefix}{i}`; `version` goes into
/// every step type (`T{i % 7}v{version}`) so a reader can tell which import it sees.
pub fn synthetic_specs(prefix: &str, n: usize, version: u32) -> String {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "step_name": format!("{prefix}{i}"),
                "step_type": format!("T{}v{version}", i % 7),
                "node_type": "internal",
                "dependencies": {
                    "input_data": {
                        "logical_name": "input_data",
                        "type": "processing_output",
                        "required": true,
                        "compatible_sources": ["Producer"],
                        "semantic_keywords": ["data", "input"],
                        "data_type": "S3Uri",
                        "description": ""
                    }
                },
                "outputs": {
                    "output_data": {
                        "logical_name": "output_data",
                        "type": "processing_output",
                        "property_path": "properties.ProcessingOutputConfig.Outputs['output_data'].S3Output.S3Uri",
                        "aliases": ["data"],
                        "semantic_keywords": ["data"],
                        "data_type": "S3Uri",
                        "description": ""
                    }
                }
            })
        })
        .collect();
    serde_json::json!({ "steps": steps }).to_string()
}

/// Per-context (step count, step-type count) as `contexts --json` reports them. Accepts the
/// contexts as an array of objects with `name` or as an object keyed by name.
pub fn context_counts(doc: &Value) -> TestResult<BTreeMap<String, (u64, u64)>> {
    let contexts = doc
        .get("contexts")
        .ok_or_else(|| format!("no `contexts` in {doc}"))?;
    let counts = |v: &Value| -> TestResult<(u64, u64)> {
        let steps = v["step_count"].as_u64().ok_or("no step_count")?;
        let types = v["step_type_count"].as_u64().ok_or("no step_type_count")?;
        Ok((steps, types))
    };
    let mut out = BTreeMap::new();
    match contexts {
        Value::Array(items) => {
            for item in items {
                let name = item["name"].as_str().ok_or("context without a name")?;
                out.insert(name.to_owned(), counts(item)?);
            }
        }
        Value::Object(map) => {
            for (name, item) in map {
                out.insert(name.clone(), counts(item)?);
            }
        }
        other => return Err(format!("`contexts` is neither array nor object: {other}").into()),
    }
    Ok(out)
}

/// The steps of an export document: (step name, step type) in document order.
pub fn exported_steps(doc: &Value) -> TestResult<Vec<(String, String)>> {
    let steps = doc["steps"].as_array().ok_or("export without `steps`")?;
    steps
        .iter()
        .map(|s| {
            Ok((
                s["step_name"]
                    .as_str()
                    .ok_or("step without step_name")?
                    .to_owned(),
                s["step_type"]
                    .as_str()
                    .ok_or("step without step_type")?
                    .to_owned(),
            ))
        })
        .collect()
}

/// A fresh temporary directory.
pub fn temp_dir() -> TestResult<tempfile::TempDir> {
    Ok(tempfile::tempdir()?)
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &[u8]) -> TestResult<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The path as UTF-8, for argument lists.
pub fn s(path: &Path) -> TestResult<&str> {
    path.to_str().ok_or_else(|| "non-UTF-8 temp path".into())
}

/// The subcommands `pipeline-deps --help` lists (the `help` pseudo-command excluded).
pub fn listed_commands() -> TestResult<Vec<String>> {
    let run = run_timed(
        {
            let mut c = Command::new(BIN);
            c.arg("--help").stdin(Stdio::null());
            c
        },
        "pipeline-deps --help".into(),
    )?;
    run.expect(0)?;
    let text = run.out();
    let mut commands = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            if line.trim().is_empty() || !line.starts_with("  ") {
                break;
            }
            // A description wrapped to the next line is indented further.
            if line.starts_with("   ") {
                continue;
            }
            if let Some(name) = line.split_whitespace().next()
                && name != "help"
            {
                commands.push(name.to_owned());
            }
        }
    }
    if commands.is_empty() {
        return Err(format!("no commands found in --help:\n{text}").into());
    }
    Ok(commands)
}

/// Whether `pipeline-deps <command> --help` mentions `flag`.
pub fn has_flag(command: &str, flag: &str) -> TestResult<bool> {
    let mut c = Command::new(BIN);
    c.args([command, "--help"]).stdin(Stdio::null());
    let run = run_timed(c, format!("pipeline-deps {command} --help"))?;
    run.expect(0)?;
    Ok(run.out().contains(flag))
}

/// Whether this process runs as root (read from `/proc/self/status`; false when unknown).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// A small tmpfs mounted for one test (root only); unmounted on drop.
pub struct Tmpfs {
    /// The mount point.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `512k`) with extra `options` (e.g. `ro`), or says why
    /// it could not (not root, no `mount`, refused).
    pub fn mount(size: &str, options: &str) -> Result<Tmpfs, String> {
        if !is_root() {
            return Err("not running as root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut opts = format!("size={size}");
        if !options.is_empty() {
            opts.push(',');
            opts.push_str(options);
        }
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("mount could not run: {e}"))?;
        if !status.success() {
            return Err(format!("mount -t tmpfs -o {opts} failed ({status})"));
        }
        Ok(Tmpfs {
            path: dir.path().to_owned(),
            _dir: dir,
        })
    }

    /// Remounts read-only (`true`) or read-write.
    pub fn remount(&self, read_only: bool) -> TestResult {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let status = Command::new("mount")
            .args(["-o", mode])
            .arg(&self.path)
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("mount -o {mode} {} failed", self.path.display()).into())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(&self.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Prints the line every skipped check prints, so a skip is never silent.
pub fn skipped(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

/// Files every command's invocation may need, made once per test from a healthy database.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// A small import document (fixture format, 3 steps named `adv0..adv2`).
    pub specs: PathBuf,
    /// A snapshot of context `cursus` taken from the healthy database.
    pub snapshot: PathBuf,
    /// A directory for outputs.
    pub out_dir: PathBuf,
}

impl Inputs {
    /// Writes the inputs into `dir`, taking the snapshot from `healthy` (which holds the
    /// real fixture as context `cursus`).
    pub fn new(dir: &Path, healthy: &Path) -> TestResult<Inputs> {
        let specs = write_file(dir, "specs.json", synthetic_specs("adv", 3, 1).as_bytes())?;
        let snapshot = dir.join("cursus.snapshot.json");
        run(healthy, &["snapshot", "cursus", "-o", s(&snapshot)?])?.expect(0)?;
        let out_dir = dir.join("out");
        std::fs::create_dir_all(&out_dir)?;
        Ok(Inputs {
            specs,
            snapshot,
            out_dir,
        })
    }
}

/// Whether a command only reads the database (`false`: it may write it).
pub fn reads_only(args: &[String]) -> bool {
    let first = args.first().map(String::as_str).unwrap_or("");
    let repair = args.iter().any(|a| a == "--repair");
    matches!(
        first,
        "contexts"
            | "stats"
            | "show"
            | "types"
            | "export"
            | "resolve"
            | "snapshot"
            | "check-snapshot"
            | "copy"
    ) || (first == "check" && !repair)
}

/// One or more invocations of every command `pipeline-deps --help` lists, against context
/// `cursus` (holding the real fixture, step `Package`) — read and write commands alike. A
/// command listed in `--help` but missing here fails the test: a new command must be added
/// to the adversarial suite.
pub fn every_command(inputs: &Inputs) -> TestResult<Vec<Vec<String>>> {
    let specs = s(&inputs.specs)?.to_owned();
    let snapshot = s(&inputs.snapshot)?.to_owned();
    let out = |name: &str| -> TestResult<String> { Ok(s(&inputs.out_dir.join(name))?.to_owned()) };
    let mut all: Vec<Vec<String>> = Vec::new();
    for command in listed_commands()? {
        let lists: Vec<Vec<String>> = match command.as_str() {
            "contexts" => vec![
                vec!["contexts".into()],
                vec!["contexts".into(), "--json".into()],
            ],
            "stats" => vec![vec!["stats".into()], vec!["stats".into(), "--json".into()]],
            "show" => vec![
                vec!["show".into(), "cursus".into()],
                vec!["show".into(), "cursus".into(), "Package".into()],
            ],
            "types" => vec![vec!["types".into(), "cursus".into()]],
            "export" => vec![
                vec!["export".into(), "cursus".into()],
                vec![
                    "export".into(),
                    "cursus".into(),
                    "-o".into(),
                    out("export.json")?,
                ],
            ],
            "import" => vec![
                vec!["import".into(), "fresh".into(), specs.clone()],
                vec![
                    "import".into(),
                    "cursus".into(),
                    specs.clone(),
                    "--replace".into(),
                ],
            ],
            "resolve" => vec![
                vec!["resolve".into(), "cursus".into()],
                vec![
                    "resolve".into(),
                    "cursus".into(),
                    "Package".into(),
                    "Payload".into(),
                    "--explain".into(),
                ],
            ],
            "snapshot" => vec![vec![
                "snapshot".into(),
                "cursus".into(),
                "-o".into(),
                out("snap.json")?,
            ]],
            "check-snapshot" => vec![vec![
                "check-snapshot".into(),
                "cursus".into(),
                snapshot.clone(),
            ]],
            "clear" => vec![vec!["clear".into(), "cursus".into()]],
            "clear-all" => vec![vec!["clear-all".into(), "--yes".into()]],
            "check" => {
                let mut lists = vec![vec!["check".into()]];
                if has_flag("check", "--repair")? {
                    lists.push(vec!["check".into(), "--repair".into()]);
                }
                lists
            }
            "compact" => vec![vec!["compact".into()]],
            "demo" => vec![vec!["demo".into()]],
            "completions" => vec![vec!["completions".into(), "bash".into()]],
            // Reads the database; each list copies into a file of its own.
            "copy" => {
                static LISTS: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = LISTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                vec![vec![
                    "copy".into(),
                    "--to".into(),
                    out(&format!("copy-{n}.redb"))?,
                ]]
            }
            other => {
                return Err(format!(
                    "`pipeline-deps --help` lists `{other}`, which the adversarial suite does not run yet: add it to support::every_command"
                )
                .into());
            }
        };
        all.extend(lists);
    }
    Ok(all)
}

/// Runs `pipeline-deps --db <db> <args>` with owned arguments.
pub fn run_args(db: &Path, args: &[String]) -> TestResult<Run> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(db, &refs)
}

/// A database holding the real fixture as context `cursus`, and two small contexts.
pub fn healthy_db(dir: &Path) -> TestResult<PathBuf> {
    let db = dir.join("healthy.redb");
    run(&db, &["import", "cursus", FIXTURE])?.expect(0)?;
    let small = write_file(dir, "small.json", synthetic_specs("s", 20, 1).as_bytes())?;
    run(&db, &["import", "small", s(&small)?])?.expect(0)?;
    run(&db, &["import", "other", s(&small)?])?.expect(0)?;
    Ok(db)
}
