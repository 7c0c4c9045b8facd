//! Validation of specifications and names: the rules enforced on registration
//! ([`StepSpecification::validate`]), the style warnings that are not enforced
//! ([`StepSpecification::lint`]), the name rules shared by steps and contexts, and how
//! messages show a name ([`escape_name_exact`]) or a text ([`escape_name`]).

use std::borrow::Cow;
use std::fmt::Write as _;

use indexmap::IndexMap;

use super::{NodeType, StepSpecification};

impl StepSpecification {
    /// Checks the rules enforced on registration and returns every problem at once.
    ///
    /// The rules: the step name is valid (see [`validate_step_name`]); `step_type` is not
    /// blank; every dependency and output has a non-blank logical name equal to its map key;
    /// `step_type` and the dependency and output names are at most [`MAX_NAME_BYTES`] bytes
    /// without control characters (hostile input);
    /// no semantic keyword of a dependency is blank (an empty one is found in every output
    /// name) and no output's `property_path` is blank (deliberate difference D11,
    /// docs/design.md: the Python reference accepts both);
    /// a step that is not `singular` has at least one dependency or output.
    ///
    /// Validation guards writes only: a stored specification that breaks a rule added
    /// later (such as D11's) still reads back as it was stored.
    /// Node-type shape rules and alias conflicts are not errors: see [`Self::lint`].
    ///
    /// # Errors
    /// Every [`SpecProblem`] found, in field order.
    pub fn validate(&self, step_name: &str) -> Result<(), Vec<SpecProblem>> {
        let mut problems = Vec::new();
        if let Err(reason) = check_step_name(step_name) {
            problems.push(SpecProblem::new(step_name, "step name", reason));
        }
        if is_blank(&self.step_type) {
            problems.push(SpecProblem::new(step_name, "step_type", "is blank"));
        } else if let Err(reason) = check_name(&self.step_type) {
            problems.push(SpecProblem::new(step_name, "step_type", reason));
        }
        for (key, dep) in &self.dependencies {
            let valid_key = check_logical_name(
                &mut problems,
                step_name,
                "dependencies",
                key,
                &dep.logical_name,
            );
            // Deliberate difference D11 (docs/design.md): a blank keyword would be found in
            // (nearly) every output name and score for all of them. (An entry whose key is
            // refused is named by that problem alone: its key cannot name a field.)
            let keywords = if valid_key {
                dep.semantic_keywords.as_slice()
            } else {
                &[]
            };
            for (index, keyword) in keywords.iter().enumerate() {
                if is_blank(keyword) {
                    problems.push(SpecProblem::new(
                        step_name,
                        format!("dependencies.{key}.semantic_keywords[{index}]"),
                        if keyword.is_empty() {
                            "is empty: an empty keyword is found in every output name; remove it"
                        } else {
                            "is blank (only whitespace): a keyword must name a word of an output name; remove it"
                        },
                    ));
                }
            }
        }
        for (key, out) in &self.outputs {
            let valid_key =
                check_logical_name(&mut problems, step_name, "outputs", key, &out.logical_name);
            // D11: a reference to an output without a property path names no property.
            if valid_key && is_blank(&out.property_path) {
                problems.push(SpecProblem::new(
                    step_name,
                    format!("outputs.{key}.property_path"),
                    "is blank: a reference to this output would name no property; give the SageMaker property path, e.g. properties.ModelArtifacts.S3ModelArtifacts",
                ));
            }
        }
        if self.dependencies.is_empty()
            && self.outputs.is_empty()
            && self.node_type != NodeType::Singular
        {
            problems.push(SpecProblem::new(
                step_name,
                "dependencies/outputs",
                format!(
                    "are both empty, but node type '{}' needs one of them (only 'singular' steps may have neither)",
                    self.node_type
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
                        format!(
                            "name {} is already used by output {}",
                            crate::error::shorten(name),
                            crate::error::shorten(owner)
                        ),
                    ));
                } else {
                    seen.insert(lower, out.logical_name.clone());
                }
            }
        }
        warnings
    }
}

