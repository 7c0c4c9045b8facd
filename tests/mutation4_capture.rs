//! Invariant: a snapshot capture lists each of its steps, in the snapshot's order, with the
//! specification it read for it.
//! Written against mutants of `src/snapshot/capture.rs` that the capture suites let survive
//! (see the report of the fourth mutation audit, cargo-mutants).

mod support;

use pipeline_deps::snapshot::SnapshotCapture;
use pipeline_deps::{RegistryManager, SemanticMatcher, UnifiedDependencyResolver};
use support::{TestResult, numbered_spec};

#[test]
fn a_capture_lists_its_steps_in_order_with_the_specifications_it_read() -> TestResult {
    let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    for n in 0..3 {
        registry.register(&format!("s{n}"), &numbered_spec(n, 2))?;
    }
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let capture = SnapshotCapture::of_steps(&resolver, &["s2", "s0"])?;
    let listed: Vec<_> = capture
        .steps()
        .map(|(name, spec)| (name.to_owned(), spec.map(|spec| (**spec).clone())))
        .collect();
    assert_eq!(
        listed,
        [
            ("s2".to_owned(), Some(numbered_spec(2, 2))),
            ("s0".to_owned(), Some(numbered_spec(0, 2))),
        ]
    );
    Ok(())
}
