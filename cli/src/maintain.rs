//! Maintenance: `clear`, `clear-all`, `check` and `compact`.

use std::collections::HashSet;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use indexmap::IndexMap;
use pipeline_deps::{ContextStats, RegistryManager};
use serde::Serialize;

use crate::commands::{
    Session, contexts_there, existing_context, file_only, file_size, list_preview, open_copy,
    open_read, open_write,
};
use crate::json::{self, Context, JsonPath, Problem, schema};
use crate::output::{bytes, esc, path_text, short};
use crate::{Failure, Status};

/// The `clear --json` document.
#[derive(Serialize)]
struct ClearReport<'a> {
    context: &'a str,
    /// Whether the context existed (clearing one that does not is a success).
    existed: bool,
    /// Steps deleted with it.
    step_count: usize,
}

/// `clear CONTEXT`: deletes one context. Idempotent: a context that does not exist is
/// reported (`existed: false`) and the exit code is 0, as `clear-all` of an empty file is.
pub fn clear(s: &mut Session<'_>, context: &str) -> Result<Status, Failure> {
    // Refused (exit 4, a bounded message) before the database is opened for writing.
    pipeline_deps::spec::validate_context_name(context)?;
    let manager = open_write(&s.db, false)?;
    // Counted by the deleting transaction: on a server, steps another process wrote just
    // before are deleted and counted alike.
    let steps = manager
        .clear_context_with_stats(context)?
        .map(|stats| stats.step_count);
    if s.json {
        let report = ClearReport {
            context,
            existed: steps.is_some(),
            step_count: steps.unwrap_or(0),
        };
        json::write(s.out, schema::CLEAR, &s.db, &report)?;
    } else if let Some(steps) = steps {
        writeln!(
            s.out,
            "cleared context '{}' ({steps} step(s))",
            short(context)
        )?;
    } else {
        // The contexts there are, so that a misspelt name shows (the command still succeeds:
        // clearing is idempotent).
        let known = contexts_there(&manager)?;
        writeln!(
            s.out,
            "context '{}' does not exist in {}; nothing to clear ({known})",
            short(context),
            path_text(&s.db)
        )?;
    }
    Ok(Status::Ok)
}

