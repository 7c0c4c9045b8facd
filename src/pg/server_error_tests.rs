//! How the PostgreSQL store meets a server that is unreachable, never answers, refuses the
//! credentials or a setting, times a statement out, loses a connection, restarts or ends an
//! idle session (`super`): each is its own `ServerErrorKind`, a write applies nothing or
//! fails once, and a read runs again on a new connection.

use super::super::PgStore;
use super::pg_cluster;
use super::{TestResult, fresh, raw, register, server_kind, spec};
use crate::error::{Error, ServerErrorKind};
use crate::manager::DEFAULT_CONNECTIONS;

#[test]
fn an_unreachable_server_is_connection_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!(
        "postgres://postgres@{}/nothing?connect_timeout=5",
        dir.path().display().to_string().replace('/', "%2F")
    );
    let result = PgStore::connect(&url, false, DEFAULT_CONNECTIONS);
    let message = result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(server_kind(result)?, ServerErrorKind::ConnectionRefused);
    assert!(message.contains("could not connect"), "{message}");
    let bad = PgStore::connect("postgres://host:notaport/db", false, DEFAULT_CONNECTIONS);
    assert!(matches!(bad, Err(Error::InvalidInput { .. })), "{bad:?}");
    // A file path given to `connect` says what to use instead.
    let file = PgStore::connect("registry.redb", false, DEFAULT_CONNECTIONS);
    let Err(Error::InvalidInput { detail, .. }) = &file else {
        return Err(format!("a file path was connected to: {file:?}").into());
    };
    assert!(detail.contains("RegistryManager::open"), "{detail}");
    let tls = PgStore::connect(
        "postgres://localhost/db?sslmode=verify",
        false,
        DEFAULT_CONNECTIONS,
    );
    assert!(matches!(tls, Err(Error::InvalidInput { .. })), "{tls:?}");
    Ok(())
}

#[test]
fn a_server_that_accepts_and_never_answers_is_refused_after_the_connect_timeout() -> TestResult {
    // A listener that accepts connections and never says a word (a stopped server, or not
    // a PostgreSQL server at all): no cluster needed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // Accepts and holds every connection until the test process ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/db?connect_timeout=1&sslmode=disable");
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(
            PgStore::connect(&url, false, DEFAULT_CONNECTIONS).map_err(|e| (e.to_string(), e)),
        );
    });
    // Not a timing assertion: only that the call returns at all (it waited forever).
    let outcome = result
        .recv_timeout(std::time::Duration::from_secs(60))
        .map_err(|_| "connecting to a silent server did not return")?;
    let Err((message, error)) = outcome else {
        return Err("a silent server was connected to".into());
    };
    // Refused by the connect timeout (the cause says so), not by anything the listener did.
    let cause = std::error::Error::source(&error).map(ToString::to_string);
    assert!(
        cause
            .as_deref()
            .is_some_and(|c| c.contains("connect_timeout")),
        "{cause:?}"
    );
    assert_eq!(
        server_kind(Err::<(), _>(error))?,
        ServerErrorKind::ConnectionRefused
    );
    assert!(message.contains("could not connect"), "{message}");
    Ok(())
}

#[test]
fn wrong_credentials_are_an_authentication_error() -> TestResult {
    let Some(server) = pg_cluster::server("wrong_credentials")? else {
        return Ok(());
    };
    let pg_cluster::PgServer::Owned(cluster) = server else {
        return Ok(pg_cluster::skip(
            "wrong_credentials",
            "needs a cluster started by the tests",
        )?);
    };
    let url = server.database("wrong_credentials")?;
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    let wrong = cluster.url_as(&database, pg_cluster::PASSWORD_USER, "Not-The-Pa55word");
    let result = PgStore::connect(&wrong, false, DEFAULT_CONNECTIONS);
    let message = result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(server_kind(result)?, ServerErrorKind::Authentication);
    assert!(
        !message.contains("Pa55word"),
        "the password never appears: {message}"
    );
    assert!(message.contains(pg_cluster::PASSWORD_USER), "{message}");
    // A database that does not exist is said to be missing, not a credentials problem.
    let missing = format!("{}_missing", url.split('?').next().unwrap_or(&url));
    let result = PgStore::connect(&missing, false, DEFAULT_CONNECTIONS);
    let message = result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(server_kind(result)?, ServerErrorKind::NoSuchDatabase);
    assert!(message.contains("has no such database"), "{message}");
    Ok(())
}

