//! The compatibility score of a (dependency, output) pair and its breakdown.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde::Serialize;

use super::matcher::SemanticMatcher;
use crate::spec::{DependencySpec, DependencyType, OutputSpec};

/// The 64 step names known to the Python reference's step-name registry: the 61 real interface
/// step types plus `Base`, `Processing` and `HyperparameterPrep` (fixture
/// `known_step_names`). They drive provider step-type normalisation.
pub const REFERENCE_KNOWN_STEP_NAMES: [&str; 64] = [
    "ActiveSampleSelection",
    "Base",
    "BatchTransform",
    "BedrockBatchProcessing",
    "BedrockProcessing",
    "BedrockPromptTemplateGeneration",
    "CradleDataLoading",
    "CurrencyConversion",
    "DataUploading",
    "DummyDataLoading",
    "DummyTraining",
    "EdxUploading",
    "FeatureSelection",
    "GraphConstruction",
    "GraphFeatureProcessing",
    "GraphStormGNNInferenceEval",
    "GraphStormGNNTraining",
    "GraphStormGNNTuning",
    "GraphSubgraphExtraction",
    "HyperparameterPrep",
    "LabelRulesetExecution",
    "LabelRulesetGeneration",
    "LightGBMMTModelEval",
    "LightGBMMTModelInference",
    "LightGBMMTTraining",
    "LightGBMModelEval",
    "LightGBMModelInference",
    "LightGBMTraining",
    "MissingValueImputation",
    "ModelCalibration",
    "ModelMetricsComputation",
    "ModelWikiGenerator",
    "Package",
    "Payload",
    "PercentileModelCalibration",
    "PiperMetricGeneration",
    "Processing",
    "PseudoLabelMerge",
    "PyTorchModel",
    "PyTorchModelEval",
    "PyTorchModelInference",
    "PyTorchTraining",
    "RedshiftDataLoading",
    "Registration",
    "RiskTableMapping",
    "SOPAInstructionTuning",
    "SlipboxKnowledgeRouting",
    "StratifiedSampling",
    "TSAModelCalibration",
    "TSAModelEval",
    "TSAPreprocessing",
    "TSATabularPreprocessing",
    "TSATraining",
    "TabularPreprocessing",
    "TemporalFeatureEngineering",
    "TemporalSequenceNormalization",
    "TemporalSplitPreprocessing",
    "TokenizerTraining",
    "XGBoostModel",
    "XGBoostModelEval",
    "XGBoostModelInference",
    "XGBoostTraining",
    "XgboostMtModelEval",
    "XgboostMtTraining",
];

/// The Python reference's legacy step-name aliases, `(legacy, canonical)` (fixture
/// `legacy_aliases`): a dependency listing the legacy name accepts the canonical provider.
pub const REFERENCE_LEGACY_ALIASES: [(&str, &str); 5] = [
    ("MIMSPackaging", "Package"),
    ("MIMSPayload", "Payload"),
    ("ModelRegistration", "Registration"),
    ("PytorchTraining", "PyTorchTraining"),
    ("PytorchModel", "PyTorchModel"),
];

/// Job-type suffixes stripped by the fallback of provider step-type normalisation.
const JOB_TYPE_SUFFIXES: [&str; 4] = ["_Training", "_Testing", "_Validation", "_Calibration"];

/// The type part of a score for equal dependency and output types.
pub const TYPE_EQUAL: f64 = 0.4;
/// The type part for different but compatible types ([`types_compatible`]).
pub const TYPE_COMPATIBLE: f64 = 0.2;
/// The data-type part for equal data types.
pub const DATA_TYPE_EQUAL: f64 = 0.2;
/// The data-type part for compatible data types ([`data_types_compatible`]).
pub const DATA_TYPE_COMPATIBLE: f64 = 0.1;
/// The weight of the name similarity (0.0..=1.0) in a score.
pub const SIMILARITY_WEIGHT: f64 = 0.25;
/// The bonus when the dependency name is the output's name or one of its aliases.
pub const EXACT_NAME_BONUS: f64 = 0.05;
/// The source part for a provider listed in the dependency's compatible sources.
pub const SOURCE_MATCH: f64 = 0.1;
/// The source part for a provider not listed in a non-empty compatible-sources list.
pub const SOURCE_MISMATCH: f64 = -0.1;
/// The weight of the keyword fraction ([`keyword_match`]) in a score.
pub const KEYWORD_WEIGHT: f64 = 0.05;

