//! The checks run after every reopen: the database read back as a [`Snapshot`] equals one of
//! the [`Candidates`] the model allows, and its counts, step-type index, context isolation
//! and workspace listings agree with its records.

use pipeline_deps::{RegistryManager, StepSpecification};

use super::{
    Candidates, CtxSnapshot, Failure, SHORT_NAMES, STEPS, Snapshot, VIEWS, describe, fail, lib,
    view_prefix,
};

/// Reads every context through the root view (no writes).
pub fn snapshot(manager: &RegistryManager) -> Result<Snapshot, Failure> {
    let mut out = Vec::new();
    for name in lib("list_contexts", manager.list_contexts())? {
        let Some(registry) = lib(
            "get_registry_if_exists",
            manager.get_registry_if_exists(&name),
        )?
        else {
            return fail(format!("listed context {name:?} does not exist"));
        };
        let steps: Vec<(String, StepSpecification)> = lib("iter", registry.iter())?
            .map(|(step, spec)| (step, (*spec).clone()))
            .collect();
        let types = lib("list_step_types", registry.list_step_types())?;
        out.push(CtxSnapshot { name, steps, types });
    }
    Ok(out)
}

/// Every check run after a reopen: the state equals one of the candidates (returned), counts
/// equal a recount, nothing is visible from another context or workspace, `list_contexts` is
/// in creation order in every view, and the storage engine's integrity check passes (when
/// `integrity` and the manager is writable).
pub fn verify(
    manager: &RegistryManager,
    candidates: &Candidates,
    integrity: bool,
) -> Result<usize, Failure> {
    let actual = snapshot(manager)?;
    let Some(index) = candidates.0.iter().position(|m| m.snapshot() == actual) else {
        let expected: Vec<String> = candidates
            .0
            .iter()
            .map(|m| describe(&m.snapshot()))
            .collect();
        return fail(format!(
            "the database holds\n  {}\nbut the model allows only\n  {}",
            describe(&actual),
            expected.join("\n  ")
        ));
    };
    check_consistency(manager, &actual)?;
    if integrity && !manager.is_read_only() {
        match manager.check_integrity() {
            Ok(true) => {}
            Ok(false) => return fail("check_integrity found (and repaired) damage"),
            Err(e) => return fail(format!("check_integrity failed: {e}")),
        }
    }
    Ok(index)
}

/// Stats equal a recount, names and types agree with the records (also each type's step
/// names read from the index alone), each step is visible in its own context only, and each workspace view shows exactly its own contexts, in order.
pub fn check_consistency(manager: &RegistryManager, actual: &Snapshot) -> Result<(), Failure> {
    let stats = lib("get_context_stats", manager.get_context_stats())?;
    let names: Vec<&String> = stats.keys().collect();
    let listed: Vec<&String> = actual.iter().map(|c| &c.name).collect();
    if names != listed {
        return fail(format!(
            "get_context_stats lists {names:?}, list_contexts {listed:?}"
        ));
    }
    let mut all_steps: Vec<String> = STEPS.iter().map(|s| (*s).to_owned()).collect();
    for ctx in actual {
        for (step, _) in &ctx.steps {
            if !all_steps.contains(step) {
                all_steps.push(step.clone());
            }
        }
    }
    for ctx in actual {
        let entry = &stats[&ctx.name];
        let mut recount_types: Vec<&str> = ctx
            .steps
            .iter()
            .map(|(_, s)| s.step_type.as_str())
            .collect();
        recount_types.sort_unstable();
        recount_types.dedup();
        let mut listed_types: Vec<&str> = ctx.types.iter().map(String::as_str).collect();
        listed_types.sort_unstable();
        if entry.step_count != ctx.steps.len()
            || entry.step_type_count != recount_types.len()
            || listed_types != recount_types
        {
            return fail(format!(
                "context {:?}: stats say {} steps / {} types, a recount finds {} / {:?} (listed types {:?})",
                ctx.name,
                entry.step_count,
                entry.step_type_count,
                ctx.steps.len(),
                recount_types,
                ctx.types
            ));
        }
        let Some(registry) = lib(
            "get_registry_if_exists",
            manager.get_registry_if_exists(&ctx.name),
        )?
        else {
            return fail(format!("context {:?} vanished", ctx.name));
        };
        let order = lib("list_step_names", registry.list_step_names())?;
        let from_iter: Vec<&String> = ctx.steps.iter().map(|(n, _)| n).collect();
        if order.iter().collect::<Vec<_>>() != from_iter {
            return fail(format!(
                "context {:?}: list_step_names {order:?} differs from iter {from_iter:?}",
                ctx.name
            ));
        }
        if lib("len", registry.len())? != ctx.steps.len() {
            return fail(format!(
                "context {:?}: len() differs from a recount",
                ctx.name
            ));
        }
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        for (step, spec) in &ctx.steps {
            match grouped.iter_mut().find(|(t, _)| *t == spec.step_type) {
                Some((_, names)) => names.push(step.clone()),
                None => grouped.push((spec.step_type.clone(), vec![step.clone()])),
            }
        }
        let by_type = lib("step_names_by_type", registry.step_names_by_type())?;
        if by_type != grouped {
            return fail(format!(
                "context {:?}: step_names_by_type {by_type:?} differs from the steps grouped by type {grouped:?}",
                ctx.name
            ));
        }
        for step in &all_steps {
            let got = lib("get_specification", registry.get_specification(step))?;
            let expected = ctx.steps.iter().find(|(n, _)| n == step).map(|(_, s)| s);
            if got.as_deref() != expected {
                return fail(format!(
                    "context {:?}: get_specification({step:?}) returned {got:?}, expected {expected:?} (a spec leaked between contexts or went stale)",
                    ctx.name
                ));
            }
            if lib("contains", registry.contains(step))? != expected.is_some() {
                return fail(format!(
                    "context {:?}: contains({step:?}) is wrong",
                    ctx.name
                ));
            }
        }
    }
    for view in VIEWS.iter().filter(|v| !v.is_empty()) {
        let prefix = view_prefix(view);
        let ws = manager.workspace(view);
        let expected: Vec<String> = actual
            .iter()
            .filter_map(|c| c.name.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        let listed = lib("workspace list_contexts", ws.list_contexts())?;
        if listed != expected {
            return fail(format!(
                "workspace {view:?} lists {listed:?}, expected {expected:?}"
            ));
        }
        let ws_stats = lib("workspace get_context_stats", ws.get_context_stats())?;
        for (short, entry) in &ws_stats {
            if stats.get(&format!("{prefix}{short}")) != Some(entry) {
                return fail(format!("workspace {view:?} stats of {short:?} differ"));
            }
        }
        for short in SHORT_NAMES {
            let through_view = lib(
                "workspace get_registry_if_exists",
                ws.get_registry_if_exists(short),
            )?;
            let full = format!("{prefix}{short}");
            let exists = actual.iter().any(|c| c.name == full);
            if through_view.is_some() != exists {
                return fail(format!(
                    "workspace {view:?}: context {short:?} visible = {}, exists = {exists}",
                    through_view.is_some()
                ));
            }
            if let Some(registry) = through_view {
                let steps: Vec<(String, StepSpecification)> = lib("iter", registry.iter())?
                    .map(|(n, s)| (n, (*s).clone()))
                    .collect();
                let expected = &actual
                    .iter()
                    .find(|c| c.name == full)
                    .map(|c| c.steps.clone())
                    .unwrap_or_default();
                if &steps != expected {
                    return fail(format!(
                        "workspace {view:?}: context {short:?} shows other steps than {full:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}
