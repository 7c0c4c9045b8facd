//! The read commands: `contexts`, `stats`, `show` and `types`.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use pipeline_deps::spec::SpecProblem;
use pipeline_deps::{ContextStats, RegistryManager, StepSpecification};
use serde::Serialize;
use serde_json::json;

use crate::commands::{Session, existing_context, file_size, list_preview, open_read};
use crate::output::{self, Table, bytes, field};
use crate::{Failure, Status};

/// `contexts`: context names in creation order with their counts.
pub fn contexts(s: &mut Session<'_>) -> Result<Status, Failure> {
    let manager = open_read(&s.db)?;
    let stats = manager.get_context_stats()?;
    if s.json {
        let list: Vec<_> = stats
            .iter()
            .map(|(name, st)| {
                json!({
                    "name": name,
                    "step_count": st.step_count,
                    "step_type_count": st.step_type_count,
                })
            })
            .collect();
        output::json(s.out, &json!({"database": s.db, "contexts": list}))?;
        return Ok(Status::Ok);
    }
    if stats.is_empty() {
        writeln!(s.out, "no contexts in {}", s.db.display())?;
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

#[derive(Serialize)]
struct StatsReport<'a> {
    database: &'a Path,
    file_size_bytes: u64,
    totals: Totals,
    contexts: IndexMap<String, ContextStats>,
}

#[derive(Serialize)]
struct Totals {
    contexts: usize,
    steps: usize,
    step_types: usize,
}

fn totals(contexts: &IndexMap<String, ContextStats>) -> Totals {
    Totals {
        contexts: contexts.len(),
        steps: contexts.values().map(|c| c.step_count).sum(),
        step_types: contexts.values().map(|c| c.step_type_count).sum(),
    }
}

/// The `stats --json` document.
pub fn stats_report(db: &Path, manager: &RegistryManager) -> Result<serde_json::Value, Failure> {
    let contexts = manager.get_context_stats()?;
    let report = StatsReport {
        database: db,
        file_size_bytes: file_size(db),
        totals: totals(&contexts),
        contexts,
    };
    Ok(serde_json::to_value(report).map_err(io::Error::other)?)
}

/// `stats`: the design's monitoring report (totals, per-context counts) and the file size.
pub fn stats(s: &mut Session<'_>, manager: &RegistryManager) -> Result<Status, Failure> {
    if s.json {
        let report = stats_report(&s.db, manager)?;
        output::json(s.out, &report)?;
        return Ok(Status::Ok);
    }
    let contexts = manager.get_context_stats()?;
    let totals = totals(&contexts);
    let size = file_size(&s.db);
    let path = std::fs::canonicalize(&s.db).unwrap_or_else(|_| s.db.clone());
    field(s.out, 0, "database", &path.display().to_string())?;
    field(s.out, 0, "file size", &bytes(size))?;
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
    for (name, st) in &contexts {
        table.row(vec![
            name.clone(),
            st.step_count.to_string(),
            st.step_type_count.to_string(),
            st.registry_type.to_owned(),
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

fn step_summary(name: &str, spec: &StepSpecification) -> serde_json::Value {
    json!({
        "step_name": name,
        "step_type": spec.step_type,
        "node_type": spec.node_type,
        "dependency_count": spec.dependencies.len(),
        "required_dependency_count": spec.list_required_dependencies().len(),
        "output_count": spec.outputs.len(),
    })
}

/// `show CONTEXT [STEP]`: the steps of a context, or one specification in full.
pub fn show(s: &mut Session<'_>, context: &str, step: Option<&str>) -> Result<Status, Failure> {
    let manager = open_read(&s.db)?;
    let registry = existing_context(&manager, context)?;
    let Some(step) = step else {
        let steps: Vec<_> = registry.iter()?.collect();
        if s.json {
            let list: Vec<_> = steps.iter().map(|(n, sp)| step_summary(n, sp)).collect();
            output::json(s.out, &json!({"context": context, "steps": list}))?;
            return Ok(Status::Ok);
        }
        let types: HashSet<&str> = steps.iter().map(|(_, sp)| sp.step_type.as_str()).collect();
        writeln!(
            s.out,
            "context '{context}': {} step(s), {} type(s)",
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
        let names = registry.list_step_names()?;
        return Err(Failure::Invalid(format!(
            "step '{step}' is not registered in context '{context}'; its steps are: {}",
            if names.is_empty() {
                "(none)".to_owned()
            } else {
                list_preview(&names, 10)
            }
        )));
    };
    let warnings = spec.lint(step);
    if s.json {
        let mut value = serde_json::to_value(spec.as_ref()).map_err(io::Error::other)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("context".into(), json!(context));
            map.insert("step_name".into(), json!(step));
            map.insert(
                "warnings".into(),
                warnings
                    .iter()
                    .map(|w| json!({"field": w.field, "message": w.message}))
                    .collect(),
            );
        }
        output::json(s.out, &value)?;
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
    field(out, 0, "step", step)?;
    field(out, 0, "context", context)?;
    field(out, 0, "step type", &spec.step_type)?;
    field(out, 0, "node type", spec.node_type.as_str())?;
    writeln!(out)?;
    writeln!(out, "dependencies ({})", spec.dependencies.len())?;
    for (key, dep) in &spec.dependencies {
        writeln!(out, "  {key}")?;
        let required = if dep.required { "required" } else { "optional" };
        field(
            out,
            4,
            "type",
            &format!("{} ({required})", dep.dependency_type),
        )?;
        field(out, 4, "data type", &dep.data_type)?;
        field(
            out,
            4,
            "compatible sources",
            &dep.compatible_sources.join(", "),
        )?;
        field(
            out,
            4,
            "semantic keywords",
            &dep.semantic_keywords.join(", "),
        )?;
        field(out, 4, "description", &dep.description)?;
    }
    writeln!(out)?;
    writeln!(out, "outputs ({})", spec.outputs.len())?;
    for (key, o) in &spec.outputs {
        writeln!(out, "  {key}")?;
        field(out, 4, "type", o.output_type.as_str())?;
        field(out, 4, "data type", &o.data_type)?;
        field(out, 4, "property path", &o.property_path)?;
        field(out, 4, "aliases", &o.aliases.join(", "))?;
        field(out, 4, "semantic keywords", &o.semantic_keywords.join(", "))?;
        field(out, 4, "description", &o.description)?;
    }
    if !warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "warnings ({})", warnings.len())?;
        for w in warnings {
            field(out, 2, &w.field, &w.message)?;
        }
    }
    Ok(())
}

/// `types CONTEXT [TYPE]`: step types in first-seen order and their steps.
pub fn types(s: &mut Session<'_>, context: &str, only: Option<&str>) -> Result<Status, Failure> {
    let manager = open_read(&s.db)?;
    let registry = existing_context(&manager, context)?;
    let steps: Vec<_> = registry.iter()?.collect();
    let mut by_type: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for (name, spec) in &steps {
        by_type
            .entry(spec.step_type.as_str())
            .or_default()
            .push(name.as_str());
    }
    if let Some(only) = only {
        if !by_type.contains_key(only) {
            let known: Vec<String> = by_type.keys().map(|t| (*t).to_owned()).collect();
            return Err(Failure::Invalid(format!(
                "no step of context '{context}' has step type '{only}'; its types are: {}",
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    list_preview(&known, 10)
                }
            )));
        }
        by_type.retain(|t, _| *t == only);
    }
    if s.json {
        let list: Vec<_> = by_type
            .iter()
            .map(|(t, names)| json!({"step_type": t, "steps": names}))
            .collect();
        output::json(s.out, &json!({"context": context, "types": list}))?;
        return Ok(Status::Ok);
    }
    if let Some(only) = only {
        let members: Vec<_> = steps
            .iter()
            .filter(|(_, spec)| spec.step_type == only)
            .cloned()
            .collect();
        writeln!(
            s.out,
            "step type '{only}' in context '{context}': {} step(s)",
            members.len()
        )?;
        writeln!(s.out)?;
        step_table(&members).write(s.out)?;
        return Ok(Status::Ok);
    }
    if by_type.is_empty() {
        writeln!(s.out, "context '{context}' has no steps")?;
        return Ok(Status::Ok);
    }
    let mut table = Table::new(&["STEP TYPE", "COUNT", "STEPS"]).right(&[1]);
    for (t, names) in &by_type {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        table.row(vec![
            (*t).to_owned(),
            names.len().to_string(),
            list_preview(&names, 4),
        ]);
    }
    table.write(s.out)?;
    Ok(Status::Ok)
}
