//! The stable classification of errors: [`ErrorKind`] (and [`ServerErrorKind`] for a
//! server that could not be used), and the questions a caller asks of an [`Error`].

use super::Error;
use crate::resolve::DependencyResolutionError;

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
