//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Printed after `--help`: the documented exit codes and the database lookup.
const AFTER_HELP: &str = "\
DATABASE:
  --db FILE, else $PIPELINE_DEPS_DB, else the per-user file (on Linux
  $XDG_DATA_HOME/pipeline-deps/registry.redb, or ~/.local/share/pipeline-deps/registry.redb).
  Read commands open the file read-only, so they work while another process owns it in
  single-writer mode.

EXIT CODES:
  0  success (also when stdout is closed early, as by `| head`)
  1  a check failed: check-snapshot found changed wiring, or check found integrity problems
  2  usage error: bad arguments, or clear-all without confirmation
  3  database or file error: I/O, corrupted or foreign file, file in use, newer schema
  4  invalid input: malformed JSON or snapshot file, invalid specifications, a step name
     already taken, unknown context or step";

/// Inspect, import, export and check pipeline-deps registry databases.
#[derive(Debug, Parser)]
#[command(name = "pipeline-deps", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The registry database file
    #[arg(long, global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,

    /// Print machine-readable JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List contexts in creation order with their step and type counts
    Contexts,

    /// Show totals, per-context statistics and the file size
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
        /// keys and an unknown `schema` are refused either way)
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

    /// Delete a context and everything in it
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
    Check {
        /// Repair the file in place if needed, after writing a byte-for-byte backup beside it
        /// (FILE.backup, or FILE.backup.N if that exists)
        #[arg(long)]
        repair: bool,
    },

    /// Compact the file into a new file renamed into place (a file failing the integrity
    /// check is refused and left as it is) and report the bytes reclaimed
    Compact,

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
}