/// Asks `question` on standard error and reads the answer, a line, from standard input
/// (both terminals); `y` or `yes` confirms, anything else (Enter, end of input) does not.
/// The terminal stays in line mode, so Ctrl-C ends the process with nothing to restore.
fn confirm(question: &str) -> Result<bool, Failure> {
    let asking = |source| Failure::Io {
        action: "asking for confirmation".into(),
        file: None,
        source,
    };
    let mut err = io::stderr().lock();
    write!(err, "{question} [y/N] ").map_err(asking)?;
    err.flush().map_err(asking)?;
    drop(err);
    let mut answer = String::new();
    let read = io::stdin().read_line(&mut answer).map_err(asking)?;
    if read == 0 || !answer.ends_with('\n') {
        // The end of input (Ctrl-D) echoes no newline: what follows gets its own line.
        writeln!(io::stderr()).map_err(asking)?;
    }
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The library's new files beside `db` (`compact`'s new file, `check --repair`'s backup and
/// repaired file), removed by Ctrl-C or a termination signal while the returned guard lives.
fn replacement_pending(db: &Path) -> crate::interrupt::Pending {
    let dir = match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // The library writes beside the file a link points to.
    let resolved = std::fs::canonicalize(db).ok();
    let dir = resolved.as_deref().and_then(Path::parent).unwrap_or(dir);
    crate::interrupt::Pending::prefixed(dir, RegistryManager::replacement_file_prefix())
}

/// `clear-all [--yes]`: deletes every context, after confirmation.
///
/// The question is asked before the database is opened for writing: what it shows is read
/// through a read-only open that is closed again before the question, so a person who
/// declines, by `n`, the end of input or Ctrl-C (which ends the process at once), leaves the
/// file exactly as a clean close does (no repair at the next open). The file is opened for
/// writing only after a `y`; whatever another process wrote meanwhile is deleted too, and
/// the report (and a note, when it differs from the question) says what was deleted.
pub fn clear_all(s: &mut Session<'_>, yes: bool) -> Result<Status, Failure> {
    let not_a_terminal = match (io::stdin().is_terminal(), crate::stderr_is_terminal()) {
        // Under --json every line on standard error is a JSON object: no question.
        _ if s.json => Some("--json asks no questions"),
        (true, true) => None,
        (false, _) => Some("standard input is not a terminal to read an answer from"),
        (true, false) => Some("standard error is not a terminal to ask on"),
    };
    if let (false, Some(why)) = (yes, not_a_terminal) {
        return Err(Failure::Usage(format!(
            "clear-all deletes every context; pass --yes to confirm ({why})"
        )));
    }
    let shown = if yes {
        None
    } else {
        // Closed (dropped) at the end of this statement, before the question: Ctrl-C
        // there finds no file open.
        let shown = open_to_ask(&s.db)?.get_context_stats()?;
        // An empty registry: nothing to ask about.
        (!shown.is_empty()).then_some(shown)
    };
    if let Some(shown) = &shown {
        let steps: usize = shown.values().map(|c| c.step_count).sum();
        let names: Vec<String> = shown.keys().cloned().collect();
        let question = format!(
            "Delete all {} context(s) ({}) and their {steps} step(s) from {}?",
            shown.len(),
            list_preview(&names, 5),
            path_text(&s.db)
        );
        if !confirm(&question)? {
            return Err(Failure::Usage("not confirmed; nothing was cleared".into()));
        }
    }
    let manager = open_write(&s.db, false)?;
    // What was deleted, counted by the deleting transaction (other processes may have
    // created, written or cleared contexts since the question was asked).
    let deleted = manager.clear_all_contexts_with_stats()?;
    drop(manager);
    let cleared = deleted.len();
    let steps: usize = deleted.values().map(|c| c.step_count).sum();
    if s.json {
        let report = ClearAllReport {
            context_count: cleared,
            step_count: steps,
        };
        json::write(s.out, schema::CLEAR_ALL, &s.db, &report)?;
    } else {
        writeln!(s.out, "cleared {cleared} context(s) ({steps} step(s))")?;
    }
    if let Some(shown) = shown
        && !same_contents(&shown, &deleted)
    {
        let asked: usize = shown.values().map(|c| c.step_count).sum();
        crate::commands::note(
            "changed_since_question",
            &format!(
                "the registry changed while the question waited (another process wrote it): the question showed {} context(s) and {asked} step(s); what was deleted is counted above",
                shown.len()
            ),
        );
    }
    Ok(Status::Ok)
}

/// Whether two context listings name the same contexts, in the same order, with the same
/// counts.
fn same_contents(a: &IndexMap<String, ContextStats>, b: &IndexMap<String, ContextStats>) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((an, a), (bn, b))| {
            an == bn && a.step_count == b.step_count && a.step_type_count == b.step_type_count
        })
}

/// Opens the database read-only to show what a question is about: a missing file (or a
/// server database without a registry) is [`Failure::NoDatabase`], as for a write command
/// that changes only an existing registry. A file is read from a copy in memory taken while
/// no other process has it open for writing ([`open_copy`]): one that another process holds
/// (a single-writer owner, which lets readers in) is refused now, with a write command's
/// hint, rather than after a question whose answer could not be acted on. (An owner that
/// opens it after the copy still refuses the clear after the question.) As for
/// [`open_read`], a file its last writer did not close is recovered in the copy, and a note
/// says so (the write open that follows a `y` repairs the file). A server is read through
/// a read-only connection: its writers do not stop a clear.
fn open_to_ask(db: &Path) -> Result<RegistryManager, Failure> {
    if crate::commands::server_url(db).is_some() {
        let opened = open_read(db);
        crate::commands::READING.store(false, Ordering::Relaxed);
        return opened;
    }
    let manager = open_copy(db)?;
    if manager.recovered_from_copy() {
        crate::commands::note_recovered_copy(db);
    }
    Ok(manager)
}

