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

/// One distinct word of a prepared name.
#[derive(Debug, Clone)]
struct Token {
    /// Byte range in the normalised name.
    range: Range<usize>,
    /// Length in characters.
    chars: usize,
    /// Synonym-group mask ([`synonym_mask`]).
    synonyms: u8,
    /// Hash of the bytes: unequal hashes mean unequal words.
    hash: u64,
    /// [`byte_mask`] of the word: a word can only contain words whose mask is a subset.
    bytes: u64,
}

/// A name prepared once for any number of comparisons: normalised, split into distinct
/// words with their hashes, synonym masks and byte masks. Every similarity in this crate
/// goes through [`similarity_of`], whether memoised or not, so the optimised resolver and
/// the plain one cannot disagree.
#[derive(Debug, Clone)]
pub(crate) struct PreparedName {
    /// The raw name was empty (similarity 0.0 with anything).
    raw_empty: bool,
    norm: String,
    /// Length of `norm` in characters.
    norm_chars: usize,
    /// Occurrences of each symbol of the normalised alphabet (`None` when `norm` has other
    /// characters), for a cheap upper bound of the string component and a containment
    /// filter.
    counts: Option<[u16; 37]>,
    /// [`byte_mask`] of `norm` (containment filter).
    bytes: u64,
    /// Distinct words in first-occurrence order.
    tokens: Vec<Token>,
}

/// Bit `b % 64` set for every byte `b`: if `needle` occurs in `haystack`, the mask of
/// `needle` is a subset of the mask of `haystack`.
pub(crate) fn byte_mask(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |mask, &b| mask | 1 << (b & 63))
}

