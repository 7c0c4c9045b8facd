//! The PEM files a PostgreSQL URL names for TLS (`sslrootcert`, `sslcert`, `sslkey`) and
//! libpq's default places for them under `~/.postgresql/`: read, parsed and refused in
//! words, each error naming its file and URL parameter.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// `~/.postgresql/NAME`: where libpq looks for `root.crt`, `postgresql.crt` and
/// `postgresql.key` when the URL names none. `None` without a home directory.
pub(super) fn libpq_default(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".postgresql").join(name))
}

/// The operating system's trusted certificates (`sslrootcert=system`).
///
/// # Errors
///
/// [`Error::InvalidInput`] when the store holds none (the loader's first complaint is shown).
pub(super) fn system_roots() -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(Error::InvalidInput {
            what: "the system's trusted certificates (sslrootcert=system)".into(),
            detail: format!(
                "none was found{why}; install the system's CA certificates, point SSL_CERT_FILE at a bundle, or give sslrootcert=FILE"
            ),
            source: None,
        });
    }
    Ok(roots)
}

/// The certificates of the PEM file at `path`, trusted as roots.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the file when it cannot be read, is not PEM, or holds no
/// usable certificate.
pub(super) fn read_roots(path: &Path) -> Result<RootCertStore> {
    let file = PemFile::read(path, "the root certificate file", "sslrootcert")?;
    let mut roots = RootCertStore::empty();
    for cert in file.certificates()? {
        roots
            .add(cert)
            .map_err(|_| file.invalid("a CERTIFICATE section of it is not an X.509 certificate"))?;
    }
    Ok(roots)
}

/// A client certificate chain (`sslcert`) and its private key (`sslkey`).
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the file that cannot be read, is not PEM, or holds no
/// certificate or no unencrypted private key.
pub(super) fn read_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = PemFile::read(cert, "the client certificate file", "sslcert")?.certificates()?;
    let key_file = PemFile::read(key, "the client key file", "sslkey")?;
    let key = PrivateKeyDer::from_pem_slice(&key_file.bytes).map_err(|e| {
        key_file.invalid(match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "it holds no unencrypted private key (a `-----BEGIN PRIVATE KEY-----`, RSA or EC section); an encrypted key must be decrypted first (`openssl pkey -in KEY -out KEY.plain`)".to_owned()
            }
            other => pem_problem(&other),
        })
    })?;
    Ok((chain, key))
}

/// A PEM file read whole, with what it is for messages.
struct PemFile {
    bytes: Vec<u8>,
    /// "the root certificate file '/path' (sslrootcert)".
    what: String,
}

impl PemFile {
    fn read(path: &Path, kind: &str, parameter: &str) -> Result<PemFile> {
        let shown = crate::spec::escape_name_exact(&path.to_string_lossy()).into_owned();
        let what = format!("{kind} '{shown}' ({parameter})");
        let bytes = std::fs::read(path).map_err(|source| Error::InvalidInput {
            what: what.clone(),
            detail: "it cannot be read".into(),
            source: Some(Box::new(source)),
        })?;
        Ok(PemFile { bytes, what })
    }

    /// Every `CERTIFICATE` section, at least one.
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_slice_iter(&self.bytes)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.invalid(pem_problem(&e)))?;
        if certs.is_empty() {
            return Err(self
                .invalid("it holds no PEM certificate (a `-----BEGIN CERTIFICATE-----` section)"));
        }
        Ok(certs)
    }

    fn invalid(&self, detail: impl Into<String>) -> Error {
        Error::InvalidInput {
            what: self.what.clone(),
            detail: detail.into(),
            source: None,
        }
    }
}

/// What is wrong with a PEM file, in words (the parser's own message shows byte lists).
fn pem_problem(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as Pem;
    match error {
        Pem::MissingSectionEnd { .. } => {
            "a section has no `-----END …-----` line: the file is cut short".into()
        }
        Pem::IllegalSectionStart { .. } => "a `-----BEGIN …-----` line is malformed".into(),
        Pem::Base64Decode(_) => "a section's body is not base64".into(),
        other => format!("it is not PEM ({other})"),
    }
}