/// The `clear-all --json` document.
#[derive(Serialize)]
struct ClearAllReport {
    /// Contexts deleted.
    context_count: usize,
    /// Steps deleted with them.
    step_count: usize,
}

/// One context's part of `check`: the context, then its problems (at most
/// [`json::PROBLEMS_SHOWN`]).
#[derive(Serialize)]
struct ContextCheck {
    #[serde(flatten)]
    context: Context,
    problems: Vec<Problem>,
    problems_omitted: usize,
    /// Every problem (the report lists the first few).
    #[serde(skip)]
    all: Vec<Problem>,
}

impl ContextCheck {
    fn push(&mut self, problem: Problem) {
        if self.problems.len() < json::PROBLEMS_SHOWN {
            self.problems.push(problem.clone());
        } else {
            self.problems_omitted += 1;
        }
        self.all.push(problem);
    }

    fn is_ok(&self) -> bool {
        self.all.is_empty()
    }
}

/// The `check --json` document.
#[derive(Serialize)]
struct CheckReport<'a> {
    ok: bool,
    file_size_bytes: u64,
    pages: Pages<'a>,
    /// The file needed recovery after a crash; the check read a recovered copy in memory.
    recovered_in_memory: bool,
    /// What `--repair` did (`null` without it).
    repair: Option<Repair>,
    contexts: &'a [ContextCheck],
    /// Files beside the registry that an interrupted command left (not a defect of the
    /// registry: `ok` does not depend on them).
    leftover_files: &'a [Leftover],
}

/// A file beside the registry that a command killed while writing it left behind: the
/// library's new file of `compact` or `check --repair`, or the CLI's temporary file of an
/// output written there (`export -o`, `snapshot -o`).
#[derive(Serialize)]
struct Leftover {
    path: JsonPath,
    size_bytes: u64,
    /// The path, for the human report.
    #[serde(skip)]
    shown: PathBuf,
}

/// How many leftover files the human report names (JSON lists them all).
const LEFTOVERS_SHOWN: usize = 10;

/// The files beside `db` (in its directory, and in its target's when it is a symbolic link)
/// whose names start with the prefix of the CLI's and the library's temporary files,
/// `.pipeline-deps-` (`.pipeline-deps-replace-<pid>-…` for the library's): only a process
/// killed while writing one (SIGKILL, a power loss), or one still writing it, leaves such a
/// file there. Nothing is removed: another process may be writing it now. Best effort: a
/// directory that cannot be read reports none.
///
/// The registry itself and its backups (`FILE.backup…`) are never listed, even when its
/// name starts with that prefix.
fn leftover_files(db: &Path) -> Vec<Leftover> {
    // The registry's own names (as given, and its link target's): a name starting with one
    // is the registry or one of its backups.
    let own: Vec<std::ffi::OsString> = [Some(db.to_path_buf()), std::fs::canonicalize(db).ok()]
        .into_iter()
        .flatten()
        .filter_map(|path| path.file_name().map(ToOwned::to_owned))
        .collect();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let given = db.parent().map(Path::to_path_buf);
    let target = std::fs::canonicalize(db)
        .ok()
        .and_then(|resolved| resolved.parent().map(Path::to_path_buf));
    for dir in [given, target].into_iter().flatten() {
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with(crate::interrupt::TEMP_PREFIX)
                || own
                    .iter()
                    .any(|own| name.starts_with(own.to_string_lossy().as_ref()))
            {
                continue;
            }
            // Regular files only (not followed: a link or directory of that name is not ours).
            match entry.metadata() {
                Ok(metadata) if metadata.is_file() => {
                    let path = dir.join(entry.file_name());
                    found.push(Leftover {
                        path: JsonPath::exact(&path),
                        size_bytes: metadata.len(),
                        shown: path,
                    });
                }
                _ => {}
            }
        }
    }
    found.sort_by(|a, b| a.shown.cmp(&b.shown));
    found
}

