//! Maintenance: `clear`, `clear-all`, `check` and `compact`.

use std::collections::HashSet;
use std::io::{self, BufRead, IsTerminal, Write};

use pipeline_deps::{ContextStats, RegistryManager};
use serde::Serialize;
use serde_json::json;

use crate::commands::{
    Session, existing_context, file_size, list_preview, open_copy, open_write, unknown_context,
};
use crate::output::{self, bytes};
use crate::{Failure, Status};

/// `clear CONTEXT`: deletes one context.
pub fn clear(s: &mut Session<'_>, context: &str) -> Result<Status, Failure> {
    let manager = open_write(&s.db, false)?;
    let steps = manager
        .get_context_stats()?
        .get(context)
        .map(|st| st.step_count);
    let Some(steps) = steps else {
        return Err(Failure::Invalid(unknown_context(&manager, context)?));
    };
    manager.clear_context(context)?;
    if s.json {
        output::json(s.out, &json!({"cleared": context, "step_count": steps}))?;
    } else {
        writeln!(s.out, "cleared context '{context}' ({steps} step(s))")?;
    }
    Ok(Status::Ok)
}

fn confirm(question: &str) -> Result<bool, Failure> {
    let io_error = |source| Failure::Io {
        action: "asking for confirmation".into(),
        source,
    };
    let mut stderr = io::stderr();
    write!(stderr, "{question} [y/N] ").map_err(io_error)?;
    stderr.flush().map_err(io_error)?;
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(io_error)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// `clear-all [--yes]`: deletes every context, after confirmation.
pub fn clear_all(s: &mut Session<'_>, yes: bool) -> Result<Status, Failure> {
    let interactive = io::stdin().is_terminal() && crate::stderr_is_terminal();
    if !yes && !interactive {
        return Err(Failure::Usage(
            "clear-all deletes every context; pass --yes to confirm (standard input is not a terminal to ask on)".into(),
        ));
    }
    let manager = open_write(&s.db, false)?;
    let stats = manager.get_context_stats()?;
    let steps: usize = stats.values().map(|c| c.step_count).sum();
    if !yes && !stats.is_empty() {
        let names: Vec<String> = stats.keys().cloned().collect();
        let question = format!(
            "Delete all {} context(s) ({}) and their {steps} step(s) from {}?",
            stats.len(),
            list_preview(&names, 5),
            s.db.display()
        );
        if !confirm(&question)? {
            return Err(Failure::Usage("not confirmed; nothing was cleared".into()));
        }
    }
    let cleared = manager.clear_all_contexts()?;
    if s.json {
        output::json(
            s.out,
            &json!({"cleared_contexts": cleared, "step_count": steps}),
        )?;
    } else {
        writeln!(s.out, "cleared {cleared} context(s) ({steps} step(s))")?;
    }
    Ok(Status::Ok)
}

#[derive(Serialize)]
struct ContextCheck {
    name: String,
    step_count: usize,
    step_type_count: usize,
    problems: Vec<String>,
}

/// Decodes and validates every specification of `context` and compares the catalog's
/// counts with a recount.
fn check_context(
    manager: &RegistryManager,
    name: &str,
    stats: &ContextStats,
) -> Result<ContextCheck, Failure> {
    let mut check = ContextCheck {
        name: name.to_owned(),
        step_count: stats.step_count,
        step_type_count: stats.step_type_count,
        problems: Vec::new(),
    };
    let registry = existing_context(manager, name)?;
    match registry.iter() {
        Ok(steps) => {
            let steps: Vec<_> = steps.collect();
            let types: HashSet<&str> = steps.iter().map(|(_, sp)| sp.step_type.as_str()).collect();
            if steps.len() != stats.step_count {
                check.problems.push(format!(
                    "the catalog counts {} step(s) but {} are stored",
                    stats.step_count,
                    steps.len()
                ));
            }
            if types.len() != stats.step_type_count {
                check.problems.push(format!(
                    "the catalog counts {} step type(s) but the stored steps have {}",
                    stats.step_type_count,
                    types.len()
                ));
            }
            for (step, spec) in &steps {
                if let Err(problems) = spec.validate(step) {
                    check
                        .problems
                        .extend(problems.iter().map(ToString::to_string));
                }
            }
        }
        Err(e) if e.is_corruption() => check.problems.push(e.to_string()),
        Err(e) => return Err(e.into()),
    }
    Ok(check)
}

/// `check [--repair]`: the storage engine's checksum verification, then every record
/// decoded; exit 1 when anything fails. The check reads a copy of the file in memory and
/// never writes the file (it works on a read-only medium); `--repair` first repairs the
/// file in place after writing a backup copy beside it.
pub fn check(s: &mut Session<'_>, repair: bool) -> Result<Status, Failure> {
    let repaired = if repair {
        if !s.db.exists() {
            return Err(Failure::NoDatabase(s.db.clone()));
        }
        Some(RegistryManager::repair_file(&s.db)?)
    } else {
        None
    };
    let mut recovered = false;
    let (pages, contexts) = match open_copy(&s.db) {
        Err(Failure::Library(e)) if e.is_corruption() => (Err(e.to_string()), Vec::new()),
        Err(other) => return Err(other),
        Ok(manager) => {
            recovered = manager.recovered_from_copy();
            let pages = match manager.check_integrity() {
                Ok(true) => Ok("every page checksum verified".to_owned()),
                Ok(false) => Err(
                    "the storage engine's allocator state is inconsistent (`check --repair` repairs the file after writing a backup copy)"
                        .to_owned(),
                ),
                Err(e) if e.is_corruption() => Err(e.to_string()),
                Err(e) => return Err(e.into()),
            };
            let mut contexts = Vec::new();
            if pages.is_ok() {
                for (name, stats) in manager.get_context_stats()? {
                    contexts.push(check_context(&manager, &name, &stats)?);
                }
            }
            (pages, contexts)
        }
    };
    if recovered {
        crate::commands::note_recovered_copy(&s.db);
    }
    let ok = pages.is_ok() && contexts.iter().all(|c| c.problems.is_empty());
    if s.json {
        output::json(
            s.out,
            &json!({
                "ok": ok,
                "database": s.db,
                "pages_ok": pages.is_ok(),
                "pages": match &pages { Ok(m) | Err(m) => m },
                "recovered_in_memory": recovered,
                "repair": repaired.as_ref().map(|r| json!({
                    "backup": r.backup,
                    "was_consistent": r.was_consistent,
                })),
                "contexts": contexts,
            }),
        )?;
        return Ok(if ok { Status::Ok } else { Status::CheckFailed });
    }
    let path = std::fs::canonicalize(&s.db).unwrap_or_else(|_| s.db.clone());
    writeln!(
        s.out,
        "database  {} ({})",
        path.display(),
        bytes(file_size(&s.db))
    )?;
    if let Some(report) = &repaired {
        let state = if report.was_consistent {
            "nothing needed repairing"
        } else {
            "the storage engine repaired it"
        };
        writeln!(
            s.out,
            "repair    {state}; backup of the file before: {}",
            report.backup.display()
        )?;
    }
    match &pages {
        Ok(message) => writeln!(s.out, "pages     ok: {message}")?,
        Err(message) => writeln!(s.out, "pages     FAILED: {message}")?,
    }
    if pages.is_ok() {
        let steps: usize = contexts.iter().map(|c| c.step_count).sum();
        let failed: Vec<&ContextCheck> =
            contexts.iter().filter(|c| !c.problems.is_empty()).collect();
        if failed.is_empty() {
            writeln!(
                s.out,
                "records   ok: the {steps} specification(s) of {} context(s) decode, validate and match the catalog counts",
                contexts.len()
            )?;
        } else {
            writeln!(
                s.out,
                "records   FAILED in {} of {} context(s):",
                failed.len(),
                contexts.len()
            )?;
            for c in failed {
                writeln!(s.out, "  context '{}'", c.name)?;
                for problem in &c.problems {
                    writeln!(s.out, "    - {problem}")?;
                }
            }
        }
    }
    writeln!(s.out)?;
    if ok {
        writeln!(s.out, "result: ok")?;
    } else {
        writeln!(
            s.out,
            "result: FAILED; restore the file from a backup, or export the contexts that still read (`pipeline-deps export`) and import them into a new file"
        )?;
    }
    Ok(if ok { Status::Ok } else { Status::CheckFailed })
}

/// `compact`: compacts a verified copy of the file into a new file renamed into place, and
/// reports the bytes reclaimed. A file that fails the integrity check is refused unchanged.
pub fn compact(s: &mut Session<'_>) -> Result<Status, Failure> {
    if !s.db.exists() {
        return Err(Failure::NoDatabase(s.db.clone()));
    }
    let report = RegistryManager::compact_file(&s.db)?;
    let (before, after) = (report.bytes_before, report.bytes_after);
    let reclaimed = before.saturating_sub(after);
    if s.json {
        output::json(
            s.out,
            &json!({
                "database": s.db,
                "bytes_before": before,
                "bytes_after": after,
                "bytes_reclaimed": reclaimed,
            }),
        )?;
    } else {
        writeln!(
            s.out,
            "compacted {}: {} → {}, reclaimed {}",
            s.db.display(),
            bytes(before),
            bytes(after),
            bytes(reclaimed)
        )?;
    }
    Ok(Status::Ok)
}
