//! Invariant: JSON import is strict and says why — a key repeated in one object is refused
//! naming the key and the step, an unknown `schema` is refused, a field neither format knows
//! is refused naming it unless `ImportOptions::allow_unknown_fields` is set, a value of the
//! wrong shape is refused naming its step and field (never a line 0), a step listed twice
//! is refused as the document's fault, a missing required field is named with its path in
//! the message itself, a nested `spec` section holding dependencies or outputs is refused
//! even with unknown fields allowed (it would be dropped) — while both
//! accepted formats (the export format and the real cursus fixture, with every key it has)
//! keep importing; a refused import writes nothing. `StepSpecification::from_json` (and
//! `merge_variant`) and `InterfaceCatalog::from_json` refuse repeated and unknown keys as
//! the import does.

use pipeline_deps::resolve::{InterfaceCatalog, merge_variant};
use pipeline_deps::transfer::parse_steps_json;
use pipeline_deps::{Error, ImportOptions, NodeType, RegistryManager, StepSpecification};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURE: &str = include_str!("fixtures/cursus-step-specs.json");

/// The refusal of `json`, which must be invalid input mentioning every needle.
fn refusal(json: &str, options: &ImportOptions, needles: &[&str]) -> TestResult {
    let error = match parse_steps_json(json, options) {
        Ok(steps) => return Err(format!("accepted {json}: {} step(s)", steps.len()).into()),
        Err(error) => error,
    };
    assert!(error.is_invalid_input(), "{json}: {error:?}");
    let message = error.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "{json}: {message:?} lacks {needle:?}"
        );
    }
    assert!(
        message.len() <= 4096,
        "an unbounded message: {} bytes",
        message.len()
    );
    Ok(())
}

const OUTPUT: &str = r#"{"type": "processing_output", "property_path": "properties.A"}"#;

#[test]
fn a_repeated_key_is_refused_naming_key_and_step() -> TestResult {
    let strict = ImportOptions::new();
    let cases = [
        (
            format!(
                r#"{{"steps": [{{"step_name": "trainer", "step_type": "T", "node_type": "source", "outputs": {{"model": {OUTPUT}, "model": {OUTPUT}}}}}]}}"#
            ),
            vec!["`model`", "'trainer'", "steps[0].outputs"],
        ),
        (
            r#"{"steps": [{"step_name": "a", "step_type": "A", "node_type": "singular"}, {"step_name": "loader", "step_type": "A", "step_type": "B", "node_type": "singular"}]}"#.to_owned(),
            vec!["`step_type`", "'loader'", "steps[1]"],
        ),
        (
            r#"{"steps": [{"step_name": "v", "step_type": "T", "node_type": "singular", "variants": {"training": {"node_type": "sink", "node_type": "source"}}}]}"#.to_owned(),
            vec!["`node_type`", "'v'", "variants.training"],
        ),
        (
            r#"{"schema": "pipeline-deps-export/v1", "schema": "pipeline-deps-export/v1", "steps": []}"#.to_owned(),
            vec!["`schema`", "the top level"],
        ),
    ];
    for (json, needles) in cases {
        refusal(&json, &strict, &needles)?;
        // Allowing unknown fields does not allow duplicates.
        refusal(&json, &strict.clone().allow_unknown_fields(true), &needles)?;
    }
    Ok(())
}

