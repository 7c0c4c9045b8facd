//! The crate's one error type, and the stable kinds a caller matches on.

use std::path::PathBuf;

use crate::resolve::DependencyResolutionError;
use crate::spec::SpecProblem;

/// A `Result` whose error is [`Error`].
///
/// ```
/// fn step_count(path: &std::path::Path) -> pipeline_deps::Result<usize> {
///     let manager = pipeline_deps::RegistryManager::open(path)?;
///     manager.get_registry("ml")?.len()
/// }
/// # let dir = tempfile::tempdir().map_err(|e| pipeline_deps::Error::Io { action: "tempdir".into(), source: e })?;
/// assert_eq!(step_count(&dir.path().join("r.redb"))?, 0);
/// # Ok::<(), pipeline_deps::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed underlying cause, kept as [`std::error::Error::source`].
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong in this crate.
///
/// Every fallible function of the crate returns this one type, so `?` works across the
/// whole API in a function returning [`Result`](crate::Result). Match on [`Error::kind`]
/// (stable, documented [`ErrorKind`]s) rather than on variants when you only need to know
/// what *kind* of failure it was; the variants carry the details (the context, step, file).
///
/// Messages say what happened and name the context, step or file involved; the underlying
/// cause (an `io::Error`, a storage engine or decoding error, a JSON parser error) is kept
/// as [`std::error::Error::source`] and never repeated in the message, so print the chain
/// to show both.
///
/// ```
/// use pipeline_deps::{ErrorKind, NodeType, RegistryManager, StepSpecification};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = RegistryManager::in_memory()?;
/// let registry = manager.get_registry("ml")?;
/// let spec = StepSpecification::new("Train", NodeType::Singular);
/// registry.register("train", &spec)?;
///
/// let error = registry.register("train", &spec).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::AlreadyExists);
/// assert_eq!(
///     error.to_string(),
///     "step 'train' is already registered in context 'ml'; use `upsert` to replace it or `unregister` it first"
/// );
///
/// let error = manager.get_registry("").unwrap_err();
/// assert!(error.is_invalid_input());
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the database file failed, or the output an export was writing to
    /// ([`SpecificationRegistry::export_json_to`](crate::SpecificationRegistry::export_json_to)).
    /// Kind [`ErrorKind::Io`].
    #[error("I/O error while {}", crate::spec::escape_name(action))]
    Io {
        /// What was being done, e.g. "registering step 'train' in context 'ml'".
        action: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk are not what this library wrote. Kind [`ErrorKind::Corruption`].
    #[error("the registry database is corrupted at {location}: {detail}; restore it from a backup")]
    Corrupted {
        /// Where: the file, context and step whose record failed, as far as known.
        location: String,
        /// What was wrong.
        detail: String,
        /// The decoder's or storage engine's error, when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// Another process (or another manager in this one) has the file open.
    /// Kind [`ErrorKind::InUse`].
    #[error(
        "the database {} is already open by another process or manager; close it first, or open it read-only while its owner runs in single-writer mode",
        shown_path(path)
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// The manager was opened by another process, which this one was forked from: the
    /// handle it inherited shares the file and the storage engine's state in memory with
    /// that process, so writing through it would lose writes and reading could see them
    /// half-done. Kind [`ErrorKind::InUse`]. (A PostgreSQL registry works in a forked
    /// process: it opens connections of its own.)
    #[error(
        "the database {} was opened by process {opened_by}, which this process ({process}) was forked from; a forked process cannot use its parent's open database: open a manager of its own (once the parent has closed the file)",
        shown_path(path)
    )]
    Forked {
        /// The database file.
        path: PathBuf,
        /// The process that opened it.
        opened_by: u32,
        /// This process.
        process: u32,
    },
    /// The file was written by a newer version of this library.
    /// Kind [`ErrorKind::SchemaVersion`].
    #[error(
        "the database {} has schema version {found}, newer than version {supported} that this build of pipeline-deps understands; upgrade pipeline-deps to open it",
        shown_path(path)
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: u64,
        /// Highest version this build reads.
        supported: u64,
    },
    /// The file is not a pipeline-deps registry (not redb, or redb with foreign tables).
    /// Kind [`ErrorKind::Corruption`].
    #[error(
        "{} is not a pipeline-deps registry database: {detail}",
        shown_path(path)
    )]
    NotARegistry {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        detail: String,
        /// The storage engine's error, when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// A context name was refused. Kind [`ErrorKind::InvalidInput`].
    #[error(
        "invalid context name {}: the name {reason}; use a non-empty name of at most 1024 bytes without control characters",
        shorten(name)
    )]
    InvalidContextName {
        /// The name as given (possibly long).
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A step name was refused by [`validate_step_name`](crate::spec::validate_step_name).
    /// Kind [`ErrorKind::InvalidInput`]. Registry operations report a bad step name
    /// otherwise: a registration as one of the problems of [`Error::InvalidSpec`] (with every
    /// other problem of the call), a read or removal as a step that is not registered.
    #[error(
        "invalid step name {}: the name {reason}; use a name that is not blank, of at most 1024 bytes, without control characters",
        shorten(name)
    )]
    InvalidStepName {
        /// The name as given (possibly long).
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// One or more specifications failed validation; every problem is listed, each naming
    /// its step and field. Nothing was written. Kind [`ErrorKind::InvalidInput`].
    #[error(
        "context {} refused {} invalid specification field(s), nothing was written: {}; fix the listed fields and register again",
        shorten(context), problems.len(), join_problems(problems)
    )]
    InvalidSpec {
        /// The context the specifications were registered into.
        context: String,
        /// Every problem found (each names its step and field).
        problems: Vec<SpecProblem>,
    },
    /// Input text (JSON) could not be parsed, or a value passed in was refused.
    /// Kind [`ErrorKind::InvalidInput`].
    #[error("invalid input in {what}: {detail}; fix the input and try again")]
    InvalidInput {
        /// What was being read, e.g. "the JSON import into context 'ml'".
        what: String,
        /// What is wrong with it, with the position for JSON (the parser's own message is
        /// the source).
        detail: String,
        /// The parser's error.
        #[source]
        source: Option<Cause>,
    },
    /// A context that does not exist was asked for where it cannot be created (a read-only
    /// manager). Kind [`ErrorKind::NotFound`].
    #[error(
        "there is no context {} in the database {}",
        shorten(context),
        shown_path(path)
    )]
    NoSuchContext {
        /// The context's full name.
        context: String,
        /// The database file.
        path: PathBuf,
    },
    /// `register` of a step name that is already taken. Kind [`ErrorKind::AlreadyExists`].
    #[error(
        "step {} is already registered in context {}; use `upsert` to replace it or `unregister` it first",
        shorten(step),
        shorten(context)
    )]
    AlreadyRegistered {
        /// The context.
        context: String,
        /// The step name.
        step: String,
    },
    /// An import into an empty context ([`RegistryManager::import_steps_into_empty`](crate::RegistryManager::import_steps_into_empty))
    /// found steps in it (already there, or put there meanwhile by another writer): nothing
    /// was imported. Kind [`ErrorKind::AlreadyExists`].
    #[error(
        "context {} already holds {step_count} step(s), so nothing was imported into it",
        shorten(context)
    )]
    ContextNotEmpty {
        /// The context.
        context: String,
        /// How many steps it holds.
        step_count: u64,
    },
    /// Required dependencies of a step stayed unresolved
    /// ([`UnifiedDependencyResolver::resolve_step_dependencies`](crate::UnifiedDependencyResolver::resolve_step_dependencies)).
    /// Kind [`ErrorKind::Unresolved`].
    #[error(transparent)]
    Unresolved(#[from] DependencyResolutionError),
    /// A registry handle outlived a `clear_context` of its context. Kind [`ErrorKind::State`].
    #[error(
        "context {} was cleared after this registry handle was taken; call `get_registry` with its name again for a fresh, empty context",
        shorten(context)
    )]
    ContextCleared {
        /// The context.
        context: String,
    },
    /// An earlier failure — an I/O error, or a panic in another thread while it held the
    /// database or its connections — left this handle unusable. Kind [`ErrorKind::State`].
    #[error(
        "an earlier failure (an I/O error, or a panic in another thread) left the database handle unusable while {action}; drop the manager and reopen the file (the last committed state is intact)"
    )]
    Poisoned {
        /// What was being attempted.
        action: String,
    },
    /// A write was attempted through a manager opened read-only. Kind [`ErrorKind::State`].
    #[error(
        "the database {} is open read-only, so it cannot be changed; open it again without read-only to write",
        shown_path(path)
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The PostgreSQL server of a `postgres://` registry could not be used; [`ServerErrorKind`]
    /// says why. Kind [`ErrorKind::Server`]. Nothing of the failed call was applied, except when the connection was lost
    /// while committing (the message then says the outcome is unknown). The next call
    /// reconnects.
    #[error("{}", server_message(*kind, server, action))]
    Server {
        /// Why the server could not be used.
        kind: ServerErrorKind,
        /// The server, as `postgres://user@host:port/database` (never the password).
        server: String,
        /// What was being done.
        action: String,
        /// The client library's error.
        #[source]
        source: Option<Cause>,
    },
    /// The process-wide default manager was already open when its path was to be chosen.
    /// Kind [`ErrorKind::State`].
    #[error(
        "the default manager is already open on {}; choose its path before its first use",
        shown_path(path)
    )]
    DefaultManagerOpen {
        /// The file the default manager has open.
        path: PathBuf,
    },
    /// The storage engine refused an operation for a reason not covered above (e.g. a value
    /// too large). Kind [`ErrorKind::Storage`].
    #[error("the storage engine refused {}", crate::spec::escape_name(action))]
    Storage {
        /// What was being done.
        action: String,
        /// The engine's error.
        #[source]
        source: Cause,
    },
}

