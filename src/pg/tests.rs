//! The PostgreSQL storage layer against a throw-away cluster (`tests/support/pg_cluster.rs`):
//! schema versioning, the catalog and context lifecycle, exact counters and index, records
//! identical to the redb store's, all-or-nothing writes; the error kinds of an unreachable,
//! refusing, timing-out or restarting server are in `server_error_tests.rs`. Without
//! PostgreSQL each test prints a `SKIPPED` notice (a failure under
//! `PIPELINE_DEPS_REQUIRE_PG=1`).

#[path = "auth_tests.rs"]
mod auth_tests;
#[path = "label_tests.rs"]
mod label_tests;
#[path = "../../tests/support/pg_cluster.rs"]
mod pg_cluster;
#[path = "pool_tests.rs"]
mod pool_tests;
#[path = "server_error_tests.rs"]
mod server_error_tests;
#[path = "write_tests.rs"]
mod write_tests;

use super::PgStore;
use super::migrate::PG_SCHEMA_VERSION;
use crate::codec::{self, StepRecordV1};
use crate::error::{Error, ServerErrorKind};
use crate::manager::DEFAULT_CONNECTIONS;
use crate::spec::{DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fresh database and a store connected to it, or `None` when the test is skipped.
fn fresh(test: &str) -> Result<Option<(PgStore, String)>, Box<dyn std::error::Error>> {
    let Some(server) = pg_cluster::server(test)? else {
        return Ok(None);
    };
    let url = server.database(test)?;
    Ok(Some((
        PgStore::connect(&url, false, DEFAULT_CONNECTIONS)?,
        url,
    )))
}

fn raw(url: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(url, postgres::NoTls)
}

fn spec(step_type: &str, output: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Internal)
        .with_dependency(
            DependencySpec::new("input_data", DependencyType::ProcessingOutput)
                .with_keywords(["data", "input"]),
        )
        .with_output(
            OutputSpec::new(output, DependencyType::ProcessingOutput, "properties.Out")
                .with_aliases(["alias"]),
        )
}

/// Registers `steps` (name, type) into `context`, creating it; returns the context id.
fn register(store: &PgStore, context: &str, steps: &[(&str, &str)]) -> crate::Result<u64> {
    store.write("test write", |w| {
        let (entry, _) = w.create_context(context)?;
        let mut ctx = w.context(context, entry.id)?;
        for (step, step_type) in steps {
            ctx.put(step, &spec(step_type, "out"), false)?;
        }
        ctx.finish()?;
        Ok(entry.id)
    })
}

#[test]
fn concurrent_first_openers_create_the_schema_once() -> TestResult {
    let Some((_, url)) = fresh("concurrent_first_openers")? else {
        return Ok(());
    };
    // A fresh database for racing openers: the one above is already migrated.
    let Some(server) = pg_cluster::server("concurrent_first_openers")? else {
        return Ok(());
    };
    let url2 = server.database("concurrent_first_openers_2")?;
    let openers: Vec<_> = (0..6)
        .map(|_| {
            let url = url2.clone();
            std::thread::spawn(move || PgStore::connect(&url, false, DEFAULT_CONNECTIONS).map(drop))
        })
        .collect();
    for opener in openers {
        opener.join().map_err(|_| "opener thread panicked")??;
    }
    for url in [url, url2] {
        let rows = raw(&url)?.query("SELECT key, value FROM pd_meta", &[])?;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].try_get::<_, String>(1)?,
            PG_SCHEMA_VERSION.to_string()
        );
    }
    Ok(())
}

