//! Invariant: the snapshot diff reports as newly resolved exactly the steps that were
//! unresolved in the snapshot and resolve now, never one that is still unresolved. Written
//! against a mutant of `EdgeSnapshot::diff` that the cited tests let survive (see the report
//! of the second mutation audit, cargo-mutants): the filter of newly resolved steps
//! inverted, listing the steps still unresolved instead.

use pipeline_deps::snapshot::{EdgeSnapshot, UnresolvedStep};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// An `UnresolvedStep` (non-exhaustive: built through its serialised form).
fn unresolved(step: &str, dependencies: &[&str]) -> TestResult<UnresolvedStep> {
    let value = serde_json::json!({"step": step, "dependencies": dependencies});
    Ok(serde_json::from_value(value)?)
}

fn snapshot(unresolved: Vec<UnresolvedStep>) -> EdgeSnapshot {
    let steps = vec!["fixed".to_owned(), "still_broken".to_owned()];
    EdgeSnapshot::new("pipeline", steps, false, Vec::new(), unresolved)
}

#[test]
fn only_steps_that_resolve_now_are_newly_resolved() -> TestResult {
    let frozen = snapshot(vec![
        unresolved("fixed", &["input"])?,
        unresolved("still_broken", &["model"])?,
    ]);
    let current = snapshot(vec![unresolved("still_broken", &["model"])?]);
    let diff = frozen.diff(&current);
    assert_eq!(diff.newly_resolved, ["fixed"]);
    assert!(diff.newly_unresolved.is_empty(), "{diff:?}");
    assert!(!diff.is_empty());
    assert!(!diff.changes_wiring());
    // Nothing changed the other way round but the one step unresolved again.
    let back = current.diff(&frozen);
    assert!(back.newly_resolved.is_empty(), "{back:?}");
    assert_eq!(back.newly_unresolved, [unresolved("fixed", &["input"])?]);
    Ok(())
}
