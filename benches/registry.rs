//! Registry benchmarks, each beside its baselines in the same run: bare redb (our overhead)
//! and SQLite (what a user would pick instead; WAL, `synchronous=FULL`, see
//! `support/sqlite.rs`). Every group prints `RATIO` lines: its mean over each baseline's.
//!
//! | group | measured | baselines | target |
//! |---|---|---|---|
//! | `register` | durable single `register` | one-row durable redb commit; SQLite | ≤ 1.3× redb |
//! | `register_non_durable` | `register` on `temporary()` | one-row non-durable redb commit; durable `register` | ≤ 2× redb, ≥ 20× faster than durable |
//! | `register_many` | `register_many` of 1,000 specs | 1,000-row durable redb commit (rows encoded beforehand, and encoded in the commit); SQLite, one transaction | ≤ 1.5× redb |
//! | `concurrent_register` | 8 threads of durable `register` through one manager, into 8 contexts and into one | the same registers from 1 thread; SQLite, 8 threads | ≥ 4× one thread's throughput, ≥ 2× SQLite's |
//! | `get_specification` | hot (cached) `get_specification` | `HashMap<String, Arc<_>>` lookup; SQLite select + JSON decode | ≤ 3× HashMap |
//! | `get_context_stats` | stats of 1,000 contexts | scan of a 1,000-row redb table; SQLite catalog select | — |
//! | `clear_context` | `clear_context` of a 10,000-spec context | redb `delete_table` of 10,000 rows | — |
//! | `open` | open a database of 100,000 specs | open an empty one; SQLite open of 100,000 specs | independent of size |
//!
//! Specs are the 61 real cursus specs (`tests/fixtures/cursus-step-specs.json`, else the
//! embedded excerpt), cycled. Databases live under `CARGO_TARGET_TMPDIR` (the target
//! directory's disk, so fsyncs are real). The setup also prints the bytes on disk per spec
//! and the bytes and writes per durable commit (ours, bare redb's, SQLite's WAL).
//!
//! `cargo bench --bench registry -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark may stop on a broken setup

mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use pipeline_deps::{ImportOptions, RegistryManager, StepSpecification};
use redb::{ReadableDatabase, TableDefinition};
use support::{sqlite, tally};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);
const CACHE: usize = pipeline_deps::storage::DEFAULT_CACHE_SIZE;
const ROWS: TableDefinition<&str, &[u8]> = TableDefinition::new("rows");
const THREADS: usize = 8;

/// `n` under `cargo bench`; a hundredth of it under `cargo test --benches`, where criterion
/// runs each routine once as a smoke test and only the setup would cost (same rule as
/// criterion's own: benchmarking needs `--bench` without `--test` or `--list`).
fn size(n: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--bench") && !has("--test") && !has("--list") {
        n
    } else {
        (n / 100).max(1)
    }
}

fn real_specs() -> Vec<StepSpecification> {
    let text = std::fs::read_to_string(FIXTURE).expect("the fixture is in the repository");
    pipeline_deps::transfer::parse_steps_json(&text, &ImportOptions::default())
        .expect("the specification document parses")
        .into_iter()
        .map(|(_, spec)| spec)
        .collect()
}

/// `n` (name, spec) pairs cycling through the real specs.
fn items(specs: &[StepSpecification], n: usize) -> Vec<(String, StepSpecification)> {
    (0..n)
        .map(|i| (format!("step_{i:06}"), specs[i % specs.len()].clone()))
        .collect()
}

/// The bytes a baseline stores per row: the spec in postcard, as the registry does.
fn row_bytes(spec: &StepSpecification) -> Vec<u8> {
    postcard::to_stdvec(spec).expect("a spec serialises")
}

fn bench_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary directory")
}

fn raw_db(path: &Path) -> redb::Database {
    redb::Database::builder()
        .set_cache_size(CACHE)
        .create(path)
        .expect("a redb database")
}

