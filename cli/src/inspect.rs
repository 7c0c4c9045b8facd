//! The read commands: `contexts`, `stats`, `show` and `types`.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use pipeline_deps::spec::SpecProblem;
use pipeline_deps::{RegistryManager, StepSpecification};
use serde::Serialize;

use crate::commands::{
    Session, existing_context, file_size, list_preview, missing, open_read, server_url,
    unknown_step,
};
use crate::json::{self, Context, Problem, Totals, schema};
use crate::output::{
    Table, bytes, esc, esc_name, field, field_name, field_names, field_whole, max_width, path_text,
    short, shown_name, wrap,
};
use crate::{Failure, Status};

/// The `contexts --json` document.
#[derive(Serialize)]
struct ContextsReport {
    contexts: Vec<Context>,
}

/// `contexts`: context names in creation order with their counts.
pub fn contexts(s: &mut Session<'_>) -> Result<Status, Failure> {
    let manager = open_read(&s.db)?;
    let stats = manager.get_context_stats()?;
    if s.json {
        let report = ContextsReport {
            contexts: Context::list(&stats),
        };
        json::write(s.out, schema::CONTEXTS, &s.db, &report)?;
        return Ok(Status::Ok);
    }
    if stats.is_empty() {
        writeln!(s.out, "no contexts in {}", path_text(&s.db))?;
        return Ok(Status::Ok);
    }
    let mut table = Table::new(&["CONTEXT", "STEPS", "TYPES"]).right(&[1, 2]);
    for (name, st) in &stats {
        table.row(vec![
            name.clone(),
            st.step_count.to_string(),
            st.step_type_count.to_string(),
        ]);
    }
    table.write(s.out)?;
    Ok(Status::Ok)
}

/// The `stats --json` document (without its schema and database).
#[derive(Serialize)]
pub struct StatsReport {
    /// `None` (JSON `null`) for a PostgreSQL server, which has no file.
    file_size_bytes: Option<u64>,
    totals: Totals,
    contexts: Vec<Context>,
}

/// The statistics of the database `db` that `manager` has open.
pub fn stats_report(db: &Path, manager: &RegistryManager) -> Result<StatsReport, Failure> {
    let contexts = Context::list(&manager.get_context_stats()?);
    Ok(StatsReport {
        file_size_bytes: server_url(db).is_none().then(|| file_size(db)),
        totals: Totals::of(&contexts),
        contexts,
    })
}

/// `stats`: the design's monitoring report (totals, per-context counts) and the file size (a
/// server database has none).
pub fn stats(s: &mut Session<'_>, manager: &RegistryManager) -> Result<Status, Failure> {
    let report = stats_report(&s.db, manager)?;
    if s.json {
        json::write(s.out, schema::STATS, &s.db, &report)?;
        return Ok(Status::Ok);
    }
    let StatsReport {
        file_size_bytes: size,
        totals,
        contexts,
    } = report;
    field_whole(s.out, "database", &path_text(&s.db))?;
    if let Some(size) = size {
        field(s.out, 0, "file size", &bytes(size))?;
    }
    field(s.out, 0, "contexts", &totals.contexts.to_string())?;
    field(s.out, 0, "steps", &totals.steps.to_string())?;
    field(
        s.out,
        0,
        "step types",
        &format!("{} (summed over contexts)", totals.step_types),
    )?;
    if contexts.is_empty() {
        return Ok(Status::Ok);
    }
    writeln!(s.out)?;
    let mut table = Table::new(&["CONTEXT", "STEPS", "TYPES", "REGISTRY"]).right(&[1, 2]);
    for c in &contexts {
        table.row(vec![
            c.name.clone(),
            c.stats.step_count.to_string(),
            c.stats.step_type_count.to_string(),
            c.stats.registry_type.to_owned(),
        ]);
    }
    table.write(s.out)?;
    Ok(Status::Ok)
}

fn step_table(steps: &[(String, Arc<StepSpecification>)]) -> Table {
    let mut table =
        Table::new(&["STEP", "STEP TYPE", "NODE", "DEPS", "REQUIRED", "OUTPUTS"]).right(&[3, 4, 5]);
    for (name, spec) in steps {
        table.row(vec![
            name.clone(),
            spec.step_type.clone(),
            spec.node_type.to_string(),
            spec.dependencies.len().to_string(),
            spec.list_required_dependencies().len().to_string(),
            spec.outputs.len().to_string(),
        ]);
    }
    table
}

