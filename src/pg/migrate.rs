//! The PostgreSQL schema's versions: the SQL migrations under `migrations/postgres/`, applied
//! in order, in one transaction, under an advisory lock, by the first opener that finds the
//! database behind. A database of a newer version is refused.

use std::path::PathBuf;

use postgres::IsolationLevel;

use super::conn::{Conn, Sql, column};
use crate::error::{Error, Result, ServerErrorKind};

/// Every migration: the schema version it produces and its SQL. Released files never change.
pub(super) const MIGRATIONS: &[(u64, &str)] = &[
    (
        1,
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        include_str!("../../migrations/postgres/0002_write_functions.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_specs_without_foreign_key.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_faster_write_functions.sql"),
    ),
];

/// The PostgreSQL schema version this build writes and reads.
pub(crate) const PG_SCHEMA_VERSION: u64 = 4;

/// The advisory lock that serialises migrations (`pipedeps` in ASCII).
const MIGRATION_LOCK: i64 = 0x7069_7065_6465_7073;

const ACTION: &str = "checking the registry's schema version";

/// Brings the database to [`PG_SCHEMA_VERSION`]. An up-to-date database costs one read
/// transaction and takes no lock.
pub(super) fn run(conn: &mut Conn, server: &str) -> Result<()> {
    let found = found_version(conn, server)?;
    if found == Some(PG_SCHEMA_VERSION) {
        return Ok(());
    }
    check_not_newer(server, found)?;
    let action = "creating or upgrading the registry's schema";
    let mut sql = conn.transaction(server, action, |client| client.transaction())?;
    // Transaction-scoped: released by the commit (or the rollback of a failed upgrade).
    // Taken without waiting first, so that a wait (another opener upgrading, or a session
    // stuck holding the lock) is said, not silent.
    let taken = sql.query_opt(
        action,
        "SELECT pg_try_advisory_xact_lock($1)",
        &[&MIGRATION_LOCK],
    )?;
    let taken: bool = match &taken {
        Some(row) => column(row, 0, &|| format!("the migration lock of {server}"))?,
        None => false,
    };
    if !taken {
        tracing::warn!(
            server,
            "waiting for another connection's creation or upgrade of the registry's schema (it holds the advisory lock {MIGRATION_LOCK:#x}; set lock_timeout to bound the wait)"
        );
        sql.query(
            action,
            "SELECT pg_advisory_xact_lock($1)",
            &[&MIGRATION_LOCK],
        )?;
    }
    // Another opener may have migrated while this one waited for the lock.
    let found = version(&mut sql)?;
    check_not_newer(server, found)?;
    let from = found.unwrap_or(0);
    for (version, text) in MIGRATIONS {
        if *version > from {
            sql.batch(&format!("applying schema migration {version}"), text)?;
        }
    }
    let value = PG_SCHEMA_VERSION.to_string();
    sql.execute(
        action,
        "INSERT INTO pd_meta (key, value) VALUES ('schema_version', $1) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&value],
    )?;
    sql.commit(action)?;
    // A one-way change that older builds then refuse: worth a line in the log.
    match found {
        None => tracing::info!(
            server,
            version = PG_SCHEMA_VERSION,
            "created the registry's schema"
        ),
        Some(old) if old < PG_SCHEMA_VERSION => tracing::info!(
            server,
            from = old,
            to = PG_SCHEMA_VERSION,
            "upgraded the registry's schema from version {old} to {PG_SCHEMA_VERSION}; builds that know only version {old} now refuse this database"
        ),
        Some(_) => {}
    }
    Ok(())
}

