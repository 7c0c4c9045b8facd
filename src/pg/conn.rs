//! One connection to the server: the client, its prepared statements, the transaction
//! wrapper every query goes through, and the mapping of the client's errors onto [`Error`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement, Transaction};

use crate::error::{Cause, Error, Result, ServerErrorKind};

/// An open connection and the statements prepared on it (a statement belongs to its
/// connection, so the cache goes when the connection does).
pub(super) struct Conn {
    pub(super) client: Client,
    statements: HashMap<&'static str, Statement>,
    /// When a call last used the connection: one idle for longer than [`IDLE_CHECK`] is
    /// checked before its next use.
    last_used: Instant,
}

/// How long a connection may sit unused before its next use first checks that it still
/// works (one empty query): a server that went away without the socket saying so (a host
/// that died, a cut network) would otherwise be found out only by the call, and a write
/// cannot run again. A server that closed the session is noticed sooner ([`IDLE_READ`]).
/// Calls closer together than this pay nothing.
pub(super) const IDLE_CHECK: Duration = Duration::from_secs(5);

/// How long a connection may sit unused before its next use first reads what the server
/// sent meanwhile (see [`Conn::still_works`]): long enough that calls in a loop never pay the
/// read's millisecond, short enough that a server restart (which takes longer) is always
/// noticed before the next call sends anything.
pub(super) const IDLE_READ: Duration = Duration::from_millis(100);

/// How long that check may take before the connection is given up as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl Conn {
    pub(super) fn new(client: Client) -> Self {
        Conn {
            client,
            statements: HashMap::new(),
            last_used: Instant::now(),
        }
    }

    /// Whether the connection can be used: it is open and, if it sat idle for longer than
    /// [`IDLE_CHECK`], answers an empty query. Marks it used.
    ///
    /// A connection idle for longer than [`IDLE_READ`] first reads, without sending
    /// anything, whatever the server sent meanwhile. A server that ended the session (a
    /// restart, `pg_terminate_backend`, an idle timeout) sent its reason and closed the
    /// socket; reading that closes the client, so the connection is replaced before a write
    /// is sent on it.
    pub(super) fn still_works(&mut self) -> bool {
        let idle = self.last_used.elapsed();
        if idle >= IDLE_READ {
            // The client's runtime learns that its socket can be read only when it turns,
            // which a zero timeout makes it do (at its next timer tick, about a millisecond).
            // An unsolicited error or the end of the stream ends the client's connection; no
            // notifications are listened for, so the result is only that of the poll.
            let _ = self
                .client
                .notifications()
                .timeout_iter(Duration::ZERO)
                .next();
        }
        self.last_used = Instant::now();
        !self.client.is_closed()
            && (idle < IDLE_CHECK || self.client.is_valid(CHECK_TIMEOUT).is_ok())
    }

    /// `sql` prepared on this connection (once; later calls reuse it).
    fn prepared(&mut self, server: &str, action: &str, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self
            .client
            .prepare(sql)
            .map_err(|e| map_error(server, action, e))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Runs one statement on its own (the server commits it alone): a read of one row that
    /// needs no snapshot shared with other statements costs one round trip instead of three.
    pub(super) fn query_opt_alone(
        &mut self,
        server: &str,
        action: &str,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Option<Row>> {
        let statement = self.prepared(server, action, sql)?;
        self.client
            .query_opt(&statement, params)
            .map_err(|e| map_error(server, action, e))
    }

    /// Runs one statement returning one row on its own, in the session's transaction mode
    /// (the server commits it before it answers: one round trip for a whole write); `map`
    /// maps the statement's errors (a statement that prepares once and is then reused).
    pub(super) fn query_one_alone(
        &mut self,
        server: &str,
        action: &str,
        sql: &'static str,
        params: &Params<'_>,
        map: impl FnOnce(postgres::Error) -> Error,
    ) -> Result<Row> {
        let statement = self.prepared(server, action, sql)?;
        self.client.query_one(&statement, params).map_err(map)
    }

    /// Starts a transaction; `begin` picks its isolation level and access mode.
    pub(super) fn transaction<'c>(
        &'c mut self,
        server: &'c str,
        action: &str,
        begin: impl FnOnce(&mut Client) -> std::result::Result<Transaction<'_>, postgres::Error>,
    ) -> Result<Sql<'c>> {
        let Conn {
            client, statements, ..
        } = self;
        let txn = begin(client).map_err(|e| map_error(server, action, e))?;
        Ok(Sql {
            txn,
            statements,
            server,
        })
    }
}

/// A transaction in progress. Dropping it without [`Sql::commit`] rolls it back.
pub(crate) struct Sql<'c> {
    txn: Transaction<'c>,
    statements: &'c mut HashMap<&'static str, Statement>,
    server: &'c str,
}

/// Query parameters.
pub(super) type Params<'p> = [&'p (dyn ToSql + Sync)];

