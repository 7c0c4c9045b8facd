//! The semantic name matcher: how similar a dependency name is to an output name.

use std::ops::Range;

use serde::Serialize;

use super::normalize::{ALPHABET_INDEX, is_py_whitespace, normalize_name, sequence_ratio};
use super::scoring::contains_bytes;
use crate::spec::OutputSpec;

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

/// Bit `g` is set when `word` belongs to synonym group `g` of [`SYNONYM_GROUPS`] (a
/// `match` compiled from the table; a test checks they agree).
fn synonym_mask(word: &str) -> u8 {
    match word {
        "artifact" => 0b0010001,
        "clean" => 0b1000000,
        "config" => 0b0000100,
        "configuration" => 0b0000100,
        "data" => 0b0000010,
        "dataset" => 0b0000010,
        "example" => 0b0001000,
        "fit" => 0b0100000,
        "generated" => 0b0010000,
        "hyperparameters" => 0b0000100,
        "inference" => 0b0001000,
        "input" => 0b0000010,
        "learn" => 0b0100000,
        "model" => 0b0000001,
        "output" => 0b0010001,
        "parameters" => 0b0000100,
        "params" => 0b0000100,
        "payload" => 0b0001000,
        "preprocess" => 0b1000000,
        "preprocessing" => 0b1000000,
        "processed" => 0b1000010,
        "produced" => 0b0010000,
        "result" => 0b0010000,
        "sample" => 0b0001000,
        "settings" => 0b0000100,
        "test" => 0b0001000,
        "train" => 0b0100000,
        "trained" => 0b0000001,
        "training" => 0b0100010,
        "transform" => 0b1000000,
        _ => 0,
    }
}

/// A name prepared once for any number of comparisons: normalised, split into words and
/// tokens. Every similarity in this crate goes through [`similarity_of`], whether memoised
/// or not, so the optimised resolver and the plain one cannot disagree.
#[derive(Debug, Clone)]
pub(crate) struct PreparedName {
    /// The raw name was empty (similarity 0.0 with anything).
    raw_empty: bool,
    norm: String,
    /// Length of `norm` in characters.
    norm_chars: usize,
    /// Occurrences of each symbol of the normalised alphabet (`None` when `norm` has other
    /// characters), for a cheap upper bound of the string component.
    counts: Option<[u16; 37]>,
    /// Every word in order (duplicates kept), with its length in characters.
    words: Vec<(Range<usize>, usize)>,
    /// Distinct words in first-occurrence order, with their synonym-group masks.
    tokens: Vec<(Range<usize>, u8)>,
}

impl PreparedName {
    /// Prepares a raw name (normalises it).
    pub(crate) fn new(raw: &str) -> Self {
        let mut prepared = Self::from_normalized(normalize_name(raw));
        prepared.raw_empty = raw.is_empty();
        prepared
    }

