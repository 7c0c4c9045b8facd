//! The cursus interface fixture format and job-type variants.
//!
//! A step interface may declare job-type variants (`training`, `validation`, ...). The
//! reference loads a variant by merging the variant's `spec` dictionary recursively over the
//! base one: dictionaries merge key by key, anything else (lists included) replaces. The
//! variant's own `step_type` is ignored: the step type stays the base one.

use std::fmt;
use std::path::Path;

use indexmap::IndexMap;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::scoring::StepTypeCatalog;
use crate::error::{Error, Result, shorten};
use crate::spec::StepSpecification;

/// A JSON value whose objects keep their key order (serde_json's `Value` sorts keys unless
/// its `preserve_order` feature is on, and declaration order decides resolver ties).
#[derive(Debug, Clone, PartialEq)]
enum OrderedValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<OrderedValue>),
    Object(IndexMap<String, OrderedValue>),
}

impl<'de> Deserialize<'de> for OrderedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<OrderedValue, E> {
                Ok(OrderedValue::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<OrderedValue, E> {
                Ok(OrderedValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<OrderedValue, D::Error> {
                OrderedValue::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<OrderedValue, E> {
                Ok(OrderedValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<OrderedValue, E> {
                Ok(OrderedValue::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<OrderedValue, E> {
                Ok(OrderedValue::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<OrderedValue, E> {
                Ok(
                    serde_json::Number::from_f64(v)
                        .map_or(OrderedValue::Null, OrderedValue::Number),
                )
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<OrderedValue, E> {
                Ok(OrderedValue::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<OrderedValue, E> {
                Ok(OrderedValue::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<OrderedValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OrderedValue::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<OrderedValue, A::Error> {
                let mut entries = IndexMap::new();
                while let Some((key, value)) = map.next_entry::<String, OrderedValue>()? {
                    entries.insert(key, value);
                }
                Ok(OrderedValue::Object(entries))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for OrderedValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            OrderedValue::Null => serializer.serialize_unit(),
            OrderedValue::Bool(b) => serializer.serialize_bool(*b),
            OrderedValue::Number(n) => n.serialize(serializer),
            OrderedValue::String(s) => serializer.serialize_str(s),
            OrderedValue::Array(items) => items.serialize(serializer),
            OrderedValue::Object(entries) => entries.serialize(serializer),
        }
    }
}

/// The Python reference's recursive merge: for each key of `overlay`, two objects merge
/// recursively; anything else replaces (lists are not concatenated). New keys are appended
/// in the overlay's order; existing keys keep their place.
fn deep_merge(base: &mut OrderedValue, overlay: OrderedValue) {
    match (base, overlay) {
        (OrderedValue::Object(base), OrderedValue::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

fn invalid(what: &str, detail: impl Into<String>) -> Error {
    Error::InvalidInput {
        what: what.to_owned(),
        detail: detail.into(),
        source: None,
    }
}

/// Merges a raw job-type variant `spec` (JSON object, as under `variants.<job>.spec` of a
/// `.step.yaml` interface) over `base`, as the Python reference's loader does: objects merge key by
/// key, everything else (lists included) replaces, new dependencies/outputs come after the
/// base ones, declaration order is kept.
///
/// ```
/// use pipeline_deps::resolve::merge_variant;
/// use pipeline_deps::{DependencySpec, DependencyType, NodeType, StepSpecification};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let base = StepSpecification::new("RiskTableMapping", NodeType::Internal).with_dependency(
///     DependencySpec::new("input_data", DependencyType::ProcessingOutput).with_keywords(["data"]),
/// );
/// let training = merge_variant(
///     &base,
///     r#"{"dependencies": {"input_data": {"semantic_keywords": ["training", "data"]}}}"#,
/// )?;
/// assert_eq!(training.dependencies["input_data"].semantic_keywords, ["training", "data"]);
/// assert_eq!(training.dependencies["input_data"].dependency_type, DependencyType::ProcessingOutput);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::InvalidInput`] when `variant_spec` is not a JSON object or gives a key twice in
/// one object, or the merged result
/// is not a valid specification shape or has a key that
/// [`StepSpecification::from_json`] refuses (one the JSON import does not know).
pub fn merge_variant(base: &StepSpecification, variant_spec: &str) -> Result<StepSpecification> {
    let what = "a job-type variant spec";
    // A key given twice is refused here: the parsed overlay would keep the last silently.
    crate::transfer::parse_unique(variant_spec, what)?;
    let overlay: OrderedValue =
        serde_json::from_str(variant_spec).map_err(|e| Error::invalid_json(what, e))?;
    if !matches!(overlay, OrderedValue::Object(_)) {
        return Err(invalid(what, "the variant spec must be a JSON object"));
    }
    let base_json = serde_json::to_string(base).map_err(|e| Error::invalid_json(what, e))?;
    let mut merged: OrderedValue =
        serde_json::from_str(&base_json).map_err(|e| Error::invalid_json(what, e))?;
    deep_merge(&mut merged, overlay);
    let merged = serde_json::to_string(&merged).map_err(|e| Error::invalid_json(what, e))?;
    // As strict as `StepSpecification::from_json`: a misspelt key of the variant is refused
    // rather than dropped.
    crate::transfer::parse_spec_strict(&merged, what)
}

#[derive(Deserialize)]
struct RawVariant {
    #[serde(flatten)]
    spec: StepSpecification,
    #[serde(default)]
    declared_step_type: Option<String>,
}

#[derive(Deserialize)]
struct RawEntry {
    step_name: String,
    #[serde(flatten)]
    spec: StepSpecification,
    #[serde(default)]
    variants: IndexMap<String, RawVariant>,
}

#[derive(Deserialize)]
struct RawCatalog {
    #[serde(default)]
    known_step_names: Vec<String>,
    #[serde(default)]
    legacy_aliases: IndexMap<String, String>,
    steps: Vec<RawEntry>,
}

/// One step of an [`InterfaceCatalog`].
///
/// ```
/// use pipeline_deps::resolve::InterfaceCatalog;
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let catalog = InterfaceCatalog::from_json(r#"{"steps": [{"step_name": "Load",
///     "step_type": "Load", "node_type": "singular",
///     "variants": {"training": {"step_type": "Load", "node_type": "singular",
///                               "declared_step_type": "LoadTraining"}}}]}"#)?;
/// let entry = catalog.get("Load").expect("listed");
/// assert_eq!(entry.variants["training"].step_type, "Load");
/// assert_eq!(entry.declared_step_types["training"].as_deref(), Some("LoadTraining"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InterfaceEntry {
    /// The step's name.
    pub step_name: String,
    /// The base specification.
    pub spec: StepSpecification,
    /// Job type → merged variant specification (base step type kept).
    pub variants: IndexMap<String, StepSpecification>,
    /// Job type → the step type the variant declared (informational, never applied).
    pub declared_step_types: IndexMap<String, Option<String>>,
}

/// The step interfaces of the cursus fixture format (`cursus-step-specs/v1`): per step its
/// base specification and merged job-type variants, plus the known step names and legacy
/// aliases of the compatible-sources rule.
///
/// ```
/// use pipeline_deps::resolve::InterfaceCatalog;
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let catalog = InterfaceCatalog::from_json(r#"{
///     "known_step_names": ["Load"],
///     "steps": [{"step_name": "Load", "step_type": "Load", "node_type": "source"}]
/// }"#)?;
/// assert_eq!(catalog.len(), 1);
/// assert_eq!(catalog.load("Load", None).map(|s| s.step_type.as_str()), Some("Load"));
/// assert_eq!(catalog.step_type_catalog().known_step_names(), ["Load"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceCatalog {
    entries: IndexMap<String, InterfaceEntry>,
    known_step_names: Vec<String>,
    legacy_aliases: IndexMap<String, String>,
}

impl InterfaceCatalog {
    /// Parses the fixture format.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for malformed JSON, a missing `steps` array, an entry that is
    /// not a specification, a step name given twice, or a key given twice in one object or
    /// unknown to the format (as the JSON import refuses them).
    pub fn from_json(json: &str) -> Result<Self> {
        let what = "the step interface catalog";
        // Strict as the import of the same format: a misspelt key is refused, not dropped.
        crate::transfer::check_document_strict(json, what)?;
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let raw: RawCatalog = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| Error::invalid_json_at(what, &e.path().to_string(), e.into_inner()))?;
        deserializer
            .end()
            .map_err(|e| Error::invalid_json(what, e))?;
        let mut entries = IndexMap::with_capacity(raw.steps.len());
        for entry in raw.steps {
            if entries.contains_key(&entry.step_name) {
                return Err(invalid(
                    what,
                    format!("step {} appears twice", shorten(&entry.step_name)),
                ));
            }
            let declared_step_types = entry
                .variants
                .iter()
                .map(|(job, v)| (job.clone(), v.declared_step_type.clone()))
                .collect();
            let variants = entry
                .variants
                .into_iter()
                .map(|(job, v)| (job, v.spec))
                .collect();
            entries.insert(
                entry.step_name.clone(),
                InterfaceEntry {
                    step_name: entry.step_name,
                    spec: entry.spec,
                    variants,
                    declared_step_types,
                },
            );
        }
        Ok(InterfaceCatalog {
            entries,
            known_step_names: raw.known_step_names,
            legacy_aliases: raw.legacy_aliases,
        })
    }

    /// Reads and parses a fixture file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; otherwise as [`Self::from_json`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            action: format!("reading the step interface catalog {}", path.display()),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Step names in file order.
    pub fn step_names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The steps in file order.
    pub fn entries(&self) -> impl Iterator<Item = &InterfaceEntry> {
        self.entries.values()
    }

    /// One step's entry.
    pub fn get(&self, step_name: &str) -> Option<&InterfaceEntry> {
        self.entries.get(step_name)
    }

    /// A step's specification as the Python reference's `load_interface(step_name, job_type)`
    /// returns it: the variant for `job_type` when the step has it; the base otherwise
    /// (no job type; a step without variants; or an unknown job type, which is logged).
    pub fn load(&self, step_name: &str, job_type: Option<&str>) -> Option<&StepSpecification> {
        let entry = self.entries.get(step_name)?;
        let Some(job) = job_type else {
            return Some(&entry.spec);
        };
        match entry.variants.get(job) {
            Some(variant) => Some(variant),
            None => {
                if !entry.variants.is_empty() {
                    tracing::warn!(
                        step = step_name,
                        job_type = job,
                        "no such job-type variant; using the base specification"
                    );
                }
                Some(&entry.spec)
            }
        }
    }

    /// Every step as `(name, spec)` in file order, each loaded with [`Self::load`].
    pub fn specs(&self, job_type: Option<&str>) -> Vec<(&str, &StepSpecification)> {
        self.entries
            .keys()
            .filter_map(|name| self.load(name, job_type).map(|s| (name.as_str(), s)))
            .collect()
    }

    /// The file's `known_step_names`.
    pub fn known_step_names(&self) -> &[String] {
        &self.known_step_names
    }

    /// The file's `legacy_aliases` (legacy → canonical).
    pub fn legacy_aliases(&self) -> &IndexMap<String, String> {
        &self.legacy_aliases
    }

    /// A [`StepTypeCatalog`] from the file's known step names and legacy aliases.
    pub fn step_type_catalog(&self) -> StepTypeCatalog {
        StepTypeCatalog::new(
            self.known_step_names.iter().cloned(),
            self.legacy_aliases
                .iter()
                .map(|(l, c)| (l.clone(), c.clone())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> OrderedValue {
        serde_json::from_str(s).unwrap_or(OrderedValue::Null)
    }

    #[test]
    fn merge_is_recursive_lists_replace_and_order_is_kept()
    -> std::result::Result<(), serde_json::Error> {
        let mut base = parse(r#"{"z": {"b": 1, "a": [1, 2]}, "y": 2}"#);
        deep_merge(
            &mut base,
            parse(r#"{"z": {"a": [3], "c": null}, "x": {"k": true}}"#),
        );
        assert_eq!(
            serde_json::to_string(&base)?,
            r#"{"z":{"b":1,"a":[3],"c":null},"y":2,"x":{"k":true}}"#
        );
        let mut scalar = parse(r#"{"a": {"b": 1}}"#);
        deep_merge(&mut scalar, parse(r#"{"a": 5}"#));
        assert_eq!(serde_json::to_string(&scalar)?, r#"{"a":5}"#);
        Ok(())
    }

    #[test]
    fn non_object_variant_is_rejected() {
        let base = StepSpecification::new("T", crate::spec::NodeType::Singular);
        assert!(merge_variant(&base, "[1]").is_err());
        assert!(merge_variant(&base, "{").is_err());
    }
}
