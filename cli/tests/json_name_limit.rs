//! Invariant: an error's problems keep every name exact in JSON up to the library's name
//! limit (1,024 bytes) — a step name, and a field naming an entry by a key of that length —
//! and cut only a longer (so invalid) step name, to 100 characters and `…`; people see each
//! name cut to 100 characters with its true length.

use serde_json::Value;

mod common;
use common::{TestResult, run, s, temp};

/// A name of `bytes` bytes starting with `first`.
fn name(first: char, bytes: usize) -> String {
    let mut name = String::from(first);
    name.push_str(&"n".repeat(bytes - 1));
    name
}

#[test]
fn json_problems_keep_names_of_up_to_1024_bytes_whole_and_cut_longer_ones() -> TestResult {
    let (dir, db) = temp()?;
    let longest = name('s', 1024);
    let too_long = name('t', 1025);
    let dependency = name('d', 1024);
    let output = name('o', 1024);
    let doc = serde_json::json!({"steps": [
        // A valid name of the longest length; its step type is blank.
        {"step_name": longest, "step_type": " ", "node_type": "source",
         "outputs": {"o": {"logical_name": "o", "property_path": "properties.O"}}},
        // A name one byte too long.
        {"step_name": too_long, "step_type": "T", "node_type": "source",
         "outputs": {"o": {"logical_name": "o", "property_path": "properties.O"}}},
        // Entries whose keys are valid names of the longest length, named in the fields.
        {"step_name": "x", "step_type": "T", "node_type": "internal",
         "dependencies": {&dependency: {"logical_name": format!("{dependency}z")}},
         "outputs": {&output: {"logical_name": &output, "property_path": " "}}},
    ]});
    let file = dir.path().join("long.json");
    std::fs::write(&file, doc.to_string())?;

    let json = run(&db, &["--json", "import", "c", s(&file)?])?.expect(4)?;
    let error: Value = serde_json::from_str(json.stderr.trim())?;
    let problems = error["problems"].as_array().ok_or("no problems")?;
    let field_of = |step: &str, field: String| {
        problems
            .iter()
            .any(|p| p["step"] == step && p["field"] == field.as_str())
    };
    assert!(field_of(&longest, "step_type".into()), "{error}");
    let cut = format!("{}…", &too_long[..100]);
    assert!(field_of(&cut, "step name".into()), "{error}");
    assert!(
        field_of("x", format!("dependencies.{dependency}.logical_name")),
        "the field's key was not kept whole: {error}"
    );
    assert!(
        field_of("x", format!("outputs.{output}.property_path")),
        "the field's key was not kept whole: {error}"
    );
    assert_eq!(problems.len(), 4, "{error}");

    let human = run(&db, &["import", "c", s(&file)?])?.expect(4)?;
    for (name, bytes) in [(&longest, 1024), (&too_long, 1025)] {
        let shown = format!("'{}… ({bytes} bytes)'", &name[..100]);
        assert!(human.stderr.contains(&shown), "{}", human.stderr);
    }
    assert!(
        !human.stderr.contains(&"n".repeat(101)),
        "a name was shown whole to people: {}",
        human.stderr
    );
    assert!(!db.exists() || run(&db, &["contexts"])?.stdout.starts_with("no contexts"));
    Ok(())
}
