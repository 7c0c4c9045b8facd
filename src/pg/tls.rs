//! TLS for connections to a PostgreSQL server, with libpq's meaning of the URL's `sslmode`
//! and `sslrootcert` (the `postgres` client knows `disable`, `prefer` and `require` only,
//! and leaves certificate checks to the TLS connector).
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | without first; with it when the server refuses that | not checked |
//! | `prefer` (the default) | when the server offers it; without when the server refuses that | not checked |
//! | `require` | always | not checked, unless a root certificate is given (`sslrootcert`, or `~/.postgresql/root.crt` exists): then as `verify-ca` |
//! | `verify-ca` | always | signed by a root certificate |
//! | `verify-full` | always | signed by a root certificate and issued for the URL's host |
//!
//! `sslrootcert=FILE` names a PEM file of trusted certificates; `sslrootcert=system` trusts
//! the operating system's store and, as in libpq, asks for `verify-full` (a weaker mode is
//! refused). Without `sslrootcert` (or with an empty one), `~/.postgresql/root.crt` is used
//! when it exists, and then named in the server's label. Only the modes that can check a
//! certificate read a root certificate file; one named by `sslrootcert` that cannot be read
//! is refused (libpq would go on unchecked under `require`: a typo should not silently turn
//! checking off). TLS never applies to a Unix socket, which libpq ignores `sslmode` for
//! too. A client certificate (`sslcert`, its unencrypted key `sslkey`; else
//! `~/.postgresql/postgresql.crt` and `.key` when they exist, as in libpq) is sent when the
//! server asks for one; a named certificate file that does not exist means none, as in
//! libpq; `sslpassword` (an encrypted key) is refused. The second
//! attempt of `allow` and `prefer` is made by the store (`PgStore::open_conn`), after the
//! server refused the first.
//!
//! The connector is rustls with its `ring` provider (no system OpenSSL), built once per
//! store and cloned for each reconnection.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::config::{Host, SslMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::pem;
use crate::error::{Error, Result};
use crate::store::url::{self, percent_decode as decode};

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    /// Every mode with its name in a URL.
    const NAMES: [(Mode, &'static str); 6] = [
        (Mode::Disable, "disable"),
        (Mode::Allow, "allow"),
        (Mode::Prefer, "prefer"),
        (Mode::Require, "require"),
        (Mode::VerifyCa, "verify-ca"),
        (Mode::VerifyFull, "verify-full"),
    ];

    fn parse(value: &str) -> Result<Mode> {
        Mode::NAMES
            .iter()
            .find(|(_, name)| *name == value)
            .map(|(mode, _)| *mode)
            .ok_or_else(|| {
                invalid(format!(
                    "sslmode={value} is not a mode; use disable, allow, prefer, require, verify-ca or verify-full"
                ))
            })
    }

    fn name(self) -> &'static str {
        Mode::NAMES
            .iter()
            .find(|(mode, _)| *mode == self)
            .map_or("prefer", |(_, name)| name)
    }
}

/// The TLS options of a URL, taken out of it before the client parses the rest.
#[derive(Debug, Default)]
pub(crate) struct TlsOptions {
    /// `sslmode`, if the URL gave it.
    mode: Option<Mode>,
    /// `sslrootcert` as given (a path, or `system`).
    root_cert: Option<String>,
    /// `sslcert` as given: the client certificate chain.
    client_cert: Option<String>,
    /// `sslkey` as given: the client certificate's private key.
    client_key: Option<String>,
    /// `sslpassword` was given: the client key is encrypted, which this build cannot read.
    key_passphrase: bool,
}

/// What a store connects with: the client's mode and the connector.
pub(crate) struct Tls {
    pub(crate) mode: SslMode,
    /// The mode of a second attempt after the server refused the first (`prefer`: without
    /// TLS; `allow`: with it), as libpq makes one.
    pub(crate) fallback: Option<SslMode>,
    pub(crate) connector: MakeRustlsConnect,
    /// The TLS options as URL parameters (`sslmode=…&sslrootcert=…`), with the files of
    /// `~/.postgresql/` that were used although the URL named none, or empty: for the
    /// server's label, since they decide what is checked and sent.
    pub(crate) query: String,
}

/// Splits `url` into the URL the client parses (without `sslmode`, `sslrootcert`,
/// `sslcert`, `sslkey` and `sslpassword`) and the TLS options.
///
/// # Errors
///
/// [`Error::InvalidInput`] for an unknown `sslmode`.
pub(crate) fn take_options(url: &str) -> Result<(String, TlsOptions)> {
    let Some(parts) = url::read(url).filter(|parts| !parts.query.is_empty()) else {
        return Ok((url.to_owned(), TlsOptions::default()));
    };
    let (base, query) = (parts.base(), parts.query);
    let mut options = TlsOptions::default();
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let value = pair.split_once('=').map_or("", |(_, value)| value);
        match url::pair_key(pair).as_str() {
            "sslmode" => options.mode = Some(Mode::parse(&decode(value))?),
            // Empty is unset, as in libpq.
            "sslrootcert" => options.root_cert = Some(decode(value)).filter(|v| !v.is_empty()),
            "sslcert" => options.client_cert = Some(decode(value)).filter(|v| !v.is_empty()),
            "sslkey" => options.client_key = Some(decode(value)).filter(|v| !v.is_empty()),
            // Needed only if a client key is read (see `identity`), as in libpq.
            "sslpassword" => options.key_passphrase = true,
            _ => kept.push(pair),
        }
    }
    Ok((url::with_query(&base, &kept), options))
}