#[test]
fn a_setting_the_server_refuses_is_invalid_input_naming_it() -> TestResult {
    let Some((_, url)) = fresh("refused_setting")? else {
        return Ok(());
    };
    for (options, named) in [
        ("-c%20no_such_setting%3D1", "no_such_setting"),
        ("-c%20lock_timeout%3Dbanana", "lock_timeout"),
    ] {
        let result = PgStore::connect(
            &format!("{url}?options={options}"),
            false,
            DEFAULT_CONNECTIONS,
        );
        match result {
            Err(Error::InvalidInput { what, detail, .. }) => {
                assert!(what.contains("connection settings"), "{what}");
                assert!(detail.contains(named), "{detail}");
            }
            other => return Err(format!("{options}: expected invalid input, got {other:?}").into()),
        }
    }
    Ok(())
}

#[test]
fn a_statement_timeout_is_reported_and_applies_nothing() -> TestResult {
    let Some((_, url)) = fresh("statement_timeout")? else {
        return Ok(());
    };
    let store = PgStore::connect(
        &format!("{url}?options=-c%20lock_timeout%3D300"),
        false,
        DEFAULT_CONNECTIONS,
    )?;
    let id = register(&store, "ml", &[("a", "T")])?;
    let mut blocker = raw(&url)?;
    let mut held = blocker.transaction()?;
    held.query(
        "SELECT id FROM pd_contexts WHERE name = 'ml' FOR UPDATE",
        &[],
    )?;
    let blocked = store.write("blocked write", |w| {
        let mut ctx = w.context("ml", id)?;
        ctx.put("b", &spec("T", "out"), false)?;
        ctx.finish()
    });
    let message = blocked
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(server_kind(blocked)?, ServerErrorKind::StatementTimeout);
    assert!(message.contains("nothing of it was applied"), "{message}");
    held.rollback()?;
    let names = store.read("check", |r| r.context("ml", id)?.names())?;
    assert_eq!(names, ["a"]);
    Ok(())
}

#[test]
fn a_read_on_a_lost_connection_runs_again_on_a_new_one_and_a_write_fails_once() -> TestResult {
    let Some((store, url)) = fresh("lost_connection")? else {
        return Ok(());
    };
    let id = register(&store, "ml", &[("a", "T")])?;
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    let terminate = || {
        raw(&url)?.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'pipeline-deps'",
            &[&database],
        )
    };
    // A read changes nothing: it runs again on a new connection and the caller sees no error.
    terminate()?;
    let names = store.read("after termination", |r| r.context("ml", id)?.names())?;
    assert_eq!(names, ["a"]);
    terminate()?;
    assert_eq!(store.context_entry("ml", id)?.step_count, 1);
    // A session the server ended while it sat idle (for longer than IDLE_READ) is noticed
    // before anything is sent on it: the write works, on a new connection.
    terminate()?;
    std::thread::sleep(super::super::conn::IDLE_READ);
    register_more(&store, id, "b")?;
    // A write is never repeated (it may have committed): lost while it runs, it fails once,
    // naming the server, and the next call reconnects.
    let lost = store.write("losing its connection", |w| {
        let mut ctx = w.context("ml", id)?;
        ctx.put("c", &spec("T", "out"), false)?;
        terminate().map_err(|e| Error::InvalidInput {
            what: "the test's admin connection".into(),
            detail: e.to_string(),
            source: None,
        })?;
        ctx.finish().map(drop)
    });
    let message = lost
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        message.contains(store.label()),
        "the message names the server: {message}"
    );
    assert_eq!(
        server_kind(lost)?,
        ServerErrorKind::ConnectionLost,
        "{message}"
    );
    let names = store.read("reconnected", |r| r.context("ml", id)?.names())?;
    assert_eq!(
        names,
        ["a", "b"],
        "the lost write's transaction was not committed"
    );
    Ok(())
}

/// Registers `step` (type `T`) in context `ml` (id `id`) in a write of its own.
fn register_more(store: &PgStore, id: u64, step: &str) -> Result<(), Error> {
    store.write("registering", |w| {
        let mut ctx = w.context("ml", id)?;
        ctx.put(step, &spec("T", "out"), false)?;
        ctx.finish().map(drop)
    })
}

