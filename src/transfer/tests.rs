//! The import's reading of its document ([`streamed`](super::streamed)) against the one it
//! replaced, which parsed the whole document into one tree: kept here, as it was, as the
//! oracle of the other's results and messages.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{
    Error, ImportOptions, ImportRefusal, StepSpecification, WHAT, check_schema,
    document_unknown_fields, invalid, listed, parse_steps_json_located, parse_unique_located,
    shorten, unknown_fields_error,
};

/// The import as it was: the whole document parsed into one [`Value`], then checked, then
/// each entry converted.
fn whole_tree(
    json: &str,
    options: &ImportOptions,
) -> std::result::Result<Vec<(String, StepSpecification)>, ImportRefusal> {
    let about = |step: Option<&str>| {
        let step = step.map(str::to_owned);
        move |error| ImportRefusal { error, step }
    };
    let mut document =
        parse_unique_located(json, WHAT).map_err(|(error, step)| ImportRefusal { error, step })?;
    check_schema(document.get("schema")).map_err(about(None))?;
    if !options.allow_unknown_fields {
        check_fields(&document).map_err(|(error, step)| ImportRefusal { error, step })?;
    }
    let Some(steps) = document.get("steps").and_then(Value::as_array) else {
        return Err(about(None)(invalid(
            "the document has no `steps` array at its top level".into(),
        )));
    };
    if let Some(job) = &options.variant {
        // A misspelt job type would otherwise import the base specs silently.
        let known: indexmap::IndexSet<&str> = steps
            .iter()
            .filter_map(|entry| entry.get("variants").and_then(Value::as_object))
            .flat_map(|variants| variants.keys().map(String::as_str))
            .collect();
        if !steps.is_empty() && !known.contains(job.as_str()) {
            let offered = if known.is_empty() {
                "it has no variants".to_owned()
            } else {
                let names: Vec<String> = known.iter().map(|v| shorten(v)).collect();
                format!("its variants are {}", listed(&names, 20, ", "))
            };
            return Err(about(None)(invalid(format!(
                "no step of the document has a variant {}; {offered}; leave the variant out to import the steps as they are",
                shorten(job)
            ))));
        }
    }
    // Each entry is dropped once converted: the parsed tree takes several times the
    // text's memory, so keeping it whole beside the specs made an import's peak the sum.
    let steps = match document.get_mut("steps").map(Value::take) {
        Some(Value::Array(steps)) => steps,
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(steps.len());
    let mut seen = std::collections::HashMap::with_capacity(steps.len());
    for (index, entry) in steps.into_iter().enumerate() {
        let entry = &entry;
        let name = entry
            .get("step_name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                about(None)(invalid(format!("steps[{index}] has no string `step_name`")))
            })?;
        let source = match &options.variant {
            Some(job) => entry
                .get("variants")
                .and_then(|v| v.get(job.as_str()))
                .unwrap_or(entry),
            None => entry,
        };
        // Unknown fields may be allowed, but never one that holds the step's wiring: a
        // nested `spec` section (the original implementation's `model_dump()` shape) would
        // otherwise be dropped and the step imported without its dependencies and outputs.
        if let Some(section) = [entry, source]
            .into_iter()
            .filter_map(|object| object.get("spec"))
            .find(|section| {
                section.get("dependencies").is_some() || section.get("outputs").is_some()
            })
        {
            let holds = if section.get("dependencies").is_some() {
                "dependencies"
            } else {
                "outputs"
            };
            return Err(about(Some(name))(invalid(format!(
                "steps[{index}] (step {}) has its `{holds}` in a nested `spec` section, which import does not read; move its `dependencies` and `outputs` to the step's top level",
                shorten(name)
            ))));
        }
        // The document is already parsed, so the error has no line: it names the field.
        let spec: StepSpecification = serde_path_to_error::deserialize(source).map_err(|e| {
            let what = format!("steps[{index}] (step {})", shorten(name));
            about(Some(name))(Error::invalid_json_at(
                &what,
                &e.path().to_string(),
                e.into_inner(),
            ))
        })?;
        let base_type = entry.get("step_type").and_then(Value::as_str);
        if let (Some(job), Some(base_type)) = (&options.variant, base_type)
            && !std::ptr::eq(source, entry)
            && spec.step_type != base_type
        {
            return Err(about(Some(name))(invalid(format!(
                "steps[{index}] (step {}): its variant {} has step_type {} but the step's is {}; a variant keeps the step's type (its own goes under `declared_step_type`)",
                shorten(name),
                shorten(job),
                shorten(&spec.step_type),
                shorten(base_type)
            ))));
        }
        if let Some(first) = seen.insert(name.to_owned(), index) {
            return Err(about(Some(name))(invalid(format!(
                "steps[{first}] and steps[{index}] are both step {}; a document lists each step once",
                shorten(name)
            ))));
        }
        out.push((name.to_owned(), spec));
    }
    Ok(out)
}

