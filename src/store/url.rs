//! Server URLs as text: telling one from a file path, finding where its user part and its
//! query are, and showing it without its password. Plain string work, compiled with or
//! without the PostgreSQL client, so that a build without it still never prints a password.
//!
//! A URL is read as libpq reads it ([`read`]): the user part ends at the first `@`, unless a
//! `/` comes before it (then there is none); the query starts at the first `?` after the
//! user part. The client would end the user part at the first `@` anywhere, even in the
//! query, so a connection hands it the URL with every later `@` written `%40`
//! (`pg::environ::fill`). Two places for an `@` are refused, since part of such a URL may be
//! a password read as something else: in the hosts or path (what a password holding `@` or
//! `/` unencoded leaves there), and after a `:` in a URL without a user part
//! (`postgres://h:5432/db?application_name=x@y` reads to the client as user `h` with a
//! password, and `postgres://u:se/cret@h/db` looks the same). So is a second `@` when what
//! precedes it reads as a user and a password (`postgres://u:p@?ss@h/db`, or
//! `postgres://u:pw@h/db?application_name=a@b`), and a user part whose user holds a `?`
//! (`postgres://?password=x@h`). [`read`] gives `None` for them, and such a
//! URL is shown as its scheme and `…` only; written with `%40`, it works.

use std::path::Path;

/// Whether `path` is a `postgres://` or `postgresql://` URL (the scheme in any case, as URL
/// schemes are), which names a server and never a file: what
/// [`RegistryManager::open`](crate::RegistryManager::open) refuses and the default manager
/// connects to.
///
/// ```
/// use pipeline_deps::storage::is_postgres_url;
/// use std::path::Path;
///
/// assert!(is_postgres_url(Path::new("POSTGRESQL://ci@db.internal/registry")));
/// assert!(!is_postgres_url(Path::new("postgres/registry.redb")));
/// ```
pub fn is_postgres_url(path: &Path) -> bool {
    let text = path.to_string_lossy();
    let scheme = text.split_once("://").map_or("", |(scheme, _)| scheme);
    scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")
}

