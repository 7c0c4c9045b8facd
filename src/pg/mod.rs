//! The PostgreSQL backend (cargo feature `postgres`): one registry shared by many processes
//! and machines, kept in a PostgreSQL database with the synchronous `postgres` client.
//!
//! Layout (see `migrations/postgres/` and `docs/postgres.md`): shared tables keyed by a
//! context id — `pd_contexts` (the catalog: id, name, counters, revision), `pd_specs` (one
//! row per step with its registration position, type and the same versioned record the redb
//! store keeps) and `pd_step_types` (the step-type index); `pd_meta` holds the schema
//! version.
//!
//! Concurrency: every write is one `READ COMMITTED` transaction that first locks its
//! context's catalog row (`SELECT … FOR UPDATE`), so writers of one context take turns and
//! writers of different contexts do not meet; the counters and the revision change in the
//! same transaction as the specs. Registering, replacing and removing steps are one
//! statement each, a server-side function (`write.rs`, schema version 2). Reads run in a `REPEATABLE READ READ ONLY` transaction, a
//! consistent snapshot like a redb read transaction.
//!
//! Durability: a write returns `Ok` only after the server acknowledged its `COMMIT`, which
//! with the server's default `synchronous_commit = on` means its WAL is flushed; an error
//! before that rolls everything back. A connection lost while committing leaves the outcome
//! unknown, and the error says so.
//!
//! Connections: a pool per store ([`pool`]), opened lazily, at most the builder's limit at
//! once, so that threads sharing a manager run their calls at the same time. A connection
//! idle for longer than [`conn::IDLE_CHECK`] is checked (one empty query) before its next
//! use and replaced if the server closed it meanwhile (a restart), so a call after a pause
//! does not fail on a stale connection. A call that finds its connection lost fails with
//! [`ServerErrorKind::ConnectionLost`] and drops it with every idle one; the next call
//! reconnects.

mod catalog;
mod conn;
mod context;
mod environ;
mod migrate;
mod pem;
mod pool;
#[cfg(test)]
mod tests;
mod tls;
mod write;

use std::time::Duration;

use postgres::config::Host;
use postgres::{Config, IsolationLevel};

use crate::codec::CatalogRecordV1;
use crate::error::{Error, Result, ServerErrorKind};
use crate::store::url;
pub(crate) use catalog::{PgReader, PgWriter};
use conn::Conn;
pub(crate) use context::{PgContextReader, PgContextWriter};

/// How long opening a connection may take when the URL does not say
/// (`connect_timeout=…`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A registry kept in a PostgreSQL database.
pub(crate) struct PgStore {
    config: Config,
    /// TLS as the URL's `sslmode` and `sslrootcert` ask (see [`tls`]).
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// The TLS mode of a second attempt after the server refused the first (see
    /// [`tls::Tls::fallback`]).
    tls_fallback: Option<postgres::config::SslMode>,
    /// `postgres://user@host:port/database`, for messages (never the password).
    label: String,
    /// The connections, opened as calls need them (see [`pool`]).
    pool: pool::Pool,
    /// Opened read-only: every write is refused before it is sent, and the session's
    /// transactions are read-only, so the server refuses any that slipped through.
    read_only: bool,
    /// Why the password file was not read (its permissions, say), for the message of a
    /// refused password.
    passfile_note: Option<String>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("server", &self.label)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database named by `url` (`postgres://…` or `postgresql://…`), creating
    /// or upgrading the schema if needed; a database of a newer schema version is refused
    /// with [`Error::SchemaTooNew`]. `read_only` creates and upgrades nothing: a database
    /// without a registry is [`Error::NotARegistry`] (see [`migrate::check`]).
    ///
    /// At most `connections` connections are open at once (opened as concurrent calls need
    /// them; `0` counts as 1).
    pub(crate) fn connect(url: &str, read_only: bool, connections: usize) -> Result<PgStore> {
        Self::connect_in(
            url,
            &environ::Environment::process(),
            read_only,
            connections,
        )
    }

