//! Shared helpers of the reliability tests: the fault-injecting disk, the reference model,
//! the fault-case harness and the frozen databases of past schema versions, plus small
//! utilities (env-var scaling, figures, child processes).
#![allow(dead_code)]

pub mod fault_backend;
pub mod frozen;
pub mod gated;
pub mod harness;
pub mod model;
pub mod sealed;

use std::time::{Duration, Instant};

/// A small spec of step type `Type{n % types}`: one dependency `in`, one output `out` at
/// `properties.P{n}`.
pub fn numbered_spec(n: usize, types: usize) -> pipeline_deps::StepSpecification {
    use pipeline_deps::{DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification};
    StepSpecification::new(format!("Type{}", n % types), NodeType::Internal)
        .with_dependency(DependencySpec::new("in", DependencyType::TrainingData))
        .with_output(OutputSpec::new(
            "out",
            DependencyType::ModelArtifacts,
            format!("properties.P{n}"),
        ))
}

/// Test result with a boxed error.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Runs `body` on its own thread and fails if it has not finished within `limit`: a test of
/// concurrent writers then fails on a deadlock instead of hanging the suite.
pub fn bounded(limit: Duration, body: fn() -> TestResult) -> TestResult {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(body()).ok());
    rx.recv_timeout(limit)
        .map_err(|_| format!("the writers did not finish within {limit:?}: a deadlock"))?
}

/// A number from the environment variable `name`, or `default`.
pub fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A seed from `PIPELINE_DEPS_SEED`, or one derived from the clock (printed, so a failure
/// can be replayed).
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("PIPELINE_DEPS_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{test}: seed {seed} (replay with PIPELINE_DEPS_SEED={seed})");
    seed
}

/// Prints one measured figure in a fixed format that RELIABILITY.md quotes.
pub fn figure(test: &str, text: &str) {
    eprintln!("FIGURE {test}: {text}");
}

/// A deadline: fails a test that runs over its bound instead of letting it hang.
pub struct Deadline {
    end: Instant,
    what: &'static str,
}

impl Deadline {
    pub fn new(what: &'static str, limit: Duration) -> Self {
        Deadline {
            end: Instant::now() + limit,
            what,
        }
    }

    pub fn expired(&self) -> bool {
        Instant::now() > self.end
    }

    pub fn check(&self) -> TestResult {
        if self.expired() {
            Err(format!("{} ran over its time bound", self.what).into())
        } else {
            Ok(())
        }
    }
}

/// Environment variable that puts a re-executed test binary in child mode.
pub const CHILD_ENV: &str = "PIPELINE_DEPS_TEST_CHILD";

/// Starts this test binary again, running only the (ignored) test `test_name`, with `vars`
/// set and stdin and stdout piped.
pub fn spawn_child(
    test_name: &str,
    vars: &[(&str, String)],
) -> std::io::Result<std::process::Child> {
    let exe = std::env::current_exe()?;
    let mut command = std::process::Command::new(exe);
    command
        .args([
            test_name,
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--ignored",
        ])
        .env(CHILD_ENV, "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    for (key, value) in vars {
        command.env(key, value);
    }
    command.spawn()
}

/// A re-executed child this test talks to line by line: it answers on stdout through
/// [`say`], and reads commands from stdin.
pub struct Conversation {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Conversation {
    /// Starts the ignored test `test_name` as a child with `vars` set, and waits for its
    /// `READY`.
    pub fn start(test_name: &str, vars: &[(&str, String)]) -> TestResult<Conversation> {
        use std::io::BufRead;
        let mut child = spawn_child(test_name, vars)?;
        let stdin = child.stdin.take().ok_or("no child stdin")?;
        let stdout = child.stdout.take().ok_or("no child stdout")?;
        let mut talk = Conversation {
            child,
            stdin,
            lines: std::io::BufReader::new(stdout).lines(),
        };
        talk.expect("READY")?;
        Ok(talk)
    }

    /// Reads the child's lines until it says `what`.
    pub fn expect(&mut self, what: &str) -> TestResult {
        for line in self.lines.by_ref() {
            if heard(&line?) == Some(what) {
                return Ok(());
            }
        }
        Err(format!("the child process ended before saying {what}").into())
    }

    /// Sends the child one line.
    pub fn send(&mut self, line: &str) -> TestResult {
        use std::io::Write;
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Sends `EXIT`, closes its input and checks that it ended successfully.
    pub fn stop(mut self) -> TestResult {
        self.send("EXIT")?;
        drop(self.stdin);
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("the child process failed: {status}").into());
        }
        Ok(())
    }
}

/// Whether this process is a re-executed child.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Prefix of the protocol lines a child writes on stdout (libtest may print on the same
/// line before them, so readers search for it).
pub const MARK: &str = "@@";

/// Writes one protocol line to stdout and flushes it.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{MARK}{line}");
    let _ = out.flush();
}

/// The protocol payload of a line read from a child, if it has one.
pub fn heard(line: &str) -> Option<&str> {
    line.find(MARK).map(|at| line[at + MARK.len()..].trim_end())
}

/// A spec of step type `Type{n % 3}` whose dependency's description names `context/step`
/// (so that a spec read back under another context or step is told apart), for the tests of
/// damaged and refused files.
pub fn spec(context: &str, step: &str, n: usize) -> pipeline_deps::StepSpecification {
    use pipeline_deps::{DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification};
    let mut dependency = DependencySpec::new("input", DependencyType::TrainingData)
        .with_keywords([format!("kw{n}")]);
    dependency.description = format!("DESC<{context}/{step}>");
    StepSpecification::new(format!("Type{}", n % 3), NodeType::Internal)
        .with_dependency(dependency)
        .with_output(
            OutputSpec::new(
                "model",
                DependencyType::ModelArtifacts,
                format!("properties.P{n}"),
            )
            .with_aliases([format!("alias{n}")]),
        )
}