/// One row committed to a bare redb table, durably or not.
fn raw_commit(db: &redb::Database, name: &str, row: &[u8], durable: bool) {
    let mut txn = db.begin_write().expect("write");
    if !durable {
        txn.set_durability(redb::Durability::None)
            .expect("non-durable");
    }
    {
        let mut table = txn.open_table(ROWS).expect("table");
        table.insert(name, row).expect("insert");
    }
    txn.commit().expect("commit");
}

type Op<'a> = (&'static str, Box<dyn FnMut() -> Duration + 'a>);

/// Measures each operation of `ops` in a benchmark whose iterations run every operation,
/// timing its own: the disk's slow and fast periods (fsync latency varies with other
/// processes) then fall on all of them alike, so their ratios are fair.
fn rotated(c: &mut Criterion, group: &str, sample_size: usize, mut ops: Vec<Op<'_>>) {
    let mut g = c.benchmark_group(group);
    g.sampling_mode(SamplingMode::Flat).sample_size(sample_size);
    let n = ops.len();
    for k in 0..n {
        let name = ops[k].0;
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for j in 1..n {
                        (ops[(k + j) % n].1)();
                    }
                    total += (ops[k].1)();
                }
                tally::record(name, total, iters);
                total
            });
        });
    }
    g.finish();
}

/// A benchmark of `f` whose mean goes into the tally.
fn tallied<T>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &'static str,
    mut f: impl FnMut() -> T,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            let total = start.elapsed();
            tally::record(name, total, iters);
            total
        });
    });
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn register(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();
    let manager = RegistryManager::open(dir.path().join("registry.redb")).expect("open");
    let registry = manager.get_registry("bench").expect("context");
    let db = raw_db(&dir.path().join("baseline.redb"));
    let conn = sqlite::open(&dir.path().join("baseline.sqlite"));
    sqlite::create_context(&conn, "bench");
    let rows: Vec<Vec<u8>> = specs.iter().map(row_bytes).collect();
    let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
    rotated(
        c,
        "register",
        20,
        vec![
            (
                "pipeline_deps_register",
                Box::new(|| {
                    i += 1;
                    let name = format!("step_{i:08}");
                    let spec = &specs[i % specs.len()];
                    timed(|| registry.register(&name, spec).expect("register"))
                }),
            ),
            (
                "redb_one_row_commit",
                Box::new(|| {
                    j += 1;
                    let name = format!("step_{j:08}");
                    let row = rows[j % rows.len()].as_slice();
                    timed(|| raw_commit(&db, &name, row, true))
                }),
            ),
            (
                "sqlite_register",
                Box::new(|| {
                    k += 1;
                    let name = format!("step_{k:08}");
                    let spec = &specs[k % specs.len()];
                    timed(|| sqlite::register(&conn, "bench", &name, spec))
                }),
            ),
        ],
    );
    tally::report(
        "pipeline_deps_register",
        &["redb_one_row_commit", "sqlite_register"],
    );
}

fn register_non_durable(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();
    let manager = RegistryManager::temporary().expect("temporary");
    let registry = manager.get_registry("bench").expect("context");
    let db = raw_db(&dir.path().join("baseline.redb"));
    let rows: Vec<Vec<u8>> = specs.iter().map(row_bytes).collect();
    let (mut i, mut j) = (0usize, 0usize);
    rotated(
        c,
        "register_non_durable",
        30,
        vec![
            (
                "pipeline_deps_register_temporary",
                Box::new(|| {
                    i += 1;
                    let name = format!("step_{i:08}");
                    let spec = &specs[i % specs.len()];
                    timed(|| registry.register(&name, spec).expect("register"))
                }),
            ),
            (
                "redb_one_row_commit_non_durable",
                Box::new(|| {
                    j += 1;
                    let name = format!("step_{j:08}");
                    let row = rows[j % rows.len()].as_slice();
                    timed(|| raw_commit(&db, &name, row, false))
                }),
            ),
        ],
    );
    tally::report(
        "pipeline_deps_register_temporary",
        &["redb_one_row_commit_non_durable", "pipeline_deps_register"],
    );
}

