//! The import's reading of its document, one `steps` entry at a time.
//!
//! A parsed [`Value`] takes several times the memory of its text (every object is an
//! `IndexMap`), so the import never parses the whole document into one: 100,000 fixture
//! specs (290 MB of text) took 1.7 GB that way. Instead it reads the text in passes that
//! keep no more than one entry's value at a time, and it refuses exactly what, and in the
//! order that, a reading of the whole tree did (the unit tests compare the two):
//! 1. [`scan`]: the whole text is JSON and no object repeats a key; it keeps the path being
//!    read and the keys of the objects that enclose it, no values. A syntax error anywhere
//!    comes first, then the first repeated key (in the order a tree's reading finds them:
//!    the inner before the outer), located by [`step_name_at`] reading the text again;
//! 2. [`fields`]: the top level, its values kept as borrowed slices of the text
//!    ([`RawValue`]), and so the `steps` entries: the schema and the top level's unknown
//!    fields are checked;
//! 3. [`read_entries`]: each entry in turn is parsed, checked for unknown fields and the
//!    variants it offers, converted, and dropped. The document-wide refusals (unknown
//!    fields, no `steps`, a variant no step has) come before any entry's conversion error,
//!    so the first of those is kept until every entry has been checked.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use rustc_hash::FxHashSet;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{
    Error, ImportOptions, ImportRefusal, Node, SHOWN, Segment, SegmentRef, TOP_KEYS, WHAT, invalid,
    listed, locate, parse_value, path_of, shorten, shorten_key, step_fields, step_label,
    unknown_fields_counted, unknown_of,
};
use crate::spec::StepSpecification;

type Parsed = Vec<(String, StepSpecification)>;
type Refused = ImportRefusal;

/// A refusal that is about no step.
fn refusal(error: Error) -> Refused {
    ImportRefusal { error, step: None }
}

/// [`parse_steps_json_located`](super::parse_steps_json_located).
pub(super) fn parse_located(json: &str, options: &ImportOptions) -> Result<Parsed, Refused> {
    scan(json)?;
    let top = fields(json).map_err(syntax)?;
    let schema = top.as_deref().and_then(|top| first(top, "schema"));
    let schema = schema.map(value).transpose()?;
    super::check_schema(schema.as_ref()).map_err(refusal)?;
    let mut unknown = Unknown::default();
    if let (Some(top), false) = (&top, options.allow_unknown_fields) {
        let keys = top.iter().map(|(key, _)| key.as_str());
        unknown.add(keys, TOP_KEYS, "the top level");
    }
    let steps = top.as_deref().and_then(|top| first(top, "steps"));
    let steps = steps.map(|raw| elements(raw.get())).transpose();
    match steps.map_err(syntax)?.flatten() {
        Some(steps) => read_entries(&steps, options, unknown),
        None => {
            unknown.refuse()?;
            Err(refusal(invalid(
                "the document has no `steps` array at its top level".into(),
            )))
        }
    }
}

/// A refusal of text that [`scan`] found to be JSON: it does not happen.
fn syntax(error: serde_json::Error) -> Refused {
    refusal(Error::invalid_json(WHAT, error))
}

/// The value of a part of the document.
fn value(raw: &RawValue) -> Result<Value, Refused> {
    parse_value(raw.get()).map_err(syntax)
}

/// The unknown fields found so far: the first [`SHOWN`], how many in all, and the first
/// step, in document order, that has one and a name.
#[derive(Default)]
struct Unknown {
    first: Vec<String>,
    total: usize,
    step: Option<String>,
}

impl Unknown {
    fn add<'k>(&mut self, keys: impl Iterator<Item = &'k str>, known: &[&str], place: &str) {
        let mut found = Vec::new();
        unknown_of(keys, known, place, &mut found);
        self.take(found);
    }

    fn take(&mut self, found: Vec<String>) {
        self.total += found.len();
        let room = SHOWN.saturating_sub(self.first.len());
        self.first.extend(found.into_iter().take(room));
    }

    /// Records the unknown fields of entry `index` of `steps`.
    fn entry(&mut self, index: usize, entry: &Value) {
        let mut found = Vec::new();
        step_fields(entry, &step_label(index, entry), &mut found);
        if self.step.is_none() && !found.is_empty() {
            self.step = entry
                .get("step_name")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        self.take(found);
    }

    fn any(&self) -> bool {
        self.total > 0
    }

    fn refuse(self) -> Result<(), Refused> {
        if !self.any() {
            return Ok(());
        }
        let remedy = "allow unknown fields to import such a document anyway";
        let error = unknown_fields_counted(WHAT, &self.first, self.total, remedy);
        Err(ImportRefusal {
            error,
            step: self.step,
        })
    }
}