/// Why a PostgreSQL server could not be used (see [`Error::Server`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// No connection could be made: nothing listens at the address, or the server is
    /// starting up or shutting down.
    ConnectionRefused,
    /// The server refused the user name or password (or the user is unknown).
    Authentication,
    /// The URL names a database that does not exist on the server.
    NoSuchDatabase,
    /// The connection broke during the call (server restart, network failure, the session
    /// was terminated).
    ConnectionLost,
    /// The server cancelled a statement after its `statement_timeout` or `lock_timeout`.
    StatementTimeout,
    /// The server accepts no writes: a hot standby, or `default_transaction_read_only` is on.
    ReadOnly,
    /// The database cannot hold a registry: its encoding is neither UTF8 nor SQL_ASCII, so
    /// some valid names could not be stored or even looked up.
    Unsupported,
    /// The database role lacks a privilege the call needs: to create the registry's tables
    /// (the first connection to a database), to write them, or to connect at all.
    PermissionDenied,
    /// TLS failed: the server's certificate was not trusted (not signed by the root
    /// certificate, or not issued for the URL's host), the handshake failed, the server
    /// offers no TLS where the URL's `sslmode` requires it, or its `pg_hba.conf` rejects the
    /// connection's kind of encryption.
    Tls,
    /// The server runs but has no connection slot left for this role: its
    /// `max_connections`, or the role's `CONNECTION LIMIT`. A manager that already holds a
    /// connection waits for one of its own instead (and opens no more than it then has).
    TooManyConnections,
}