fn register_many(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();
    let batch = items(specs, size(1_000));
    let manager = RegistryManager::open(dir.path().join("registry.redb")).expect("open");
    let db = raw_db(&dir.path().join("baseline.redb"));
    let conn = sqlite::open(&dir.path().join("baseline.sqlite"));
    sqlite::create_context(&conn, "bulk");
    let rows: Vec<(String, Vec<u8>)> = batch
        .iter()
        .map(|(n, s)| (n.clone(), row_bytes(s)))
        .collect();
    rotated(
        c,
        "register_many",
        10,
        vec![
            (
                "pipeline_deps_register_many_1000",
                Box::new(|| {
                    manager.clear_context("bulk").expect("clear");
                    let registry = manager.get_registry("bulk").expect("context");
                    timed(|| {
                        registry
                            .register_many(batch.iter().map(|(n, s)| (n.as_str(), s)))
                            .expect("register_many");
                    })
                }),
            ),
            (
                "redb_1000_row_commit",
                Box::new(|| {
                    let txn = db.begin_write().expect("write");
                    txn.delete_table(ROWS).expect("delete");
                    txn.commit().expect("commit");
                    timed(|| {
                        let txn = db.begin_write().expect("write");
                        {
                            let mut table = txn.open_table(ROWS).expect("table");
                            for (name, row) in &rows {
                                table.insert(name.as_str(), row.as_slice()).expect("insert");
                            }
                        }
                        txn.commit().expect("commit");
                    })
                }),
            ),
            (
                "redb_1000_row_commit_encoding",
                Box::new(|| {
                    let txn = db.begin_write().expect("write");
                    txn.delete_table(ROWS).expect("delete");
                    txn.commit().expect("commit");
                    // What a bare-redb user pays: each spec encoded (postcard), then stored.
                    timed(|| {
                        let txn = db.begin_write().expect("write");
                        {
                            let mut table = txn.open_table(ROWS).expect("table");
                            for (name, spec) in &batch {
                                let row = row_bytes(spec);
                                table.insert(name.as_str(), row.as_slice()).expect("insert");
                            }
                        }
                        txn.commit().expect("commit");
                    })
                }),
            ),
            (
                "sqlite_1000_in_one_transaction",
                Box::new(|| {
                    sqlite::clear(&conn, "bulk");
                    timed(|| sqlite::register_many(&conn, "bulk", &batch))
                }),
            ),
        ],
    );
    tally::report(
        "pipeline_deps_register_many_1000",
        &[
            "redb_1000_row_commit",
            "redb_1000_row_commit_encoding",
            "sqlite_1000_in_one_transaction",
        ],
    );
}

