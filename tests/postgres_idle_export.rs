//! Invariant: when the server ends a session because its transaction sat idle longer than
//! `idle_in_transaction_session_timeout` (an export whose output is read slowly keeps its
//! read transaction open while it waits on the output), the error is a lost connection that
//! says so, naming the setting and what to do, not one that reads as the server being
//! unreachable; and the next export, on a new connection, is whole.
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use std::io::{self, Write};
use std::time::Duration;

use pipeline_deps::{
    DependencyType, Error, NodeType, OutputSpec, RegistryManager, ServerErrorKind,
    StepSpecification,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An output that stalls on its first write for longer than the session may sit idle in its
/// transaction, as a pager whose reader looks away does.
struct Stalling {
    stall: Option<Duration>,
    out: Vec<u8>,
}

impl Write for Stalling {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(stall) = self.stall.take() {
            std::thread::sleep(stall);
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_export_the_server_ends_for_idling_in_its_transaction_says_why() -> TestResult {
    let Some(url) = pg_cluster::database("idle_export")? else {
        return Ok(());
    };
    // The server ends a session idle in a transaction for 200 ms; the output stalls for 2 s.
    let idle = format!("{url}?options=-c%20idle_in_transaction_session_timeout%3D200");
    let manager = RegistryManager::connect(&idle)?;
    let registry = manager.get_registry("big")?;
    let steps: Vec<(String, StepSpecification)> = (0..3_000)
        .map(|i| {
            let spec = StepSpecification::new(format!("Type{}", i % 7), NodeType::Source)
                .with_output(OutputSpec::new(
                    format!("out_{i}"),
                    DependencyType::ProcessingOutput,
                    format!("properties.Out{i}"),
                ));
            (format!("step_{i:05}"), spec)
        })
        .collect();
    registry.register_many(steps.iter().map(|(n, s)| (n.as_str(), s)))?;
    let whole = registry.export_json()?;

    let mut out = Stalling {
        stall: Some(Duration::from_secs(2)),
        out: Vec::new(),
    };
    let error = match registry.export_json_to(&mut out) {
        Ok(n) => return Err(format!("the server did not end the idle session: {n} steps").into()),
        Err(error) => error,
    };
    assert!(
        matches!(
            error,
            Error::Server {
                kind: ServerErrorKind::ConnectionLost,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    for needle in [
        "idle_in_transaction_session_timeout",
        "sat idle",
        "read the output faster",
    ] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    // The next export runs on a new connection and is whole.
    let mut again = Vec::new();
    registry.export_json_to(&mut again)?;
    assert!(again == whole.as_bytes());
    Ok(())
}