#[test]
fn a_newer_schema_or_a_foreign_pd_meta_is_refused() -> TestResult {
    let Some((_, url)) = fresh("newer_schema")? else {
        return Ok(());
    };
    let mut client = raw(&url)?;
    client.execute(
        "UPDATE pd_meta SET value = '99' WHERE key = 'schema_version'",
        &[],
    )?;
    match PgStore::connect(&url, false, DEFAULT_CONNECTIONS) {
        Err(Error::SchemaTooNew {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (99, PG_SCHEMA_VERSION));
        }
        other => return Err(format!("expected SchemaTooNew, got {other:?}").into()),
    }
    client.execute("DELETE FROM pd_meta", &[])?;
    let refused = PgStore::connect(&url, false, DEFAULT_CONNECTIONS);
    assert!(
        matches!(refused, Err(Error::NotARegistry { .. })),
        "{refused:?}"
    );
    // A pd_meta table of something else (other columns, or other types): no registry
    // either, for a writer and a reader, and nothing is created.
    for table in ["(x int)", "(key text PRIMARY KEY, value int)"] {
        client.batch_execute(&format!(
            "DROP TABLE pd_meta CASCADE; CREATE TABLE pd_meta {table}"
        ))?;
        for read_only in [false, true] {
            let refused = PgStore::connect(&url, read_only, DEFAULT_CONNECTIONS);
            assert!(
                matches!(&refused, Err(Error::NotARegistry { detail, .. })
                    if detail.contains("not a pipeline-deps registry's")),
                "{table}: {refused:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn contexts_list_in_creation_order_and_ids_are_never_reused() -> TestResult {
    let Some((store, _)) = fresh("context_lifecycle")? else {
        return Ok(());
    };
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let (entry, created) = store.write("create", |w| w.create_context(name))?;
        assert!(created);
        ids.push(entry.id);
    }
    let (again, created) = store.write("create", |w| w.create_context("b"))?;
    assert!(!created);
    assert_eq!(again.id, ids[1]);
    let dropped = store.write("drop", |w| w.drop_context("b"))?;
    assert_eq!(dropped.map(|e| e.id), Some(ids[1]));
    assert_eq!(store.write("drop", |w| w.drop_context("b"))?, None);
    let (recreated, created) = store.write("create", |w| w.create_context("b"))?;
    assert!(created);
    assert!(
        recreated.id > ids[2],
        "a cleared context's id is never reused"
    );
    let names: Vec<String> = store
        .read("list", |r| r.catalog())?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["a", "c", "b"]);
    assert_eq!(
        store.write("names", |w| w.context_names())?,
        ["a", "c", "b"]
    );
    Ok(())
}

#[test]
fn clearing_a_context_leaves_no_row_of_it_behind() -> TestResult {
    let Some((store, url)) = fresh("drop_leaves_nothing")? else {
        return Ok(());
    };
    let gone = register(&store, "gone", &[("a", "T"), ("b", "U"), ("c", "T")])?;
    let kept = register(&store, "kept", &[("a", "T")])?;
    // Written through the one-statement function too.
    store.put_steps("more", "gone", gone, &[("d", &spec("V", "out"))], false)?;
    // The record as deleted: its id and the counts of the four steps, three types.
    let dropped = store.write("drop", |w| w.drop_context("gone"))?;
    assert_eq!(
        dropped.map(|e| (e.id, e.step_count, e.step_type_count)),
        Some((gone, 4, 3))
    );
    let mut client = raw(&url)?;
    for (table, context, expected) in [
        ("pd_specs", gone, 0),
        ("pd_step_types", gone, 0),
        ("pd_specs", kept, 1),
        ("pd_step_types", kept, 1),
    ] {
        let count: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE context_id = $1"),
                &[&i64::try_from(context)?],
            )?
            .try_get(0)?;
        assert_eq!(count, expected, "{table} rows of context {context}");
    }
    Ok(())
}

#[test]
fn writes_keep_the_index_and_counters_exact_and_records_match_the_redb_encoding() -> TestResult {
    let Some((store, url)) = fresh("index_and_counters")? else {
        return Ok(());
    };
    let id = register(
        &store,
        "ml",
        &[("s1", "Train"), ("s2", "Eval"), ("s3", "Train")],
    )?;
    // Replace s1 with a new type (keeps its position), remove s2 (Eval disappears).
    let entry = store.write("update", |w| {
        let mut ctx = w.context("ml", id)?;
        assert!(!ctx.put("s1", &spec("Package", "model"), true)?);
        assert!(ctx.remove("s2")?);
        assert!(!ctx.remove("s2")?);
        assert!(ctx.put("s4", &spec("Eval", "metrics"), false)?);
        ctx.finish()
    })?;
    assert_eq!(
        (entry.step_count, entry.step_type_count, entry.revision),
        (3, 3, 2)
    );
    store.read("check", |r| {
        let mut ctx = r.context("ml", id)?;
        assert_eq!(ctx.names()?, ["s1", "s3", "s4"]);
        assert_eq!(ctx.step_types()?, ["Train", "Package", "Eval"]);
        let by_type: Vec<String> = ctx.by_type("Train")?.into_iter().map(|(n, _)| n).collect();
        assert_eq!(by_type, ["s3"]);
        assert_eq!(ctx.get("s1")?, Some(spec("Package", "model")));
        assert_eq!(ctx.get("s2")?, None);
        assert!(ctx.contains("s4")? && !ctx.contains("s2")?);
        assert_eq!(ctx.all()?.len(), 3);
        Ok(())
    })?;
    // Counters equal a recount, and each record is byte for byte the redb store's payload.
    let mut client = raw(&url)?;
    let recount = client.query_one(
        "SELECT (SELECT count(*) FROM pd_specs WHERE context_id = $1), \
                (SELECT count(DISTINCT step_type) FROM pd_specs WHERE context_id = $1)",
        &[&i64::try_from(id)?],
    )?;
    assert_eq!(recount.try_get::<_, i64>(0)?, 3);
    assert_eq!(recount.try_get::<_, i64>(1)?, 3);
    for row in client.query("SELECT step_name, position, record FROM pd_specs", &[])? {
        let name: String = row.try_get(0)?;
        let position = u64::try_from(row.try_get::<_, i64>(1)?)?;
        let record: Vec<u8> = row.try_get(2)?;
        let expected = match name.as_str() {
            "s1" => spec("Package", "model"),
            "s3" => spec("Train", "out"),
            _ => spec("Eval", "metrics"),
        };
        let encoded = codec::encode(
            || "the expected record".into(),
            StepRecordV1::from_spec(position, &expected),
        )?;
        assert_eq!(record, encoded);
    }
    Ok(())
}