/// FNV-1a of the bytes (equal words have equal hashes).
fn word_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
        let mut tokens: Vec<Token> = Vec::new();
        let mut start = None;
        for (idx, c) in norm
            .char_indices()
            .chain(std::iter::once((norm.len(), ' ')))
        {
            match (start, is_py_whitespace(c) || idx == norm.len()) {
                (None, false) => start = Some(idx),
                (Some(s), true) => {
                    let word = &norm[s..idx];
                    let hash = word_hash(word.as_bytes());
                    let seen = tokens
                        .iter()
                        .any(|t| t.hash == hash && &norm[t.range.clone()] == word);
                    if !seen {
                        tokens.push(Token {
                            range: s..idx,
                            chars: word.chars().count(),
                            synonyms: synonym_mask(word),
                            hash,
                            bytes: byte_mask(word.as_bytes()),
                        });
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
            bytes: byte_mask(norm.as_bytes()),
            norm,
            tokens,
        }
    }

    /// The normalised name, or `None` when the raw name is empty (such a name is similar
    /// to nothing, [`short_circuit`]); two names with equal `Some` forms have similarity 1.0.
    pub(crate) fn normalized(&self) -> Option<&str> {
        (!self.raw_empty).then_some(self.norm.as_str())
    }

    fn word(&self, token: &Token) -> &[u8] {
        self.norm
            .as_bytes()
            .get(token.range.clone())
            .unwrap_or_default()
    }

    /// Whether two tokens (of `self` and `other`) are the same word.
    fn same_word(&self, a: &Token, other: &PreparedName, b: &Token) -> bool {
        a.hash == b.hash && self.word(a) == other.word(b)
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
    token_and_semantic(a, b).0
}

/// Semantic component: +1 per equal token pair, +0.8 per synonym pair, over all pairs.
///
/// The Python reference iterates Python sets (hash-seed order); this sums in first-occurrence
/// order, which can differ from one reference run in the last bit only.
fn semantic_component(a: &PreparedName, b: &PreparedName) -> f64 {
    token_and_semantic(a, b).1
}

/// The token and semantic components in one pass over the token pairs (the semantic sum
/// in first-occurrence order, `a` outer).
fn token_and_semantic(a: &PreparedName, b: &PreparedName) -> (f64, f64) {
    let comparisons = a.tokens.len() * b.tokens.len();
    if comparisons == 0 {
        return (0.0, 0.0);
    }
    let mut common = 0usize;
    let mut matches = 0.0;
    for ta in &a.tokens {
        let mut found = false;
        for tb in &b.tokens {
            if a.same_word(ta, b, tb) {
                matches += 1.0;
                found = true;
            } else if ta.synonyms & tb.synonyms != 0 {
                matches += 0.8;
            }
        }
        common += usize::from(found);
    }
    let union = a.tokens.len() + b.tokens.len() - common;
    (common as f64 / union as f64, matches / comparisons as f64)
}

/// Whether `needle` occurs in `haystack`, after cheap filters (length, byte masks and
/// symbol counts, each necessary for an occurrence).
fn occurs_in(needle: &PreparedName, haystack: &PreparedName) -> bool {
    if needle.norm.len() > haystack.norm.len() || needle.bytes & !haystack.bytes != 0 {
        return false;
    }
    if let (Some(n), Some(h)) = (&needle.counts, &haystack.counts)
        && n.iter().zip(h).any(|(x, y)| x > y)
    {
        return false;
    }
    contains_bytes(haystack.norm.as_bytes(), needle.norm.as_bytes())
}

/// Substring component: `min/max` of the lengths when one normalised name contains the
/// other, else the best `min/max` over word pairs (both ≥ 3 characters) where one contains
/// the other (distinct words suffice: the value only depends on the words).
///
/// Deliberate difference D6 (docs/design.md): two empty names give 1.0 instead of a division
/// by zero.
fn substring_component(a: &PreparedName, b: &PreparedName) -> f64 {
    if occurs_in(a, b) || occurs_in(b, a) {
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
    for ta in a.tokens.iter().filter(|t| t.chars >= 3) {
        for tb in b.tokens.iter().filter(|t| t.chars >= 3) {
            let contained = if a.same_word(ta, b, tb) {
                true
            } else {
                let (wa, wb) = (a.word(ta), b.word(tb));
                (ta.bytes & !tb.bytes == 0 && contains_bytes(wb, wa))
                    || (tb.bytes & !ta.bytes == 0 && contains_bytes(wa, wb))
            };
            if contained {
                best = best.max(ta.chars.min(tb.chars) as f64 / ta.chars.max(tb.chars) as f64);
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
    let (token, semantic) = token_and_semantic(a, b);
    [token, semantic, substring_component(a, b)]
}

/// A looser upper bound than [`similarity_bound`], without substring search: the
/// substring component taken at its maximum, 1.0.
pub(crate) fn quick_bound(a: &PreparedName, b: &PreparedName) -> f64 {
    match short_circuit(a, b) {
        Some(score) => score,
        None => {
            let (token, semantic) = token_and_semantic(a, b);
            combine(string_upper_bound(a, b), [token, semantic, 1.0])
        }
    }
}

/// An upper bound of [`similarity_of`] without sequence matching (the exact value when a
/// rule decides it): [`string_upper_bound`] with the exact other components ([`combine`]
/// is monotone).
pub(crate) fn similarity_bound(a: &PreparedName, b: &PreparedName) -> f64 {
    match short_circuit(a, b) {
        Some(score) => score,
        None => combine(string_upper_bound(a, b), other_components(a, b)),
    }
}

/// The weighted sum of the components, accumulated as the Python reference does (Python
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
        let tokens: Vec<&[u8]> = p.tokens.iter().map(|t| p.word(t)).collect();
        assert_eq!(tokens, [b"data".as_slice(), b"model"]);
    }

    proptest::proptest! {
        #[test]
        fn upper_bound_is_an_upper_bound(
            a in "[a-dA-D_ .-]{0,14}(data|model|input|train|config)?",
            b in "[a-dA-D_ .-]{0,14}(output|dataset|training|params)?",
        ) {
            let (pa, pb) = (PreparedName::new(&a), PreparedName::new(&b));
            proptest::prop_assert!(similarity_bound(&pa, &pb) >= similarity_of(&pa, &pb));
            proptest::prop_assert!(quick_bound(&pa, &pb) >= similarity_bound(&pa, &pb));
            proptest::prop_assert!(string_upper_bound(&pa, &pb) >= string_component(&pa, &pb));
        }
    }

    /// The substring component as specified, without filters or deduplicated words.
    fn substring_naive(a: &str, b: &str) -> f64 {
        let (na, nb) = (normalize_name(a), normalize_name(b));
        if nb.contains(na.as_str()) || na.contains(nb.as_str()) {
            let (x, y) = (na.chars().count(), nb.chars().count());
            return if x.max(y) == 0 {
                1.0
            } else {
                x.min(y) as f64 / x.max(y) as f64
            };
        }
        let mut best = 0.0_f64;
        for wa in na.split(' ').filter(|w| w.len() >= 3) {
            for wb in nb.split(' ').filter(|w| w.len() >= 3) {
                if wa.contains(wb) || wb.contains(wa) {
                    let (x, y) = (wa.len(), wb.len());
                    best = best.max(x.min(y) as f64 / x.max(y) as f64);
                }
            }
        }
        best
    }

    proptest::proptest! {
        #[test]
        fn substring_filters_change_nothing(
            a in "(data|set|dataset|model|input|in|put|x|ab|abc)([ _](data|set|dataset|model|input|in|put|x|ab|abc)){0,3}",
            b in "(data|set|dataset|model|input|in|put|x|ab|abc)([ _](data|set|dataset|model|input|in|put|x|ab|abc)){0,3}",
        ) {
            let (pa, pb) = (PreparedName::new(&a), PreparedName::new(&b));
            proptest::prop_assert_eq!(substring_component(&pa, &pb), substring_naive(&a, &b));
        }
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
