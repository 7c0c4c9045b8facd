//! The PostgreSQL backend beside its baselines, in one run, on a throw-away cluster that
//! flushes its WAL on every commit (`fsync = on`, as a production server):
//!
//! * a durable `register` against a bare single-row `INSERT` of a record of the same size
//!   through the same client library and socket, sent on its own so that the server commits
//!   it before answering (one round trip plus the commit's flush; goal: at most 1.5×), and
//!   the redb file's durable `register`; then the same two on a cluster that does not flush
//!   (`fsync = off`), which shows what a call costs besides the flush, the part a disk with
//!   a fast flush leaves;
//! * throughput of 8 writer processes (each its own OS process, manager, connection and
//!   server process, into its own context; all connected before any starts writing) against
//!   1;
//! * throughput of 8 threads sharing one manager, with its default pool of connections and
//!   with a single connection, against 1 thread;
//! * `get_context_stats` over 1,000 contexts, PostgreSQL and redb;
//! * resolving the 61 real specifications from a PostgreSQL-backed registry against a
//!   redb-backed one, after the first load (goal: within 2×).
//!
//! Run with `cargo bench -p pipeline-deps --features postgres --bench postgres`
//! (needs PostgreSQL server binaries, as the tests do).

#[path = "../tests/support/pg_cluster.rs"]
mod pg_cluster;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use pipeline_deps::resolve::InterfaceCatalog;
use pipeline_deps::{
    RegistryManager, SemanticMatcher, StepSpecification, UnifiedDependencyResolver,
};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn per_op(samples: &[Duration]) -> String {
    let median = median(samples.to_vec());
    format!("median {:.3} ms", median.as_secs_f64() * 1e3)
}

fn time(f: impl FnOnce() -> Result) -> Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn real_specs() -> Result<Vec<(String, StepSpecification)>> {
    let catalog = InterfaceCatalog::from_path(FIXTURE)?;
    Ok(catalog
        .specs(None)
        .into_iter()
        .map(|(name, spec)| (name.to_owned(), spec.clone()))
        .collect())
}

/// `rounds` registers into context `bench` of `manager` (on `cluster`), each followed by a
/// bare single-row `INSERT` through the same client library and socket, sent on its own (the
/// server commits it before answering), of a value as large as a stored record on average,
/// and by `also`; returns both timings and that size.
fn register_vs_bare(
    manager: &RegistryManager,
    cluster: &pg_cluster::PgCluster,
    specs: &[(String, StepSpecification)],
    rounds: usize,
    mut also: impl FnMut(&str, &StepSpecification) -> Result,
) -> Result<(Vec<Duration>, Vec<Duration>, usize)> {
    let registry = manager.get_registry("bench")?;
    let mut bare = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)?;
    manager
        .get_registry("sizing")?
        .register_many(specs.iter().map(|(n, s)| (n.as_str(), s)))?;
    let size: f64 = bare
        .query_one(
            "SELECT avg(octet_length(record))::float8 FROM pd_specs",
            &[],
        )?
        .try_get(0)?;
    let record = vec![0x5a_u8; size.round() as usize];
    bare.batch_execute("CREATE TABLE bare (k text PRIMARY KEY, v bytea NOT NULL)")?;
    let insert = bare.prepare("INSERT INTO bare (k, v) VALUES ($1, $2)")?;
    let (mut register, mut baseline) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let (name, spec) = &specs[i % specs.len()];
        let key = format!("{name}_{i}");
        register.push(time(|| Ok(registry.register(&key, spec)?))?);
        baseline.push(time(|| {
            bare.execute(&insert, &[&key, &record])?;
            Ok(())
        })?);
        also(&key, spec)?;
    }
    Ok((register, baseline, record.len()))
}

/// Set in a writer process of the throughput benchmark: `URL<TAB>CONTEXT<TAB>WRITES`.
const WRITER_ENV: &str = "PIPELINE_DEPS_PG_BENCH_WRITER";

