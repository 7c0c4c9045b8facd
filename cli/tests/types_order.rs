//! Invariant: `types CONTEXT` lists step types in the order of their first step in
//! registration order, each with its steps in registration order, in text and in JSON, also
//! after a replacement changed a step's type (when that order differs from the order in
//! which the types were first seen); `types CONTEXT TYPE` lists that type's steps in
//! registration order.

mod common;

use serde_json::{Value, json};

use common::{TestResult, run, s, temp};

#[test]
fn types_come_in_the_order_of_their_first_step_with_their_steps_in_registration_order() -> TestResult
{
    let (dir, db) = temp()?;
    let first = dir.path().join("first.json");
    std::fs::write(
        &first,
        r#"{"steps": [
            {"step_name": "a", "step_type": "T1", "node_type": "singular"},
            {"step_name": "b", "step_type": "T2", "node_type": "singular"},
            {"step_name": "c", "step_type": "T1", "node_type": "singular"},
            {"step_name": "d", "step_type": "T2", "node_type": "singular"}
        ]}"#,
    )?;
    run(&db, &["import", "x", s(&first)?])?.expect(0)?;
    // `a` keeps its place and takes a type first seen after T1 and T2.
    let retyped = dir.path().join("retyped.json");
    std::fs::write(
        &retyped,
        r#"{"steps": [{"step_name": "a", "step_type": "T3", "node_type": "singular"}]}"#,
    )?;
    run(&db, &["import", "x", s(&retyped)?, "--replace"])?.expect(0)?;

    let doc: Value = run(&db, &["types", "x", "--json"])?.expect(0)?.json()?;
    assert_eq!(
        doc["types"],
        json!([
            {"step_type": "T3", "steps": ["a"]},
            {"step_type": "T2", "steps": ["b", "d"]},
            {"step_type": "T1", "steps": ["c"]}
        ]),
        "{doc}"
    );
    let text = run(&db, &["types", "x"])?.expect(0)?.stdout;
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["T3", "1", "'a'"],
            vec!["T2", "2", "'b',", "'d'"],
            vec!["T1", "1", "'c'"]
        ],
        "{text}"
    );
    let one: Value = run(&db, &["types", "x", "T2", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(one["types"][0]["steps"], json!(["b", "d"]), "{one}");
    Ok(())
}
