//! Invariant: every public struct with only public fields that users receive from the
//! library (results, reports, statistics, explanations, snapshots) is `#[non_exhaustive]`,
//! so that a field can be added without breaking callers; the only exceptions are the
//! structs users build themselves, listed in `BUILT_BY_USERS` with the reason.

use std::fs;
use std::path::{Path, PathBuf};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Public structs with public fields that callers construct with struct literals, so they
/// stay exhaustive (a new field is then a breaking change, made deliberately).
const BUILT_BY_USERS: &[(&str, &str)] = &[
    (
        "StepSpecification",
        "the specification model: users build and pattern-match specs",
    ),
    ("DependencySpec", "the specification model"),
    ("OutputSpec", "the specification model"),
    (
        "ScoreBreakdown",
        "its documentation builds one from parts to show `total` and `score`",
    ),
    (
        "DependencyResolutionError",
        "an error value its documentation builds, as callers reporting their own do",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> TestResult {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// A top-level `pub struct` with named fields: its name, whether every field is `pub`, and
/// whether its attributes hold `#[non_exhaustive]`.
struct Found {
    name: String,
    file: PathBuf,
    all_fields_public: bool,
    non_exhaustive: bool,
}

fn public_structs(file: &Path) -> TestResult<Vec<Found>> {
    let text = fs::read_to_string(file)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("pub struct ") else {
            continue;
        };
        if !rest.trim_end().ends_with('{') {
            continue; // a tuple or unit struct
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let attributes = lines[..index]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("#[") || l.starts_with("///") || l.starts_with("    "))
            .any(|l| l.trim() == "#[non_exhaustive]");
        let fields: Vec<&str> = lines[index + 1..]
            .iter()
            .take_while(|l| !l.starts_with('}'))
            .map(|l| l.trim())
            .filter(|l| !l.starts_with("//") && !l.starts_with("#[") && l.ends_with(','))
            .filter(|l| l.contains(':'))
            .collect();
        let all_fields_public = !fields.is_empty()
            && fields
                .iter()
                .all(|f| f.starts_with("pub ") && !f.starts_with("pub("));
        found.push(Found {
            name,
            file: file.to_owned(),
            all_fields_public,
            non_exhaustive: attributes,
        });
    }
    Ok(found)
}

#[test]
fn received_structs_are_non_exhaustive_and_the_exceptions_are_listed() -> TestResult {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files)?;
    let mut structs = Vec::new();
    for file in &files {
        structs.extend(public_structs(file)?);
    }
    let missing: Vec<String> = structs
        .iter()
        .filter(|s| s.all_fields_public && !s.non_exhaustive)
        .filter(|s| !BUILT_BY_USERS.iter().any(|(name, _)| *name == s.name))
        .map(|s| format!("{} ({})", s.name, s.file.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "public structs with public fields, not #[non_exhaustive] and not listed as built by users: {missing:?}"
    );
    // The exceptions exist and are still exhaustive (a stale entry would hide nothing).
    for (name, _) in BUILT_BY_USERS {
        let listed = structs.iter().find(|s| s.name == *name);
        assert!(
            listed.is_some_and(|s| s.all_fields_public && !s.non_exhaustive),
            "{name} is listed as built by users but is not an exhaustive struct of public fields"
        );
    }
    // The scan sees the structs it is about.
    for name in [
        "ContextStats",
        "PipelineResolution",
        "ImportSummary",
        "SimilarityExplanation",
    ] {
        assert!(
            structs.iter().any(|s| s.name == name && s.non_exhaustive),
            "{name} was not found as #[non_exhaustive]"
        );
    }
    Ok(())
}