#[test]
fn an_unknown_schema_is_refused_and_the_known_ones_or_none_accepted() -> TestResult {
    let step = r#"{"step_name": "s", "step_type": "T", "node_type": "singular"}"#;
    for schema in [r#""pipeline-deps-export/v2""#, r#""""#, "1", "null"] {
        let json = format!(r#"{{"schema": {schema}, "steps": [{step}]}}"#);
        refusal(&json, &ImportOptions::new(), &["schema"])?;
        refusal(
            &json,
            &ImportOptions::new().allow_unknown_fields(true),
            &["schema"],
        )?;
    }
    for schema in [
        r#""schema": "pipeline-deps-export/v1","#,
        r#""schema": "cursus-step-specs/v1","#,
        "",
    ] {
        let json = format!(r#"{{{schema} "steps": [{step}]}}"#);
        assert_eq!(
            parse_steps_json(&json, &ImportOptions::new())?.len(),
            1,
            "{json}"
        );
    }
    Ok(())
}

#[test]
fn unknown_fields_are_refused_unless_allowed() -> TestResult {
    let cases = [
        (
            r#"{"stepz": [], "steps": [{"step_name": "s", "step_type": "T", "node_type": "singular"}]}"#,
            vec!["`stepz`", "the top level"],
        ),
        (
            r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "singular", "ouputs": {}}]}"#,
            vec!["`ouputs`", "'s'"],
        ),
        (
            r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "sink", "dependencies": {"d": {"type": "processing_output", "requird": false}}}]}"#,
            vec!["`requird`", "dependencies.d"],
        ),
        (
            r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "source", "outputs": {"o": {"type": "processing_output", "property_path": "p", "alias": []}}}]}"#,
            vec!["`alias`", "outputs.o"],
        ),
        (
            r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "singular", "variants": {"training": {"nodetype": "sink"}}}]}"#,
            vec!["`nodetype`", "variant 'training'"],
        ),
    ];
    for (json, needles) in cases {
        refusal(json, &ImportOptions::new(), &needles)?;
        assert_eq!(
            parse_steps_json(json, &ImportOptions::new().allow_unknown_fields(true))?.len(),
            1
        );
    }
    // Many unknown fields: about ten named, then how many more.
    let many: String = (0..50).map(|i| format!(r#""extra{i}": 1, "#)).collect();
    let json = format!(
        r#"{{{many} "steps": [{{"step_name": "s", "step_type": "T", "node_type": "singular"}}]}}"#
    );
    refusal(
        &json,
        &ImportOptions::new(),
        &["50 unknown field(s)", "and 40 more"],
    )?;
    Ok(())
}

#[test]
fn a_value_of_the_wrong_shape_is_refused_naming_step_and_field() -> TestResult {
    let strict = ImportOptions::new();
    let step = |rest: &str| {
        format!(
            r#"{{"steps": [{{"step_name": "a", "step_type": "T", "node_type": "source"{rest}}}]}}"#
        )
    };
    let cases = [
        (
            r#"{"steps": [{"step_name": "a", "step_type": "T", "node_type": "weird"}]}"#.to_owned(),
            vec!["steps[0] (step 'a'), field `node_type`", "expected shape"],
        ),
        (
            step(r#", "dependencies": {"x": {"logical_name": "x", "dependency_type": "nope"}}"#),
            vec!["field `dependencies.x.dependency_type`"],
        ),
        (
            step(r#", "outputs": {"m": {"output_type": "model_artifacts", "property_path": 5}}"#),
            vec!["field `outputs.m.property_path`"],
        ),
        (
            r#"{"steps": [{"step_name": "a", "step_type": 5}]}"#.to_owned(),
            vec!["field `step_type`"],
        ),
        (
            r#"{"steps": [{"step_name": "a"}]}"#.to_owned(),
            vec![
                "steps[0] (step 'a'), field `step_type`",
                "lacks the required field",
            ],
        ),
    ];
    for (json, needles) in &cases {
        refusal(json, &strict, needles)?;
        let message = parse_steps_json(json, &strict)
            .err()
            .ok_or("accepted")?
            .to_string();
        assert!(!message.contains("line 0"), "{message}");
    }
    Ok(())
}

#[test]
fn a_step_listed_twice_in_one_document_is_refused_as_the_documents_fault() -> TestResult {
    let json = r#"{"steps": [
        {"step_name": "d", "step_type": "A", "node_type": "singular"},
        {"step_name": "e", "step_type": "A", "node_type": "singular"},
        {"step_name": "d", "step_type": "B", "node_type": "singular"}]}"#;
    refusal(
        json,
        &ImportOptions::new(),
        &["steps[0] and steps[2]", "step 'd'", "once"],
    )?;
    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("h")?;
    let error = registry.import_json(json).err().ok_or("imported")?;
    assert!(error.is_invalid_input(), "{error:?}");
    assert!(registry.is_empty()?, "something was written");
    Ok(())
}

#[test]
fn a_variant_whose_step_type_differs_from_its_steps_is_refused() -> TestResult {
    // A fixture variant is a complete spec that keeps its step's type; one declaring another
    // would have changed the step's type silently.
    let json = r#"{"steps": [{"step_name": "s", "step_type": "Base", "node_type": "singular",
        "variants": {"training": {"step_type": "Other", "node_type": "singular"}}}]}"#;
    refusal(
        json,
        &ImportOptions::new().variant("training"),
        &[
            "step 's'",
            "variant 'training'",
            "'Other'",
            "'Base'",
            "declared_step_type",
        ],
    )?;
    // A job type no step has is refused rather than ignored, naming the ones there are.
    refusal(
        json,
        &ImportOptions::new().variant("trainnig"),
        &[
            "no step of the document has a variant 'trainnig'",
            "its variants are 'training'",
        ],
    )?;
    // Without the variant the base is taken, as before.
    assert_eq!(
        parse_steps_json(json, &ImportOptions::new())?[0]
            .1
            .step_type,
        "Base"
    );
    Ok(())
}