fn server_message(kind: ServerErrorKind, server: &str, action: &str) -> String {
    match kind {
        ServerErrorKind::ConnectionRefused => format!(
            "could not connect to the PostgreSQL server {server} while {action}; check that the server runs and that the URL's host, port or socket directory is right"
        ),
        ServerErrorKind::Authentication => format!(
            "the PostgreSQL server {server} refused the connection while {action}: a wrong user or password, or no pg_hba.conf rule admits this user, database, host and encryption (the cause says which); check the user, password and sslmode of the URL (or of PGUSER, PGPASSWORD, the password file and PGSSLMODE)"
        ),
        ServerErrorKind::NoSuchDatabase => format!(
            "the PostgreSQL server {server} has no such database ({action}); check the database name (the URL's path, or PGDATABASE), or create the database (`CREATE DATABASE …`)"
        ),
        ServerErrorKind::ConnectionLost => format!(
            "the connection to the PostgreSQL server {server} was lost while {action}; the next call reconnects"
        ),
        ServerErrorKind::StatementTimeout => format!(
            "the PostgreSQL server {server} cancelled {action} after its statement or lock timeout, nothing of it was applied; retry, or raise the timeout"
        ),
        ServerErrorKind::ReadOnly => format!(
            "the PostgreSQL server {server} accepts no writes (a hot standby, or default_transaction_read_only is on), so {action} applied nothing; write through the primary server, or allow writes to the database"
        ),
        ServerErrorKind::PermissionDenied => format!(
            "the PostgreSQL server {server} refused {action}: the URL's role lacks a privilege it needs (the cause names it), so nothing was done; connect with a role that has it (the registry's first connection creates its tables, and the first after an upgrade of pipeline-deps may change them: the schema's owner can), or have the owner grant it"
        ),
        ServerErrorKind::Tls => format!(
            "the PostgreSQL server {server} and this connection did not agree on TLS while {action}, so no registry data was sent: the server's certificate was refused, the server offers no TLS where the URL requires it, or its pg_hba.conf rejects this kind of encryption (the cause says which); check the URL's sslmode and sslrootcert"
        ),
        ServerErrorKind::TooManyConnections => format!(
            "the PostgreSQL server {server} has no connection slot left for this role while {action} (its max_connections, or the role's CONNECTION LIMIT, is reached); open fewer connections (`connections(n)`), close other clients, or raise the limit"
        ),
        ServerErrorKind::Unsupported => format!(
            "the PostgreSQL database {server} cannot hold a registry ({action}): its encoding must be UTF8 (or SQL_ASCII) so that every valid name can be stored; create the database with `CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0`"
        ),
    }
}