#[test]
fn reading_many_steps_at_once_equals_reading_each_and_checks_every_record() -> TestResult {
    let Some((store, url)) = fresh("get_many")? else {
        return Ok(());
    };
    let id = register(
        &store,
        "ml",
        &[("s1", "Train"), ("s2", "Eval"), ("s3", "Train")],
    )?;
    let wanted = ["s3", "missing", "s1", "s3", "s2"];
    store.read("check", |r| {
        let mut ctx = r.context("ml", id)?;
        let each = wanted
            .iter()
            .map(|step| ctx.get(step))
            .collect::<crate::Result<Vec<_>>>()?;
        assert_eq!(ctx.get_many(&wanted)?, each);
        assert_eq!(each[1], None);
        assert_eq!(each[0], Some(spec("Train", "out")));
        assert_eq!(ctx.get_many(&[])?, Vec::<Option<StepSpecification>>::new());
        Ok(())
    })?;
    // A damaged record among them is a corruption error naming its step.
    raw(&url)?.execute(
        "UPDATE pd_specs SET record = '\\x00ff'::bytea WHERE step_name = 's2'",
        &[],
    )?;
    let damaged = store.read("check", |r| r.context("ml", id)?.get_many(&wanted));
    match damaged {
        Err(Error::Corrupted { location, .. }) => assert!(location.contains("s2"), "{location}"),
        other => return Err(format!("expected a corruption error, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn a_failed_write_changes_nothing() -> TestResult {
    let Some((store, _)) = fresh("failed_write")? else {
        return Ok(());
    };
    let id = register(&store, "ml", &[("kept", "T")])?;
    let refused = store.write("duplicate", |w| {
        let mut ctx = w.context("ml", id)?;
        ctx.put("new", &spec("U", "out"), false)?;
        ctx.put("kept", &spec("T", "out"), false)?;
        ctx.finish()
    });
    assert!(
        matches!(refused, Err(Error::AlreadyRegistered { .. })),
        "{refused:?}"
    );
    let (names, entry) = store.read("check", |r| {
        let names = r.context("ml", id)?.names()?;
        Ok((names, r.context_entry("ml", id)?))
    })?;
    assert_eq!(names, ["kept"]);
    assert_eq!(
        (entry.step_count, entry.step_type_count, entry.revision),
        (1, 1, 1)
    );
    Ok(())
}

#[test]
fn a_handle_of_a_cleared_context_gets_context_cleared() -> TestResult {
    let Some((store, _)) = fresh("stale_id")? else {
        return Ok(());
    };
    let old = register(&store, "ml", &[("a", "T")])?;
    store.write("reset", |w| w.reset_context("ml", old))?;
    let entry = store.read("check", |r| r.context_entry("ml", old))?;
    assert_eq!(
        (entry.step_count, entry.step_type_count, entry.revision),
        (0, 0, 2)
    );
    store.write("drop", |w| w.drop_context("ml"))?;
    let new = register(&store, "ml", &[("b", "T")])?;
    assert_ne!(old, new);
    let read = store.read("stale read", |r| r.context("ml", old).map(drop));
    assert!(
        matches!(read, Err(Error::ContextCleared { .. })),
        "{read:?}"
    );
    let write = store.write("stale write", |w| w.context("ml", old).map(drop));
    assert!(
        matches!(write, Err(Error::ContextCleared { .. })),
        "{write:?}"
    );
    Ok(())
}

fn server_kind(result: crate::Result<impl std::fmt::Debug>) -> Result<ServerErrorKind, String> {
    match result {
        Err(Error::Server { kind, .. }) => Ok(kind),
        other => Err(format!("expected a server error, got {other:?}")),
    }
}

#[test]
fn an_empty_user_without_pguser_is_the_login_name() -> TestResult {
    let env = super::environ::Environment::of(&[], None);
    let target = super::target("postgres://:pw@db.example/reg", &env)?;
    assert_eq!(
        target.config.get_user().map(str::to_owned),
        whoami::username().ok()
    );
    Ok(())
}