fn concurrent_register(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();
    let manager = RegistryManager::open(dir.path().join("registry.redb")).expect("open");
    let registries: Vec<_> = (0..THREADS)
        .map(|t| {
            manager
                .get_registry(&format!("writer_{t}"))
                .expect("context")
        })
        .collect();
    let path = dir.path().join("baseline.sqlite");
    let mut conns: Vec<_> = (0..THREADS).map(|_| sqlite::open(&path)).collect();
    for t in 0..THREADS {
        sqlite::create_context(&conns[0], &format!("writer_{t}"));
    }
    let counter = AtomicUsize::new(0);
    let next = || counter.fetch_add(1, Ordering::Relaxed);
    let mut g = c.benchmark_group("concurrent_register");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    // Every benchmark's iteration is THREADS durable registrations.
    g.bench_function("pipeline_deps_1_thread", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters * THREADS as u64 {
                let i = next();
                registries[0]
                    .register(&format!("step_{i:08}"), &specs[i % specs.len()])
                    .expect("register");
            }
            let total = start.elapsed();
            tally::record("pipeline_deps_1_thread", total, iters);
            total
        });
    });
    g.bench_function("pipeline_deps_8_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for registry in &registries {
                    scope.spawn(|| {
                        for _ in 0..iters {
                            let i = next();
                            registry
                                .register(&format!("step_{i:08}"), &specs[i % specs.len()])
                                .expect("register");
                        }
                    });
                }
            });
            let total = start.elapsed();
            tally::record("pipeline_deps_8_threads", total, iters);
            total
        });
    });
    // The same, all 8 threads writing into one context (steps of one pipeline registered
    // concurrently): a shared commit then rewrites one context's pages, not eight.
    g.bench_function("pipeline_deps_8_threads_one_context", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..THREADS {
                    scope.spawn(|| {
                        for _ in 0..iters {
                            let i = next();
                            registries[0]
                                .register(&format!("step_{i:08}"), &specs[i % specs.len()])
                                .expect("register");
                        }
                    });
                }
            });
            let total = start.elapsed();
            tally::record("pipeline_deps_8_threads_one_context", total, iters);
            total
        });
    });
    g.bench_function("sqlite_8_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for (t, conn) in conns.iter_mut().enumerate() {
                    let next = &next;
                    scope.spawn(move || {
                        let context = format!("writer_{t}");
                        for _ in 0..iters {
                            let i = next();
                            let name = format!("step_{i:08}");
                            sqlite::register(conn, &context, &name, &specs[i % specs.len()]);
                        }
                    });
                }
            });
            let total = start.elapsed();
            tally::record("sqlite_8_threads", total, iters);
            total
        });
    });
    g.finish();
    tally::report(
        "pipeline_deps_8_threads",
        &["pipeline_deps_1_thread", "sqlite_8_threads"],
    );
    tally::report(
        "pipeline_deps_8_threads_one_context",
        &["pipeline_deps_1_thread", "sqlite_8_threads"],
    );
    if let (Some(one), Some(eight), Some(shared), Some(lite)) = (
        tally::mean("pipeline_deps_1_thread"),
        tally::mean("pipeline_deps_8_threads"),
        tally::mean("pipeline_deps_8_threads_one_context"),
        tally::mean("sqlite_8_threads"),
    ) {
        println!(
            "RATIO concurrent throughput: 8 threads in 8 contexts {:.2}x one thread's, {:.2}x SQLite's 8 threads; in one context {:.2}x one thread's",
            one / eight,
            lite / eight,
            one / shared
        );
    }
}

fn get_specification(c: &mut Criterion, specs: &[StepSpecification]) {
    let mut group = c.benchmark_group("get_specification");
    let batch = items(specs, size(1_000));
    let names: Vec<&str> = batch.iter().map(|(n, _)| n.as_str()).collect();

    let manager = RegistryManager::temporary().expect("temporary");
    let registry = manager.get_registry("hot").expect("context");
    registry
        .register_many(batch.iter().map(|(n, s)| (n.as_str(), s)))
        .expect("register_many");
    for name in &names {
        registry.get_specification(name).expect("warm the cache");
    }
    let mut i = 0usize;
    tallied(&mut group, "pipeline_deps_hot", || {
        i = (i + 1) % names.len();
        registry
            .get_specification(black_box(names[i]))
            .expect("get")
    });

    let map: HashMap<String, Arc<StepSpecification>> = batch
        .iter()
        .map(|(n, s)| (n.clone(), Arc::new(s.clone())))
        .collect();
    let mut i = 0usize;
    tallied(&mut group, "hashmap_arc_lookup", || {
        i = (i + 1) % names.len();
        map.get(black_box(names[i])).cloned()
    });

    let dir = bench_dir();
    let conn = sqlite::open(&dir.path().join("baseline.sqlite"));
    sqlite::create_context(&conn, "hot");
    sqlite::register_many(&conn, "hot", &batch);
    let mut i = 0usize;
    tallied(&mut group, "sqlite_select_and_decode", || {
        i = (i + 1) % names.len();
        sqlite::get(&conn, "hot", black_box(names[i])).expect("stored")
    });
    group.finish();
    tally::report(
        "pipeline_deps_hot",
        &["hashmap_arc_lookup", "sqlite_select_and_decode"],
    );
}

