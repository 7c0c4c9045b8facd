//! Invariant: every role connecting to one database shares its one registry, whatever its
//! `search_path`: a role whose first schema holds no registry while a schema further along
//! its path holds one (the default `"$user", public` of a role owning a schema of its own
//! name) is refused with a clear error naming both schemas, and nothing is created that
//! would hide the shared registry from it; a path of schemas that do not exist is refused
//! the same way; a path that leaves the shared registry out still creates a separate one.
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

/// How many registry tables schema `schema` of the database at `url` holds.
fn tables_in(url: &str, schema: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let row = client.query_one(
        "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename LIKE 'pd\\_%'",
        &[&schema],
    )?;
    Ok(row.try_get(0)?)
}

/// The message of an invalid-input error, or why the result is not one.
fn invalid_input<T>(result: pipeline_deps::Result<T>) -> Result<String, String> {
    match result {
        Err(error @ Error::InvalidInput { .. }) => {
            assert_eq!(error.kind(), ErrorKind::InvalidInput);
            Ok(error.to_string())
        }
        Err(other) => Err(format!("expected invalid input, got {other:?}")),
        Ok(_) => Err("expected invalid input, got Ok".into()),
    }
}

#[test]
fn a_role_whose_own_schema_would_hide_the_shared_registry_is_refused_and_nothing_is_made()
-> TestResult {
    let Some(server) = pg_cluster::owned_server("search_path")? else {
        return Ok(());
    };
    let url = server.database("search_path")?;
    // The shared registry, in public.
    let owner = RegistryManager::connect(&url)?;
    owner.get_registry("ml")?.register("load", &spec("Load"))?;
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    // A role with a schema of its own name, as PostgreSQL advises for shared databases, and
    // the default search_path "$user", public; allowed to use the shared registry.
    admin.batch_execute(
        "DO $$ BEGIN CREATE ROLE pd_alice LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         CREATE SCHEMA pd_alice AUTHORIZATION pd_alice;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO pd_alice;
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pd_alice;",
    )?;
    let alice = url.replacen("postgres://postgres@", "postgres://pd_alice@", 1);

    for read_only in [false, true] {
        let refused = RegistryManager::builder()
            .read_only(read_only)
            .connect(&alice);
        let message = invalid_input(refused)?;
        for needle in ["\"pd_alice\"", "\"public\"", "search_path%3Dpublic"] {
            assert!(message.contains(needle), "{needle} in {message}");
        }
        assert_eq!(tables_in(&url, "pd_alice")?, 0, "nothing made: {message}");
    }

    // Told how, the role shares the registry and the owner sees its writes.
    let shared = RegistryManager::connect(&format!("{alice}?options=-c%20search_path%3Dpublic"))?;
    let registry = shared.get_registry("ml")?;
    assert!(registry.get_specification("load")?.is_some());
    registry.register("train", &spec("Train"))?;
    assert_eq!(
        owner.get_registry("ml")?.list_step_names()?,
        ["load", "train"]
    );

    // A path of schemas that do not exist leaves nowhere for the tables: refused, naming it.
    let nowhere = invalid_input(RegistryManager::connect(&format!(
        "{alice}?options=-c%20search_path%3Dpd_no_such_schema"
    )))?;
    assert!(nowhere.contains("pd_no_such_schema"), "{nowhere}");
    assert!(nowhere.contains("no schema that exists"), "{nowhere}");

    // A path without public is a deliberate separate registry (a schema per team): made.
    let separate =
        RegistryManager::connect(&format!("{alice}?options=-c%20search_path%3Dpd_alice"))?;
    assert!(separate.list_contexts()?.is_empty());
    assert!(tables_in(&url, "pd_alice")? > 0);
    // Once its own schema holds a registry, the default path uses it, as PostgreSQL would.
    let own = RegistryManager::connect(&alice)?;
    assert!(own.list_contexts()?.is_empty());
    Ok(())
}
