//! Resolution and the edge-drift gate: `resolve`, `snapshot` and `check-snapshot`.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use pipeline_deps::snapshot::{
    EdgeDiff, EdgeSnapshot, ResolvedEdge, SnapshotCapture, UnresolvedStep,
};
use pipeline_deps::{SemanticMatcher, UnifiedDependencyResolver};
use serde::Serialize;

use crate::commands::{
    Session, existing_context, missing, open_read, unknown_step, write_atomically_with,
};
use crate::input::read_input;
use crate::json::{self, Candidate, ExplainedDependency, JsonPath, Unwired, schema};
use crate::output::{
    Table, db_option, esc, esc_name, path_text, score, shell_path, shell_word, short, shown_path,
};
use crate::scorer::Scorer;
use crate::{Failure, Status};

/// A resolver over an existing context of a read-only database.
fn resolver_for(s: &Session<'_>, context: &str) -> Result<UnifiedDependencyResolver, Failure> {
    let manager = open_read(&s.db)?;
    let registry = existing_context(&manager, context)?;
    Ok(UnifiedDependencyResolver::new(
        registry,
        SemanticMatcher::default(),
    ))
}

/// The snapshot of `steps`, or of every step of the context when none are given. A step
/// listed twice is refused (exit 4): the list is an order of distinct steps, and a repeat
/// would report its dependencies twice. Both refusals (and that of a step the context does
/// not have) name the context and the step, also in the `--json` error.
fn capture(
    resolver: &UnifiedDependencyResolver,
    context: &str,
    steps: &[String],
) -> Result<SnapshotCapture, Failure> {
    let mut seen = HashSet::new();
    if let Some(repeated) = steps.iter().find(|step| !seen.insert(step.as_str())) {
        return Err(missing(
            "invalid_input",
            context,
            Some(repeated),
            format!(
                "step '{}' is listed more than once; list each step once (their order breaks score ties)",
                crate::output::short(repeated)
            ),
        ));
    }
    // Each listed step is looked up alone: a command about a few steps of a large context
    // reads those steps, not the whole context.
    for step in steps {
        if !resolver.registry().contains(step)? {
            return Err(unknown_step(resolver.registry(), context, step)?);
        }
    }
    // The capture keeps the specifications it read (every step of the context, or only the
    // listed ones), so that explaining it does not read them again.
    Ok(if steps.is_empty() {
        SnapshotCapture::of_all(resolver)
    } else {
        SnapshotCapture::of_steps(resolver, steps)
    }?)
}

/// Dependencies that are not wired: every required one of an unresolved step, and the
/// optional ones of the other steps that found no output scoring above 0.5.
fn unwired(capture: &SnapshotCapture, scorer: &mut Scorer<'_>) -> Result<Vec<Unwired>, Failure> {
    let snapshot = capture.snapshot();
    let wired: HashSet<(&str, &str)> = snapshot
        .edges
        .iter()
        .map(|e| (e.consumer.as_str(), e.dependency.as_str()))
        .collect();
    // Sets: a step may have 100,000 unresolved dependencies, and a list's `contains` per
    // dependency made this quadratic (13 s for one such step).
    let failed: HashMap<&str, HashSet<&str>> = snapshot
        .unresolved
        .iter()
        .map(|u| {
            let names = u.dependencies.iter().map(String::as_str).collect();
            (u.step.as_str(), names)
        })
        .collect();
    let mut missing = Vec::new();
    for (step, spec) in capture.steps() {
        let Some(spec) = spec else {
            continue;
        };
        for (key, dep) in &spec.dependencies {
            let unwired = match failed.get(step) {
                Some(required) => required.contains(key.as_str()),
                None => !dep.required && !wired.contains(&(step, key.as_str())),
            };
            if unwired {
                missing.push((step, key, dep.required));
            }
        }
    }
    let consumers: Vec<&str> = missing.iter().map(|(step, _, _)| *step).collect();
    scorer.prefetch(&consumers)?;
    missing
        .into_iter()
        .map(|(step, key, required)| {
            Ok(Unwired {
                consumer: step.to_owned(),
                dependency: key.clone(),
                required,
                best_candidate: scorer.best(step, key)?,
            })
        })
        .collect()
}

fn best_text(best: Option<&Candidate>) -> (String, String) {
    match best {
        Some(c) => (format!("{}.{}", c.producer, c.output), score(c.score)),
        None => ("no type-compatible output".to_owned(), String::new()),
    }
}

