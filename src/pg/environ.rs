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
//! Not read: `PGSERVICE` and service files, `PGSSLPASSWORD` (encrypted keys are refused
//! anyway), `PGREQUIRESSL` (deprecated) and the variables of settings the client lacks.

use std::path::{Path, PathBuf};

use postgres::Config;
use postgres::config::Host;

use super::tls;
use crate::error::{Error, Result};

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
pub(super) const IN_AUTHORITY: [&str; 5] = ["host", "port", "user", "password", "dbname"];

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
}

/// Adds to `url` (scheme in lower case) a parameter for each variable of `env` whose
/// parameter `url` leaves out.
///
/// # Errors
///
/// [`Error::InvalidInput`] when the URL does not parse, or when a variable holds a value
/// its parameter cannot take (the message names the variable).
pub(super) fn fill(url: &str, env: &Environment) -> Result<Filled> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut passfile_param = None;
    let mut passfile = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if tls::decode(key) == "passfile" {
            passfile_param = Some(pair.to_owned());
            passfile = Some(tls::decode(value)).filter(|v| !v.is_empty());
        } else {
            kept.push(pair);
        }
    }
    let given_url = with_query(base, &kept);
    let (parsed, _) = tls::take_options(&given_url)?;
    let config = parse(&parsed, "the PostgreSQL URL")?;
    let keys: Vec<String> = kept
        .iter()
        .map(|pair| tls::decode(pair.split_once('=').map_or(*pair, |(key, _)| key)))
        .collect();
    let given = |key: &str| {
        keys.iter().any(|k| k == key)
            || match key {
                "host" | "hostaddr" => {
                    !config.get_hosts().is_empty() || !config.get_hostaddrs().is_empty()
                }
                // The client fills in 5432 for a host without a port: look at the URL.
                "port" => authority_gives_port(base),
                "user" => config.get_user().is_some(),
                "password" => config.get_password().is_some(),
                "dbname" => config.get_dbname().is_some(),
                _ => false,
            }
    };
    let mut base = base.to_owned();
    let mut added = Vec::new();
    for (variable, key) in VARIABLES {
        if given(key) {
            continue;
        }
        let Some(value) = env.var(variable) else {
            continue;
        };
        let pair = format!("{key}={}", super::encode(&value));
        check(variable, &pair)?;
        // The client gives each host of the authority 5432 when it has no port, so a port
        // there goes beside the hosts, not after them in the query.
        if key == "port" && authority_has_hosts(base.as_str()) {
            base = with_ports(&base, &value).ok_or_else(|| Error::InvalidInput {
                what: format!("the environment variable {variable}"),
                detail: format!(
                    "it lists {} ports for the URL's {} hosts; give one port, or one per host",
                    value.split(',').count(),
                    config.get_hosts().len()
                ),
                source: None,
            })?;
            continue;
        }
        if key == "host" {
            // A URL's `host` parameter holds one host: a list becomes one parameter each.
            added.extend(
                value
                    .split(',')
                    .map(|host| format!("host={}", super::encode(host))),
            );
            continue;
        }
        added.push(pair);
    }
    if passfile_param.is_none() {
        passfile = env.var("PGPASSFILE");
    }
    let mut all: Vec<&str> = kept;
    all.extend(added.iter().map(String::as_str));
    Ok(Filled {
        url: with_query(&base, &all),
        passfile: passfile.or_else(|| {
            env.home
                .as_ref()
                .map(|h| h.join(".pgpass").to_string_lossy().into_owned())
        }),
        passfile_param,
    })
}

/// The hosts part of the authority of `base` (a URL without its query): after the user,
/// before the path.
fn authority_hosts(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, hosts)| hosts)
}

/// Whether the authority of `base` names hosts (rather than the query's `host=`).
fn authority_has_hosts(base: &str) -> bool {
    !authority_hosts(base).is_empty()
}

/// Whether the authority of `base` (a URL without its query) gives a port for some host:
/// `host:port`, `[v6]:port` or `%2Fsocket:port`.
fn authority_gives_port(base: &str) -> bool {
    authority_hosts(base).split(',').any(|host| {
        let after_address = host.rsplit_once(']').map_or(host, |(_, after)| after);
        after_address.contains(':')
    })
}

/// `base` (a URL without its query, whose hosts have no ports) with `ports` (one for every
/// host, or one per host) after its hosts; `None` when the counts do not fit.
fn with_ports(base: &str, ports: &str) -> Option<String> {
    let (scheme, rest) = base.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (user, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), authority),
    };
    let hosts: Vec<&str> = hosts.split(',').collect();
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
    Some(format!("{scheme}://{user}{}{path}", hosts.join(",")))
}

/// `base` with the query of `pairs`.
fn with_query(base: &str, pairs: &[&str]) -> String {
    if pairs.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", pairs.join("&"))
    }
}

/// The client's parse of `url` (without TLS options), or invalid input about `what`.
fn parse(url: &str, what: &str) -> Result<Config> {
    url.parse()
        .map_err(|e: postgres::Error| Error::InvalidInput {
            what: what.to_owned(),
            detail: e.to_string(),
            source: Some(Box::new(e)),
        })
}

/// Refuses a variable's parameter (`key=value`, encoded) that the client or the TLS options
/// would refuse, naming the variable.
fn check(variable: &str, pair: &str) -> Result<()> {
    let what = format!("the environment variable {variable}");
    let url = format!("postgres://localhost/?{pair}");
    let (url, _) = tls::take_options(&url).map_err(|e| match e {
        Error::InvalidInput { detail, source, .. } => Error::InvalidInput {
            what: what.clone(),
            detail,
            source,
        },
        other => other,
    })?;
    parse(&url, &what).map(|_| ())
}

/// Sets `config`'s password from the password file `passfile` when it has none, as libpq
/// would: the first line matching one of its hosts (in order), its port, database and user.
/// A file that is missing gives nothing; one that others can read, is not a regular file or
/// cannot be read is ignored with a warning.
pub(super) fn password_from_file(config: &mut Config, passfile: Option<&str>) {
    if config.get_password().is_some() {
        return;
    }
    let Some(path) = passfile else {
        return;
    };
    let Some(text) = read_passfile(Path::new(path)) else {
        return;
    };
    let Some(user) = config
        .get_user()
        .map(str::to_owned)
        .or_else(|| whoami::username().ok())
    else {
        return;
    };
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

/// The password file's text, or `None` (with a warning unless it is simply missing).
fn read_passfile(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        tracing::warn!(
            "the password file {} is not a regular file; it is ignored",
            path.display()
        );
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "the password file {} has group or world access; it is ignored (permissions should be u=rw (0600) or less, as libpq requires)",
                path.display()
            );
            return None;
        }
    }
    match std::fs::read(path) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => {
            tracing::warn!(
                "the password file {} cannot be read ({e}); it is ignored",
                path.display()
            );
            None
        }
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
            Some(unescape(rest.trim_end_matches('\r')))
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

/// A password as the file holds it: `\` escapes the next character.
fn unescape(password: &str) -> String {
    let mut out = String::with_capacity(password.len());
    let mut chars = password.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "environ_tests.rs"]
mod tests;
