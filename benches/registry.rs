//! Registry benchmarks, each beside its baseline in the same run.
//!
//! | group | measured | baseline | target |
//! |---|---|---|---|
//! | `register` | durable single `register` | one-row durable redb commit | ≤ 1.3× |
//! | `register_many` | `register_many` of 1,000 specs | 1,000-row durable redb commit | — |
//! | `get_specification` | hot (cached) `get_specification` | `HashMap<String, Arc<_>>` lookup | ≤ 3× |
//! | `get_context_stats` | stats of 1,000 contexts | scan of a 1,000-row redb table | — |
//! | `clear_context` | `clear_context` of a 10,000-spec context | redb `delete_table` of 10,000 rows | — |
//! | `open` | open a database of 100,000 specs | open an empty one | independent of size |
//!
//! Specs are the 61 real cursus specs (`tests/fixtures/cursus-step-specs.json`, else the
//! embedded excerpt), cycled. Databases live under `CARGO_TARGET_TMPDIR` (the target
//! directory's disk, so fsyncs are real). The setup also prints the bytes on disk per spec.
//!
//! `cargo bench --bench registry -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark may stop on a broken setup

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use pipeline_deps::{ImportOptions, RegistryManager, StepSpecification};
use redb::{ReadableDatabase, TableDefinition};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);
const CACHE: usize = pipeline_deps::storage::DEFAULT_CACHE_SIZE;
const ROWS: TableDefinition<&str, &[u8]> = TableDefinition::new("rows");

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

/// Measures `a` and `b` in two benchmarks whose iterations run both operations, timing
/// one: the disk's slow and fast periods (fsync latency varies with other processes) then
/// fall on both sides alike, so their ratio is fair.
fn paired(
    c: &mut Criterion,
    group: &str,
    (name_a, mut a): (&str, impl FnMut() -> Duration),
    (name_b, mut b): (&str, impl FnMut() -> Duration),
) {
    let mut group = c.benchmark_group(group);
    group.sampling_mode(SamplingMode::Flat).sample_size(30);
    group.bench_function(name_a, |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    b();
                    a()
                })
                .sum()
        });
    });
    group.bench_function(name_b, |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    a();
                    b()
                })
                .sum()
        });
    });
    group.finish();
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
    let rows: Vec<Vec<u8>> = specs.iter().map(row_bytes).collect();
    let (mut i, mut j) = (0usize, 0usize);
    paired(
        c,
        "register",
        ("pipeline_deps_register", || {
            i += 1;
            let name = format!("step_{i:08}");
            let spec = &specs[i % specs.len()];
            timed(|| registry.register(&name, spec).expect("register"))
        }),
        ("redb_one_row_commit", || {
            j += 1;
            let name = format!("step_{j:08}");
            let row = rows[j % rows.len()].as_slice();
            timed(|| {
                let txn = db.begin_write().expect("write");
                {
                    let mut table = txn.open_table(ROWS).expect("table");
                    table.insert(name.as_str(), row).expect("insert");
                }
                txn.commit().expect("commit");
            })
        }),
    );
}

