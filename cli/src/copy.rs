//! `copy --from A --to B`: every context of one registry into another, a file or a
//! PostgreSQL server on either side — how a registry moves from the embedded file to a
//! shared server, and back.

use std::path::Path;

use serde::Serialize;

use crate::commands::{Session, list_preview, open_read, open_write};
use crate::json::{self, schema};
use crate::output::{esc, path_text, shown_path};
use crate::{Failure, Status};

/// One copied context.
#[derive(Serialize)]
struct Copied {
    name: String,
    step_count: usize,
}

/// The `copy --json` document (`database` is the target).
#[derive(Serialize)]
struct CopyReport {
    from: std::path::PathBuf,
    contexts: Vec<Copied>,
    context_count: usize,
    step_count: usize,
}

/// Copies every context of `from` into `to` in creation order, each context with all its
/// steps in one transaction that also creates it (`import_steps`): a failure leaves the
/// contexts copied so far complete and the failed one as it was (absent, or empty if it was).
/// Refuses, before writing anything, when a context already holds steps in the target.
pub fn copy(s: &mut Session<'_>, from: &Path, to: &Path) -> Result<Status, Failure> {
    let source = open_read(from)?;
    let target = open_write(to, true)?;
    let contexts = source.list_contexts()?;
    let existing = target.get_context_stats()?;
    let taken: Vec<String> = contexts
        .iter()
        .filter(|name| {
            existing
                .get(name.as_str())
                .is_some_and(|st| st.step_count > 0)
        })
        .cloned()
        .collect();
    if !taken.is_empty() {
        return Err(Failure::Invalid(format!(
            "{} context(s) already hold steps in {} ({}); clear them there first; nothing was copied",
            taken.len(),
            path_text(to),
            list_preview(&taken, 5)
        )));
    }
    let mut copied = Vec::with_capacity(contexts.len());
    for name in contexts {
        let Some(registry) = source.get_registry_if_exists(&name)? else {
            continue; // cleared in the source meanwhile
        };
        let steps: Vec<_> = registry
            .iter()?
            .map(|(step, spec)| (step, (*spec).clone()))
            .collect();
        target.import_steps(&name, &steps, false)?;
        copied.push(Copied {
            name,
            step_count: steps.len(),
        });
    }
    let step_count = copied.iter().map(|c| c.step_count).sum();
    if s.json {
        let report = CopyReport {
            from: shown_path(from),
            context_count: copied.len(),
            step_count,
            contexts: copied,
        };
        json::write(s.out, schema::COPY, to, &report)?;
    } else {
        for c in &copied {
            writeln!(
                s.out,
                "copied context '{}' ({} step(s))",
                esc(&c.name),
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