/// The human report's lines about leftover files (none when there are none).
fn write_leftovers(out: &mut dyn Write, leftovers: &[Leftover]) -> io::Result<()> {
    if leftovers.is_empty() {
        return Ok(());
    }
    let total: u64 = leftovers.iter().map(|l| l.size_bytes).sum();
    writeln!(
        out,
        "leftover  {} file(s) beside the registry ({} in all), left by pipeline-deps commands interrupted while writing them (killed, or the machine lost power); not part of the registry: delete them once no pipeline-deps command is running",
        leftovers.len(),
        bytes(total)
    )?;
    for leftover in leftovers.iter().take(LEFTOVERS_SHOWN) {
        writeln!(
            out,
            "  - {} ({})",
            path_text(&leftover.shown),
            bytes(leftover.size_bytes)
        )?;
    }
    if leftovers.len() > LEFTOVERS_SHOWN {
        writeln!(out, "  - and {} more", leftovers.len() - LEFTOVERS_SHOWN)?;
    }
    Ok(())
}

/// The `--repair` part of `check --json`.
#[derive(Serialize)]
struct Repair {
    /// The byte-for-byte copy of the file written before repairing.
    backup: JsonPath,
    /// The file needed no repair.
    was_consistent: bool,
}

/// The storage engine's verdict on the file's pages.
#[derive(Serialize)]
struct Pages<'a> {
    ok: bool,
    message: &'a str,
}

/// Decodes and validates every specification of `context` and compares the catalog's
/// counts with a recount.
fn check_context(
    manager: &RegistryManager,
    name: &str,
    stats: &ContextStats,
) -> Result<ContextCheck, Failure> {
    let mut check = ContextCheck {
        context: Context {
            name: name.to_owned(),
            stats: stats.clone(),
        },
        problems: Vec::new(),
        problems_omitted: 0,
        all: Vec::new(),
    };
    let registry = existing_context(manager, name)?;
    match registry.iter() {
        Ok(steps) => {
            let steps: Vec<_> = steps.collect();
            let types: HashSet<&str> = steps.iter().map(|(_, sp)| sp.step_type.as_str()).collect();
            if steps.len() != stats.step_count {
                check.push(Problem::general(format!(
                    "the catalog counts {} step(s) but {} are stored",
                    stats.step_count,
                    steps.len()
                )));
            }
            if types.len() != stats.step_type_count {
                check.push(Problem::general(format!(
                    "the catalog counts {} step type(s) but the stored steps have {}",
                    stats.step_type_count,
                    types.len()
                )));
            }
            for (step, spec) in &steps {
                if let Err(problems) = spec.validate(step) {
                    for problem in &problems {
                        check.push(Problem::from(problem));
                    }
                }
            }
        }
        Err(e) if e.is_corruption() => check.push(Problem::general(e.to_string())),
        Err(e) => return Err(e.into()),
    }
    Ok(check)
}

/// Whether `check --repair` tried to repair the file (a corruption error then means the
/// repair failed and left the file as it was).
pub static REPAIRING: AtomicBool = AtomicBool::new(false);

