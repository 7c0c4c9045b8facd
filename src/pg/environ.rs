//! What libpq takes from elsewhere when a URL leaves it out: the `PG…` environment variables
//! and the password file (`~/.pgpass`), so that a URL, an environment and a password file
//! that work for `psql` work here too.
//!
//! Precedence is libpq's: a parameter the URL gives (in its authority or its query) wins;
//! else its environment variable, when set and not empty; else the client's default. The
//! password comes from the URL, else `PGPASSWORD`, else the first matching line of the
//! password file (`passfile=` in the URL, else `PGPASSFILE`, else `~/.pgpass`). A password
//! file that others can read (any group or other permission bit) or that is not a regular
//! file is ignored with a warning, as libpq ignores it. Two deliberate differences: a URL
//! naming no host and no `PGHOST` is refused instead of guessing a socket directory (the
//! client has no compiled-in default), and the client sends one password to every host of
//! a URL, so the password file's first match over the hosts, in order, is used for all.
//!
//! The URL itself is read as libpq reads it where the client differs ([`fill`]; the user
//! part as `store::url` reads it), or refused saying why, and checked ([`check_hosts`]) so
//! that the client connects where `psql` would or not at all.
//!
//! Not read: `PGSERVICE` and service files, `PGSSLPASSWORD` (encrypted keys are refused
//! anyway), `PGREQUIRESSL` (deprecated) and the variables of settings the client lacks.

use std::path::{Path, PathBuf};

use postgres::Config;
use postgres::config::Host;

use super::tls;
use crate::error::{Error, Result};
use crate::store::url;

/// Each environment variable and the URL parameter it stands for.
const VARIABLES: [(&str, &str); 17] = [
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGLOADBALANCEHOSTS", "load_balance_hosts"),
];

/// The parameters a URL shows in its authority and path (`user@host:port/dbname`), which
/// the server's label writes there, never in its query.
pub(super) const IN_AUTHORITY: [&str; 4] = ["host", "port", "user", "dbname"];

/// Looks up an environment variable.
type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where connection settings come from besides the URL: the process's environment, or a
/// given one in tests.
pub(crate) struct Environment {
    vars: Lookup,
    home: Option<PathBuf>,
}

impl Environment {
    /// The process's environment variables and home directory (`HOME`).
    pub(crate) fn process() -> Environment {
        Environment {
            vars: Box::new(|name| std::env::var(name).ok()),
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
        }
    }

    /// An environment of the given variables and home directory only.
    #[cfg(test)]
    pub(crate) fn of(vars: &[(&str, &str)], home: Option<&Path>) -> Environment {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Environment {
            vars: Box::new(move |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            }),
            home: home.map(Path::to_path_buf),
        }
    }

    /// Variable `name`, unless unset or empty.
    fn var(&self, name: &str) -> Option<String> {
        (self.vars)(name).filter(|v| !v.is_empty())
    }
}

/// A URL with what the environment adds to it.
#[derive(Debug)]
pub(super) struct Filled {
    /// The URL with a query parameter for each variable that filled a gap, and without
    /// `passfile` (which the client does not know).
    pub(super) url: String,
    /// The password file to read if no password is given (`passfile`, `PGPASSFILE` or
    /// `~/.pgpass`); `None` without any of them and without a home directory.
    pub(super) passfile: Option<String>,
    /// The URL's own `passfile=…` parameter as written, for the server's label.
    pub(super) passfile_param: Option<String>,
    /// The variables that filled gaps, for messages about the URL.
    pub(super) from_env: Vec<&'static str>,
}