fn register_many(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();
    let mut group = c.benchmark_group("register_many");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    let batch = items(specs, size(1_000));

    let manager = RegistryManager::open(dir.path().join("registry.redb")).expect("open");
    group.bench_function("pipeline_deps_register_many_1000", |b| {
        b.iter_batched(
            || {
                manager.clear_context("bulk").expect("clear");
                manager.get_registry("bulk").expect("context")
            },
            |registry| {
                registry
                    .register_many(batch.iter().map(|(n, s)| (n.as_str(), s)))
                    .expect("register_many")
            },
            BatchSize::PerIteration,
        );
    });

    let db = raw_db(&dir.path().join("baseline.redb"));
    let rows: Vec<(String, Vec<u8>)> = batch
        .iter()
        .map(|(n, s)| (n.clone(), row_bytes(s)))
        .collect();
    group.bench_function("redb_1000_row_commit", |b| {
        b.iter_batched(
            || {
                let txn = db.begin_write().expect("write");
                txn.delete_table(ROWS).expect("delete");
                txn.commit().expect("commit");
            },
            |()| {
                let txn = db.begin_write().expect("write");
                {
                    let mut table = txn.open_table(ROWS).expect("table");
                    for (name, row) in &rows {
                        table.insert(name.as_str(), row.as_slice()).expect("insert");
                    }
                }
                txn.commit().expect("commit");
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
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
    group.bench_function("pipeline_deps_hot", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            registry
                .get_specification(black_box(names[i]))
                .expect("get")
        });
    });

    let map: HashMap<String, Arc<StepSpecification>> = batch
        .iter()
        .map(|(n, s)| (n.clone(), Arc::new(s.clone())))
        .collect();
    let mut i = 0usize;
    group.bench_function("hashmap_arc_lookup", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            map.get(black_box(names[i])).cloned()
        });
    });
    group.finish();
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
    group.bench_function("pipeline_deps_1000_contexts", |b| {
        b.iter(|| manager.get_context_stats().expect("stats"));
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
    group.bench_function("redb_scan_1000_rows", |b| {
        b.iter(|| {
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
    });
    group.finish();
}

fn clear_context(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();
    let mut group = c.benchmark_group("clear_context");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    let batch = items(specs, size(10_000));

    let manager = RegistryManager::open(dir.path().join("registry.redb")).expect("open");
    group.bench_function("pipeline_deps_clear_10000_specs", |b| {
        b.iter_batched(
            || {
                manager
                    .get_registry("big")
                    .expect("context")
                    .register_many(batch.iter().map(|(n, s)| (n.as_str(), s)))
                    .expect("register_many")
            },
            |_| manager.clear_context("big").expect("clear"),
            BatchSize::PerIteration,
        );
    });

    let db = raw_db(&dir.path().join("baseline.redb"));
    let rows: Vec<(String, Vec<u8>)> = batch
        .iter()
        .map(|(n, s)| (n.clone(), row_bytes(s)))
        .collect();
    group.bench_function("redb_delete_table_10000_rows", |b| {
        b.iter_batched(
            || {
                let txn = db.begin_write().expect("write");
                {
                    let mut table = txn.open_table(ROWS).expect("table");
                    for (name, row) in &rows {
                        table.insert(name.as_str(), row.as_slice()).expect("insert");
                    }
                }
                txn.commit().expect("commit");
            },
            |()| {
                let txn = db.begin_write().expect("write");
                txn.delete_table(ROWS).expect("delete");
                txn.commit().expect("commit");
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn open(c: &mut Criterion, specs: &[StepSpecification]) {
    let dir = bench_dir();

    let empty = dir.path().join("empty.redb");
    drop(RegistryManager::open(&empty).expect("open"));
    let full = dir.path().join("100k.redb");
    {
        let manager = RegistryManager::open(&full).expect("open");
        let batch = items(specs, size(10_000));
        for context in 0..10 {
            manager
                .get_registry(&format!("context_{context}"))
                .expect("context")
                .register_many(batch.iter().map(|(n, s)| (n.as_str(), s)))
                .expect("register_many");
        }
    }
    let (empty_len, full_len) = (
        std::fs::metadata(&empty).map_or(0, |m| m.len()),
        std::fs::metadata(&full).map_or(0, |m| m.len()),
    );
    eprintln!(
        "bytes on disk: empty database {empty_len}; {} specs in 10 contexts {full_len} ({:.0} bytes per spec as written)",
        10 * size(10_000),
        (full_len - empty_len) as f64 / (10 * size(10_000)) as f64
    );

    // Paired, so that fsync latency (each writable open commits once) hits both alike.
    let open_rw = |path: &Path| {
        let start = Instant::now();
        let manager = RegistryManager::open(path).expect("open");
        let elapsed = start.elapsed();
        drop(manager);
        elapsed
    };
    paired(
        c,
        "open",
        ("pipeline_deps_open_empty", || open_rw(&empty)),
        ("pipeline_deps_open_100k_specs", || open_rw(&full)),
    );
    // Read-only opens write nothing: no fsync noise, only what the open reads.
    let open_ro = |path: &Path| {
        let start = Instant::now();
        let manager = RegistryManager::open_read_only(path).expect("open");
        let elapsed = start.elapsed();
        drop(manager);
        elapsed
    };
    paired(
        c,
        "open_read_only",
        ("pipeline_deps_open_read_only_empty", || open_ro(&empty)),
        ("pipeline_deps_open_read_only_100k_specs", || open_ro(&full)),
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
    println!(
        "register writes {our_bytes} bytes in {our_writes} writes per commit; a one-row commit {raw_bytes} bytes in {raw_writes} writes ({:.2}x the bytes)",
        our_bytes as f64 / raw_bytes as f64
    );
}

fn benches(c: &mut Criterion) {
    let specs = real_specs();
    bytes_per_commit(&specs);
    register(c, &specs);
    register_many(c, &specs);
    get_specification(c, &specs);
    get_context_stats(c);
    clear_context(c, &specs);
    open(c, &specs);
}

criterion_group!(registry, benches);
criterion_main!(registry);
