//! `show CONTEXT STEP` lists a step's lint warnings readably: each on its own line, the
//! field, a colon and what is wrong, never the field run into the message.

mod common;

use common::{FIXTURE, TestResult, command, output, run, s, temp};

#[test]
fn lint_warnings_name_the_field_apart_from_the_message() -> TestResult {
    let (dir, db) = temp()?;
    // An alias equal to the output's own name (case aside), as three real specs have.
    let file = dir.path().join("lint.json");
    std::fs::write(
        &file,
        r#"{"schema": "pipeline-deps-export/v1", "steps": [
          {"step_name": "loader", "step_type": "Loader", "node_type": "source",
           "outputs": {"data": {"logical_name": "data", "property_path": "properties.Data",
                                "aliases": ["DATA"]}}}]}"#,
    )?;
    run(&db, &["import", "mine", s(&file)?])?.expect(0)?;
    let shown = run(&db, &["show", "mine", "loader"])?.expect(0)?.stdout;
    assert!(
        shown
            .lines()
            .any(|l| l == "  - outputs.data.aliases: name 'DATA' is already used by output 'data'"),
        "{shown}"
    );

    // A real one, on a narrow terminal: wrapped under itself, every line within the width.
    run(&db, &["import", "cursus", FIXTURE])?.expect(0)?;
    let mut c = command(&db);
    c.args(["show", "cursus", "GraphFeatureProcessing"])
        .env("COLUMNS", "50");
    let shown = output(c)?.expect(0)?.stdout;
    let warnings: Vec<&str> = shown
        .lines()
        .skip_while(|l| !l.starts_with("warnings ("))
        .skip(1)
        .collect();
    assert!(
        warnings
            .first()
            .is_some_and(|l| l.starts_with("  - outputs.graph_data.aliases: name ")),
        "{shown}"
    );
    assert!(
        warnings
            .iter()
            .skip(1)
            .all(|l| l.starts_with("    ") && l.len() <= 50),
        "{shown}"
    );
    Ok(())
}
