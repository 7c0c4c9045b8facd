//! The store's connections (`src/pg/pool.rs`): concurrent calls get connections of their
//! own up to the limit and never more; a call that panics gives its place back; after a
//! server restart the pooled connections cost one failed call, not one each; a full server
//! makes calls wait for the pool's own connections, and the pool grows again later.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{PgStore, TestResult, fresh, pg_cluster, raw, register, spec};

/// The number of the next step [`calls_waiting_at_once`] registers.
static NEXT_STEP: AtomicUsize = AtomicUsize::new(0);

/// How many connections of this library to `url`'s database the server has now.
fn connections(url: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    let row = raw(url)?.query_one(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'pipeline-deps'",
        &[&database],
    )?;
    Ok(row.try_get(0)?)
}

/// Holds context `name`'s catalog row while `threads` threads each register a step into it
/// through `store` (so that each call waits on the server, on a connection of its own);
/// returns once the server has `expected` connections of the store, with the highest count
/// seen over a further half second, and lets the calls finish.
fn calls_waiting_at_once(
    store: &Arc<PgStore>,
    url: &str,
    id: u64,
    threads: usize,
    expected: i64,
) -> Result<i64, Box<dyn std::error::Error>> {
    let mut admin = raw(url)?;
    let mut lock = admin.transaction()?;
    lock.query(
        "SELECT 1 FROM pd_contexts WHERE name = 'ml' FOR UPDATE",
        &[],
    )?;
    let first = NEXT_STEP.fetch_add(threads, Ordering::Relaxed);
    let calls: Vec<_> = (0..threads)
        .map(|i| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                let step = format!("step_{}", first + i);
                store.put_steps(
                    "waiting write",
                    "ml",
                    id,
                    &[(&step, &spec("T", "out"))],
                    false,
                )
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while connections(url)? < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut highest = connections(url)?;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(50));
        highest = highest.max(connections(url)?);
    }
    lock.commit()?;
    for call in calls {
        call.join().map_err(|_| "a writing thread panicked")??;
    }
    Ok(highest)
}

#[test]
fn concurrent_calls_get_their_own_connections_up_to_the_limit_and_never_more() -> TestResult {
    let Some((_, url)) = fresh("pool_limit")? else {
        return Ok(());
    };
    let mut registered = 0;
    for limit in [1, 3] {
        let store = Arc::new(PgStore::connect(&url, false, limit)?);
        let id = register(&store, "ml", &[])?;
        let highest = calls_waiting_at_once(&store, &url, id, 6, limit as i64)?;
        assert_eq!(highest, limit as i64, "limit {limit}");
        registered += 6;
        let names = store.read("count", |r| r.context("ml", id)?.names())?;
        assert_eq!(
            names.len(),
            registered,
            "limit {limit}: every call completed"
        );
    }
    Ok(())
}

#[test]
fn a_call_that_panics_gives_its_connection_s_place_back() -> TestResult {
    let Some((_, url)) = fresh("pool_panic")? else {
        return Ok(());
    };
    let store = Arc::new(PgStore::connect(&url, false, 1)?);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.read("a panicking read", |_| -> crate::Result<()> {
            panic!("a call that panics (expected by this test)")
        })
    }));
    assert!(unwound.is_err());
    // With its one place leaked, this call would wait for ever.
    let (sender, receiver) = mpsc::channel();
    let reader = Arc::clone(&store);
    std::thread::spawn(move || {
        let _ = sender.send(
            reader
                .read("after the panic", |r| r.catalog())
                .map(|c| c.len()),
        );
    });
    let after = receiver.recv_timeout(Duration::from_secs(60))?;
    assert_eq!(after?, 0);
    Ok(())
}

