//! JSON export and import of a context.
//!
//! Reach for this module when specifications come as JSON documents outside a registry:
//! [`parse_steps_json`] reads them (nothing is written) for you to inspect or to
//! pass to [`SpecificationRegistry::register_many`](crate::SpecificationRegistry::register_many);
//! [`EXPORT_SCHEMA`] identifies the export format. Importing into and exporting a registry
//! are methods of [`SpecificationRegistry`](crate::SpecificationRegistry::import_json)
//! (`import_json`, `import_json_with`, `export_json`); importing into a context that may not
//! exist yet, created in the same transaction, is
//! [`RegistryManager::import_steps`](crate::RegistryManager::import_steps), which returns an
//! [`ImportSummary`].
//!
//! The export format is
//! `{"schema": "pipeline-deps-export/v1", "context": "...", "steps": [{"step_name": "...", "step_type": ..., "node_type": ..., "dependencies": {...}, "outputs": {...}}]}`
//! in registration order. Import accepts it and the cursus fixture format (a `steps` array
//! whose entries carry `step_name`, the spec fields and optionally `variants`); other keys
//! are ignored.
//!
//! Limits on hostile input: JSON nesting deeper than 128 levels is refused by the parser;
//! names follow [`MAX_NAME_BYTES`](crate::spec::MAX_NAME_BYTES); the whole import is validated
//! before anything is written and then applied in one transaction.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::maintenance::ImportSummary;

use crate::error::{Error, Result, shorten};
use crate::registry::{ImportOptions, SpecificationRegistry};
use crate::spec::StepSpecification;

/// The `schema` value written by [`SpecificationRegistry::export_json`].
pub const EXPORT_SCHEMA: &str = "pipeline-deps-export/v1";

#[derive(Serialize)]
struct ExportStep<'a> {
    step_name: &'a str,
    #[serde(flatten)]
    spec: &'a StepSpecification,
}

#[derive(Serialize)]
struct Export<'a> {
    schema: &'static str,
    context: &'a str,
    steps: Vec<ExportStep<'a>>,
}

/// Parses an import document into `(step name, spec)` pairs, in document order.
///
/// # Errors
/// [`Error::InvalidInput`] naming the entry (index and step name) that is malformed.
pub fn parse_steps_json(
    json: &str,
    options: &ImportOptions,
) -> Result<Vec<(String, StepSpecification)>> {
    let what = "the JSON import";
    let document: Value = serde_json::from_str(json).map_err(|e| Error::invalid_json(what, e))?;
    let Some(steps) = document.get("steps").and_then(Value::as_array) else {
        return Err(Error::InvalidInput {
            what: what.into(),
            detail: "the document has no `steps` array at its top level".into(),
            source: None,
        });
    };
    let mut out = Vec::with_capacity(steps.len());
    for (index, entry) in steps.iter().enumerate() {
        let name = entry
            .get("step_name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::InvalidInput {
                what: what.into(),
                detail: format!("steps[{index}] has no string `step_name`"),
                source: None,
            })?;
        let source = match &options.variant {
            Some(job) => entry
                .get("variants")
                .and_then(|v| v.get(job.as_str()))
                .unwrap_or(entry),
            None => entry,
        };
        let spec = StepSpecification::deserialize(source).map_err(|e| {
            Error::invalid_json(format!("steps[{index}] (step {})", shorten(name)), e)
        })?;
        out.push((name.to_owned(), spec));
    }
    Ok(out)
}

impl SpecificationRegistry {
    /// The context as pretty-printed JSON in the export format (see the module docs), steps
    /// in registration order.
    ///
    /// # Errors
    /// As [`SpecificationRegistry::iter`].
    pub fn export_json(&self) -> Result<String> {
        let steps: Vec<_> = self.iter()?.collect();
        let export = Export {
            schema: EXPORT_SCHEMA,
            context: self.context_name(),
            steps: steps
                .iter()
                .map(|(name, spec)| ExportStep {
                    step_name: name,
                    spec,
                })
                .collect(),
        };
        serde_json::to_string_pretty(&export).map_err(|e| Error::InvalidInput {
            what: format!("the export of context {}", shorten(self.context_name())),
            detail: e.to_string(),
            source: Some(Box::new(e)),
        })
    }

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
    /// [`Error::InvalidInput`] for malformed JSON; [`Error::InvalidSpec`] listing the
    /// problems of every invalid spec; [`Error::AlreadyRegistered`] (without `replace`);
    /// storage errors.
    pub fn import_json_with(&self, json: &str, options: &ImportOptions) -> Result<usize> {
        let steps = parse_steps_json(json, options)?;
        let items = steps.iter().map(|(name, spec)| (name.as_str(), spec));
        if options.replace {
            self.upsert_many(items)
        } else {
            self.register_many(items)
        }
    }
}
