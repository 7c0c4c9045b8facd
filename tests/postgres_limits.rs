//! Invariant: where a PostgreSQL database cannot do what a registry file does, the user gets
//! a clear error of its own kind before anything is applied, never a storage error or a
//! "connection lost": a database whose encoding cannot hold every valid name is refused
//! when opened (nothing is created in it), a read-only server refuses writes as read-only
//! and still serves reads, a record over the server's 1 GiB value limit is refused naming
//! its step, a batch larger than one call is written whole, and a role without the
//! privileges it needs gets `PermissionDenied` with nothing half-made.
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use pipeline_deps::{
    DependencyType, Error, NodeType, OutputSpec, RegistryManager, ServerErrorKind,
    StepSpecification,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn spec(step_type: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Source).with_output(OutputSpec::new(
        "out",
        DependencyType::ProcessingOutput,
        "properties.Out",
    ))
}

/// A spec whose stored record is a little over `bytes` long (one long alias).
fn spec_of_size(bytes: usize) -> StepSpecification {
    StepSpecification::new("Big", NodeType::Source).with_output(
        OutputSpec::new("out", DependencyType::ProcessingOutput, "properties.Out")
            .with_aliases(["a".repeat(bytes)]),
    )
}

fn server_kind<T: std::fmt::Debug>(
    result: pipeline_deps::Result<T>,
) -> Result<ServerErrorKind, String> {
    match result {
        Err(Error::Server { kind, .. }) => Ok(kind),
        other => Err(format!("expected a server error, got {other:?}")),
    }
}

/// The name of the database a test URL points at (`…/NAME` or `…/NAME?…`).
fn database_name(url: &str) -> Result<&str, String> {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/')
        .next()
        .ok_or_else(|| format!("no database in {url}"))
}

#[test]
fn a_database_that_cannot_hold_every_name_is_refused_before_anything_is_created() -> TestResult {
    let Some(server) = pg_cluster::server("encoding")? else {
        return Ok(());
    };
    let mut admin = postgres::Client::connect(&server.admin_url(), postgres::NoTls)?;
    for (encoding, accepted) in [("LATIN1", false), ("SQL_ASCII", true)] {
        let url = server.database(&format!("encoding_{encoding}"))?;
        let name = database_name(&url)?;
        admin.batch_execute(&format!("DROP DATABASE \"{name}\""))?;
        admin.batch_execute(&format!(
            "CREATE DATABASE \"{name}\" ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' \
             TEMPLATE template0"
        ))?;
        let opened = RegistryManager::connect(&url);
        if accepted {
            // A name outside ASCII, stored and found as on a file.
            let registry = opened?.get_registry("🚀 ctx")?;
            registry.register("日本", &spec("T"))?;
            assert!(registry.contains("日本")?);
            assert_eq!(registry.list_step_names()?, ["日本"]);
            continue;
        }
        let Err(error) = opened else {
            return Err(format!("a {encoding} database was opened").into());
        };
        assert!(
            matches!(
                error,
                Error::Server {
                    kind: ServerErrorKind::Unsupported,
                    ..
                }
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("UTF8"), "{message}");
        let cause = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("the database's encoding is LATIN1"));
        // Nothing was created in it.
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                &[],
            )?
            .try_get(0)?;
        assert_eq!(tables, 0);
    }
    Ok(())
}

#[test]
fn a_read_only_server_refuses_writes_as_read_only_and_still_reads() -> TestResult {
    let Some(server) = pg_cluster::server("read_only")? else {
        return Ok(());
    };
    let url = server.database("read_only")?;
    {
        let manager = RegistryManager::connect(&url)?;
        manager.get_registry("ml")?.register("a", &spec("T"))?;
    }
    let name = database_name(&url)?;
    let mut admin = postgres::Client::connect(&server.admin_url(), postgres::NoTls)?;
    // What a hot standby does to every session.
    admin.batch_execute(&format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"
    ))?;
    let manager = RegistryManager::connect(&url)?;
    let registry = manager.get_registry("ml")?;
    assert_eq!(registry.list_step_names()?, ["a"]);
    assert!(registry.get_specification("a")?.is_some());
    let writes: Vec<(&str, pipeline_deps::Result<()>)> = vec![
        ("register", registry.register("b", &spec("T"))),
        (
            "register_many",
            registry
                .register_many([("c", &spec("T")), ("d", &spec("U"))])
                .map(drop),
        ),
        ("unregister", registry.unregister("a").map(drop)),
        ("new context", manager.get_registry("new").map(drop)),
        ("clear_context", manager.clear_context("ml").map(drop)),
    ];
    for (what, result) in writes {
        let message = match &result {
            Err(e) => e.to_string(),
            Ok(()) => String::new(),
        };
        assert_eq!(server_kind(result)?, ServerErrorKind::ReadOnly, "{what}");
        assert!(message.contains("accepts no writes"), "{what}: {message}");
    }
    assert_eq!(registry.list_step_names()?, ["a"]);
    Ok(())
}

