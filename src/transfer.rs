//! JSON export and import of a context.
//!
//! Reach for this module when specifications come as JSON documents outside a registry:
//! [`parse_steps_json`] reads them (nothing is written) for you to inspect or to
//! pass to [`SpecificationRegistry::register_many`](crate::SpecificationRegistry::register_many);
//! [`EXPORT_SCHEMA`] identifies the export format. Importing into and exporting a registry
//! are methods of [`SpecificationRegistry`](crate::SpecificationRegistry::import_json)
//! (`import_json`, `import_json_with`, `export_json`, `export_json_to`); importing into a
//! context that may not exist yet, created in the same transaction, is
//! [`RegistryManager::import_steps`](crate::RegistryManager::import_steps), which returns an
//! [`ImportSummary`].
//!
//! The export format is
//! `{"schema": "pipeline-deps-export/v1", "context": "...", "steps": [{"step_name": "...", "step_type": ..., "node_type": ..., "dependencies": {...}, "outputs": {...}}]}`
//! in registration order. Import accepts it and the cursus fixture format (`schema`
//! `cursus-step-specs/v1`: a `steps` array whose entries carry `step_name`, the spec fields
//! and optionally `variants`, next to descriptive keys such as `source`, `notes`, `file` or
//! `contract`, which are read and ignored).
//!
//! Import is strict, so that a typo or a pasted duplicate cannot silently change what is
//! stored:
//! - a key that appears twice in one object, anywhere in the document, is refused, naming the
//!   key and the step (a plain JSON parser keeps the last one, which would silently drop a
//!   definition);
//! - a `schema` other than the two above is refused (a document without one is read as
//!   either format);
//! - a key that neither format knows (at the top, in a step or variant, in a dependency or an
//!   output) is refused, naming it and the step, unless
//!   [`ImportOptions::allow_unknown_fields`] is set;
//! - a step whose `dependencies` or `outputs` sit in a nested `spec` section (the shape of
//!   the original implementation's `model_dump()`) is refused even then: import does not
//!   read that section, and the step would be stored without its wiring.
//!
//! Limits on hostile input: JSON nesting deeper than 128 levels is refused by the parser;
//! names follow [`MAX_NAME_BYTES`](crate::spec::MAX_NAME_BYTES); the whole import is validated
//! before anything is written and then applied in one transaction.
//!
//! Memory: the document is read one `steps` entry at a time (its text is checked whole
//! first, without building a tree of it), so beside the text an import holds one entry's
//! parsed value and the specifications read so far.
//! An export is written as it is read ([`SpecificationRegistry::export_json_to`]), so it
//! holds neither its text nor every specification.

use std::cell::RefCell;

use serde_json::Value;

pub use crate::maintenance::ImportSummary;

use crate::error::{Error, Result, shorten, shorten_key};
use crate::registry::SpecificationRegistry;
use crate::spec::StepSpecification;
use serde::de::DeserializeSeed;
use unique::{Node, Segment, SegmentRef, UniqueKeys, path_of};

mod export;
mod streamed;
#[cfg(test)]
mod tests;
mod unique;

/// How [`SpecificationRegistry::import_json_with`] treats its input.
///
/// ```
/// use pipeline_deps::{ImportOptions, RegistryManager};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("ml")?;
/// let json = r#"{"steps": [{"step_name": "load", "step_type": "Load", "node_type": "source",
///     "outputs": {"data": {"type": "processing_output", "property_path": "properties.D"}}}]}"#;
/// assert_eq!(registry.import_json(json)?, 1);
/// // Importing again fails on the taken name unless told to replace.
/// assert!(registry.import_json(json).is_err());
/// assert_eq!(registry.import_json_with(json, &ImportOptions::new().replace(true))?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Replace steps that are already registered (as [`SpecificationRegistry::upsert`])
    /// instead of failing with [`Error::AlreadyRegistered`].
    pub replace: bool,
    /// Take each step's `variants[<job type>]` entry where it has one (fixture format). The
    /// fixture's variants are complete specifications, already merged over the base (see
    /// [`resolve::merge_variant`](crate::resolve::merge_variant) for merging a raw one), so
    /// the entry is taken whole; it keeps the base's step type (a variant's own goes under
    /// `declared_step_type`), and an entry whose `step_type` differs from its base's is
    /// refused as invalid input, as is a job type that no step of the document has (a
    /// misspelt one would import the base specs silently).
    pub variant: Option<String>,
    /// Ignore fields that neither import format knows instead of refusing the document
    /// (duplicate keys, an unknown `schema`, and a nested `spec` section holding a step's
    /// `dependencies` or `outputs`, which would be dropped, are refused either way).
    pub allow_unknown_fields: bool,
}