    /// Prepares an already normalised name.
    pub(crate) fn from_normalized(norm: String) -> Self {
        let mut words = Vec::new();
        let mut tokens: Vec<(Range<usize>, u8)> = Vec::new();
        let mut start = None;
        for (idx, c) in norm
            .char_indices()
            .chain(std::iter::once((norm.len(), ' ')))
        {
            match (start, is_py_whitespace(c) || idx == norm.len()) {
                (None, false) => start = Some(idx),
                (Some(s), true) => {
                    let word = &norm[s..idx];
                    words.push((s..idx, word.chars().count()));
                    if !tokens.iter().any(|(r, _)| &norm[r.clone()] == word) {
                        tokens.push((s..idx, synonym_mask(word)));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        PreparedName {
            raw_empty: false,
            norm_chars: norm.chars().count(),
            counts: symbol_counts(&norm),
            norm,
            words,
            tokens,
        }
    }

    fn token(&self, range: &Range<usize>) -> &str {
        &self.norm[range.clone()]
    }
}

fn symbol_counts(norm: &str) -> Option<[u16; 37]> {
    let mut counts = [0u16; 37];
    for c in norm.bytes() {
        let slot = counts.get_mut(usize::from(ALPHABET_INDEX[usize::from(c)]))?;
        *slot = slot.checked_add(1)?;
    }
    Some(counts)
}

/// An upper bound of the string component (the sequence ratio) without sequence
/// matching: the matching blocks cannot match more symbols than the two names have in
/// common counted with multiplicity, and the ratio is computed with the same float
/// operations, so the bound holds exactly. Combined with the exact other components by
/// [`combine`] (monotone), it bounds [`similarity_of`].
pub(crate) fn string_upper_bound(a: &PreparedName, b: &PreparedName) -> f64 {
    match (&a.counts, &b.counts) {
        (Some(ca), Some(cb)) => {
            let common: usize = ca.iter().zip(cb).map(|(x, y)| usize::from(*x.min(y))).sum();
            let length = a.norm.len() + b.norm.len();
            if length == 0 {
                1.0
            } else {
                2.0 * common as f64 / length as f64
            }
        }
        _ => 1.0,
    }
}

/// String component: the sequence ratio, `a` first.
pub(crate) fn string_component(a: &PreparedName, b: &PreparedName) -> f64 {
    sequence_ratio(&a.norm, &b.norm)
}

/// Token component: Jaccard index of the token sets, 0 when either is empty.
fn token_component(a: &PreparedName, b: &PreparedName) -> f64 {
    if a.tokens.is_empty() || b.tokens.is_empty() {
        return 0.0;
    }
    let common = a
        .tokens
        .iter()
        .filter(|(ra, _)| b.tokens.iter().any(|(rb, _)| a.token(ra) == b.token(rb)))
        .count();
    let union = a.tokens.len() + b.tokens.len() - common;
    common as f64 / union as f64
}

/// Semantic component: +1 per equal token pair, +0.8 per synonym pair, over all pairs.
///
/// The reference iterates Python sets (hash-seed order); this sums in first-occurrence
/// order, which can differ from one reference run in the last bit only.
fn semantic_component(a: &PreparedName, b: &PreparedName) -> f64 {
    let comparisons = a.tokens.len() * b.tokens.len();
    if comparisons == 0 {
        return 0.0;
    }
    let mut matches = 0.0;
    for (ra, ma) in &a.tokens {
        for (rb, mb) in &b.tokens {
            if a.token(ra) == b.token(rb) {
                matches += 1.0;
            } else if ma & mb != 0 {
                matches += 0.8;
            }
        }
    }
    matches / comparisons as f64
}

/// Substring component: `min/max` of the lengths when one normalised name contains the
/// other, else the best `min/max` over word pairs (both ≥ 3 characters) where one contains
/// the other.
///
/// Deliberate difference (13.6): two empty names give 1.0 instead of a division by zero.
fn substring_component(a: &PreparedName, b: &PreparedName) -> f64 {
    let (na, nb) = (a.norm.as_bytes(), b.norm.as_bytes());
    if contains_bytes(nb, na) || contains_bytes(na, nb) {
        let (short, long) = (
            a.norm_chars.min(b.norm_chars),
            a.norm_chars.max(b.norm_chars),
        );
        return if long == 0 {
            1.0
        } else {
            short as f64 / long as f64
        };
    }
    let mut best = 0.0_f64;
    for (ra, la) in &a.words {
        for (rb, lb) in &b.words {
            if *la >= 3 && *lb >= 3 {
                let (wa, wb) = (&na[ra.clone()], &nb[rb.clone()]);
                if contains_bytes(wa, wb) || contains_bytes(wb, wa) {
                    best = best.max((*la).min(*lb) as f64 / (*la).max(*lb) as f64);
                }
            }
        }
    }
    best
}

/// The similarity of two prepared names (reference `calculate_similarity`).
pub(crate) fn similarity_of(a: &PreparedName, b: &PreparedName) -> f64 {
    match short_circuit(a, b) {
        Some(score) => score,
        None => combine(string_component(a, b), other_components(a, b)),
    }
}

/// The similarity when a rule decides it without components: 0.0 for an empty raw name,
/// 1.0 for names equal after normalisation.
pub(crate) fn short_circuit(a: &PreparedName, b: &PreparedName) -> Option<f64> {
    if a.raw_empty || b.raw_empty {
        Some(0.0)
    } else if a.norm == b.norm {
        Some(1.0)
    } else {
        None
    }
}

/// The token, semantic and substring components.
pub(crate) fn other_components(a: &PreparedName, b: &PreparedName) -> [f64; 3] {
    [
        token_component(a, b),
        semantic_component(a, b),
        substring_component(a, b),
    ]
}

/// The weighted sum of the components, accumulated as the reference does (Python
/// `sum(score * weight ...)`: left to right, starting from the integer 0).
pub(crate) fn combine(string: f64, [token, semantic, substring]: [f64; 3]) -> f64 {
    let mut total = string * STRING_WEIGHT;
    total += token * TOKEN_WEIGHT;
    total += semantic * SEMANTIC_WEIGHT;
    total += substring * SUBSTRING_WEIGHT;
    total
}

/// Every component of one similarity, as returned by
/// [`SemanticMatcher::explain_similarity`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarityExplanation {
    /// [`SemanticMatcher::calculate_similarity`] of the two raw names.
    pub overall_score: f64,
    /// Both names after [`normalize_name`](super::normalize::normalize_name).
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

/// Semantic similarity of step input/output names, as in the reference `SemanticMatcher`.
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
    /// A matcher with the reference's synonym, abbreviation and stop-word tables.
    pub fn new() -> Self {
        SemanticMatcher::default()
    }

    /// [`normalize_name`](super::normalize::normalize_name).
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

    /// Every component of the similarity of two names. The components are computed even
    /// when the overall score short-circuits to 1.0.
    ///
    /// Deliberate difference from the reference (13.6): when both names normalise to
    /// nothing (e.g. `"the"` and `"and"`) this does not fail; the substring component of two
    /// empty names is 1.0 (like the string component, 2·0/0 taken as 1.0).
    pub fn explain_similarity(&self, name1: &str, name2: &str) -> SimilarityExplanation {
        let a = PreparedName::new(name1);
        let b = PreparedName::new(name2);
        SimilarityExplanation {
            overall_score: similarity_of(&a, &b),
            normalized_names: (a.norm.clone(), b.norm.clone()),
            string_similarity: string_component(&a, &b),
            token_similarity: token_component(&a, &b),
            semantic_similarity: semantic_component(&a, &b),
            substring_similarity: substring_component(&a, &b),
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
    fn synonym_masks_follow_the_table() {
        let mut words: Vec<&str> = SYNONYM_GROUPS
            .iter()
            .flat_map(|(_, m)| m.iter().copied())
            .collect();
        words.extend(["", "Model", "models", "x"]);
        for word in words {
            let from_table = SYNONYM_GROUPS
                .iter()
                .enumerate()
                .filter(|(_, (_, members))| members.contains(&word))
                .fold(0u8, |mask, (g, _)| mask | (1 << g));
            assert_eq!(synonym_mask(word), from_table, "{word}");
        }
    }

    #[test]
    fn synonyms_are_not_transitive() {
        let m = SemanticMatcher::new();
        assert!(m.are_synonyms("training", "input"));
        assert!(m.are_synonyms("training", "train"));
        assert!(!m.are_synonyms("input", "train"));
        assert!(m.are_synonyms("config", "parameters"));
    }

    #[test]
    fn tokens_are_distinct_in_first_occurrence_order() {
        let p = PreparedName::from_normalized("data model data".to_owned());
        let tokens: Vec<&str> = p.tokens.iter().map(|(r, _)| p.token(r)).collect();
        assert_eq!(tokens, ["data", "model"]);
        assert_eq!(p.words.len(), 3);
    }

    proptest::proptest! {
        #[test]
        fn upper_bound_is_an_upper_bound(
            a in "[a-dA-D_ .-]{0,14}(data|model|input|train|config)?",
            b in "[a-dA-D_ .-]{0,14}(output|dataset|training|params)?",
        ) {
            let (pa, pb) = (PreparedName::new(&a), PreparedName::new(&b));
            let bound = short_circuit(&pa, &pb)
                .unwrap_or_else(|| combine(string_upper_bound(&pa, &pb), other_components(&pa, &pb)));
            proptest::prop_assert!(bound >= similarity_of(&pa, &pb));
            proptest::prop_assert!(string_upper_bound(&pa, &pb) >= string_component(&pa, &pb));
        }
    }

    #[test]
    fn empty_raw_name_scores_zero() {
        let m = SemanticMatcher::new();
        assert_eq!(m.calculate_similarity("", "data"), 0.0);
        assert_eq!(m.calculate_similarity("", ""), 0.0);
        assert_eq!(m.calculate_similarity("the", "and"), 1.0);
    }
}
