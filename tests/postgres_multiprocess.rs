//! Invariant: many OS processes share one PostgreSQL-backed registry. With eight writer
//! processes registering into a shared context, their own contexts and a context that some
//! of them keep clearing, no acknowledged write is lost, no step name is duplicated, every
//! context's counters and step-type index equal a recount, and no step leaks into another
//! context; a client
//! killed with SIGKILL inside a transaction leaves nothing of it behind and holds no lock.
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;
mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::time::Duration;

use pipeline_deps::{Error, RegistryManager, StepSpecification};
use support::{Deadline, TestResult, heard, is_child, say, spawn_child};

const URL_VAR: &str = "PIPELINE_DEPS_PG_MP_URL";
const ROLE_VAR: &str = "PIPELINE_DEPS_PG_MP_ROLE";
const WRITES_VAR: &str = "PIPELINE_DEPS_PG_MP_WRITES";
const WRITERS: usize = 8;
const WRITES: usize = 25;

fn spec(n: usize) -> StepSpecification {
    support::numbered_spec(n, 3)
}

fn var<T: std::str::FromStr>(name: &str) -> TestResult<T> {
    std::env::var(name)?
        .parse()
        .map_err(|_| format!("{name} is not a number").into())
}

/// Child mode: writer `ROLE` registers `w<role>_<i>` into `shared`, `s<i>` into
/// `own<role>` and `w<role>_<i>` into `churn`, acknowledging each committed write with an
/// `ACK <context> <step>` line; writers 0 and 4 also clear `churn` every fifth round. In
/// `shared` every writer also registers a batch of two (`w<role>_b<i>_0` and `_1`) every
/// fourth round, and every third round replaces its previous step with a spec of another
/// type, so that the step-type index changes under every kind of write at once.
#[test]
#[ignore = "child process of the PostgreSQL multiprocess tests"]
fn writer_child() -> TestResult {
    if !is_child() {
        return Ok(());
    }
    let url: String = std::env::var(URL_VAR)?;
    let me: usize = var(ROLE_VAR)?;
    let writes: usize = var(WRITES_VAR)?;
    let manager = RegistryManager::connect(&url)?;
    let own_name = format!("own{me}");
    let own = manager.get_registry(&own_name)?;
    let shared = manager.get_registry("shared")?;
    let mut churn = manager.get_registry("churn")?;
    for i in 0..writes {
        let step = format!("w{me}_{i}");
        shared.register(&step, &spec(i))?;
        say(&format!("ACK shared {step}"));
        if i % 4 == 0 {
            let batch = [format!("w{me}_b{i}_0"), format!("w{me}_b{i}_1")];
            shared.register_many([(&batch[0], spec(i + 1)), (&batch[1], spec(i + 2))])?;
            for name in &batch {
                say(&format!("ACK shared {name}"));
            }
        }
        if i % 3 == 2 {
            // spec(i + 1) has another type than spec(i - 1), which the step was given.
            shared.upsert(&format!("w{me}_{}", i - 1), &spec(i + 1))?;
        }
        own.register(&format!("s{i}"), &spec(i))?;
        say(&format!("ACK {own_name} s{i}"));
        match churn.register(&step, &spec(i)) {
            Ok(()) => {}
            // Another writer cleared it: this handle is stale for good; take a fresh one.
            Err(Error::ContextCleared { .. }) => churn = manager.get_registry("churn")?,
            Err(e) => return Err(e.into()),
        }
        if me.is_multiple_of(4) && i % 5 == 4 {
            manager.clear_context("churn")?;
        }
    }
    say("DONE");
    Ok(())
}