/// The values the type part takes, by index: 0 compatible, 1 equal. The optimised engine
/// packs part indices into codes; both paths read the values from these tables.
pub(crate) const TYPE_PARTS: [f64; 2] = [TYPE_COMPATIBLE, TYPE_EQUAL];
/// The values of the data-type part: 0 incompatible, 1 compatible, 2 equal.
pub(crate) const DATA_PARTS: [f64; 3] = [0.0, DATA_TYPE_COMPATIBLE, DATA_TYPE_EQUAL];
/// The values of the exact-name part: 0 no, 1 yes.
pub(crate) const EXACT_PARTS: [f64; 2] = [0.0, EXACT_NAME_BONUS];
/// The values of the source part: 0 no sources, 1 compatible provider, 2 other provider.
pub(crate) const SOURCE_PARTS: [f64; 3] = [0.0, SOURCE_MATCH, SOURCE_MISMATCH];

/// The part at `index` of `parts` (0.0 out of range, which the indices below never are).
pub(crate) fn part(parts: &[f64], index: usize) -> f64 {
    parts.get(index).copied().unwrap_or(0.0)
}

/// Whether an output of type `output` can satisfy a dependency of type `dependency` (the
/// reference's type-compatibility matrix; equal types are always compatible).
pub fn types_compatible(dependency: DependencyType, output: DependencyType) -> bool {
    use DependencyType as T;
    dependency == output
        || matches!(
            (dependency, output),
            (T::TrainingData, T::ProcessingOutput)
                | (T::ProcessingOutput, T::TrainingData)
                | (T::Hyperparameters, T::CustomProperty)
                | (T::PayloadSamples, T::ProcessingOutput)
        )
}

/// The data-type group of a data type: 1 for `S3Uri`/`String`, 2 for `Integer`/`Float`,
/// else 0. Two different data types are compatible when their groups are equal and non-zero.
pub(crate) fn data_type_group(data_type: &str) -> u8 {
    match data_type {
        "S3Uri" | "String" => 1,
        "Integer" | "Float" => 2,
        _ => 0,
    }
}

/// Whether an output data type can satisfy a dependency data type (case-sensitive):
/// `S3Uri`↔`String`, `Integer`↔`Float`, and any type with itself.
pub fn data_types_compatible(dependency: &str, output: &str) -> bool {
    dependency == output || {
        let group = data_type_group(dependency);
        group != 0 && group == data_type_group(output)
    }
}

/// The fraction of `keywords` whose lowercase form occurs in the lowercase output name
/// (duplicates count separately; 0.0 without keywords).
pub fn keyword_match(keywords: &[String], output_name: &str) -> f64 {
    let lower: Vec<String> = keywords.iter().map(|k| k.to_lowercase()).collect();
    keyword_fraction(&lower, &output_name.to_lowercase())
}

/// [`keyword_match`] over already lowercased keywords and name.
fn keyword_fraction(lower_keywords: &[String], lower_name: &str) -> f64 {
    if lower_keywords.is_empty() {
        return 0.0;
    }
    let name = lower_name.as_bytes();
    let matches = lower_keywords
        .iter()
        .filter(|k| contains_bytes(name, k.as_bytes()))
        .count();
    matches as f64 / lower_keywords.len() as f64
}

/// `needle` occurs in `haystack` (same as `str::contains` on the UTF-8 bytes; a naive scan,
/// fastest for the short names compared here).
pub(crate) fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if needle.len() > haystack.len() {
        return false;
    }
    (0..=haystack.len() - needle.len()).any(|start| {
        haystack[start] == first
            && haystack[start + 1..start + needle.len()]
                .iter()
                .zip(rest)
                .all(|(a, b)| a == b)
    })
}

