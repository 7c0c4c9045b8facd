//! `pipeline-deps`: inspect, import, export and check pipeline-deps registry databases.
//!
//! The library does the work; this binary parses arguments, opens the database (read-only
//! for every read command), prints tables or JSON and maps failures to the exit codes
//! documented in `--help` (see [`Failure::exit_code`]).

mod args;
mod commands;
mod copy;
mod demo;
mod gate;
mod input;
mod inspect;
mod interrupt;
mod json;
mod logs;
mod maintain;
mod output;
mod progress;
mod scorer;
mod transfer;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check failed (snapshot drift, integrity problems).
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: usage error (clap's own code for bad arguments).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the database or another file could not be used.
pub const EXIT_DATABASE: u8 = 3;
/// Exit code: the input (JSON, specifications, names) was invalid.
pub const EXIT_INVALID_INPUT: u8 = 4;

/// How a command that ran to the end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything is fine.
    Ok,
    /// The command checked something and the check failed (its report is printed).
    CheckFailed,
}

/// Set once a command has found its check failed, before it prints its report: a reader
/// that closes standard output early (`| head`) ends the report with a broken pipe, which
/// must not turn the failed check into success.
static CHECK_FAILED: AtomicBool = AtomicBool::new(false);

impl Status {
    /// [`Status::CheckFailed`] when `failed` (remembered at once, see [`CHECK_FAILED`]), else
    /// [`Status::Ok`]. Call it before printing the report.
    pub fn of_check(failed: bool) -> Status {
        if failed {
            CHECK_FAILED.store(true, Ordering::Relaxed);
            Status::CheckFailed
        } else {
            Status::Ok
        }
    }
}

/// The exit code of a command whose output was cut by a reader that went away: success,
/// unless its check had already failed.
fn broken_pipe_exit() -> u8 {
    if CHECK_FAILED.load(Ordering::Relaxed) {
        EXIT_CHECK_FAILED
    } else {
        EXIT_OK
    }
}

/// Why a command stopped.
#[derive(Debug)]
pub enum Failure {
    /// The library refused or failed.
    Library(pipeline_deps::Error),
    /// Reading or writing a file other than the database, or standard output.
    Io {
        /// What was being done.
        action: String,
        /// The file involved, when there is one (reported in `--json` errors).
        file: Option<PathBuf>,
        /// The operating system's error.
        source: io::Error,
    },
    /// The database file does not exist (and the command does not create it).
    NoDatabase(PathBuf),
    /// The input is invalid; the message says why.
    Invalid(String),
    /// A context, step or step type named on the command line does not exist.
    Missing(Box<Missing>),
    /// The command line cannot be acted on.
    Usage(String),
}

/// A name on the command line that names nothing (or, with kind `invalid_input`, a step
/// listed twice; with kind `already_registered`, steps of an import that are taken).
#[derive(Debug)]
pub struct Missing {
    /// `unknown_context`, `unknown_step`, `unknown_step_type`, `invalid_input` or
    /// `already_registered` (the JSON error's `kind`).
    pub kind: &'static str,
    /// The context named (or looked in).
    pub context: String,
    /// The step or step type named, for `unknown_step` and `unknown_step_type`.
    pub name: Option<String>,
    /// The message, naming what exists instead.
    pub message: String,
}

