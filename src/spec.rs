//! The specification model: what a pipeline step declares it consumes and produces.
//!
//! The model's types ([`StepSpecification`], [`DependencySpec`], [`OutputSpec`],
//! [`DependencyType`], [`NodeType`]) are also at the crate root. Reach for this module for
//! validation details: the [`SpecProblem`]s that [`StepSpecification::validate`] and
//! [`StepSpecification::lint`] return, the name rules ([`validate_step_name`],
//! [`MAX_NAME_BYTES`]).
//!
//! The serde shape is the one of the `steps` entries in the cursus fixture
//! (`cursus-step-specs.json`): dependency and output types are under the key `type`, missing
//! fields take their defaults, a missing `logical_name` is filled from its map key and unknown
//! keys are ignored. Dependencies and outputs are [`IndexMap`]s, so declaration order (which
//! decides resolver ties) is kept through JSON and through storage.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};

/// What kind of artifact a dependency needs or an output produces.
///
/// The serialised names are the Python reference's enum values (`"model_artifacts"`, ...).
///
/// ```
/// use pipeline_deps::DependencyType;
///
/// assert!(DependencyType::ALL.contains(&DependencyType::ModelArtifacts));
/// assert_eq!(DependencyType::ModelArtifacts.as_str(), "model_artifacts");
/// assert_eq!(serde_json::to_string(&DependencyType::ModelArtifacts).ok().as_deref(), Some("\"model_artifacts\""));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyType {
    /// Trained model artifacts.
    ModelArtifacts,
    /// Output of a processing job (the default).
    ProcessingOutput,
    /// Training data.
    TrainingData,
    /// Hyperparameter files.
    Hyperparameters,
    /// Payload samples used for inference tests.
    PayloadSamples,
    /// A scalar property of a step (a model name, a path string...).
    CustomProperty,
}

impl DependencyType {
    /// Every variant, in the Python reference's declaration order.
    pub const ALL: [DependencyType; 6] = [
        DependencyType::ModelArtifacts,
        DependencyType::ProcessingOutput,
        DependencyType::TrainingData,
        DependencyType::Hyperparameters,
        DependencyType::PayloadSamples,
        DependencyType::CustomProperty,
    ];

    /// The serialised name, e.g. `"model_artifacts"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyType::ModelArtifacts => "model_artifacts",
            DependencyType::ProcessingOutput => "processing_output",
            DependencyType::TrainingData => "training_data",
            DependencyType::Hyperparameters => "hyperparameters",
            DependencyType::PayloadSamples => "payload_samples",
            DependencyType::CustomProperty => "custom_property",
        }
    }
}

impl std::fmt::Display for DependencyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DependencyType {
    type Err = crate::Error;

    /// Parses the serialised name (`"model_artifacts"`, ...), as in JSON.
    ///
    /// ```
    /// use pipeline_deps::DependencyType;
    ///
    /// let parsed: DependencyType = "training_data".parse()?;
    /// assert_eq!(parsed, DependencyType::TrainingData);
    /// assert_eq!(parsed.to_string(), "training_data");
    /// assert!("TrainingData".parse::<DependencyType>().is_err());
    /// # Ok::<(), pipeline_deps::Error>(())
    /// ```
    fn from_str(s: &str) -> crate::Result<Self> {
        DependencyType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                unknown_name(
                    "a dependency type",
                    s,
                    DependencyType::ALL.map(DependencyType::as_str),
                )
            })
    }
}

/// The error of a `FromStr` that does not know `given`.
fn unknown_name<const N: usize>(what: &str, given: &str, known: [&str; N]) -> crate::Error {
    crate::Error::InvalidInput {
        what: what.to_owned(),
        detail: format!(
            "{} is not one of {}",
            crate::error::shorten(given),
            known.join(", ")
        ),
        source: None,
    }
}

/// Where a step sits in a pipeline graph.
///
/// ```
/// use pipeline_deps::NodeType;
///
/// assert_eq!(NodeType::default(), NodeType::Internal);
/// assert_eq!(NodeType::Source.as_str(), "source");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// No dependencies, at least one output.
    Source,
    /// Dependencies and outputs (the default, as in the Python reference).
    #[default]
    Internal,
    /// Dependencies, no outputs.
    Sink,
    /// Neither dependencies nor outputs.
    Singular,
}

impl NodeType {
    /// Every variant.
    pub const ALL: [NodeType; 4] = [
        NodeType::Source,
        NodeType::Internal,
        NodeType::Sink,
        NodeType::Singular,
    ];