/// The index into [`DATA_PARTS`] of a pair of data types.
pub(crate) fn data_type_index(dependency: &str, output: &str) -> usize {
    if dependency == output {
        2
    } else {
        usize::from(data_types_compatible(dependency, output))
    }
}

/// The data-type part of the score: 0.2 equal, 0.1 compatible, else 0.
pub(crate) fn data_type_part(dependency: &str, output: &str) -> f64 {
    part(&DATA_PARTS, data_type_index(dependency, output))
}

/// The exact-name part of the score: 0.05 when the dependency name is the output's name
/// or one of its aliases (exact, case-sensitive).
pub(crate) fn exact_part(dep_name: &str, out_name: &str, aliases: &[String]) -> f64 {
    let exact = dep_name == out_name || aliases.iter().any(|a| a == dep_name);
    part(&EXACT_PARTS, usize::from(exact))
}

/// The step names and legacy aliases used to decide whether a provider is one of a
/// dependency's `compatible_sources`. [`Default`] gives the Python reference's
/// ([`REFERENCE_KNOWN_STEP_NAMES`], [`REFERENCE_LEGACY_ALIASES`]).
///
/// ```
/// use pipeline_deps::scoring::StepTypeCatalog;
///
/// let catalog = StepTypeCatalog::new(["Package", "Payload"], [("MIMSPackaging", "Package")]);
/// assert!(catalog.provider_in_sources("Package", &["MIMSPackaging".to_owned()]));
/// assert_eq!(catalog.source_compatibility("Package_Training", &["PackageStep".to_owned()]), 0.1);
/// assert_eq!(catalog.source_compatibility("Payload", &[]), 0.0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTypeCatalog {
    known: Vec<String>,
    known_set: HashSet<String>,
    legacy_aliases: IndexMap<String, String>,
}

impl Default for StepTypeCatalog {
    fn default() -> Self {
        StepTypeCatalog::new(REFERENCE_KNOWN_STEP_NAMES, REFERENCE_LEGACY_ALIASES)
    }
}

impl StepTypeCatalog {
    /// A catalog with the given known step names and `(legacy, canonical)` aliases.
    pub fn new<N, S, A, L, C>(known_step_names: N, legacy_aliases: A) -> Self
    where
        N: IntoIterator<Item = S>,
        S: Into<String>,
        A: IntoIterator<Item = (L, C)>,
        L: Into<String>,
        C: Into<String>,
    {
        let known: Vec<String> = known_step_names.into_iter().map(Into::into).collect();
        StepTypeCatalog {
            known_set: known.iter().cloned().collect(),
            known,
            legacy_aliases: legacy_aliases
                .into_iter()
                .map(|(l, c)| (l.into(), c.into()))
                .collect(),
        }
    }

    /// The known step names, in the order given.
    pub fn known_step_names(&self) -> &[String] {
        &self.known
    }

    /// The legacy aliases, legacy name → canonical name.
    pub fn legacy_aliases(&self) -> &IndexMap<String, String> {
        &self.legacy_aliases
    }

