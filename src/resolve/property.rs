//! References to a producer step's output, rendered for SageMaker pipeline definitions.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::spec::OutputSpec;

/// The prefix removed from property paths before rendering or parsing.
const PROPERTIES_PREFIX: &str = "properties.";

/// A resolved dependency: which step produces it and through which output.
///
/// [`PropertyReference::new`] trims the step name and refuses a blank one; a resolver's
/// references name their producer exactly as registered (`"prep "` and `"prep"` are two
/// steps). Cloning is cheap (two reference counts).
///
/// ```
/// use pipeline_deps::{DependencyType, OutputSpec, PropertyReference};
///
/// let out = OutputSpec::new(
///     "model_output",
///     DependencyType::ModelArtifacts,
///     "properties.ModelArtifacts.S3ModelArtifacts",
/// );
/// let reference = PropertyReference::new(" training_step ", out)?;
/// assert_eq!(reference.to_string(), "training_step.model_output");
/// assert_eq!(
///     reference.to_sagemaker_property(),
///     serde_json::json!({"Get": "Steps.training_step.ModelArtifacts.S3ModelArtifacts"})
/// );
/// # Ok::<(), pipeline_deps::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyReference {
    step_name: Arc<str>,
    output_spec: Arc<OutputSpec>,
}

impl PropertyReference {
    /// A reference to `output_spec` of the step `step_name` (trimmed).
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when the step name is empty or only
    /// whitespace.
    pub fn new(step_name: &str, output_spec: impl Into<Arc<OutputSpec>>) -> crate::Result<Self> {
        let trimmed = step_name.trim();
        if trimmed.is_empty() {
            return Err(crate::Error::InvalidInput {
                what: "a property reference".to_owned(),
                detail: format!(
                    "the step name {} is empty or only whitespace; give the name of the producing step",
                    crate::error::shorten(step_name)
                ),
                source: None,
            });
        }
        Ok(PropertyReference {
            step_name: Arc::from(trimmed),
            output_spec: output_spec.into(),
        })
    }

    /// A reference to a registered step by its exact name (not trimmed: `"prep "` and
    /// `"prep"` are two steps), for a resolver that has already skipped blank names (the
    /// reference path's; the optimised paths share references through [`Self::from_parts`]).
    #[cfg(feature = "reference-resolver")]
    pub(crate) fn of_registered(step_name: &str, output_spec: impl Into<Arc<OutputSpec>>) -> Self {
        PropertyReference::from_parts(Arc::from(step_name), output_spec.into())
    }

    /// Builds a reference from a registered, non-blank name, exactly as registered
    /// (resolver internals).
    pub(crate) fn from_parts(step_name: Arc<str>, output_spec: Arc<OutputSpec>) -> Self {
        PropertyReference {
            step_name,
            output_spec,
        }
    }

    /// The producing step's name (trimmed).
    pub fn step_name(&self) -> &str {
        &self.step_name
    }

    /// The referenced output.
    pub fn output_spec(&self) -> &OutputSpec {
        &self.output_spec
    }

    /// The output's logical name.
    pub fn output_name(&self) -> &str {
        &self.output_spec.logical_name
    }

    /// The output's property path, e.g. `properties.ModelArtifacts.S3ModelArtifacts`.
    pub fn property_path(&self) -> &str {
        &self.output_spec.property_path
    }

    /// The SageMaker definition-time form `{"Get": "Steps.<step>.<path>"}`, where `<path>`
    /// is the property path without one leading `properties.` (an empty path gives
    /// `"Steps.<step>."`).
    pub fn to_sagemaker_property(&self) -> serde_json::Value {
        let path = self.property_path();
        let path = path.strip_prefix(PROPERTIES_PREFIX).unwrap_or(path);
        serde_json::json!({ "Get": format!("Steps.{}.{}", self.step_name, path) })
    }

    /// The property path split into access operations (see [`parse_property_path`]).
    pub fn path_parts(&self) -> Vec<PropertyPathPart> {
        parse_property_path(self.property_path())
    }
}

impl fmt::Display for PropertyReference {
    /// `<step_name>.<output logical name>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.step_name, self.output_spec.logical_name)
    }
}

impl Serialize for PropertyReference {
    /// `{"step_name", "output_name", "property_path"}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PropertyReference", 3)?;
        s.serialize_field("step_name", self.step_name())?;
        s.serialize_field("output_name", self.output_name())?;
        s.serialize_field("property_path", self.property_path())?;
        s.end()
    }
}