/// The scheme of `path` when it is written as a URL (`scheme://…`): two or more characters,
/// a letter, then letters, digits, `+`, `-` or `.` (a single letter would be a Windows
/// drive). Only `postgres` and `postgresql` name a database ([`is_postgres_url`]); the
/// library never takes any other URL for a file name, since a mistyped scheme
/// (`postgress://host/db`) would otherwise create a directory `postgress:` and a registry
/// file in it, and the caller would believe it had written to the server.
///
/// ```
/// use pipeline_deps::storage::url_scheme;
/// use std::path::Path;
///
/// assert_eq!(url_scheme(Path::new("postgress://ci@db/registry")), Some("postgress"));
/// assert_eq!(url_scheme(Path::new("./postgress://ci@db/registry")), None);
/// assert_eq!(url_scheme(Path::new("C://registry.redb")), None);
/// ```
pub fn url_scheme(path: &Path) -> Option<&str> {
    let (scheme, _) = path.to_str()?.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && scheme.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// Refuses, as a file path, one written as a URL that names no database ([`url_scheme`]),
/// one that looks like a mistyped PostgreSQL URL (`postgres:/host/db`,
/// `postgres:user:pw@host/db`), and a URL with whitespace before it: what
/// [`RegistryManager::open`](crate::RegistryManager::open) and the default manager refuse
/// before creating anything, and so is a `postgres://` or `postgresql://` URL that is not
/// valid UTF-8 (no server can be named by it as written). Any other such URL passes (it names
/// a server), and so does any other path.
///
/// # Errors
/// [`Error::InvalidInput`](crate::Error::InvalidInput) saying which, never repeating the
/// path (a URL may hold a password).
///
/// ```
/// use pipeline_deps::storage::refuse_url_as_file;
/// use std::path::Path;
///
/// assert!(refuse_url_as_file(Path::new("postgres:/ci:secret@db/registry")).is_err());
/// assert!(refuse_url_as_file(Path::new("./postgres:/ci@db/registry")).is_ok());
/// assert!(refuse_url_as_file(Path::new("postgres://ci@db/registry")).is_ok());
/// ```
pub fn refuse_url_as_file(path: &Path) -> crate::Result<()> {
    if is_postgres_url(path) {
        return postgres_url_text(path).map(drop);
    }
    let text = path.to_string_lossy();
    let trimmed = text.trim_start();
    let lower = trimmed.get(..11).unwrap_or(trimmed).to_ascii_lowercase();
    let detail = if lower.starts_with("postgres:") || lower.starts_with("postgresql:") {
        "it looks like a PostgreSQL URL, but a server is named by a URL that starts with postgres:// or postgresql:// exactly (both slashes, nothing before them); a file whose path starts this way can be named by writing ./ before it".to_owned()
    } else if let Some(scheme) = url_scheme(Path::new(trimmed)) {
        let spaced = if trimmed.len() < text.len() {
            ", after whitespace"
        } else {
            ""
        };
        format!(
            "it is written as a URL ({scheme}://…{spaced}), but only postgres:// and postgresql:// URLs name a database (a server); a file whose path starts this way can be named by writing ./ before it"
        )
    } else {
        return Ok(());
    };
    Err(crate::Error::InvalidInput {
        what: "the database path (not shown: it may hold a password)".into(),
        detail,
        source: None,
    })
}

/// The text of `path`, a `postgres://` or `postgresql://` URL ([`is_postgres_url`]).
///
/// # Errors
/// [`Error::InvalidInput`](crate::Error::InvalidInput) when it is not valid UTF-8: a URL is
/// text, and one made text by replacing its bytes would name another server, user or
/// database (a path made absolute as a file would name a directory `postgres:`). Never
/// repeats the URL (it may hold a password).
pub(crate) fn postgres_url_text(path: &Path) -> crate::Result<&str> {
    path.to_str().ok_or_else(|| crate::Error::InvalidInput {
        what: "the database URL (not shown: it may hold a password)".into(),
        detail: "it is written as a PostgreSQL URL, but it is not valid UTF-8 text; write each byte that is not text percent-encoded (such as %FF), or name a file whose path starts this way by writing ./ before it".into(),
        source: None,
    })
}

/// A URL's parts as [`read`] reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'u> {
    /// Up to and including `://`.
    pub(crate) scheme: &'u str,
    /// The user part (user, and password after a `:`) without its `@`, if any.
    pub(crate) user_info: Option<&'u str>,
    /// Hosts, ports and path: after the user part, before the query.
    pub(crate) location: &'u str,
    /// After the `?` (empty without one).
    pub(crate) query: &'u str,
}

#[cfg(feature = "postgres")]
impl<'u> Parts<'u> {
    /// Everything before the query (`scheme://user@location`), as written.
    pub(crate) fn base(&self) -> String {
        match self.user_info {
            Some(info) => format!("{}{info}@{}", self.scheme, self.location),
            None => format!("{}{}", self.scheme, self.location),
        }
    }

    /// The hosts and ports of the location (before its path).
    pub(crate) fn hosts(&self) -> &'u str {
        self.location.split('/').next().unwrap_or_default()
    }
}

