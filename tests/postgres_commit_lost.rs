//! Invariant: a write whose connection the server ends while it commits (the README's
//! "a connection lost while committing is reported as such") fails once as
//! `ServerErrorKind::ConnectionLost` with a message saying the outcome is unknown and naming
//! the server, for a one-statement `register` and for a batch alike; the next call works on
//! a new connection.
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use pipeline_deps::{Error, NodeType, RegistryManager, ServerErrorKind, StepSpecification};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn spec(step_type: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Singular)
}

/// Checks that `result` is a lost connection whose message says the outcome is unknown.
fn lost_while_committing(result: pipeline_deps::Result<()>, server: &str) -> TestResult {
    match result {
        Err(
            ref error @ Error::Server {
                kind: ServerErrorKind::ConnectionLost,
                ..
            },
        ) => {
            let message = error.to_string();
            assert!(message.contains("outcome is unknown"), "{message}");
            assert!(message.contains(server), "{message}");
            Ok(())
        }
        other => Err(format!("expected a connection lost while committing, got {other:?}").into()),
    }
}

#[test]
fn a_connection_lost_while_committing_says_the_outcome_is_unknown() -> TestResult {
    let Some(url) = pg_cluster::database("commit_lost")? else {
        return Ok(());
    };
    let manager = RegistryManager::connect(&url)?;
    let server = manager.path().to_string_lossy().into_owned();
    let registry = manager.get_registry("ml")?;
    registry.register("kept", &spec("T"))?;
    // A deferred trigger ends the session that inserts a spec row when it commits, after
    // every statement of the write has run: the commit is the call that loses it.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    admin.batch_execute(
        "CREATE FUNCTION test_end_session() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER test_lose_the_commit AFTER INSERT ON pd_specs
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_end_session();",
    )?;
    lost_while_committing(registry.register("alone", &spec("T")), &server)?;
    lost_while_committing(
        registry
            .register_many([("one", spec("T")), ("two", spec("U"))])
            .map(drop),
        &server,
    )?;
    admin.batch_execute("DROP TRIGGER test_lose_the_commit ON pd_specs")?;
    // Here the session ended before the commit took effect: nothing of either write.
    assert_eq!(registry.list_step_names()?, ["kept"]);
    assert_eq!(manager.get_context_stats()?["ml"].step_count, 1);
    registry.register("after", &spec("T"))?;
    assert_eq!(registry.list_step_names()?, ["kept", "after"]);
    Ok(())
}
