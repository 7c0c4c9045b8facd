//! Invariant: a workspace name with an empty `::`-separated part (`"a::"`, `"::a"`,
//! `"a::::b"`, `"::"`) gives a view whose every call is refused as invalid input naming the
//! workspace, changing nothing — it never names contexts `a::::ctx` nor acts as the
//! unprefixed view (`"::"` clearing every context); `""` is the unprefixed view and
//! `"a::b"` the nested view `a` then `b`, as documented.

mod common;

use common::{TestResult, spec};
use pipeline_deps::{Error, RegistryManager};

fn refused<T: std::fmt::Debug>(what: &str, result: pipeline_deps::Result<T>) -> TestResult {
    match result {
        Err(Error::InvalidInput { what: named, .. }) if named.contains("workspace") => Ok(()),
        other => Err(format!("{what}: {other:?}, not a refusal naming the workspace").into()),
    }
}

#[test]
fn a_workspace_name_with_an_empty_part_is_refused_and_changes_nothing() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    manager.get_registry("a::ctx")?.register("s", &spec("A"))?;
    manager.get_registry("root")?.register("s", &spec("A"))?;
    for name in ["a::", "::a", "a::::b", "::", "::::", "a:::"] {
        let ws = manager.workspace(name);
        refused(&format!("{name:?} get_registry"), ws.get_registry("ctx"))?;
        refused(
            &format!("{name:?} get_registry_if_exists"),
            ws.get_registry_if_exists("ctx"),
        )?;
        refused(&format!("{name:?} list_contexts"), ws.list_contexts())?;
        refused(
            &format!("{name:?} get_context_stats"),
            ws.get_context_stats(),
        )?;
        refused(&format!("{name:?} clear_context"), ws.clear_context("ctx"))?;
        refused(
            &format!("{name:?} clear_all_contexts"),
            ws.clear_all_contexts(),
        )?;
        refused(
            &format!("{name:?} import_steps"),
            ws.import_steps("ctx", &[], false),
        )?;
        refused(
            &format!("{name:?} nested"),
            ws.workspace("inner").get_registry("ctx"),
        )?;
        refused(
            &format!("{name:?} nested empty"),
            ws.workspace("").list_contexts(),
        )?;
    }
    // A bad name nested under a good one is refused too, naming the whole workspace.
    let nested = manager.workspace("a").workspace("b::");
    match nested.get_registry("ctx") {
        Err(Error::InvalidInput { what, .. }) => assert!(what.contains("a::b::"), "{what}"),
        other => return Err(format!("nested: {other:?}").into()),
    }
    assert_eq!(manager.list_contexts()?, ["a::ctx", "root"]);
    assert_eq!(manager.get_registry("root")?.len()?, 1);
    assert_eq!(manager.get_registry("a::ctx")?.len()?, 1);
    Ok(())
}

#[test]
fn empty_and_nested_workspace_names_keep_their_meaning() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    manager.workspace("a::b").get_registry("ctx")?;
    assert_eq!(manager.list_contexts()?, ["a::b::ctx"]);
    assert_eq!(
        manager.workspace("a").workspace("b").list_contexts()?,
        ["ctx"]
    );
    assert_eq!(manager.workspace("").list_contexts()?, ["a::b::ctx"]);
    assert_eq!(
        manager.workspace("a").workspace("").list_contexts()?,
        ["b::ctx"]
    );
    // Single colons are ordinary characters.
    manager.workspace("a:b").get_registry("ctx")?;
    assert_eq!(manager.list_contexts()?, ["a::b::ctx", "a:b::ctx"]);
    Ok(())
}