/// Checks an entry's key and logical name; whether the key itself is valid (so that it may
/// name a field in further problems).
fn check_logical_name(
    problems: &mut Vec<SpecProblem>,
    step: &str,
    section: &str,
    key: &str,
    logical_name: &str,
) -> bool {
    if is_blank(key) {
        problems.push(SpecProblem::new(
            step,
            section,
            "has an entry with a blank key",
        ));
        return false;
    } else if let Err(reason) = check_name(key) {
        problems.push(SpecProblem::new(
            step,
            section,
            format!("has an entry whose name {reason}"),
        ));
        return false;
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
    true
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

/// [`check_name`], and not blank: a step of a blank name is never wired.
fn check_step_name(name: &str) -> Result<(), String> {
    check_name(name)?;
    if is_blank(name) {
        return Err("is blank (only whitespace)".to_owned());
    }
    Ok(())
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

/// Whether `c` must not reach a terminal or a log line raw: control characters (C0 such as
/// ESC, BEL and newline, DEL, C1), and the characters that are invisible or reorder text:
/// Unicode's format characters (general category Cf: bidi marks, overrides and isolates,
/// zero-width characters, word joiners, BOM, soft hyphen, tags) and the other default
/// ignorable code points (fillers, variation selectors), so that two names that print
/// alike are told apart; and the line and paragraph separators (U+2028, U+2029), which
/// some viewers and `str.splitlines()` take for a line break.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// `text` with every control, format (bidi, zero-width, word joiner, soft hyphen, tag) or
/// other invisible character escaped: `\n`, `\r` and `\t` for those characters and
/// `\u{1b}` for every other; everything else as it is, backslashes included. Text escaped
/// once is left as it is, so this is for whole texts that may hold names escaped already (a
/// message printed to a terminal or a log): a hostile name cannot move a terminal's cursor,
/// ring its bell, start a new log line or reverse the text around it. Two different texts
/// can show alike (a newline and a backslash followed by `n`): a name alone is shown with
/// [`escape_name_exact`], as this library's messages show every name.
///
/// ```
/// use pipeline_deps::spec::escape_name;
///
/// assert_eq!(escape_name("train\u{1b}[2J\n"), "train\\u{1b}[2J\\n");
/// assert_eq!(escape_name("训练管道"), "训练管道");
/// ```
pub fn escape_name(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// `name` as this library's messages show it: escaped as [`escape_name`] escapes it, and
/// each backslash doubled, so that every backslash shown begins an escape and two different
/// names never show alike (the name `a\nb`, a backslash and an `n`, shows as `a\\nb`; the
/// name with a newline as `a\nb`). The error's fields keep the name exact.
///
/// ```
/// use pipeline_deps::spec::escape_name_exact;
///
/// assert_eq!(escape_name_exact("a\nb"), "a\\nb");
/// assert_eq!(escape_name_exact("a\\nb"), "a\\\\nb");
/// assert_eq!(escape_name_exact("训练管道"), "训练管道");
/// ```
pub fn escape_name_exact(name: &str) -> Cow<'_, str> {
    escape(name, true)
}

/// [`escape_name`], and with `backslash` also each backslash doubled.
fn escape(text: &str, backslash: bool) -> Cow<'_, str> {
    let escaped = |c: char| needs_escape(c) || (backslash && c == '\\');
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' if backslash => out.push_str("\\\\"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Checks a step name with the rules of [`StepSpecification::validate`]: not empty and not
/// only whitespace, at most [`MAX_NAME_BYTES`] bytes, no control characters (`::`, `/`,
/// spaces and unicode are fine). A blank name is refused because the resolver never wires
/// a step of that name (docs/design.md, D8), as a blank `step_type` is refused.
///
/// ```
/// use pipeline_deps::spec::validate_step_name;
///
/// assert!(validate_step_name("xgboost::train v2").is_ok());
/// let error = validate_step_name("").unwrap_err();
/// assert!(error.is_invalid_input());
/// assert_eq!(error.to_string(), "invalid step name '': the name is empty; use a name that is not blank, of at most 1024 bytes, without control characters");
/// assert!(validate_step_name("   ").is_err());
/// ```
///
/// # Errors
/// [`Error::InvalidStepName`](crate::Error::InvalidStepName) saying why the name is refused.
pub fn validate_step_name(name: &str) -> crate::Result<()> {
    check_step_name(name).map_err(|reason| crate::Error::InvalidStepName {
        name: name.to_owned(),
        reason,
    })
}

/// Checks a context name against the rules every context name follows (those of step
/// names, except that a blank name is accepted: the resolver does not wire contexts, and
/// refusing it now would strand contexts stored under such names), without opening anything: how a caller refuses a bad name before it opens
/// a database for writing.
///
/// ```
/// use pipeline_deps::spec::validate_context_name;
///
/// assert!(validate_context_name("fraud_detection/training").is_ok());
/// let error = validate_context_name("a\u{1b}b").unwrap_err();
/// assert!(error.is_invalid_input());
/// ```
///
/// # Errors
/// [`Error::InvalidContextName`](crate::Error::InvalidContextName) saying why the name is
/// refused.
pub fn validate_context_name(name: &str) -> crate::Result<()> {
    check_name(name).map_err(|reason| crate::Error::InvalidContextName {
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
#[non_exhaustive]
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
        write!(
            f,
            "step {}: {} {}",
            crate::error::shorten(&self.step),
            escape_name_exact(&self.field),
            self.message
        )
    }
}

impl std::error::Error for SpecProblem {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[test]
    fn invisible_and_reordering_characters_are_escaped_and_letters_are_not() {
        for c in [
            '\u{1b}',
            '\u{85}',
            '\u{ad}',
            '\u{61c}',
            '\u{115f}',
            '\u{180e}',
            '\u{200b}',
            '\u{202e}',
            '\u{2028}',
            '\u{2029}',
            '\u{2060}',
            '\u{2066}',
            '\u{3164}',
            '\u{fe0f}',
            '\u{feff}',
            '\u{fff9}',
            '\u{1d173}',
            '\u{e0001}',
        ] {
            let shown = super::escape_name(&format!("a{c}b")).into_owned();
            assert_eq!(shown, format!("a\\u{{{:x}}}b", u32::from(c)));
        }
        for text in ["训练管道", "café", "🚀 ctx", "a::b/c d", "Ω≈ç"] {
            assert_eq!(super::escape_name(text), text);
        }
    }

    /// Reads a name back from what [`super::escape_name_exact`] shows: every backslash
    /// begins an escape. `None` when the text is not such an escape's.
    fn unescape(shown: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = shown.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                'u' => {
                    if chars.next()? != '{' {
                        return None;
                    }
                    let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    #[test]
    fn a_newline_and_a_backslash_n_show_differently() {
        assert_eq!(super::escape_name_exact("a\nb"), "a\\nb");
        assert_eq!(super::escape_name_exact("a\\nb"), "a\\\\nb");
        assert_eq!(super::escape_name_exact("a\\u{1b}"), "a\\\\u{1b}");
        assert_eq!(super::escape_name_exact("训练管道"), "训练管道");
    }

    proptest! {
        /// What a name shows as reads back as that name, so two different names never show
        /// alike; and it holds nothing that needs escaping, so escaping it again as a text
        /// leaves it as it is.
        #[test]
        fn exactly_escaped_names_read_back_and_never_show_alike(
            text in "(?s)[a-z\\\\nrtu{}\n\r\t\u{1b}\u{202e}]{0,12}|(?s).{0,40}",
            other in "(?s)[a-z\\\\nrtu{}\n\r\t\u{1b}\u{202e}]{0,12}",
        ) {
            let shown = super::escape_name_exact(&text);
            prop_assert_eq!(unescape(&shown), Some(text.clone()));
            prop_assert!(!shown.chars().any(super::needs_escape));
            prop_assert_eq!(super::escape_name(&shown), shown.clone());
            if other != text {
                prop_assert_ne!(super::escape_name_exact(&other), shown);
            }
        }

        /// Escaped text holds no character that needs escaping.
        #[test]
        fn escaped_text_is_free_of_what_it_escapes(text in "(?s).{0,40}") {
            let shown = super::escape_name(&text);
            prop_assert!(!shown.chars().any(super::needs_escape));
        }

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
