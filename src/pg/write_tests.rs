//! The one-statement writes of `src/pg/write.rs` (since schema version 2) leave exactly
//! the rows the transaction-per-step writer they replace on the hot path leaves (by hand
//! and for random write sequences), and a version-1 database is upgraded.

use super::{PgStore, TestResult, fresh, pg_cluster, raw, register, server_kind, spec};
use crate::codec;
use crate::error::{Error, ServerErrorKind};
use crate::manager::DEFAULT_CONNECTIONS;
use crate::pg::migrate::{MIGRATIONS, PG_SCHEMA_VERSION};
use crate::spec::StepSpecification;

/// Every row of context `name` but its id: specs, the type index and the catalog counters.
fn rows(url: &str, name: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut client = raw(url)?;
    let mut out = Vec::new();
    for row in client.query(
        "SELECT s.step_name, s.position, s.step_type, encode(s.record, 'hex') \
         FROM pd_specs s JOIN pd_contexts c ON c.id = s.context_id \
         WHERE c.name = $1 ORDER BY s.position",
        &[&name],
    )? {
        let (step, position): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        let (step_type, record): (String, String) = (row.try_get(2)?, row.try_get(3)?);
        out.push(format!("spec {step} {position} {step_type} {record}"));
    }
    for row in client.query(
        "SELECT t.step_type, t.first_position, t.step_count \
         FROM pd_step_types t JOIN pd_contexts c ON c.id = t.context_id \
         WHERE c.name = $1 ORDER BY t.first_position",
        &[&name],
    )? {
        let (step_type, first, count): (String, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        out.push(format!("type {step_type} {first} {count}"));
    }
    let row = client.query_one(
        "SELECT step_count, step_type_count, next_position, revision FROM pd_contexts \
         WHERE name = $1",
        &[&name],
    )?;
    let counters: Vec<i64> = (0..4)
        .map(|i| row.try_get(i))
        .collect::<Result<_, postgres::Error>>()?;
    out.push(format!("catalog {counters:?}"));
    Ok(out)
}

#[test]
fn the_write_functions_leave_exactly_what_the_step_by_step_writer_leaves() -> TestResult {
    let Some((store, url)) = fresh("write_functions_equivalence")? else {
        return Ok(());
    };
    let old = register(&store, "old", &[])?;
    let new = register(&store, "new", &[])?;
    let (a, b, c) = (
        spec("Train", "out"),
        spec("Eval", "m"),
        spec("Package", "p"),
    );
    // The step-by-step writer, one transaction per call, as the registry used to write.
    let put = |items: &[(&str, &StepSpecification)], replace| {
        store.write("old writer", |w| {
            let mut ctx = w.context("old", old)?;
            for (step, spec) in items {
                ctx.put(step, spec, replace)?;
            }
            ctx.finish().map(drop)
        })
    };
    put(&[("s1", &a)], false)?;
    put(&[("s2", &b), ("s3", &a)], false)?;
    put(&[("s1", &c)], true)?;
    put(&[("s2", &b), ("s4", &c)], true)?;
    store.write("old writer", |w| {
        let mut ctx = w.context("old", old)?;
        assert!(ctx.remove("s3")?);
        ctx.finish().map(drop)
    })?;
    store.write("old writer", |w| {
        let mut ctx = w.context("old", old)?;
        assert!(!ctx.remove("gone")?);
        ctx.finish().map(drop)
    })?;
    // In one transaction, a type that appears, goes with its last step and appears again
    // (the writer keeps the index's changes until `finish`).
    let (gone, other) = (spec("Vanishing", "v"), spec("Other", "o"));
    store.write("old writer", |w| {
        let mut ctx = w.context("old", old)?;
        ctx.put("s5", &gone, false)?;
        ctx.put("s5", &other, true)?;
        ctx.put("s6", &gone, false)?;
        ctx.put("s7", &gone, false)?;
        assert!(ctx.remove("s6")?);
        ctx.finish().map(drop)
    })?;
    // One batch that replaces as it goes, in one transaction: a type that goes (Other, with
    // s5) and comes back, one that arrives (Train), and new steps of known types, which the
    // function counts at the end of the call or before the next change of a step's type.
    let batch = [
        ("s8", &b),
        ("s5", &gone),
        ("s9", &other),
        ("s10", &other),
        ("s11", &b),
        ("s2", &a),
        ("s12", &a),
    ];
    put(&batch, true)?;
    // The same calls through the functions.
    store.put_steps("new writer", "new", new, &[("s1", &a)], false)?;
    store.put_steps("new writer", "new", new, &[("s2", &b), ("s3", &a)], false)?;
    store.put_steps("new writer", "new", new, &[("s1", &c)], true)?;
    store.put_steps("new writer", "new", new, &[("s2", &b), ("s4", &c)], true)?;
    assert!(store.remove_step("new writer", "new", new, "s3")?);
    assert!(!store.remove_step("new writer", "new", new, "gone")?);
    store.put_steps("new writer", "new", new, &[("s5", &gone)], false)?;
    store.put_steps("new writer", "new", new, &[("s5", &other)], true)?;
    store.put_steps(
        "new writer",
        "new",
        new,
        &[("s6", &gone), ("s7", &gone)],
        false,
    )?;
    assert!(store.remove_step("new writer", "new", new, "s6")?);
    store.put_steps("new writer", "new", new, &batch, true)?;
    let expected = rows(&url, "old")?;
    let mut functions = rows(&url, "new")?;
    // Revisions differ by the number of transactions; everything else is the same.
    let (expected_catalog, catalog) = (expected.last().cloned(), functions.pop());
    assert_eq!(functions, expected[..expected.len() - 1]);
    assert_eq!(expected_catalog.as_deref(), Some("catalog [10, 5, 20, 9]"));
    // 11: the removal of a step that is not there writes nothing, not even a revision.
    assert_eq!(catalog.as_deref(), Some("catalog [10, 5, 20, 11]"));
    Ok(())
}

#[test]
fn a_batch_updates_each_types_row_once_whatever_its_size() -> TestResult {
    let Some((store, url)) = fresh("write_functions_batch_types")? else {
        return Ok(());
    };
    let id = i64::try_from(register(&store, "ml", &[("first", "T")])?)?;
    // 1,000 new steps in one call, alternating a known type (T) and a new one (U).
    let (t, u) = (spec("T", "out"), spec("U", "out"));
    let steps: Vec<String> = (0..1000).map(|i| format!("s{i}")).collect();
    let specs: Vec<&StepSpecification> = (0..1000)
        .map(|i| if i % 2 == 0 { &t } else { &u })
        .collect();
    let types: Vec<&str> = specs.iter().map(|s| s.step_type.as_str()).collect();
    let tails: Vec<Vec<u8>> = specs.iter().map(|s| codec::encode_step_tail(s)).collect();
    let mut client = raw(&url)?;
    let mut tx = client.transaction()?;
    let new: i64 = tx
        .query_one(
            "SELECT pd_put_steps('ml', $1, false, $2, $3, $4)",
            &[&id, &steps, &types, &tails],
        )?
        .try_get(0)?;
    // This transaction's own row updates so far: T's row once, U's (inserted by its first
    // step) once; the step-per-update function of version 3 made 999.
    let updated: i64 = tx
        .query_one(
            "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'pd_step_types'",
            &[],
        )?
        .try_get(0)?;
    tx.commit()?;
    assert_eq!((new, updated), (1000, 2));
    let counts: Vec<(String, i64)> = client
        .query(
            "SELECT step_type, step_count FROM pd_step_types ORDER BY first_position",
            &[],
        )?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, postgres::Error>>()?;
    assert_eq!(counts, [("T".to_owned(), 501), ("U".to_owned(), 500)]);
    Ok(())
}

#[test]
fn the_server_puts_the_position_into_the_record_as_the_codec_does() -> TestResult {
    let Some((_, url)) = fresh("write_functions_record")? else {
        return Ok(());
    };
    let mut client = raw(&url)?;
    let spec = spec("Train", "out");
    let tail = codec::encode_step_tail(&spec);
    for seq in [
        0_u64,
        1,
        127,
        128,
        300,
        16_383,
        16_384,
        1 << 35,
        i64::MAX as u64,
    ] {
        let row = client.query_one(
            "SELECT pd_step_record($1, $2)",
            &[&i64::try_from(seq)?, &tail],
        )?;
        let record: Vec<u8> = row.try_get(0)?;
        assert_eq!(record, codec::encode_step(seq, &spec, 0), "seq {seq}");
    }
    Ok(())
}

#[test]
fn a_refused_write_applies_nothing_and_names_the_taken_step() -> TestResult {
    let Some((store, url)) = fresh("write_functions_refused")? else {
        return Ok(());
    };
    let id = register(&store, "ml", &[("kept", "T")])?;
    let before = rows(&url, "ml")?;
    let (t, u) = (spec("T", "out"), spec("U", "out"));
    for items in [
        vec![("kept", &t)],
        vec![("new", &u), ("kept", &t)],
        vec![("twice", &u), ("twice", &u)],
    ] {
        let step = items.last().map(|(s, _)| *s).unwrap_or_default();
        match store.put_steps("refused", "ml", id, &items, false) {
            Err(Error::AlreadyRegistered {
                context,
                step: taken,
            }) => {
                assert_eq!((context.as_str(), taken.as_str()), ("ml", step));
            }
            other => return Err(format!("expected AlreadyRegistered, got {other:?}").into()),
        }
        assert_eq!(rows(&url, "ml")?, before, "nothing applied");
    }
    // A stale handle: cleared, then cleared and created again under the same name.
    store.write("reset", |w| w.reset_context("ml", id))?;
    store.write("drop", |w| w.drop_context("ml"))?;
    let fresh_id = register(&store, "ml", &[])?;
    assert_ne!(fresh_id, id);
    let stale = store.put_steps("stale", "ml", id, &[("a", &t)], false);
    assert!(
        matches!(stale, Err(Error::ContextCleared { .. })),
        "{stale:?}"
    );
    let stale = store.put_steps("stale", "ml", id, &[("a", &t), ("b", &t)], true);
    assert!(
        matches!(stale, Err(Error::ContextCleared { .. })),
        "{stale:?}"
    );
    let stale = store.remove_step("stale", "ml", id, "a");
    assert!(
        matches!(stale, Err(Error::ContextCleared { .. })),
        "{stale:?}"
    );
    let gone = store.put_steps("gone", "nothing", 1, &[("a", &t)], false);
    assert!(
        matches!(gone, Err(Error::ContextCleared { .. })),
        "{gone:?}"
    );
    Ok(())
}

#[test]
fn a_one_statement_write_runs_at_read_committed_whatever_the_default() -> TestResult {
    let Some((_, url)) = fresh("write_functions_isolation")? else {
        return Ok(());
    };
    let store = PgStore::connect(
        &format!("{url}?options=-c%20default_transaction_isolation%3Dserializable"),
        false,
        DEFAULT_CONNECTIONS,
    )?;
    let id = register(&store, "ml", &[])?;
    store.put_steps("write", "ml", id, &[("a", &spec("T", "out"))], false)?;
    // Called in another isolation level, the function refuses instead of risking
    // serialization failures.
    let mut client = raw(&url)?;
    let mut txn = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()?;
    let refused = txn.query_one(
        "SELECT pd_remove_step('ml', $1, 'a')",
        &[&i64::try_from(id)?],
    );
    let code = refused
        .as_ref()
        .err()
        .and_then(|e| e.as_db_error())
        .map(|db| db.code().code().to_owned());
    assert_eq!(code.as_deref(), Some("PD004"), "{refused:?}");
    Ok(())
}

#[test]
fn a_one_statement_write_that_times_out_applies_nothing() -> TestResult {
    let Some((_, url)) = fresh("write_functions_timeout")? else {
        return Ok(());
    };
    let store = PgStore::connect(
        &format!("{url}?options=-c%20lock_timeout%3D300"),
        false,
        DEFAULT_CONNECTIONS,
    )?;
    let id = register(&store, "ml", &[("a", "T")])?;
    let mut blocker = raw(&url)?;
    let mut held = blocker.transaction()?;
    held.query(
        "SELECT id FROM pd_contexts WHERE name = 'ml' FOR UPDATE",
        &[],
    )?;
    for items in [1, 2] {
        let steps = [("b", &spec("T", "out")), ("c", &spec("T", "out"))];
        let blocked = store.put_steps("blocked write", "ml", id, &steps[..items], false);
        let message = blocked
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert_eq!(server_kind(blocked)?, ServerErrorKind::StatementTimeout);
        assert!(message.contains("nothing of it was applied"), "{message}");
    }
    held.rollback()?;
    let names = store.read("check", |r| r.context("ml", id)?.names())?;
    assert_eq!(names, ["a"]);
    Ok(())
}

#[test]
fn a_version_1_database_is_upgraded_by_its_first_opener() -> TestResult {
    let Some(server) = pg_cluster::server("upgrade_v1")? else {
        return Ok(());
    };
    let url = server.database("upgrade_v1")?;
    // What a build of schema version 1 left behind: migration 1 only, and a registered step.
    let mut client = raw(&url)?;
    client.batch_execute(MIGRATIONS[0].1)?;
    client.batch_execute(
        "INSERT INTO pd_meta (key, value) VALUES ('schema_version', '1'); \
         INSERT INTO pd_contexts (name, step_count, step_type_count, revision, next_position) \
         VALUES ('ml', 1, 1, 1, 2)",
    )?;
    let old = spec("T", "out");
    let record = codec::encode_step(0, &old, 0);
    client.execute(
        "INSERT INTO pd_specs (context_id, step_name, position, step_type, record) \
         SELECT id, 'old', 0, 'T', $1 FROM pd_contexts WHERE name = 'ml'",
        &[&record],
    )?;
    client.execute(
        "INSERT INTO pd_step_types (context_id, step_type, first_position, step_count) \
         SELECT id, 'T', 1, 1 FROM pd_contexts WHERE name = 'ml'",
        &[],
    )?;
    let functions = "SELECT count(*) FROM pg_proc WHERE proname = 'pd_put_steps'";
    assert_eq!(client.query_one(functions, &[])?.try_get::<_, i64>(0)?, 0);

    let store = PgStore::connect(&url, false, DEFAULT_CONNECTIONS)?;
    let version: String = client
        .query_one(
            "SELECT value FROM pd_meta WHERE key = 'schema_version'",
            &[],
        )?
        .try_get(0)?;
    assert_eq!(version, PG_SCHEMA_VERSION.to_string());
    assert_eq!(PG_SCHEMA_VERSION, 4);
    assert_eq!(client.query_one(functions, &[])?.try_get::<_, i64>(0)?, 1);
    let version_4 = "SELECT count(*) FROM pg_proc \
                     WHERE proname IN ('pd_count_noted_types', 'pd_put_step')";
    assert_eq!(client.query_one(version_4, &[])?.try_get::<_, i64>(0)?, 2);
    let spec_keys = "SELECT count(*) FROM pg_constraint \
                     WHERE conrelid = 'pd_specs'::regclass AND contype = 'f'";
    assert_eq!(client.query_one(spec_keys, &[])?.try_get::<_, i64>(0)?, 0);
    let id = store.read("check", |r| r.context_entry("ml", 1).map(|e| e.id))?;
    store.put_steps(
        "after upgrade",
        "ml",
        id,
        &[("new", &spec("U", "out"))],
        false,
    )?;
    let (names, old_spec) = store.read("check", |r| {
        let mut ctx = r.context("ml", id)?;
        Ok((ctx.names()?, ctx.get("old")?))
    })?;
    assert_eq!(names, ["old", "new"]);
    assert_eq!(old_spec, Some(old));
    // Opening it again changes nothing; a newer version than this build knows is refused.
    drop(PgStore::connect(&url, false, DEFAULT_CONNECTIONS)?);
    client.execute(
        "UPDATE pd_meta SET value = $1 WHERE key = 'schema_version'",
        &[&(PG_SCHEMA_VERSION + 1).to_string()],
    )?;
    match PgStore::connect(&url, false, DEFAULT_CONNECTIONS) {
        Err(Error::SchemaTooNew { found, .. }) => assert_eq!(found, PG_SCHEMA_VERSION + 1),
        other => return Err(format!("expected SchemaTooNew, got {other:?}").into()),
    }
    Ok(())
}

/// One write of the random sequences below: a batch of `(step, type, variant)` items, or the
/// removal of a step.
#[derive(Clone, Debug)]
enum Write {
    Put(Vec<(u8, u8, u8)>, bool),
    Remove(u8),
}

fn write_strategy() -> impl proptest::strategy::Strategy<Value = Write> {
    use proptest::prelude::*;
    let item = (0_u8..6, 0_u8..3, 0_u8..2);
    prop_oneof![
        4 => (proptest::collection::vec(item, 1..5), any::<bool>())
            .prop_map(|(items, replace)| Write::Put(items, replace)),
        1 => (0_u8..6).prop_map(Write::Remove),
    ]
}

#[test]
fn random_write_sequences_leave_exactly_what_the_step_by_step_writer_leaves() -> TestResult {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let Some((store, url)) = fresh("write_functions_random")? else {
        return Ok(());
    };
    let case = std::cell::Cell::new(0_u32);
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(write_strategy(), 1..10);
    let outcome = runner.run(&strategy, |writes| {
        case.set(case.get() + 1);
        let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
        let (old_name, new_name) = (format!("old{}", case.get()), format!("new{}", case.get()));
        let old = register(&store, &old_name, &[]).map_err(|e| fail(&e))?;
        let new = register(&store, &new_name, &[]).map_err(|e| fail(&e))?;
        for write in &writes {
            let (by_steps, by_functions) = match write {
                Write::Put(items, replace) => {
                    let owned: Vec<(String, StepSpecification)> = items
                        .iter()
                        .map(|(s, t, v)| {
                            (format!("s{s}"), spec(&format!("T{t}"), &format!("o{v}")))
                        })
                        .collect();
                    let items: Vec<(&str, &StepSpecification)> =
                        owned.iter().map(|(s, spec)| (s.as_str(), spec)).collect();
                    let by_steps = store.write("old writer", |w| {
                        let mut ctx = w.context(&old_name, old)?;
                        for (step, spec) in &items {
                            ctx.put(step, spec, *replace)?;
                        }
                        // An upsert of what the steps hold already writes nothing.
                        if ctx.changed() {
                            ctx.finish()?;
                        }
                        Ok(())
                    });
                    let by_functions =
                        store.put_steps("new writer", &new_name, new, &items, *replace);
                    (by_steps, by_functions)
                }
                Write::Remove(step) => {
                    let step = format!("s{step}");
                    // A step that is not there: nothing is written (as on a file).
                    let by_steps = store.write("old writer", |w| {
                        let mut ctx = w.context(&old_name, old)?;
                        if ctx.remove(&step)? {
                            ctx.finish()?;
                        }
                        Ok(())
                    });
                    let by_functions = store
                        .remove_step("new writer", &new_name, new, &step)
                        .map(drop);
                    (by_steps, by_functions)
                }
            };
            // Both refuse the same writes (a taken name), naming the same step.
            let outcome = |r: &crate::Result<()>| match r {
                Ok(()) => "ok".to_owned(),
                Err(Error::AlreadyRegistered { step, .. }) => format!("taken {step}"),
                Err(e) => format!("other {e}"),
            };
            proptest::prop_assert_eq!(outcome(&by_steps), outcome(&by_functions), "{:?}", write);
            let expected = rows(&url, &old_name).map_err(|e| fail(&e))?;
            let found = rows(&url, &new_name).map_err(|e| fail(&e))?;
            proptest::prop_assert_eq!(expected, found, "after {:?}", write);
        }
        Ok(())
    });
    outcome.map_err(|e| format!("{e}").into())
}
