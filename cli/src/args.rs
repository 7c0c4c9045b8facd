//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Printed after `--help`: the documented exit codes and the database lookup.
const AFTER_HELP: &str = "\
DATABASE:
  --db FILE or URL, else $PIPELINE_DEPS_DB, else the per-user file (on Linux
  $XDG_DATA_HOME/pipeline-deps/registry.redb, or ~/.local/share/pipeline-deps/registry.redb).
  Read commands open the file read-only, so they work while another process owns it in
  single-writer mode. A postgres:// or postgresql:// URL opens a registry on a PostgreSQL
  server instead (a build with the `postgres` feature; see README.md).

EXIT CODES:
  0  success (also when stdout is closed early, as by `| head`; also `clear` of a context
     that does not exist: clearing is idempotent, as `clear-all` of an empty file is)
  1  a check failed: check-snapshot found changed wiring, check found integrity problems,
     or resolve --fail-on-unresolved left a required dependency unresolved
  2  usage error: bad arguments, or clear-all without confirmation
  3  database or file error: I/O, corrupted or foreign file, file in use, newer schema,
     no database file; a PostgreSQL server that cannot be used
  4  invalid input: malformed JSON or snapshot file, invalid specifications, a step name
     already taken, unknown context, step or type
  101  an internal error (a bug), reported in one line
  130  interrupted by Ctrl-C (143: SIGTERM, 129: SIGHUP); a file `export -o`,
       `snapshot -o`, `compact` or `check --repair` was writing is left as it was, with
       no temporary file beside it (a SIGKILL cannot be handled: `check` lists the files
       it leaves beside the registry)

With --json, every output is one JSON document tagged with its schema (docs/json.md), and an
error is one JSON object on stderr (schema pipeline-deps/error/v1) with the same exit code.
Names printed for people are escaped (\\u{1b} for ESC); JSON output is exact.";

/// Inspect, import, export and check pipeline-deps registry databases.
#[derive(Debug, Parser)]
#[command(name = "pipeline-deps", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The registry database file, or a postgres:// URL (in a build with the `postgres` feature)
    #[arg(long, global = true, value_name = "FILE|URL", env = "PIPELINE_DEPS_DB")]
    pub db: Option<PathBuf>,

    /// Print machine-readable JSON instead of tables (errors too, on stderr)
    #[arg(long, global = true)]
    pub json: bool,

    /// Log more on stderr: -v what changed (contexts created, cleared), -vv every step
    /// written; RUST_LOG, when set, decides instead
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Log only errors and show no progress bars
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// Parses the command line. An empty `PIPELINE_DEPS_DB` counts as unset (as the library's
/// default manager treats it), not as an empty `--db`.
///
/// # Errors
/// clap's errors, `--help` and `--version` included.
pub fn parse() -> Result<Cli, clap::Error> {
    // Help is wrapped to the width the tables use (`COLUMNS`, else the terminal's, else
    // 100 columns), not left in lines of up to 190 columns.
    let mut command =
        <Cli as clap::CommandFactory>::command().term_width(crate::output::max_width());
    let from_env = std::env::var_os("PIPELINE_DEPS_DB");
    if from_env.as_ref().is_some_and(|v| v.is_empty()) {
        // Not read, but still named in `--help`, as clap names an unset variable.
        command = command.mut_arg("db", |arg| {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.env(None)
                .help(format!("{help} [env: PIPELINE_DEPS_DB=]"))
        });
    }
    // `--help` shows the variable's value (`[env: PIPELINE_DEPS_DB=…]`): not a server URL
    // that holds a password, which would land on the screen or in a CI log.
    if let Some(url) = from_env.as_ref().and_then(|v| v.to_str())
        && pipeline_deps::storage::is_postgres_url(std::path::Path::new(url))
        && pipeline_deps::storage::url_without_password(url) != url
    {
        command = command.mut_arg("db", |arg| arg.hide_env_values(true));
    }
    // clap refuses `--db` twice on one side of the command name, but lets one after it
    // silently win over one before it (a global argument); refused alike here.
    if db_flags(std::env::args_os().skip(1)) > 1 {
        return Err(command.error(
            clap::error::ErrorKind::ArgumentConflict,
            "the argument '--db <FILE|URL>' cannot be used multiple times",
        ));
    }
    let matches = command.try_get_matches()?;
    <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
}

