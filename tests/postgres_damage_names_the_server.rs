//! Invariant: damage to a registry on PostgreSQL is reported as corruption naming the
//! server and database (as a file's names the file): a record damaged by hand names the
//! context and step too, and a table dropped by hand is corruption, not a storage error,
//! for reads and writes alike; neither is mistaken for the server being unavailable.
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use pipeline_deps::{
    DependencyType, Error, ErrorKind, NodeType, OutputSpec, RegistryManager, StepSpecification,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn spec(step_type: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Source).with_output(OutputSpec::new(
        "out",
        DependencyType::ProcessingOutput,
        "properties.Out",
    ))
}

/// The message of a corruption error naming `server`, or why `result` is not one.
fn corruption_naming<T: std::fmt::Debug>(
    result: pipeline_deps::Result<T>,
    server: &str,
) -> Result<String, String> {
    match result {
        Err(error @ Error::Corrupted { .. }) => {
            assert_eq!(error.kind(), ErrorKind::Corruption);
            let message = error.to_string();
            if message.contains(server) {
                Ok(message)
            } else {
                Err(format!("the message does not name {server}: {message}"))
            }
        }
        other => Err(format!("expected corruption, got {other:?}")),
    }
}

#[test]
fn a_record_damaged_by_hand_names_the_server_context_and_step() -> TestResult {
    let Some(url) = pg_cluster::database("damage_record")? else {
        return Ok(());
    };
    let manager = RegistryManager::connect(&url)?;
    let server_label = manager.path().to_string_lossy().into_owned();
    let registry = manager.get_registry("fraud")?;
    registry.register("train", &spec("Train"))?;
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    admin.batch_execute("UPDATE pd_specs SET record = '\\x00ff'")?;
    let fresh = RegistryManager::connect(&url)?.get_registry("fraud")?;
    let message = corruption_naming(fresh.get_specification("train"), &server_label)?;
    assert!(
        message.contains("'fraud'") && message.contains("'train'"),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_table_dropped_by_hand_is_corruption_naming_the_server() -> TestResult {
    let Some(url) = pg_cluster::database("damage_table")? else {
        return Ok(());
    };
    let manager = RegistryManager::connect(&url)?;
    let server_label = manager.path().to_string_lossy().into_owned();
    let registry = manager.get_registry("fraud")?;
    registry.register("train", &spec("Train"))?;
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    admin.batch_execute("DROP TABLE pd_specs")?;
    for (what, result) in [
        ("a read", registry.list_step_names().map(drop)),
        ("a write", registry.register("eval", &spec("Eval"))),
        ("an upsert", registry.upsert("train", &spec("Train"))),
    ] {
        let message =
            corruption_naming(result, &server_label).map_err(|e| format!("{what}: {e}"))?;
        assert!(message.contains("pd_specs"), "{what}: {message}");
    }
    Ok(())
}
