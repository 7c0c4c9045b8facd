//! Every test the documentation names as the backing of a promise exists, and every relative
//! link in the documentation points at a file of the repository.
//!
//! README.md and RELIABILITY.md back each promise with a test named in backticks; a test
//! renamed or deleted without its citation would leave a promise that no test backs. A cited
//! name is any backticked snake_case identifier of five or more words (test names are long
//! sentences; the few documented identifiers of that length that are not tests are listed in
//! [`NOT_TESTS`]). It must be defined somewhere in the repository's Rust (`fn NAME`) or Python
//! (`def NAME`) sources.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The documents whose citations are checked, relative to the repository's root.
const DOCUMENTS: &[&str] = &[
    "README.md",
    "RELIABILITY.md",
    "CHANGELOG.md",
    "docs/design.md",
    "docs/json.md",
    "docs/postgres.md",
    "docs/performance.md",
    "fuzz/README.md",
    "migrations/README.md",
];

/// Long snake_case identifiers the documents name that are not tests: a PostgreSQL setting,
/// a Python attribute and a sanitizer hook.
const NOT_TESTS: &[&str] = &[
    "idle_in_transaction_session_timeout",
    "__cause__",
    "__sanitizer_cov_trace_const_cmp8",
];

/// `document` (relative to the root), naming it if it cannot be read.
fn read_document(document: &str) -> TestResult<String> {
    fs::read_to_string(Path::new(ROOT).join(document))
        .map_err(|e| format!("cannot read {document}: {e}").into())
}

/// Directories never searched for definitions (build output, fuzzing state, virtualenvs).
const SKIPPED_DIRS: &[&str] = &["target", ".git", "corpus", "artifacts", "coverage", ".venv"];

/// Backticked identifiers of at least five snake_case words in `text`.
fn cited_names(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !word.as_bytes()[0].is_ascii_digit()
                && word.split('_').count() >= 5
        })
        .map(str::to_owned)
        .collect()
}

/// Every `.rs` and `.py` file under `dir`, skipping [`SKIPPED_DIRS`].
fn sources(dir: &Path, found: &mut Vec<PathBuf>) -> TestResult {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if entry.file_type()?.is_dir() {
            if !SKIPPED_DIRS.iter().any(|skip| name == *skip) {
                sources(&path, found)?;
            }
        } else if path
            .extension()
            .is_some_and(|ext| ext == "rs" || ext == "py")
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Every name defined with `fn NAME` or `def NAME` in the repository's sources.
fn defined_names() -> TestResult<BTreeSet<String>> {
    let mut files = Vec::new();
    sources(Path::new(ROOT), &mut files)?;
    let mut names = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(&file)?;
        for line in text.lines() {
            let line = line.trim_start();
            let rest = ["fn ", "pub fn ", "async fn ", "def "]
                .iter()
                .find_map(|keyword| line.strip_prefix(keyword));
            if let Some(rest) = rest {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    Ok(names)
}

#[test]
fn every_test_the_documents_cite_is_defined_in_the_repository() -> TestResult {
    let defined = defined_names()?;
    let mut missing = Vec::new();
    let mut cited = 0;
    for document in DOCUMENTS {
        let text = read_document(document)?;
        for name in cited_names(&text) {
            if NOT_TESTS.contains(&name.as_str()) {
                continue;
            }
            cited += 1;
            if !defined.contains(&name) {
                missing.push(format!("{document}: `{name}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited but defined nowhere:\n{}",
        missing.join("\n")
    );
    // The check found citations at all (a parser that sees none would pass vacuously).
    assert!(cited > 100, "only {cited} cited test names found");
    Ok(())
}

#[test]
fn every_relative_link_in_the_documents_names_an_existing_file() -> TestResult {
    let mut broken = Vec::new();
    for document in DOCUMENTS {
        let path = Path::new(ROOT).join(document);
        let text = read_document(document)?;
        let base = path.parent().ok_or("a document has no directory")?;
        for target in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            let target = target.split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !base.join(target).exists() {
                broken.push(format!("{document}: ({target})"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    Ok(())
}

#[test]
fn a_cited_name_is_a_long_backticked_snake_case_identifier() {
    let names = cited_names(
        "`a_b_c_d_e` and `short_name` and `Not_a_test_name_here` and `x y_z_a_b_c` `a_b_c_d_e_2`",
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names, ["a_b_c_d_e", "a_b_c_d_e_2"]);
}