/// What kind of failure an [`Error`] is: the stable classification to match on.
///
/// Kinds stay stable across releases (new kinds may be added, hence `non_exhaustive`);
/// variants of [`Error`] carry details and may be refined.
///
/// ```
/// use pipeline_deps::{ErrorKind, RegistryManager};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// match RegistryManager::in_memory()?.get_registry("bad\u{0}name") {
///     Err(e) if e.kind() == ErrorKind::InvalidInput => {} // tell the user, change nothing
///     Err(e) => return Err(e),
///     Ok(_) => unreachable!("a NUL byte is refused"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system failed to read or write the file, or an export's output
    /// ([`Error::Io`]). Retrying after fixing the disk or permissions may work.
    Io,
    /// The file is damaged or is not a registry ([`Error::Corrupted`],
    /// [`Error::NotARegistry`]). Restore it from a backup.
    Corruption,
    /// Another process or manager has the file open ([`Error::InUse`]), or this process
    /// was forked from the one that opened it ([`Error::Forked`]).
    InUse,
    /// The file comes from a newer version of this library ([`Error::SchemaTooNew`]).
    SchemaVersion,
    /// What the caller passed in was refused: names, specifications, JSON
    /// ([`Error::InvalidContextName`], [`Error::InvalidStepName`], [`Error::InvalidSpec`],
    /// [`Error::InvalidInput`]). Nothing was changed.
    InvalidInput,
    /// Something named does not exist ([`Error::NoSuchContext`]).
    NotFound,
    /// A name is already taken ([`Error::AlreadyRegistered`]), or a context that had to be
    /// empty holds steps ([`Error::ContextNotEmpty`]).
    AlreadyExists,
    /// Required dependencies stayed unresolved ([`Error::Unresolved`]).
    Unresolved,
    /// The handle or manager is in a state that does not allow the call: a handle taken
    /// before its context was cleared, a handle poisoned by an earlier I/O failure or panic, a write
    /// through a read-only manager, a default manager already open
    /// ([`Error::ContextCleared`], [`Error::Poisoned`], [`Error::ReadOnly`],
    /// [`Error::DefaultManagerOpen`]).
    State,
    /// The storage engine refused the operation for another reason ([`Error::Storage`]).
    Storage,
    /// The PostgreSQL server of a `postgres://` registry could not be used
    /// ([`Error::Server`]; its [`ServerErrorKind`] says why). The next call reconnects.
    Server,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Corrupted { .. } | Error::NotARegistry { .. } => ErrorKind::Corruption,
            Error::InUse { .. } | Error::Forked { .. } => ErrorKind::InUse,
            Error::SchemaTooNew { .. } => ErrorKind::SchemaVersion,
            Error::InvalidContextName { .. }
            | Error::InvalidStepName { .. }
            | Error::InvalidSpec { .. }
            | Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::NoSuchContext { .. } => ErrorKind::NotFound,
            Error::AlreadyRegistered { .. } | Error::ContextNotEmpty { .. } => {
                ErrorKind::AlreadyExists
            }
            Error::Unresolved(_) => ErrorKind::Unresolved,
            Error::ContextCleared { .. }
            | Error::Poisoned { .. }
            | Error::ReadOnly { .. }
            | Error::DefaultManagerOpen { .. } => ErrorKind::State,
            Error::Storage { .. } => ErrorKind::Storage,
            Error::Server { .. } => ErrorKind::Server,
        }
    }

    /// True for [`ErrorKind::Io`].
    pub fn is_io(&self) -> bool {
        self.kind() == ErrorKind::Io
    }

    /// True for [`ErrorKind::Corruption`] ([`Error::Corrupted`] and [`Error::NotARegistry`]).
    pub fn is_corruption(&self) -> bool {
        self.kind() == ErrorKind::Corruption
    }

    /// True for [`ErrorKind::InvalidInput`]: errors caused by what the caller passed in.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// The unresolved dependencies, for [`Error::Unresolved`].
    pub fn unresolved(&self) -> Option<&DependencyResolutionError> {
        match self {
            Error::Unresolved(e) => Some(e),
            _ => None,
        }
    }

    /// Invalid JSON in `what`: the message says where (line and column, when the error came
    /// from text: one from an already parsed value has none) and what sort of problem it
    /// is; the parser's own message is the source.
    pub(crate) fn invalid_json(what: impl Into<String>, err: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let problem = match (err.classify(), field_named(&err)) {
            (_, Some(FieldNamed::Missing(field))) => {
                format!("lacks the required field `{}`", shorten_key(&field))
            }
            (_, Some(FieldNamed::Repeated(field))) => format!(
                "gives the field `{}` twice (under its name and an alias, or both aliases)",
                shorten_key(&field)
            ),
            (_, Some(FieldNamed::Unknown(field))) => {
                format!("has the unknown field `{}`", shorten_key(&field))
            }
            (Category::Io, None) => "could not be read".to_owned(),
            (Category::Syntax, None) => "is not valid JSON".to_owned(),
            (Category::Data, None) => "does not have the expected shape".to_owned(),
            (Category::Eof, None) => "ends too early".to_owned(),
        };
        let detail = match err.line() {
            0 => format!("it {problem}"),
            line => format!("it {problem} at line {line}, column {}", err.column()),
        };
        Error::InvalidInput {
            what: what.into(),
            detail,
            source: Some(Box::new(err)),
        }
    }

    /// [`Error::invalid_json`] of a value read through `serde_path_to_error`: `what` is
    /// followed by the field the error is about (`path`, `.` for the value itself). A
    /// missing (or repeated) field is named with the path of the object that lacks it, so
    /// the message alone says which field is wrong where, e.g. `field
    /// `dependencies.x.step_type``; the parser's message stays the source.
    pub(crate) fn invalid_json_at(what: &str, path: &str, err: serde_json::Error) -> Self {
        let field = match field_named(&err) {
            Some(FieldNamed::Missing(name) | FieldNamed::Repeated(name)) if path == "." => name,
            Some(FieldNamed::Missing(name) | FieldNamed::Repeated(name)) => {
                format!("{path}.{name}")
            }
            // The path ends with the unknown key itself: the message names where it lies.
            Some(FieldNamed::Unknown(name)) => match path
                .strip_suffix(name.as_str())
                .map(|parent| parent.trim_end_matches('.'))
            {
                Some(parent) if !parent.is_empty() && parent != "." => parent.to_owned(),
                _ => return Error::invalid_json(what, err),
            },
            None if path == "." => return Error::invalid_json(what, err),
            None => path.to_owned(),
        };
        Error::invalid_json(format!("{what}, field `{}`", shorten_key(&field)), err)
    }

    pub(crate) fn corrupted(
        location: impl Into<String>,
        detail: impl Into<String>,
        source: Option<Cause>,
    ) -> Self {
        Error::Corrupted {
            location: location.into(),
            detail: detail.into(),
            source,
        }
    }

    /// This error, with `place` (a database file or server, as messages show it) named in
    /// a corruption's location when it is not already: damage found deep in a read or
    /// write is located by its context and step, and a program with several registries
    /// must know which one to restore. Other errors are returned as they are.
    pub(crate) fn located_in(self, place: &str) -> Self {
        match self {
            Error::Corrupted {
                location,
                detail,
                source,
            } if !location.contains(place) => Error::Corrupted {
                location: format!("{location} of {place}"),
                detail,
                source,
            },
            other => other,
        }
    }
}

