//! The semantic name matcher: how similar a dependency name is to an output name. This
//! module holds the public face (the synonym table, the weights, [`SemanticMatcher`] and
//! [`SimilarityExplanation`]); `prepared.rs` prepares a name once for many comparisons and
//! `components.rs` computes the four components, their weighted sum and the upper bounds
//! the optimised resolver prunes with.

mod components;
mod prepared;

use serde::Serialize;

use super::normalize::{normalize_name, sequence_ratio};
use crate::spec::OutputSpec;
pub(crate) use components::{
    combine, other_components, quick_bound, short_circuit, similarity_bound, similarity_of,
    string_component,
};
use components::{semantic_component, substring_component, token_component};
use prepared::synonym_mask;
pub(crate) use prepared::{PreparedName, byte_mask};

/// Synonym groups: two words are synonyms when one group contains both (the relation is not
/// transitive: `input`~`training` and `training`~`train`, but not `input`~`train`).
pub const SYNONYM_GROUPS: [(&str, &[&str]); 7] = [
    ("model", &["model", "artifact", "trained", "output"]),
    (
        "data",
        &["data", "dataset", "input", "processed", "training"],
    ),
    (
        "config",
        &[
            "config",
            "configuration",
            "params",
            "parameters",
            "hyperparameters",
            "settings",
        ],
    ),
    (
        "payload",
        &["payload", "sample", "test", "inference", "example"],
    ),
    (
        "output",
        &["output", "result", "artifact", "generated", "produced"],
    ),
    ("training", &["training", "train", "fit", "learn"]),
    (
        "preprocessing",
        &[
            "preprocessing",
            "preprocess",
            "processed",
            "clean",
            "transform",
        ],
    ),
];

/// Weight of the string (sequence-ratio) component.
pub const STRING_WEIGHT: f64 = 0.3;
/// Weight of the token (Jaccard) component.
pub const TOKEN_WEIGHT: f64 = 0.25;
/// Weight of the semantic (synonym) component.
pub const SEMANTIC_WEIGHT: f64 = 0.25;
/// Weight of the substring component.
pub const SUBSTRING_WEIGHT: f64 = 0.2;

/// Every component of one similarity, as returned by
/// [`SemanticMatcher::explain_similarity`].
///
/// ```
/// use pipeline_deps::SemanticMatcher;
///
/// let explanation = SemanticMatcher::default().explain_similarity("model_input", "model_output");
/// assert_eq!(explanation.normalized_names, ("model input".to_owned(), "model output".to_owned()));
/// assert!(explanation.token_similarity > 0.0 && explanation.overall_score < 1.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SimilarityExplanation {
    /// [`SemanticMatcher::calculate_similarity`] of the two raw names.
    pub overall_score: f64,
    /// Both names after [`normalize_name`].
    pub normalized_names: (String, String),
    /// Sequence ratio of the normalised names (weight 0.3).
    pub string_similarity: f64,
    /// Jaccard index of the token sets (weight 0.25).
    pub token_similarity: f64,
    /// Synonym-aware token score (weight 0.25).
    pub semantic_similarity: f64,
    /// Substring score (weight 0.2).
    pub substring_similarity: f64,
}

impl SimilarityExplanation {
    /// The components weighted and added as the score adds them; equal to
    /// [`Self::overall_score`] (up to float rounding when a rule decided the score).
    pub fn weighted_total(&self) -> f64 {
        combine(
            self.string_similarity,
            [
                self.token_similarity,
                self.semantic_similarity,
                self.substring_similarity,
            ],
        )
    }
}

/// Semantic similarity of step input/output names, as in the Python reference `SemanticMatcher`.
///
/// The similarity of two names is 0.0 if either is empty, 1.0 if they are equal after
/// [normalisation](super::normalize::normalize_name), and otherwise
/// `0.3·string + 0.25·token + 0.25·semantic + 0.2·substring`, accumulated in that order.
/// It is asymmetric: the first name is the dependency's, the second the output's.
///
/// ```
/// use pipeline_deps::SemanticMatcher;
///
/// let matcher = SemanticMatcher::default();
/// let score = matcher.calculate_similarity("training_data", "training_dataset");
/// assert!((score - 0.7272988505747126).abs() < 1e-12);
/// assert_eq!(matcher.calculate_similarity("config", "configuration"), 1.0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SemanticMatcher {
    _private: (),
}

