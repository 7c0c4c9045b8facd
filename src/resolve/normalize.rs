//! Name normalisation and the string-similarity ratio of the Python reference matcher.
//!
//! Both are exact ports of the Python reference (`SemanticMatcher._normalize_name` and Python 3.11
//! `difflib.SequenceMatcher(None, a, b).ratio()`), because resolver scores must agree with the
//! reference to the last bit on real specifications.

/// Whole-word abbreviations expanded by [`normalize_name`], applied in one pass before stop
/// words are removed.
pub const ABBREVIATIONS: [(&str, &str); 8] = [
    ("config", "configuration"),
    ("params", "parameters"),
    ("hyperparams", "hyperparameters"),
    ("preprocess", "preprocessing"),
    ("eval", "evaluation"),
    ("reg", "registration"),
    ("pkg", "package"),
    ("packaged", "package"),
];

/// Words dropped by [`normalize_name`].
pub const STOP_WORDS: [&str; 14] = [
    "the", "a", "an", "and", "or", "but", "in", "on", "at", "to", "for", "of", "with", "by",
];

/// Python's `str.isspace` (what `\s` in a `str` regex and `str.split()` use): Unicode
/// whitespace plus the ASCII information separators U+001C..U+001F, which Rust's
/// [`char::is_whitespace`] does not include.
pub(crate) fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Normalises a name the way the Python reference matcher does before comparing names.
///
/// 1. Unicode lowercase;
/// 2. `_`, `-` and `.` become spaces;
/// 3. every character that is not `a-z`, `0-9` or whitespace is deleted;
/// 4. the text is split on whitespace, each word is expanded through [`ABBREVIATIONS`] and
///    [`STOP_WORDS`] are dropped;
/// 5. the words are joined with single spaces.
///
/// There is no camelCase splitting, so the result only contains `[a-z0-9 ]`.
///
/// ```
/// use pipeline_deps::scoring::normalize_name;
///
/// assert_eq!(normalize_name("  Model__Output--v2 "), "model output v2");
/// assert_eq!(normalize_name("PKG.reg.eval"), "package registration evaluation");
/// assert_eq!(normalize_name("data-set!"), "data set");
/// assert_eq!(normalize_name("the and of"), "");
/// assert_eq!(normalize_name("TrainingData"), "trainingdata");
/// ```
pub fn normalize_name(name: &str) -> String {
    if name.is_ascii() {
        return normalize_ascii(name.as_bytes());
    }
    let mut cleaned = String::with_capacity(name.len());
    // Per-character lowercasing equals `str::to_lowercase` here: they differ only for a
    // final sigma, which is deleted anyway.
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if matches!(c, '_' | '-' | '.') { ' ' } else { c };
        if c.is_ascii_lowercase() || c.is_ascii_digit() || is_py_whitespace(c) {
            cleaned.push(c);
        }
    }
    let mut out = String::with_capacity(cleaned.len());
    for word in cleaned.split(is_py_whitespace).filter(|w| !w.is_empty()) {
        let word = ABBREVIATIONS
            .iter()
            .find(|(short, _)| *short == word)
            .map_or(word, |(_, long)| long);
        if STOP_WORDS.contains(&word) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// [`normalize_name`] of an ASCII name in one pass: each word is written to the output as
/// it is read (separators `_-.` and ASCII whitespace end a word, other characters outside
/// `a-z0-9` are deleted), then replaced by its abbreviation or removed if a stop word.
fn normalize_ascii(name: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(name.len() + 8);
    // Start of the current word in `out` (after its separating space, if any).
    let mut word_start = 0;
    let finish_word = |out: &mut Vec<u8>, word_start: usize| {
        let Some(word) = out.get(word_start..) else {
            return;
        };
        if word.is_empty() {
            // Nothing written: drop the separating space, if any.
            out.truncate(word_start.saturating_sub(1));
            return;
        }
        if let Some((_, long)) = ABBREVIATIONS
            .iter()
            .find(|(short, _)| short.as_bytes() == word)
        {
            out.truncate(word_start);
            out.extend_from_slice(long.as_bytes());
        }
        let word = out.get(word_start..).unwrap_or_default();
        if STOP_WORDS.iter().any(|stop| stop.as_bytes() == word) {
            out.truncate(word_start.saturating_sub(1));
        }
    };
    let mut in_word = false;
    for &c in name {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if !in_word {
                if !out.is_empty() {
                    out.push(b' ');
                }
                word_start = out.len();
                in_word = true;
            }
            out.push(c);
        } else if in_word && (matches!(c, b'_' | b'-' | b'.') || is_py_whitespace(char::from(c))) {
            finish_word(&mut out, word_start);
            in_word = false;
        }
    }
    if in_word {
        finish_word(&mut out, word_start);
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The Python reference's string similarity: `difflib.SequenceMatcher(None, a, b).ratio()` of
/// Python 3.11, computed on characters.
///
/// `2·M / (len(a) + len(b))` (1.0 when both are empty) where `M` is the total size of the
/// matching blocks. The measure is **not symmetric**: the Python reference always passes the
/// dependency name as `a` and the output name or alias as `b`.
///
/// ```
/// use pipeline_deps::scoring::sequence_ratio;
///
/// assert!((sequence_ratio("plots output", "best model") - 1.0 / 11.0).abs() < 1e-12);
/// assert!((sequence_ratio("best model", "plots output") - 2.0 / 11.0).abs() < 1e-12);
/// assert_eq!(sequence_ratio("", ""), 1.0);
/// ```
pub fn sequence_ratio(a: &str, b: &str) -> f64 {
    if b.len() <= 64
        && a.len() <= 255
        && a.bytes()
            .chain(b.bytes())
            .all(|c| ALPHABET_INDEX[usize::from(c)] != NOT_IN_ALPHABET)
    {
        ratio_small(a.as_bytes(), b.as_bytes())
    } else if a.is_ascii() && b.is_ascii() {
        ratio_of(a.as_bytes(), b.as_bytes())
    } else {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        ratio_of(&a, &b)
    }
}

/// [`sequence_ratio`] over any sequences of comparable symbols.
pub(crate) fn ratio_of<T: Ord + Copy>(a: &[T], b: &[T]) -> f64 {
    let length = a.len() + b.len();
    if length == 0 {
        return 1.0;
    }
    let matches = SequenceMatcher::new(a, b).matching_characters();
    2.0 * matches as f64 / length as f64
}

pub(crate) const NOT_IN_ALPHABET: u8 = u8::MAX;

/// Index of each byte in the alphabet of normalised names (`a-z`, `0-9`, space).
pub(crate) const ALPHABET_INDEX: [u8; 256] = {
    let mut table = [NOT_IN_ALPHABET; 256];
    let mut i = 0;
    while i < 26 {
        table[b'a' as usize + i] = i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = 26 + d as u8;
        d += 1;
    }
    table[b' ' as usize] = 36;
    table
};

/// [`ratio_of`] for `a` and `b` over the alphabet of normalised names, `a` of at most 255
/// and `b` of at most 64 bytes, without allocating:
/// positions in `b` are bit masks and run lengths live on the stack. Such a `b` has no
/// "popular" symbols (autojunk needs 200), so the results are those of [`ratio_of`].
fn ratio_small(a: &[u8], b: &[u8]) -> f64 {
    let length = a.len() + b.len();
    if length == 0 {
        return 1.0;
    }
    let mut masks = [0u64; 37];
    for (j, &c) in b.iter().enumerate() {
        if let Some(mask) = masks.get_mut(usize::from(ALPHABET_INDEX[usize::from(c)])) {
            *mask |= 1 << j;
        }
    }
    // At most one range per matching block plus one is pending at a time (≤ 65).
    // Ranges fit in u8 (a ≤ 255, b ≤ 64 bytes).
    let narrow = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    let mut queue = [(0u8, 0u8, 0u8, 0u8); 66];
    queue[0] = (0, narrow(a.len()), 0, narrow(b.len()));
    let (mut pending, mut total) = (1usize, 0usize);
    while pending > 0 {
        pending -= 1;
        let (alo, ahi, blo, bhi) = queue[pending];
        let (alo, ahi, blo, bhi) = (
            usize::from(alo),
            usize::from(ahi),
            usize::from(blo),
            usize::from(bhi),
        );
        let (i, j, k) = longest_small(a, b, &masks, (alo, ahi), (blo, bhi));
        if k > 0 {
            total += k;
            if alo < i && blo < j && pending < queue.len() {
                queue[pending] = (narrow(alo), narrow(i), narrow(blo), narrow(j));
                pending += 1;
            }
            if i + k < ahi && j + k < bhi && pending < queue.len() {
                queue[pending] = (narrow(i + k), narrow(ahi), narrow(j + k), narrow(bhi));
                pending += 1;
            }
        }
    }
    2.0 * total as f64 / length as f64
}

/// `find_longest_match` over bit masks (see [`SequenceMatcher::find_longest_match`]).
fn longest_small(
    a: &[u8],
    b: &[u8],
    masks: &[u64; 37],
    (alo, ahi): (usize, usize),
    (blo, bhi): (usize, usize),
) -> (usize, usize, usize) {
    let low_bits = |n: usize| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    let range = low_bits(bhi) & !low_bits(blo);
    // Run lengths of the previous and current rows, by position in b.
    let mut runs = [[0u8; 64]; 2];
    let mut prev_mask = 0u64;
    let (mut best_i, mut best_j, mut best_size) = (alo, blo, 0usize);
    for (row, (i, &c)) in a.iter().enumerate().take(ahi).skip(alo).enumerate() {
        let (cur_row, prev_row) = (row & 1, (row + 1) & 1);
        let mut positions = masks
            .get(usize::from(ALPHABET_INDEX[usize::from(c)]))
            .copied()
            .unwrap_or(0)
            & range;
        let mut cur_mask = 0u64;
        while positions != 0 {
            let j = positions.trailing_zeros() as usize;
            positions &= positions - 1;
            let k = if j > 0 && (prev_mask >> (j - 1)) & 1 == 1 {
                usize::from(runs[prev_row][j - 1]) + 1
            } else {
                1
            };
            runs[cur_row][j] = u8::try_from(k).unwrap_or(u8::MAX);
            cur_mask |= 1 << j;
            if k > best_size {
                best_i = i + 1 - k;
                best_j = j + 1 - k;
                best_size = k;
            }
        }
        prev_mask = cur_mask;
    }
    while best_i > alo && best_j > blo && a[best_i - 1] == b[best_j - 1] {
        best_i -= 1;
        best_j -= 1;
        best_size += 1;
    }
    while best_i + best_size < ahi
        && best_j + best_size < bhi
        && a[best_i + best_size] == b[best_j + best_size]
    {
        best_size += 1;
    }
    (best_i, best_j, best_size)
}

/// A port of the parts of `difflib.SequenceMatcher` that `ratio()` uses, with no junk
/// function and `autojunk=True`.
struct SequenceMatcher<'s, T> {
    a: &'s [T],
    b: &'s [T],
    /// `(symbol, position in b)` sorted by symbol then position: the Python reference's `b2j` with
    /// popular symbols removed.
    b2j: Vec<(T, usize)>,
    /// Run lengths of the previous row of `find_longest_match`, indexed by `j`.
    j2len: Vec<usize>,
    /// Run lengths of the current row.
    new_j2len: Vec<usize>,
}

impl<'s, T: Ord + Copy> SequenceMatcher<'s, T> {
    fn new(a: &'s [T], b: &'s [T]) -> Self {
        let mut b2j: Vec<(T, usize)> = b.iter().copied().zip(0..).collect();
        b2j.sort_unstable();
        // autojunk: with at least 200 symbols in b, symbols occurring more than
        // len(b)/100 + 1 times are "popular" and dropped from the index.
        let n = b.len();
        if n >= 200 {
            let limit = n / 100 + 1;
            let mut kept = Vec::with_capacity(b2j.len());
            let mut start = 0;
            while start < b2j.len() {
                let symbol = b2j[start].0;
                let end = start
                    + b2j[start..]
                        .iter()
                        .take_while(|(s, _)| *s == symbol)
                        .count();
                if end - start <= limit {
                    kept.extend_from_slice(&b2j[start..end]);
                }
                start = end;
            }
            b2j = kept;
        }
        SequenceMatcher {
            a,
            b,
            b2j,
            j2len: vec![0; n],
            new_j2len: vec![0; n],
        }
    }

    /// `find_longest_match(alo, ahi, blo, bhi)`: the longest matching block, ties going to
    /// the block that ends earliest in `a`, then earliest in `b`.
    fn find_longest_match(
        &mut self,
        alo: usize,
        ahi: usize,
        blo: usize,
        bhi: usize,
    ) -> (usize, usize, usize) {
        let (mut best_i, mut best_j, mut best_size) = (alo, blo, 0);
        let mut touched: Vec<usize> = Vec::new();
        let mut new_touched: Vec<usize> = Vec::new();
        for i in alo..ahi {
            let start = self.b2j.partition_point(|(s, _)| *s < self.a[i]);
            let mut idx = start;
            while idx < self.b2j.len() && self.b2j[idx].0 == self.a[i] {
                let j = self.b2j[idx].1;
                idx += 1;
                if j < blo {
                    continue;
                }
                if j >= bhi {
                    break;
                }
                // Only entries of the previous row are non-zero (the rest were reset), so a
                // missing `j - 1` reads as 0 exactly like `j2len.get(j - 1, 0)`.
                let k = if j > 0 { self.j2len[j - 1] } else { 0 } + 1;
                self.new_j2len[j] = k;
                new_touched.push(j);
                if k > best_size {
                    best_i = i + 1 - k;
                    best_j = j + 1 - k;
                    best_size = k;
                }
            }
            for &j in &touched {
                self.j2len[j] = 0;
            }
            touched.clear();
            std::mem::swap(&mut self.j2len, &mut self.new_j2len);
            std::mem::swap(&mut touched, &mut new_touched);
        }
        for &j in &touched {
            self.j2len[j] = 0;
        }
        // Extend with equal symbols on both sides (only popular symbols can extend a block;
        // there is no junk).
        while best_i > alo && best_j > blo && self.a[best_i - 1] == self.b[best_j - 1] {
            best_i -= 1;
            best_j -= 1;
            best_size += 1;
        }
        while best_i + best_size < ahi
            && best_j + best_size < bhi
            && self.a[best_i + best_size] == self.b[best_j + best_size]
        {
            best_size += 1;
        }
        (best_i, best_j, best_size)
    }

    /// The total size of `get_matching_blocks()` (LIFO queue of sub-ranges, as in difflib).
    fn matching_characters(&mut self) -> usize {
        let mut total = 0;
        let mut queue = vec![(0, self.a.len(), 0, self.b.len())];
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let (i, j, k) = self.find_longest_match(alo, ahi, blo, bhi);
            if k > 0 {
                total += k;
                if alo < i && blo < j {
                    queue.push((alo, i, blo, j));
                }
                if i + k < ahi && j + k < bhi {
                    queue.push((i + k, ahi, j + k, bhi));
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_of_unicode_separators_and_case() {
        // The Python reference's own examples are in tests/matcher_parity.rs.
        assert_eq!(
            normalize_name("config\u{1c}params"),
            "configuration parameters"
        );
        assert_eq!(normalize_name("a\u{3000}b\tc"), "b c");
        assert_eq!(normalize_name("İd"), "id");
    }

    /// [`normalize_name`] without the ASCII fast path.
    fn normalize_general(name: &str) -> String {
        let mut cleaned = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            let c = if matches!(c, '_' | '-' | '.') { ' ' } else { c };
            if c.is_ascii_lowercase() || c.is_ascii_digit() || is_py_whitespace(c) {
                cleaned.push(c);
            }
        }
        let words: Vec<&str> = cleaned
            .split(is_py_whitespace)
            .filter(|w| !w.is_empty())
            .map(|w| {
                ABBREVIATIONS
                    .iter()
                    .find(|(short, _)| *short == w)
                    .map_or(w, |(_, long)| long)
            })
            .filter(|w| !STOP_WORDS.contains(w))
            .collect();
        words.join(" ")
    }

    proptest::proptest! {
        #[test]
        fn ascii_fast_path_equals_the_general_one(
            name in "((config|params|eval|reg|pkg|packaged|the|a|an|of|by|Data|X1)|[a-zA-Z0-9_. !\\-\t\x1c\x1f]){0,12}"
        ) {
            proptest::prop_assert_eq!(normalize_ascii(name.as_bytes()), normalize_general(&name));
        }
    }

    #[test]
    fn ratio_is_asymmetric_like_difflib() {
        assert!((sequence_ratio("plots output", "best model") - 0.09090909090909091).abs() < 1e-15);
        assert!((sequence_ratio("best model", "plots output") - 0.18181818181818182).abs() < 1e-15);
        assert_eq!(sequence_ratio("abc", ""), 0.0);
        assert_eq!(sequence_ratio("abcd", "bcd"), 6.0 / 7.0);
    }

    #[test]
    fn ratio_values_of_difflib() {
        // Values printed by Python 3.11 difflib for these pairs.
        let cases = [
            ("training data", "training dataset", 0.896551724137931),
            ("training data", "train data", 0.8695652173913043),
            ("training data", "data", 0.47058823529411764),
            ("data", "dataset", 0.7272727272727273),
            ("training data", "model output", 0.16),
            ("data set", "dataset", 0.9333333333333333),
            ("model input", "model output", 0.782608695652174),
            ("training", "train", 0.7692307692307693),
            ("parameters", "hyperparameters", 0.8),
        ];
        for (a, b, want) in cases {
            assert!((sequence_ratio(a, b) - want).abs() < 1e-15, "{a} / {b}");
        }
    }

    #[test]
    fn autojunk_drops_popular_symbols_of_long_b() {
        // 'a' occurs 250 times in b (>= 200 symbols, limit 3): it is popular, not indexed,
        // and only matched through the extension of the empty block at (0, 0); difflib
        // gives 6/253 here.
        let b = "a".repeat(250);
        assert_eq!(sequence_ratio("aaa", &b), 6.0 / 253.0);
        let b2 = format!("x{}", "a".repeat(249));
        assert_eq!(sequence_ratio("xa", &b2), 4.0 / 252.0);
    }

    proptest::proptest! {
        #[test]
        fn small_path_equals_general_path(a in "[ab c09z]{0,80}", b in "[ab c09z]{0,64}") {
            proptest::prop_assert_eq!(
                ratio_small(a.as_bytes(), b.as_bytes()),
                ratio_of(a.as_bytes(), b.as_bytes())
            );
        }
    }

    #[test]
    fn chars_and_bytes_agree() {
        assert_eq!(sequence_ratio("héllo", "hallo"), 0.8);
        assert_eq!(ratio_of(b"hello", b"hallo"), 0.8);
    }
}
