//! A name is shown to people as it is (escaped): runs of spaces are kept and never collapsed,
//! and a name that is blank or begins or ends with whitespace is quoted, so that it neither
//! vanishes into an empty cell nor reads as another name; JSON keeps every name exact.

mod common;

use common::{TestResult, run, s, temp};

/// Two steps whose names and types hold runs of spaces or begin with one.
const SPECS: &str = r#"{"schema": "pipeline-deps-export/v1", "steps": [
  {"step_name": "a  b", "step_type": "T  x", "node_type": "source",
   "outputs": {"o": {"logical_name": "o", "property_path": "properties.O",
                     "aliases": ["x  y", " lead"]}}},
  {"step_name": " lead", "step_type": "T2", "node_type": "internal",
   "dependencies": {"d": {"logical_name": "d", "dependency_type": "processing_output",
                          "compatible_sources": ["T  x"]}},
   "outputs": {"o": {"logical_name": "o", "property_path": "properties.O"}}}
]}"#;

#[test]
fn names_with_edge_or_repeated_whitespace_are_shown_as_they_are() -> TestResult {
    let (dir, db) = temp()?;
    let file = dir.path().join("specs.json");
    std::fs::write(&file, SPECS)?;
    // `" "` is a valid context name.
    run(&db, &["import", " ", s(&file)?])?.expect(0)?;

    let contexts = run(&db, &["contexts"])?.expect(0)?.stdout;
    assert!(
        contexts.lines().any(|l| l.starts_with("' '  ")),
        "the context ' ' is a blank cell:\n{contexts}"
    );
    let stats = run(&db, &["stats"])?.expect(0)?.stdout;
    assert!(
        stats.lines().any(|l| l.starts_with("' '  ")),
        "the context ' ' is a blank cell:\n{stats}"
    );

    let steps = run(&db, &["show", " "])?.expect(0)?.stdout;
    assert!(
        steps
            .lines()
            .any(|l| l.starts_with("a  b  ") && l.contains("T  x")),
        "{steps}"
    );
    assert!(steps.lines().any(|l| l.starts_with("' lead'  ")), "{steps}");

    let full = run(&db, &["show", " ", "a  b"])?.expect(0)?.stdout;
    for line in [
        "step                a  b",
        "context             ' '",
        "step type           T  x",
        "    aliases             x  y, ' lead'",
    ] {
        assert!(
            full.lines().any(|l| l == line),
            "no line {line:?} in:\n{full}"
        );
    }
    let full = run(&db, &["show", " ", " lead"])?.expect(0)?.stdout;
    for line in [
        "step                ' lead'",
        "    compatible sources  T  x",
    ] {
        assert!(
            full.lines().any(|l| l == line),
            "no line {line:?} in:\n{full}"
        );
    }

    // JSON is exact.
    let json = run(&db, &["show", " ", " lead", "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(json["context"], " ");
    assert_eq!(json["step_name"], " lead");
    Ok(())
}

/// A name holding an invisible character (a zero-width space) and one holding its escape as
/// text (`\u{200b}`) are different names, and tables and messages show them differently (the
/// backslash doubled), as the library's own messages do.
#[test]
fn an_invisible_character_and_its_escape_as_text_show_apart() -> TestResult {
    let (dir, db) = temp()?;
    let file = dir.path().join("specs.json");
    std::fs::write(
        &file,
        r#"{"schema": "pipeline-deps-export/v1", "steps": [
  {"step_name": "s", "step_type": "T", "node_type": "source",
   "outputs": {"o": {"logical_name": "o", "property_path": "properties.O"}}}]}"#,
    )?;
    run(&db, &["import", "a\u{200b}b", s(&file)?])?.expect(0)?;
    run(&db, &["import", "a\\u{200b}b", s(&file)?])?.expect(0)?;

    let contexts = run(&db, &["contexts"])?.expect(0)?.stdout;
    let shown: Vec<&str> = contexts
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with('a'))
        .collect();
    assert_eq!(shown, ["a\\u{200b}b", "a\\\\u{200b}b"], "{contexts}");

    let missing = run(&db, &["show", "a\\u{200b}b", "gone"])?
        .expect(4)?
        .stderr;
    assert!(missing.contains("'a\\\\u{200b}b'"), "{missing}");
    Ok(())
}