fn get_context_stats(c: &mut Criterion) {
    let dir = bench_dir();
    let mut group = c.benchmark_group("get_context_stats");
    let manager = RegistryManager::open(dir.path().join("registry.redb")).expect("open");
    for i in 0..size(1_000) {
        manager
            .get_registry(&format!("context_{i:04}"))
            .expect("context");
    }
    tallied(&mut group, "pipeline_deps_1000_contexts", || {
        manager.get_context_stats().expect("stats")
    });

    let db = raw_db(&dir.path().join("baseline.redb"));
    let txn = db.begin_write().expect("write");
    {
        let mut table = txn.open_table(ROWS).expect("table");
        for i in 0..size(1_000) as u64 {
            let value = postcard::to_stdvec(&(i, 0u64, 0u64, 0u64, 0u64)).expect("encode");
            table
                .insert(format!("context_{i:04}").as_str(), value.as_slice())
                .expect("insert");
        }
    }
    txn.commit().expect("commit");
    tallied(&mut group, "redb_scan_1000_rows", || {
        let txn = db.begin_read().expect("read");
        let table = txn.open_table(ROWS).expect("table");
        let rows: Vec<(String, Vec<u8>)> = redb::ReadableTable::iter(&table)
            .expect("iter")
            .map(|row| {
                let (k, v) = row.expect("row");
                (k.value().to_owned(), v.value().to_vec())
            })
            .collect();
        rows
    });

    let conn = sqlite::open(&dir.path().join("baseline.sqlite"));
    conn.execute_batch("BEGIN").expect("begin");
    for i in 0..size(1_000) {
        sqlite::create_context(&conn, &format!("context_{i:04}"));
    }
    conn.execute_batch("COMMIT").expect("commit");
    tallied(&mut group, "sqlite_catalog_1000_rows", || {
        sqlite::stats(&conn)
    });
    group.finish();
    tally::report(
        "pipeline_deps_1000_contexts",
        &["redb_scan_1000_rows", "sqlite_catalog_1000_rows"],
    );
}

fn clear_context(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();
    let batch = items(specs, size(10_000));
    let manager = RegistryManager::open(dir.path().join("registry.redb")).expect("open");
    let db = raw_db(&dir.path().join("baseline.redb"));
    let rows: Vec<(String, Vec<u8>)> = batch
        .iter()
        .map(|(n, s)| (n.clone(), row_bytes(s)))
        .collect();
    rotated(
        c,
        "clear_context",
        10,
        vec![
            (
                "pipeline_deps_clear_10000_specs",
                Box::new(|| {
                    manager
                        .get_registry("big")
                        .expect("context")
                        .register_many(batch.iter().map(|(n, s)| (n.as_str(), s)))
                        .expect("register_many");
                    timed(|| {
                        manager.clear_context("big").expect("clear");
                    })
                }),
            ),
            (
                "redb_delete_table_10000_rows",
                Box::new(|| {
                    let txn = db.begin_write().expect("write");
                    {
                        let mut table = txn.open_table(ROWS).expect("table");
                        for (name, row) in &rows {
                            table.insert(name.as_str(), row.as_slice()).expect("insert");
                        }
                    }
                    txn.commit().expect("commit");
                    timed(|| {
                        let txn = db.begin_write().expect("write");
                        txn.delete_table(ROWS).expect("delete");
                        txn.commit().expect("commit");
                    })
                }),
            ),
        ],
    );
    tally::report(
        "pipeline_deps_clear_10000_specs",
        &["redb_delete_table_10000_rows"],
    );
}