impl TlsOptions {
    /// The options as they would be written back into a URL's query (`sslmode=…&…`, empty
    /// when there is none), with `defaults` (parameter and file of `~/.postgresql/` used
    /// although the URL named none) in their place.
    fn query(&self, defaults: &[(&str, PathBuf)]) -> String {
        let mut parts = Vec::new();
        if let Some(mode) = self.mode {
            parts.push(format!("sslmode={}", mode.name()));
        }
        let given = [
            ("sslrootcert", &self.root_cert),
            ("sslcert", &self.client_cert),
            ("sslkey", &self.client_key),
        ];
        for (parameter, value) in given {
            let default = defaults
                .iter()
                .find(|(p, _)| *p == parameter)
                .map(|(_, path)| path.to_string_lossy().into_owned());
            if let Some(value) = value.clone().or(default) {
                parts.push(format!("{parameter}={}", super::encode(&value)));
            }
        }
        parts.join("&")
    }

    /// The client's mode and a connector that checks the server's certificate as the options
    /// say, for a server at `hosts`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when a mode that checks certificates has no root certificate,
    /// when `sslrootcert=system` comes with a weaker mode than `verify-full`, or when the
    /// root certificate file cannot be read or holds no certificate.
    pub(crate) fn connector(&self, hosts: &[Host]) -> Result<Tls> {
        let system = self.root_cert.as_deref() == Some("system");
        let mode = match self.mode {
            None if system => Mode::VerifyFull,
            None => Mode::Prefer,
            Some(mode) if system && mode != Mode::VerifyFull => {
                return Err(invalid(format!(
                    "sslrootcert=system trusts every authority of the system's store, so it needs sslmode=verify-full (not {}), as in libpq",
                    mode.name()
                )));
            }
            Some(mode) => mode,
        };
        // TLS never applies to a Unix socket (the server offers none there).
        let unix_only = hosts.iter().all(|h| !matches!(h, Host::Tcp(_)));
        let (client_mode, fallback) = match mode {
            _ if unix_only => (SslMode::Disable, None),
            Mode::Disable => (SslMode::Disable, None),
            Mode::Allow => (SslMode::Disable, Some(SslMode::Require)),
            Mode::Prefer => (SslMode::Prefer, Some(SslMode::Disable)),
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => (SslMode::Require, None),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Only the modes that can check a certificate read a root certificate.
        let checks = matches!(mode, Mode::Require | Mode::VerifyCa | Mode::VerifyFull);
        let mut defaults = Vec::new();
        let roots = if checks && !unix_only {
            self.roots(system, &mut defaults)?
        } else {
            None
        };
        let identity = if client_mode == SslMode::Disable && fallback.is_none() {
            None
        } else {
            self.identity(&mut defaults)?
        };
        let check = match (mode, roots) {
            (Mode::VerifyFull, Some(roots)) => Check::Full(roots),
            (Mode::VerifyCa | Mode::Require, Some(roots)) => Check::Authority(roots),
            (Mode::VerifyCa | Mode::VerifyFull, None) if !unix_only => {
                return Err(invalid(format!(
                    "sslmode={} checks the server's certificate against a root certificate, and none is given; add sslrootcert=FILE (the PEM certificate of the authority that signed the server's) or sslrootcert=system, or put it in ~/.postgresql/root.crt",
                    mode.name()
                )));
            }
            _ => Check::Nothing,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid_with("setting up TLS".into(), e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier { check, provider }));
        let mut config = match identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                invalid_with(
                    "the client certificate (sslcert) and key (sslkey) do not go together".into(),
                    e,
                )
            })?,
            None => builder.with_no_client_auth(),
        };
        // As libpq 17 sends; a server of version 17 or later requires it for
        // `sslnegotiation=direct`, older ones ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Tls {
            mode: client_mode,
            fallback,
            connector: MakeRustlsConnect::new(config),
            query: self.query(&defaults),
        })
    }

    /// The trusted roots: the system's, the `sslrootcert` file's, or those of
    /// `~/.postgresql/root.crt` when it exists (then noted in `defaults`); `None` when there
    /// are none to use.
    fn roots(
        &self,
        system: bool,
        defaults: &mut Vec<(&'static str, PathBuf)>,
    ) -> Result<Option<Arc<RootCertStore>>> {
        if system {
            return Ok(Some(Arc::new(pem::system_roots()?)));
        }
        match given_or_default(
            self.root_cert.as_deref(),
            "sslrootcert",
            "root.crt",
            defaults,
        ) {
            Some(path) => Ok(Some(Arc::new(pem::read_roots(&path)?))),
            None => Ok(None),
        }
    }

    /// The client certificate and key to send: the URL's `sslcert` and `sslkey`, else
    /// libpq's `~/.postgresql/postgresql.crt` and `.key` when the certificate exists (noted
    /// in `defaults`); `None` without a certificate, or when the one named does not exist
    /// (as in libpq, with a warning).
    #[allow(clippy::type_complexity)]
    fn identity(
        &self,
        defaults: &mut Vec<(&'static str, PathBuf)>,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
        let Some(cert) = given_or_default(
            self.client_cert.as_deref(),
            "sslcert",
            "postgresql.crt",
            defaults,
        ) else {
            if self.client_key.is_some() {
                return Err(invalid(
                    "sslkey names a client key, and no certificate goes with it; add sslcert=FILE"
                        .into(),
                ));
            }
            return Ok(None);
        };
        if !cert.exists() {
            // As libpq: a certificate file that does not exist means no client certificate
            // (the server refuses the connection if its rule asks for one).
            tracing::warn!(
                "the client certificate file {} (sslcert) does not exist; no client certificate is sent",
                cert.display()
            );
            return Ok(None);
        }
        let Some(key) = given_or_default(
            self.client_key.as_deref(),
            "sslkey",
            "postgresql.key",
            defaults,
        ) else {
            return Err(invalid(
                "a client certificate needs its private key; add sslkey=FILE (an unencrypted PEM key), or put it in ~/.postgresql/postgresql.key".into(),
            ));
        };
        if self.key_passphrase {
            return Err(invalid(
                "sslpassword unlocks an encrypted client key, which this build cannot read; decrypt the key (`openssl pkey -in KEY -out KEY.plain`) and name it with sslkey".into(),
            ));
        }
        pem::read_identity(&cert, &key).map(Some)
    }
}

/// The file a URL parameter names, else libpq's default `~/.postgresql/NAME` when it exists
/// (then noted in `defaults` under `parameter`, for the server's label).
fn given_or_default(
    given: Option<&str>,
    parameter: &'static str,
    name: &str,
    defaults: &mut Vec<(&'static str, PathBuf)>,
) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(PathBuf::from(path));
    }
    let path = pem::libpq_default(name).filter(|path| path.is_file())?;
    defaults.push((parameter, path.clone()));
    Some(path)
}