/// Every key of the document is one the formats know, at every level they define. The
/// error comes with the exact name of the first step, in document order, that has an
/// unknown field and a name.
fn check_fields(document: &Value) -> std::result::Result<(), (Error, Option<String>)> {
    let (unknown, first_step) = document_unknown_fields(document);
    if unknown.is_empty() {
        return Ok(());
    }
    let error = unknown_fields_error(
        WHAT,
        &unknown,
        "allow unknown fields to import such a document anyway",
    );
    Err((error, first_step.map(str::to_owned)))
}

/// What an import gave: the steps, or the error's message, its debug form (kind, source,
/// line and column) and the step it is about.
type Outcome =
    std::result::Result<Vec<(String, StepSpecification)>, (String, String, Option<String>)>;

fn outcome(
    result: std::result::Result<Vec<(String, StepSpecification)>, ImportRefusal>,
) -> Outcome {
    result.map_err(|refusal| {
        (
            refusal.error.to_string(),
            format!("{:?}", refusal.error),
            refusal.step,
        )
    })
}

/// Both readings of `json` with `options`: the new one's and the oracle's.
fn both(json: &str, options: &ImportOptions) -> (Outcome, Outcome) {
    (
        outcome(parse_steps_json_located(json, options)),
        outcome(whole_tree(json, options)),
    )
}

/// Every combination of options the import's checks depend on.
fn all_options() -> Vec<ImportOptions> {
    let mut all = Vec::new();
    for variant in [None, Some("training"), Some("generic"), Some("nope")] {
        for allow in [false, true] {
            let mut options = ImportOptions::new().allow_unknown_fields(allow);
            options.variant = variant.map(str::to_owned);
            all.push(options);
        }
    }
    all
}

/// `json` read both ways with every combination of options gives the same.
fn same_for_all(json: &str) -> std::result::Result<(), String> {
    for options in all_options() {
        let (new, old) = both(json, &options);
        if new != old {
            return Err(format!(
                "{options:?} on {json:.300}:\nnew {new:.600?}\nold {old:.600?}"
            ));
        }
    }
    Ok(())
}

static FIXTURE: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../tests/fixtures/cursus-step-specs.json"))
        .unwrap_or(Value::Null)
});

fn fixture_steps() -> &'static [Value] {
    FIXTURE
        .get("steps")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[test]
fn the_fixture_reads_the_same_both_ways() -> std::result::Result<(), String> {
    let text = include_str!("../../tests/fixtures/cursus-step-specs.json");
    same_for_all(text)?;
    let (new, _) = both(text, &ImportOptions::new());
    assert_eq!(
        new.map(|steps| steps.len()).ok(),
        Some(fixture_steps().len())
    );
    Ok(())
}