/// The check of a read-only connection, which creates and upgrades nothing: a database
/// without a registry is [`Error::NotARegistry`], one of a newer version
/// [`Error::SchemaTooNew`]; an older one is read as it is. Every version so far reads the
/// same tables and columns (version 2 added the write functions, version 3 dropped a
/// foreign key, version 4 replaced a write function); a migration that changes what reads
/// use must make this refuse the versions before it.
pub(super) fn check(conn: &mut Conn, server: &str) -> Result<()> {
    let found = found_version(conn, server)?;
    check_not_newer(server, found)?;
    if found.is_none() {
        return Err(Error::NotARegistry {
            path: PathBuf::from(server),
            detail: "the database holds no registry yet, and a read-only connection creates none; connect without read-only to create it".into(),
            source: None,
        });
    }
    Ok(())
}

/// The recorded schema version, read in a read-only transaction after refusing a database
/// whose encoding cannot hold every name ([`check_encoding`]).
fn found_version(conn: &mut Conn, server: &str) -> Result<Option<u64>> {
    let mut sql = conn.transaction(server, ACTION, |client| {
        client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .read_only(true)
            .start()
    })?;
    check_encoding(&mut sql, server)?;
    let found = version(&mut sql)?;
    sql.commit(ACTION)?;
    Ok(found)
}

