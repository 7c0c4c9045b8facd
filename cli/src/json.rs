//! The `--json` documents: one `Serialize` type per command, each tagged with its schema.
//!
//! Every document is an object whose first key is `schema` (`pipeline-deps/NAME/vN`) and
//! whose second is `database` (the registry file, reported as [`crate::output::shown_path`]
//! does). The same concept has the same key and shape everywhere:
//! a context is [`Context`], an edge is the library's `ResolvedEdge`, an unresolved step is
//! the library's `UnresolvedStep` (key `unresolved`, as in snapshot files), a candidate is
//! [`Candidate`] with the library's `ScoreBreakdown`, a problem is [`Problem`].
//! docs/json.md describes every document; cli/tests/golden.rs pins them. A field may be
//! added within a version; renaming or removing one needs a new version.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pipeline_deps::ContextStats;
use pipeline_deps::scoring::ScoreBreakdown;
use pipeline_deps::spec::SpecProblem;
use serde::Serialize;

use crate::output::shown_path;

/// The schema tags, one per document. Every tag is listed in docs/json.md.
pub mod schema {
    /// `contexts --json`.
    pub const CONTEXTS: &str = "pipeline-deps/contexts/v1";
    /// `stats --json`.
    pub const STATS: &str = "pipeline-deps/stats/v1";
    /// `show CONTEXT --json`.
    pub const STEPS: &str = "pipeline-deps/steps/v1";
    /// `show CONTEXT STEP --json`.
    pub const STEP: &str = "pipeline-deps/step/v1";
    /// `types CONTEXT --json`.
    pub const TYPES: &str = "pipeline-deps/types/v1";
    /// `export CONTEXT -o FILE --json` (without `-o`, export prints the export format).
    pub const EXPORT: &str = "pipeline-deps/export/v1";
    /// `import --json`.
    pub const IMPORT: &str = "pipeline-deps/import/v1";
    /// `resolve --json`.
    pub const RESOLVE: &str = "pipeline-deps/resolve/v1";
    /// `snapshot --json`.
    pub const SNAPSHOT: &str = "pipeline-deps/snapshot/v1";
    /// `check-snapshot --json`.
    pub const CHECK_SNAPSHOT: &str = "pipeline-deps/check-snapshot/v1";
    /// `clear --json`.
    pub const CLEAR: &str = "pipeline-deps/clear/v1";
    /// `clear-all --json`.
    pub const CLEAR_ALL: &str = "pipeline-deps/clear-all/v1";
    /// `check --json`.
    pub const CHECK: &str = "pipeline-deps/check/v1";
    /// `compact --json`.
    pub const COMPACT: &str = "pipeline-deps/compact/v1";
    /// `demo --json`.
    pub const DEMO: &str = "pipeline-deps/demo/v1";
    /// `copy --from A --to B --json`.
    pub const COPY: &str = "pipeline-deps/copy/v1";
    /// `--version --json`.
    pub const VERSION: &str = "pipeline-deps/version/v1";
    /// Any failure under `--json`, on standard error.
    pub const ERROR: &str = "pipeline-deps/error/v1";
    /// A note under `--json`, on standard error (the command goes on).
    pub const NOTE: &str = "pipeline-deps/note/v1";
}

/// A path in a document: [`shown_path`]'s, as text. A path that is not valid UTF-8 (Linux
/// allows any bytes in a file name) cannot be JSON text as it is: each of its byte sequences
/// that are not UTF-8 is written as U+FFFD (`�`), as human output shows it, so that the
/// document still names the file, if not in a form to reuse.
#[derive(Debug, Clone)]
pub struct JsonPath(PathBuf);

impl JsonPath {
    /// `path` as [`shown_path`] reports it.
    pub fn shown(path: &Path) -> JsonPath {
        JsonPath(shown_path(path))
    }

    /// `path` as it is.
    pub fn exact(path: &Path) -> JsonPath {
        JsonPath(path.to_path_buf())
    }
}