fn open(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();

    let empty = dir.path().join("empty.redb");
    drop(RegistryManager::open(&empty).expect("open"));
    let full = dir.path().join("100k.redb");
    let lite = dir.path().join("100k.sqlite");
    {
        let manager = RegistryManager::open(&full).expect("open");
        let conn = sqlite::open(&lite);
        let batch = items(specs, size(10_000));
        for context in 0..10 {
            let name = format!("context_{context}");
            manager
                .get_registry(&name)
                .expect("context")
                .register_many(batch.iter().map(|(n, s)| (n.as_str(), s)))
                .expect("register_many");
            sqlite::create_context(&conn, &name);
            sqlite::register_many(&conn, &name, &batch);
        }
        conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
            .expect("checkpoint");
    }
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let (empty_len, full_len) = (len(&empty), len(&full));
    let specs_written = 10 * size(10_000);
    println!(
        "bytes on disk: empty database {empty_len}; {specs_written} specs in 10 contexts {full_len} ({:.0} bytes per spec as written); SQLite {} ({:.0} bytes per spec)",
        (full_len - empty_len) as f64 / specs_written as f64,
        len(&lite),
        len(&lite) as f64 / specs_written as f64
    );

    let open_rw = |path: &Path| {
        let start = Instant::now();
        let manager = RegistryManager::open(path).expect("open");
        let elapsed = start.elapsed();
        drop(manager);
        elapsed
    };
    let open_lite = |path: &Path| {
        let start = Instant::now();
        let conn = sqlite::open(path);
        let contexts: i64 = conn
            .query_row("SELECT count(*) FROM catalog", [], |row| row.get(0))
            .expect("count");
        let elapsed = start.elapsed();
        assert_eq!(contexts, 10);
        drop(conn);
        elapsed
    };
    rotated(
        c,
        "open",
        20,
        vec![
            ("pipeline_deps_open_empty", Box::new(|| open_rw(&empty))),
            ("pipeline_deps_open_100k_specs", Box::new(|| open_rw(&full))),
            ("sqlite_open_100k_specs", Box::new(|| open_lite(&lite))),
        ],
    );
    tally::report(
        "pipeline_deps_open_100k_specs",
        &["pipeline_deps_open_empty", "sqlite_open_100k_specs"],
    );
    // Read-only opens write nothing: no fsync noise, only what the open reads.
    let open_ro = |path: &Path| {
        let start = Instant::now();
        let manager = RegistryManager::open_read_only(path).expect("open");
        let elapsed = start.elapsed();
        drop(manager);
        elapsed
    };
    rotated(
        c,
        "open_read_only",
        20,
        vec![
            (
                "pipeline_deps_open_read_only_empty",
                Box::new(|| open_ro(&empty)),
            ),
            (
                "pipeline_deps_open_read_only_100k_specs",
                Box::new(|| open_ro(&full)),
            ),
        ],
    );
    tally::report(
        "pipeline_deps_open_read_only_100k_specs",
        &[
            "pipeline_deps_open_read_only_empty",
            "sqlite_open_100k_specs",
        ],
    );
}

/// In-memory storage that counts the bytes and calls written, for both the registry and
/// the raw redb baseline: a noise-free view of what each durable commit costs the disk.
#[derive(Debug, Clone, Default)]
struct Counting(Arc<Mutex<(Vec<u8>, u64, u64)>>);

impl pipeline_deps::storage::StorageBackend for Counting {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.0.lock().expect("lock").0.len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let state = self.0.lock().expect("lock");
        let start = offset as usize;
        out.copy_from_slice(&state.0[start..start + out.len()]);
        Ok(())
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.lock().expect("lock").0.resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut state = self.0.lock().expect("lock");
        let start = offset as usize;
        state.0[start..start + data.len()].copy_from_slice(data);
        state.1 += data.len() as u64;
        state.2 += 1;
        Ok(())
    }
}