#[test]
fn eight_processes_share_a_registry_without_losing_acknowledged_writes() -> TestResult {
    let test = "eight_processes_share_a_registry";
    let Some(url) = pg_cluster::database(test)? else {
        return Ok(());
    };
    let deadline = Deadline::new(test, Duration::from_secs(300));
    let mut children = Vec::new();
    for role in 0..WRITERS {
        children.push(spawn_child(
            "writer_child",
            &[
                (URL_VAR, url.clone()),
                (ROLE_VAR, role.to_string()),
                (WRITES_VAR, WRITES.to_string()),
            ],
        )?);
    }
    // Every child's acknowledgements, read until it exits.
    let mut readers = Vec::new();
    for child in &mut children {
        let stdout = child.stdout.take().ok_or("no child stdout")?;
        readers.push(std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| heard(&line).map(str::to_owned))
                .collect::<Vec<String>>()
        }));
    }
    let mut acked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (child, reader) in children.iter_mut().zip(readers) {
        let lines = reader.join().map_err(|_| "reader thread panicked")?;
        let status = child.wait()?;
        assert!(status.success(), "a writer failed: {status}");
        assert_eq!(lines.last().map(String::as_str), Some("DONE"));
        for line in lines {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (context, step) = rest.split_once(' ').ok_or("bad ACK line")?;
                acked
                    .entry(context.to_owned())
                    .or_default()
                    .insert(step.to_owned());
            }
        }
    }
    deadline.check()?;

    let manager = RegistryManager::connect(&url)?;
    let stats = manager.get_context_stats()?;
    for (context, steps) in &acked {
        let registry = manager
            .get_registry_if_exists(context)?
            .ok_or_else(|| format!("context {context} is missing"))?;
        let names = registry.list_step_names()?;
        let present: BTreeSet<String> = names.iter().cloned().collect();
        assert_eq!(
            present.len(),
            names.len(),
            "no duplicate names in {context}"
        );
        assert_eq!(
            &present, steps,
            "every acknowledged write of {context} is there, and only those"
        );
        assert_eq!(stats[context.as_str()].step_count, names.len());
    }
    assert_eq!(
        acked["shared"].len(),
        WRITERS * (WRITES + 2 * WRITES.div_ceil(4))
    );
    // In `shared`, each type lists exactly the steps whose stored spec has that type, and
    // every step is listed under one type.
    let shared = manager.get_registry("shared")?;
    let mut listed = 0;
    for step_type in shared.list_step_types()? {
        for spec in shared.get_specifications_by_type(&step_type)? {
            assert_eq!(spec.step_type, step_type);
            listed += 1;
        }
    }
    assert_eq!(listed, acked["shared"].len());
    for role in 0..WRITERS {
        let own = &acked[&format!("own{role}")];
        assert_eq!(own.len(), WRITES, "own{role} holds its own steps only");
    }
    // The churned context: unique names, all of the writers' form, counted exactly.
    let churn = manager.get_registry("churn")?;
    let names = churn.list_step_names()?;
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    assert!(names.iter().all(|n| n.starts_with('w')));
    assert_eq!(churn.len()?, names.len());
    // Counters equal a recount of the rows, for every context, and so do the step-type
    // index's counts per type (no type without steps, no steps of an unlisted type).
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    let mismatched: i64 = client
        .query_one(
            "SELECT count(*) FROM pd_step_types t FULL JOIN \
               (SELECT context_id, step_type, count(*) AS n FROM pd_specs \
                GROUP BY context_id, step_type) s \
             ON s.context_id = t.context_id AND s.step_type = t.step_type \
             WHERE t.step_count IS DISTINCT FROM s.n",
            &[],
        )?
        .try_get(0)?;
    assert_eq!(mismatched, 0, "type counts differ from a recount");
    for row in client.query(
        "SELECT c.name, c.step_count, count(s.step_name), \
                c.step_type_count, count(DISTINCT s.step_type) \
         FROM pd_contexts c LEFT JOIN pd_specs s ON s.context_id = c.id \
         GROUP BY c.id, c.name, c.step_count, c.step_type_count",
        &[],
    )? {
        let name: String = row.try_get(0)?;
        assert_eq!(
            row.try_get::<_, i64>(1)?,
            row.try_get::<_, i64>(2)?,
            "{name}"
        );
        assert_eq!(
            row.try_get::<_, i64>(3)?,
            row.try_get::<_, i64>(4)?,
            "{name}"
        );
    }
    Ok(())
}

/// Child mode: registers a large batch in one transaction, saying `STARTED` first; the
/// parent kills it while the transaction is open.
#[test]
#[ignore = "child process of the PostgreSQL multiprocess tests"]
fn batch_child() -> TestResult {
    if !is_child() {
        return Ok(());
    }
    let url: String = std::env::var(URL_VAR)?;
    let manager = RegistryManager::connect(&url)?;
    let registry = manager.get_registry("killed")?;
    let specs: Vec<(String, StepSpecification)> =
        (0..5_000).map(|i| (format!("b{i}"), spec(i))).collect();
    say("STARTED");
    registry.register_many(specs.iter().map(|(n, s)| (n.as_str(), s)))?;
    say("COMMITTED");
    Ok(())
}

#[test]
fn a_client_killed_inside_a_transaction_leaves_nothing_and_holds_no_lock() -> TestResult {
    let test = "client_killed_inside_a_transaction";
    let Some(server) = pg_cluster::server(test)? else {
        return Ok(());
    };
    let url = server.database(test)?;
    let manager = RegistryManager::connect(&url)?;
    let registry = manager.get_registry("killed")?;
    registry.register("before", &spec(0))?;
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    let mut monitor = postgres::Client::connect(&server.admin_url(), postgres::NoTls)?;
    let mut child = spawn_child("batch_child", &[(URL_VAR, url.clone())])?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().ok_or("the child ended before starting")??;
        if heard(&line) == Some("STARTED") {
            break;
        }
    }
    // Wait until the child's server session is inside its write transaction (it has
    // written rows: it holds a transaction id), then kill it.
    let deadline = Deadline::new(test, Duration::from_secs(60));
    loop {
        deadline.check()?;
        let inside = monitor.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
             AND application_name = 'pipeline-deps' AND backend_xid IS NOT NULL",
            &[&database],
        )?;
        if inside.try_get::<_, i64>(0)? > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill()?;
    child.wait()?;
    assert!(
        lines
            .map_while(Result::ok)
            .all(|l| heard(&l) != Some("COMMITTED")),
        "the child was killed before its commit"
    );
    // The server notices the dead client, rolls its transaction back and frees its lock:
    // the next write to that context goes through, and nothing of the batch is there.
    registry.register("after", &spec(1))?;
    assert_eq!(registry.list_step_names()?, ["before", "after"]);
    assert_eq!(manager.get_context_stats()?["killed"].step_count, 2);
    Ok(())
}