/// The key inside brackets of a property path part.
///
/// ```
/// use pipeline_deps::resolve::{PropertyKey, PropertyPathPart, parse_property_path};
///
/// let parts = parse_property_path("properties.Outputs[0].Values['uri']");
/// assert!(matches!(&parts[0], PropertyPathPart::Key { key: PropertyKey::Index(0), .. }));
/// assert!(matches!(&parts[1], PropertyPathPart::Key { key: PropertyKey::Name(n), .. } if n == "uri"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum PropertyKey {
    /// An unquoted all-digits key, e.g. `Outputs[0]`.
    Index(u64),
    /// A quoted (or non-numeric) key, e.g. `Outputs['data']`.
    Name(String),
}

/// One access operation of a parsed property path.
///
/// ```
/// use pipeline_deps::resolve::{PropertyPathPart, parse_property_path};
///
/// assert_eq!(
///     parse_property_path("properties.ModelArtifacts.S3ModelArtifacts"),
///     [
///         PropertyPathPart::Attribute("ModelArtifacts".into()),
///         PropertyPathPart::Attribute("S3ModelArtifacts".into()),
///     ]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum PropertyPathPart {
    /// Attribute access, e.g. `ModelArtifacts`.
    Attribute(String),
    /// Bracket access on an attribute (`attribute` is empty for a bare index).
    Key {
        /// The attribute before the bracket (may be empty).
        attribute: String,
        /// The key inside the brackets.
        key: PropertyKey,
    },
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Length in bytes of the leading run of word characters (Python `\w+`).
fn word_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(s.len(), |(i, _)| i)
}

/// Python `(\w+)\[([\'"]?)([^\]\'"]+)\2\]` matched at the start of `part`.
fn match_dict(part: &str) -> Option<(&str, PropertyKey)> {
    let w = word_len(part);
    let rest = part[w..].strip_prefix('[').filter(|_| w > 0)?;
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"');
    let body = quote.map_or(rest, |q| &rest[q.len_utf8()..]);
    let key_len = body
        .char_indices()
        .find(|(_, c)| matches!(c, ']' | '\'' | '"'))
        .map_or(body.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, after) = body.split_at(key_len);
    let after = match quote {
        Some(q) => after.strip_prefix(q)?,
        None => after,
    };
    after.strip_prefix(']')?;
    let key = match (quote, key.parse::<u64>()) {
        (None, Ok(index)) if key.bytes().all(|b| b.is_ascii_digit()) => PropertyKey::Index(index),
        _ => PropertyKey::Name(key.to_owned()),
    };
    Some((&part[..w], key))
}

/// Python `(\w+)\[(\d+)\]` matched at the start of `part`.
fn match_array(part: &str) -> Option<(&str, u64)> {
    let w = word_len(part);
    let rest = part[w..].strip_prefix('[').filter(|_| w > 0)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[digits..].strip_prefix(']').filter(|_| digits > 0)?;
    rest[..digits].parse().ok().map(|index| (&part[..w], index))
}

/// Python `([^.]+\[\d+\])\.(.+)` matched at the start of `part`: `(bracket part, rest)`.
fn match_complex(part: &str) -> Option<(&str, &str)> {
    let dot = part.find('.')?;
    let head = part[..dot].strip_suffix(']')?;
    let digits = head.bytes().rev().take_while(u8::is_ascii_digit).count();
    let open = head.len() - digits;
    if digits == 0 || open < 2 || !head[..open].ends_with('[') {
        return None;
    }
    let tail = &part[dot + 1..];
    let tail = tail.split('\n').next().unwrap_or(tail);
    (!tail.is_empty()).then_some((&part[..dot], tail))
}

