//! The four components of a name similarity (string, token, semantic, substring) over
//! prepared names, their weighted sum, the rules that decide a score without them, and the
//! upper bounds the optimised resolver prunes with.

use super::prepared::PreparedName;
use super::{SEMANTIC_WEIGHT, STRING_WEIGHT, SUBSTRING_WEIGHT, TOKEN_WEIGHT};
use crate::resolve::normalize::sequence_ratio;
use crate::resolve::scoring::contains_bytes;

/// An upper bound of the string component (the sequence ratio) without sequence
/// matching: the matching blocks cannot match more symbols than the two names have in
/// common counted with multiplicity, and the ratio is computed with the same float
/// operations, so the bound holds exactly. Combined with the exact other components by
/// [`combine`] (monotone), it bounds [`similarity_of`].
fn string_upper_bound(a: &PreparedName, b: &PreparedName) -> f64 {
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
pub(super) fn token_component(a: &PreparedName, b: &PreparedName) -> f64 {
    token_and_semantic(a, b).0
}

/// Semantic component: +1 per equal token pair, +0.8 per synonym pair, over all pairs.
///
/// The Python reference iterates Python sets (hash-seed order); this sums in first-occurrence
/// order, which can differ from one reference run in the last bit only.
pub(super) fn semantic_component(a: &PreparedName, b: &PreparedName) -> f64 {
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
pub(super) fn substring_component(a: &PreparedName, b: &PreparedName) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::normalize::normalize_name;

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
}