/// How many times `--db` is given in `args` (as `--db VALUE` or `--db=VALUE`), up to a `--`.
fn db_flags(args: impl Iterator<Item = std::ffi::OsString>) -> usize {
    let mut count = 0;
    let mut args = args;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == "--db" {
            count += 1;
            args.next(); // its value, whatever it looks like
        } else if text.starts_with("--db=") {
            count += 1;
        }
    }
    count
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List contexts in creation order with their step and type counts
    Contexts,

    /// Show totals, per-context statistics and, for a file, its size
    Stats,

    /// List the steps of a context, or show one step's specification in full
    Show {
        /// The context
        context: String,
        /// A step to show in full
        step: Option<String>,
    },

    /// List the step types of a context and their steps
    Types {
        /// The context
        context: String,
        /// Only this step type
        #[arg(value_name = "TYPE")]
        step_type: Option<String>,
    },

    /// Write a context as JSON (the export format, which `import` reads back)
    Export {
        /// The context
        context: String,
        /// Write to FILE (atomically) instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },

    /// Import specifications from JSON in one transaction: all or nothing
    ///
    /// Reads the export format or the cursus fixture format (a `steps` array). Every invalid
    /// specification is reported; on any error the database is unchanged.
    Import {
        /// The context (created if missing)
        context: String,
        /// The JSON file (`-` for standard input)
        file: PathBuf,
        /// Replace steps that are already registered instead of failing
        #[arg(long)]
        replace: bool,
        /// Take each step's job-type variant `variants[JOB_TYPE]` where it has one
        #[arg(long, value_name = "JOB_TYPE")]
        variant: Option<String>,
        /// Ignore fields that neither format knows instead of refusing the file (duplicate
        /// keys, an unknown `schema` and a nested `spec` section holding `dependencies` or
        /// `outputs` are refused either way)
        #[arg(long)]
        allow_unknown_fields: bool,
    },

    /// Resolve the dependencies of a context's steps and print the edges
    ///
    /// Prints consumer.dependency ← producer.output with the score, and the steps whose
    /// required dependencies found no output scoring above 0.5, with the best candidate.
    Resolve {
        /// The context
        context: String,
        /// The steps to resolve, in order (order breaks score ties; a step listed twice is
        /// refused) [default: every step in registration order]
        steps: Vec<String>,
        /// Show every candidate of every dependency with its score breakdown
        #[arg(long)]
        explain: bool,
        /// With --explain, show at most N candidates per dependency
        #[arg(long, value_name = "N", requires = "explain")]
        top: Option<usize>,
        /// Exit 1 when a required dependency stays unresolved
        #[arg(long)]
        fail_on_unresolved: bool,
    },

    /// Freeze the resolved edge graph of a context in a file, for check-snapshot
    Snapshot {
        /// The context
        context: String,
        /// The steps to resolve, in order [default: every step, as it is when checked]
        steps: Vec<String>,
        /// The snapshot file to write
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },

    /// Resolve again and compare with a snapshot; exit 1 when the wiring changed
    CheckSnapshot {
        /// The context
        context: String,
        /// The snapshot file written by `snapshot`
        file: PathBuf,
        /// Also fail when an edge's score changed though its wiring did not
        #[arg(long)]
        strict_scores: bool,
    },

    /// Delete a context and everything in it (a context that does not exist is left as it
    /// is: exit 0)
    Clear {
        /// The context
        context: String,
    },

    /// Delete every context (asks on a terminal; needs --yes otherwise)
    ClearAll {
        /// Do not ask for confirmation
        #[arg(short, long)]
        yes: bool,
    },

    /// Verify the file's checksums and decode every stored specification (on a copy: the
    /// file is never written, unless --repair)
    ///
    /// Also lists the files beside the registry that a pipeline-deps command killed while
    /// writing them left behind (`.pipeline-deps-replace-…` of compact or check --repair,
    /// `.pipeline-deps-…` of an export -o or snapshot -o there), with their sizes: they are
    /// not part of the registry and not a failure (the exit code stays 0), and can be
    /// deleted once no pipeline-deps command is running. Nothing is deleted automatically,
    /// since another command may be writing one now. --json lists them in leftover_files.
    Check {
        /// Repair the file in place if needed, after writing a byte-for-byte backup beside it
        /// (FILE.backup, or FILE.backup.N if that exists)
        #[arg(long)]
        repair: bool,
    },

    /// Compact the file into a new file renamed into place (a file failing the integrity
    /// check is refused and left as it is) and report the bytes reclaimed
    Compact,

    /// Copy every context from one registry into another (a file or a postgres:// URL on
    /// either side), each context in one transaction; run again, it skips contexts already
    /// copied
    Copy {
        /// The registry to copy from: a file, or postgres://user@host/database (default: the
        /// database, as --db chooses it)
        #[arg(long, value_name = "FILE|URL")]
        from: Option<PathBuf>,
        /// The registry to copy into (a missing file is created, with its missing
        /// directories). A context it already holds with the same steps is skipped (a copy run
        /// again finishes an interrupted one); one holding other steps is refused before
        /// anything is copied, and one another writer fills meanwhile when its turn comes
        #[arg(long, value_name = "FILE|URL")]
        to: PathBuf,
    },

    /// Build the design's example contexts from the real specifications, then print stats
    ///
    /// Registers seven real cursus step specifications in the contexts
    /// fraud_detection_training, fraud_detection_inference and unit_tests (creating the
    /// file if needed). Running it again replaces the same steps.
    Demo {
        /// Read the specifications from this fixture-format file (such as
        /// cursus-step-specs.json) instead of the excerpt built into the tool
        #[arg(long, value_name = "FILE")]
        specs: Option<PathBuf>,
    },

    /// Print a shell completion script (for example `pipeline-deps completions bash >
    /// ~/.local/share/bash-completion/completions/pipeline-deps`)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// The context the command works on, for the commands with a `CONTEXT` argument.
    pub fn context(&self) -> Option<&str> {
        match self {
            Command::Show { context, .. }
            | Command::Types { context, .. }
            | Command::Export { context, .. }
            | Command::Import { context, .. }
            | Command::Resolve { context, .. }
            | Command::Snapshot { context, .. }
            | Command::CheckSnapshot { context, .. }
            | Command::Clear { context } => Some(context),
            _ => None,
        }
    }
}