impl SemanticMatcher {
    /// A matcher with the Python reference's synonym, abbreviation and stop-word tables.
    pub fn new() -> Self {
        SemanticMatcher::default()
    }

    /// [`normalize_name`].
    pub fn normalize_name(&self, name: &str) -> String {
        normalize_name(name)
    }

    /// Whether some synonym group contains both words (raw words, not normalised).
    pub fn are_synonyms(&self, word1: &str, word2: &str) -> bool {
        synonym_mask(word1) & synonym_mask(word2) != 0
    }

    /// The similarity of two names, between 0.0 and 1.0 (dependency name first).
    pub fn calculate_similarity(&self, name1: &str, name2: &str) -> f64 {
        similarity_of(&PreparedName::new(name1), &PreparedName::new(name2))
    }

    /// The best similarity of `name` to the output's logical name or any of its aliases
    /// (an alias replaces the current best only when strictly better).
    pub fn calculate_similarity_with_aliases(&self, name: &str, output: &OutputSpec) -> f64 {
        let prepared = PreparedName::new(name);
        let mut best = similarity_of(&prepared, &PreparedName::new(&output.logical_name));
        for alias in &output.aliases {
            let score = similarity_of(&prepared, &PreparedName::new(alias));
            if score > best {
                best = score;
            }
        }
        best
    }

    /// Candidates scoring at least `threshold` against `target`, best first (a stable sort:
    /// equal scores keep the candidates' order).
    pub fn find_best_matches<'c, S: AsRef<str>>(
        &self,
        target: &str,
        candidates: &'c [S],
        threshold: f64,
    ) -> Vec<(&'c str, f64)> {
        let prepared = PreparedName::new(target);
        let mut matches: Vec<(&'c str, f64)> = candidates
            .iter()
            .map(|c| {
                let c = c.as_ref();
                (c, similarity_of(&prepared, &PreparedName::new(c)))
            })
            .filter(|(_, score)| *score >= threshold)
            .collect();
        matches.sort_by(|x, y| y.1.total_cmp(&x.1));
        matches
    }

    /// Every component of the similarity of two names, consistent with the overall score:
    /// the components weighted by [`STRING_WEIGHT`], [`TOKEN_WEIGHT`], [`SEMANTIC_WEIGHT`]
    /// and [`SUBSTRING_WEIGHT`] always add up to
    /// [`overall_score`](SimilarityExplanation::overall_score)
    /// ([`SimilarityExplanation::weighted_total`]). When a rule decides the score without
    /// the components, they say so: all 0.0 when either raw name is empty (similar to
    /// nothing), all 1.0 when the names are equal after normalisation.
    ///
    /// Deliberate difference D6 from the Python reference (docs/design.md): when both names
    /// normalise to nothing (e.g. `"the"` and `"and"`) this does not fail, and the
    /// components of a decided score are those of the rule, not the formula's, which the
    /// reference reports beside a total they do not add up to (`"___"` and `""`: total 0.0,
    /// string and substring components 1.0).
    ///
    /// ```
    /// use pipeline_deps::SemanticMatcher;
    ///
    /// let m = SemanticMatcher::default();
    /// for (a, b) in [("___", ""), ("data_model", "DataModel"), ("model_input", "model_output")] {
    ///     let e = m.explain_similarity(a, b);
    ///     assert!((e.weighted_total() - e.overall_score).abs() < 1e-12, "{a} / {b}");
    /// }
    /// assert_eq!(m.explain_similarity("___", "").string_similarity, 0.0);
    /// ```
    pub fn explain_similarity(&self, name1: &str, name2: &str) -> SimilarityExplanation {
        let a = PreparedName::new(name1);
        let b = PreparedName::new(name2);
        let (overall_score, [string, token, semantic, substring]) = match short_circuit(&a, &b) {
            Some(score) => (score, [score; 4]),
            None => {
                let string = string_component(&a, &b);
                let others = other_components(&a, &b);
                let [token, semantic, substring] = others;
                (
                    combine(string, others),
                    [string, token, semantic, substring],
                )
            }
        };
        SimilarityExplanation {
            overall_score,
            normalized_names: (a.norm.clone(), b.norm.clone()),
            string_similarity: string,
            token_similarity: token,
            semantic_similarity: semantic,
            substring_similarity: substring,
        }
    }

    /// The string component of two already normalised names.
    pub fn string_similarity(&self, normalized1: &str, normalized2: &str) -> f64 {
        sequence_ratio(normalized1, normalized2)
    }

    /// The token (Jaccard) component of two already normalised names.
    pub fn token_similarity(&self, normalized1: &str, normalized2: &str) -> f64 {
        token_component(&prepared(normalized1), &prepared(normalized2))
    }

    /// The semantic (synonym) component of two already normalised names.
    pub fn semantic_similarity(&self, normalized1: &str, normalized2: &str) -> f64 {
        semantic_component(&prepared(normalized1), &prepared(normalized2))
    }

    /// The substring component of two already normalised names.
    pub fn substring_similarity(&self, normalized1: &str, normalized2: &str) -> f64 {
        substring_component(&prepared(normalized1), &prepared(normalized2))
    }
}