impl<'c> Sql<'c> {
    fn statement(&mut self, action: &str, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self
            .txn
            .prepare(sql)
            .map_err(|e| map_error(self.server, action, e))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Runs a query and returns its rows.
    pub(super) fn query(
        &mut self,
        action: &str,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>> {
        let statement = self.statement(action, sql)?;
        self.txn
            .query(&statement, params)
            .map_err(|e| map_error(self.server, action, e))
    }

    /// Runs a query through a cursor (a portal of this transaction), handing its rows to
    /// `visit` `batch` at a time, so that at most one batch is held however many rows the
    /// query returns; stops at the first error, `visit`'s included.
    pub(super) fn query_batches(
        &mut self,
        action: &str,
        sql: &'static str,
        params: &Params<'_>,
        batch: i32,
        visit: &mut dyn FnMut(&[Row]) -> Result<()>,
    ) -> Result<()> {
        let statement = self.statement(action, sql)?;
        let portal = self
            .txn
            .bind(&statement, params)
            .map_err(|e| map_error(self.server, action, e))?;
        loop {
            let rows = self
                .txn
                .query_portal(&portal, batch)
                .map_err(|e| map_error(self.server, action, e))?;
            visit(&rows)?;
            // A short batch is the last: the portal has no more rows.
            if rows.len() < usize::try_from(batch).unwrap_or(usize::MAX) {
                return Ok(());
            }
        }
    }

    /// Runs a query that returns at most one row.
    pub(super) fn query_opt(
        &mut self,
        action: &str,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Option<Row>> {
        let statement = self.statement(action, sql)?;
        self.txn
            .query_opt(&statement, params)
            .map_err(|e| map_error(self.server, action, e))
    }

    /// Runs a query that returns one row; `map` maps its errors.
    pub(super) fn query_one_with(
        &mut self,
        action: &str,
        sql: &'static str,
        params: &Params<'_>,
        map: impl FnOnce(postgres::Error) -> Error,
    ) -> Result<Row> {
        let statement = self.statement(action, sql)?;
        self.txn.query_one(&statement, params).map_err(map)
    }

    /// Runs a statement and returns how many rows it changed.
    pub(super) fn execute(
        &mut self,
        action: &str,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<u64> {
        let statement = self.statement(action, sql)?;
        self.txn
            .execute(&statement, params)
            .map_err(|e| map_error(self.server, action, e))
    }

    /// Runs SQL text of several statements (migrations).
    pub(super) fn batch(&mut self, action: &str, sql: &str) -> Result<()> {
        self.txn
            .batch_execute(sql)
            .map_err(|e| map_error(self.server, action, e))
    }

    /// The server's label, for error messages.
    pub(super) fn server(&self) -> &'c str {
        self.server
    }

    /// Ends a read-only transaction: it wrote nothing, so a connection lost here loses
    /// nothing either, and the error says only that (not "outcome unknown").
    pub(super) fn end_read(self, action: &str) -> Result<()> {
        let server = self.server;
        self.txn.commit().map_err(|e| map_error(server, action, e))
    }

    /// Commits. A connection lost while committing leaves the outcome unknown, and the
    /// error says so.
    pub(super) fn commit(self, action: &str) -> Result<()> {
        let server = self.server;
        self.txn.commit().map_err(|e| {
            map_error(
                server,
                &format!(
                    "committing ({action}); if the connection was lost the outcome is unknown, so check the data before retrying"
                ),
                e,
            )
        })
    }
}

/// A column of a row, mapped to [`Error::Corrupted`] when it has an unexpected type.
pub(super) fn column<'r, T: postgres::types::FromSql<'r>>(
    row: &'r Row,
    index: usize,
    location: &dyn Fn() -> String,
) -> Result<T> {
    row.try_get(index).map_err(|e| {
        Error::corrupted(
            location(),
            format!("column {index} has an unexpected type or value"),
            Some(Box::new(e)),
        )
    })
}

/// A stored non-negative integer as `u64`.
pub(super) fn unsigned(value: i64, location: &dyn Fn() -> String) -> Result<u64> {
    u64::try_from(value)
        .map_err(|_| Error::corrupted(location(), format!("a counter is negative ({value})"), None))
}

/// A `u64` as a stored integer.
pub(super) fn signed(value: u64, location: &dyn Fn() -> String) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        Error::corrupted(
            location(),
            format!("a counter is out of range ({value})"),
            None,
        )
    })
}

/// Whether an error means the connection cannot be used any more.
pub(super) fn is_connection_error(err: &Error) -> bool {
    matches!(
        err,
        Error::Server {
            kind: ServerErrorKind::ConnectionLost | ServerErrorKind::ConnectionRefused,
            ..
        }
    )
}

fn server_error(server: &str, action: &str, kind: ServerErrorKind, err: postgres::Error) -> Error {
    Error::Server {
        kind,
        server: server.to_owned(),
        action: action.to_owned(),
        source: Some(cause(err)),
    }
}

/// The cause to keep of a client error: the server's own error (`ERROR: …` with its detail
/// and hint) when the server reported one, rather than the client's wrapper around it, whose
/// text is only "db error" (a line of its own under every such message); else the client's
/// error.
fn cause(err: postgres::Error) -> Cause {
    match err.as_db_error() {
        Some(db) => Box::new(db.clone()),
        None => Box::new(err),
    }
}