/// A field serde names in its error: one a struct requires and the input lacks, or one
/// given twice (through an alias). serde derive names the field of its struct, never text
/// of the input; the name is escaped and bounded all the same ([`shorten_key`]).
enum FieldNamed {
    Missing(String),
    Repeated(String),
    /// A key of the input that a struct refusing unknown fields does not have (input
    /// text, so escaped and bounded like the others).
    Unknown(String),
}

/// The field of a "missing field `x`" or "duplicate field `x`" error (serde's wording).
fn field_named(err: &serde_json::Error) -> Option<FieldNamed> {
    if err.classify() != serde_json::error::Category::Data {
        return None;
    }
    let message = err.to_string();
    if let Some(rest) = message.strip_prefix("missing field `") {
        Some(FieldNamed::Missing(rest.split_once('`')?.0.to_owned()))
    } else if let Some(rest) = message.strip_prefix("duplicate field `") {
        Some(FieldNamed::Repeated(rest.split_once('`')?.0.to_owned()))
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        // The key may hold a backquote itself: serde ends it with "`, expected".
        let end = rest.rfind("`, expected").or_else(|| rest.rfind('`'))?;
        Some(FieldNamed::Unknown(rest[..end].to_owned()))
    } else {
        None
    }
}

/// A key as messages show it (inside backquotes): escaped ([`crate::spec::escape_name_exact`]) and
/// cut after 100 characters.
pub(crate) fn shorten_key(key: &str) -> String {
    const LIMIT: usize = 100;
    let key = crate::spec::escape_name_exact(key);
    if key.chars().count() <= LIMIT {
        key.into_owned()
    } else {
        let head: String = key.chars().take(LIMIT).collect();
        format!("{head}…")
    }
}

