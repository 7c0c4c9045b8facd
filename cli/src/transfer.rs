//! Moving specifications in and out: `export`, `import` and `demo`.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pipeline_deps::ImportOptions;
use serde_json::json;

use crate::commands::{
    Session, existing_context, list_preview, open_read, open_write, read_input, write_atomically,
};
use crate::inspect::{stats, stats_report};
use crate::output;
use crate::{Failure, Status};

/// `export CONTEXT [-o FILE]`: the export format on standard output or, atomically, in a
/// file.
pub fn export(
    s: &mut Session<'_>,
    context: &str,
    output: Option<&Path>,
) -> Result<Status, Failure> {
    let manager = open_read(&s.db)?;
    let registry = existing_context(&manager, context)?;
    let mut text = registry.export_json()?;
    text.push('\n');
    match output {
        None => s.out.write_all(text.as_bytes())?,
        Some(path) if path == Path::new("-") => s.out.write_all(text.as_bytes())?,
        Some(path) => {
            write_atomically(path, text.as_bytes())?;
            let steps = registry.len()?;
            if s.json {
                output::json(
                    s.out,
                    &json!({"context": context, "file": path, "step_count": steps}),
                )?;
            } else {
                writeln!(
                    s.out,
                    "exported {steps} step(s) of context '{context}' to {}",
                    path.display()
                )?;
            }
        }
    }
    Ok(Status::Ok)
}

/// Elapsed-time feedback on standard error while a long phase runs, on a terminal only.
struct Progress {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Shows `label… 1.2 s` after half a second, updated until [`Progress::finish`].
    fn start(label: String) -> Progress {
        if !crate::stderr_is_terminal() {
            return Progress {
                stop: None,
                thread: None,
            };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut shown = false;
            let tick = Duration::from_millis(200);
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(tick) {
                let elapsed = started.elapsed();
                if elapsed >= Duration::from_millis(500) {
                    let _ = write!(io::stderr(), "\r{label}… {:.1} s", elapsed.as_secs_f64());
                    shown = true;
                }
            }
            if shown {
                let _ = write!(io::stderr(), "\r\x1b[2K");
            }
        });
        Progress {
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// Stops the feedback and clears its line.
    fn finish(mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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
    let progress = Progress::start(format!("reading {}", file.display()));
    let parsed =
        read_input(file).and_then(|text| Ok(pipeline_deps::parse_steps_json(&text, &options)?));
    progress.finish();
    let steps = parsed?;
    let manager = open_write(&s.db, true)?;
    if !replace && let Some(registry) = manager.get_registry_if_exists(context)? {
        let before: HashSet<String> = registry.list_step_names()?.into_iter().collect();
        let taken: Vec<String> = steps
            .iter()
            .filter(|(n, _)| before.contains(n))
            .map(|(n, _)| n.clone())
            .collect();
        if !taken.is_empty() {
            return Err(Failure::Invalid(format!(
                "{} step(s) of {} are already registered in context '{context}': {}; nothing was imported. Pass --replace to replace them",
                taken.len(),
                file.display(),
                list_preview(&taken, 5)
            )));
        }
    }
    let progress = Progress::start(format!(
        "importing {} step(s) into '{context}' in one transaction",
        steps.len()
    ));
    let result = manager.import_steps(context, &steps, replace);
    progress.finish();
    let summary = result.map_err(|e| match e {
        pipeline_deps::Error::AlreadyRegistered { step, .. } => Failure::Invalid(format!(
            "step '{step}' is already registered in context '{context}'; nothing was imported. Pass --replace to replace existing steps"
        )),
        other => other.into(),
    })?;
    let imported = summary.new + summary.replaced;
    let (replaced, total) = (summary.replaced, summary.step_count);
    if s.json {
        output::json(
            s.out,
            &json!({
                "context": context,
                "imported": imported,
                "new": summary.new,
                "replaced": replaced,
                "step_count": total,
            }),
        )?;
    } else {
        writeln!(
            s.out,
            "imported {imported} step(s) into context '{context}' ({} new, {replaced} replaced); it now has {total} step(s)",
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
    let summary = pipeline_deps::build_demo(&manager, document.as_deref())?;
    let source = match specs {
        Some(path) => path.display().to_string(),
        None => "the excerpt of cursus-step-specs.json built into pipeline-deps".to_owned(),
    };
    if s.json {
        let contexts: Vec<_> = summary
            .contexts
            .iter()
            .map(|c| json!({"name": c.name, "steps": c.steps}))
            .collect();
        let mut report = stats_report(&s.db, &manager)?;
        if let Some(map) = report.as_object_mut() {
            map.insert(
                "demo".into(),
                json!({
                    "source": source,
                    "steps_registered": summary.steps_registered(),
                    "contexts": contexts,
                }),
            );
        }
        output::json(s.out, &report)?;
        return Ok(Status::Ok);
    }
    writeln!(
        s.out,
        "built the design's {} example contexts from {} real cursus step specifications",
        summary.contexts.len(),
        summary.steps_registered()
    )?;
    writeln!(s.out, "({source}):")?;
    write!(s.out, "{summary}")?;
    writeln!(s.out)?;
    stats(s, &manager)
}
