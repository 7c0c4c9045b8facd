//! An import whose document is refused names, in its `--json` error, the step the refusal
//! is about, exactly as the document names it (`step`), and leaves `step` null only when
//! the refusal is about no one step (docs/json.md, `pipeline-deps/error/v1`).

use std::path::Path;

use serde_json::{Value, json};

mod common;
use common::{TestResult, run, s, temp};

/// A step entry of the export format, with `extra` keys merged in.
fn step(name: &str, extra: &Value) -> TestResult<Value> {
    let mut entry = json!({
        "step_name": name,
        "step_type": "Load",
        "node_type": "source",
        "outputs": {"data": {"logical_name": "data", "type": "processing_output",
                             "property_path": "properties.Data"}}
    });
    let (Some(entry_map), Some(extra)) = (entry.as_object_mut(), extra.as_object()) else {
        return Err("a step and its extra keys are objects".into());
    };
    entry_map.extend(extra.clone());
    Ok(entry)
}

/// The `--json` error of importing `document` (written to a file) into context `ctx` of a
/// new database: exit code 4, one JSON line on standard error.
fn refusal(dir: &Path, document: &str) -> TestResult<Value> {
    let db = dir.join("registry.redb");
    let file = dir.join("doc.json");
    std::fs::write(&file, document)?;
    let refused = run(&db, &["import", "ctx", s(&file)?, "--json"])?.expect(4)?;
    let error: Value = serde_json::from_str(refused.stderr.trim())?;
    if error["kind"] != "invalid_input" || error["context"] != "ctx" {
        return Err(format!("not the import's invalid_input error: {refused:?}").into());
    }
    Ok(error)
}

#[test]
fn an_unknown_field_in_a_step_names_that_step() -> TestResult {
    let (dir, _) = temp()?;
    // A name the message shows quoted and escaped; JSON has it exactly.
    let name = "naïve 'step'\twith a tab";
    let document = json!({"steps": [
        step("fine", &json!({}))?,
        step(name, &json!({"colour": "red"}))?,
    ]});
    let error = refusal(dir.path(), &document.to_string())?;
    assert_eq!(error["step"], name, "{error}");
    let message = error["message"].as_str().ok_or("no message")?;
    assert!(message.contains("`colour`"), "{message}");
    Ok(())
}

#[test]
fn unknown_fields_in_several_steps_name_the_first_of_them() -> TestResult {
    let (dir, _) = temp()?;
    // Unknown keys in a dependency of `second` and in a variant of `third`; `first` is fine.
    let document = json!({"steps": [
        step("first", &json!({}))?,
        step("second", &json!({"dependencies": {"input": {
            "logical_name": "input", "type": "processing_output", "required": true,
            "colour": "red"}}}))?,
        step("third", &json!({"variants": {"training": {"flavour": 1}}}))?,
    ]});
    assert_eq!(
        refusal(dir.path(), &document.to_string())?["step"],
        "second"
    );
    // In a variant only: the step the variant belongs to.
    let document = json!({"steps": [
        step("first", &json!({}))?,
        step("third", &json!({"variants": {"training": {"flavour": 1}}}))?,
    ]});
    assert_eq!(refusal(dir.path(), &document.to_string())?["step"], "third");
    Ok(())
}

#[test]
fn other_refusals_of_one_step_name_it() -> TestResult {
    let (dir, _) = temp()?;
    // A value of the wrong shape.
    let document = json!({"steps": [
        step("first", &json!({}))?,
        step("shaped", &json!({"node_type": 7}))?,
    ]});
    assert_eq!(
        refusal(dir.path(), &document.to_string())?["step"],
        "shaped"
    );
    // A step listed twice.
    let document = json!({"steps": [step("twice", &json!({}))?, step("twice", &json!({}))?]});
    assert_eq!(refusal(dir.path(), &document.to_string())?["step"], "twice");
    // A key given twice in one object of a step (serde_json's `json!` cannot write one).
    let document = r#"{"steps": [{"step_name": "keyed", "step_type": "A", "step_type": "B",
        "node_type": "source"}]}"#;
    assert_eq!(refusal(dir.path(), document)?["step"], "keyed");
    Ok(())
}

#[test]
fn a_refusal_about_no_one_step_leaves_step_null() -> TestResult {
    let (dir, _) = temp()?;
    // An unknown field at the top level only.
    let document = json!({"colour": "red", "steps": [step("fine", &json!({}))?]});
    assert_eq!(
        refusal(dir.path(), &document.to_string())?["step"],
        Value::Null
    );
    // An unknown field in an entry without a name.
    let mut nameless = step("x", &json!({"colour": "red"}))?;
    nameless
        .as_object_mut()
        .ok_or("an object")?
        .remove("step_name");
    let document = json!({"steps": [nameless]});
    assert_eq!(
        refusal(dir.path(), &document.to_string())?["step"],
        Value::Null
    );
    // Text that is not JSON.
    assert_eq!(refusal(dir.path(), "{\"steps\": [")?["step"], Value::Null);
    Ok(())
}
