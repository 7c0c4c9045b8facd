//! How `sslmode`, `sslrootcert` and the client certificate options of a PostgreSQL URL are
//! read (`super`): taken out of the URL with the rest kept, refused when unknown or when a mode
//! cannot check what it is asked to, and certificate times shown as dates.

use super::*;

#[test]
fn the_tls_options_are_taken_out_of_the_url_and_the_rest_kept() -> Result<()> {
    let (url, options) = take_options(
        "postgres://u@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
    )?;
    assert_eq!(
        url,
        "postgres://u@h/db?application_name=x&connect_timeout=3"
    );
    assert_eq!(options.mode, Some(Mode::VerifyFull));
    assert_eq!(options.root_cert.as_deref(), Some("/etc/ca.pem"));
    assert_eq!(
        options.query(&[]),
        "sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"
    );
    let (url, options) = take_options("postgres://u@h/db?sslmode=require")?;
    assert_eq!(url, "postgres://u@h/db");
    assert_eq!(options.query(&[]), "sslmode=require");
    assert_eq!(
        options.query(&[(
            "sslrootcert",
            PathBuf::from("/home/me/.postgresql/root.crt")
        )]),
        "sslmode=require&sslrootcert=%2Fhome%2Fme%2F.postgresql%2Froot.crt",
        "libpq's default root file, when used, is named"
    );
    let (_, options) = take_options("postgres://u@h/db?sslrootcert=")?;
    assert_eq!(options.root_cert, None, "empty is unset, as in libpq");
    let (url, options) = take_options("postgres://u@h/db")?;
    assert_eq!(
        (url.as_str(), options.query(&[])),
        ("postgres://u@h/db", String::new())
    );
    Ok(())
}

#[test]
fn unknown_modes_and_encrypted_client_keys_are_refused() -> Result<()> {
    let result = take_options("postgres://h/db?sslmode=verify");
    assert!(
        matches!(result, Err(Error::InvalidInput { .. })),
        "{result:?}"
    );
    // sslpassword is refused when a client key is to be read, ignored otherwise (as in
    // libpq, which needs it only then); never passed on.
    let cert = tempfile::NamedTempFile::new().map_err(|source| Error::Io {
        action: "creating a file".into(),
        source,
    })?;
    let with_key = format!(
        "sslcert={0}&sslkey={0}&sslpassword=x",
        cert.path().display()
    );
    let refused = refusal(&with_key)?;
    assert!(refused.to_string().contains("sslpassword"), "{refused}");
    let (url, _) = take_options("postgres://h/db?sslpassword=x&sslmode=disable")?;
    assert_eq!(url, "postgres://h/db");
    Ok(())
}

/// The error `connector` gives for the options of `query`, for a server over TCP.
fn refusal(query: &str) -> Result<Error> {
    let (_, options) = take_options(&format!("postgres://h/db?{query}"))?;
    match options.connector(&[Host::Tcp("db.example".into())]) {
        Ok(_) => Err(invalid(format!("{query} was accepted"))),
        Err(e) => Ok(e),
    }
}

#[test]
fn checking_modes_need_a_root_certificate_and_system_roots_need_verify_full() -> Result<()> {
    let missing = refusal("sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem")?;
    assert!(
        matches!(&missing, Error::InvalidInput { what, detail, .. }
            if what.contains("/nonexistent/ca.pem") && detail.contains("cannot be read")),
        "{missing:?}"
    );
    for query in [
        "sslrootcert=system&sslmode=verify-ca",
        "sslrootcert=system&sslmode=require",
    ] {
        let weak = refusal(query)?;
        assert!(weak.to_string().contains("verify-full"), "{query}: {weak}");
    }
    let empty = tempfile::NamedTempFile::new().map_err(|source| Error::Io {
        action: "creating a file".into(),
        source,
    })?;
    let nothing = refusal(&format!(
        "sslmode=require&sslrootcert={}",
        empty.path().display()
    ))?;
    assert!(
        nothing.to_string().contains("holds no PEM certificate"),
        "{nothing}"
    );
    // A client key needs its certificate, and a certificate its key.
    if !pem::libpq_default("postgresql.crt").is_some_and(|p| p.is_file()) {
        let lone_key = refusal("sslkey=/k.pem")?;
        assert!(lone_key.to_string().contains("add sslcert"), "{lone_key}");
    }
    if !pem::libpq_default("postgresql.key").is_some_and(|p| p.is_file()) {
        let lone_cert = refusal(&format!("sslcert={}", empty.path().display()))?;
        assert!(lone_cert.to_string().contains("add sslkey"), "{lone_cert}");
    }
    // A certificate file that does not exist means no client certificate, as in libpq.
    let (_, options) =
        take_options("postgres://h/db?sslmode=require&sslcert=/nonexistent/client.pem")?;
    assert!(options.identity(&mut Vec::new())?.is_none());
    // Without sslrootcert, libpq's default file is used when it exists.
    if !pem::libpq_default("root.crt").is_some_and(|p| p.is_file()) {
        let none = refusal("sslmode=verify-full")?;
        assert!(none.to_string().contains("sslrootcert=FILE"), "{none}");
    }
    // TLS does not apply to a Unix socket: nothing is checked or loaded.
    let (_, options) =
        take_options("postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent")?;
    let tls = options.connector(&[Host::Unix("/run/postgresql".into())])?;
    assert_eq!(tls.mode, SslMode::Disable);
    Ok(())
}

#[test]
fn certificate_times_are_dates() {
    assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    assert_eq!(utc(1_796_102_147), "2026-12-01 05:15:47 UTC");
    assert_eq!(utc(4_107_542_399), "2100-02-28 23:59:59 UTC");
    let expired = dated(rustls::Error::InvalidCertificate(
        rustls::CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_796_102_147)),
            not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_796_015_431)),
        },
    ))
    .to_string();
    assert!(
        expired.contains("expired at 2026-11-30 05:10:31 UTC (checked at 2026-12-01 05:15:47 UTC)"),
        "{expired}"
    );
}