/// Splits a property path into access operations like the Python reference's
/// `PropertyReference._parse_property_path`.
///
/// One leading `properties.` is dropped; the rest is split on `.` outside brackets; a part
/// `name['key']` / `name["key"]` / `name[key]` becomes a [`PropertyPathPart::Key`] (an
/// unquoted all-digits key is an [`PropertyKey::Index`]); anything after a part's first
/// bracket group is ignored (`A[1][2]` → `A[1]`), as in the Python reference. Digits and word
/// characters follow Rust's definitions (ASCII digits; alphanumerics and `_`).
///
/// ```
/// use pipeline_deps::resolve::{parse_property_path, PropertyKey, PropertyPathPart as P};
///
/// assert_eq!(
///     parse_property_path("properties.Config.Outputs['data'].Sub[0].Value"),
///     vec![
///         P::Attribute("Config".into()),
///         P::Key { attribute: "Outputs".into(), key: PropertyKey::Name("data".into()) },
///         P::Key { attribute: "Sub".into(), key: PropertyKey::Index(0) },
///         P::Attribute("Value".into()),
///     ]
/// );
/// ```
pub fn parse_property_path(path: &str) -> Vec<PropertyPathPart> {
    let path = path.strip_prefix(PROPERTIES_PREFIX).unwrap_or(path);
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let (mut in_brackets, mut depth) = (false, 0_i64);
    for c in path.chars() {
        match c {
            '.' if !in_brackets => {
                if !current.is_empty() {
                    parts.push(std::mem::take(&mut current));
                }
            }
            '[' => {
                in_brackets = true;
                depth += 1;
                current.push(c);
            }
            ']' => {
                depth -= 1;
                if depth == 0 {
                    in_brackets = false;
                }
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }

    let mut result = Vec::new();
    for part in &parts {
        if let Some((bracket, rest)) = match_complex(part) {
            if let Some((name, index)) = match_array(bracket) {
                result.push(PropertyPathPart::Attribute(name.to_owned()));
                result.push(PropertyPathPart::Key {
                    attribute: String::new(),
                    key: PropertyKey::Index(index),
                });
            }
            result.push(PropertyPathPart::Attribute(rest.to_owned()));
        } else if let Some((name, key)) = match_dict(part) {
            result.push(PropertyPathPart::Key {
                attribute: name.to_owned(),
                key,
            });
        } else if let Some((name, index)) = match_array(part) {
            result.push(PropertyPathPart::Attribute(name.to_owned()));
            result.push(PropertyPathPart::Key {
                attribute: String::new(),
                key: PropertyKey::Index(index),
            });
        } else {
            result.push(PropertyPathPart::Attribute(part.clone()));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DependencyType;

    #[test]
    fn a_blank_step_name_is_refused_with_a_bounded_message() {
        let output = OutputSpec::new("o", DependencyType::ProcessingOutput, "properties.O");
        for name in ["", " \t", &" ".repeat(100_000)] {
            let error = PropertyReference::new(name, output.clone()).err();
            let message = error.as_ref().map(ToString::to_string).unwrap_or_default();
            assert!(error.is_some_and(|e| e.is_invalid_input()), "{name:?}");
            assert!(message.len() < 400, "{} bytes", message.len());
            assert!(message.contains("empty or only whitespace"), "{message}");
        }
    }

    fn attr(s: &str) -> PropertyPathPart {
        PropertyPathPart::Attribute(s.to_owned())
    }

    fn key(a: &str, k: PropertyKey) -> PropertyPathPart {
        PropertyPathPart::Key {
            attribute: a.to_owned(),
            key: k,
        }
    }

    #[test]
    fn measured_parse_examples() {
        use PropertyKey::{Index, Name};
        assert_eq!(
            parse_property_path("Outputs[0]"),
            [key("Outputs", Index(0))]
        );
        assert_eq!(
            parse_property_path("TrainingJobSummaries[0]"),
            [key("TrainingJobSummaries", Index(0))]
        );
        assert_eq!(parse_property_path("A[1][2]"), [key("A", Index(1))]);
        assert_eq!(
            parse_property_path("A['a.b'].C"),
            [key("A", Name("a.b".into())), attr("C")]
        );
        assert_eq!(
            parse_property_path("properties.ProcessingOutputConfig.Outputs[\"x\"].S3Output.S3Uri"),
            [
                attr("ProcessingOutputConfig"),
                key("Outputs", Name("x".into())),
                attr("S3Output"),
                attr("S3Uri")
            ]
        );
        assert_eq!(parse_property_path("A['x]"), [attr("A['x]")]);
        assert_eq!(parse_property_path(""), Vec::<PropertyPathPart>::new());
        assert_eq!(
            parse_property_path("B[x[0].y]"),
            [attr("y]")],
            "the Python reference's complex pattern"
        );
    }

    #[test]
    fn blank_step_names_are_rejected_and_names_trimmed() -> crate::Result<()> {
        let out = OutputSpec::new("o", DependencyType::ProcessingOutput, "");
        assert!(PropertyReference::new("  \t", out.clone()).is_err());
        assert!(PropertyReference::new("", out.clone()).is_err());
        let r = PropertyReference::new(" st ", out)?;
        assert_eq!(r.step_name(), "st");
        assert_eq!(
            r.to_sagemaker_property(),
            serde_json::json!({"Get": "Steps.st."})
        );
        Ok(())
    }

    #[test]
    fn sagemaker_rendering_of_processing_output() -> crate::Result<()> {
        let out = OutputSpec::new(
            "processed_data",
            DependencyType::ProcessingOutput,
            "properties.ProcessingOutputConfig.Outputs['processed_data'].S3Output.S3Uri",
        );
        let r = PropertyReference::new("preprocessing", out)?;
        assert_eq!(
            r.to_sagemaker_property(),
            serde_json::json!({"Get": "Steps.preprocessing.ProcessingOutputConfig.Outputs['processed_data'].S3Output.S3Uri"})
        );
        assert_eq!(r.to_string(), "preprocessing.processed_data");
        Ok(())
    }
}