#[test]
fn both_formats_keep_importing() -> TestResult {
    let manager = RegistryManager::temporary()?;
    let cursus = manager.get_registry("cursus")?;
    assert_eq!(cursus.import_json(FIXTURE)?, 61);
    let training = manager.get_registry("training")?;
    assert_eq!(
        training.import_json_with(FIXTURE, &ImportOptions::new().variant("training"))?,
        61
    );
    let exported = cursus.export_json()?;
    let copy = manager.get_registry("copy")?;
    assert_eq!(copy.import_json(&exported)?, 61);
    assert_eq!(
        copy.export_json()?.replace("\"copy\"", "\"cursus\""),
        exported
    );
    Ok(())
}

#[test]
fn a_refused_import_writes_nothing() -> TestResult {
    let manager = RegistryManager::temporary()?;
    let registry = manager.get_registry("ctx")?;
    let json = format!(
        r#"{{"steps": [{{"step_name": "trainer", "step_type": "T", "node_type": "source", "outputs": {{"model": {OUTPUT}, "model": {OUTPUT}}}}}]}}"#
    );
    let error = registry
        .import_json(&json)
        .err()
        .ok_or("a duplicate key was accepted")?;
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert!(registry.is_empty()?);
    assert_eq!(manager.get_context_stats()?["ctx"].step_count, 0);
    Ok(())
}

#[test]
fn a_nested_spec_section_is_never_dropped_even_with_unknown_fields_allowed() -> TestResult {
    let nested = format!(
        r#"{{"steps": [{{"step_name": "model", "step_type": "T", "node_type": "source", "spec": {{"outputs": {{"o": {OUTPUT}}}}}}}]}}"#
    );
    let in_variant = r#"{"steps": [{"step_name": "model", "step_type": "T", "node_type": "source", "variants": {"training": {"spec": {"dependencies": {}}}}}]}"#;
    let lenient = ImportOptions::new().allow_unknown_fields(true);
    refusal(&nested, &ImportOptions::new(), &["`spec`", "'model'"])?;
    refusal(
        &nested,
        &lenient,
        &["`outputs`", "nested `spec`", "'model'", "top level"],
    )?;
    refusal(
        in_variant,
        &lenient.clone().variant("training"),
        &["`dependencies`", "nested `spec`"],
    )?;
    // Nothing is written either.
    let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    assert!(registry.import_json_with(&nested, &lenient).is_err());
    assert_eq!(registry.len()?, 0);
    // A `spec` key holding neither is only an unknown field.
    let other = r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "singular", "spec": "v2"}]}"#;
    assert_eq!(parse_steps_json(other, &lenient)?.len(), 1);
    Ok(())
}