impl Serialize for JsonPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // serde's own `Path` serialization refuses a path that is not UTF-8, which would
        // lose the whole document (an error document included).
        serializer.serialize_str(&self.0.to_string_lossy())
    }
}

/// A document: the schema tag and the database, then the command's own fields.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    schema: &'static str,
    database: JsonPath,
    #[serde(flatten)]
    body: &'a T,
}

/// Writes `body` as the document `schema` about database `db`, pretty-printed, and a
/// newline. The text is built first so that a write error reaches the caller as the
/// `io::Error` it is (a closed pipe stays recognisable).
///
/// # Errors
/// The writer's errors.
pub fn write(
    out: &mut dyn Write,
    schema: &'static str,
    db: &Path,
    body: &impl Serialize,
) -> io::Result<()> {
    let doc = Tagged {
        schema,
        database: JsonPath::shown(db),
        body,
    };
    let text = serde_json::to_string_pretty(&doc).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// The `--version --json` document: this build's version, the file format it writes and
/// whether it can reach a PostgreSQL server.
#[derive(Serialize)]
struct VersionReport {
    schema: &'static str,
    version: &'static str,
    storage_schema_version: u64,
    postgres: bool,
}

/// Writes the `--version --json` document on standard output.
///
/// # Errors
/// Writing to standard output.
pub fn write_version(out: &mut dyn Write) -> io::Result<()> {
    let report = VersionReport {
        schema: schema::VERSION,
        version: env!("CARGO_PKG_VERSION"),
        storage_schema_version: pipeline_deps::storage::SCHEMA_VERSION,
        postgres: cfg!(feature = "postgres"),
    };
    let text = serde_json::to_string_pretty(&report).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// A context: its name and the catalog's statistics (`step_count`, `step_type_count`,
/// `registry_type`).
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// The context's name.
    pub name: String,
    /// The catalog's counts.
    #[serde(flatten)]
    pub stats: ContextStats,
}

impl Context {
    /// Every context of `stats`, in creation order.
    pub fn list(stats: &indexmap::IndexMap<String, ContextStats>) -> Vec<Context> {
        stats
            .iter()
            .map(|(name, stats)| Context {
                name: name.clone(),
                stats: stats.clone(),
            })
            .collect()
    }
}

/// Sums over every context.
#[derive(Debug, Serialize)]
pub struct Totals {
    /// Number of contexts.
    pub contexts: usize,
    /// Steps in all contexts.
    pub steps: usize,
    /// Step types, summed over contexts.
    pub step_types: usize,
}

impl Totals {
    /// The totals of `contexts`.
    pub fn of(contexts: &[Context]) -> Totals {
        Totals {
            contexts: contexts.len(),
            steps: contexts.iter().map(|c| c.stats.step_count).sum(),
            step_types: contexts.iter().map(|c| c.stats.step_type_count).sum(),
        }
    }
}

/// A problem with a specification or a record: the step and field when there is one, and
/// what is wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The step concerned, if any.
    pub step: Option<String>,
    /// The field concerned, if any (e.g. `outputs.model.logical_name`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl From<&SpecProblem> for Problem {
    /// Names are exact, except that a step name longer than the library's limit
    /// ([`pipeline_deps::spec::MAX_NAME_BYTES`], so invalid anyway) is cut to
    /// [`crate::output::NAME_LIMIT`] characters and ends in `…`: a bounded report stays
    /// small however long the names in the input. A field is a path naming at most one
    /// entry, by its key, which the library puts there only when it is a valid name: it is
    /// cut only beyond that limit and [`FIELD_WORDS`], so it keeps a valid key exact.
    fn from(p: &SpecProblem) -> Self {
        let limit = pipeline_deps::spec::MAX_NAME_BYTES;
        Problem {
            step: Some(bounded_name(&p.step, limit)),
            field: Some(bounded_name(&p.field, limit + FIELD_WORDS)),
            message: p.message.clone(),
        }
    }
}

/// The bytes a problem's field holds beside the key it names: its section and sub-field
/// (`dependencies.` and `.semantic_keywords[12]`, say).
const FIELD_WORDS: usize = 64;

