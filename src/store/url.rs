//! Server URLs as text: telling one from a file path, finding where its user part and its
//! query are, and showing it without its password. Plain string work, compiled with or
//! without the PostgreSQL client, so that a build without it still never prints a password.
//!
//! Where a URL's user part ends is ambiguous when a password holds `@`, `/`, `?` or `#`
//! unencoded (the client ends it at the first `@`; libpq at the first `@` before any `/`).
//! [`split`] takes the reading that hides the most: the user part runs to the last `@`
//! whose user (what precedes the first `:`) holds no `/` or `?` (which would put that `@`
//! in the path or the query). A connection refuses a URL that the client would read
//! otherwise (`pg::target`), so that what is shown is always what is used.

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

/// A URL's parts as [`split`] reads them.
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

/// Splits `url` (`scheme://[user[:password]@]hosts[/path][?query]`) as the module's
/// documentation says.
pub(crate) fn split(url: &str) -> Parts<'_> {
    let (scheme, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    // The last `@` that can end a user part: what precedes its first `:` (the user) holds
    // no `/` or `?`, which would put that `@` in the path or query.
    let user_end = rest.match_indices('@').map(|(at, _)| at).rev().find(|&at| {
        let user = rest[..at].split(':').next().unwrap_or_default();
        !user.contains(['/', '?'])
    });
    let (user_info, after) = match user_end {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (location, query) = after.split_once('?').unwrap_or((after, ""));
    Parts {
        scheme,
        user_info,
        location,
        query,
    }
}

/// Whether the client (which ends the user part at the first `@`) reads `url`'s user part
/// as [`split`] does.
#[cfg(feature = "postgres")]
pub(crate) fn client_reads_alike(url: &str) -> bool {
    let parts = split(url);
    let rest = url.get(parts.scheme.len()..).unwrap_or_default();
    let client_end = rest.find('@');
    client_end == parts.user_info.map(str::len)
}

/// Whether a query parameter's key (percent-decoded) is `password`, in any case.
pub(crate) fn is_password_key(pair: &str) -> bool {
    let key = pair.split_once('=').map_or(pair, |(key, _)| key);
    percent_decode(key).eq_ignore_ascii_case("password")
}

/// `url` as it may be shown: a `postgres://` URL without its password (after the user, or
/// as a `password=` parameter, its key written in any case or percent-encoded); anything
/// else as it is.
///
/// ```
/// use pipeline_deps::storage::url_without_password;
///
/// assert_eq!(
///     url_without_password("postgres://ci:s3?cr@t@db.internal/reg?pass%77ord=x&sslmode=require"),
///     "postgres://ci@db.internal/reg?sslmode=require"
/// );
/// assert_eq!(url_without_password("registry.redb"), "registry.redb");
/// ```
pub fn url_without_password(url: &str) -> String {
    if !is_postgres_url(Path::new(url)) {
        return url.to_owned();
    }
    let parts = split(url);
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
    format!("{}{user}{}{query}", parts.scheme, parts.location)
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

    #[cfg(feature = "postgres")]
    use super::client_reads_alike;
    use super::{split, url_without_password};

    #[test]
    fn the_user_part_is_read_to_hide_the_most() {
        for (url, user, location, query) in [
            ("postgres://u:pw@h:5/db?x=1", Some("u:pw"), "h:5/db", "x=1"),
            ("postgres://qm:se?cret@h/db", Some("qm:se?cret"), "h/db", ""),
            (
                "postgres://qm:se/cret@h/db?a=1",
                Some("qm:se/cret"),
                "h/db",
                "a=1",
            ),
            ("postgres://u:p@ss@h/db", Some("u:p@ss"), "h/db", ""),
            ("postgres://u@h/db?app=a@b", Some("u"), "h/db", "app=a@b"),
            // Ambiguous: read to hide the most (and refused for a connection).
            (
                "postgres://u:pw@h/db?app=a@b",
                Some("u:pw@h/db?app=a"),
                "b",
                "",
            ),
            ("postgres://h/db?password=x@y", None, "h/db", "password=x@y"),
            ("postgres:///db?host=%2Ftmp", None, "/db", "host=%2Ftmp"),
            ("postgres://", None, "", ""),
        ] {
            let parts = split(url);
            assert_eq!(parts.user_info, user, "{url}");
            assert_eq!(parts.location, location, "{url}");
            assert_eq!(parts.query, query, "{url}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_url_the_client_reads_otherwise_is_told_apart() {
        assert!(client_reads_alike("postgres://qm:se?cret@h/db"));
        assert!(client_reads_alike("postgres://h/db"));
        assert!(!client_reads_alike("postgres://u:p@ss@h/db"));
        assert!(client_reads_alike("postgres://u@h/db?app=a@b"));
        assert!(!client_reads_alike("postgres://u:pw@h/db?app=a@b"));
        assert!(!client_reads_alike("postgres://h/db?app=a@b"));
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
            key in proptest::sample::select(vec!["password", "PASSWORD", "pass%77ord"]),
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
