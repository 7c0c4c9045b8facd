//! Invariant: `check-snapshot`'s report for people keeps every line readable however large
//! the change: a step left with thousands of unresolved required dependencies, or a
//! snapshot thousands of steps behind, lists the first 20 names and how many more, where
//! one line held all of them (50,000 dependency names, about 400 KB, on one line); the
//! `--json` document keeps every name.

mod common;

use std::fmt::Write as _;

use common::{TestResult, run, s, temp};

const DEPENDENCIES: usize = 300;
const NEW_STEPS: usize = 150;

/// An export document: `prod` (one output of `output_type`), `wide` (`DEPENDENCIES` required
/// processing-output dependencies) and `extra` more steps `new0`, `new1`, ….
fn document(output_type: &str, extra: usize) -> String {
    let mut dependencies = String::new();
    for i in 0..DEPENDENCIES {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(
            dependencies,
            r#"{comma}"d{i}":{{"logical_name":"d{i}","type":"processing_output","required":true}}"#
        );
    }
    let mut steps = format!(
        r#"{{"step_name":"prod","step_type":"Prod","node_type":"source","outputs":{{"out":{{"logical_name":"out","type":"{output_type}","property_path":"properties.Out"}}}}}},
           {{"step_name":"wide","step_type":"Wide","node_type":"sink","dependencies":{{{dependencies}}}}}"#
    );
    for i in 0..extra {
        let _ = write!(
            steps,
            r#",{{"step_name":"new{i}","step_type":"New","node_type":"source","outputs":{{"o":{{"logical_name":"o","type":"model_artifacts","property_path":"properties.O"}}}}}}"#
        );
    }
    format!(r#"{{"schema":"pipeline-deps-export/v1","steps":[{steps}]}}"#)
}

#[test]
fn a_large_change_lists_a_bounded_number_of_names_per_line() -> TestResult {
    let (dir, db) = temp()?;
    let before = dir.path().join("before.json");
    std::fs::write(&before, document("processing_output", 0))?;
    run(&db, &["import", "ctx", s(&before)?])?.expect(0)?;
    let edges = dir.path().join("edges.json");
    run(&db, &["snapshot", "ctx", "-o", s(&edges)?])?.expect(0)?;

    // `prod`'s output changes type (every dependency of `wide` unresolved) and steps arrive.
    let after = dir.path().join("after.json");
    std::fs::write(&after, document("model_artifacts", NEW_STEPS))?;
    run(&db, &["import", "ctx", s(&after)?, "--replace"])?.expect(0)?;

    let checked = run(&db, &["check-snapshot", "ctx", s(&edges)?])?.expect(1)?;
    let out = &checked.stdout;
    let unresolved = out
        .lines()
        .find(|line| line.contains("unresolved step wide"))
        .ok_or_else(|| format!("no unresolved line:\n{out}"))?;
    assert!(unresolved.contains("d0, d1, "), "{unresolved}");
    assert!(
        unresolved.contains(&format!("… and {} more", DEPENDENCIES - 20)),
        "{unresolved}"
    );
    assert!(!unresolved.contains("d20,"), "{unresolved}");
    let added = out
        .lines()
        .find(|line| line.contains("steps added:"))
        .ok_or_else(|| format!("no steps-added line:\n{out}"))?;
    assert!(
        added.contains(&format!("… and {} more", NEW_STEPS - 20)),
        "{added}"
    );
    assert!(!added.contains("new20,"), "{added}");
    // Every line a person can read: the removed edges one per line, no list of hundreds.
    let widest = out.lines().map(str::len).max().unwrap_or(0);
    assert!(widest < 1_000, "a line of {widest} bytes:\n{out}");

    let json = run(&db, &["check-snapshot", "ctx", s(&edges)?, "--json"])?
        .expect(1)?
        .json()?;
    let diff = &json["diff"];
    assert_eq!(
        diff["newly_unresolved"][0]["dependencies"]
            .as_array()
            .map(Vec::len),
        Some(DEPENDENCIES)
    );
    assert_eq!(
        diff["steps_added"].as_array().map(Vec::len),
        Some(NEW_STEPS)
    );
    Ok(())
}
