//! Invariant: a large `register_many` on PostgreSQL is sent as calls of a few MiB, so the
//! server process storing it holds a small, bounded amount of memory whatever the batch's
//! size. With calls of up to 64 MiB it held about 4× a call while storing rows (164 MB for
//! this test's 40 MB batch) and peaked near 12× (690 MB for 80,000 real specs).
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use pipeline_deps::{DependencyType, NodeType, OutputSpec, RegistryManager, StepSpecification};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A spec whose stored record is a little over `bytes` long (one long alias).
fn spec_of_size(bytes: usize) -> StepSpecification {
    StepSpecification::new("Big", NodeType::Source).with_output(
        OutputSpec::new("out", DependencyType::ProcessingOutput, "properties.Out")
            .with_aliases(["a".repeat(bytes)]),
    )
}

/// Most memory, in bytes, the server process storing a batch may hold while it stores a
/// row. A batch of 40 MB sent as one call held about 170 MB here.
const BOUND: i64 = 64 << 20;

#[test]
fn a_large_batch_is_stored_with_bounded_server_memory() -> TestResult {
    let Some(url) = pg_cluster::database("batch_memory")? else {
        return Ok(());
    };
    let manager = RegistryManager::connect(&url)?;
    let registry = manager.get_registry("big")?;
    // A probe: every spec row stored records the memory its server process holds then.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    admin.batch_execute(
        "CREATE TABLE IF NOT EXISTS test_memory_probe (bytes bigint NOT NULL);
         TRUNCATE test_memory_probe;
         CREATE OR REPLACE FUNCTION test_probe_memory() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO test_memory_probe
                 SELECT sum(total_bytes) FROM pg_backend_memory_contexts;
             RETURN NEW;
         END $$;
         DROP TRIGGER IF EXISTS test_probe_memory ON pd_specs;
         CREATE TRIGGER test_probe_memory BEFORE INSERT ON pd_specs
             FOR EACH ROW EXECUTE FUNCTION test_probe_memory();",
    )?;
    // 400 records of 100 KB: 40 MB in one batch.
    let big = spec_of_size(100_000);
    let names: Vec<String> = (0..400).map(|i| format!("step{i:03}")).collect();
    registry.register_many(names.iter().map(|name| (name.as_str(), &big)))?;
    assert_eq!(registry.len()?, 400);
    assert_eq!(registry.list_step_names()?, names);
    assert_eq!(
        registry.get_specification("step399")?.as_deref(),
        Some(&big)
    );

    let row = admin.query_one(
        "SELECT count(*), coalesce(max(bytes), 0)::bigint FROM test_memory_probe",
        &[],
    )?;
    let (probes, most): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    assert_eq!(probes, 400, "one probe per stored row");
    assert!(
        most < BOUND,
        "the server process held {most} bytes while storing the batch (bound {BOUND})"
    );
    Ok(())
}
