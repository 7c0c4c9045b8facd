//! Invariant: on PostgreSQL, a write that changes nothing — clearing an empty context, an
//! upsert or an `upsert_many` of exactly the specs the steps hold — writes no row: the
//! context's catalog row and its spec rows keep their row versions (no update, no lock,
//! which PostgreSQL also marks in the row and logs), and the revision stays as it is. An
//! import writes its context's catalog row once per batch call and once to finish, not
//! before anything changed, and a replacing import of the steps stored updates no row and
//! takes no lock.
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
    let Some(url) = pg_cluster::database("noop_writes")? else {
        return Ok(());
    };
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

#[test]
fn an_import_updates_the_catalog_row_only_when_something_changed() -> TestResult {
    let Some(url) = pg_cluster::database("import_updates")? else {
        return Ok(());
    };
    let manager = RegistryManager::connect(&url)?;
    manager.get_registry("ctx")?.register("a", &spec("A"))?;
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    // Counts the updates of catalog rows.
    client.batch_execute(
        "CREATE TABLE catalog_updates (n integer);
         CREATE FUNCTION count_catalog_update() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO catalog_updates VALUES (1); RETURN NEW; END $$;
         CREATE TRIGGER counted AFTER UPDATE ON pd_contexts
           FOR EACH ROW EXECUTE FUNCTION count_catalog_update();",
    )?;
    let steps: Vec<(String, StepSpecification)> =
        (0..3).map(|n| (format!("s{n}"), spec("B"))).collect();
    let summary = manager.import_steps("ctx", &steps, false)?;
    assert_eq!((summary.new, summary.step_count), (3, 4));
    let updates: i64 = client
        .query_one("SELECT count(*) FROM catalog_updates", &[])?
        .get(0);
    // One by the batch function's call, one by the import's finish.
    assert_eq!(
        updates, 2,
        "the import updated the catalog row {updates} times"
    );
    Ok(())
}

#[test]
fn a_replacing_import_of_the_stored_steps_updates_no_row() -> TestResult {
    let Some(url) = pg_cluster::database("import_identical")? else {
        return Ok(());
    };
    let manager = RegistryManager::connect(&url)?;
    let steps: Vec<(String, StepSpecification)> =
        (0..3).map(|n| (format!("s{n}"), spec("B"))).collect();
    manager.import_steps("ctx", &steps, false)?;
    let registry = manager.get_registry("ctx")?;
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    let (before, revision) = (row_versions(&mut client, "ctx")?, registry.revision()?);

    let summary = manager.import_steps("ctx", &steps, true)?;
    assert_eq!(
        (summary.new, summary.replaced, summary.written),
        (0, 3, false)
    );
    // Not even the context's row lock is taken (it would change the row's `xmax`).
    assert_eq!(
        row_versions(&mut client, "ctx")?,
        before,
        "an identical import wrote or locked"
    );
    assert_eq!(registry.revision()?, revision);

    // One step that differs: written, with a new revision.
    let mut changed = steps.clone();
    changed[2].1 = spec("C");
    assert!(manager.import_steps("ctx", &changed, true)?.written);
    assert_ne!(row_versions(&mut client, "ctx")?, before);
    assert!(registry.revision()? > revision);
    assert_eq!(
        registry.get_specification("s2")?.as_deref(),
        Some(&spec("C"))
    );
    Ok(())
}