    /// Provider step-type normalisation (reference `_normalize_step_type_for_compatibility`):
    /// the text before the first `_` if it is a known name; else the type itself if known;
    /// else the type without one trailing `_Training`, `_Testing`, `_Validation` or
    /// `_Calibration`.
    ///
    /// ```
    /// use pipeline_deps::scoring::StepTypeCatalog;
    ///
    /// let c = StepTypeCatalog::default();
    /// assert_eq!(c.normalize_step_type("TabularPreprocessing_Foo"), "TabularPreprocessing");
    /// assert_eq!(c.normalize_step_type("Foo_Training"), "Foo");
    /// assert_eq!(c.normalize_step_type("Foo_Bar"), "Foo_Bar");
    /// ```
    pub fn normalize_step_type<'t>(&self, step_type: &'t str) -> &'t str {
        let base = step_type.split('_').next().unwrap_or(step_type);
        if self.known_set.contains(base) {
            return base;
        }
        if self.known_set.contains(step_type) {
            return step_type;
        }
        JOB_TYPE_SUFFIXES
            .iter()
            .find_map(|suffix| step_type.strip_suffix(suffix))
            .unwrap_or(step_type)
    }

    /// Whether a normalised provider step type is one of `sources` (reference
    /// `_provider_in_compatible_sources`): listed as is, or as `<type>Step`, or under a
    /// legacy alias of it, or equal once one trailing `Step` is removed from both.
    pub fn provider_in_sources(&self, provider: &str, sources: &[String]) -> bool {
        if sources.iter().any(|s| s == provider) {
            return true;
        }
        let provider_stripped = strip_step(provider);
        sources.iter().any(|source| {
            source.strip_suffix("Step") == Some(provider)
                || self
                    .legacy_aliases
                    .get(source.as_str())
                    .is_some_and(|canonical| canonical == provider)
                || strip_step(source) == provider_stripped
        })
    }

    /// [`Self::provider_in_sources`] as two key sets, to test many providers against the
    /// same sources cheaply: a normalised provider type `p` is in `sources` exactly when
    /// `p` is one of the first keys or `p` without one trailing `Step` is one of the second.
    ///
    /// First keys: each source, the source without one trailing `Step`, and the canonical
    /// name of a source that is a legacy alias; second keys: each source without one
    /// trailing `Step`.
    pub(crate) fn source_keys<'s>(&'s self, sources: &'s [String]) -> (Vec<&'s str>, Vec<&'s str>) {
        let mut exact = Vec::with_capacity(sources.len() * 2);
        let mut stripped = Vec::with_capacity(sources.len());
        for source in sources {
            exact.push(source.as_str());
            if let Some(base) = source.strip_suffix("Step") {
                exact.push(base);
            }
            if let Some(canonical) = self.legacy_aliases.get(source.as_str()) {
                exact.push(canonical.as_str());
            }
            stripped.push(strip_step(source));
        }
        (exact, stripped)
    }

    /// The source component of the score: 0.0 without sources, +0.1 when the provider's
    /// normalised step type is a compatible source, −0.1 otherwise.
    pub fn source_compatibility(&self, provider_step_type: &str, sources: &[String]) -> f64 {
        self.source_part(self.normalize_step_type(provider_step_type), sources)
    }

    /// [`Self::source_compatibility`] of an already normalised provider step type.
    pub(crate) fn source_part(&self, normalized_provider: &str, sources: &[String]) -> f64 {
        let index = if sources.is_empty() {
            0
        } else if self.provider_in_sources(normalized_provider, sources) {
            1
        } else {
            2
        };
        part(&SOURCE_PARTS, index)
    }
}

/// `name` without one trailing `Step`.
pub(crate) fn strip_step(name: &str) -> &str {
    name.strip_suffix("Step").unwrap_or(name)
}

/// The six components of a compatibility score.
///
/// Deliberate difference D5 from the Python reference (docs/design.md): its breakdown uses older
/// source rules (no −0.1 penalty, no `Step`/legacy-alias equivalence, +0.05 for an empty
/// list), so its parts need not add up to the score. Here every part is the one the score
/// uses, and [`ScoreBreakdown::total`] adds them in the score's order, so
/// `score == min(total, 1.0)` exactly.
///
/// ```
/// use pipeline_deps::scoring::{ScoreBreakdown, TYPE_EQUAL};
///
/// let parts = ScoreBreakdown {
///     type_compatibility: TYPE_EQUAL,
///     data_type_compatibility: 0.2,
///     semantic_similarity: 0.25,
///     exact_match_bonus: 0.05,
///     source_compatibility: 0.1,
///     keyword_matching: 0.05,
/// };
/// assert!((parts.total() - 1.05).abs() < 1e-12);
/// assert_eq!(parts.score(), 1.0); // capped
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreBreakdown {
    /// 0.4 for equal types, 0.2 for compatible ones.
    pub type_compatibility: f64,
    /// 0.2 for equal data types, 0.1 for compatible ones, else 0.
    pub data_type_compatibility: f64,
    /// 0.25 × the alias-aware name similarity.
    pub semantic_similarity: f64,
    /// 0.05 when the dependency name equals the output name or one of its aliases
    /// (exact, case-sensitive).
    pub exact_match_bonus: f64,
    /// +0.1 / −0.1 for a provider in / not in the compatible sources; 0 without sources.
    pub source_compatibility: f64,
    /// 0.05 × the fraction of keywords found in the output's logical name.
    pub keyword_matching: f64,
}