/// `name`, or its first [`crate::output::NAME_LIMIT`] characters and `…` when it is longer
/// than `limit` bytes.
fn bounded_name(name: &str, limit: usize) -> String {
    if name.len() <= limit {
        name.to_owned()
    } else {
        let mut head: String = name.chars().take(crate::output::NAME_LIMIT).collect();
        head.push('…');
        head
    }
}

impl Problem {
    /// A problem that concerns no particular step.
    pub fn general(message: impl Into<String>) -> Problem {
        Problem {
            step: None,
            field: None,
            message: message.into(),
        }
    }
}

/// At most this many problems are listed, in JSON and for people; the rest are counted.
pub const PROBLEMS_SHOWN: usize = 10;

/// The first [`PROBLEMS_SHOWN`] problems and how many were left out.
pub fn bounded<'a, T: 'a, P: From<&'a T>>(
    problems: impl IntoIterator<Item = &'a T>,
) -> (Vec<P>, usize) {
    let mut shown = Vec::new();
    let mut omitted = 0;
    for p in problems {
        if shown.len() < PROBLEMS_SHOWN {
            shown.push(P::from(p));
        } else {
            omitted += 1;
        }
    }
    (shown, omitted)
}

/// A producer output that could feed a dependency, with its score and breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The producer step.
    pub producer: String,
    /// The producer's output.
    pub output: String,
    /// The compatibility score.
    pub score: f64,
    /// How the score is made up.
    pub score_breakdown: ScoreBreakdown,
}

/// A dependency that no output feeds, with the best candidate there was.
#[derive(Debug, Serialize)]
pub struct Unwired {
    /// The consumer step.
    pub consumer: String,
    /// The consumer's dependency.
    pub dependency: String,
    /// Whether the dependency is required.
    pub required: bool,
    /// The best-scoring type-compatible output, if any.
    pub best_candidate: Option<Candidate>,
}

/// Every candidate of one dependency (`resolve --explain`).
#[derive(Debug, Serialize)]
pub struct ExplainedDependency {
    /// The consumer step.
    pub consumer: String,
    /// The consumer's dependency.
    pub dependency: String,
    /// The dependency's type.
    pub dependency_type: String,
    /// Whether the dependency is required.
    pub required: bool,
    /// `producer.output` it is wired to, if any.
    pub wired_to: Option<String>,
    /// Candidates scoring above 0, best first (at most `--top`).
    pub candidates: Vec<Candidate>,
    /// Candidates left out by `--top`.
    pub more: usize,
}

/// The database the command was given, once known (for the error document).
pub static DATABASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The one context the command works on (the commands with a `CONTEXT` argument), for an
/// error that names none itself (an input document's problem, a server's refusal).
pub static CONTEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The contexts a failure is about when it is about several (the contexts a `copy`
/// refuses because they hold other steps in the target), exactly as named.
pub static CONTEXTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The database a failure is about when it is not [`DATABASE`] (the source of a `copy`
/// that failed reading it), for the commands a hint suggests.
pub static HINT_DATABASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The database a failure is about: [`HINT_DATABASE`] when set, else [`DATABASE`].
pub fn failing_database() -> Option<&'static PathBuf> {
    HINT_DATABASE.get().or_else(|| DATABASE.get())
}

/// Set when `--json` was given: notes and logs on standard error are JSON lines then too,
/// so that every line there is one JSON object.
pub static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `--json` was given.
pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A note: something the user should know about a command that goes on.
#[derive(Debug, Serialize)]
struct Note<'a> {
    schema: &'static str,
    database: Option<JsonPath>,
    kind: &'static str,
    message: &'a str,
}

/// Prints note `kind` (a stable identifier) with `message` (what people see) on standard
/// error as one line of JSON.
pub fn write_note(kind: &'static str, message: &str) {
    let note = Note {
        schema: schema::NOTE,
        database: DATABASE.get().map(|db| JsonPath::shown(db)),
        kind,
        message,
    };
    if let Ok(text) = serde_json::to_string(&note) {
        // Nothing sensible is left to do if standard error is gone.
        let _ = writeln!(io::stderr().lock(), "{text}");
    }
}