    /// The serialised name, e.g. `"internal"`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Source => "source",
            NodeType::Internal => "internal",
            NodeType::Sink => "sink",
            NodeType::Singular => "singular",
        }
    }
}

impl std::fmt::Display for NodeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NodeType {
    type Err = crate::Error;

    /// Parses the serialised name (`"source"`, `"internal"`, `"sink"`, `"singular"`).
    ///
    /// ```
    /// use pipeline_deps::NodeType;
    ///
    /// assert_eq!("sink".parse::<NodeType>()?, NodeType::Sink);
    /// assert_eq!(NodeType::Sink.to_string(), "sink");
    /// # Ok::<(), pipeline_deps::Error>(())
    /// ```
    fn from_str(s: &str) -> crate::Result<Self> {
        NodeType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| unknown_name("a node type", s, NodeType::ALL.map(NodeType::as_str)))
    }
}

fn default_true() -> bool {
    true
}

fn default_data_type() -> String {
    "S3Uri".to_owned()
}

/// One input a step depends on.
///
/// ```
/// use pipeline_deps::{DependencySpec, DependencyType};
///
/// let dep = DependencySpec::new("input_path", DependencyType::TrainingData)
///     .with_compatible_sources(["TabularPreprocessing"])
///     .with_keywords(["data", "training"]);
/// assert!(dep.required);
/// assert_eq!(dep.data_type, "S3Uri");
/// assert!(!dep.optional().required);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencySpec {
    /// The dependency's name; filled from its map key when missing in JSON.
    #[serde(default)]
    pub logical_name: String,
    /// The artifact kind needed (JSON key `type`; `dependency_type` is accepted too).
    #[serde(
        rename = "type",
        alias = "dependency_type",
        default = "default_dep_type"
    )]
    pub dependency_type: DependencyType,
    /// Whether resolution fails without it (default `true`).
    #[serde(default = "default_true")]
    pub required: bool,
    /// Step types expected to provide it, kept verbatim.
    #[serde(default)]
    pub compatible_sources: Vec<String>,
    /// Words that should appear in a matching output's name, kept verbatim.
    #[serde(default)]
    pub semantic_keywords: Vec<String>,
    /// Data type (default `"S3Uri"`).
    #[serde(default = "default_data_type")]
    pub data_type: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

fn default_dep_type() -> DependencyType {
    DependencyType::ProcessingOutput
}

impl DependencySpec {
    /// A required dependency with the given name and type and every other field at its
    /// default.
    pub fn new(logical_name: impl Into<String>, dependency_type: DependencyType) -> Self {
        DependencySpec {
            logical_name: logical_name.into(),
            dependency_type,
            required: true,
            compatible_sources: Vec::new(),
            semantic_keywords: Vec::new(),
            data_type: default_data_type(),
            description: String::new(),
        }
    }

