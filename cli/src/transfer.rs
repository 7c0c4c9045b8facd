//! Moving specifications in and out: `export`, `import` and `demo`.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use pipeline_deps::ImportOptions;
use serde::Serialize;

use crate::commands::{
    Session, existing_context, is_standard_output, list_preview, open_read, open_write,
    refuse_standard_error, write_atomically_with, write_watched,
};
use crate::input::{read_input, read_input_with};
use crate::inspect::{StatsReport, stats, stats_report};
use crate::json::{self, JsonPath, schema};
use crate::output::{esc, esc_name, path_text, short, shown_path};
use crate::progress::{LARGE_BYTES, LARGE_STEPS, Progress};
use crate::{Failure, Status};

/// The `export -o FILE --json` document.
#[derive(Serialize)]
struct ExportReport<'a> {
    context: &'a str,
    file: JsonPath,
    step_count: usize,
}

/// The `import --json` document.
#[derive(Serialize)]
struct ImportReport<'a> {
    context: &'a str,
    file: JsonPath,
    /// Steps written (new + replaced).
    imported: usize,
    new: usize,
    replaced: usize,
    /// Steps in the context afterwards.
    step_count: usize,
    /// Whether anything was committed (false: every step held the spec given already).
    written: bool,
}

/// The `demo --json` document: what was built, then the stats document's fields.
#[derive(Serialize)]
struct DemoReport<'a> {
    source: &'a str,
    steps_registered: usize,
    built: Vec<Built<'a>>,
    #[serde(flatten)]
    stats: StatsReport,
}

/// A context the demo built, and the steps it registered there.
#[derive(Serialize)]
struct Built<'a> {
    name: &'a str,
    steps: &'a [String],
}

/// `export CONTEXT [-o FILE]`: the export format on standard output or, atomically, in a
/// file (a FILE that is standard output, such as `/dev/stdout`, is standard output; one that
/// is standard error is refused).
pub fn export(
    s: &mut Session<'_>,
    context: &str,
    output: Option<&Path>,
) -> Result<Status, Failure> {
    if let Some(path) = output {
        refuse_standard_error(path)?;
    }
    let manager = open_read(&s.db)?;
    let registry = existing_context(&manager, context)?;
    let progress = Progress::spinner(
        s.progress && registry.len()? >= LARGE_STEPS,
        format!("exporting context '{}'", short(context)),
    );
    // Written as it is read, from one snapshot: neither the text nor every specification
    // is held. The count is the steps written, which later writes cannot change.
    let write = |out: &mut dyn Write| -> Result<usize, Failure> {
        let steps = registry.export_json_to(&mut *out)?;
        out.write_all(b"\n")?;
        Ok(steps)
    };
    let (written, path) = match output {
        // Standard output named as a file (`-o /dev/stdout`) is standard output: the export
        // alone, no report after it (under --json, two documents).
        Some(path) if path != Path::new("-") && !is_standard_output(path) => {
            (write_atomically_with(&s.db, path, write), Some(path))
        }
        // A failure of standard output is reported as such (a closed pipe ends quietly).
        _ => (write_watched(&mut *s.out, write, Failure::from), None),
    };
    progress.finish();
    let steps = written?;
    if let Some(path) = path {
        if s.json {
            let report = ExportReport {
                context,
                file: JsonPath::shown(path),
                step_count: steps,
            };
            json::write(s.out, schema::EXPORT, &s.db, &report)?;
        } else {
            writeln!(
                s.out,
                "exported {steps} step(s) of context '{}' to {}",
                esc_name(context),
                path_text(path)
            )?;
        }
    }
    Ok(Status::Ok)
}