/// A step in a list: its name, types and counts.
#[derive(Serialize)]
struct StepSummary<'a> {
    step_name: &'a str,
    step_type: &'a str,
    node_type: &'a str,
    dependency_count: usize,
    required_dependency_count: usize,
    output_count: usize,
}

fn step_summary<'a>(name: &'a str, spec: &'a StepSpecification) -> StepSummary<'a> {
    StepSummary {
        step_name: name,
        step_type: &spec.step_type,
        node_type: spec.node_type.as_str(),
        dependency_count: spec.dependencies.len(),
        required_dependency_count: spec.list_required_dependencies().len(),
        output_count: spec.outputs.len(),
    }
}

/// The `show CONTEXT --json` document.
#[derive(Serialize)]
struct StepsReport<'a> {
    context: &'a str,
    steps: Vec<StepSummary<'a>>,
}

/// The `show CONTEXT STEP --json` document: the step as the export format has it (its
/// name, then the specification's fields), its context and the lint warnings.
#[derive(Serialize)]
struct StepReport<'a> {
    context: &'a str,
    step_name: &'a str,
    #[serde(flatten)]
    specification: &'a StepSpecification,
    warnings: Vec<Problem>,
}

/// The `types CONTEXT --json` document.
#[derive(Serialize)]
struct TypesReport<'a> {
    context: &'a str,
    types: Vec<TypeEntry<'a>>,
}

#[derive(Serialize)]
struct TypeEntry<'a> {
    step_type: &'a str,
    steps: &'a [String],
}

/// `show CONTEXT [STEP]`: the steps of a context, or one specification in full.
pub fn show(s: &mut Session<'_>, context: &str, step: Option<&str>) -> Result<Status, Failure> {
    let manager = open_read(&s.db)?;
    let registry = existing_context(&manager, context)?;
    let Some(step) = step else {
        let steps: Vec<_> = registry.iter()?.collect();
        if s.json {
            let report = StepsReport {
                context,
                steps: steps.iter().map(|(n, sp)| step_summary(n, sp)).collect(),
            };
            json::write(s.out, schema::STEPS, &s.db, &report)?;
            return Ok(Status::Ok);
        }
        let types: HashSet<&str> = steps.iter().map(|(_, sp)| sp.step_type.as_str()).collect();
        writeln!(
            s.out,
            "context '{}': {} step(s), {} type(s)",
            esc_name(context),
            steps.len(),
            types.len()
        )?;
        if !steps.is_empty() {
            writeln!(s.out)?;
            step_table(&steps).write(s.out)?;
        }
        return Ok(Status::Ok);
    };
    let Some(spec) = registry.get_specification(step)? else {
        return Err(unknown_step(&registry, context, step)?);
    };
    let warnings = spec.lint(step);
    if s.json {
        let report = StepReport {
            context,
            step_name: step,
            specification: &spec,
            warnings: warnings.iter().map(Problem::from).collect(),
        };
        json::write(s.out, schema::STEP, &s.db, &report)?;
        return Ok(Status::Ok);
    }
    write_spec(s.out, context, step, &spec, &warnings)?;
    Ok(Status::Ok)
}

