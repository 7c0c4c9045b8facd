//! How error messages show what they name: names, keys and paths escaped and bounded, the
//! first few problems of an invalid spec, and the message of each way a server failed.

use super::ServerErrorKind;
use crate::spec::SpecProblem;

pub(super) fn server_message(kind: ServerErrorKind, server: &str, action: &str) -> String {
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
pub(super) fn shown_path(path: &std::path::Path) -> String {
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

/// The first few problems (all of them stay in
/// [`Error::InvalidSpec::problems`](super::Error::InvalidSpec::problems)), so that an
/// import of many bad steps cannot make the message megabytes long.
pub(super) fn join_problems(problems: &[SpecProblem]) -> String {
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