impl ImportOptions {
    /// Default options: register (fail on taken names), base specs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ImportOptions::replace`].
    #[must_use]
    pub fn replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }

    /// Sets [`ImportOptions::variant`].
    #[must_use]
    pub fn variant(mut self, job_type: impl Into<String>) -> Self {
        self.variant = Some(job_type.into());
        self
    }

    /// Sets [`ImportOptions::allow_unknown_fields`].
    #[must_use]
    pub fn allow_unknown_fields(mut self, allow: bool) -> Self {
        self.allow_unknown_fields = allow;
        self
    }
}

/// The `schema` value written by [`SpecificationRegistry::export_json`].
pub const EXPORT_SCHEMA: &str = "pipeline-deps-export/v1";

/// The `schema` value of the cursus fixture format.
const FIXTURE_SCHEMA: &str = "cursus-step-specs/v1";

/// Keys of the document's top level, in either format.
const TOP_KEYS: &[&str] = &[
    "schema",
    "context",
    "steps",
    "source",
    "notes",
    "count",
    "failures",
    "known_step_names",
    "legacy_aliases",
];
/// Keys of a `steps` entry: the spec's, its name, and the fixture's descriptive ones.
const STEP_KEYS: &[&str] = &[
    "step_name",
    "step_type",
    "node_type",
    "dependencies",
    "outputs",
    "variants",
    "file",
    "sagemaker_step_type",
    "dependency_order",
    "output_order",
    "contract",
];
/// Keys of a `variants[job type]` entry (fixture format).
const VARIANT_KEYS: &[&str] = &[
    "step_type",
    "declared_step_type",
    "node_type",
    "dependencies",
    "outputs",
    "dependency_order",
    "output_order",
    "contract",
];
/// Keys of a dependency (`dependency_type` is accepted for `type`).
const DEPENDENCY_KEYS: &[&str] = &[
    "logical_name",
    "type",
    "dependency_type",
    "required",
    "compatible_sources",
    "semantic_keywords",
    "data_type",
    "description",
];
/// Keys of an output (`output_type` is accepted for `type`).
const OUTPUT_KEYS: &[&str] = &[
    "logical_name",
    "type",
    "output_type",
    "property_path",
    "aliases",
    "semantic_keywords",
    "data_type",
    "description",
];

/// At most this many unknown fields are named in one message.
const SHOWN: usize = 10;

const WHAT: &str = "the JSON import";

/// Parses an import document into `(step name, spec)` pairs, in document order.
///
/// # Errors
/// [`Error::InvalidInput`] naming the entry (index and step name) that is malformed, the key
/// that appears twice in one object, an unknown `schema`, or a field that neither format
/// knows (unless [`ImportOptions::allow_unknown_fields`]). [`parse_steps_json_located`]
/// also gives the exact name of the step an error is about.
pub fn parse_steps_json(
    json: &str,
    options: &ImportOptions,
) -> Result<Vec<(String, StepSpecification)>> {
    parse_steps_json_located(json, options).map_err(|refusal| refusal.error)
}

/// A refusal of [`parse_steps_json_located`]: the error [`parse_steps_json`] returns, and
/// the step of the document it is about.
#[derive(Debug)]
#[non_exhaustive]
pub struct ImportRefusal {
    /// The error, as [`parse_steps_json`] returns it (its message names the step escaped
    /// and shortened).
    pub error: Error,
    /// The exact `step_name` of the entry of the document's `steps` the error is about (a
    /// key given twice in it, a value of the wrong shape, a step listed twice, its variant's
    /// type): for unknown fields in several entries, the first of them, in document order,
    /// that has a name. `None` when the error is about no entry (JSON syntax, the top level,
    /// the `schema`, a job type no step has) or about one without a string `step_name`.
    pub step: Option<String>,
}

