//! Invariant: the binary connects to PostgreSQL as libpq would and says what went wrong. A
//! long server URL is printed whole and a password in it never; libpq's variables and the
//! password file work from the command line; each kind of server error has its own JSON
//! `kind`, a TLS failure included, with a readable message.
#![cfg(feature = "postgres")]

#[path = "../../tests/support/pg_cluster.rs"]
mod pg_cluster;

mod common;
mod postgres_cli_common;

use serde_json::Value;

use common::TestResult;
use postgres_cli_common::{database, json, run};

#[test]
fn a_long_server_url_is_printed_whole() -> TestResult {
    let Some(url) = database("long_server_url")? else {
        return Ok(());
    };
    // Longer than any table's width, on a narrow terminal.
    let url = format!("{url}?application_name={}", "a".repeat(120));
    assert_eq!(run(&["--db", &url, "demo"], &[])?.code, 0);
    let narrow = [("COLUMNS", "40")];
    let stats = run(&["--db", &url, "stats"], &narrow)?;
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(
        stats.stdout.lines().any(|l| l.ends_with(url.as_str())),
        "the URL was cut or wrapped:\n{}",
        stats.stdout
    );
    let missing = run(&["--db", &url, "show", "nope"], &narrow)?;
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(missing.stderr.contains(&url), "{}", missing.stderr);
    let doc = json(&run(&["--db", &url, "--json", "stats"], &narrow)?)?;
    assert_eq!(doc["database"], url.as_str(), "{doc}");
    Ok(())
}

#[test]
fn a_password_in_the_url_is_never_printed() -> TestResult {
    let test = "password_never_printed";
    let Some((cluster, name)) = pg_cluster::password_database(test)? else {
        return Ok(());
    };
    let with_password = cluster.url_as(&name, pg_cluster::PASSWORD_USER, pg_cluster::PASSWORD);
    let ok = run(&["--db", &with_password, "--json", "demo"], &[])?;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let wrong = cluster.url_as(&name, pg_cluster::PASSWORD_USER, "Wr0ng-Secret");
    let refused = run(&["--db", &wrong, "--json", "stats"], &[])?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    // The password as a query parameter instead (`?password=…`), beside another one.
    let in_query = format!(
        "{}?application_name=pd&password=correct%20horse",
        wrong.replacen(":Wr0ng-Secret@", "@", 1)
    );
    let queried = run(&["--db", &in_query, "--json", "stats"], &[])?;
    assert_eq!(queried.code, 0, "{}", queried.stderr);
    let shown: Value = serde_json::from_str(&queried.stdout)?;
    assert!(
        shown["database"]
            .as_str()
            .is_some_and(|db| db.ends_with("?application_name=pd")),
        "{shown}"
    );
    for (out, secret) in [(&ok, "horse"), (&refused, "Wr0ng"), (&queried, "horse")] {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    }
    // However the password is written: URL characters left unencoded in it, its key
    // percent-encoded, or an '@' in it that makes the URL unclear (refused).
    let host = wrong.split_once('@').map_or("", |(_, rest)| rest);
    for url in [
        format!("postgres://{}:Wr?0ng/Q@{host}", pg_cluster::PASSWORD_USER),
        format!(
            "postgres://{}@{host}?pass%77ord=Wr0ngQ",
            pg_cluster::PASSWORD_USER
        ),
        format!("postgres://{}:Wr@0ngQ@{host}", pg_cluster::PASSWORD_USER),
        "postgres://127.0.0.1:1/db?application_name=x@y&password=Wr0ngQ".to_owned(),
        "postgres://127.0.0.1:1/db?user=u&password%=Wr0ngQ".to_owned(),
        format!(
            "postgres://{}@{host}?sslpassword=Wr0ngQ",
            pg_cluster::PASSWORD_USER
        ),
    ] {
        for args in [
            vec!["--db", &url, "stats"],
            vec!["--db", &url, "--json", "stats"],
        ] {
            let out = run(&args, &[])?;
            assert_ne!(out.code, 0, "{url}");
            for text in [&out.stdout, &out.stderr] {
                assert!(!text.contains("0ng"), "{url}: {text}");
            }
        }
    }
    let doc: Value = serde_json::from_str(&ok.stdout)?;
    assert!(
        doc["database"]
            .as_str()
            .is_some_and(|db| db.starts_with(&format!("postgres://{}@", pg_cluster::PASSWORD_USER))),
        "{doc}"
    );
    Ok(())
}

