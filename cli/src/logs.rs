//! Logs: the library's `tracing` events on standard error, never on standard output.
//!
//! `RUST_LOG`, when set, chooses what is shown (`RUST_LOG=pipeline_deps=debug`). Otherwise
//! the flags do: warnings by default, `-q` errors only, `-v` info (contexts created and
//! cleared), `-vv` debug (every step registered), `-vvv` trace. Under `--json` each event
//! is one line of JSON (`{"level", "target", "message", ...fields}`), so that every line on
//! standard error is a JSON object.

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;
use tracing_subscriber::filter::LevelFilter;

/// The level the flags ask for.
fn level(verbose: u8, quiet: bool) -> LevelFilter {
    if quiet {
        return LevelFilter::ERROR;
    }
    match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// Installs the subscriber for this process; `json`: one JSON object per event.
pub fn init(verbose: u8, quiet: bool, json: bool) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    // Invalid directives are skipped, and reported below through the subscriber itself (a
    // JSON line under --json, escaped text otherwise): the filter's own lossy parser
    // printed them raw to standard error, breaking both.
    let mut ignored = Vec::new();
    let filter = match from_env {
        Some(directives) => {
            let mut valid = Vec::new();
            for directive in directives
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
            {
                match directive.parse::<Directive>() {
                    Ok(_) => valid.push(directive),
                    Err(error) => ignored.push((directive.to_owned(), error.to_string())),
                }
            }
            // Only valid directives are left, so the builder prints nothing; its default
            // (warnings) applies, as before, when none is left.
            EnvFilter::builder()
                .with_default_directive(LevelFilter::WARN.into())
                .parse_lossy(valid.join(","))
        }
        None => EnvFilter::default().add_directive(level(verbose, quiet).into()),
    };
    // A log line that cannot be written (standard error closed early, as by `2>&1 | head`)
    // is dropped: by default the subscriber reports it with `eprintln!`, which panics on
    // the same closed standard error, stopping the command mid-write as a bug (exit 101).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .log_internal_errors(false);
    // A second subscriber cannot be installed; there is none before this one.
    let _ = if json {
        builder
            .with_writer(io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        builder.with_writer(|| Escaped).try_init()
    };
    for (directive, error) in ignored {
        tracing::warn!(%directive, %error, "ignoring an invalid RUST_LOG directive");
    }
}

/// Standard error with every log line escaped for people ([`crate::output::esc`]), as
/// tables and messages are: a name with an ESC or a bidi override in an event's fields
/// cannot drive the terminal or forge a line. (JSON events escape control characters by
/// JSON's rules and keep names exact otherwise.)
struct Escaped;

impl Write for Escaped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut out = String::with_capacity(text.len());
        for (at, line) in text.split('\n').enumerate() {
            if at > 0 {
                out.push('\n');
            }
            out.push_str(&crate::output::esc(line));
        }
        io::stderr().lock().write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