/// The variants the entries offer, while the one asked for is not among them (in the order
/// they first appear, for the refusal that lists them).
struct Variants<'o> {
    job: Option<&'o str>,
    found: bool,
    offered: indexmap::IndexSet<String>,
}

impl<'o> Variants<'o> {
    fn new(job: Option<&'o str>) -> Self {
        Variants {
            job,
            found: false,
            offered: indexmap::IndexSet::new(),
        }
    }

    fn entry(&mut self, entry: &Value) {
        let Some(job) = self.job else { return };
        if self.found {
            return;
        }
        let variants = entry.get("variants").and_then(Value::as_object);
        for name in variants.into_iter().flat_map(serde_json::Map::keys) {
            if name == job {
                self.found = true;
                self.offered = indexmap::IndexSet::new();
                return;
            }
            if !self.offered.contains(name) {
                self.offered.insert(name.clone());
            }
        }
    }

    /// A misspelt job type would otherwise import the base specs silently.
    fn refuse(self, entries: usize) -> Result<(), Refused> {
        let Some(job) = self.job else { return Ok(()) };
        if self.found || entries == 0 {
            return Ok(());
        }
        let offered = if self.offered.is_empty() {
            "it has no variants".to_owned()
        } else {
            let names: Vec<String> = self.offered.iter().map(|v| shorten(v)).collect();
            format!("its variants are {}", listed(&names, 20, ", "))
        };
        Err(refusal(invalid(format!(
            "no step of the document has a variant {}; {offered}; leave the variant out to import the steps as they are",
            shorten(job)
        ))))
    }
}

/// Reads every entry of `steps` once: checks it, converts it while no refusal is certain,
/// and drops its value.
fn read_entries(
    steps: &[&RawValue],
    options: &ImportOptions,
    mut unknown: Unknown,
) -> Result<Parsed, Refused> {
    let mut variants = Variants::new(options.variant.as_deref());
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    let mut failed = None;
    for (index, raw) in steps.iter().enumerate() {
        let entry = value(raw)?;
        if !options.allow_unknown_fields {
            unknown.entry(index, &entry);
        }
        variants.entry(&entry);
        if unknown.any() {
            // The document is refused for its fields: the steps read so far are not needed.
            out = Vec::new();
            seen = HashMap::new();
        } else if failed.is_none() {
            match convert(index, &entry, options, &mut seen) {
                Ok(step) => out.push(step),
                Err(refused) => failed = Some(refused),
            }
        }
    }
    unknown.refuse()?;
    variants.refuse(steps.len())?;
    match failed {
        Some(refused) => Err(refused),
        None => Ok(out),
    }
}

/// Entry `index` of `steps` as a step (its variant's specification with
/// [`ImportOptions::variant`]), refusing one that is malformed or lists a step again (`seen`
/// holds the names read so far, with their index).
fn convert(
    index: usize,
    entry: &Value,
    options: &ImportOptions,
    seen: &mut HashMap<String, usize>,
) -> Result<(String, StepSpecification), Refused> {
    let about = |step: Option<&str>| {
        let step = step.map(str::to_owned);
        move |error| ImportRefusal { error, step }
    };
    let name = entry
        .get("step_name")
        .and_then(Value::as_str)
        .ok_or_else(|| about(None)(invalid(format!("steps[{index}] has no string `step_name`"))))?;
    let source = match &options.variant {
        Some(job) => entry
            .get("variants")
            .and_then(|v| v.get(job.as_str()))
            .unwrap_or(entry),
        None => entry,
    };
    if let Some(holds) = nested_wiring(entry, source) {
        return Err(about(Some(name))(invalid(format!(
            "steps[{index}] (step {}) has its `{holds}` in a nested `spec` section, which import does not read; move its `dependencies` and `outputs` to the step's top level",
            shorten(name)
        ))));
    }
    // The entry is already parsed, so the error has no line: it names the field.
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
    Ok((name.to_owned(), spec))
}