impl Failure {
    /// The documented exit code (see `--help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            _ if is_broken_pipe(self) => broken_pipe_exit(),
            Failure::Library(e)
                if e.is_invalid_input() || e.kind() == pipeline_deps::ErrorKind::AlreadyExists =>
            {
                EXIT_INVALID_INPUT
            }
            Failure::Library(_) | Failure::Io { .. } | Failure::NoDatabase(_) => EXIT_DATABASE,
            Failure::Invalid(_) | Failure::Missing(_) => EXIT_INVALID_INPUT,
            Failure::Usage(_) => EXIT_USAGE,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Library(pipeline_deps::Error::InvalidSpec { context, problems }) => {
                // At most `PROBLEMS_SHOWN` problems, names shortened: 10,000 bad steps make
                // a short message.
                write!(
                    f,
                    "context '{}' refused {} invalid specification field(s){}; nothing was written. Fix these and import again:",
                    output::short(context),
                    problems.len(),
                    input_named(" in ")
                )?;
                let omitted = problems.len().saturating_sub(json::PROBLEMS_SHOWN);
                for p in problems.iter().take(json::PROBLEMS_SHOWN) {
                    write!(
                        f,
                        "\n  - step '{}': {} {}",
                        output::short(&p.step),
                        output::short(&p.field),
                        output::esc(&p.message)
                    )?;
                }
                if omitted > 0 {
                    write!(f, "\n  - and {omitted} more")?;
                }
                Ok(())
            }
            // Messages name contexts, steps and files: escaped, so that the only line
            // breaks are the ones above.
            // The library's advice names an API call; a command is simply run again.
            Failure::Library(pipeline_deps::Error::ContextCleared { context }) => write!(
                f,
                "context '{}' was cleared by another process while this command ran, so nothing of this command was written; run it again",
                output::short(context)
            ),
            // An error in the content of the command's input document names the document
            // (the library's message names only what it was: "the JSON import"). The
            // library's advice on unknown fields names its API option; the hint gives the flag.
            Failure::Library(pipeline_deps::Error::InvalidInput { what, detail, .. })
                if json::INPUT.get().is_some() && !about_the_database(what) =>
            {
                let detail = detail
                    .strip_suffix(" (allow unknown fields to import such a document anyway)")
                    .unwrap_or(detail);
                write!(
                    f,
                    "invalid input in {} ({}): {}; fix the input and try again",
                    input_named(""),
                    output::esc(what),
                    output::esc(detail)
                )
            }
            Failure::Library(e) => f.write_str(&output::esc(&e.to_string())),
            Failure::Io { action, .. } => write!(f, "I/O error while {}", output::esc(action)),
            // The source of a `copy` (which sets it as the database the failure is about).
            Failure::NoDatabase(path) if json::HINT_DATABASE.get() == Some(path) => write!(
                f,
                "there is no registry database at {} to copy from; check --from",
                output::path_text(path)
            ),
            Failure::NoDatabase(path) => write!(
                f,
                "there is no registry database at {}; pass --db FILE or set PIPELINE_DEPS_DB to use another one, or create this one with `pipeline-deps {db} import CONTEXT FILE` or `pipeline-deps {db} demo`",
                output::path_text(path),
                db = output::esc(&output::db_option(path))
            ),
            Failure::Invalid(message) | Failure::Usage(message) => {
                f.write_str(&output::esc(message))
            }
            Failure::Missing(missing) => f.write_str(&output::esc(&missing.message)),
        }
    }
}