/// The `resolve --json` document.
#[derive(Serialize)]
struct ResolveReport<'a> {
    context: &'a str,
    /// The steps resolved, in order.
    steps: &'a [String],
    edges: &'a [ResolvedEdge],
    /// Steps left unresolved, as in snapshot files.
    unresolved: &'a [UnresolvedStep],
    unwired: &'a [Unwired],
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<&'a [ExplainedDependency]>,
}

/// `resolve CONTEXT [STEP...] [--explain] [--top N] [--fail-on-unresolved]`: with
/// `fail_on_unresolved`, [`Status::CheckFailed`] when a required dependency stays
/// unresolved.
pub fn resolve(
    s: &mut Session<'_>,
    context: &str,
    steps: &[String],
    explain: bool,
    top: Option<usize>,
    fail_on_unresolved: bool,
) -> Result<Status, Failure> {
    let resolver = resolver_for(s, context)?;
    let capture = capture(&resolver, context, steps)?;
    let snapshot = capture.snapshot();
    // The unwired tables show the best candidate; --explain shows --top of them.
    let keep = if explain {
        top.unwrap_or(usize::MAX)
    } else {
        1
    };
    // Scored from the specifications the capture read (read again only after a write).
    let mut scorer = Scorer::new(capture.candidate_scorer(&resolver)?, keep);
    let unwired = unwired(&capture, &mut scorer)?;
    let explained = if explain {
        Some(explanation(&capture, &mut scorer, top)?)
    } else {
        None
    };
    let status = Status::of_check(fail_on_unresolved && !snapshot.unresolved.is_empty());
    if s.json {
        let report = ResolveReport {
            context,
            steps: &snapshot.steps,
            edges: &snapshot.edges,
            unresolved: &snapshot.unresolved,
            unwired: &unwired,
            explain: explained.as_deref(),
        };
        json::write(s.out, schema::RESOLVE, &s.db, &report)?;
        return Ok(status);
    }
    writeln!(
        s.out,
        "context '{}': {} step(s), {} edge(s), {} unresolved step(s)",
        esc_name(context),
        snapshot.steps.len(),
        snapshot.edges.len(),
        snapshot.unresolved.len()
    )?;
    if !snapshot.edges.is_empty() {
        writeln!(s.out)?;
        let mut table =
            Table::new(&["CONSUMER.DEPENDENCY", "", "PRODUCER.OUTPUT", "SCORE"]).right(&[3]);
        for e in &snapshot.edges {
            table.row(vec![e.target(), "←".into(), e.source(), score(e.score)]);
        }
        table.write(s.out)?;
    }
    let (required, optional): (Vec<&Unwired>, Vec<&Unwired>) =
        unwired.iter().partition(|u| u.required);
    if !required.is_empty() {
        writeln!(s.out)?;
        writeln!(
            s.out,
            "unresolved steps: no output scores above 0.5 for a required dependency,\n\
             so none of the step's dependencies is wired:"
        )?;
        unwired_table(&required).write(s.out)?;
    }
    if !optional.is_empty() {
        writeln!(s.out)?;
        writeln!(
            s.out,
            "optional dependencies left unwired (no output scores above 0.5):"
        )?;
        unwired_table(&optional).write(s.out)?;
    }
    if let Some(explained) = explained {
        write_explanation(s.out, &explained)?;
    } else if !unwired.is_empty() {
        writeln!(s.out)?;
        writeln!(
            s.out,
            "add --explain to see every candidate and its score breakdown"
        )?;
    }
    Ok(status)
}

fn unwired_table(list: &[&Unwired]) -> Table {
    let mut table = Table::new(&["STEP.DEPENDENCY", "BEST CANDIDATE", "SCORE"])
        .right(&[2])
        .indent(2);
    for u in list {
        let (best, best_score) = best_text(u.best_candidate.as_ref());
        table.row(vec![
            format!("{}.{}", u.consumer, u.dependency),
            best,
            best_score,
        ]);
    }
    table
}