/// Reads `url` (`scheme://[user[:password]@]hosts[/path][?query]`) as the module's
/// documentation says; `None` when an `@` is left in its hosts or path.
pub(crate) fn read(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    let user_end = rest
        .find('@')
        .filter(|&at| rest.find('/').is_none_or(|slash| at < slash));
    let (user_info, after) = match user_end {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (location, query) = after.split_once('?').unwrap_or((after, ""));
    // An `@` left in the hosts or path, or an `@` after a `:` with no user part (`h:1/db?
    // a=x@y` reads as a user `h` and a password to the client, and is how a password
    // holding `/` looks): either way, part of it may be a password.
    // (The `:`s of an IPv6 host in brackets do not count.)
    let colon_before_at = user_info.is_none()
        && rest
            .find('@')
            .is_some_and(|at| without_ipv6_hosts(&rest[..at]).contains(':'));
    // More than one `@`, the last after what reads as a user and a password: a password
    // holding `@` would look so (`u:p@?ss@h`).
    let last_at_ends_a_password = rest.rfind('@').is_some_and(|last| {
        user_end != Some(last) && {
            let info = without_ipv6_hosts(&rest[..last]);
            let user = info.split(':').next().unwrap_or_default();
            info.contains(':') && !user.contains(['@', '/', '?'])
        }
    });
    // A `?` in the user: what follows may be parameters, a password among them.
    let query_in_user =
        user_info.is_some_and(|info| info.split(':').next().unwrap_or_default().contains('?'));
    if location.contains('@') || colon_before_at || last_at_ends_a_password || query_in_user {
        return None;
    }
    Some(Parts {
        scheme,
        user_info,
        location,
        query,
    })
}

/// `text` without the IPv6 addresses in brackets that open it or follow a `,` (hosts).
fn without_ipv6_hosts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut at_host = true;
    while let Some(c) = rest.chars().next() {
        if at_host
            && c == '['
            && let Some(close) = rest.find(']')
        {
            rest = &rest[close + 1..];
            at_host = false;
            continue;
        }
        at_host = c == ',';
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The key of a query parameter `key=value` (or of a lone `key`), percent-decoded.
pub(crate) fn pair_key(pair: &str) -> String {
    percent_decode(pair.split_once('=').map_or(pair, |(key, _)| key))
}

/// `base` with the query of `pairs` (none without pairs).
#[cfg(feature = "postgres")]
pub(crate) fn with_query(base: &str, pairs: &[&str]) -> String {
    if pairs.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", pairs.join("&"))
    }
}

/// Whether a query parameter's key, percent-decoded and in any case, holds `password`: a
/// secret (`password`, `sslpassword`, and any malformed key that means one, such as
/// `password%` or ` password`, which the client refuses but a message would show).
pub(crate) fn is_password_key(pair: &str) -> bool {
    pair_key(pair).to_lowercase().contains("password")
}

/// `url` as it may be shown: a `postgres://` URL without its password (after the user, or
/// any parameter whose key, percent-decoded and in any case, holds `password`:
/// `password`, `sslpassword`, a malformed `password%`), or as `postgres://…` when an `@`
/// leaves unclear what is a password (a connection refuses such a URL; see the module's
/// documentation); anything else as it is.
///
/// ```
/// use pipeline_deps::storage::url_without_password;
///
/// assert_eq!(
///     url_without_password("postgres://ci:s3?cr#t@db.internal/reg?pass%77ord=x&sslmode=require"),
///     "postgres://ci@db.internal/reg?sslmode=require"
/// );
/// // An `@` that leaves unclear what is a password: hidden whole.
/// assert_eq!(url_without_password("postgres://ci:p@ss@db.internal/reg"), "postgres://…");
/// assert_eq!(url_without_password("registry.redb"), "registry.redb");
/// ```
pub fn url_without_password(url: &str) -> String {
    if !is_postgres_url(Path::new(url)) {
        return url.to_owned();
    }
    let hidden = || {
        let scheme = url.find("://").map_or("postgres://", |at| &url[..at + 3]);
        format!("{scheme}…")
    };
    let Some(parts) = read(url) else {
        return hidden();
    };
    let user = parts
        .user_info
        .map(|info| format!("{}@", info.split(':').next().unwrap_or_default()))
        .unwrap_or_default();
    let kept: Vec<&str> = parts
        .query
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_password_key(pair))
        .collect();
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let shown = format!("{}{user}{}{query}", parts.scheme, parts.location);
    // What is left must read the same way: a password removed from the query may have held
    // the `/` that kept an `@` out of a user part.
    match read(&shown) {
        Some(again) if again.user_info.is_some() == parts.user_info.is_some() => shown,
        _ => hidden(),
    }
}

