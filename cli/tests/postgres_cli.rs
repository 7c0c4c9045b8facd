//! Invariant: the binary works on a PostgreSQL registry as on a file. `--db postgres://…`
//! (and `PIPELINE_DEPS_DB`) reach the server for every command; `copy` moves every context
//! from a file to a server and back, each context whole, and run again skips the contexts
//! already there with the same steps, says each context as it is committed and never merges
//! into a context another writer fills meanwhile; `check` and `compact` say they apply to
//! files only; a read command (or `clear`) on a database without a registry says there is
//! none and creates nothing. Connecting (URLs, passwords, libpq's variables, server errors'
//! JSON kinds) is in `postgres_cli_connect.rs`.
#![cfg(feature = "postgres")]

#[path = "../../tests/support/pg_cluster.rs"]
mod pg_cluster;

mod common;
mod postgres_cli_common;

use std::process::Command;

use serde_json::Value;

use common::{BIN, TestResult};
use postgres_cli_common::{database, json, run};

/// `contexts --json` without the `database` key (which names the file or the server).
fn contexts(db: &str) -> TestResult<Value> {
    let mut doc = json(&run(&["--db", db, "--json", "contexts"], &[])?)?;
    doc.as_object_mut().map(|o| o.remove("database"));
    Ok(doc)
}

#[test]
fn copy_moves_every_context_to_the_server_and_back() -> TestResult {
    let Some(url) = database("copy_round_trip")? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("registry.redb");
    let file = file.to_str().ok_or("path")?;
    assert_eq!(run(&["--db", file, "demo"], &[])?.code, 0);

    let report = json(&run(
        &["--json", "copy", "--from", file, "--to", &url],
        &[],
    )?)?;
    assert_eq!(report["schema"], "pipeline-deps/copy/v1");
    assert_eq!(report["context_count"], 3);
    assert_eq!(contexts(&url)?, contexts(file)?);

    let back = dir.path().join("back.redb");
    let back = back.to_str().ok_or("path")?;
    // --from defaults to the database --db names.
    assert_eq!(run(&["--db", &url, "copy", "--to", back], &[])?.code, 0);
    assert_eq!(contexts(back)?, contexts(file)?);
    for context in ["fraud_detection_training", "unit_tests"] {
        let export = |db: &str| -> TestResult<String> {
            let out = run(&["--db", db, "export", context], &[])?;
            assert_eq!(out.code, 0, "{}", out.stderr);
            Ok(out.stdout)
        };
        assert_eq!(
            export(file)?,
            export(&url)?,
            "{context}: same specs, same order"
        );
        assert_eq!(export(file)?, export(back)?);
    }

    // Run again, it finds every context there with the same steps and copies nothing.
    let again = json(&run(
        &["--json", "copy", "--from", file, "--to", &url],
        &[],
    )?)?;
    assert_eq!(again["context_count"], 0, "{again}");
    assert_eq!(again["skipped"].as_array().map(Vec::len), Some(3));
    assert_eq!(contexts(&url)?, contexts(file)?, "nothing was copied twice");
    Ok(())
}