impl redb::StorageBackend for Counting {
    fn len(&self) -> std::io::Result<u64> {
        pipeline_deps::storage::StorageBackend::len(self)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        pipeline_deps::storage::StorageBackend::read(self, offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        pipeline_deps::storage::StorageBackend::set_len(self, len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        pipeline_deps::storage::StorageBackend::write(self, offset, data)
    }
}

impl Counting {
    /// (bytes, write calls) per call of `commit`, averaged over `n` calls after `n` warm-up
    /// calls (so both tables are several levels deep).
    fn per_commit(&self, n: usize, mut commit: impl FnMut(usize)) -> (u64, u64) {
        (0..n).for_each(&mut commit);
        let before = {
            let s = self.0.lock().expect("lock");
            (s.1, s.2)
        };
        (n..2 * n).for_each(&mut commit);
        let s = self.0.lock().expect("lock");
        ((s.1 - before.0) / n as u64, (s.2 - before.1) / n as u64)
    }
}

/// Prints the bytes each durable `register` writes beside a one-row commit's.
fn bytes_per_commit(specs: &[StepSpecification]) {
    let n = size(2_000);
    let ours = Counting::default();
    let manager = RegistryManager::builder()
        .with_backend(ours.clone(), "counting")
        .expect("open");
    let registry = manager.get_registry("bench").expect("context");
    let (our_bytes, our_writes) = ours.per_commit(n, |i| {
        registry
            .register(&format!("step_{i:08}"), &specs[i % specs.len()])
            .expect("register")
    });
    let raw = Counting::default();
    let db = redb::Builder::new()
        .set_cache_size(CACHE)
        .create_with_backend(raw.clone())
        .expect("redb");
    let rows: Vec<Vec<u8>> = specs.iter().map(row_bytes).collect();
    let (raw_bytes, raw_writes) = raw.per_commit(n, |i| {
        let txn = db.begin_write().expect("write");
        {
            let mut table = txn.open_table(ROWS).expect("table");
            let name = format!("step_{i:08}");
            table
                .insert(name.as_str(), rows[i % rows.len()].as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
    });
    let (lite_bytes, lite_frames) = sqlite_wal_per_commit(specs, n);
    println!(
        "BYTES register writes {our_bytes} bytes in {our_writes} writes per commit; a one-row redb commit {raw_bytes} bytes in {raw_writes} writes ({:.2}x the bytes); SQLite's WAL grows {lite_bytes} bytes ({lite_frames:.1} page frames, one append) per register",
        our_bytes as f64 / raw_bytes as f64
    );
}

/// The WAL bytes (and page frames) one SQLite `register` appends, checkpoints off.
fn sqlite_wal_per_commit(specs: &[StepSpecification], n: usize) -> (u64, f64) {
    let dir = bench_dir();
    let path = dir.path().join("wal.sqlite");
    let conn = sqlite::open(&path);
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .expect("no checkpoints");
    sqlite::create_context(&conn, "bench");
    let wal = dir.path().join("wal.sqlite-wal");
    let len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    for i in 0..n {
        sqlite::register(
            &conn,
            "bench",
            &format!("warm_{i:08}"),
            &specs[i % specs.len()],
        );
    }
    let before = len();
    for i in 0..n {
        sqlite::register(
            &conn,
            "bench",
            &format!("step_{i:08}"),
            &specs[i % specs.len()],
        );
    }
    let per = (len() - before) / n as u64;
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .expect("page size");
    (per, per as f64 / (page as f64 + 24.0))
}

fn benches(c: &mut Criterion) {
    let specs = real_specs();
    bytes_per_commit(&specs);
    register(c, &specs);
    register_non_durable(c, &specs);
    register_many(c, &specs);
    concurrent_register(c, &specs);
    get_specification(c, &specs);
    get_context_stats(c);
    clear_context(c, &specs);
    open(c, &specs);
}

criterion_group!(registry, benches);
criterion_main!(registry);