#[test]
fn after_a_restart_no_call_fails_on_the_pooled_connections() -> TestResult {
    if pg_cluster::server("pool_restart")?.is_none() {
        return Ok(());
    }
    let cluster = match pg_cluster::PgCluster::start() {
        Ok(cluster) => cluster,
        Err(reason) => return Ok(pg_cluster::skip("pool_restart", &reason)?),
    };
    let url = cluster.url("postgres");
    let store = Arc::new(PgStore::connect(&url, false, 3)?);
    let id = register(&store, "ml", &[])?;
    assert_eq!(calls_waiting_at_once(&store, &url, id, 3, 3)?, 3);
    // A restart takes longer than IDLE_READ, so each pooled connection reads the end of its
    // session before it is used, and is replaced.
    cluster.restart("fast")?;
    // Writes, which are never run twice (a read would run again on a new connection).
    let failed: Vec<_> = (0..3)
        .filter_map(|i| {
            let step = format!("after_{i}");
            store
                .put_steps(
                    "after the restart",
                    "ml",
                    id,
                    &[(&step, &spec("T", "out"))],
                    false,
                )
                .err()
        })
        .collect();
    assert!(
        failed.is_empty(),
        "calls failed on dead pooled connections: {failed:?}"
    );
    let names = store.read("at last", |r| r.context("ml", id)?.names())?;
    assert_eq!(names.len(), 3 + 3, "{names:?}");
    Ok(())
}

#[test]
fn a_full_server_makes_calls_wait_for_the_managers_own_connections() -> TestResult {
    let Some(server) = pg_cluster::server("pool_full")? else {
        return Ok(());
    };
    let pg_cluster::PgServer::Owned(_) = server else {
        return Ok(pg_cluster::skip(
            "pool_full",
            "needs a cluster started by the tests (it creates a role)",
        )?);
    };
    let url = server.database("pool_full")?;
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    // A role the server lets open 2 connections (local connections are trusted).
    let role = format!("pd_pool_full_{}", std::process::id());
    raw(&url)?.batch_execute(&format!(
        "CREATE ROLE {role} LOGIN CONNECTION LIMIT 2; ALTER DATABASE \"{name}\" OWNER TO {role}"
    ))?;
    let role_url = url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    let store = Arc::new(PgStore::connect(&role_url, false, 4)?);
    let id = register(&store, "ml", &[])?;
    let writers: Vec<_> = (0..6)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || -> Vec<String> {
                (0..20)
                    .filter_map(|i| {
                        let step = format!("t{t}_{i}");
                        store
                            .put_steps(
                                "registering",
                                "ml",
                                id,
                                &[(&step, &spec("T", "out"))],
                                false,
                            )
                            .err()
                            .map(|e| e.to_string())
                    })
                    .collect()
            })
        })
        .collect();
    let mut failed = Vec::new();
    for writer in writers {
        failed.extend(writer.join().map_err(|_| "a writer panicked")?);
    }
    // Calls beyond the role's limit waited for the manager's own connections.
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(store.context_entry("ml", id)?.step_count, 120);
    // Slots the server allows later are used: after CEILING_RETRY the pool grows again, up
    // to its own limit of 4 (it kept to 2 for good before).
    raw(&url)?.batch_execute(&format!("ALTER ROLE {role} CONNECTION LIMIT 8"))?;
    std::thread::sleep(crate::pg::pool::CEILING_RETRY + Duration::from_millis(200));
    let highest = calls_waiting_at_once(&store, &url, id, 6, 4)?;
    assert_eq!(highest, 4);
    raw(&url)?.batch_execute(&format!("ALTER ROLE {role} CONNECTION LIMIT 2"))?;
    // With no connection of its own, a full server is its own kind of error. (The server
    // frees the store's slots as it notices the store's connections closed.)
    drop(store);
    let deadline = Instant::now() + Duration::from_secs(10);
    let holders = loop {
        match (raw(&role_url), raw(&role_url)) {
            (Ok(a), Ok(b)) => break vec![a, b],
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            (a, b) => {
                return Err(
                    format!("holding the role's 2 slots: {:?} {:?}", a.err(), b.err()).into(),
                );
            }
        }
    };
    let refused = PgStore::connect(&role_url, false, 1);
    assert_eq!(
        super::server_kind(refused)?,
        crate::ServerErrorKind::TooManyConnections
    );
    drop(holders);
    Ok(())
}