fn check_not_newer(server: &str, found: Option<u64>) -> Result<()> {
    match found {
        Some(found) if found > PG_SCHEMA_VERSION => Err(Error::SchemaTooNew {
            path: PathBuf::from(server),
            found,
            supported: PG_SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

/// The recorded schema version; `None` for a database without pipeline-deps tables.
/// Database encodings that can hold every name a registry stores (any Unicode text but
/// NUL, which validation refuses): UTF8, and SQL_ASCII, which stores bytes as they come.
const ENCODINGS: [&str; 2] = ["UTF8", "SQL_ASCII"];

/// Refuses a database whose encoding cannot hold every valid name (in LATIN1, say, a name
/// with an emoji could be neither stored nor looked up), before anything is created in it.
fn check_encoding(sql: &mut Sql<'_>, server: &str) -> Result<()> {
    let row = sql.query_opt(ACTION, "SELECT current_setting('server_encoding')", &[])?;
    let location = || format!("the encoding of {server}");
    let encoding: String = match &row {
        Some(row) => column(row, 0, &location)?,
        None => String::new(),
    };
    if ENCODINGS.contains(&encoding.as_str()) {
        return Ok(());
    }
    Err(Error::Server {
        kind: ServerErrorKind::Unsupported,
        server: server.to_owned(),
        action: "opening the registry".into(),
        source: Some(format!("the database's encoding is {encoding}").into()),
    })
}

fn version(sql: &mut Sql<'_>) -> Result<Option<u64>> {
    let server = sql.server().to_owned();
    let location = || format!("the pd_meta table of {server}");
    // pg_tables is read with the statement's snapshot, so a table another opener created
    // and committed while this one waited for the lock is seen (a name lookup such as
    // to_regclass may answer from a stale catalog cache).
    // With it, how many of its columns are a registry's (`key` and `value`, both text): a
    // table of that name from something else is no registry, not a storage failure. Read
    // from pg_attribute, which every role sees whole: information_schema.columns shows only
    // the columns the role holds a privilege on, so a role without SELECT on the registry
    // saw none and was told the database is no registry, where the server refuses it.
    let found = sql.query_opt(
        ACTION,
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables \
         WHERE schemaname = current_schema() AND tablename = 'pd_meta'), \
         (SELECT count(*) FROM pg_catalog.pg_attribute a \
          JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = current_schema() AND c.relname = 'pd_meta' \
          AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
          AND a.attname IN ('key', 'value') \
          AND a.atttypid = 'pg_catalog.text'::pg_catalog.regtype)",
        &[],
    )?;
    let (exists, columns): (bool, i64) = match &found {
        Some(row) => (column(row, 0, &location)?, column(row, 1, &location)?),
        None => (false, 0),
    };
    if !exists {
        refuse_hidden_registry(sql)?;
        return Ok(None);
    }
    if columns != 2 {
        return Err(Error::NotARegistry {
            path: PathBuf::from(&server),
            detail: "it has a pd_meta table that is not a pipeline-deps registry's (it lacks the text columns key and value)".into(),
            source: None,
        });
    }
    let row = sql.query_opt(
        ACTION,
        "SELECT value FROM pd_meta WHERE key = 'schema_version'",
        &[],
    )?;
    let Some(row) = row else {
        return Err(Error::NotARegistry {
            path: PathBuf::from(&server),
            detail: "it has a pd_meta table without a pipeline-deps schema version".into(),
            source: None,
        });
    };
    let text: String = column(&row, 0, &location)?;
    match text.parse::<u64>() {
        Ok(0) | Err(_) => Err(Error::corrupted(
            location(),
            format!("the schema version {text:?} is not a version number"),
            None,
        )),
        Ok(version) => Ok(Some(version)),
    }
}

/// Before a database is taken to hold no registry: refuses a session whose `search_path`
/// leaves no schema to hold the registry's tables (a path of schemas that do not exist), or
/// whose first schema holds no registry while a schema further along the path holds one.
/// The registry's tables are created in, and looked up first in, the first schema of the
/// path (`current_schema()`). With the default path `"$user", public`, a role that owns a
/// schema of its own name (PostgreSQL's advice for shared databases) was told the database
/// holds no registry and its first write created a second, empty registry in its own
/// schema, hiding the shared one in `public` from it alone. Nothing is created either way.
fn refuse_hidden_registry(sql: &mut Sql<'_>) -> Result<()> {
    let server = sql.server().to_owned();
    let location = || format!("the search_path of {server}");
    // The first schema after the current one, in path order, that holds a pd_meta table of
    // a registry (its text columns key and value).
    let row = sql.query_opt(
        ACTION,
        "SELECT current_schema(), current_setting('search_path'), \
         (SELECT n.nspname::text FROM pg_catalog.pg_class c \
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relname = 'pd_meta' AND c.relkind IN ('r', 'p') \
          AND n.nspname = ANY (pg_catalog.current_schemas(false)) \
          AND n.nspname IS DISTINCT FROM current_schema() \
          AND (SELECT count(*) FROM pg_catalog.pg_attribute a \
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attname IN ('key', 'value') \
               AND a.atttypid = 'pg_catalog.text'::pg_catalog.regtype) = 2 \
          ORDER BY pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname) \
          LIMIT 1)",
        &[],
    )?;
    let Some(row) = row else {
        return Ok(());
    };
    let current: Option<String> = column(&row, 0, &location)?;
    let path: String = column(&row, 1, &location)?;
    let other: Option<String> = column(&row, 2, &location)?;
    let detail = match (current, other) {
        // Every schema of the path that a role may use counts, so no other schema holds one.
        (None, _) => format!(
            "the session's search_path ({path}) names no schema that exists (and that this role may use), so there is no schema to hold the registry's tables; set it to one that does (the URL's query `options=-c%20search_path%3DSCHEMA`, or the role's search_path), have the role granted USAGE on the schema, or create the schema"
        ),
        (Some(current), Some(other)) => format!(
            "the session's search_path ({path}) looks for the registry in schema {current:?} first, which holds none, while schema {other:?} further along it holds one, which a new registry in {current:?} would hide from this role alone; {} to use that registry (or a search_path without {other:?} to create a separate one in {current:?}); nothing was created",
            use_schema(&other),
        ),
        (Some(_), None) => return Ok(()),
    };
    Err(Error::InvalidInput {
        what: format!("the connection settings for the PostgreSQL server {server}"),
        detail,
        source: None,
    })
}

/// How to make a session use schema `schema`: the URL's `options`, written out when the
/// name needs no quoting in a search_path.
fn use_schema(schema: &str) -> String {
    let simple = schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if simple {
        format!(
            "add `options=-c%20search_path%3D{schema}` to the URL's query (or set the role's search_path)"
        )
    } else {
        format!(
            "set the session's search_path to schema {schema:?} (the URL's `options`, or the role's search_path)"
        )
    }
}
