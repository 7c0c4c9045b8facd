//! Invariant: an import without `--replace` whose step another writer registers on the
//! server between the command's look at the context and its transaction is refused as the
//! same `already_registered` error as a step taken beforehand (JSON `kind`, `context` and
//! `step` alike, exit 4), and imports nothing.
#![cfg(feature = "postgres")]

#[path = "../../tests/support/pg_cluster.rs"]
mod pg_cluster;

mod common;

use std::process::{Command, Stdio};

use serde_json::Value;

use common::{BIN, TestResult, without_libpq_env};

#[test]
fn a_step_another_writer_takes_during_an_import_is_refused_as_already_registered() -> TestResult {
    let Some(server) = pg_cluster::server("import_race")? else {
        return Ok(());
    };
    let url = server.database("import_race")?;
    let spec = pipeline_deps::StepSpecification::new("Train", pipeline_deps::NodeType::Singular);
    let writer = pipeline_deps::RegistryManager::connect(&url)?;
    writer.get_registry("ml")?.register("first", &spec)?;
    let dir = tempfile::tempdir()?;
    let document = dir.path().join("doc.json");
    std::fs::write(
        &document,
        r#"{"steps": [
            {"step_name": "taken", "step_type": "Train", "node_type": "singular"},
            {"step_name": "fresh", "step_type": "Train", "node_type": "singular"}
        ]}"#,
    )?;

    // A transaction holds the context's catalog row; another writer's register of `taken`
    // waits for it first, then the import queues behind that writer.
    let mut holder = postgres::Client::connect(&url, postgres::NoTls)?;
    let mut held = holder.transaction()?;
    held.execute(
        "SELECT 1 FROM pd_contexts WHERE name = 'ml' FOR UPDATE",
        &[],
    )?;
    let intruder_spec = spec.clone();
    let intruder = std::thread::spawn(move || {
        writer
            .get_registry("ml")
            .and_then(|r| r.register("taken", &intruder_spec))
    });
    assert!(
        pg_cluster::lock_waiters(&mut held, 1)?,
        "the other writer never waited for the row"
    );
    let mut command = Command::new(BIN);
    without_libpq_env(&mut command);
    let import = command
        .args(["--db", &url, "--json", "import", "ml"])
        .arg(&document)
        .env_remove("PIPELINE_DEPS_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // The import looked at the context (neither step taken yet) and waits for the row.
    let queued = pg_cluster::lock_waiters(&mut held, 2)?;
    held.commit()?;
    intruder.join().map_err(|_| "the writer panicked")??;
    let out = import.wait_with_output()?;
    assert!(queued, "the import never queued for the row");
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let error: Value = serde_json::from_str(&stderr)?;
    assert_eq!(error["kind"], "already_registered", "{error}");
    assert_eq!(error["context"], "ml", "{error}");
    assert_eq!(error["step"], "taken", "{error}");
    assert_eq!(
        error["file"].as_str(),
        document.canonicalize()?.to_str(),
        "{error}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("nothing was imported") && message.contains("--replace"),
        "{error}"
    );
    // Nothing of the document was imported: `fresh` is not there either.
    let registry = pipeline_deps::RegistryManager::connect(&url)?.get_registry("ml")?;
    assert_eq!(registry.list_step_names()?, ["first", "taken"]);
    Ok(())
}