/// A name as messages show it: escaped ([`crate::spec::escape_name_exact`]) so that control and
/// invisible reordering characters cannot reach a terminal or a log raw, quoted, and cut to
/// 100 characters so that hostile input cannot make an error message megabytes long.
pub(crate) fn shorten(name: &str) -> String {
    let shown = crate::spec::escape_name_exact(name);
    match cut_head(&shown) {
        None => format!("'{shown}'"),
        Some(head) => format!("'{head}…' ({} bytes)", name.len()),
    }
}

/// The first 100 characters of `text` when it is longer (messages cut names there, and say
/// how long the whole was), `None` when it is whole.
pub(crate) fn cut_head(text: &str) -> Option<String> {
    const LIMIT: usize = 100;
    (text.chars().count() > LIMIT).then(|| text.chars().take(LIMIT).collect())
}

/// A path as messages show it: escaped like a name ([`crate::spec::escape_name_exact`]), so that a
/// control character in a file name cannot reach a terminal or log raw.
fn shown_path(path: &std::path::Path) -> String {
    crate::spec::escape_name_exact(&path.to_string_lossy()).into_owned()
}

/// "the record of step 's' in context 'c'": where a record's encoding or decoding failed.
pub(crate) fn step_record(context: &str, step: &str) -> String {
    format!(
        "the record of step {} in context {}",
        shorten(step),
        shorten(context)
    )
}