/// `import CONTEXT FILE [--replace] [--variant JOB_TYPE]`: all or nothing.
pub fn import(
    s: &mut Session<'_>,
    context: &str,
    file: &Path,
    replace: bool,
    variant: Option<String>,
    allow_unknown_fields: bool,
) -> Result<Status, Failure> {
    let mut options = ImportOptions::new()
        .replace(replace)
        .allow_unknown_fields(allow_unknown_fields);
    if let Some(job_type) = variant {
        options = options.variant(job_type);
    }
    // Parsed once here; the library validates once and writes the context (created if
    // missing) and its steps in one transaction, so a failure or a crash leaves nothing.
    let parsed = read_input_with(file, s.progress).and_then(|text| {
        let progress = Progress::spinner(
            s.progress && text.len() as u64 >= LARGE_BYTES,
            format!("validating {}", path_text(file)),
        );
        let steps = pipeline_deps::transfer::parse_steps_json_located(&text, &options);
        progress.finish();
        steps.map_err(|refusal| {
            // The step the refusal is about, exactly (the message shows it escaped).
            if let Some(step) = refusal.step {
                let _ = json::INPUT_STEP.set(step);
            }
            Failure::from(refusal.error)
        })
    });
    let steps = parsed?;
    let manager = open_write(&s.db, true)?;
    if !replace && let Some(registry) = manager.get_registry_if_exists(context)? {
        let before: HashSet<String> = registry.list_step_names()?.into_iter().collect();
        let taken: Vec<String> = steps
            .iter()
            .filter(|(n, _)| before.contains(n))
            .map(|(n, _)| n.clone())
            .collect();
        if let Some(first) = taken.first() {
            return Err(Failure::Missing(Box::new(crate::Missing {
                kind: "already_registered",
                context: context.to_owned(),
                name: Some(first.clone()),
                message: format!(
                    "{} step(s) of {} are already registered in context '{}': {}; nothing was imported. Pass --replace to replace them",
                    taken.len(),
                    path_text(file),
                    short(context),
                    list_preview(&taken, 5)
                ),
            })));
        }
    }
    let progress = Progress::spinner(
        s.progress && steps.len() >= LARGE_STEPS,
        format!(
            "importing {} step(s) into '{}' in one transaction",
            steps.len(),
            short(context)
        ),
    );
    let result = manager.import_steps(context, &steps, replace);
    progress.finish();
    // A step another writer registered since the look above (on a server): the same
    // refusal, with the same JSON kind, context and step.
    let summary = result.map_err(|e| match e {
        pipeline_deps::Error::AlreadyRegistered { step, .. } => {
            Failure::Missing(Box::new(crate::Missing {
                kind: "already_registered",
                context: context.to_owned(),
                message: format!(
                    "step '{}' is already registered in context '{}'; nothing was imported. Pass --replace to replace existing steps",
                    short(&step),
                    short(context)
                ),
                name: Some(step),
            }))
        }
        other => other.into(),
    })?;
    let imported = summary.new + summary.replaced;
    let (replaced, total) = (summary.replaced, summary.step_count);
    if s.json {
        let report = ImportReport {
            context,
            file: JsonPath::shown(file),
            imported,
            new: summary.new,
            replaced,
            step_count: total,
            written: summary.written,
        };
        json::write(s.out, schema::IMPORT, &s.db, &report)?;
    } else if !summary.written && imported > 0 {
        writeln!(
            s.out,
            "context '{}' holds these {imported} step(s) already, each with the spec given; nothing was written. It has {total} step(s)",
            esc_name(context)
        )?;
    } else {
        writeln!(
            s.out,
            "imported {imported} step(s) into context '{}' ({} new, {replaced} replaced); it now has {total} step(s)",
            esc_name(context),
            summary.new
        )?;
    }
    Ok(Status::Ok)
}

/// `demo [--specs FILE]`: the design's example contexts from real specifications, then
/// the stats.
pub fn demo(s: &mut Session<'_>, specs: Option<&Path>) -> Result<Status, Failure> {
    let document = specs.map(read_input).transpose()?;
    let manager = open_write(&s.db, true)?;
    let summary = crate::demo::build_demo(&manager, document.as_deref())?;
    let source = match specs {
        Some(path) => shown_path(path).display().to_string(),
        None => "the excerpt of cursus-step-specs.json built into pipeline-deps".to_owned(),
    };
    if s.json {
        let report = DemoReport {
            source: &source,
            steps_registered: summary.steps_registered(),
            built: summary
                .contexts
                .iter()
                .map(|c| Built {
                    name: &c.name,
                    steps: &c.steps,
                })
                .collect(),
            stats: stats_report(&s.db, &manager)?,
        };
        json::write(s.out, schema::DEMO, &s.db, &report)?;
        return Ok(Status::Ok);
    }
    writeln!(
        s.out,
        "built the design's {} example contexts from {} real cursus step specifications",
        summary.contexts.len(),
        summary.steps_registered()
    )?;
    writeln!(s.out, "({}):", esc(&source))?;
    for line in summary.to_string().lines() {
        writeln!(s.out, "{}", esc(line))?;
    }
    writeln!(s.out)?;
    stats(s, &manager)
}