#[test]
fn libpq_variables_and_the_password_file_work_from_the_command_line() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let test = "libpq_environment";
    let Some((cluster, name)) = pg_cluster::password_database(test)? else {
        return Ok(());
    };
    let socket = cluster.dir().to_string_lossy().into_owned();
    let port = cluster.port().to_string();
    let home = tempfile::tempdir()?;
    let home_dir = home.path().to_string_lossy().into_owned();
    let env = [
        ("PGHOST", socket.as_str()),
        ("PGPORT", port.as_str()),
        ("PGUSER", pg_cluster::PASSWORD_USER),
        ("PGDATABASE", name.as_str()),
        ("HOME", home_dir.as_str()),
    ];
    let with_password: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([("PGPASSWORD", pg_cluster::PASSWORD)])
        .collect();
    let demo = run(&["--db", "postgres://", "--json", "demo"], &with_password)?;
    let doc = json(&demo)?;
    // `database` is the --db argument as given (without a password), as for a file.
    assert_eq!(doc["database"], "postgres://", "{doc}");
    // ~/.pgpass instead of PGPASSWORD.
    let passfile = home.path().join(".pgpass");
    std::fs::write(
        &passfile,
        format!(
            "*:{port}:{name}:{}:{}\n",
            pg_cluster::PASSWORD_USER,
            pg_cluster::PASSWORD
        ),
    )?;
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600))?;
    let from_file = run(&["--db", "postgres://", "stats"], &env)?;
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    // A password file others can read is ignored, and the terminal says why.
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644))?;
    let refused = run(&["--db", "postgres://", "stats"], &env)?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("is ignored: it has group or world access")
            && refused
                .stderr
                .contains("was ignored: it has group or world access"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("panicked"), "{}", refused.stderr);
    // The message names the server the environment chose, as a URL that connects alone.
    let label = format!(
        "postgres://{}@{}:{port}/{name}",
        pg_cluster::PASSWORD_USER,
        socket.replace('/', "%2F")
    );
    assert!(refused.stderr.contains(&label), "{}", refused.stderr);
    // A variable the client refuses is named.
    let bad = run(
        &["--db", "postgres://", "--json", "stats"],
        &[("PGHOST", socket.as_str()), ("PGSSLMODE", "sometimes")],
    )?;
    assert_eq!(bad.code, 4, "{}", bad.stderr);
    let error: Value = serde_json::from_str(bad.stderr.trim())?;
    assert_eq!(error["kind"], "invalid_input", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("PGSSLMODE")),
        "{error}"
    );
    Ok(())
}

