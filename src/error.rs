//! The crate's one error type, and the stable kinds a caller matches on.
//!
//! This module holds [`Error`] itself and its messages; `kind.rs` the kinds
//! ([`ErrorKind`], [`ServerErrorKind`]) and the questions asked of an error, `message.rs`
//! how messages show what they name (escaped and bounded), `json.rs` the errors of invalid
//! JSON input.

mod json;
mod kind;
mod message;

use std::path::PathBuf;

use crate::resolve::DependencyResolutionError;
use crate::spec::SpecProblem;
pub use kind::{ErrorKind, ServerErrorKind};
pub(crate) use message::{cut_head, shorten, shorten_key, step_record};
use message::{join_problems, server_message, shown_path};

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

impl Error {
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

#[cfg(test)]
mod tests {
    use super::*;

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