#[test]
fn every_command_reaches_the_server_and_file_only_ones_say_they_do_not_apply() -> TestResult {
    let Some(url) = database("commands_on_the_server")? else {
        return Ok(());
    };
    assert_eq!(run(&["--db", &url, "demo"], &[])?.code, 0);
    let stats = json(&run(&["--json", "stats"], &[("PIPELINE_DEPS_DB", &url)])?)?;
    assert_eq!(stats["contexts"].as_array().map(Vec::len), Some(3));
    assert!(
        stats["file_size_bytes"].is_null(),
        "a server has no file: {stats}"
    );
    let human = run(&["--db", &url, "stats"], &[])?;
    assert!(!human.stdout.contains("file size"), "{}", human.stdout);
    // URL schemes have no case: never taken for a file name.
    let upper = url.replacen("postgres://", "POSTGRES://", 1);
    let again = json(&run(&["--db", &upper, "--json", "contexts"], &[])?)?;
    assert_eq!(again["contexts"].as_array().map(Vec::len), Some(3));
    let show = run(&["--db", &url, "show", "unit_tests"], &[])?;
    assert_eq!(show.code, 0, "{}", show.stderr);
    let resolve = run(&["--db", &url, "resolve", "fraud_detection_training"], &[])?;
    assert_eq!(resolve.code, 0, "{}", resolve.stderr);
    for command in ["compact", "check"] {
        let out = run(&["--db", &url, command], &[])?;
        assert_eq!(out.code, 2, "{command}: {}", out.stderr);
        assert!(
            out.stderr.contains("applies only to a registry file"),
            "{command}: {}",
            out.stderr
        );
    }
    let clear = run(&["--db", &url, "clear", "unit_tests"], &[])?;
    assert_eq!(clear.code, 0, "{}", clear.stderr);
    assert_eq!(
        json(&run(&["--db", &url, "--json", "contexts"], &[])?)?["contexts"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    Ok(())
}

#[test]
fn read_commands_on_a_database_without_a_registry_create_nothing() -> TestResult {
    let Some(url) = database("read_commands_create_nothing")? else {
        return Ok(());
    };
    let tables = || pg_cluster::registry_tables(&url);
    // A snapshot of a context `ml` (taken from a file) for check-snapshot, and the path a
    // refused snapshot must not write.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("registry.redb");
    let file = file.to_str().ok_or("path")?;
    assert_eq!(run(&["--db", file, "demo"], &[])?.code, 0);
    let frozen = dir.path().join("frozen.json");
    let frozen = frozen.to_str().ok_or("path")?;
    let taken = run(&["--db", file, "snapshot", "unit_tests", "-o", frozen], &[])?;
    assert_eq!(taken.code, 0, "{}", taken.stderr);
    let unwritten = dir.path().join("unwritten.json");
    let unwritten = unwritten.to_str().ok_or("path")?;
    for command in [
        vec!["contexts"],
        vec!["stats"],
        vec!["show", "ml"],
        vec!["types", "ml"],
        vec!["export", "ml"],
        vec!["resolve", "ml"],
        vec!["snapshot", "ml", "-o", unwritten],
        vec!["check-snapshot", "ml", frozen],
    ] {
        let mut args = vec!["--db", url.as_str(), "--json"];
        args.extend(&command);
        let out = run(&args, &[])?;
        assert_eq!(out.code, 3, "{command:?}: {}", out.stderr);
        let error: Value = serde_json::from_str(&out.stderr)?;
        assert_eq!(error["kind"], "no_database", "{command:?}: {error}");
        assert_eq!(tables()?, 0, "{command:?} created tables");
    }
    assert!(!std::path::Path::new(unwritten).exists());
    // Commands that only change an existing registry do not create one either.
    for command in [vec!["clear", "ml"], vec!["clear-all", "--yes"]] {
        let mut args = vec!["--db", url.as_str(), "--json"];
        args.extend(&command);
        let out = run(&args, &[])?;
        assert_eq!(out.code, 3, "{command:?}: {}", out.stderr);
        assert_eq!(tables()?, 0, "{command:?} created tables");
    }
    assert_eq!(run(&["--db", &url, "demo"], &[])?.code, 0);
    assert!(tables()? > 0);
    assert_eq!(
        contexts(&url)?["contexts"].as_array().map(Vec::len),
        Some(3)
    );
    Ok(())
}

/// A registry file (`registry.redb` in the returned directory) holding contexts `first` and
/// `second`, one step each, and the spec of that step.
fn two_context_source() -> TestResult<(tempfile::TempDir, pipeline_deps::StepSpecification)> {
    let dir = tempfile::tempdir()?;
    let source = pipeline_deps::RegistryManager::open(dir.path().join("registry.redb"))?;
    let spec = pipeline_deps::StepSpecification::new("Train", pipeline_deps::NodeType::Singular);
    for context in ["first", "second"] {
        source.get_registry(context)?.register("train", &spec)?;
    }
    Ok((dir, spec))
}

#[test]
fn copy_says_each_context_as_it_is_copied_and_refuses_one_another_writer_fills_meanwhile()
-> TestResult {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Duration;

    let Some(url) = database("copy_race")? else {
        return Ok(());
    };
    let (dir, spec) = two_context_source()?;
    let file = dir.path().join("registry.redb");
    let file = file.to_str().ok_or("path")?;
    // The target holds `second`, empty; a transaction holds its catalog row, and another
    // writer's register into it waits for that row first.
    let target = pipeline_deps::RegistryManager::connect(&url)?;
    target.get_registry("second")?;
    let mut holder = postgres::Client::connect(&url, postgres::NoTls)?;
    let mut held = holder.transaction()?;
    held.execute(
        "SELECT 1 FROM pd_contexts WHERE name = 'second' FOR UPDATE",
        &[],
    )?;
    let intruder = std::thread::spawn(move || {
        target
            .get_registry("second")
            .and_then(|r| r.register("intruder", &spec))
    });
    assert!(
        pg_cluster::lock_waiters(&mut held, 1)?,
        "the other writer never waited for the row"
    );

    let mut copy = Command::new(BIN)
        .args(["copy", "--from", file, "--to", &url])
        .env_remove("PIPELINE_DEPS_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = copy.stdout.take().ok_or("no stdout")?;
    let (lines, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // `first` is copied and said so while the copy waits for `second`'s row.
    let said = heard.recv_timeout(Duration::from_secs(60));
    // The copy queues for the row behind the other writer before the row is released:
    // released earlier, the copy could take it before the woken writer does (a valid order
    // too, but not the one this test is about).
    let queued = said.is_ok() && pg_cluster::lock_waiters(&mut held, 2)?;
    held.commit()?;
    assert!(queued, "the copy never queued for the row");
    assert_eq!(
        said.map_err(|_| "the copy said nothing while it waited")?,
        "copied context 'first' (1 step(s))"
    );
    intruder.join().map_err(|_| "the writer panicked")??;
    let out = copy.wait_with_output()?;
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr
            .contains("context 'second' already holds 1 step(s), so nothing was imported into it"),
        "{stderr}"
    );
    assert!(stderr.contains("run the copy again"), "{stderr}");
    // Nothing of the copy was merged into it.
    let target = pipeline_deps::RegistryManager::connect(&url)?;
    assert_eq!(
        target.get_registry("second")?.list_step_names()?,
        ["intruder"]
    );
    Ok(())
}

#[test]
fn a_copy_that_fails_on_one_context_names_it_in_its_json_error() -> TestResult {
    let Some(url) = database("copy_json_context")? else {
        return Ok(());
    };
    let (dir, _) = two_context_source()?;
    let file = dir.path().join("registry.redb");
    let file = file.to_str().ok_or("path")?;
    pipeline_deps::RegistryManager::connect(&url)?.get_registry("second")?;
    // `second`'s row is held, and the copy waits for a lock at most 300 ms.
    let mut holder = postgres::Client::connect(&url, postgres::NoTls)?;
    let mut held = holder.transaction()?;
    held.execute(
        "SELECT 1 FROM pd_contexts WHERE name = 'second' FOR UPDATE",
        &[],
    )?;
    let out = run(
        &["--json", "copy", "--from", file, "--to", &url],
        &[("PGOPTIONS", "-c lock_timeout=300")],
    )?;
    held.rollback()?;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let error: Value = serde_json::from_str(out.stderr.lines().last().ok_or("no error")?)?;
    assert_eq!(error["kind"], "statement_timeout");
    assert_eq!(error["context"], "second");
    Ok(())
}

#[test]
fn a_server_database_of_something_else_is_no_registry_with_a_hint_that_applies() -> TestResult {
    let Some(url) = database("foreign_pd_meta")? else {
        return Ok(());
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    client.batch_execute("CREATE TABLE pd_meta (x int)")?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("registry.redb");
    let file = file.to_str().ok_or("path")?;
    pipeline_deps::RegistryManager::open(file)?.get_registry("ml")?;
    for args in [
        vec!["copy", "--from", file, "--to", &url],
        vec!["--db", &url, "contexts"],
    ] {
        let out = run(&args, &[])?;
        assert_eq!(out.code, 3, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("not a pipeline-deps registry's")
                && out
                    .stderr
                    .contains("hint: use a database that holds a pipeline-deps registry")
                && !out.stderr.contains("check"),
            "{args:?}: {}",
            out.stderr
        );
    }
    Ok(())
}

#[test]
fn a_schema_upgrade_is_logged_and_a_wait_for_another_upgrade_is_said() -> TestResult {
    let Some(url) = database("schema_upgrade_log")? else {
        return Ok(());
    };
    // What a build of schema version 3 left: its three migrations and their version.
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    for migration in [
        include_str!("../../migrations/postgres/0001_initial.sql"),
        include_str!("../../migrations/postgres/0002_write_functions.sql"),
        include_str!("../../migrations/postgres/0003_specs_without_foreign_key.sql"),
    ] {
        client.batch_execute(migration)?;
    }
    client.batch_execute("INSERT INTO pd_meta (key, value) VALUES ('schema_version', '3')")?;
    let version = |client: &mut postgres::Client| -> TestResult<String> {
        Ok(client
            .query_one(
                "SELECT value FROM pd_meta WHERE key = 'schema_version'",
                &[],
            )?
            .try_get(0)?)
    };

    // Another session holds the migration lock: the writer says that it waits (here until
    // its lock_timeout), and the database stays as it was.
    let mut holder = postgres::Client::connect(&url, postgres::NoTls)?;
    holder.execute("SELECT pg_advisory_lock(x'7069706564657073'::bigint)", &[])?;
    let waited = run(
        &["--db", &url, "clear", "none"],
        &[("PGOPTIONS", "-c lock_timeout=300")],
    )?;
    assert_eq!(waited.code, 3, "{}", waited.stderr);
    assert!(
        waited.stderr.contains(
            "waiting for another connection's creation or upgrade of the registry's schema"
        ),
        "{}",
        waited.stderr
    );
    assert_eq!(version(&mut client)?, "3");
    drop(holder);

    // Any writer upgrades it, and says so at -v (older builds refuse it from then on).
    let upgraded = run(&["-v", "--db", &url, "clear", "none"], &[])?;
    assert_eq!(upgraded.code, 0, "{}", upgraded.stderr);
    assert!(
        upgraded
            .stderr
            .contains("upgraded the registry's schema from version 3 to 4"),
        "{}",
        upgraded.stderr
    );
    assert_eq!(version(&mut client)?, "4");
    Ok(())
}