/// The command's input document after `lead` (`-` is standard input), escaped; empty
/// before one was read.
fn input_named(lead: &str) -> String {
    match json::INPUT.get() {
        Some(path) if path.as_os_str() == "-" => format!("{lead}standard input"),
        Some(path) => format!("{lead}{}", output::path_text(path)),
        None => String::new(),
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Library(e) => e.source(),
            Failure::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<pipeline_deps::Error> for Failure {
    fn from(e: pipeline_deps::Error) -> Self {
        Failure::Library(e)
    }
}

impl From<io::Error> for Failure {
    /// An error writing the report to standard output.
    fn from(source: io::Error) -> Self {
        Failure::Io {
            action: "writing to standard output".into(),
            file: None,
            source,
        }
    }
}

/// Whether the error, or anything in its source chain, is a closed pipe: the reader (such as
/// `head`) has what it wanted, which is not a failure.
fn is_broken_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Whether an invalid input the library reports is about where or how to reach the database
/// (its path or URL, the connection settings, the environment that gives them) rather than
/// about the command's input document: such a message must not be worded as one about the
/// document (`invalid input in FILE …`), which it was during an `import`.
fn about_the_database(what: &str) -> bool {
    [
        "the database",
        "the default database",
        "the PostgreSQL URL",
        "the connection settings",
        "the environment variable",
        "the options for opening",
        "the system's trusted certificates",
    ]
    .iter()
    .any(|prefix| what.starts_with(prefix))
}

/// What to do next with the command-line tool, for library errors whose kind has one (the
/// library's messages never name commands).
fn hint(failure: &Failure) -> Option<String> {
    let Failure::Library(error) = failure else {
        return None;
    };
    match (error.kind(), error) {
        // The server ended the session because the command's output was read too slowly:
        // running it again the same way fails the same way.
        (
            _,
            pipeline_deps::Error::Server {
                kind: pipeline_deps::ServerErrorKind::ConnectionLost,
                action,
                ..
            },
        ) if action.contains("idle_in_transaction_session_timeout") => Some(
            "write the output to a file with -o FILE instead of a slow pipe, or have the role's idle_in_transaction_session_timeout raised".into(),
        ),
        // The library's advice names API calls ("the next call", `connections(n)`); a
        // command is simply run again.
        (
            _,
            pipeline_deps::Error::Server {
                kind: pipeline_deps::ServerErrorKind::ConnectionLost,
                ..
            },
        ) => Some("run the command again once the server is reachable".into()),
        (
            _,
            pipeline_deps::Error::Server {
                kind: pipeline_deps::ServerErrorKind::TooManyConnections,
                ..
            },
        ) => Some(
            "run the command again when other clients have closed their connections, or have the server's max_connections (or the role's CONNECTION LIMIT) raised".into(),
        ),
        // A read command refused: the owner holds the file exclusively, and a reader can
        // only join an owner in single-writer mode.
        (_, pipeline_deps::Error::InUse { .. })
            if commands::READING.load(Ordering::Relaxed) =>
        {
            Some("its owner holds it exclusively; read commands can read it only while the owner runs in single-writer mode (Rust `Concurrency::SingleWriter`, Python `single_writer=True`, as pipeline-deps's own write commands do), so wait for the owner to close it".into())
        }
        (_, pipeline_deps::Error::InUse { path }) => Some(format!(
            "inspect it read-only with `pipeline-deps {} stats` while its owner runs in single-writer mode",
            output::db_option(path)
        )),
        // Only `copy` imports into a context that must be empty.
        (_, pipeline_deps::Error::ContextNotEmpty { .. }) => Some(
            "another writer put steps into it during the copy; run the copy again: it skips the contexts already copied and lists those that hold other steps, to clear there first".into(),
        ),
        // `check` reads files only; and the database may have come with --from or --to.
        (_, pipeline_deps::Error::NotARegistry { .. }) if on_server() => Some(
            "use a database that holds a pipeline-deps registry, or an empty one (the first write creates the registry there)".into(),
        ),
        (_, pipeline_deps::Error::NotARegistry { .. }) => Some(format!(
            "give a pipeline-deps registry file; if this is one, `pipeline-deps {}check` tells what is damaged",
            db_flag()
        )),
        // `check` reads files only: a server's damage is the server's backup's business.
        (pipeline_deps::ErrorKind::Corruption, _) if on_server() => Some(
            "export the contexts that still read (`pipeline-deps export`) and restore the rest from the server's backup".into(),
        ),
        (pipeline_deps::ErrorKind::Corruption, _)
            if maintain::REPAIRING.load(Ordering::Relaxed) =>
        {
            Some(format!(
                "the file was left as it was; restore it from a backup, or export the contexts that still read (`pipeline-deps {}export CONTEXT`) and import them into a new file",
                db_flag()
            ))
        }
        (pipeline_deps::ErrorKind::Corruption, _) => Some(format!(
            "run `pipeline-deps {}check` to see what is damaged",
            db_flag()
        )),
        // A path that is not a regular file (a directory, FIFO, device or socket).
        (_, pipeline_deps::Error::Io { source, .. })
            if source.kind() == io::ErrorKind::InvalidInput =>
        {
            Some(format!(
                "point {} at a registry database file (or a postgres:// URL)",
                copy::option_of_failing_database()
            ))
        }
        (pipeline_deps::ErrorKind::Io, _) => Some(
            "check that the file is reachable and writable and that the disk is not full".into(),
        ),
        // A PostgreSQL URL whose `@` cannot be read for sure (a password holding `@` or `/`
        // not percent-encoded): how to write it. The URL is never repeated (a password).
        // (No example password either: it could be the user's.)
        (_, pipeline_deps::Error::InvalidInput { what, detail, .. })
            if what == "the PostgreSQL URL" && detail.starts_with("an '@' in it") =>
        {
            Some("percent-encode each '@' in the user name or password as %40 (and '/' as %2F), as in postgres://USER:PASS%40WORD@HOST/DB; or leave the password out of the URL and set PGPASSWORD (or use a password file)".into())
        }
        // The library's refusal of unknown fields names its option; the CLI's is a flag.
        // (`demo` has no such flag: its document must hold only fields the format knows.)
        (_, pipeline_deps::Error::InvalidInput { what, detail, .. })
            if detail.contains("unknown field(s)") && what != demo::SPECS_DOCUMENT =>
        {
            Some("pass --allow-unknown-fields to import such a document anyway".into())
        }
        (pipeline_deps::ErrorKind::NotFound, _) => Some(format!(
            "list the contexts with `pipeline-deps {}contexts`",
            db_flag()
        )),
        _ => None,
    }
}

/// `--db DB ` for a command in a hint ([`output::db_option`]): the database the failure is
/// about ([`json::HINT_DATABASE`], else the command's); empty before a database was chosen.
fn db_flag() -> String {
    hint_database()
        .map(|db| format!("{} ", output::db_option(&db)))
        .unwrap_or_default()
}

/// The database a failure is about.
fn hint_database() -> Option<std::path::PathBuf> {
    json::failing_database().cloned()
}

/// Whether the failure is about a PostgreSQL server.
fn on_server() -> bool {
    hint_database().is_some_and(|db| commands::server_url(&db).is_some())
}

/// Prints the error, its causes (each once: library messages do not repeat their source)
/// and a hint on standard error. Every line is escaped ([`output::esc`]): names in messages
/// cannot reach the terminal raw.
fn report(failure: &Failure) {
    let mut stderr = io::stderr().lock();
    let mut text = String::new();
    for (i, line) in failure.to_string().split('\n').enumerate() {
        let lead = if i == 0 { "pipeline-deps: error: " } else { "" };
        text.push_str(&format!("{lead}{}\n", output::esc(line)));
    }
    let mut cause = std::error::Error::source(failure);
    while let Some(e) = cause {
        text.push_str(&format!("  caused by: {}\n", output::esc(&e.to_string())));
        cause = e.source();
    }
    if let Some(hint) = hint(failure) {
        text.push_str(&format!("  hint: {}\n", output::esc(&hint)));
    }
    // Nothing sensible is left to do if standard error is gone too.
    let _ = stderr.write_all(text.as_bytes());
}

/// The exit code of a panic (Rust's): an internal error, a bug.
const EXIT_INTERNAL: u8 = 101;

/// Replaces the panic message people would see with one that says a bug stopped the command
/// and where (for a report), never the panic's own text; a JSON line under `--json`.
fn report_bugs_plainly() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!(
            "internal error: the command stopped on a bug{place}; what it wrote before may be incomplete; please report it with the command you ran"
        );
        if json::enabled() || json_asked() {
            json::write_internal_error(&message, EXIT_INTERNAL);
        } else {
            let _ = writeln!(io::stderr().lock(), "pipeline-deps: {message}");
        }
    }));
}