fn explanation(
    capture: &SnapshotCapture,
    scorer: &mut Scorer<'_>,
    top: Option<usize>,
) -> Result<Vec<ExplainedDependency>, Failure> {
    let snapshot = capture.snapshot();
    // A map, not `EdgeSnapshot::edge` (a scan of every edge) per dependency: that made
    // `--explain` over every step of a large context quadratic.
    let edges: HashMap<(&str, &str), &ResolvedEdge> = snapshot
        .edges
        .iter()
        .map(|e| ((e.consumer.as_str(), e.dependency.as_str()), e))
        .collect();
    let mut list = Vec::new();
    for (i, (step, spec)) in capture.steps().enumerate() {
        let Some(spec) = spec else {
            continue;
        };
        if !scorer.is_scored(step) {
            // This step and the next ones, scored together.
            let next: Vec<&str> = snapshot
                .steps
                .iter()
                .skip(i)
                .take(scorer.per_call())
                .map(String::as_str)
                .collect();
            scorer.prefetch(&next)?;
        }
        for (key, dep) in &spec.dependencies {
            let (mut candidates, total) = scorer.take(step, key)?;
            let keep = top.unwrap_or(usize::MAX).min(total);
            let more = total - keep;
            candidates.truncate(keep);
            list.push(ExplainedDependency {
                consumer: step.to_owned(),
                dependency: key.clone(),
                dependency_type: dep.dependency_type.to_string(),
                required: dep.required,
                wired_to: edges.get(&(step, key.as_str())).map(|e| e.source()),
                candidates,
                more,
            });
        }
    }
    Ok(list)
}

fn part(value: f64) -> String {
    format!("{value:.3}")
}

fn write_explanation(
    out: &mut dyn Write,
    explained: &[ExplainedDependency],
) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "candidates (* = wired; a dependency takes the best score above 0.5, ties going to the earlier step):"
    )?;
    for d in explained {
        writeln!(out)?;
        let required = if d.required { "required" } else { "optional" };
        writeln!(
            out,
            "{}.{}  ({}, {required})",
            short(&d.consumer),
            short(&d.dependency),
            esc_name(&d.dependency_type)
        )?;
        match &d.wired_to {
            Some(source) => writeln!(out, "  wired to {}", esc_name(source))?,
            None => writeln!(out, "  not wired")?,
        }
        if d.candidates.is_empty() {
            // With `--top 0` every candidate is left out, which is not the same as none.
            if d.more > 0 {
                writeln!(out, "  … {} candidate(s) (raise --top to see them)", d.more)?;
            } else {
                writeln!(out, "  no type-compatible output")?;
            }
            continue;
        }
        let mut table = Table::new(&[
            " ",
            "PRODUCER.OUTPUT",
            "SCORE",
            "TYPE",
            "DATA",
            "NAME",
            "EXACT",
            "SOURCE",
            "KEYWORD",
        ])
        .right(&[2, 3, 4, 5, 6, 7, 8])
        .indent(1);
        for c in &d.candidates {
            let source = format!("{}.{}", c.producer, c.output);
            let b = &c.score_breakdown;
            table.row(vec![
                if d.wired_to.as_deref() == Some(source.as_str()) {
                    "*".into()
                } else {
                    String::new()
                },
                source,
                score(c.score),
                part(b.type_compatibility),
                part(b.data_type_compatibility),
                part(b.semantic_similarity),
                part(b.exact_match_bonus),
                format!("{:+.3}", b.source_compatibility),
                part(b.keyword_matching),
            ]);
        }
        table.write(out)?;
        if d.more > 0 {
            writeln!(
                out,
                "   … {} more candidate(s) (raise --top to see them)",
                d.more
            )?;
        }
    }
    Ok(())
}

/// The command line that writes `snapshot` again.
fn snapshot_command(db: &Path, snapshot: &EdgeSnapshot, context: &str, file: &Path) -> String {
    let mut words = vec![
        "pipeline-deps".to_owned(),
        db_option(db),
        "snapshot".to_owned(),
        shell_word(context),
    ];
    if !snapshot.all_steps {
        words.extend(snapshot.steps.iter().map(|s| shell_word(s)));
    }
    words.push("-o".to_owned());
    words.push(shell_path(&shown_path(file)));
    esc(&words.join(" ")).into_owned()
}

/// The `snapshot --json` document.
#[derive(Serialize)]
struct SnapshotReport<'a> {
    context: &'a str,
    file: JsonPath,
    all_steps: bool,
    step_count: usize,
    edge_count: usize,
    unresolved: &'a [UnresolvedStep],
}

/// The `check-snapshot --json` document.
#[derive(Serialize)]
struct CheckSnapshotReport<'a> {
    ok: bool,
    context: &'a str,
    file: JsonPath,
    snapshot_context: &'a str,
    frozen_edge_count: usize,
    current_edge_count: usize,
    diff: &'a EdgeDiff,
}