#[test]
fn server_errors_have_their_own_json_kinds() -> TestResult {
    let test = "server_error_kinds";
    let Some(server) = pg_cluster::server(test)? else {
        return Ok(());
    };
    let mut admin = postgres::Client::connect(&server.admin_url(), postgres::NoTls)?;
    // A read-only database (as a hot standby is), with a registry in it.
    let read_only = server.database("read_only_kind")?;
    assert_eq!(run(&["--db", &read_only, "demo"], &[])?.code, 0);
    let name = read_only.rsplit('/').next().unwrap_or_default().to_owned();
    admin.batch_execute(&format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"
    ))?;
    // A database in an encoding that cannot hold every name.
    let latin1 = server.database("latin1_kind")?;
    let name = latin1.rsplit('/').next().unwrap_or_default().to_owned();
    admin.batch_execute(&format!("DROP DATABASE \"{name}\""))?;
    admin.batch_execute(&format!(
        "CREATE DATABASE \"{name}\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    ))?;
    // A role that may not create the registry's tables (owned clusters only).
    let limited = server.database("permission_kind")?;
    let limited = match server {
        pg_cluster::PgServer::Owned(_) => {
            let mut owner = postgres::Client::connect(&limited, postgres::NoTls)?;
            owner.batch_execute(
                "DO $$ BEGIN CREATE ROLE pd_cli_limited LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
                 REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
            )?;
            Some(limited.replacen("postgres://postgres@", "postgres://pd_cli_limited@", 1))
        }
        pg_cluster::PgServer::External { .. } => None,
    };
    let nowhere = tempfile::tempdir()?;
    let refused = format!(
        "postgres://nobody@{}/x",
        nowhere.path().display().to_string().replace('/', "%2F")
    );
    let missing = format!(
        "{}_missing",
        read_only.split('?').next().unwrap_or(&read_only)
    );
    for (what, args, kind, code) in [
        (
            "no such database",
            vec!["--db", &missing, "stats"],
            "no_such_database",
            3,
        ),
        (
            "read-only",
            vec!["--db", &read_only, "clear", "unit_tests"],
            "read_only",
            3,
        ),
        (
            "LATIN1",
            vec!["--db", &latin1, "stats"],
            "unsupported_database",
            3,
        ),
        (
            "nothing listening",
            vec!["--db", &refused, "stats"],
            "connection_refused",
            3,
        ),
        (
            "no host",
            vec!["--db", "postgres://", "stats"],
            "invalid_input",
            4,
        ),
    ] {
        let mut args = args.clone();
        args.push("--json");
        let out = run(&args, &[])?;
        assert_eq!(out.code, code, "{what}: {}", out.stderr);
        let error: Value = serde_json::from_str(out.stderr.trim())?;
        assert_eq!(error["kind"], kind, "{what}: {error}");
    }
    // A server's refusal while working on a context names that context.
    let refused = run(&["--db", &read_only, "--json", "clear", "unit_tests"], &[])?;
    let error: Value = serde_json::from_str(refused.stderr.trim())?;
    assert_eq!(error["context"], "unit_tests", "{error}");
    if let Some(limited) = &limited {
        let out = run(&["--db", limited, "--json", "demo"], &[])?;
        assert_eq!(out.code, 3, "{}", out.stderr);
        let error: Value = serde_json::from_str(out.stderr.trim())?;
        assert_eq!(error["kind"], "permission_denied", "{error}");
    }
    // A role the server lets open no connection: too many connections, with a hint that a
    // command-line user can act on (the library's message names its `connections(n)`).
    if let Some(limited) = &limited {
        admin.batch_execute(
            "DO $$ BEGIN CREATE ROLE pd_cli_full LOGIN CONNECTION LIMIT 0; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
        )?;
        let full = limited.replacen("pd_cli_limited@", "pd_cli_full@", 1);
        let out = run(&["--db", &full, "stats"], &[])?;
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert!(
            out.stderr
                .contains("hint: run the command again when other clients"),
            "{}",
            out.stderr
        );
    }
    // Reads still work on the read-only database.
    assert_eq!(run(&["--db", &read_only, "stats"], &[])?.code, 0);
    Ok(())
}

#[test]
fn a_tls_failure_has_its_own_json_kind_and_a_readable_message() -> TestResult {
    let cluster = match pg_cluster::PgCluster::start_tcp_without_tls() {
        Ok(cluster) => cluster,
        Err(reason) => return Ok(pg_cluster::skip("a_tls_failure_has_its_own_kind", &reason)?),
    };
    // The server offers no TLS; sslmode=require insists on it.
    let url = cluster.tcp_url("127.0.0.1", "postgres", "?sslmode=require");
    let out = run(&["--db", &url, "--json", "stats"], &[])?;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let error: Value = serde_json::from_str(out.stderr.trim())?;
    assert_eq!(error["kind"], "tls", "{error}");
    let out = run(&["--db", &url, "stats"], &[])?;
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("did not agree on TLS"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("sslmode=require"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(pg_cluster::registry_tables(&cluster.url("postgres"))?, 0);
    Ok(())
}