/// A writer process: connects, says `ready` and waits for a line on its standard input (so
/// that all writers start together, whatever their start-up took), registers WRITES specs
/// into CONTEXT, then prints the wall-clock times (nanoseconds since the epoch) of its first
/// and last write, so that the parent measures the span of the writes themselves.
fn writer(task: &str) -> Result {
    let mut parts = task.split('\t');
    let (Some(url), Some(context), Some(writes)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("{WRITER_ENV} must be URL<TAB>CONTEXT<TAB>WRITES").into());
    };
    let writes: usize = writes.parse()?;
    let specs = real_specs()?;
    let manager = RegistryManager::connect(url)?;
    let registry = manager.get_registry(context)?;
    println!("ready");
    std::io::Write::flush(&mut std::io::stdout())?;
    std::io::stdin().read_line(&mut String::new())?;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
    };
    let start = now()?;
    for i in 0..writes {
        let (name, spec) = &specs[i % specs.len()];
        registry.register(&format!("{name}_{i}"), spec)?;
    }
    println!("{start} {}", now()?);
    Ok(())
}

fn main() -> Result {
    if let Ok(task) = std::env::var(WRITER_ENV) {
        return writer(&task);
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "postgres benchmark: run it with `cargo bench --features postgres --bench postgres`"
        );
        return Ok(());
    }
    let cluster = pg_cluster::PgCluster::start_durable()?;
    let specs = real_specs()?;
    let rounds = 300;

    // 1. Durable register against a bare INSERT (committed on its own) of a record of the
    // same size.
    let pg = RegistryManager::connect(&cluster.url("postgres"))?;
    let dir = tempfile::tempdir()?;
    let file = RegistryManager::open(dir.path().join("bench.redb"))?;
    let file_registry = file.get_registry("bench")?;
    let mut redb = Vec::new();
    let (register, baseline, size) =
        register_vs_bare(&pg, &cluster, &specs, rounds, |key, spec| {
            redb.push(time(|| Ok(file_registry.register(key, spec)?))?);
            Ok(())
        })?;
    let ratio = median(register.clone()).as_secs_f64() / median(baseline.clone()).as_secs_f64();
    println!(
        "durable register, PostgreSQL: {} per call ({rounds} calls)",
        per_op(&register)
    );
    println!(
        "bare INSERT, committed on its own ({size} B): {} per call",
        per_op(&baseline)
    );
    println!("ratio register / bare:        {ratio:.2}x (goal <= 1.5x)");
    println!("durable register, redb file:  {} per call", per_op(&redb));
    {
        // The same without the flush: what a fast-flushing disk leaves of each call.
        let fast = pg_cluster::PgCluster::start()?;
        let manager = RegistryManager::connect(&fast.url("postgres"))?;
        let (register, baseline, _) =
            register_vs_bare(&manager, &fast, &specs, rounds, |_, _| Ok(()))?;
        let ratio = median(register.clone()).as_secs_f64() / median(baseline.clone()).as_secs_f64();
        println!(
            "without the flush (fsync = off): register {}, bare INSERT {} ({ratio:.2}x)",
            per_op(&register),
            per_op(&baseline)
        );
    }

    // 2. Eight writer processes against one, started together once all are connected.
    let writes = 300;
    let throughput = |writers: usize| -> Result<f64> {
        let mut children = (0..writers)
            .map(|w| {
                std::process::Command::new(std::env::current_exe()?)
                    .env(
                        WRITER_ENV,
                        format!("{}\twriter{writers}_{w}\t{writes}", cluster.url("postgres")),
                    )
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .map_err(Into::into)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut outputs = Vec::new();
        for child in &mut children {
            let mut output = BufReader::new(child.stdout.take().ok_or("no writer stdout")?);
            let mut ready = String::new();
            output.read_line(&mut ready)?;
            if ready.trim() != "ready" {
                return Err("a writer process failed to start".into());
            }
            outputs.push(output);
        }
        for child in &mut children {
            child
                .stdin
                .take()
                .ok_or("no writer stdin")?
                .write_all(b"go\n")?;
        }
        let (mut first_start, mut last_end) = (u128::MAX, 0u128);
        for (mut child, mut output) in children.into_iter().zip(outputs) {
            let mut text = String::new();
            output.read_to_string(&mut text)?;
            if !child.wait()?.success() {
                return Err("a writer process failed".into());
            }
            let (start, end) = text
                .trim()
                .split_once(' ')
                .ok_or("no timing from a writer")?;
            first_start = first_start.min(start.parse()?);
            last_end = last_end.max(end.parse()?);
        }
        let span = Duration::from_nanos(u64::try_from(last_end.saturating_sub(first_start))?);
        Ok((writers * writes) as f64 / span.as_secs_f64())
    };
    let one = throughput(1)?;
    let eight = throughput(8)?;
    println!("1 writer process:  {one:.0} registers/s");
    println!(
        "8 writer processes: {eight:.0} registers/s ({:.2}x)",
        eight / one
    );

    // 2b. Eight threads sharing one manager (its pool of connections) against one thread, and
    // against eight threads that share a single connection (the manager before the pool).
    let threaded = |threads: usize, connections: usize| -> Result<f64> {
        let manager = RegistryManager::builder()
            .connections(connections)
            .connect(&cluster.url("postgres"))?;
        let tag = format!("threads{threads}_{connections}");
        let registries = (0..threads)
            .map(|t| manager.get_registry(&format!("{tag}_{t}")))
            .collect::<pipeline_deps::Result<Vec<_>>>()?;
        let barrier = std::sync::Barrier::new(threads);
        let start = Instant::now();
        std::thread::scope(|scope| -> Result {
            let handles: Vec<_> = registries
                .iter()
                .map(|registry| {
                    let (barrier, specs) = (&barrier, &specs);
                    scope.spawn(move || -> pipeline_deps::Result<()> {
                        barrier.wait();
                        for i in 0..writes {
                            registry.register(&format!("s{i}"), &specs[i % specs.len()].1)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for handle in handles {
                handle.join().map_err(|_| "a writer thread panicked")??;
            }
            Ok(())
        })?;
        Ok((threads * writes) as f64 / start.elapsed().as_secs_f64())
    };
    let one_thread = threaded(1, 8)?;
    let shared_connection = threaded(8, 1)?;
    let pooled = threaded(8, 8)?;
    println!("1 thread:                       {one_thread:.0} registers/s");
    println!(
        "8 threads, one manager, 1 connection:  {shared_connection:.0} registers/s ({:.2}x)",
        shared_connection / one_thread
    );
    println!(
        "8 threads, one manager, 8 connections: {pooled:.0} registers/s ({:.2}x; {:.2}x the single connection)",
        pooled / one_thread,
        pooled / shared_connection
    );

    // 3. Stats over 1,000 contexts.
    let stats_db = {
        let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)?;
        admin.batch_execute("CREATE DATABASE stats")?;
        RegistryManager::connect(&cluster.url("stats"))?
    };
    let stats_file = RegistryManager::open(dir.path().join("stats.redb"))?;
    for manager in [&stats_db, &stats_file] {
        for c in 0..1_000 {
            manager
                .get_registry(&format!("ctx{c}"))?
                .register("s", &specs[c % specs.len()].1)?;
        }
    }
    for (label, manager) in [("PostgreSQL", &stats_db), ("redb file", &stats_file)] {
        let samples = (0..20)
            .map(|_| {
                time(|| {
                    let stats = manager.get_context_stats()?;
                    assert_eq!(stats.len(), 1_000);
                    Ok(())
                })
            })
            .collect::<Result<Vec<_>>>()?;
        println!("stats over 1,000 contexts, {label}: {}", per_op(&samples));
    }

    // 4. Resolving the 61 real specs, after the first load. The two backends' resolves
    // alternate, so that both see the same state of the machine.
    let names: Vec<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();
    let mut resolvers = Vec::new();
    for (label, manager) in [("PostgreSQL", &pg), ("redb file", &file)] {
        let registry = manager.get_registry("cursus")?;
        registry.register_many(specs.iter().map(|(n, s)| (n.as_str(), s)))?;
        let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
        let first = time(|| {
            resolver
                .resolve_all_dependencies(&names)
                .map(drop)
                .map_err(Into::into)
        })?;
        resolvers.push((label, resolver, first, Vec::new()));
    }
    for _ in 0..30 {
        for (_, resolver, _, again) in &mut resolvers {
            resolver.clear_cache();
            again.push(time(|| {
                resolver
                    .resolve_all_dependencies(&names)
                    .map(drop)
                    .map_err(Into::into)
            })?);
        }
    }
    let mut medians = Vec::new();
    for (label, _, first, again) in &resolvers {
        println!(
            "resolve 61 real specs, {label}: first {:.1} ms, then {}",
            first.as_secs_f64() * 1e3,
            per_op(again)
        );
        medians.push(median(again.clone()).as_secs_f64());
    }
    if let [pg, file] = medians[..] {
        println!(
            "ratio resolve PostgreSQL / redb: {:.2}x (goal <= 2x)",
            pg / file
        );
    }
    Ok(())
}