/// `snapshot CONTEXT [STEP...] -o FILE`.
pub fn snapshot(
    s: &mut Session<'_>,
    context: &str,
    steps: &[String],
    file: &Path,
) -> Result<Status, Failure> {
    crate::commands::refuse_standard_error(file)?;
    let resolver = resolver_for(s, context)?;
    let snapshot = capture(&resolver, context, steps)?.into_snapshot();
    // Streamed: the text of a large context's snapshot is never held whole in memory.
    if crate::commands::is_standard_output(file) {
        // `-o /dev/stdout`: the snapshot alone on standard output, no report after it
        // (under --json, two documents).
        crate::commands::write_watched(
            &mut *s.out,
            |out| Ok(snapshot.write_json_to(out)?),
            Failure::from,
        )?;
        return Ok(Status::Ok);
    }
    write_atomically_with(&s.db, file, |out| Ok(snapshot.write_json_to(out)?))?;
    if s.json {
        let report = SnapshotReport {
            context,
            file: JsonPath::shown(file),
            all_steps: snapshot.all_steps,
            step_count: snapshot.steps.len(),
            edge_count: snapshot.edges.len(),
            unresolved: &snapshot.unresolved,
        };
        json::write(s.out, schema::SNAPSHOT, &s.db, &report)?;
    } else {
        writeln!(
            s.out,
            "wrote {} edge(s) of {} step(s) of context '{}' to {}",
            snapshot.edges.len(),
            snapshot.steps.len(),
            esc_name(context),
            path_text(file)
        )?;
        if !snapshot.unresolved.is_empty() {
            let names: Vec<String> = snapshot.unresolved.iter().map(|u| u.step.clone()).collect();
            writeln!(
                s.out,
                "frozen as unresolved: {} (see `pipeline-deps {} resolve {}`)",
                crate::commands::list_preview(&names, 10),
                esc(&db_option(&s.db)),
                esc(&shell_word(context))
            )?;
        }
        if snapshot.all_steps {
            writeln!(
                s.out,
                "taken over every step: a check resolves the context's steps as they are then"
            )?;
        }
    }
    Ok(Status::Ok)
}

/// `check-snapshot CONTEXT FILE [--strict-scores]`: exit 1 when the wiring changed.
pub fn check_snapshot(
    s: &mut Session<'_>,
    context: &str,
    file: &Path,
    strict_scores: bool,
) -> Result<Status, Failure> {
    let text = read_input(file)?;
    let frozen = EdgeSnapshot::from_json(&text)?;
    let resolver = resolver_for(s, context)?;
    let current = EdgeSnapshot::recapture(&resolver, &frozen)?;
    let diff = frozen.diff(&current);
    let failed = diff.changes_wiring() || (strict_scores && !diff.rescored.is_empty());
    let status = Status::of_check(failed);
    if s.json {
        let report = CheckSnapshotReport {
            ok: !failed,
            context,
            file: JsonPath::shown(file),
            snapshot_context: &frozen.context,
            frozen_edge_count: frozen.edges.len(),
            current_edge_count: current.edges.len(),
            diff: &diff,
        };
        json::write(s.out, schema::CHECK_SNAPSHOT, &s.db, &report)?;
        return Ok(status);
    }
    let mut header = format!(
        "context '{}' against {}: {} edge(s) frozen, {} now",
        esc_name(context),
        path_text(file),
        frozen.edges.len(),
        current.edges.len()
    );
    if frozen.context != context {
        header.push_str(&format!(
            " (the snapshot was taken from context '{}')",
            esc_name(&frozen.context)
        ));
    }
    writeln!(s.out, "{header}")?;
    if diff.is_empty() {
        writeln!(s.out, "ok: the edge graph matches the snapshot")?;
        return Ok(Status::Ok);
    }
    write!(s.out, "{}", if failed { "FAILED: " } else { "ok: " })?;
    // The library's report names steps; each line is escaped.
    for line in diff.to_string().lines() {
        writeln!(s.out, "{}", esc(line))?;
    }
    if !failed && !diff.rescored.is_empty() {
        writeln!(
            s.out,
            "scores moved but the wiring did not (--strict-scores makes this a failure)"
        )?;
    }
    if failed && !diff.changes_wiring() {
        writeln!(
            s.out,
            "failed because --strict-scores is given and scores moved"
        )?;
    }
    if failed {
        let steps = if frozen.all_steps {
            String::new()
        } else {
            format!(
                " {}",
                current
                    .steps
                    .iter()
                    .map(|s| shell_word(s))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        writeln!(s.out)?;
        writeln!(
            s.out,
            "why:         {}",
            esc(&format!(
                "pipeline-deps {} resolve {}{steps} --explain",
                db_option(&s.db),
                shell_word(context)
            ))
        )?;
        writeln!(
            s.out,
            "if intended: {}",
            snapshot_command(&s.db, &current, context, file)
        )?;
    }
    Ok(status)
}