/// The first few problems (all of them stay in [`Error::InvalidSpec::problems`]), so that an
/// import of many bad steps cannot make the message megabytes long.
fn join_problems(problems: &[SpecProblem]) -> String {
    const SHOWN: usize = 10;
    let mut text = problems
        .iter()
        .take(SHOWN)
        .map(|p| {
            // The field holds a dependency or output name: escaped as `SpecProblem` shows it.
            let field = crate::spec::escape_name_exact(&p.field);
            format!("step {}: {field} {}", shorten(&p.step), p.message)
        })
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_json_keeps_the_parser_message_in_source_only() {
        let Err(parse) = serde_json::from_str::<serde_json::Value>("{\"a\": }") else {
            panic!("the text is not JSON");
        };
        let parser_message = parse.to_string();
        let error = Error::invalid_json("the test document", parse);
        let message = error.to_string();
        assert_eq!(
            message,
            "invalid input in the test document: it is not valid JSON at line 1, column 7; fix the input and try again"
        );
        assert!(!message.contains(&parser_message));
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source, Some(parser_message));
    }

    #[test]
    fn storage_keeps_its_cause_as_source() {
        let error = Error::Storage {
            action: "writing".into(),
            source: "value too large".into(),
        };
        assert_eq!(error.to_string(), "the storage engine refused writing");
        assert_eq!(
            std::error::Error::source(&error).map(ToString::to_string),
            Some("value too large".to_owned())
        );
        assert_eq!(error.kind(), ErrorKind::Storage);
    }

    #[test]
    fn state_errors_are_not_invalid_input() {
        let stale = Error::ContextCleared {
            context: "ml".into(),
        };
        let read_only = Error::ReadOnly {
            path: "r.redb".into(),
        };
        for error in [stale, read_only] {
            assert_eq!(error.kind(), ErrorKind::State);
            assert!(!error.is_invalid_input());
        }
    }

    #[test]
    fn no_library_message_tells_the_user_to_run_the_cli() {
        let errors = [
            Error::corrupted("context 'ml'", "a record does not decode", None),
            Error::InUse {
                path: "r.redb".into(),
            },
            Error::NoSuchContext {
                context: "ml".into(),
                path: "r.redb".into(),
            },
        ];
        for error in errors {
            assert!(!error.to_string().contains("pipeline-deps "), "{error}");
        }
    }
}