fn write_spec(
    out: &mut dyn Write,
    context: &str,
    step: &str,
    spec: &StepSpecification,
    warnings: &[SpecProblem],
) -> io::Result<()> {
    field_name(out, 0, "step", step)?;
    field_name(out, 0, "context", context)?;
    field_name(out, 0, "step type", &spec.step_type)?;
    field(out, 0, "node type", spec.node_type.as_str())?;
    writeln!(out)?;
    writeln!(out, "dependencies ({})", spec.dependencies.len())?;
    for (key, dep) in &spec.dependencies {
        writeln!(out, "  {}", shown_name(key))?;
        let required = if dep.required { "required" } else { "optional" };
        field(
            out,
            4,
            "type",
            &format!("{} ({required})", dep.dependency_type),
        )?;
        field(out, 4, "data type", &dep.data_type)?;
        field_names(out, 4, "compatible sources", &dep.compatible_sources)?;
        field_names(out, 4, "semantic keywords", &dep.semantic_keywords)?;
        field(out, 4, "description", &dep.description)?;
    }
    writeln!(out)?;
    writeln!(out, "outputs ({})", spec.outputs.len())?;
    for (key, o) in &spec.outputs {
        writeln!(out, "  {}", shown_name(key))?;
        field(out, 4, "type", o.output_type.as_str())?;
        field(out, 4, "data type", &o.data_type)?;
        field(out, 4, "property path", &o.property_path)?;
        field_names(out, 4, "aliases", &o.aliases)?;
        field_names(out, 4, "semantic keywords", &o.semantic_keywords)?;
        field(out, 4, "description", &o.description)?;
    }
    if !warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "warnings ({})", warnings.len())?;
        // As an import lists its problems: the field, then what is wrong with it, wrapped
        // under the first line. (A field name as a label ran into the message: field names
        // such as `outputs.graph_data.aliases` are wider than the label column.)
        for w in warnings {
            let text = format!("{}: {}", short(&w.field), esc(&w.message));
            for (i, line) in wrap(&text, max_width().saturating_sub(4))
                .iter()
                .enumerate()
            {
                let lead = if i == 0 { "  - " } else { "    " };
                writeln!(out, "{lead}{line}")?;
            }
        }
    }
    Ok(())
}

/// `types CONTEXT [TYPE]`: step types in the order of their first step in registration
/// order, and their steps, read from the step-type index alone (no specification is
/// decoded: `SpecificationRegistry::step_names_by_type`).
pub fn types(s: &mut Session<'_>, context: &str, only: Option<&str>) -> Result<Status, Failure> {
    let manager = open_read(&s.db)?;
    let registry = existing_context(&manager, context)?;
    if let Some(only) = only {
        return one_type(s, &registry, context, only);
    }
    let by_type = registry.step_names_by_type()?;
    if s.json {
        let report = TypesReport {
            context,
            types: by_type
                .iter()
                .map(|(t, names)| TypeEntry {
                    step_type: t,
                    steps: names,
                })
                .collect(),
        };
        json::write(s.out, schema::TYPES, &s.db, &report)?;
        return Ok(Status::Ok);
    }
    if by_type.is_empty() {
        writeln!(s.out, "context '{}' has no steps", esc_name(context))?;
        return Ok(Status::Ok);
    }
    let mut table = Table::new(&["STEP TYPE", "COUNT", "STEPS"]).right(&[1]);
    for (t, names) in &by_type {
        table.row(vec![
            t.clone(),
            names.len().to_string(),
            list_preview(names, 4),
        ]);
    }
    table.write(s.out)?;
    Ok(Status::Ok)
}

/// `types CONTEXT TYPE`: the steps of one type, read through the step-type index (only
/// their records are decoded, whatever the context's size).
fn one_type(
    s: &mut Session<'_>,
    registry: &pipeline_deps::SpecificationRegistry,
    context: &str,
    only: &str,
) -> Result<Status, Failure> {
    let members = registry.get_steps_by_type(only)?;
    if members.is_empty() {
        let known = registry.list_step_types()?;
        return Err(missing(
            "unknown_step_type",
            context,
            Some(only),
            format!(
                "no step of context '{}' has step type '{}'; its types are: {}",
                short(context),
                short(only),
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    list_preview(&known, 10)
                }
            ),
        ));
    }
    if s.json {
        let names: Vec<String> = members.iter().map(|(name, _)| name.clone()).collect();
        let report = TypesReport {
            context,
            types: vec![TypeEntry {
                step_type: only,
                steps: &names,
            }],
        };
        json::write(s.out, schema::TYPES, &s.db, &report)?;
        return Ok(Status::Ok);
    }
    writeln!(
        s.out,
        "step type '{}' in context '{}': {} step(s)",
        esc_name(only),
        esc_name(context),
        members.len()
    )?;
    writeln!(s.out)?;
    step_table(&members).write(s.out)?;
    Ok(Status::Ok)
}