/// What is checked of the server's certificate.
#[derive(Debug)]
enum Check {
    /// Nothing: the connection is encrypted, but anyone could be at the other end
    /// (`prefer`, `require` without a root certificate).
    Nothing,
    /// Signed by one of the roots (`verify-ca`, `require` with a root certificate).
    Authority(Arc<RootCertStore>),
    /// Signed by one of the roots and issued for the host (`verify-full`).
    Full(Arc<RootCertStore>),
}

/// Checks the server's certificate as [`Check`] says; handshake signatures are always
/// checked, so the encryption is real whatever the check.
#[derive(Debug)]
struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let (roots, name) = match &self.check {
            Check::Nothing => return Ok(ServerCertVerified::assertion()),
            Check::Authority(roots) => (roots, false),
            Check::Full(roots) => (roots, true),
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )
        .map_err(dated)?;
        if name {
            verify_server_name(&cert, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A certificate's validity error with dates instead of seconds since 1970 (rustls reports
/// "verification time 1796102147 (UNIX)"); any other error as it is.
fn dated(error: rustls::Error) -> rustls::Error {
    use rustls::CertificateError as C;
    let text = match &error {
        rustls::Error::InvalidCertificate(C::ExpiredContext { time, not_after }) => format!(
            "the server's certificate expired at {} (checked at {})",
            utc(not_after.as_secs()),
            utc(time.as_secs())
        ),
        rustls::Error::InvalidCertificate(C::NotValidYetContext { time, not_before }) => {
            format!(
                "the server's certificate is not valid before {} (checked at {}; is a clock wrong?)",
                utc(not_before.as_secs()),
                utc(time.as_secs())
            )
        }
        _ => return error,
    };
    rustls::Error::InvalidCertificate(C::Other(rustls::OtherError(Arc::new(
        std::io::Error::other(text),
    ))))
}

/// `seconds` since 1970 as `YYYY-MM-DD HH:MM:SS UTC` (the proleptic Gregorian calendar; the
/// civil-from-days algorithm of Howard Hinnant's date library).
fn utc(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// Whether `err` (a failed connection) failed in TLS: the handshake, the certificate check,
/// or a server that offers no TLS where the mode requires it.
pub(crate) fn is_tls_error(err: &postgres::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cause {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        cause = e.source();
    }
    // The client's own TLS errors ("server does not support TLS") carry only text.
    err.to_string()
        .starts_with("error performing TLS handshake")
}

fn invalid(detail: String) -> Error {
    Error::InvalidInput {
        what: "the PostgreSQL URL".into(),
        detail,
        source: None,
    }
}

fn invalid_with(detail: String, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::InvalidInput {
        what: "the PostgreSQL URL".into(),
        detail,
        source: Some(Box::new(source)),
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
