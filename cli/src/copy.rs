//! `copy --from A --to B`: every context of one registry into another, a file or a
//! PostgreSQL server on either side — how a registry moves from the embedded file to a
//! shared server, and back.

use std::collections::HashMap;
use std::path::Path;

use pipeline_deps::{RegistryManager, StepSpecification};
use serde::Serialize;

use crate::commands::{Session, list_preview, open_read, open_write};
use crate::json::{self, JsonPath, schema};
use crate::output::{esc_name, path_text};
use crate::{Failure, Status};

/// The options that named `copy`'s two registries (`--from`, or `--db` when it was not
/// given; `--to`), set when a copy starts: a hint about a path that is not a registry file
/// names the option that gave it.
pub static OPTIONS: std::sync::OnceLock<CopyOptions> = std::sync::OnceLock::new();

/// See [`OPTIONS`].
pub struct CopyOptions {
    /// The option that gave the source: `--from`, or `--db` by default.
    pub source: &'static str,
}

/// The option that gave `path`: the copy's source option when the failure is about the
/// source ([`json::HINT_DATABASE`] set), `--to` for the copy's target, `--db` outside a copy.
pub fn option_of_failing_database() -> &'static str {
    match OPTIONS.get() {
        None => "--db",
        Some(options) if json::HINT_DATABASE.get().is_some() => options.source,
        Some(_) => "--to",
    }
}

/// One copied (or skipped) context.
#[derive(Serialize)]
struct Copied {
    name: String,
    step_count: usize,
}

/// The `copy --json` document (`database` is the target).
#[derive(Serialize)]
struct CopyReport {
    from: JsonPath,
    contexts: Vec<Copied>,
    context_count: usize,
    step_count: usize,
    /// Contexts the target already held with the same steps, left as they were.
    skipped: Vec<Copied>,
}

/// The steps of context `name` of `manager` in registration order; `None` if there is no
/// such context.
fn steps_of(
    manager: &RegistryManager,
    name: &str,
) -> Result<Option<Vec<(String, StepSpecification)>>, Failure> {
    let Some(registry) = manager.get_registry_if_exists(name)? else {
        return Ok(None);
    };
    Ok(Some(
        registry
            .iter()?
            .map(|(step, spec)| (step, (*spec).clone()))
            .collect(),
    ))
}

/// Copies every context of `from` into `to` in creation order, each context with all its
/// steps in one transaction that also creates it (`import_steps_into_empty`): a failure
/// leaves the contexts copied so far complete and the failed one as it was (absent, or empty
/// if it was). A context the target already holds with the same steps (same names, order and
/// specifications) is skipped, so a copy that was interrupted is finished by running it
/// again. Refuses, before writing anything, when a context holds other steps in the target,
/// and a context another writer fills meanwhile when its turn comes.
pub fn copy(s: &mut Session<'_>, from: &Path, to: &Path) -> Result<Status, Failure> {
    // A failure reading the source is about the source: the hints name it.
    let about_source = |failure: Failure| {
        let _ = crate::json::HINT_DATABASE.set(from.to_path_buf());
        failure
    };
    let source = open_read(from).map_err(about_source)?;
    let target = open_write(to, true)?;
    let contexts = source.list_contexts().map_err(|e| about_source(e.into()))?;
    let existing = target.get_context_stats()?;
    let mut taken = Vec::new();
    // Contexts the target holds with the same steps, and how many.
    let mut same = HashMap::new();
    for name in &contexts {
        let Some(there) = existing.get(name.as_str()) else {
            continue;
        };
        let source_steps = steps_of(&source, name)
            .map_err(about_source)?
            .unwrap_or_default();
        if steps_of(&target, name)?.unwrap_or_default() == source_steps {
            same.insert(name.clone(), source_steps.len());
        } else if there.step_count > 0 {
            taken.push(name.clone());
        }
        // An empty target context of a source context with steps is filled.
    }
    if !taken.is_empty() {
        let _ = json::CONTEXTS.set(taken.clone());
        return Err(Failure::Invalid(format!(
            "{} context(s) already hold other steps in {} ({}); clear them there first; nothing was copied",
            taken.len(),
            path_text(to),
            list_preview(&taken, 5)
        )));
    }
    let mut copied = Vec::with_capacity(contexts.len());
    let mut skipped = Vec::new();
    for name in contexts {
        if let Some(&step_count) = same.get(&name) {
            skipped.push(Copied { name, step_count });
            continue;
        }
        // A failure from here on is about this context (its `--json` error names it).
        let about = |failure: Failure| {
            let _ = json::CONTEXT.set(name.clone());
            failure
        };
        let Some(steps) = steps_of(&source, &name)
            .map_err(about_source)
            .map_err(about)?
        else {
            continue; // cleared in the source meanwhile
        };
        // Into an empty context only: one another writer filled since the check above is
        // refused, not merged into (the check and the writes share one transaction).
        target
            .import_steps_into_empty(&name, &steps)
            .map_err(|e| about(e.into()))?;
        let done = Copied {
            name,
            step_count: steps.len(),
        };
        if !s.json {
            // As it happens: a copy that fails later has said what it finished.
            writeln!(
                s.out,
                "copied context '{}' ({} step(s))",
                esc_name(&done.name),
                done.step_count
            )?;
            // Now, not when the buffer fills or the command ends: a copy interrupted
            // (Ctrl-C, a kill) or waiting for a server has said what it finished.
            s.out.flush()?;
        }
        copied.push(done);
    }
    let step_count = copied.iter().map(|c| c.step_count).sum();
    if s.json {
        let report = CopyReport {
            from: JsonPath::shown(from),
            context_count: copied.len(),
            step_count,
            contexts: copied,
            skipped,
        };
        json::write(s.out, schema::COPY, to, &report)?;
    } else {
        for c in &skipped {
            writeln!(
                s.out,
                "skipped context '{}': the target holds the same {} step(s) already",
                esc_name(&c.name),
                c.step_count
            )?;
        }
        writeln!(
            s.out,
            "copied {} context(s) ({step_count} step(s)) from {} to {}",
            copied.len(),
            path_text(from),
            path_text(to)
        )?;
    }
    Ok(Status::Ok)
}