/// Whether the command line asks for JSON, read from the raw arguments (for errors that come
/// before, or instead of, parsing them): `--json`, or `--json=…`, which clap refuses.
fn json_asked() -> bool {
    // After `--` every argument is a name (`show -- --json` shows a context named `--json`).
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json" || a.to_string_lossy().starts_with("--json="))
}

/// Whether clap refused `--json` as the name of a command to show the help of (`help
/// --json`, `help stats --json`): the `help` command asked for JSON, which it has none of.
fn is_help_given_json(e: &clap::Error) -> bool {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    e.kind() == ErrorKind::InvalidSubcommand
        && matches!(
            e.get(ContextKind::InvalidSubcommand),
            Some(ContextValue::String(name)) if name == "--json" || name.starts_with("--json=")
        )
}

/// The exit code after printing `--help` or `--version` (or its JSON document): success,
/// also when the reader went away (`| head`), but a standard output that cannot take the
/// text (a full disk) is an I/O error (exit code 3), said on standard error, as for every
/// other command: the text was lost.
fn printed(result: io::Result<()>) -> ExitCode {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            let failure = Failure::from(e);
            if json_asked() {
                json::write_error(&failure);
            } else {
                report(&failure);
            }
            ExitCode::from(failure.exit_code())
        }
        _ => ExitCode::from(EXIT_OK),
    }
}