fn prepared(normalized: &str) -> PreparedName {
    PreparedName::from_normalized(normalized.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_are_not_transitive() {
        let m = SemanticMatcher::new();
        assert!(m.are_synonyms("training", "input"));
        assert!(m.are_synonyms("training", "train"));
        assert!(!m.are_synonyms("input", "train"));
        assert!(m.are_synonyms("config", "parameters"));
    }

    proptest::proptest! {
        /// The explanation's weighted components add up to its total, which is the
        /// similarity, whatever the names (short-circuit rules included).
        #[test]
        fn explanation_parts_add_up_to_the_total(
            a in proptest::prop_oneof![
                proptest::string::string_regex("[a-zA-Z_ .-]{0,12}").unwrap_or_else(|_| unreachable!()),
                proptest::string::string_regex("((the|and|of|data|model|input|output|_|-| ){0,4})").unwrap_or_else(|_| unreachable!()),
                proptest::prelude::any::<String>(),
            ],
            b in proptest::prop_oneof![
                proptest::string::string_regex("[a-zA-Z_ .-]{0,12}").unwrap_or_else(|_| unreachable!()),
                proptest::string::string_regex("((the|and|of|data|model|input|output|_|-| ){0,4})").unwrap_or_else(|_| unreachable!()),
                proptest::prelude::any::<String>(),
            ],
        ) {
            let e = SemanticMatcher::new().explain_similarity(&a, &b);
            proptest::prop_assert!(
                (e.weighted_total() - e.overall_score).abs() <= 1e-12,
                "{:?}", e
            );
            proptest::prop_assert_eq!(
                e.overall_score,
                SemanticMatcher::new().calculate_similarity(&a, &b)
            );
        }
    }

    #[test]
    fn explanations_of_decided_scores_add_up() -> Result<(), String> {
        let m = SemanticMatcher::new();
        for (a, b, total) in [
            ("___", "", 0.0),
            ("", "", 0.0),
            ("", "data", 0.0),
            ("the", "and", 1.0),
            ("data_model", "Data-Model", 1.0),
            ("config", "configuration", 1.0),
        ] {
            let e = m.explain_similarity(a, b);
            if e.overall_score != total || (e.weighted_total() - total).abs() > 1e-12 {
                return Err(format!("{a:?} / {b:?}: {e:?}"));
            }
        }
        Ok(())
    }

    #[test]
    fn empty_raw_name_scores_zero() {
        let m = SemanticMatcher::new();
        assert_eq!(m.calculate_similarity("", "data"), 0.0);
        assert_eq!(m.calculate_similarity("", ""), 0.0);
        assert_eq!(m.calculate_similarity("the", "and"), 1.0);
    }
}
