//! A scoped context is cleared when its guard drops, or refused up front: a read-only
//! manager, which can clear nothing, never hands out a guard that silently fails to clear.

mod common;

use common::{TestResult, spec};
use pipeline_deps::{Error, ErrorKind, RegistryManager};

#[test]
fn a_read_only_manager_refuses_a_scoped_context_and_changes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    {
        let writer = RegistryManager::open(&path)?;
        writer
            .get_registry("suite")?
            .register("prep", &spec("Prep"))?;
    }
    let reader = RegistryManager::open_read_only(&path)?;
    for context in ["suite", "missing"] {
        match reader.scoped_context(context) {
            Err(error @ Error::ReadOnly { .. }) => assert_eq!(error.kind(), ErrorKind::State),
            Err(other) => return Err(format!("{context}: {other}").into()),
            Ok(_) => {
                return Err(format!(
                    "{context}: a read-only manager handed out a scope it cannot clear"
                )
                .into());
            }
        }
    }
    drop(reader);
    let writer = RegistryManager::open(&path)?;
    assert_eq!(writer.list_contexts()?, ["suite"]);
    assert_eq!(writer.get_registry("suite")?.list_step_names()?, ["prep"]);
    // A writable manager's scope still clears its context on drop.
    {
        let scope = writer.scoped_context("suite")?;
        assert_eq!(scope.len()?, 1);
    }
    assert!(writer.list_contexts()?.is_empty());
    Ok(())
}
