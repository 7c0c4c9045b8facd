//! Invariant: `resolve`, `snapshot` and `check-snapshot` given a list of steps, and `types`
//! given one step type, read those steps and no others, so their cost follows the list, not the context (six steps of a
//! 200,000-step context took 9.6 s and 800 MB; now milliseconds and 7 MB); `types CONTEXT`
//! reads no step record at all (the step-type index only). Observed without
//! timing: a damaged record of a step outside the list does not stop them (`types CONTEXT`
//! prints what it printed before the damage), while the same commands over every step
//! still report that record (exit 3, naming the step).

mod common;

use common::{FIXTURE, SIX, TestResult, run, s, temp};

/// The one table of the first context (schema version 3); a step's spec row is keyed
/// `b'S' ++ name`.
const ROWS_OF_FIRST_CONTEXT: redb::TableDefinition<&[u8], &[u8]> =
    redb::TableDefinition::new("pipeline_deps.ctx.1.rows");
/// A real step that none of [`SIX`] is.
const BYSTANDER: &str = "ActiveSampleSelection";

/// `words`, then the steps of [`SIX`].
fn with<'a>(words: &[&'a str]) -> Vec<&'a str> {
    words.iter().copied().chain(SIX).collect()
}

/// Overwrites [`BYSTANDER`]'s record in `db` with bytes that do not decode.
fn damage_the_bystander(db: &std::path::Path) -> TestResult {
    let file = redb::Database::create(db)?;
    let txn = file.begin_write()?;
    {
        let mut rows = txn.open_table(ROWS_OF_FIRST_CONTEXT)?;
        let key = format!("S{BYSTANDER}");
        if rows
            .insert(key.as_bytes(), [0xFF_u8; 16].as_slice())?
            .is_none()
        {
            return Err(format!("{BYSTANDER}'s record is not where the test expects it").into());
        }
    }
    txn.commit()?;
    Ok(())
}

/// Overwrites the first index chunk of [`BYSTANDER`]'s step type (the same name) in `db`
/// with bytes whose seal does not hold. A chunk key is `b'I' ++ type length (u32 BE) ++
/// type ++ chunk number (u32 BE)`.
fn damage_the_bystanders_index_chunk(db: &std::path::Path) -> TestResult {
    let file = redb::Database::create(db)?;
    let txn = file.begin_write()?;
    {
        let mut rows = txn.open_table(ROWS_OF_FIRST_CONTEXT)?;
        let mut key = vec![b'I'];
        key.extend_from_slice(&u32::try_from(BYSTANDER.len())?.to_be_bytes());
        key.extend_from_slice(BYSTANDER.as_bytes());
        key.extend_from_slice(&0_u32.to_be_bytes());
        if rows
            .insert(key.as_slice(), [0xFF_u8; 16].as_slice())?
            .is_none()
        {
            return Err(
                format!("{BYSTANDER}'s index chunk is not where the test expects it").into(),
            );
        }
    }
    txn.commit()?;
    Ok(())
}

#[test]
fn commands_about_listed_steps_read_only_those_steps() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["import", "cursus", FIXTURE])?.expect(0)?;
    damage_the_bystander(&db)?;
    // The damage is real: over every step, the commands meet it and name the step.
    let all_edges = db.with_file_name("all.json");
    let all_edges = s(&all_edges)?;
    for all in [
        &["resolve", "cursus"][..],
        &["snapshot", "cursus", "-o", all_edges],
    ] {
        let failed = run(&db, all)?.expect(3)?;
        assert!(
            failed.stderr.contains(BYSTANDER),
            "{all:?}: {}",
            failed.stderr
        );
    }

    let resolved = run(&db, &with(&["resolve", "cursus"]))?.expect(0)?;
    assert!(
        resolved
            .stdout
            .starts_with("context 'cursus': 6 step(s), 13 edge(s), 0 unresolved step(s)"),
        "{}",
        resolved.stdout
    );
    let explained = run(&db, &with(&["resolve", "cursus", "--explain", "--json"]))?
        .expect(0)?
        .json()?;
    let explain = explained["explain"].as_array().ok_or("no explain list")?;
    assert!(!explain.is_empty(), "{explained}");
    assert_eq!(explained["edges"].as_array().map(Vec::len), Some(13));

    let edges = db.with_file_name("edges.json");
    let edges = s(&edges)?;
    run(&db, &with(&["snapshot", "cursus", "-o", edges]))?.expect(0)?;
    let checked = run(&db, &["check-snapshot", "cursus", edges])?.expect(0)?;
    assert!(
        checked
            .stdout
            .contains("ok: the edge graph matches the snapshot"),
        "{}",
        checked.stdout
    );
    Ok(())
}

#[test]
fn types_of_a_whole_context_reads_the_index_and_no_step_record() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["import", "cursus", FIXTURE])?.expect(0)?;
    let table = run(&db, &["types", "cursus"])?.expect(0)?.stdout;
    let json = run(&db, &["types", "cursus", "--json"])?.expect(0)?.stdout;
    assert!(table.contains(BYSTANDER), "{table}");
    damage_the_bystander(&db)?;
    // The damage is real: a command over every record meets it and names the step.
    let every_step = run(&db, &["resolve", "cursus"])?.expect(3)?;
    assert!(
        every_step.stderr.contains(BYSTANDER),
        "{}",
        every_step.stderr
    );
    // Listing every type reads the index only, so it prints what it printed before.
    assert_eq!(run(&db, &["types", "cursus"])?.expect(0)?.stdout, table);
    assert_eq!(
        run(&db, &["types", "cursus", "--json"])?.expect(0)?.stdout,
        json
    );
    // Damage in the index itself is still reported.
    damage_the_bystanders_index_chunk(&db)?;
    let damaged_index = run(&db, &["types", "cursus"])?.expect(3)?;
    assert!(
        damaged_index.stderr.contains("step-type index"),
        "{}",
        damaged_index.stderr
    );
    Ok(())
}

#[test]
fn types_of_one_step_type_reads_only_that_types_steps() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["import", "cursus", FIXTURE])?.expect(0)?;
    damage_the_bystander(&db)?;
    let one = run(&db, &["types", "cursus", "XGBoostTraining"])?.expect(0)?;
    assert!(
        one.stdout
            .starts_with("step type 'XGBoostTraining' in context 'cursus': 1 step(s)"),
        "{}",
        one.stdout
    );
    let one = run(&db, &["types", "cursus", "XGBoostTraining", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(
        one["types"],
        serde_json::json!([{"step_type": "XGBoostTraining", "steps": ["XGBoostTraining"]}])
    );
    // An unknown type lists the context's types from the index.
    let unknown = run(&db, &["types", "cursus", "NoSuchType"])?;
    assert_ne!(unknown.code, 0);
    assert!(
        unknown.stderr.contains("its types are:"),
        "{}",
        unknown.stderr
    );
    Ok(())
}
