//! Invariant: a context's revision never repeats: every committed write, a clear included,
//! gives it a number it has not had, so that a cache built at an earlier revision can never
//! take itself for current.
//! Written against mutants of `src/store/txn.rs` that the write suites let survive (see the
//! report of the fourth mutation audit, cargo-mutants).

mod support;

use pipeline_deps::RegistryManager;
use support::{TestResult, numbered_spec};

#[test]
fn a_contexts_revision_never_takes_a_value_it_had_before() -> TestResult {
    let dir = tempfile::tempdir()?;
    let registry = RegistryManager::open(dir.path().join("reg.redb"))?.get_registry("ctx")?;
    let mut seen = vec![registry.revision()?];
    let mut record = |what: &str, revision: u64| {
        assert!(
            !seen.contains(&revision),
            "{what}: revision {revision} again, after {seen:?}"
        );
        seen.push(revision);
    };
    registry.register("a", &numbered_spec(0, 1))?;
    record("a register", registry.revision()?);
    registry.register("b", &numbered_spec(1, 1))?;
    record("a second register", registry.revision()?);
    registry.clear()?;
    record("a clear", registry.revision()?);
    registry.register("c", &numbered_spec(2, 1))?;
    record("a register after the clear", registry.revision()?);
    registry.clear()?;
    record("a second clear", registry.revision()?);
    Ok(())
}