/// Unknown fields may be allowed, but never one that holds the step's wiring: a nested
/// `spec` section (the original implementation's `model_dump()` shape) would otherwise be
/// dropped and the step imported without its dependencies and outputs. The section of the
/// entry or of its `source` (its variant) that holds some names what it holds.
fn nested_wiring(entry: &Value, source: &Value) -> Option<&'static str> {
    let section = [entry, source]
        .into_iter()
        .filter_map(|object| object.get("spec"))
        .find(|section| {
            section.get("dependencies").is_some() || section.get("outputs").is_some()
        })?;
    Some(if section.get("dependencies").is_some() {
        "dependencies"
    } else {
        "outputs"
    })
}

/// The keys and values of the object `json` is, in order (a key given twice is there twice),
/// the values as slices of the text; `None` if it is not an object.
fn fields(json: &str) -> serde_json::Result<Option<Vec<(String, &RawValue)>>> {
    if !json.trim_start_matches(is_space).starts_with('{') {
        return Ok(None);
    }
    serde_json::from_str::<Fields<'_>>(json).map(|fields| Some(fields.0))
}

/// The elements of the array `json` is, as slices of the text; `None` if it is not an array.
fn elements(json: &str) -> serde_json::Result<Option<Vec<&RawValue>>> {
    if !json.trim_start_matches(is_space).starts_with('[') {
        return Ok(None);
    }
    serde_json::from_str(json).map(Some)
}

/// The whitespace JSON allows between tokens.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The value of the first `key` of `fields`.
fn first<'a>(fields: &[(String, &'a RawValue)], key: &str) -> Option<&'a RawValue> {
    fields.iter().find(|(k, _)| k == key).map(|(_, raw)| *raw)
}

/// An object's keys and values, in order, the values as slices of the text.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> de::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Vec::new();
        while let Some(entry) = access.next_entry::<String, &'de RawValue>()? {
            fields.push(entry);
        }
        Ok(Fields(fields))
    }
}

/// The whole text is JSON (exactly as [`parse_unique`](super::parse_unique) reads it) and no
/// object repeats a key; the first key repeated is refused as `parse_unique` refuses it,
/// naming the step it lies in.
fn scan(json: &str) -> Result<(), Refused> {
    let repeated = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(json);
    KeyScan {
        repeated: &repeated,
        parent: None,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end())
    .map_err(syntax)?;
    let Some((path, key)) = repeated.into_inner() else {
        return Ok(());
    };
    let step = step_name_at(json, &path);
    Err(ImportRefusal {
        error: Error::InvalidInput {
            what: WHAT.to_owned(),
            detail: format!(
                "{}: the key `{}` appears twice in one object; each key may appear once",
                locate(&path, step.as_deref()),
                shorten_key(&key)
            ),
            source: None,
        },
        step,
    })
}

/// The `step_name` of the entry of `steps` that `path` lies in, as
/// [`step_at`](super::step_at) finds it in the tree of `json` (which keeps the first of
/// repeated keys).
fn step_name_at(json: &str, path: &[Segment]) -> Option<String> {
    let [Segment::Key(steps), Segment::Index(index), ..] = path else {
        return None;
    };
    if steps != "steps" {
        return None;
    }
    let top = fields(json).ok()??;
    let entries = elements(first(&top, "steps")?.get()).ok()??;
    let entry = fields(entries.get(*index)?.get()).ok()??;
    let name = first(&entry, "step_name")?.get();
    if !name.starts_with('"') {
        return None;
    }
    serde_json::from_str(name).ok()
}

/// Reads any JSON value as [`UniqueKeys`](super::UniqueKeys) does, keeping nothing but the
/// first key found twice in one object (with the object's path), in the order `UniqueKeys`
/// records them. Like it, it reads only text, so it has no `visit_none`.
struct KeyScan<'r, 'p> {
    repeated: &'r RefCell<Option<(Vec<Segment>, String)>>,
    parent: Option<&'p Node<'p>>,
}

impl<'de> DeserializeSeed<'de> for KeyScan<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyScan<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let node = Node {
                parent: self.parent,
                segment: SegmentRef::Index(index),
            };
            let seed = KeyScan {
                repeated: self.repeated,
                parent: Some(&node),
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let mut keys = FxHashSet::default();
        while let Some(key) = access.next_key::<String>()? {
            let node = Node {
                parent: self.parent,
                segment: SegmentRef::Key(&key),
            };
            access.next_value_seed(KeyScan {
                repeated: self.repeated,
                parent: Some(&node),
            })?;
            if keys.contains(&key) {
                let mut repeated = self.repeated.borrow_mut();
                if repeated.is_none() {
                    *repeated = Some((path_of(self.parent), key));
                }
            } else {
                keys.insert(key);
            }
        }
        Ok(())
    }
}