/// The error document: one object on standard error under `--json`.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    schema: &'static str,
    /// The registry file, when one was chosen.
    database: Option<JsonPath>,
    /// What kind of failure (`invalid_spec`, `unknown_context`, `no_database`, `in_use`…).
    kind: &'static str,
    /// The message people see (its first line; problems are listed in `problems`).
    message: String,
    /// The process's exit code.
    exit_code: u8,
    /// The context involved, if any.
    context: Option<String>,
    /// The step (or step type) involved, if any.
    step: Option<String>,
    /// The contexts involved when the failure is about several, else empty.
    contexts: Vec<String>,
    /// The file involved, if any.
    file: Option<JsonPath>,
    /// Invalid specifications: at most [`PROBLEMS_SHOWN`].
    problems: Vec<Problem>,
    /// Problems left out of `problems`.
    problems_omitted: usize,
    /// The chain of causes, outermost first.
    causes: Vec<String>,
}

fn library_kind(e: &pipeline_deps::Error) -> &'static str {
    use pipeline_deps::Error as E;
    match e {
        E::Io { .. } => "io",
        E::Corrupted { .. } => "corrupted",
        E::InUse { .. } | E::Forked { .. } => "in_use",
        E::SchemaTooNew { .. } => "schema_too_new",
        E::NotARegistry { .. } => "not_a_registry",
        E::InvalidContextName { .. } => "invalid_context_name",
        E::InvalidSpec { .. } => "invalid_spec",
        E::InvalidInput { .. } => "invalid_input",
        E::AlreadyRegistered { .. } => "already_registered",
        E::ContextNotEmpty { .. } => "context_not_empty",
        E::ContextCleared { .. } => "context_cleared",
        E::Poisoned { .. } => "poisoned",
        E::ReadOnly { .. } => "read_only",
        E::Storage { .. } => "storage",
        E::InvalidStepName { .. } => "invalid_step_name",
        E::NoSuchContext { .. } => "unknown_context",
        E::Unresolved(_) => "unresolved",
        E::DefaultManagerOpen { .. } => "default_manager_open",
        E::Server { kind, .. } => server_kind(*kind),
        _ => "library",
    }
}

/// The kind of a PostgreSQL server's error: what a script can act on.
fn server_kind(kind: pipeline_deps::ServerErrorKind) -> &'static str {
    use pipeline_deps::ServerErrorKind as K;
    match kind {
        K::ConnectionRefused => "connection_refused",
        K::Authentication => "authentication",
        K::NoSuchDatabase => "no_such_database",
        K::ConnectionLost => "connection_lost",
        K::StatementTimeout => "statement_timeout",
        K::ReadOnly => "read_only",
        K::Unsupported => "unsupported_database",
        K::Tls => "tls",
        K::PermissionDenied => "permission_denied",
        K::TooManyConnections => "too_many_connections",
        _ => "server",
    }
}