fn main() -> ExitCode {
    report_bugs_plainly();
    // The tests' way to reach the hook above (debug builds only: no release binary has it).
    if cfg!(debug_assertions) && std::env::var_os("PIPELINE_DEPS_TEST_PANIC").is_some() {
        panic!("a test panic whose text must not be shown");
    }
    let cli = match args::parse() {
        Ok(cli) => cli,
        Err(e) => {
            let json = json_asked();
            if json && e.kind() == clap::error::ErrorKind::DisplayVersion {
                let mut stdout = io::stdout().lock();
                return printed(json::write_version(&mut stdout).and_then(|()| stdout.flush()));
            }
            if json && (e.kind() == clap::error::ErrorKind::DisplayHelp || is_help_given_json(&e)) {
                // Help is text for people, which has no JSON form (as `completions`' script):
                // under --json it is a usage error, and standard output stays empty.
                json::write_error(&Failure::Usage(
                    "help is text for people, which has no JSON form; run it without --json".into(),
                ));
                return ExitCode::from(EXIT_USAGE);
            }
            let code = u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE);
            // `--help` and `--version` land here too, with exit code 0 (see `printed`).
            if code == EXIT_OK {
                return printed(e.print().and_then(|()| io::stdout().flush()));
            }
            if json {
                json::write_usage_error(&e.render().to_string(), code);
            } else {
                // Nothing sensible is left to do if standard error is gone.
                let _ = e.print();
            }
            return ExitCode::from(code);
        }
    };
    interrupt::install();
    json::ENABLED.store(cli.json, std::sync::atomic::Ordering::Relaxed);
    logs::init(cli.verbose, cli.quiet, cli.json);
    let json_errors = cli.json;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = commands::run(cli, &mut out).and_then(|status| {
        out.flush()?;
        Ok(status)
    });
    match result {
        Ok(Status::Ok) => ExitCode::from(EXIT_OK),
        Ok(Status::CheckFailed) => ExitCode::from(EXIT_CHECK_FAILED),
        Err(failure) if is_broken_pipe(&failure) => ExitCode::from(broken_pipe_exit()),
        Err(failure) => {
            // Whatever was printed before the failure goes out first, then the error.
            let _ = out.flush();
            if json_errors {
                json::write_error(&failure);
            } else {
                report(&failure);
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Whether people are watching: progress and prompts go to a terminal only.
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::{Failure, hint};

    #[test]
    fn a_context_cleared_under_a_command_says_to_run_it_again() {
        let failure = Failure::Library(pipeline_deps::Error::ContextCleared {
            context: "ml\u{1b}".into(),
        });
        let text = failure.to_string();
        assert!(text.contains("run it again"), "{text}");
        assert!(
            !text.contains("get_registry") && !text.contains('\u{1b}'),
            "{text}"
        );
    }

    #[test]
    fn a_session_ended_for_a_slow_reader_is_not_told_to_run_the_command_again() {
        let lost = |action: &str| {
            Failure::Library(pipeline_deps::Error::Server {
                kind: pipeline_deps::ServerErrorKind::ConnectionLost,
                server: "postgres://u@localhost/db".into(),
                action: action.into(),
                source: None,
            })
        };
        let slow = hint(&lost(
            "exporting context 'ml' (the server ended the session because its transaction sat idle longer than its idle_in_transaction_session_timeout, …)",
        ))
        .unwrap_or_default();
        assert!(slow.contains("-o FILE"), "{slow}");
        assert!(!slow.contains("run the command again"), "{slow}");
        let other = hint(&lost("reading context 'ml'")).unwrap_or_default();
        assert!(other.contains("run the command again"), "{other}");
    }
}