/// Adds to `url` (scheme in lower case) a parameter for each variable of `env` whose
/// parameter `url` leaves out, after reading the URL as libpq reads it where the client
/// would read it otherwise: an authority of ports only (`postgres://@:5433/db`) names no
/// host, and a `port` parameter gives the ports of the authority's hosts.
///
/// # Errors
///
/// [`Error::InvalidInput`] when the URL does not parse, names hosts (or ports) both in its
/// authority and as parameters, holds an `@` whose reading is unclear, or when a variable
/// holds a value its parameter cannot take (the message names the variable).
pub(super) fn fill(url: &str, env: &Environment) -> Result<Filled> {
    let Some(parts) = url::read(url) else {
        return Err(invalid_url(
            "an '@' in it may end a user name and password or belong to something else (it is left in the hosts or path, as a password holding '@' or '/' leaves it, or follows a ':' in a URL without a user part); write '@' as %40 and '/' as %2F inside a user name, password or parameter, or leave the password out of the URL and give it in PGPASSWORD",
        ));
    };
    let mut passfile_param = None;
    let mut passfile = None;
    let mut kept = Vec::new();
    for pair in parts.query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = url::percent_decode(key);
        match key.as_str() {
            "passfile" => {
                passfile_param = Some(pair.to_owned());
                passfile = Some(url::percent_decode(value)).filter(|v| !v.is_empty());
            }
            // libpq's lists: the last one given counts, and `host` is split at its commas
            // (the client would add every one given and take `host` whole).
            "host" | "hostaddr" | "port" => {
                kept.retain(|p: &String| url::pair_key(p) != key);
                if key == "host" {
                    kept.extend(host_params(&url::percent_decode(value)));
                } else {
                    kept.push(pair.replace('@', "%40"));
                }
            }
            // The client ends the user part at the first `@`, even in the query.
            _ => kept.push(pair.replace('@', "%40")),
        }
    }
    let entries = authority_entries(&parts);
    let named_hosts = entries.iter().any(|(host, _)| !host.is_empty());
    let authority_ports = entries.iter().any(|(_, port)| !port.is_empty());
    let port_given = authority_ports || param(&kept, "port").is_some();
    let mut base = parts.base();
    if !entries.is_empty() && !named_hosts {
        // Ports without hosts: libpq's "no host"; the ports become the `port` parameter.
        base = with_hosts(&parts, "");
        if authority_ports && param(&kept, "port").is_none() {
            let ports: Vec<&str> = entries.iter().map(|(_, port)| *port).collect();
            kept.push(format!("port={}", ports.join(",")));
        }
    } else if named_hosts {
        if param(&kept, "host").is_some() {
            return Err(invalid_url(
                "it names hosts both before its path and as host= parameters (libpq would use only the parameters, this client would try both); give them in one place",
            ));
        }
        if let Some(ports) = param(&kept, "port") {
            if authority_ports {
                return Err(invalid_url(
                    "it gives ports both after its hosts and as a port= parameter (libpq would use only the parameter, this client would try both); give them in one place",
                ));
            }
            // The client gives each host of the authority 5432 and then adds the
            // parameter's ports: they go beside the hosts instead.
            base = with_ports(&parts, &ports).ok_or_else(|| {
                invalid_url(&format!(
                    "it gives {} ports (port={ports}) for its {} hosts; give one port, or one per host",
                    ports.split(',').count(),
                    entries.len()
                ))
            })?;
            kept.retain(|pair| url::pair_key(pair) != "port");
        }
    }
    let own: Vec<&str> = kept.iter().map(String::as_str).collect();
    let (parsed, _) = tls::take_options(&url::with_query(&base, &own))?;
    let config = parse(&parsed, "the PostgreSQL URL")?;
    let given = |key: &str| match key {
        "host" => !config.get_hosts().is_empty(),
        "hostaddr" => !config.get_hostaddrs().is_empty(),
        "port" => port_given,
        // An empty user counts as none, as in libpq (`postgres://:pw@host/db`).
        "user" => config.get_user().is_some_and(|u| !u.is_empty()),
        // An empty password counts as none, as in libpq.
        "password" => config.get_password().is_some_and(|p| !p.is_empty()),
        "dbname" => config.get_dbname().is_some(),
        key => param(&kept, key).is_some(),
    };
    let mut added = Vec::new();
    let mut from_env = Vec::new();
    for (variable, key) in VARIABLES {
        if given(key) {
            continue;
        }
        let Some(value) = env.var(variable) else {
            continue;
        };
        let pair = format!("{key}={}", super::encode(&value));
        check(variable, &pair)?;
        if key == "port" && named_hosts {
            // libpq applies PGPORT to a single host written without a port; several hosts
            // without ports each get 5432.
            if entries.len() == 1 {
                base = with_ports(&parts, &value).ok_or_else(|| Error::InvalidInput {
                    what: format!("the environment variable {variable}"),
                    detail: format!(
                        "it lists {} ports for the URL's one host; give one port",
                        value.split(',').count()
                    ),
                    source: None,
                })?;
                from_env.push(variable);
            }
            continue;
        }
        if key == "host" {
            added.extend(host_params(&value));
        } else {
            added.push(pair);
        }
        from_env.push(variable);
    }
    if passfile_param.is_none() {
        passfile = env.var("PGPASSFILE");
    }
    let all: Vec<&str> = kept.iter().chain(&added).map(String::as_str).collect();
    Ok(Filled {
        url: url::with_query(&base, &all),
        passfile: passfile.or_else(|| {
            env.home
                .as_ref()
                .map(|h| h.join(".pgpass").to_string_lossy().into_owned())
        }),
        passfile_param,
        from_env,
    })
}