/// The input file the command read (not standard input), once known: the `file` of an
/// error about its content.
pub static INPUT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The step of the command's input document that the refusal of its content is about (an
/// import's unknown field, value of the wrong shape, step listed twice…), exactly as named
/// there: the `step` of that error.
pub static INPUT_STEP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl ErrorReport {
    /// The document for `failure`.
    pub fn of(failure: &crate::Failure) -> ErrorReport {
        use crate::Failure as F;
        use pipeline_deps::Error as E;
        let message = failure.to_string();
        let mut report = ErrorReport {
            schema: schema::ERROR,
            // The database the failure is about: a `copy`'s source when reading it failed.
            database: failing_database().map(|db| JsonPath::shown(db)),
            kind: "library",
            message: message.lines().next().unwrap_or_default().to_owned(),
            exit_code: failure.exit_code(),
            context: None,
            step: None,
            contexts: CONTEXTS.get().cloned().unwrap_or_default(),
            file: None,
            problems: Vec::new(),
            problems_omitted: 0,
            causes: Vec::new(),
        };
        let mut cause = std::error::Error::source(failure);
        while let Some(e) = cause {
            report.causes.push(e.to_string());
            cause = e.source();
        }
        match failure {
            F::Library(e) => {
                report.kind = library_kind(e);
                match e {
                    E::InvalidSpec { context, problems } => {
                        report.context = Some(context.clone());
                        (report.problems, report.problems_omitted) = bounded(problems);
                        // Specs read from an input document (an import) came from it.
                        report.file = INPUT.get().map(|f| JsonPath::shown(f));
                    }
                    E::AlreadyRegistered { context, step } => {
                        report.context = Some(context.clone());
                        report.step = Some(step.clone());
                    }
                    E::ContextCleared { context } | E::ContextNotEmpty { context, .. } => {
                        report.context = Some(context.clone());
                    }
                    E::NoSuchContext { context, path } => {
                        report.context = Some(context.clone());
                        report.file = Some(JsonPath::shown(path));
                    }
                    E::InvalidStepName { name, .. } => report.step = Some(name.clone()),
                    E::Unresolved(e) => report.step = Some(e.step.clone()),
                    E::InvalidContextName { name, .. } => report.context = Some(name.clone()),
                    E::InUse { path }
                    | E::Forked { path, .. }
                    | E::SchemaTooNew { path, .. }
                    | E::NotARegistry { path, .. }
                    | E::ReadOnly { path } => report.file = Some(JsonPath::shown(path)),
                    // The library's I/O is on the database file (a `copy`'s source when
                    // reading it failed).
                    E::Io { .. } => report.file = failing_database().map(|db| JsonPath::shown(db)),
                    // An error in the input's content names the file it came from, and the
                    // step of it that the error is about, when there is one.
                    E::InvalidInput { .. } => {
                        report.file = INPUT.get().map(|f| JsonPath::shown(f));
                        report.step = INPUT_STEP.get().cloned();
                    }
                    _ => {}
                }
            }
            F::Io { file, .. } => {
                report.kind = "io";
                report.file = file.as_deref().map(JsonPath::shown);
            }
            F::NoDatabase(path) => {
                report.kind = "no_database";
                report.file = Some(JsonPath::shown(path));
            }
            F::Invalid(_) => report.kind = "invalid_input",
            F::Missing(missing) => {
                report.kind = missing.kind;
                report.context = Some(missing.context.clone());
                report.step = missing.name.clone();
                if missing.kind == "already_registered" {
                    report.file = INPUT.get().map(|f| JsonPath::shown(f));
                }
            }
            F::Usage(_) => report.kind = "usage",
        }
        if report.context.is_none() {
            report.context = CONTEXT.get().cloned();
        }
        report
    }
}

fn write_stderr(report: &ErrorReport) {
    if let Ok(text) = serde_json::to_string(report) {
        // Nothing sensible is left to do if standard error is gone too.
        let _ = writeln!(io::stderr().lock(), "{text}");
    }
}

/// Prints the error document of `failure` on standard error (one line of JSON).
pub fn write_error(failure: &crate::Failure) {
    write_stderr(&ErrorReport::of(failure));
}

/// Prints the error document of an internal error (`kind` `internal`, a bug): `message`
/// says so, without the panic's own text.
pub fn write_internal_error(message: &str, exit_code: u8) {
    let mut report = ErrorReport::of(&crate::Failure::Usage(message.to_owned()));
    report.kind = "internal";
    report.exit_code = exit_code;
    write_stderr(&report);
}

/// Prints the error document of a command line clap refused (`kind` `usage`).
pub fn write_usage_error(rendered: &str, exit_code: u8) {
    // clap's message is the text before the usage lines, on one line.
    let head = rendered.split("\n\n").next().unwrap_or_default();
    let head = head.strip_prefix("error: ").unwrap_or(head);
    let message = head.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut report = ErrorReport::of(&crate::Failure::Usage(message));
    report.exit_code = exit_code;
    write_stderr(&report);
}
