//! The specification model: what a pipeline step declares it consumes and produces.
//!
//! The model's types ([`StepSpecification`], [`DependencySpec`], [`OutputSpec`],
//! [`DependencyType`], [`NodeType`]) are also at the crate root. Reach for this module for
//! validation details: the [`SpecProblem`]s that [`StepSpecification::validate`] and
//! [`StepSpecification::lint`] return, the name rules ([`validate_step_name`],
//! [`validate_context_name`], [`MAX_NAME_BYTES`]) and how messages show a name
//! ([`escape_name_exact`]) and a whole text ([`escape_name`]).
//!
//! The serde shape is the one of the `steps` entries in the cursus fixture
//! (`cursus-step-specs.json`): dependency and output types are under the key `type`, missing
//! fields take their defaults and a missing `logical_name` is filled from its map key.
//! [`StepSpecification::from_json`] refuses a key given twice and a key the JSON import does
//! not know, as the import does; the `Deserialize` impl ignores unknown keys (other formats,
//! such as the fixture's step entries, embed a specification beside keys of their own).
//! Dependencies and outputs are [`IndexMap`]s, so declaration order (which
//! decides resolver ties) is kept through JSON and through storage.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};

mod validate;

pub(crate) use validate::check_name;
pub use validate::{
    MAX_NAME_BYTES, SpecProblem, escape_name, escape_name_exact, validate_context_name,
    validate_step_name,
};

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
///     .with_aliases(["ModelArtifacts"])
///     .with_keywords(["model", "artifacts"]);
/// assert!(out.matches_name_or_alias("ModelArtifacts"));
/// assert!(!out.matches_name_or_alias("model"));
/// assert_eq!(out.semantic_keywords, ["model", "artifacts"]);
/// assert_eq!(out.data_type, "S3Uri");
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

    /// Sets the semantic keywords (stored and exported; scoring does not use an output's
    /// keywords, as in the Python reference), as [`DependencySpec::with_keywords`] does for
    /// a dependency.
    ///
    /// ```
    /// use pipeline_deps::{DependencyType, OutputSpec};
    ///
    /// let out = OutputSpec::new("metrics", DependencyType::ProcessingOutput, "properties.M")
    ///     .with_keywords(["evaluation", "metrics"]);
    /// assert_eq!(out.semantic_keywords, ["evaluation", "metrics"]);
    /// ```
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

    /// Parses one specification from JSON in the fixture / export shape, as strictly as
    /// the JSON import reads a step of its document
    /// ([`transfer`](crate::transfer)): a key given twice in one object is refused (a plain
    /// JSON parser would keep the last one), and so is a key that neither import format
    /// knows for a step entry, at its top level, in a dependency, an output or a variant (a
    /// misspelt field would otherwise vanish). The other keys of a step entry (`step_name`,
    /// `variants`, the fixture's descriptive keys) are accepted and ignored, so an entry of
    /// an export or fixture document parses as it is. (The `Deserialize` impl itself stays
    /// lenient: other formats embed a specification with keys of their own.)
    ///
    /// ```
    /// use pipeline_deps::StepSpecification;
    ///
    /// let spec = StepSpecification::from_json(r#"{"step_type": "Train", "node_type": "singular"}"#)?;
    /// assert_eq!(spec.step_type, "Train");
    /// let misspelt = StepSpecification::from_json(r#"{"step_type": "Train", "node_typ": "sink"}"#);
    /// assert!(misspelt.is_err_and(|e| e.is_invalid_input() && e.to_string().contains("`node_typ`")));
    /// # Ok::<(), pipeline_deps::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when the text is not valid JSON,
    /// gives a key twice in one object or has a key the import would refuse (the message
    /// names the key and where it is), or does not have the specification's shape (the
    /// message gives the field, a missing one included, and line and column).
    pub fn from_json(json: &str) -> crate::Result<Self> {
        crate::transfer::parse_spec_strict(json, "a step specification")
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
}