#[test]
fn a_batch_larger_than_one_call_is_written_whole_and_a_record_too_large_is_refused() -> TestResult {
    let Some(url) = pg_cluster::database("large")? else {
        return Ok(());
    };
    let manager = RegistryManager::connect(&url)?;
    let registry = manager.get_registry("big")?;
    // Three records of 30 MB: each more than one call carries (4 MiB), so each goes in a
    // call of its own, all in one transaction.
    let big = spec_of_size(30_000_000);
    let small = spec("T");
    registry.register_many([
        ("one", &big),
        ("two", &small),
        ("three", &big),
        ("four", &big),
    ])?;
    assert_eq!(registry.list_step_names()?, ["one", "two", "three", "four"]);
    assert_eq!(registry.get_specification("four")?.as_deref(), Some(&big));
    assert_eq!(manager.get_context_stats()?["big"].step_count, 4);
    // A name taken in the second call is reported by name, and nothing of the batch stays.
    let refused = registry.register_many([
        ("five", &big),
        ("six", &big),
        ("seven", &big),
        ("four", &small),
    ]);
    match refused {
        Err(Error::AlreadyRegistered { step, .. }) => assert_eq!(step, "four"),
        other => return Err(format!("expected AlreadyRegistered, got {other:?}").into()),
    }
    assert_eq!(registry.len()?, 4);

    // Over the server's 1 GiB value limit: refused before anything is sent.
    let revision = registry.revision()?;
    let huge = spec_of_size(1_000_000_000);
    for result in [
        registry.register("huge", &huge),
        registry.upsert("one", &huge),
        registry
            .register_many([("fine", &small), ("huge", &huge)])
            .map(drop),
    ] {
        match result {
            Err(error @ Error::InvalidInput { .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains("step 'huge'") || message.contains("step 'one'"),
                    "{message}"
                );
                assert!(message.contains("at most 1000000000 bytes"), "{message}");
            }
            other => return Err(format!("expected InvalidInput, got {other:?}").into()),
        }
    }
    assert_eq!(registry.revision()?, revision, "nothing was written");
    assert_eq!(registry.list_step_names()?, ["one", "two", "three", "four"]);
    Ok(())
}

#[test]
fn a_role_without_the_privileges_it_needs_gets_permission_denied_and_nothing_half_made()
-> TestResult {
    let Some(server) = pg_cluster::owned_server("permission_denied")? else {
        return Ok(());
    };
    let url = server.database("permission_denied")?;
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    // A role that may log in and read, but not create tables (PostgreSQL 15 no longer lets
    // every role create in the schema `public`) nor write.
    admin.batch_execute(
        "DO $$ BEGIN CREATE ROLE pd_limited LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
    )?;
    let limited = url.replacen("postgres://postgres@", "postgres://pd_limited@", 1);
    let refused = RegistryManager::connect(&limited);
    let message = refused
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(
        server_kind(refused)?,
        ServerErrorKind::PermissionDenied,
        "{message}"
    );
    assert!(message.contains("lacks a privilege"), "{message}");
    assert_eq!(pg_cluster::registry_tables(&url)?, 0, "nothing half-made");
    // The owner creates the registry; the role may read it, and its writes are refused.
    let owner = RegistryManager::connect(&url)?;
    owner.get_registry("ml")?.register("load", &spec("Load"))?;
    admin.batch_execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO pd_limited")?;
    let reader = RegistryManager::connect(&limited)?;
    let registry = reader.get_registry("ml")?;
    assert!(registry.get_specification("load")?.is_some());
    let write = registry.register("train", &spec("Train"));
    assert_eq!(server_kind(write)?, ServerErrorKind::PermissionDenied);
    assert_eq!(owner.get_registry("ml")?.list_step_names()?, ["load"]);
    Ok(())
}