impl ScoreBreakdown {
    /// The parts added in the Python reference's order (the score before the 1.0 cap).
    pub fn total(&self) -> f64 {
        let mut score = 0.0;
        score += self.type_compatibility;
        score += self.data_type_compatibility;
        score += self.semantic_similarity;
        score += self.exact_match_bonus;
        score += self.source_compatibility;
        score += self.keyword_matching;
        score
    }

    /// The compatibility score: [`Self::total`] capped at 1.0.
    pub fn score(&self) -> f64 {
        self.total().min(1.0)
    }
}

/// The breakdown of everything but the name similarity, which is filled in by
/// [`ScoreBreakdown::with_similarity`]; `None` when the types are incompatible.
pub(crate) fn partial_breakdown(
    catalog: &StepTypeCatalog,
    dep: &DependencySpec,
    out: &OutputSpec,
    provider_step_type: &str,
) -> Option<ScoreBreakdown> {
    let type_compatibility = if dep.dependency_type == out.output_type {
        part(&TYPE_PARTS, 1)
    } else if types_compatible(dep.dependency_type, out.output_type) {
        part(&TYPE_PARTS, 0)
    } else {
        return None;
    };
    Some(ScoreBreakdown {
        type_compatibility,
        data_type_compatibility: data_type_part(&dep.data_type, &out.data_type),
        semantic_similarity: 0.0,
        exact_match_bonus: exact_part(&dep.logical_name, &out.logical_name, &out.aliases),
        source_compatibility: catalog
            .source_compatibility(provider_step_type, &dep.compatible_sources),
        keyword_matching: keyword_match(&dep.semantic_keywords, &out.logical_name) * KEYWORD_WEIGHT,
    })
}

impl ScoreBreakdown {
    /// Sets the semantic part from a raw similarity (multiplied by 0.25).
    pub(crate) fn with_similarity(mut self, similarity: f64) -> Self {
        self.semantic_similarity = similarity * SIMILARITY_WEIGHT;
        self
    }
}

/// The full breakdown of a (dependency, output) pair whose provider has step type
/// `provider_step_type`; `None` when the types are incompatible (score 0).
pub fn score_breakdown(
    matcher: &SemanticMatcher,
    catalog: &StepTypeCatalog,
    dep: &DependencySpec,
    out: &OutputSpec,
    provider_step_type: &str,
) -> Option<ScoreBreakdown> {
    partial_breakdown(catalog, dep, out, provider_step_type).map(|b| {
        b.with_similarity(matcher.calculate_similarity_with_aliases(&dep.logical_name, out))
    })
}