impl ImportRefusal {
    /// The refusal as an import into `context` reports it
    /// ([`SpecificationRegistry::import_json_with`](crate::SpecificationRegistry::import_json_with)):
    /// the message names the context first, before the step and field it was about; the step
    /// is kept. For a caller that reads a document apart from writing it (the Python package
    /// reads it on a thread of its own) and reports its refusal as the import's.
    ///
    /// ```
    /// use pipeline_deps::ImportOptions;
    /// use pipeline_deps::transfer::parse_steps_json_located;
    ///
    /// let json = r#"{"steps": [{"step_name": "train", "step_type": 5, "node_type": "source"}]}"#;
    /// let refusal = parse_steps_json_located(json, &ImportOptions::new()).unwrap_err();
    /// let refusal = refusal.in_context("ml");
    /// assert_eq!(refusal.step.as_deref(), Some("train"));
    /// assert!(refusal.to_string().contains("the JSON import into context 'ml', steps[0] (step 'train')"));
    /// ```
    #[must_use]
    pub fn in_context(self, context: &str) -> ImportRefusal {
        let error = match self.error {
            // The message says which context, before the step and field a refusal inside a
            // step names.
            Error::InvalidInput {
                what,
                detail,
                source,
            } => {
                let import = format!("{WHAT} into context {}", shorten(context));
                Error::InvalidInput {
                    what: if what == WHAT {
                        import
                    } else {
                        format!("{import}, {what}")
                    },
                    detail,
                    source,
                }
            }
            other => other,
        };
        ImportRefusal {
            error,
            step: self.step,
        }
    }
}

impl From<ImportRefusal> for Error {
    fn from(refusal: ImportRefusal) -> Error {
        refusal.error
    }
}

/// The error's message: the refusal is its error, with the step beside it.
impl std::fmt::Display for ImportRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// So that `?` carries a refusal into any error type (`Box<dyn Error>`, `anyhow`); its
/// source is the error's own.
impl std::error::Error for ImportRefusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// [`parse_steps_json`], whose error also names the step it is about, exactly (for a caller
/// that reports it apart from the message, as the command-line tool's JSON errors do).
///
/// ```
/// use pipeline_deps::ImportOptions;
/// use pipeline_deps::transfer::parse_steps_json_located;
///
/// let json = r#"{"steps": [{"step_name": "train", "step_type": "Train",
///     "node_type": "source", "colour": "red"}]}"#;
/// let refusal = parse_steps_json_located(json, &ImportOptions::new()).unwrap_err();
/// assert_eq!(refusal.step.as_deref(), Some("train"));
/// assert!(refusal.error.is_invalid_input());
/// // It is an error of its own too, for `?` into any error type.
/// assert!(refusal.to_string().contains("colour"));
/// let _: Box<dyn std::error::Error> = Box::new(refusal);
/// ```
///
/// # Errors
/// As [`parse_steps_json`], with the step (see [`ImportRefusal::step`]).
pub fn parse_steps_json_located(
    json: &str,
    options: &ImportOptions,
) -> std::result::Result<Vec<(String, StepSpecification)>, ImportRefusal> {
    streamed::parse_located(json, options)
}

/// Parses `json` (the text of `what`, for messages) into a value, refusing a key that
/// appears twice in one object (serde_json would keep the last silently), naming where.
///
/// # Errors
/// [`Error::InvalidInput`] for text that is not JSON (with line and column) or a key given
/// twice in one object.
pub(crate) fn parse_unique(json: &str, what: &str) -> Result<Value> {
    parse_unique_located(json, what).map_err(|(error, _)| error)
}

/// [`parse_unique`], whose error also gives the exact name of the step a key given twice
/// lies in ([`step_at`]).
fn parse_unique_located(
    json: &str,
    what: &str,
) -> std::result::Result<Value, (Error, Option<String>)> {
    let duplicates = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let document = UniqueKeys {
        duplicates: &duplicates,
        parent: None,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value))
    .map_err(|e| (Error::invalid_json(what, e), None))?;
    if let Some(duplicate) = duplicates.into_inner().first() {
        let error = Error::InvalidInput {
            what: what.to_owned(),
            detail: format!(
                "{}: the key `{}` appears twice in one object; each key may appear once",
                locate(&duplicate.path, step_at(&document, &duplicate.path)),
                shorten_key(&duplicate.key)
            ),
            source: None,
        };
        return Err((
            error,
            step_at(&document, &duplicate.path).map(str::to_owned),
        ));
    }
    Ok(document)
}