#[test]
fn a_read_whose_connection_is_lost_at_its_end_is_not_called_a_commit_of_unknown_outcome()
-> TestResult {
    let Some((store, url)) = fresh("lost_read")? else {
        return Ok(());
    };
    register(&store, "ml", &[("a", "T")])?;
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    let lost = store.read("listing contexts", |r| {
        let names = r.catalog()?;
        // The session ends while the read's transaction is open.
        raw(&url)
            .and_then(|mut admin| {
                admin.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND application_name = 'pipeline-deps'",
                    &[&database],
                )
            })
            .map_err(|e| Error::InvalidInput {
                what: "the test's admin connection".into(),
                detail: e.to_string(),
                source: None,
            })?;
        Ok(names.len())
    });
    let message = lost
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(
        server_kind(lost)?,
        ServerErrorKind::ConnectionLost,
        "{message}"
    );
    assert!(
        !message.contains("outcome"),
        "a read has no outcome: {message}"
    );
    assert!(message.contains("listing contexts"), "{message}");
    Ok(())
}

#[test]
fn a_server_restart_loses_no_committed_write_and_the_store_reconnects() -> TestResult {
    if pg_cluster::server("server_restart")?.is_none() {
        return Ok(());
    }
    let cluster = match pg_cluster::PgCluster::start() {
        Ok(cluster) => cluster,
        Err(reason) => return Ok(pg_cluster::skip("server_restart", &reason)?),
    };
    let store = PgStore::connect(&cluster.url("postgres"), false, DEFAULT_CONNECTIONS)?;
    let id = register(&store, "ml", &[("before", "T")])?;
    for (mode, step) in [("fast", "after_fast"), ("immediate", "after_immediate")] {
        // The restart ended the store's sessions, which reads them as closed before the
        // next call sends anything: the first write after it works, however soon it comes.
        cluster.restart(mode)?;
        register_more(&store, id, step)?;
    }
    // A connection idle for longer than IDLE_CHECK is also checked with a round trip and
    // replaced if it does not answer: the first call after the pause works.
    cluster.restart("fast")?;
    std::thread::sleep(super::super::conn::IDLE_CHECK + std::time::Duration::from_millis(300));
    let first = store.read("after restart", |r| r.catalog())?;
    assert_eq!(first.len(), 1);
    register_more(&store, id, "after_pause")?;
    cluster.stop("fast")?;
    // Lost if the connection was used within IDLE_CHECK (not checked first), refused if it
    // was checked and replaced: the stop may take longer than that on a busy machine.
    let down = server_kind(store.read("while stopped", |r| r.catalog()))?;
    assert!(
        matches!(
            down,
            ServerErrorKind::ConnectionLost | ServerErrorKind::ConnectionRefused
        ),
        "{down:?}"
    );
    let refused = store.read("while stopped", |r| r.catalog());
    assert_eq!(server_kind(refused)?, ServerErrorKind::ConnectionRefused);
    cluster.start_again()?;
    let names = store.read("after start", |r| r.context("ml", id)?.names())?;
    assert_eq!(
        names,
        ["before", "after_fast", "after_immediate", "after_pause"]
    );
    Ok(())
}

#[test]
fn a_session_the_server_ends_for_idling_is_a_lost_connection_and_reads_run_again() -> TestResult {
    let Some(server) = pg_cluster::server("idle_timeout")? else {
        return Ok(());
    };
    let url = server.database("idle_timeout")?;
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    // Sessions idle for 50 ms are ended by the server (SQLSTATE 57P05); calls come 75 ms
    // apart, under the 100 ms after which a connection reads what the server sent first.
    raw(&url)?.batch_execute(&format!(
        "ALTER DATABASE \"{name}\" SET idle_session_timeout = '50ms'"
    ))?;
    let store = PgStore::connect(&url, false, DEFAULT_CONNECTIONS)?;
    let id = register(&store, "ml", &[])?;
    let mut written = 0;
    for i in 0..6 {
        std::thread::sleep(std::time::Duration::from_millis(75));
        // A read runs again on a new connection: the caller sees no error.
        store.read("reading after an idle pause", |r| {
            r.context("ml", id)?.names()
        })?;
        std::thread::sleep(std::time::Duration::from_millis(75));
        // A write is never run twice: it may fail, but as a lost connection (it was a
        // storage error, as if the engine had refused it).
        match register_more(&store, id, &format!("s{i}")) {
            Ok(()) => written += 1,
            lost => assert_eq!(server_kind(lost)?, ServerErrorKind::ConnectionLost),
        }
    }
    assert_eq!(store.context_entry("ml", id)?.step_count, written);
    Ok(())
}
