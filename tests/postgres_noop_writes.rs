//! Invariant: on PostgreSQL, a write that changes nothing — clearing an empty context, an
//! upsert or an `upsert_many` of exactly the specs the steps hold — writes no row: the
//! context's catalog row and its spec rows keep their row versions (no update, no lock,
//! which PostgreSQL also marks in the row and logs), and the revision stays as it is.
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use pipeline_deps::{DependencyType, NodeType, OutputSpec, RegistryManager, StepSpecification};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn spec(step_type: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Source).with_output(OutputSpec::new(
        "out",
        DependencyType::ProcessingOutput,
        "properties.Out",
    ))
}

/// The row versions (`xmin`, `xmax`) of context `name`'s catalog row and spec rows: an
/// update changes a row's `xmin`, a lock or a delete its `xmax`.
fn row_versions(client: &mut postgres::Client, name: &str) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT 'context ' || xmin::text || ' ' || xmax::text FROM pd_contexts WHERE name = $1 \
         UNION ALL \
         SELECT 'step ' || s.step_name || ' ' || s.xmin::text || ' ' || s.xmax::text \
         FROM pd_specs s JOIN pd_contexts c ON c.id = s.context_id WHERE c.name = $1",
        &[&name],
    )?;
    let mut versions: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    versions.sort();
    Ok(versions)
}

#[test]
fn writes_that_change_nothing_leave_every_row_version() -> TestResult {
    let Some(server) = pg_cluster::server("noop_writes")? else {
        return Ok(());
    };
    let url = server.database("noop_writes")?;
    let manager = RegistryManager::connect(&url)?;
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;

    let empty = manager.get_registry("empty")?;
    let (before, revision) = (row_versions(&mut client, "empty")?, empty.revision()?);
    empty.clear()?;
    assert_eq!(
        row_versions(&mut client, "empty")?,
        before,
        "clearing an empty context wrote"
    );
    assert_eq!(empty.revision()?, revision);

    let full = manager.get_registry("full")?;
    full.register_many([("a", spec("A")), ("b", spec("B"))])?;
    let (before, revision) = (row_versions(&mut client, "full")?, full.revision()?);
    full.upsert("a", &spec("A"))?;
    full.upsert_many([("b", spec("B")), ("a", spec("A"))])?;
    assert_eq!(
        row_versions(&mut client, "full")?,
        before,
        "an identical upsert wrote"
    );
    assert_eq!(full.revision()?, revision);

    // The versions do show a write that changes something, and a clear of steps.
    full.upsert("a", &spec("B"))?;
    let changed = row_versions(&mut client, "full")?;
    assert_ne!(changed, before);
    full.clear()?;
    assert_ne!(row_versions(&mut client, "full")?, changed);
    assert!(full.is_empty()?);
    Ok(())
}