    /// [`Self::connect`] with what the URL leaves out taken from `env` (see [`environ`]).
    pub(crate) fn connect_in(
        url: &str,
        env: &environ::Environment,
        read_only: bool,
        connections: usize,
    ) -> Result<PgStore> {
        let Target {
            mut config,
            tls,
            label,
            passfile,
        } = target(url, env)?;
        let passfile_note = environ::password_from_file(&mut config, passfile.as_deref());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("pipeline-deps");
        }
        let store = PgStore {
            label,
            passfile_note,
            config,
            tls: tls.connector,
            tls_fallback: tls.fallback,
            pool: pool::Pool::new(connections),
            read_only,
        };
        store.with_conn("opening the registry", |conn, server| {
            if read_only {
                migrate::check(conn, server)
            } else {
                migrate::run(conn, server)
            }
        })?;
        Ok(store)
    }

    /// Whether the store was opened read-only.
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// [`Error::ReadOnly`] on a read-only store, before anything is sent.
    pub(crate) fn refuse_if_read_only(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly {
                path: self.label.clone().into(),
            });
        }
        Ok(())
    }

    /// The server as `postgres://user@host:port/database`.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Opens a new connection, in the session mode every call relies on.
    fn open_conn(&self, action: &str) -> Result<Conn> {
        self.connect_client(action)
            .map_err(|e| self.note_ignored_passfile(e))
            .and_then(|client| self.session(client, action))
    }

    /// A refused password's error, with why the password file was not read, if it was not.
    fn note_ignored_passfile(&self, error: Error) -> Error {
        match (error, &self.passfile_note) {
            (
                Error::Server {
                    kind: ServerErrorKind::Authentication,
                    server,
                    action,
                    source,
                },
                Some(note),
            ) => Error::Server {
                kind: ServerErrorKind::Authentication,
                server,
                action: format!("{action} ({note})"),
                source,
            },
            (error, _) => error,
        }
    }

    /// A new client, TLS as the URL asks (a second attempt as libpq makes one).
    fn connect_client(&self, action: &str) -> Result<postgres::Client> {
        Ok(match self.connect_within(self.config.clone(), action)? {
            Ok(client) => client,
            // `prefer` tries again without TLS, `allow` with it, when the server refused the
            // first attempt (its pg_hba.conf may admit only the other kind), as libpq does.
            Err(first) => match self.tls_fallback {
                Some(mode) if retry_other_tls(&first) => {
                    let mut config = self.config.clone();
                    config.ssl_mode(mode);
                    self.connect_within(config, action)?
                        .map_err(|e| conn::map_connect_error(&self.label, action, e))?
                }
                _ => return Err(conn::map_connect_error(&self.label, action, first)),
            },
        })
    }

    /// `config.connect`, given at most the connect timeout per host for the whole of it. The
    /// client's own timeout covers only the socket's connection; a server that accepts and
    /// then never answers (stopped, overloaded, or not PostgreSQL) held the caller forever,
    /// where libpq's `connect_timeout` bounds the whole start-up. The attempt runs on a
    /// thread of its own; one that runs over is left to finish or fail by itself (its
    /// connection, if it ever completes, is dropped unused).
    fn connect_within(
        &self,
        config: Config,
        action: &str,
    ) -> Result<std::result::Result<postgres::Client, postgres::Error>> {
        let per_host = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let hosts = u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
        let limit = per_host.saturating_mul(hosts);
        let tls = self.tls.clone();
        let (sent, received) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("pipeline-deps-connect".into())
            .spawn(move || {
                // The caller may have stopped waiting: then the result is dropped.
                let _ = sent.send(config.connect(tls));
            });
        if let Err(source) = spawned {
            return Err(Error::Io {
                action: format!(
                    "starting a thread to connect to {} while {action}",
                    self.label
                ),
                source,
            });
        }
        received.recv_timeout(limit).map_err(|_| Error::Server {
            kind: ServerErrorKind::ConnectionRefused,
            server: self.label.clone(),
            action: action.to_owned(),
            source: Some(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the server did not complete the connection within {} s (connect_timeout)",
                    limit.as_secs_f64()
                ),
            ))),
        })
    }

    /// `client` in the session mode every call relies on.
    fn session(&self, mut client: postgres::Client, action: &str) -> Result<Conn> {
        // The one-statement writes (src/pg/write.rs) run in the session's default mode; the
        // locking design needs READ COMMITTED whatever the server's or the URL's
        // default_transaction_isolation says.
        let mode = if self.read_only {
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY"
        } else {
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"
        };
        client
            .batch_execute(mode)
            .map_err(|e| conn::map_error(&self.label, action, e))?;
        Ok(Conn::new(client))
    }

    /// Runs `f` on a connection of the pool (opening one if none is idle and the pool may
    /// grow); a connection that failed under `f` is dropped so that the next call reconnects.
    fn with_conn<T>(
        &self,
        action: &str,
        f: impl FnOnce(&mut Conn, &str) -> Result<T>,
    ) -> Result<T> {
        self.pool
            .with(
                &self.label,
                || self.open_conn(action),
                |conn| f(conn, &self.label),
            )
            // Damage is located by context and step; the message names the server too, as a
            // file's names the file.
            .map_err(|e| e.located_in(&crate::spec::escape_name_exact(&self.label)))
    }

    /// The catalog record of context `name` if it still has catalog id `id` (else
    /// [`Error::ContextCleared`]), in one round trip: the check a handle makes before
    /// serving its cache.
    pub(crate) fn context_entry(&self, name: &str, id: u64) -> Result<CatalogRecordV1> {
        again_if_lost(
            || {
                self.with_conn("reading a context's catalog entry", |conn, server| {
                    catalog::context_entry_alone(conn, server, name, id)
                })
            },
            &|| true,
        )
    }

    /// Runs `f` in a read-only snapshot, again on a new connection if the first was lost
    /// ([`again_if_lost`]) while `repeatable` says so: an `f` that hands what it reads on as
    /// it goes (an export writing its output) must not run again once it handed something
    /// on; one that only reads passes `&|| true`.
    pub(crate) fn read_repeatable_while<T>(
        &self,
        action: &str,
        mut f: impl FnMut(&mut PgReader<'_>) -> Result<T>,
        repeatable: &dyn Fn() -> bool,
    ) -> Result<T> {
        again_if_lost(|| self.read_once(action, &mut f), repeatable)
    }

    /// [`Self::read_repeatable_while`] for an `f` that only reads (the tests' shorthand).
    #[cfg(test)]
    pub(crate) fn read<T>(
        &self,
        action: &str,
        f: impl FnMut(&mut PgReader<'_>) -> Result<T>,
    ) -> Result<T> {
        self.read_repeatable_while(action, f, &|| true)
    }

    fn read_once<T>(
        &self,
        action: &str,
        f: &mut impl FnMut(&mut PgReader<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_conn(action, |conn, server| {
            let sql = conn.transaction(server, action, |client| {
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
            })?;
            let mut reader = PgReader::new(sql);
            let value = f(&mut reader)?;
            reader.finish(action)?;
            Ok(value)
        })
    }

    /// Runs `f` in one write transaction and commits it if `f` returns `Ok`; an error rolls
    /// everything back.
    pub(crate) fn write<T>(
        &self,
        action: &str,
        f: impl FnOnce(&mut PgWriter<'_>) -> Result<T>,
    ) -> Result<T> {
        self.refuse_if_read_only()?;
        self.with_conn(action, |conn, server| {
            let sql = conn.transaction(server, action, |client| {
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::ReadCommitted)
                    .start()
            })?;
            let mut writer = PgWriter::new(sql);
            let value = f(&mut writer)?;
            writer.commit(action)?;
            Ok(value)
        })
    }
}

/// Where and how a store connects: the client's configuration (without the password file's
/// password, which is added just before connecting), the TLS connector and the label.
struct Target {
    config: Config,
    tls: tls::Tls,
    label: String,
    /// The password file to read when no password is given.
    passfile: Option<String>,
}

/// The [`Target`] of `url`, with what it leaves out taken from `env`.
fn target(url: &str, env: &environ::Environment) -> Result<Target> {
    if !url::is_postgres_url(std::path::Path::new(url)) {
        return Err(Error::InvalidInput {
            what: "the PostgreSQL URL (not shown: it may hold a password)".into(),
            detail: "it does not start with postgres:// or postgresql://, which `connect` needs (a key=value connection string is not taken either); a registry file is opened with `RegistryManager::open`".into(),
            source: None,
        });
    }
    // The client's parser knows the scheme in lower case only; URL schemes have no case.
    let url = match url.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => url.to_owned(),
    };
    let filled = environ::fill(&url, env)?;
    let blame = |e| environ::blame(e, &filled.from_env);
    let (url, tls_options) = tls::take_options(&filled.url).map_err(blame)?;
    let mut config = environ::parse(&url, "the PostgreSQL URL").map_err(blame)?;
    // An empty user (`postgres://:pw@host/db`, and no PGUSER) is the login name, as libpq
    // takes it; the client would send the empty name.
    if config.get_user().is_some_and(str::is_empty)
        && let Ok(name) = whoami::username()
    {
        config.user(&name);
    }
    environ::check_hosts(&config).map_err(blame)?;
    let tls = tls_options.connector(config.get_hosts()).map_err(blame)?;
    config.ssl_mode(tls.mode);
    let query = url::read(&url).map_or("", |parts| parts.query);
    let query = match &filled.passfile_param {
        Some(passfile) if query.is_empty() => passfile.clone(),
        Some(passfile) => format!("{query}&{passfile}"),
        None => query.to_owned(),
    };
    let label = label(&config, &query, &tls.query);
    Ok(Target {
        config,
        tls,
        label,
        passfile: filled.passfile,
    })
}

/// `postgres://user@host:port,host:port/database?params` without the password: a URL that
/// connects to the same database the same way (every host with its port, an IPv6 address
/// in brackets, a socket directory, user or database name percent-encoded as in the URL a
/// user writes, and every query parameter of `query` but those the authority and path show
/// (host, port, user, database) and those that hold a password, as written), so that a message's server
/// can be pasted back as `--db`. `query` is the URL's query (without `?`),
/// `tls` the TLS parameters to put back (`sslmode=…&…`, see [`tls::Tls::query`]).
fn label(config: &Config, query: &str, tls: &str) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                Host::Tcp(host) if host.contains(':') => format!("[{host}]"),
                Host::Tcp(host) => host.clone(),
                Host::Unix(path) => encode(&path.to_string_lossy()),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let user = config
        .get_user()
        .map(|u| format!("{}@", encode(u)))
        .unwrap_or_default();
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = url::pair_key(pair);
            !pair.is_empty()
                && !url::is_password_key(pair)
                && !environ::IN_AUTHORITY
                    .iter()
                    .any(|k| key.eq_ignore_ascii_case(k))
        })
        .collect();
    let params: Vec<&str> = kept
        .into_iter()
        .chain((!tls.is_empty()).then_some(tls))
        .collect();
    let query = if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    };
    format!(
        "postgres://{user}{}/{}{query}",
        hosts.join(","),
        encode(database)
    )
}