/// The refusal of `json` by `StepSpecification::from_json`, which must be invalid input
/// whose message (`Display` alone) mentions every needle.
fn spec_refusal(json: &str, needles: &[&str]) -> TestResult {
    let error = match StepSpecification::from_json(json) {
        Ok(spec) => return Err(format!("from_json accepted {json}: {spec:?}").into()),
        Err(error) => error,
    };
    assert!(error.is_invalid_input(), "{error:?}");
    let message = error.to_string();
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
    Ok(())
}

#[test]
fn from_json_refuses_repeated_and_unknown_keys_as_the_import_does() -> TestResult {
    let unknown = [
        (
            r#"{"step_type": "T", "node_type": "singular", "colour": "red"}"#,
            vec!["`colour`", "1 unknown field(s)"],
        ),
        (
            r#"{"step_type": "T", "node_type": "sink", "dependencies": {"d": {"type": "processing_output", "requird": false}}}"#,
            vec!["`requird`", "dependencies.d"],
        ),
        (
            r#"{"step_type": "T", "node_type": "source", "outputs": {"o": {"type": "processing_output", "property_path": "p", "alias": []}}}"#,
            vec!["`alias`", "outputs.o"],
        ),
        (
            r#"{"step_type": "T", "node_type": "singular", "variants": {"training": {"nodetype": "sink"}}}"#,
            vec!["`nodetype`", "variant 'training'"],
        ),
    ];
    for (json, needles) in &unknown {
        spec_refusal(json, needles)?;
        // The import refuses the same key, as a step of its document.
        let document = format!(
            r#"{{"steps": [{}"step_name": "s", {}]}}"#,
            "{",
            json.trim_start_matches('{')
        );
        refusal(&document, &ImportOptions::new(), &needles[..1])?;
    }
    let repeated = [
        (
            r#"{"step_type": "T", "step_type": "U", "node_type": "singular"}"#,
            vec!["the top level", "the key `step_type` appears twice"],
        ),
        (
            r#"{"step_type": "T", "node_type": "sink", "dependencies": {"d": {"type": "processing_output"}, "d": {"type": "model_artifacts"}}}"#,
            vec!["dependencies", "the key `d` appears twice"],
        ),
        (
            r#"{"step_type": "T", "node_type": "sink", "dependencies": {"d": {"required": true, "required": false}}}"#,
            vec!["dependencies.d", "the key `required` appears twice"],
        ),
    ];
    for (json, needles) in &repeated {
        spec_refusal(json, needles)?;
    }
    // A merged job-type variant is held to the same rules.
    let base = StepSpecification::new("T", NodeType::Singular);
    let error = merge_variant(&base, r#"{"node_typ": "sink"}"#)
        .err()
        .ok_or("merge_variant accepted an unknown key")?;
    assert!(
        error.is_invalid_input() && error.to_string().contains("`node_typ`"),
        "{error}"
    );
    let error = merge_variant(&base, r#"{"node_type": "sink", "node_type": "source"}"#)
        .err()
        .ok_or("merge_variant accepted a repeated key")?;
    assert!(
        error.is_invalid_input() && error.to_string().contains("`node_type` appears twice"),
        "{error}"
    );
    Ok(())
}

#[test]
fn from_json_reads_every_step_entry_the_import_reads() -> TestResult {
    // An entry of either format parses as it is (its `step_name`, `variants` and descriptive
    // keys are known and ignored) into the spec the import reads.
    let document: serde_json::Value = serde_json::from_str(FIXTURE)?;
    let entries = document["steps"].as_array().ok_or("no steps")?;
    let imported = parse_steps_json(FIXTURE, &ImportOptions::new())?;
    assert_eq!(entries.len(), imported.len());
    for (entry, (name, spec)) in entries.iter().zip(&imported) {
        assert_eq!(
            &StepSpecification::from_json(&entry.to_string())?,
            spec,
            "{name}"
        );
    }
    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("ctx")?;
    registry.import_json(FIXTURE)?;
    let exported: serde_json::Value = serde_json::from_str(&registry.export_json()?)?;
    for entry in exported["steps"].as_array().ok_or("no steps")? {
        let name = entry["step_name"].as_str().ok_or("no step_name")?;
        let spec = StepSpecification::from_json(&entry.to_string())?;
        assert_eq!(registry.get_specification(name)?.as_deref(), Some(&spec));
    }
    Ok(())
}

#[test]
fn a_missing_field_is_named_with_its_path_in_the_message() -> TestResult {
    // from_json: the field, where, and the line; the parser's own message is the source.
    let error = StepSpecification::from_json(r#"{"node_type": "singular"}"#)
        .err()
        .ok_or("a spec without step_type was accepted")?;
    let message = error.to_string();
    assert!(
        message.contains("field `step_type`: it lacks the required field `step_type` at line 1"),
        "{message}"
    );
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert!(
        source
            .as_deref()
            .is_some_and(|s| s.contains("missing field `step_type`")),
        "{source:?}"
    );
    // The import: the entry, then the field.
    refusal(
        r#"{"steps": [{"step_name": "a", "node_type": "singular"}]}"#,
        &ImportOptions::new(),
        &[
            "steps[0] (step 'a'), field `step_type`",
            "lacks the required field `step_type`",
        ],
    )?;
    // Nested: the path of the object that lacks it, down to the field.
    for (json, path) in [
        (r#"{"steps": [{"step_type": "T"}]}"#, "steps[0].step_name"),
        (
            r#"{"steps": [{"step_name": "a", "step_type": "T", "variants": {"training": {"node_type": "source"}}}]}"#,
            "steps[0].variants.training.step_type",
        ),
    ] {
        let error = InterfaceCatalog::from_json(json)
            .err()
            .ok_or("a catalog entry without a required field was accepted")?;
        let message = error.to_string();
        assert!(error.is_invalid_input(), "{error:?}");
        assert!(message.contains(&format!("field `{path}`")), "{message}");
        assert!(message.contains("lacks the required field"), "{message}");
        assert!(std::error::Error::source(&error).is_some());
    }
    // A field given twice through its alias is named too.
    spec_refusal(
        r#"{"step_type": "T", "node_type": "sink", "dependencies": {"d": {"type": "training_data", "dependency_type": "training_data"}}}"#,
        &[
            "field `dependencies.d.type`",
            "gives the field `type` twice",
        ],
    )?;
    Ok(())
}

#[test]
fn the_interface_catalog_refuses_repeated_and_unknown_keys_as_the_import_does() -> TestResult {
    // The real fixture, every key of it, still reads.
    assert_eq!(InterfaceCatalog::from_json(FIXTURE)?.len(), 61);
    let step = r#"{"step_name": "s", "step_type": "T", "node_type": "singular"}"#;
    let cases = [
        (
            format!(r#"{{"known_step_names": [], "known_step_names": ["T"], "steps": [{step}]}}"#),
            vec!["`known_step_names`", "appears twice"],
        ),
        (
            format!(r#"{{"legacy_aliasses": {{}}, "steps": [{step}]}}"#),
            vec!["`legacy_aliasses`", "the top level"],
        ),
        (
            r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "sink", "dependencies": {"d": {"type": "processing_output", "requird": false}}}]}"#.to_owned(),
            vec!["`requird`", "dependencies.d"],
        ),
    ];
    for (json, needles) in cases {
        let error = match InterfaceCatalog::from_json(&json) {
            Ok(catalog) => return Err(format!("accepted {json}: {} steps", catalog.len()).into()),
            Err(error) => error,
        };
        assert!(error.is_invalid_input(), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("the step interface catalog"), "{message}");
        for needle in needles {
            assert!(message.contains(needle), "{needle:?} not in {message}");
        }
    }
    Ok(())
}