/// Maps an error of an established connection.
pub(super) fn map_error(server: &str, action: &str, err: postgres::Error) -> Error {
    let kind = if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        match code {
            // query_canceled (statement_timeout) and lock_not_available (lock_timeout)
            "57014" | "55P03" => Some(ServerErrorKind::StatementTimeout),
            // read_only_sql_transaction (a hot standby, default_transaction_read_only)
            "25006" => Some(ServerErrorKind::ReadOnly),
            // insufficient_privilege (no CREATE on the schema, no INSERT on a table)
            "42501" => Some(ServerErrorKind::PermissionDenied),
            // admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped,
            // idle_session_timeout, idle_in_transaction_session_timeout: the server ended the
            // session; and connection exceptions
            "57P01" | "57P02" | "57P03" | "57P04" | "57P05" | "25P03" => {
                Some(ServerErrorKind::ConnectionLost)
            }
            _ if code.starts_with("08") => Some(ServerErrorKind::ConnectionLost),
            _ if code.starts_with("28") => Some(ServerErrorKind::Authentication),
            _ => None,
        }
    } else {
        // Not reported by the server: the socket broke or closed under the call.
        Some(ServerErrorKind::ConnectionLost)
    };
    // The server ends a session whose transaction sits idle too long, which a read that waits
    // on its caller does (an export writing to an output nobody reads): said, since the server
    // is reachable and the same call would fail again the same way.
    if err
        .as_db_error()
        .is_some_and(|db| db.code().code() == "25P03")
    {
        let action = format!(
            "{action} (the server ended the session because its transaction sat idle longer than its idle_in_transaction_session_timeout, as an export's read does while its output waits to be read: read the output faster, writing it to a file, or have that timeout raised for this role)"
        );
        return server_error(server, &action, ServerErrorKind::ConnectionLost, err);
    }
    // undefined_table, undefined_function, undefined_column: every session checks the
    // schema version when it opens, so a part of the schema missing now was dropped or
    // changed by hand: the registry is damaged, not the server unavailable.
    if let Some(db) = err
        .as_db_error()
        .filter(|db| matches!(db.code().code(), "42P01" | "42883" | "42703"))
    {
        let detail = format!(
            "{action} found a part of the registry's schema missing ({}): it was dropped or changed by hand",
            crate::spec::escape_name(db.message())
        );
        return Error::corrupted(
            format!("the registry on {server}"),
            detail,
            Some(cause(err)),
        );
    }
    match kind {
        Some(kind) => server_error(server, action, kind, err),
        None => Error::Storage {
            action: format!("{action} on the PostgreSQL server {server}"),
            source: cause(err),
        },
    }
}

/// Maps an error of opening a connection.
pub(super) fn map_connect_error(server: &str, action: &str, err: postgres::Error) -> Error {
    // A pg_hba.conf rule rejecting this kind of encryption (TLS or none) explicitly.
    let rejects_encryption = err.as_db_error().is_some_and(|db| {
        db.message().contains("rejects connection") && db.message().contains("encryption")
    });
    // undefined_object (an unknown setting) and invalid_parameter_value (a bad value): the
    // only settings a connection sends are the URL's `options` (or PGOPTIONS) and its
    // application_name, so the input is wrong, not the server.
    if let Some(db) = err
        .as_db_error()
        .filter(|db| matches!(db.code().code(), "42704" | "22023"))
    {
        return Error::InvalidInput {
            what: format!("the connection settings for the PostgreSQL server {server}"),
            detail: format!(
                "the server refused a setting of the URL's options (or of PGOPTIONS) while {action}: {}",
                db.message()
            ),
            source: Some(cause(err)),
        };
    }
    let kind = match err.as_db_error().map(|db| db.code().code()) {
        // too_many_connections (max_connections, or the role's CONNECTION LIMIT)
        Some("53300") => ServerErrorKind::TooManyConnections,
        // cannot_connect_now (starting up or shutting down)
        Some("57P03") => ServerErrorKind::ConnectionRefused,
        // invalid_catalog_name
        Some("3D000") => ServerErrorKind::NoSuchDatabase,
        // insufficient_privilege (no CONNECT on the database)
        Some("42501") => ServerErrorKind::PermissionDenied,
        Some(code) if code.starts_with("28") && rejects_encryption => ServerErrorKind::Tls,
        // invalid_authorization_specification, invalid_password
        Some(code) if code.starts_with("28") => ServerErrorKind::Authentication,
        Some(_) => return map_error(server, action, err),
        None if super::tls::is_tls_error(&err) => ServerErrorKind::Tls,
        None if std::error::Error::source(&err)
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
            || err.to_string().contains("timeout") =>
        {
            ServerErrorKind::ConnectionRefused
        }
        // The client refused the server's authentication request (e.g. no password given).
        None => ServerErrorKind::Authentication,
    };
    server_error(server, action, kind, err)
}