/// The (decoded) value of query parameter `key` among `pairs`, if given.
fn param(pairs: &[String], key: &str) -> Option<String> {
    pairs.iter().find_map(|pair| {
        let value = pair.split_once('=').map_or("", |(_, value)| value);
        (url::pair_key(pair) == key).then(|| url::percent_decode(value))
    })
}

/// A `host` parameter for each host of the list `hosts` (libpq's `host` holds a list, the
/// client's one host).
fn host_params(hosts: &str) -> impl Iterator<Item = String> + '_ {
    hosts
        .split(',')
        .map(|host| format!("host={}", super::encode(host)))
}

/// Checks the hosts, ports and host addresses the client would connect with: at least one
/// host, none empty, and one port (or one per host) and one address per host if any.
///
/// # Errors
///
/// [`Error::InvalidInput`] saying which.
pub(super) fn check_hosts(config: &Config) -> Result<()> {
    let (hosts, ports, addrs) = (
        config.get_hosts().len(),
        config.get_ports().len(),
        config.get_hostaddrs().len(),
    );
    if hosts == 0 && addrs == 0 {
        return Err(invalid_url(
            "it names no host, and PGHOST is not set; give one (postgres://user@host/database) or a socket directory (postgres://user@%2Fvar%2Frun%2Fpostgresql/database)",
        ));
    }
    if hosts == 0 {
        return Err(invalid_url(
            "it gives hostaddr without a host name; give the host too (in the URL, as host= or in PGHOST): its name is what TLS checks and messages show",
        ));
    }
    if config
        .get_hosts()
        .iter()
        .any(|h| matches!(h, Host::Tcp(name) if name.is_empty()))
    {
        return Err(invalid_url(
            "its list of hosts has an empty entry; name every host",
        ));
    }
    if ports > 1 && ports != hosts {
        return Err(invalid_url(&format!(
            "it gives {hosts} hosts and {ports} ports; give one port, or one per host"
        )));
    }
    if addrs > 0 && addrs != hosts {
        return Err(invalid_url(&format!(
            "it gives {hosts} hosts and {addrs} hostaddr values; give one per host"
        )));
    }
    Ok(())
}

/// `error` about the URL, said to be about the URL with the variables `from_env` too.
pub(super) fn blame(error: Error, from_env: &[&str]) -> Error {
    match &error {
        Error::InvalidInput { what, .. }
            if what == "the PostgreSQL URL" && !from_env.is_empty() =>
        {
            about(
                error,
                format!(
                    "the PostgreSQL URL with {} from the environment",
                    from_env.join(", ")
                ),
            )
        }
        _ => error,
    }
}

/// An [`Error::InvalidInput`] said to be about `what` instead; any other error as it is.
fn about(error: Error, what: String) -> Error {
    match error {
        Error::InvalidInput { detail, source, .. } => Error::InvalidInput {
            what,
            detail,
            source,
        },
        other => other,
    }
}

fn invalid_url(detail: &str) -> Error {
    Error::InvalidInput {
        what: "the PostgreSQL URL".into(),
        detail: detail.to_owned(),
        source: None,
    }
}

/// The authority's entries as (host, port) text, in order; empty when it has none.
fn authority_entries<'u>(parts: &url::Parts<'u>) -> Vec<(&'u str, &'u str)> {
    let hosts = parts.hosts();
    if hosts.is_empty() {
        return Vec::new();
    }
    hosts
        .split(',')
        .map(|entry| {
            let colon = match entry.rfind(']') {
                Some(close) => entry[close..].find(':').map(|i| close + i),
                None => entry.find(':'),
            };
            match colon {
                Some(at) => (&entry[..at], &entry[at + 1..]),
                None => (entry, ""),
            }
        })
        .collect()
}

/// The URL of `parts` without its query, with `hosts` in place of its authority's hosts
/// and ports.
fn with_hosts(parts: &url::Parts<'_>, hosts: &str) -> String {
    let path = parts
        .location
        .strip_prefix(parts.hosts())
        .unwrap_or_default();
    let user = parts.user_info.map(|u| format!("{u}@")).unwrap_or_default();
    format!("{}{user}{hosts}{path}", parts.scheme)
}

/// The URL of `parts` without its query, with `ports` (one for every host, or one per host)
/// after its hosts, which have none; `None` when the counts do not fit.
fn with_ports(parts: &url::Parts<'_>, ports: &str) -> Option<String> {
    let hosts: Vec<&str> = parts.hosts().split(',').collect();
    let ports: Vec<&str> = ports.split(',').collect();
    if ports.len() != 1 && ports.len() != hosts.len() {
        return None;
    }
    let hosts: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or_default();
            format!("{host}:{port}")
        })
        .collect();
    Some(with_hosts(parts, &hosts.join(",")))
}

