//! A name prepared once for any number of similarity comparisons: normalised, split into
//! distinct words with their hashes, synonym masks and byte masks.

use std::ops::Range;

use crate::resolve::normalize::{ALPHABET_INDEX, is_py_whitespace, normalize_name};

/// Bit `g` is set when `word` belongs to synonym group `g` of
/// [`SYNONYM_GROUPS`](super::SYNONYM_GROUPS) (a
/// `match` compiled from the table; a test checks they agree).
pub(super) fn synonym_mask(word: &str) -> u8 {
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
pub(super) struct Token {
    /// Byte range in the normalised name.
    pub(super) range: Range<usize>,
    /// Length in characters.
    pub(super) chars: usize,
    /// Synonym-group mask ([`synonym_mask`]).
    pub(super) synonyms: u8,
    /// Hash of the bytes: unequal hashes mean unequal words.
    pub(super) hash: u64,
    /// [`byte_mask`] of the word: a word can only contain words whose mask is a subset.
    pub(super) bytes: u64,
}

/// A name prepared once for any number of comparisons: normalised, split into distinct
/// words with their hashes, synonym masks and byte masks. Every similarity in this crate
/// goes through [`similarity_of`](super::similarity_of), whether memoised or not, so the
/// optimised resolver and the plain one cannot disagree.
#[derive(Debug, Clone)]
pub(crate) struct PreparedName {
    /// The raw name was empty (similarity 0.0 with anything).
    pub(super) raw_empty: bool,
    pub(super) norm: String,
    /// Length of `norm` in characters.
    pub(super) norm_chars: usize,
    /// Occurrences of each symbol of the normalised alphabet (`None` when `norm` has other
    /// characters), for a cheap upper bound of the string component and a containment
    /// filter.
    pub(super) counts: Option<[u16; 37]>,
    /// [`byte_mask`] of `norm` (containment filter).
    pub(super) bytes: u64,
    /// Distinct words in first-occurrence order.
    pub(super) tokens: Vec<Token>,
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
    /// to nothing, [`short_circuit`](super::short_circuit)); two names with equal `Some`
    /// forms have similarity 1.0.
    pub(crate) fn normalized(&self) -> Option<&str> {
        (!self.raw_empty).then_some(self.norm.as_str())
    }

    pub(super) fn word(&self, token: &Token) -> &[u8] {
        self.norm
            .as_bytes()
            .get(token.range.clone())
            .unwrap_or_default()
    }

    /// Whether two tokens (of `self` and `other`) are the same word.
    pub(super) fn same_word(&self, a: &Token, other: &PreparedName, b: &Token) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::matcher::SYNONYM_GROUPS;

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
    fn tokens_are_distinct_in_first_occurrence_order() {
        let p = PreparedName::from_normalized("data model data".to_owned());
        let tokens: Vec<&[u8]> = p.tokens.iter().map(|t| p.word(t)).collect();
        assert_eq!(tokens, [b"data".as_slice(), b"model"]);
    }
}