#[test]
fn tricky_documents_read_the_same_both_ways() -> std::result::Result<(), String> {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let cases = [
        // A key repeated in the second `steps`: the tree kept the first, whose step is named.
        r#"{"steps": [{"step_name": "a"}], "steps": [{"step_name": "b", "x": 1, "x": 2}]}"#.to_owned(),
        // The inner repeat is found before the outer one.
        r#"{"steps": [{"step_name": "a", "d": 1, "d": {"e": 1, "e": 2}}]}"#.to_owned(),
        r#"{"steps": [{"step_name": 3, "step_name": "b", "q": 1, "q": 1}]}"#.to_owned(),
        r#"{"steps": [{"step_name": "a\u00e9\"", "q": 1, "q": 1}]}"#.to_owned(),
        r#"{"steps": [{}, {"step_name": "b"}], "x": {"y": 1, "y": 2}}"#.to_owned(),
        // A syntax error after a repeated key comes first.
        r#"{"steps": [], "steps": [], }"#.to_owned(),
        r#"{"steps": [1, 2, {"step_name": "a"}]} x"#.to_owned(),
        format!(r#"{{"steps": [{{"step_name": "a", "deep": {deep}}}]}}"#),
        deep,
        "[]".to_owned(),
        " 3 ".to_owned(),
        "\"steps\"".to_owned(),
        "null".to_owned(),
        "{}".to_owned(),
        r#"{"steps": {"a": 1}, "colour": 1}"#.to_owned(),
        r#"{"steps": "x"}"#.to_owned(),
        r#"{"steps": [], "schema": 3}"#.to_owned(),
        r#"{"steps": [], "schema": {"a": [1, 2.5, null]}, "colour": 1}"#.to_owned(),
        r#"{"steps": [{"step_name": "a", "colour": 1}], "schema": "bogus"}"#.to_owned(),
        r#"{"steps": [{"c1": 1, "c2": 2, "c3": 3, "c4": 4, "c5": 5, "c6": 6}, {"step_name": "b", "c7": 7, "c8": 8, "c9": 9, "c10": 10, "c11": 11}], "top": 1}"#.to_owned(),
        r#"{"steps": [{"step_name": "a", "step_type": "A", "node_type": "source", "variants": {"x": {}, "y": {}}}, {"step_name": "b", "variants": {"x": {}, "z": {}}}]}"#.to_owned(),
        r#"{"steps": [{"step_name": "a", "step_type": "A", "node_type": "source"}, {"step_name": "a", "step_type": "A", "node_type": "source"}, {"step_name": "c", "colour": 1}]}"#.to_owned(),
        r#"{"steps": [{"step_name": "a", "step_type": 1}, {"step_name": "b", "variants": {"nope": {}}}]}"#.to_owned(),
        r#"{"steps": [{"step_name": "a", "spec": {"outputs": {}}, "variants": {"training": {"spec": {"dependencies": {}}}}}]}"#.to_owned(),
        r#"{"steps": [{"step_name": "a", "step_type": "A", "node_type": "source", "variants": {"training": {"step_type": "B", "node_type": "source"}}}]}"#.to_owned(),
    ];
    for case in &cases {
        same_for_all(case)?;
    }
    Ok(())
}

/// A change to a document built from the fixture's steps, made to its value.
#[derive(Debug, Clone)]
enum Edit {
    /// A key no format knows, in the step.
    Unknown,
    /// The step without one of its keys (the `n`th).
    Remove(usize),
    /// One of the step's values (the `n`th) replaced by a value of another shape.
    Reshape(usize, usize),
    /// The step named as another one.
    Rename(usize),
    /// A nested `spec` section holding wiring.
    NestedSpec,
    /// A variant of another step type.
    VariantType,
    /// A key no format knows, in the step's first dependency or output.
    UnknownInside,
    /// A variant with a key no format knows.
    UnknownVariant,
}

fn edit() -> impl Strategy<Value = (usize, Edit)> {
    let edit = prop_oneof![
        Just(Edit::Unknown),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), any::<usize>()).prop_map(|(k, v)| Edit::Reshape(k, v)),
        any::<usize>().prop_map(Edit::Rename),
        Just(Edit::NestedSpec),
        Just(Edit::VariantType),
        Just(Edit::UnknownInside),
        Just(Edit::UnknownVariant),
    ];
    (any::<usize>(), edit)
}

fn apply(steps: &mut [Value], (at, edit): &(usize, Edit)) {
    let names: Vec<Value> = steps.iter().map(|s| s["step_name"].clone()).collect();
    let count = steps.len();
    let Some(Value::Object(step)) = steps.get_mut(at % count.max(1)) else {
        return;
    };
    let shapes = [
        json!(null),
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
        json!(true),
    ];
    match edit {
        Edit::Unknown => {
            step.insert("colour".into(), json!("red"));
        }
        Edit::Remove(n) => {
            if let Some(key) = step.keys().nth(n % step.len().max(1)).cloned() {
                step.shift_remove(&key);
            }
        }
        Edit::Reshape(n, v) => {
            if let Some(key) = step.keys().nth(n % step.len().max(1)).cloned() {
                step.insert(key, shapes[v % shapes.len()].clone());
            }
        }
        Edit::Rename(n) => {
            step.insert("step_name".into(), names[n % names.len()].clone());
        }
        Edit::NestedSpec => {
            step.insert("spec".into(), json!({"outputs": {}}));
        }
        Edit::VariantType => {
            if let Some(Value::Object(variants)) = step.get_mut("variants")
                && let Some(Value::Object(variant)) = variants.values_mut().next()
            {
                variant.insert("step_type".into(), json!("Other"));
            }
        }
        Edit::UnknownInside => {
            for section in ["dependencies", "outputs"] {
                if let Some(Value::Object(entries)) = step.get_mut(section)
                    && let Some(Value::Object(entry)) = entries.values_mut().next()
                {
                    entry.insert("colour".into(), json!(1));
                    return;
                }
            }
        }
        Edit::UnknownVariant => {
            step.insert("variants".into(), json!({"training": {"colour": 1}}));
        }
    }
}