/// The client's parse of `url` (without TLS options), or invalid input about `what`.
///
/// The detail is what the client found wrong (`invalid value for option `port``, `unknown
/// option `foo``), the innermost of its errors: the client's own message is only "invalid
/// connection string", which named nothing and stood twice on the terminal.
pub(super) fn parse(url: &str, what: &str) -> Result<Config> {
    url.parse().map_err(|e: postgres::Error| {
        let mut innermost: &dyn std::error::Error = &e;
        while let Some(inner) = innermost.source() {
            innermost = inner;
        }
        Error::InvalidInput {
            what: what.to_owned(),
            detail: innermost.to_string(),
            source: None,
        }
    })
}

/// Refuses a variable's parameter (`key=value`, encoded) that the client or the TLS options
/// would refuse, naming the variable.
fn check(variable: &str, pair: &str) -> Result<()> {
    let what = format!("the environment variable {variable}");
    let url = format!("postgres://localhost/?{pair}");
    let (url, _) = tls::take_options(&url).map_err(|e| about(e, what.clone()))?;
    parse(&url, &what).map(|_| ())
}

/// Sets `config`'s password from the password file `passfile` when it has none (or an empty
/// one), as libpq would: the first line matching one of its hosts (in order), its port,
/// database and user. A file that is missing gives nothing; one that others can read, is
/// not a regular file or cannot be read is ignored with a warning, and the returned note
/// says so, for an authentication failure's message.
pub(super) fn password_from_file(config: &mut Config, passfile: Option<&str>) -> Option<String> {
    if config.get_password().is_some_and(|p| !p.is_empty()) {
        return None;
    }
    let path = passfile?;
    let text = match read_passfile(Path::new(path)) {
        Ok(text) => text?,
        Err(why) => {
            tracing::warn!("the password file {path} is ignored: it {why}");
            return Some(format!("the password file {path} was ignored: it {why}"));
        }
    };
    let user = config
        .get_user()
        .map(str::to_owned)
        .or_else(|| whoami::username().ok())?;
    let database = config.get_dbname().unwrap_or(&user).to_owned();
    let ports = config.get_ports();
    let found = config.get_hosts().iter().enumerate().find_map(|(i, host)| {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let port = port.to_string();
        host_names(host)
            .into_iter()
            .find_map(|host| lookup(&text, [host.as_str(), &port, &database, &user]))
    });
    if let Some(password) = found {
        config.password(password);
    }
    None
}

/// The names a password-file line may give for `host`: a TCP host as written; a socket
/// directory as its path and, for the usual default directories, `localhost` (libpq's
/// name for a connection through its default socket).
fn host_names(host: &Host) -> Vec<String> {
    match host {
        Host::Tcp(name) => vec![name.clone()],
        Host::Unix(path) => {
            let path = path.to_string_lossy().into_owned();
            let trimmed = path.trim_end_matches('/');
            let default = ["/var/run/postgresql", "/run/postgresql", "/tmp"].contains(&trimmed);
            let mut names = vec![path.clone()];
            if default {
                names.push("localhost".to_owned());
            }
            names
        }
    }
}

/// The password file's text: `Ok(None)` when it is missing, `Err` saying why it is not read
/// (not a regular file, readable by others, unreadable).
fn read_passfile(path: &Path) -> std::result::Result<Option<String>, String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(
                "has group or world access, and libpq's rule is u=rw (0600) or less: `chmod 600` it"
                    .into(),
            );
        }
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) => Err(format!("cannot be read ({e})")),
    }
}

/// The password of the first line of a password file `text` whose host, port, database and
/// user fields match `wanted` (a field `*` matches anything; `\` escapes the next character).
/// Empty lines and lines starting with `#` are skipped, as are lines of fewer than five
/// fields.
pub(super) fn lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let mut rest = line;
            for want in wanted {
                rest = field_matches(rest, want)?;
            }
            Some(password_field(rest.trim_end_matches('\r')))
        })
}

/// Whether the field at the start of `line` (up to its first unescaped `:`) matches `want`;
/// if so, the rest of the line after that `:`.
fn field_matches<'l>(line: &'l str, want: &str) -> Option<&'l str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut value = String::new();
    let mut chars = line.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            ':' => return (value == want).then(|| &line[at + 1..]),
            c => value.push(c),
        }
    }
    None
}

/// A password as the file holds it, as libpq reads it: up to an unescaped `:` (a field after
/// it is ignored) or the end of the line; `\` escapes the next character, and a `\` that
/// ends the line is kept.
fn password_field(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap_or('\\')),
            ':' => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "environ_tests.rs"]
mod tests;