/// `check [--repair]`: the storage engine's checksum verification, then every record
/// decoded; exit 1 when anything fails. The check reads a copy of the file in memory and
/// never writes the file (it works on a read-only medium); `--repair` first writes a backup
/// copy beside it, then replaces the file with a repaired copy only if that copy passes the
/// integrity check and reads completely (a failed repair leaves the file, and no backup).
/// Files a killed command left beside the registry are listed, and do not fail the check.
pub fn check(s: &mut Session<'_>, repair: bool) -> Result<Status, Failure> {
    file_only(
        &s.db,
        "check",
        "the server keeps its own checksums (see PostgreSQL's amcheck and data checksums), and every record is still verified as it is read",
    )?;
    let repaired = if repair {
        if !s.db.exists() {
            return Err(Failure::NoDatabase(s.db.clone()));
        }
        REPAIRING.store(true, Ordering::Relaxed);
        let _pending = replacement_pending(&s.db);
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
    let ok = pages.is_ok() && contexts.iter().all(ContextCheck::is_ok);
    let status = Status::of_check(!ok);
    // Looked for after a repair: this process's own new file is gone by then.
    let leftovers = leftover_files(&s.db);
    if s.json {
        let report = CheckReport {
            ok,
            file_size_bytes: file_size(&s.db),
            pages: Pages {
                ok: pages.is_ok(),
                message: match &pages {
                    Ok(m) | Err(m) => m,
                },
            },
            recovered_in_memory: recovered,
            repair: repaired.as_ref().map(|r| Repair {
                backup: JsonPath::exact(&r.backup),
                was_consistent: r.was_consistent,
            }),
            contexts: &contexts,
            leftover_files: &leftovers,
        };
        json::write(s.out, schema::CHECK, &s.db, &report)?;
        return Ok(status);
    }
    writeln!(
        s.out,
        "database  {} ({})",
        path_text(&s.db),
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
            path_text(&report.backup)
        )?;
    }
    match &pages {
        Ok(message) => writeln!(s.out, "pages     ok: {}", esc(message))?,
        Err(message) => writeln!(s.out, "pages     FAILED: {}", esc(message))?,
    }
    if pages.is_ok() {
        let steps: usize = contexts.iter().map(|c| c.context.stats.step_count).sum();
        let failed: Vec<&ContextCheck> = contexts.iter().filter(|c| !c.is_ok()).collect();
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
                writeln!(
                    s.out,
                    "  context '{}'",
                    crate::output::short(&c.context.name)
                )?;
                for problem in &c.problems {
                    let text = match (&problem.step, &problem.field) {
                        (Some(step), Some(field)) => format!(
                            "step '{}': {} {}",
                            crate::output::short(step),
                            crate::output::short(field),
                            problem.message
                        ),
                        _ => problem.message.clone(),
                    };
                    writeln!(s.out, "    - {}", esc(&text))?;
                }
                if c.problems_omitted > 0 {
                    writeln!(s.out, "    - and {} more", c.problems_omitted)?;
                }
            }
        }
    }
    write_leftovers(s.out, &leftovers)?;
    writeln!(s.out)?;
    if ok {
        writeln!(s.out, "result: ok")?;
    } else {
        writeln!(
            s.out,
            "result: FAILED; restore the file from a backup, or export the contexts that still read (`pipeline-deps {} export CONTEXT`) and import them into a new file",
            esc(&crate::output::db_option(&s.db))
        )?;
    }
    Ok(status)
}

/// The `compact --json` document.
#[derive(Serialize)]
struct CompactDocument {
    bytes_before: u64,
    bytes_after: u64,
    bytes_reclaimed: u64,
}

/// `compact`: compacts a verified copy of the file into a new file renamed into place, and
/// reports the bytes reclaimed. A file that fails the integrity check is refused unchanged.
pub fn compact(s: &mut Session<'_>) -> Result<Status, Failure> {
    file_only(
        &s.db,
        "compact",
        "the server reclaims the space of deleted rows itself (autovacuum, or VACUUM)",
    )?;
    if !s.db.exists() {
        return Err(Failure::NoDatabase(s.db.clone()));
    }
    let pending = replacement_pending(&s.db);
    let report = RegistryManager::compact_file(&s.db)?;
    drop(pending);
    let (before, after) = (report.bytes_before, report.bytes_after);
    let reclaimed = before.saturating_sub(after);
    if s.json {
        let report = CompactDocument {
            bytes_before: before,
            bytes_after: after,
            bytes_reclaimed: reclaimed,
        };
        json::write(s.out, schema::COMPACT, &s.db, &report)?;
    } else {
        writeln!(
            s.out,
            "compacted {}: {} → {}, reclaimed {}",
            path_text(&s.db),
            bytes(before),
            bytes(after),
            bytes(reclaimed)
        )?;
    }
    Ok(Status::Ok)
}