/// Percent-decodes `text` (a URL's query key or value); bytes that do not decode are kept.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (byte, hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{read, url_without_password};

    #[test]
    fn urls_are_read_as_libpq_reads_them() {
        for (url, user, location, query) in [
            ("postgres://u:pw@h:5/db?x=1", Some("u:pw"), "h:5/db", "x=1"),
            ("postgres://qm:se?cret@h/db", Some("qm:se?cret"), "h/db", ""),
            ("postgres://u@h/db?app=a@b", Some("u"), "h/db", "app=a@b"),
            (
                "postgres://u@127.0.0.1:5/db?app=a@b",
                Some("u"),
                "127.0.0.1:5/db",
                "app=a@b",
            ),
            ("postgres://h/db?password=x@y", None, "h/db", "password=x@y"),
            ("postgres:///db?host=%2Ftmp", None, "/db", "host=%2Ftmp"),
            // The `:`s of an IPv6 host are no password's.
            ("postgres://[::1]/db?app=a@b", None, "[::1]/db", "app=a@b"),
            (
                "postgres://h,[fe80::1]/db?app=a@b",
                None,
                "h,[fe80::1]/db",
                "app=a@b",
            ),
            ("postgres://", None, "", ""),
        ] {
            let parts = read(url);
            assert_eq!(parts.map(|p| p.user_info), Some(user), "{url}");
            assert_eq!(parts.map(|p| p.location), Some(location), "{url}");
            assert_eq!(parts.map(|p| p.query), Some(query), "{url}");
        }
        // An `@` left in the hosts or path, or after a `:` without a user part: perhaps a
        // password holding `@` or `/`.
        for url in [
            "postgres://u:p@ss@h/db",
            "postgres://qm:se/cret@h/db",
            "postgres://qm:se?cr/et@h/db",
            "postgres://u:12/34?5@h/db",
            "postgres://h:1/db?app=x@y&a=1",
            "postgres://a:p@?ss@db/reg",
            "postgres://u:pw@h/db?app=a@b",
            "postgres://?password=secret@h/db",
            "postgres://[::1]:5432/db?app=a@b",
        ] {
            assert_eq!(read(url), None, "{url}");
            assert_eq!(url_without_password(url), "postgres://…");
        }
    }

    #[test]
    fn decoding_keeps_what_is_not_an_escape() {
        assert_eq!(super::percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(super::percent_decode("%E2%9C%93"), "✓");
    }

    proptest! {
        /// Whatever characters a password holds, written unencoded into the user part or as
        /// a parameter (its key in any case), it is never shown.
        #[test]
        fn no_password_is_ever_shown(
            password in "[a-zA-Z0-9@:/?#&=%]{1,12}",
            // A parameter's value ends at `&` (and `#` starts no fragment for the client).
            in_query in "[a-zA-Z0-9@:/?%]{1,12}",
            user in "[a-z]{1,6}",
            query in proptest::option::of("[a-z]{1,5}=[a-z@]{0,5}"),
            key in proptest::sample::select(vec![
                "password", "PASSWORD", "pass%77ord", "sslpassword", "password%", " password",
                "password%0", "%FFpassword",
            ]),
        ) {
            // A marker no user, host or other parameter of these URLs holds.
            let secret = format!("ZZ{password}ZZ");
            let param = format!("ZZ{in_query}ZZ");
            let tail = query.map(|q| format!("?{q}")).unwrap_or_default();
            for url in [
                format!("postgres://{user}:{secret}@db.internal:5432/reg{tail}"),
                format!("postgres://{user}@db.internal/reg?{key}={param}"),
                format!("postgresql://{user}@db.internal/reg?a=1&{key}={param}&b=2"),
                format!("postgres://db.internal/reg?{key}={param}{}", tail.replace('?', "&")),
            ] {
                let shown = url_without_password(&url);
                prop_assert!(!shown.contains("ZZ"), "{} shows {}", url, shown);
            }
        }
    }
}
