//! The crate's one error type.

use std::path::PathBuf;

use crate::spec::SpecProblem;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// The variants fall in six families, each with a predicate:
/// I/O ([`Error::is_io`]), corruption ([`Error::is_corruption`]), in use
/// ([`Error::InUse`]), schema version ([`Error::SchemaTooNew`]), invalid input
/// ([`Error::is_invalid_input`]) and state ([`Error::AlreadyRegistered`],
/// [`Error::ContextCleared`], [`Error::Poisoned`]). The underlying cause (an `io::Error`, a
/// storage engine or decoding error) is kept as [`std::error::Error::source`], never repeated
/// in the message. Messages are sentences that name the context and step involved and say
/// what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the database file failed.
    #[error(
        "I/O error while {action}; check that the file is reachable, writable and that the disk is not full"
    )]
    Io {
        /// What was being done, e.g. "registering step 'train' in context 'ml'".
        action: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk are not what this library wrote.
    #[error(
        "the registry database is corrupted at {location}: {detail}; run `pipeline-deps check` and restore the file from a backup if it fails"
    )]
    Corrupted {
        /// Where: the file, context and step whose record failed, as far as known.
        location: String,
        /// What was wrong.
        detail: String,
        /// The decoder's or storage engine's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Another process (or another manager in this one) has the file open.
    #[error(
        "the database {} is already open by another process or manager; close it first, or inspect it read-only with `pipeline-deps --db {} stats` while its owner runs in single-writer mode",
        path.display(), path.display()
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// The file was written by a newer version of this library.
    #[error(
        "the database {} has schema version {found}, newer than version {supported} that this build of pipeline-deps understands; upgrade pipeline-deps to open it",
        path.display()
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
    #[error("{} is not a pipeline-deps registry database: {detail}; check the path", path.display())]
    NotARegistry {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        detail: String,
        /// The storage engine's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A context name was refused.
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
    /// One or more specifications failed validation; every problem is listed, each naming
    /// its step and field. Nothing was written.
    #[error(
        "context '{context}' refused {} invalid specification field(s), nothing was written: {}; fix the listed fields and register again",
        problems.len(), join_problems(problems)
    )]
    InvalidSpec {
        /// The context the specifications were registered into.
        context: String,
        /// Every problem found (each names its step and field).
        problems: Vec<SpecProblem>,
    },
    /// Input text (JSON) could not be parsed.
    #[error("invalid input in {what}: {detail}; fix the input and try again")]
    InvalidInput {
        /// What was being read, e.g. "the JSON import for context 'ml'".
        what: String,
        /// The parser's explanation with position.
        detail: String,
        /// The parser's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// `register` of a step name that is already taken.
    #[error(
        "step {} is already registered in context '{context}'; use `upsert` to replace it or `unregister` it first",
        shorten(step)
    )]
    AlreadyRegistered {
        /// The context.
        context: String,
        /// The step name.
        step: String,
    },
    /// A registry handle outlived a `clear_context` of its context.
    #[error(
        "context '{context}' was cleared after this registry handle was taken; call `get_registry(\"{context}\")` again for a fresh, empty context"
    )]
    ContextCleared {
        /// The context.
        context: String,
    },
    /// An earlier I/O failure left this database handle unusable.
    #[error(
        "an earlier I/O failure left the database handle unusable while {action}; drop the manager and reopen the file (the last committed state is intact)"
    )]
    Poisoned {
        /// What was being attempted.
        action: String,
    },
    /// A write was attempted through a manager opened read-only.
    #[error(
        "the database {} is open read-only, so it cannot be changed; open it with `RegistryManager::open` (not read-only) to write",
        path.display()
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The PostgreSQL server of a `postgres://` registry could not be used; [`ServerErrorKind`]
    /// says why. Nothing of the failed call was applied, except when the connection was lost
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
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The storage engine refused an operation for a reason not covered above (e.g. a value
    /// too large).
    #[error("the storage engine refused {action}: {detail}")]
    Storage {
        /// What was being done.
        action: String,
        /// The engine's explanation.
        detail: String,
    },
}

/// Why a PostgreSQL server could not be used (see [`Error::Server`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// No connection could be made: nothing listens at the address, or the server is
    /// starting up or shutting down.
    ConnectionRefused,
    /// The server refused the user name or password (or the user or database is unknown).
    Authentication,
    /// The connection broke during the call (server restart, network failure, the session
    /// was terminated).
    ConnectionLost,
    /// The server cancelled a statement after its `statement_timeout` or `lock_timeout`.
    StatementTimeout,
}

fn server_message(kind: ServerErrorKind, server: &str, action: &str) -> String {
    match kind {
        ServerErrorKind::ConnectionRefused => format!(
            "could not connect to the PostgreSQL server {server} while {action}; check that the server runs and that the URL's host, port or socket directory is right"
        ),
        ServerErrorKind::Authentication => format!(
            "the PostgreSQL server {server} refused the connection's credentials while {action}; check the user, password and database name in the URL"
        ),
        ServerErrorKind::ConnectionLost => format!(
            "the connection to the PostgreSQL server {server} was lost while {action}; the next call reconnects"
        ),
        ServerErrorKind::StatementTimeout => format!(
            "the PostgreSQL server {server} cancelled {action} after its statement or lock timeout, nothing of it was applied; retry, or raise the timeout"
        ),
    }
}

impl Error {
    /// True for [`Error::Io`].
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Io { .. })
    }

    /// True for [`Error::Corrupted`] and [`Error::NotARegistry`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupted { .. } | Error::NotARegistry { .. })
    }

    /// True for errors caused by what the caller passed in: [`Error::InvalidContextName`],
    /// [`Error::InvalidSpec`], [`Error::InvalidInput`].
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidContextName { .. }
                | Error::InvalidSpec { .. }
                | Error::InvalidInput { .. }
        )
    }

    pub(crate) fn invalid_json(what: impl Into<String>, err: serde_json::Error) -> Self {
        Error::InvalidInput {
            what: what.into(),
            detail: err.to_string(),
            source: Some(Box::new(err)),
        }
    }

    pub(crate) fn corrupted(
        location: impl Into<String>,
        detail: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Corrupted {
            location: location.into(),
            detail: detail.into(),
            source,
        }
    }
}

/// Names in messages are cut to 100 characters so that hostile input cannot make an error
/// message megabytes long.
pub(crate) fn shorten(name: &str) -> String {
    const LIMIT: usize = 100;
    if name.chars().count() <= LIMIT {
        format!("'{name}'")
    } else {
        let head: String = name.chars().take(LIMIT).collect();
        format!("'{head}…' ({} bytes)", name.len())
    }
}

/// The first few problems (all of them stay in [`Error::InvalidSpec::problems`]), so that an
/// import of many bad steps cannot make the message megabytes long.
fn join_problems(problems: &[SpecProblem]) -> String {
    const SHOWN: usize = 10;
    let mut text = problems
        .iter()
        .take(SHOWN)
        .map(|p| format!("step {}: {} {}", shorten(&p.step), p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    text
}