/// Parses the text of one value that is known to be JSON without a repeated key (a part of a
/// document [`streamed`] has checked) into the value [`parse_unique`] would make of it.
fn parse_value(json: &str) -> serde_json::Result<Value> {
    let duplicates = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = UniqueKeys {
        duplicates: &duplicates,
        parent: None,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

fn invalid(detail: String) -> Error {
    Error::InvalidInput {
        what: WHAT.into(),
        detail,
        source: None,
    }
}

/// An unknown `schema` (the document's, if it has one) is refused: it names a format this
/// version cannot promise to read.
fn check_schema(schema: Option<&Value>) -> Result<()> {
    match schema {
        None => Ok(()),
        Some(Value::String(schema)) if schema == EXPORT_SCHEMA || schema == FIXTURE_SCHEMA => {
            Ok(())
        }
        Some(other) => Err(invalid(format!(
            "unknown schema {}: this version reads `{EXPORT_SCHEMA}` (its export format) and `{FIXTURE_SCHEMA}` (the cursus fixture format)",
            match other {
                Value::String(s) => shorten(s),
                other => shorten(&other.to_string()),
            }
        ))),
    }
}

/// The unknown keys of a whole document (its top level and every entry of `steps`), and
/// the name of the first step that has one.
fn document_unknown_fields(document: &Value) -> (Vec<String>, Option<&str>) {
    let mut unknown = Vec::new();
    let mut first_step = None;
    unknown_keys(document, TOP_KEYS, "the top level", &mut unknown);
    let steps = document.get("steps").and_then(Value::as_array);
    for (index, entry) in steps.into_iter().flatten().enumerate() {
        let before = unknown.len();
        step_fields(entry, &step_label(index, entry), &mut unknown);
        if first_step.is_none() && unknown.len() > before {
            first_step = entry.get("step_name").and_then(Value::as_str);
        }
    }
    (unknown, first_step)
}

/// Checks the text of a document in an import format (`what` names it) as the import does
/// by default, for readers that have no option to allow more: a key given twice in one
/// object, or one that neither format knows, is refused naming it.
///
/// # Errors
/// [`Error::InvalidInput`] for text that is not JSON, or a repeated or unknown key.
pub(crate) fn check_document_strict(json: &str, what: &str) -> Result<()> {
    let document = parse_unique(json, what)?;
    let (unknown, _) = document_unknown_fields(&document);
    if unknown.is_empty() {
        return Ok(());
    }
    Err(unknown_fields_error(
        what,
        &unknown,
        "remove or correct them: the JSON import refuses them too",
    ))
}

/// The unknown keys of one step entry (`place` names it in messages): its own, its
/// dependencies' and outputs', and those of its variants. The import checks every entry of
/// `steps` with it, and [`StepSpecification::from_json`] its one specification.
fn step_fields(entry: &Value, place: &str, unknown: &mut Vec<String>) {
    unknown_keys(entry, STEP_KEYS, place, unknown);
    spec_fields(entry, place, unknown);
    if let Some(variants) = entry.get("variants").and_then(Value::as_object) {
        for (job, variant) in variants {
            let place = format!("{place}, variant {}", shorten(job));
            unknown_keys(variant, VARIANT_KEYS, &place, unknown);
            spec_fields(variant, &place, unknown);
        }
    }
}

/// The refusal of the unknown fields found in `what`, naming the first [`SHOWN`] of them,
/// and how to get past it (`remedy`).
fn unknown_fields_error(what: &str, unknown: &[String], remedy: &str) -> Error {
    unknown_fields_counted(what, unknown, unknown.len(), remedy)
}

/// [`unknown_fields_error`] of `total` unknown fields, of which `first` are the first (at
/// least [`SHOWN`] of them, or all).
fn unknown_fields_counted(what: &str, first: &[String], total: usize, remedy: &str) -> Error {
    Error::InvalidInput {
        what: what.to_owned(),
        detail: format!(
            "{total} unknown field(s): {} ({remedy})",
            listed_counted(first, total, SHOWN, "; ")
        ),
        source: None,
    }
}

/// Parses the text of one specification (`what` names it in messages) as the import parses
/// a step of its document: a key given twice in one object and a key that neither import
/// format knows for a step entry are refused, naming them; then it must have the
/// specification's shape.
///
/// # Errors
/// [`Error::InvalidInput`] for text that is not JSON, a repeated or unknown key, or a value
/// of the wrong shape (naming the field, with line and column).
pub(crate) fn parse_spec_strict(json: &str, what: &str) -> Result<StepSpecification> {
    let document = parse_unique(json, what)?;
    let mut unknown = Vec::new();
    step_fields(&document, "the specification", &mut unknown);
    if !unknown.is_empty() {
        return Err(unknown_fields_error(
            what,
            &unknown,
            "remove or correct them: the JSON import refuses them too",
        ));
    }
    // Read from the text, not the parsed value, so that a shape error has a line and column.
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let spec = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| Error::invalid_json_at(what, &e.path().to_string(), e.into_inner()))?;
    deserializer
        .end()
        .map_err(|e| Error::invalid_json(what, e))?;
    Ok(spec)
}

/// The first `shown` of `items` joined by `separator`, then how many more there are.
fn listed(items: &[String], shown: usize, separator: &str) -> String {
    listed_counted(items, items.len(), shown, separator)
}

/// [`listed`] of `total` items, of which `items` are the first (at least `shown`, or all).
fn listed_counted(items: &[String], total: usize, shown: usize, separator: &str) -> String {
    let mut text = items
        .iter()
        .take(shown)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(separator);
    if total > shown {
        text.push_str(&format!("{separator}and {} more", total - shown));
    }
    text
}

/// The unknown keys of the dependencies and outputs of a step or variant.
fn spec_fields(spec: &Value, place: &str, unknown: &mut Vec<String>) {
    for (section, known) in [("dependencies", DEPENDENCY_KEYS), ("outputs", OUTPUT_KEYS)] {
        if let Some(entries) = spec.get(section).and_then(Value::as_object) {
            for (name, entry) in entries {
                let here = format!("{place}, {section}.{}", shorten_key(name));
                unknown_keys(entry, known, &here, unknown);
            }
        }
    }
}

fn unknown_keys(object: &Value, known: &[&str], place: &str, unknown: &mut Vec<String>) {
    if let Some(map) = object.as_object() {
        unknown_of(map.keys().map(String::as_str), known, place, unknown);
    }
}

/// The `keys` (of one object, found in `place`) that are not `known`.
fn unknown_of<'k>(
    keys: impl Iterator<Item = &'k str>,
    known: &[&str],
    place: &str,
    unknown: &mut Vec<String>,
) {
    for key in keys.filter(|k| !known.contains(k)) {
        unknown.push(format!("`{}` in {place}", shorten_key(key)));
    }
}