    /// Marks the dependency optional.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Sets the step types expected to provide this dependency.
    #[must_use]
    pub fn with_compatible_sources<I, S>(mut self, sources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.compatible_sources = sources.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the semantic keywords.
    #[must_use]
    pub fn with_keywords<I, S>(mut self, keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.semantic_keywords = keywords.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the data type.
    #[must_use]
    pub fn with_data_type(mut self, data_type: impl Into<String>) -> Self {
        self.data_type = data_type.into();
        self
    }
}

/// One artifact a step produces.
///
/// ```
/// use pipeline_deps::{DependencyType, OutputSpec};
///
/// let out = OutputSpec::new("model_output", DependencyType::ModelArtifacts,
///     "properties.ModelArtifacts.S3ModelArtifacts")
///     .with_aliases(["ModelArtifacts"]);
/// assert!(out.matches_name_or_alias("ModelArtifacts"));
/// assert!(!out.matches_name_or_alias("model"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// The output's name; filled from its map key when missing in JSON.
    #[serde(default)]
    pub logical_name: String,
    /// The artifact kind produced (JSON key `type`; `output_type` is accepted too).
    #[serde(rename = "type", alias = "output_type", default = "default_dep_type")]
    pub output_type: DependencyType,
    /// SageMaker property path, e.g. `properties.ModelArtifacts.S3ModelArtifacts`.
    #[serde(default)]
    pub property_path: String,
    /// Other names this output answers to, kept verbatim.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Keywords (stored, not used by scoring, as in the Python reference).
    #[serde(default)]
    pub semantic_keywords: Vec<String>,
    /// Data type (default `"S3Uri"`).
    #[serde(default = "default_data_type")]
    pub data_type: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

impl OutputSpec {
    /// An output with the given name, type and property path, every other field at its
    /// default.
    pub fn new(
        logical_name: impl Into<String>,
        output_type: DependencyType,
        property_path: impl Into<String>,
    ) -> Self {
        OutputSpec {
            logical_name: logical_name.into(),
            output_type,
            property_path: property_path.into(),
            aliases: Vec::new(),
            semantic_keywords: Vec::new(),
            data_type: default_data_type(),
            description: String::new(),
        }
    }

    /// Sets the aliases.
    #[must_use]
    pub fn with_aliases<I, S>(mut self, aliases: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.aliases = aliases.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the data type.
    #[must_use]
    pub fn with_data_type(mut self, data_type: impl Into<String>) -> Self {
        self.data_type = data_type.into();
        self
    }

    /// Exact match on the logical name, or case-insensitive match on an alias (reference
    /// `matches_name_or_alias`).
    pub fn matches_name_or_alias(&self, name: &str) -> bool {
        self.logical_name == name
            || self
                .aliases
                .iter()
                .any(|alias| alias.to_lowercase() == name.to_lowercase())
    }
}

/// What one pipeline step consumes and produces.
///
/// ```
/// use pipeline_deps::{DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification};
///
/// let spec = StepSpecification::new("XGBoostTraining", NodeType::Internal)
///     .with_dependency(DependencySpec::new("input_path", DependencyType::TrainingData))
///     .with_output(OutputSpec::new(
///         "model_output",
///         DependencyType::ModelArtifacts,
///         "properties.ModelArtifacts.S3ModelArtifacts",
///     ));
/// assert!(spec.validate("training").is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSpecification {
    /// The step's type, e.g. `XGBoostTraining`.
    pub step_type: String,
    /// Where the step sits in a graph (default `internal`).
    #[serde(default)]
    pub node_type: NodeType,
    /// Inputs, keyed by logical name, in declaration order.
    #[serde(default, deserialize_with = "deserialize_dependencies")]
    pub dependencies: IndexMap<String, DependencySpec>,
    /// Outputs, keyed by logical name, in declaration order.
    #[serde(default, deserialize_with = "deserialize_outputs")]
    pub outputs: IndexMap<String, OutputSpec>,
}

fn deserialize_dependencies<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<IndexMap<String, DependencySpec>, D::Error> {
    let mut map =
        Option::<IndexMap<String, DependencySpec>>::deserialize(deserializer)?.unwrap_or_default();
    for (key, dep) in &mut map {
        if dep.logical_name.is_empty() {
            dep.logical_name.clone_from(key);
        }
    }
    Ok(map)
}

fn deserialize_outputs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<IndexMap<String, OutputSpec>, D::Error> {
    let mut map =
        Option::<IndexMap<String, OutputSpec>>::deserialize(deserializer)?.unwrap_or_default();
    for (key, out) in &mut map {
        if out.logical_name.is_empty() {
            out.logical_name.clone_from(key);
        }
    }
    Ok(map)
}

impl StepSpecification {
    /// An empty specification of the given type.
    pub fn new(step_type: impl Into<String>, node_type: NodeType) -> Self {
        StepSpecification {
            step_type: step_type.into(),
            node_type,
            dependencies: IndexMap::new(),
            outputs: IndexMap::new(),
        }
    }

    /// Adds a dependency under its logical name (replacing one of the same name in place).
    #[must_use]
    pub fn with_dependency(mut self, dependency: DependencySpec) -> Self {
        self.dependencies
            .insert(dependency.logical_name.clone(), dependency);
        self
    }

    /// Adds an output under its logical name (replacing one of the same name in place).
    #[must_use]
    pub fn with_output(mut self, output: OutputSpec) -> Self {
        self.outputs.insert(output.logical_name.clone(), output);
        self
    }

    /// Parses one specification from JSON in the fixture / export shape.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when the text is not valid JSON or
    /// does not have the specification's shape (the message gives line and column).
    pub fn from_json(json: &str) -> crate::Result<Self> {
        serde_json::from_str(json)
            .map_err(|e| crate::Error::invalid_json("a step specification", e))
    }

    /// The output named `name`: exact key first, then a case-insensitive alias scan in
    /// declaration order (reference `get_output_by_name_or_alias`).
    pub fn get_output_by_name_or_alias(&self, name: &str) -> Option<&OutputSpec> {
        self.outputs.get(name).or_else(|| {
            self.outputs.values().find(|out| {
                out.aliases
                    .iter()
                    .any(|alias| alias.to_lowercase() == name.to_lowercase())
            })
        })
    }

    /// Every output name followed by its aliases, in declaration order.
    pub fn list_all_output_names(&self) -> Vec<&str> {
        self.outputs
            .values()
            .flat_map(|out| {
                std::iter::once(out.logical_name.as_str())
                    .chain(out.aliases.iter().map(String::as_str))
            })
            .collect()
    }

    /// Dependencies with `required == true`, in declaration order.
    pub fn list_required_dependencies(&self) -> Vec<&DependencySpec> {
        self.dependencies.values().filter(|d| d.required).collect()
    }

    /// Dependencies with `required == false`, in declaration order.
    pub fn list_optional_dependencies(&self) -> Vec<&DependencySpec> {
        self.dependencies.values().filter(|d| !d.required).collect()
    }

    /// Checks the rules enforced on registration and returns every problem at once.
    ///
    /// The rules: the step name is valid (see [`validate_step_name`]); `step_type` is not
    /// blank; every dependency and output has a non-blank logical name equal to its map key;
    /// `step_type` and the dependency and output names are at most [`MAX_NAME_BYTES`] bytes
    /// without control characters (hostile input);
    /// a step that is not `singular` has at least one dependency or output.
    /// Node-type shape rules and alias conflicts are not errors: see [`Self::lint`].
    ///
    /// # Errors
    /// Every [`SpecProblem`] found, in field order.
    pub fn validate(&self, step_name: &str) -> Result<(), Vec<SpecProblem>> {
        let mut problems = Vec::new();
        if let Err(reason) = check_name(step_name) {
            problems.push(SpecProblem::new(step_name, "step name", reason));
        }
        if is_blank(&self.step_type) {
            problems.push(SpecProblem::new(step_name, "step_type", "is blank"));
        } else if let Err(reason) = check_name(&self.step_type) {
            problems.push(SpecProblem::new(step_name, "step_type", reason));
        }
        for (key, dep) in &self.dependencies {
            check_logical_name(
                &mut problems,
                step_name,
                "dependencies",
                key,
                &dep.logical_name,
            );
        }
        for (key, out) in &self.outputs {
            check_logical_name(&mut problems, step_name, "outputs", key, &out.logical_name);
        }
        if self.dependencies.is_empty()
            && self.outputs.is_empty()
            && self.node_type != NodeType::Singular
        {
            problems.push(SpecProblem::new(
                step_name,
                "dependencies/outputs",
                format!(
                    "step type '{}' has no dependencies or outputs but its node type is '{}' (only 'singular' steps may have neither)",
                    self.step_type, self.node_type
                ),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Style warnings that do not stop registration: the node-type shape rules of the legacy
    /// model (source: no deps and ≥ 1 output; internal: both; sink: deps and no outputs;
    /// singular: neither) and output name/alias conflicts (an alias equal to a logical name or
    /// to another alias, case-insensitively). Three real specs break these rules, which is
    /// why they are warnings.
    pub fn lint(&self, step_name: &str) -> Vec<SpecProblem> {
        let mut warnings = Vec::new();
        let (deps, outs) = (!self.dependencies.is_empty(), !self.outputs.is_empty());
        let shape_ok = match self.node_type {
            NodeType::Source => !deps && outs,
            NodeType::Internal => deps && outs,
            NodeType::Sink => deps && !outs,
            NodeType::Singular => !deps && !outs,
        };
        if !shape_ok {
            warnings.push(SpecProblem::new(
                step_name,
                "node_type",
                format!(
                    "a '{}' step is expected to have {}, but this one has {} dependencies and {} outputs",
                    self.node_type,
                    match self.node_type {
                        NodeType::Source => "no dependencies and at least one output",
                        NodeType::Internal => "at least one dependency and one output",
                        NodeType::Sink => "dependencies and no outputs",
                        NodeType::Singular => "neither dependencies nor outputs",
                    },
                    self.dependencies.len(),
                    self.outputs.len()
                ),
            ));
        }
        let mut seen: IndexMap<String, String> = IndexMap::new();
        for out in self.outputs.values() {
            for name in std::iter::once(&out.logical_name).chain(&out.aliases) {
                let lower = name.to_lowercase();
                if let Some(owner) = seen.get(&lower) {
                    warnings.push(SpecProblem::new(
                        step_name,
                        format!("outputs.{}.aliases", out.logical_name),
                        format!("name '{name}' is already used by output '{owner}'"),
                    ));
                } else {
                    seen.insert(lower, out.logical_name.clone());
                }
            }
        }
        warnings
    }
}

fn check_logical_name(
    problems: &mut Vec<SpecProblem>,
    step: &str,
    section: &str,
    key: &str,
    logical_name: &str,
) {
    if is_blank(key) {
        problems.push(SpecProblem::new(
            step,
            section,
            "has an entry with a blank key",
        ));
    } else if let Err(reason) = check_name(key) {
        problems.push(SpecProblem::new(
            step,
            section,
            format!("has an entry whose name {reason}"),
        ));
    } else if is_blank(logical_name) {
        problems.push(SpecProblem::new(
            step,
            format!("{section}.{key}.logical_name"),
            "is blank",
        ));
    } else if logical_name != key {
        problems.push(SpecProblem::new(
            step,
            format!("{section}.{key}.logical_name"),
            format!(
                "is {} but the entry's key is {}; they must be equal",
                crate::error::shorten(logical_name),
                crate::error::shorten(key)
            ),
        ));
    }
}

/// Empty or only whitespace (as `text.trim().is_empty()`, stopping at the first other
/// character: validation runs for every spec a bulk import stores).
fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

/// The longest context or step name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Checks a context or step name: not empty, at most [`MAX_NAME_BYTES`] bytes, no control
/// characters. Everything else (`::`, `/`, spaces, unicode) is valid.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("is empty".to_owned())
    } else if name.len() > MAX_NAME_BYTES {
        Err(format!(
            "is {} bytes long; the limit is {MAX_NAME_BYTES} bytes",
            name.len()
        ))
    } else if let Some(c) = first_control(name) {
        Err(format!("contains the control character {c:?}"))
    } else {
        Ok(())
    }
}

/// The first control character of `name` (`char::is_control`: U+0000–U+001F and
/// U+007F–U+009F), scanning bytes when the name is ASCII, as nearly every name is.
fn first_control(name: &str) -> Option<char> {
    if name.is_ascii() {
        name.bytes()
            .find(|&b| b < 0x20 || b == 0x7f)
            .map(char::from)
    } else {
        name.chars().find(|c| c.is_control())
    }
}

/// Checks a step name with the rules of [`StepSpecification::validate`]: not empty, at most
/// [`MAX_NAME_BYTES`] bytes, no control characters (`::`, `/`, spaces and unicode are fine).
///
/// ```
/// use pipeline_deps::spec::validate_step_name;
///
/// assert!(validate_step_name("xgboost::train v2").is_ok());
/// let error = validate_step_name("").unwrap_err();
/// assert!(error.is_invalid_input());
/// assert_eq!(error.to_string(), "invalid step name '': the name is empty; use a non-empty name of at most 1024 bytes without control characters");
/// ```
///
/// # Errors
/// [`Error::InvalidStepName`](crate::Error::InvalidStepName) saying why the name is refused.
pub fn validate_step_name(name: &str) -> crate::Result<()> {
    check_name(name).map_err(|reason| crate::Error::InvalidStepName {
        name: name.to_owned(),
        reason,
    })
}

/// One problem found in a specification: which step, which field, what is wrong.
///
/// ```
/// use pipeline_deps::{NodeType, StepSpecification};
///
/// let problems = StepSpecification::new(" ", NodeType::Singular).validate("loader").unwrap_err();
/// assert_eq!(problems[0].to_string(), "step 'loader': step_type is blank");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// The step name the specification was registered under.
    pub step: String,
    /// The field concerned, e.g. `outputs.model.logical_name`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl SpecProblem {
    fn new(step: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecProblem {
            step: step.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step '{}': {} {}", self.step, self.field, self.message)
    }
}

impl std::error::Error for SpecProblem {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The fast checks mean exactly what the plain standard-library ones do.
        #[test]
        fn fast_name_checks_agree_with_the_standard_library(text in "(?s).{0,40}") {
            prop_assert_eq!(super::first_control(&text), text.chars().find(|c| c.is_control()));
            prop_assert_eq!(super::is_blank(&text), text.trim().is_empty());
        }

        #[test]
        fn fast_name_checks_agree_on_ascii(bytes in proptest::collection::vec(0u8..128, 0..40)) {
            let text = String::from_utf8(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(super::first_control(&text), text.chars().find(|c| c.is_control()));
            prop_assert_eq!(super::is_blank(&text), text.trim().is_empty());
        }
    }
}