/// The compatibility score of a (dependency, output) pair (reference
/// `_calculate_compatibility`): 0.0 for incompatible types, otherwise the sum of the
/// [`ScoreBreakdown`] parts capped at 1.0 (no lower clamp).
///
/// ```
/// use pipeline_deps::scoring::{compatibility_score, StepTypeCatalog};
/// use pipeline_deps::{DependencySpec, DependencyType, OutputSpec, SemanticMatcher};
///
/// let dep = DependencySpec::new("training_data", DependencyType::ProcessingOutput)
///     .with_compatible_sources(["PreprocessingStep"])
///     .with_keywords(["data"]);
/// let out = OutputSpec::new("processed_data", DependencyType::ProcessingOutput, "properties.X");
/// let score = compatibility_score(
///     &SemanticMatcher::default(), &StepTypeCatalog::default(), &dep, &out, "PreprocessingStep");
/// assert!((score - 0.9072916666666667).abs() < 1e-12);
/// ```
pub fn compatibility_score(
    matcher: &SemanticMatcher,
    catalog: &StepTypeCatalog,
    dep: &DependencySpec,
    out: &OutputSpec,
    provider_step_type: &str,
) -> f64 {
    score_breakdown(matcher, catalog, dep, out, provider_step_type).map_or(0.0, |b| b.score())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The Python reference's examples are in `tests/resolver_parity.rs`; this adds the empty name.
    #[test]
    fn an_empty_step_type_normalises_to_itself() {
        assert_eq!(StepTypeCatalog::default().normalize_step_type(""), "");
    }

    #[test]
    fn provider_in_sources_examples() {
        let c = StepTypeCatalog::default();
        assert!(c.provider_in_sources("Payload", &sources(&["PayloadStep"])));
        assert!(c.provider_in_sources("ProcessingStep", &sources(&["Processing"])));
        assert!(c.provider_in_sources("XGBoostTraining", &sources(&["XGBoostTrainingStep"])));
        assert!(c.provider_in_sources("Package", &sources(&["MIMSPackaging"])));
        assert!(!c.provider_in_sources("Package", &sources(&["PackagingStep"])));
        assert!(!c.provider_in_sources("MIMSPackaging", &sources(&["Package"])));
    }

    proptest::proptest! {
        #[test]
        fn source_keys_decide_like_provider_in_sources(
            provider in proptest::sample::select(vec![
                "Package", "Payload", "PackageStep", "Foo", "FooStep", "FooStepStep",
                "Registration", "PyTorchTraining", "Step", "", "MIMSPackaging",
            ]),
            list in proptest::collection::vec(proptest::sample::select(vec![
                "Package", "PackageStep", "MIMSPackaging", "MIMSPayload", "Foo", "FooStep",
                "FooStepStep", "Step", "", "ModelRegistration", "PytorchTraining", "Other",
            ]), 0..4),
        ) {
            let c = StepTypeCatalog::default();
            let list = sources(&list);
            let (exact, stripped) = c.source_keys(&list);
            let by_keys = exact.contains(&provider) || stripped.contains(&strip_step(provider));
            proptest::prop_assert_eq!(by_keys, c.provider_in_sources(provider, &list));
        }
    }

    #[test]
    fn matrices() {
        use DependencyType as T;
        let mut pairs = Vec::new();
        for d in T::ALL {
            for o in T::ALL {
                if d != o && types_compatible(d, o) {
                    pairs.push((d, o));
                }
            }
        }
        assert_eq!(pairs.len(), 4);
        assert!(data_types_compatible("Integer", "Float"));
        assert!(!data_types_compatible("Boolean", "Integer"));
        assert!(!data_types_compatible("s3uri", "S3Uri"));
        assert!(data_types_compatible("Custom", "Custom"));
    }

    #[test]
    fn byte_containment_equals_str_contains() {
        for (h, n) in [
            ("abc", ""),
            ("", ""),
            ("", "a"),
            ("abc", "abc"),
            ("abc", "bc"),
            ("abc", "abcd"),
            ("aab", "ab"),
            ("é_x", "_x"),
        ] {
            assert_eq!(
                contains_bytes(h.as_bytes(), n.as_bytes()),
                h.contains(n),
                "{h} / {n}"
            );
        }
    }

    #[test]
    fn keyword_match_counts_duplicates_and_ignores_case() {
        let kw = sources(&["Data", "data", "model"]);
        assert_eq!(keyword_match(&kw, "processed_DATA"), 2.0 / 3.0);
        assert_eq!(keyword_match(&[], "x"), 0.0);
    }
}