fn step_label(index: usize, entry: &Value) -> String {
    match entry.get("step_name").and_then(Value::as_str) {
        Some(name) => format!("steps[{index}] (step {})", shorten(name)),
        None => format!("steps[{index}]"),
    }
}

/// Where a path points, naming the step it lies in (`step`, as [`step_at`] finds it).
fn locate(path: &[Segment], step: Option<&str>) -> String {
    let mut text = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(&shorten_key(key));
            }
            Segment::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    let step = step.map(|name| format!(" (step {})", shorten(name)));
    match (text.is_empty(), step) {
        (true, _) => "the top level".into(),
        (false, Some(step)) => format!("{text}{step}"),
        (false, None) => text,
    }
}

/// The `step_name` of the entry of `steps` that `path` lies in, if it lies in one.
fn step_at<'d>(document: &'d Value, path: &[Segment]) -> Option<&'d str> {
    match path {
        [Segment::Key(steps), Segment::Index(index), ..] if steps == "steps" => document
            .get("steps")
            .and_then(|s| s.get(*index))
            .and_then(|e| e.get("step_name"))
            .and_then(Value::as_str),
        _ => None,
    }
}

impl SpecificationRegistry {
    /// Imports every step of a JSON document (export or fixture format) in one
    /// transaction, failing on names already registered. Returns the number imported.
    ///
    /// # Errors
    /// As [`SpecificationRegistry::import_json_with`].
    pub fn import_json(&self, json: &str) -> Result<usize> {
        self.import_json_with(json, &ImportOptions::default())
    }

    /// Imports with options (replace existing steps, take a job-type variant).
    /// All or nothing: on any error the context is unchanged.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for malformed JSON (its message names this context, unlike
    /// [`parse_steps_json`]'s, which reads a document for no context); [`Error::InvalidSpec`] listing the
    /// problems of every invalid spec; [`Error::AlreadyRegistered`] (without `replace`);
    /// [`Error::ContextCleared`]; [`Error::ReadOnly`] on a read-only manager; storage errors.
    pub fn import_json_with(&self, json: &str, options: &ImportOptions) -> Result<usize> {
        let steps = parse_steps_json_located(json, options)
            .map_err(|refusal| refusal.in_context(self.context_name()).error)?;
        let items = steps.iter().map(|(name, spec)| (name.as_str(), spec));
        if options.replace {
            self.upsert_many(items)
        } else {
            self.register_many(items)
        }
    }
}
