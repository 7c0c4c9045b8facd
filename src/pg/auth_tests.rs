//! Passwords from where libpq finds them (`super::super::environ`), against a throw-away
//! cluster whose password role must authenticate: `PGPASSWORD`, the password file, and a
//! password file others can read, which is ignored.

use super::pg_cluster::{self, PASSWORD, PASSWORD_USER};
use super::{TestResult, server_kind};
use crate::error::ServerErrorKind;
use crate::manager::DEFAULT_CONNECTIONS;
use crate::pg::PgStore;
use crate::pg::environ::Environment;

#[cfg(unix)]
#[test]
fn a_password_from_the_environment_or_the_password_file_opens_the_registry() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let test = "password_from_environment";
    let Some((cluster, database)) = pg_cluster::password_database(test)? else {
        return Ok(());
    };
    let socket = cluster.dir().to_string_lossy().into_owned();
    let port = cluster.port().to_string();
    // Nothing in the URL but the scheme: host, port, user and database from the environment.
    let from_env = [
        ("PGHOST", socket.as_str()),
        ("PGPORT", port.as_str()),
        ("PGUSER", PASSWORD_USER),
        ("PGDATABASE", database.as_str()),
    ];
    let with = |extra: &[(&'static str, &str)], home: Option<&std::path::Path>| {
        let vars: Vec<(&str, &str)> = from_env.iter().chain(extra).copied().collect();
        PgStore::connect_in(
            "postgres://",
            &Environment::of(&vars, home),
            false,
            DEFAULT_CONNECTIONS,
        )
    };
    let store = with(&[("PGPASSWORD", PASSWORD)], None)?;
    assert!(
        store
            .label()
            .starts_with(&format!("postgres://{PASSWORD_USER}@")),
        "{}",
        store.label()
    );
    assert!(!store.label().contains("horse"), "{}", store.label());
    // Without a password: refused.
    assert_eq!(
        server_kind(with(&[], None))?,
        ServerErrorKind::Authentication
    );
    // `~/.pgpass`, with libpq's escapes; a wrong line first for another database.
    let home = tempfile::tempdir()?;
    let passfile = home.path().join(".pgpass");
    let line = |db: &str, password: &str| {
        format!(
            "{}:{port}:{db}:{PASSWORD_USER}:{password}\n",
            socket.replace('\\', "\\\\").replace(':', "\\:")
        )
    };
    std::fs::write(
        &passfile,
        format!("{}{}", line("elsewhere", "nope"), line(&database, PASSWORD)),
    )?;
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600))?;
    with(&[], Some(home.path()))?;
    // PGPASSWORD comes before the file, as in libpq.
    assert_eq!(
        server_kind(with(&[("PGPASSWORD", "wrong")], Some(home.path())))?,
        ServerErrorKind::Authentication
    );
    // A file others can read is ignored.
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644))?;
    assert_eq!(
        server_kind(with(&[], Some(home.path())))?,
        ServerErrorKind::Authentication
    );
    // PGPASSFILE names another file.
    let elsewhere = home.path().join("pass");
    std::fs::write(&elsewhere, line("*", PASSWORD))?;
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600))?;
    let named = elsewhere.to_string_lossy().into_owned();
    with(&[("PGPASSFILE", named.as_str())], Some(home.path()))?;
    Ok(())
}
