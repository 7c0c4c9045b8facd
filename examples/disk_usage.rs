//! Bytes on disk per context and per specification.
//!
//! Builds four databases in a temporary directory (empty; N empty contexts; N contexts
//! holding one spec each; one context holding M specs), compacts each and prints the file
//! sizes and the cost per context and per spec. The specs cycle through the real cursus
//! specifications (the seven of the design's example, or every one of the document given
//! with `--fixture`).
//!
//! Run: `cargo run --release --example disk_usage -- [--contexts N] [--specs M] [--fixture PATH]`
//! (defaults: 1,000 contexts, 10,000 specs).

use std::path::Path;

#[path = "support/specs.rs"]
mod specs;

use pipeline_deps::transfer::parse_steps_json;
use pipeline_deps::{ImportOptions, RegistryManager, StepSpecification};

type Error = Box<dyn std::error::Error>;

struct Args {
    contexts: usize,
    specs: usize,
    fixture: Option<String>,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        contexts: 1_000,
        specs: 10_000,
        fixture: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--contexts" => args.contexts = value.parse()?,
            "--specs" => args.specs = value.parse()?,
            "--fixture" => args.fixture = Some(value),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if args.contexts == 0 || args.specs == 0 {
        return Err("--contexts and --specs must be at least 1".into());
    }
    Ok(args)
}

/// Opens a fresh database at `path`, lets `fill` write into it, then reports its size as
/// written and after compaction.
fn measure(
    path: &Path,
    fill: impl FnOnce(&RegistryManager) -> pipeline_deps::Result<()>,
) -> Result<(u64, u64), Error> {
    let manager = RegistryManager::open(path)?;
    fill(&manager)?;
    let written = std::fs::metadata(path)?.len();
    manager.compact()?;
    drop(manager);
    Ok((written, std::fs::metadata(path)?.len()))
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let real: Vec<StepSpecification> = match &args.fixture {
        Some(path) => parse_steps_json(&std::fs::read_to_string(path)?, &ImportOptions::default())?
            .into_iter()
            .map(|(_, spec)| spec)
            .collect(),
        None => specs::design_specs(None)?
            .into_iter()
            .map(|(_, spec)| spec)
            .collect(),
    };
    if real.is_empty() {
        return Err("the specification document has no steps".into());
    }
    let spec = |i: usize| &real[i % real.len()];
    let json_bytes: usize = (0..args.specs)
        .map(|i| serde_json::to_vec(spec(i)).map(|v| v.len()))
        .sum::<Result<_, _>>()?;

    let dir = tempfile::tempdir()?;
    let empty = measure(&dir.path().join("empty.redb"), |_| Ok(()))?;
    let contexts = measure(&dir.path().join("contexts.redb"), |m| {
        for i in 0..args.contexts {
            m.get_registry(&format!("context_{i:06}"))?;
        }
        Ok(())
    })?;
    let one_spec = measure(&dir.path().join("one-spec.redb"), |m| {
        for i in 0..args.contexts {
            m.get_registry(&format!("context_{i:06}"))?
                .register("step", spec(i))?;
        }
        Ok(())
    })?;
    let many = measure(&dir.path().join("many.redb"), |m| {
        let names: Vec<String> = (0..args.specs).map(|i| format!("step_{i:06}")).collect();
        m.get_registry("bulk")?
            .register_many(names.iter().enumerate().map(|(i, n)| (n.as_str(), spec(i))))?;
        Ok(())
    })?;

    let per = |total: (u64, u64), n: usize| {
        let n = n as f64;
        (
            total.0.saturating_sub(empty.0) as f64 / n,
            total.1.saturating_sub(empty.1) as f64 / n,
        )
    };
    println!(
        "Bytes on disk ({} real specs cycled; sizes as written / after compact)",
        real.len()
    );
    println!("| database | as written | compacted |");
    println!("|---|---:|---:|");
    println!("| empty | {} | {} |", empty.0, empty.1);
    println!(
        "| {} empty contexts | {} | {} |",
        args.contexts, contexts.0, contexts.1
    );
    println!(
        "| {} contexts x 1 spec | {} | {} |",
        args.contexts, one_spec.0, one_spec.1
    );
    println!(
        "| 1 context x {} specs | {} | {} |",
        args.specs, many.0, many.1
    );
    let (a, b) = per(contexts, args.contexts);
    println!("Per empty context: {a:.0} bytes as written, {b:.0} bytes compacted");
    let (a, b) = per(one_spec, args.contexts);
    println!("Per context holding one spec: {a:.0} bytes as written, {b:.0} bytes compacted");
    let (a, b) = per(many, args.specs);
    println!("Per spec (one context): {a:.0} bytes as written, {b:.0} bytes compacted");
    println!(
        "Average spec as compact JSON: {:.0} bytes",
        json_bytes as f64 / args.specs as f64
    );
    Ok(())
}