/// Runs `read` and, if the connection turned out to be lost, once more: a read changes
/// nothing, and the pool has dropped its dead connections, so the second attempt runs on
/// a new one. A call after a server restart then works instead of failing on a
/// connection the restart closed; while the server is down, the second attempt fails to
/// connect and says so. Writes are never repeated (one may have committed), nor a read
/// for which `repeatable` says no (it handed on part of what it read).
fn again_if_lost<T>(
    mut read: impl FnMut() -> Result<T>,
    repeatable: &dyn Fn() -> bool,
) -> Result<T> {
    match read() {
        Err(error) if is_lost(&error) && repeatable() => read(),
        other => other,
    }
}

/// Whether a read failed because its connection was lost (so that it may run again).
fn is_lost(error: &Error) -> bool {
    matches!(
        error,
        Error::Server {
            kind: ServerErrorKind::ConnectionLost,
            ..
        }
    )
}

/// Whether a failed connection attempt reached the server and was refused by it (or failed in
/// TLS), so that an attempt with the other TLS mode could succeed; not when nothing answered.
fn retry_other_tls(err: &postgres::Error) -> bool {
    err.as_db_error().is_some() || tls::is_tls_error(err)
}

/// `text` percent-encoded but for URL-unreserved characters (letters, digits, `-._~`).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