/// A change to the text of a document.
#[derive(Debug, Clone)]
enum Damage {
    /// Up to 8 bytes cut out.
    Cut(usize, usize),
    /// A piece of JSON (or not) put in.
    Insert(usize, usize),
    /// The first key of an object given again before it, with one of a few values.
    Repeat(usize, usize),
}

const PIECES: &[&str] = &[
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    "\"",
    " ",
    "\n",
    "\\u12",
    "1e999",
    "-",
    "null",
    "\"x\":1,",
    "\"step_name\":\"zz\",",
    "\"steps\":[],",
    "{\"a\":1,\"a\":2}",
    "0",
    "\u{e9}",
];

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1..8usize).prop_map(|(at, len)| Damage::Cut(at, len)),
        (any::<usize>(), any::<usize>()).prop_map(|(at, piece)| Damage::Insert(at, piece)),
        (any::<usize>(), any::<usize>()).prop_map(|(at, value)| Damage::Repeat(at, value)),
    ]
}

/// The char boundary at or after `at % len`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

fn spoil(text: &mut String, damage: &Damage) {
    match damage {
        Damage::Cut(at, len) => {
            let start = boundary(text, *at);
            let end = boundary(text, start.saturating_add(*len).min(text.len()));
            text.replace_range(start..end, "");
        }
        Damage::Insert(at, piece) => {
            let at = boundary(text, *at);
            text.insert_str(at, PIECES[piece % PIECES.len()]);
        }
        Damage::Repeat(at, value) => {
            let opens: Vec<usize> = text.match_indices("{\"").map(|(i, _)| i).collect();
            let Some(&open) = opens.get(at % opens.len().max(1)) else {
                return;
            };
            let key_start = open + 2;
            let Some(key_len) = text[key_start..].find('"') else {
                return;
            };
            let key = text[key_start..key_start + key_len].to_owned();
            let values = ["0", "\"zz\"", "{\"a\":1,\"a\":2}"];
            let pair = format!("\"{key}\": {}, ", values[value % values.len()]);
            text.insert_str(open + 1, &pair);
        }
    }
}

/// A document of the fixture's steps `picks`, its `schema` and `steps` of the shape `top`
/// asks for, changed by `edits`.
fn document(picks: &[usize], top: usize, edits: &[(usize, Edit)], pretty: bool) -> String {
    let all = fixture_steps();
    let mut steps: Vec<Value> = picks
        .iter()
        .filter_map(|i| all.get(i % all.len().max(1)).cloned())
        .collect();
    for edit in edits {
        apply(&mut steps, edit);
    }
    let schema = [
        json!("cursus-step-specs/v1"),
        json!("pipeline-deps-export/v1"),
        json!("v9"),
        json!(3),
    ];
    let mut doc = serde_json::Map::new();
    if !top.is_multiple_of(5) {
        doc.insert("schema".into(), schema[top % schema.len()].clone());
    }
    if top % 7 == 1 {
        doc.insert("colour".into(), json!(1));
    }
    match top % 11 {
        0 => {}
        1 => {
            doc.insert("steps".into(), json!({"a": 1}));
        }
        _ => {
            doc.insert("steps".into(), Value::Array(steps));
        }
    }
    doc.insert("count".into(), json!(picks.len()));
    let doc = Value::Object(doc);
    let text = if pretty {
        serde_json::to_string_pretty(&doc)
    } else {
        serde_json::to_string(&doc)
    };
    text.unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Documents built from the fixture, changed in their values and then in their text,
    /// read the same both ways: the same steps, or the same error about the same step.
    #[test]
    fn a_changed_document_reads_the_same_both_ways(
        picks in prop::collection::vec(any::<usize>(), 0..5),
        top in any::<usize>(),
        edits in prop::collection::vec(edit(), 0..4),
        damages in prop::collection::vec(damage(), 0..3),
        pretty in any::<bool>(),
    ) {
        let mut text = document(&picks, top, &edits, pretty);
        for damage in &damages {
            spoil(&mut text, damage);
        }
        if let Err(difference) = same_for_all(&text) {
            prop_assert!(false, "{}", difference);
        }
    }

    /// Text made of JSON's tokens in any order (mostly not JSON) reads the same both ways.
    #[test]
    fn any_token_soup_reads_the_same_both_ways(
        tokens in prop::collection::vec(0..PIECES.len() + 6, 0..40),
    ) {
        let extra = ["\"steps\"", "\"step_name\"", "\"a\"", "1", "[{", "}]"];
        let text: String = tokens
            .iter()
            .map(|&t| PIECES.get(t).copied().unwrap_or_else(|| extra[t - PIECES.len()]))
            .collect();
        if let Err(difference) = same_for_all(&text) {
            prop_assert!(false, "{}", difference);
        }
    }
}
