//! Invariant: SIGKILL of a writing command at any moment — `import` into a new context and
//! with `--replace` (including inside long imports), `clear`, `compact`, `check --repair` —
//! leaves a file that read-only commands open at once (before any writer has recovered it),
//! in which every context is whole (all of an import or none of it: never an empty new
//! context, never a mix of old and new specs), the catalog counts equal a recount of the
//! exported steps, and `check` is clean.
//!
//! Default: a few dozen kills inside imports of a few thousand specs;
//! `PIPELINE_DEPS_ADVERSARIAL=heavy`: hundreds of kills inside imports of tens of thousands.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Rng, TestResult, run, s, scale, seed, temp_dir, write_file};

/// What a context must hold: `count` steps named `{prefix}{i}`, all of one of `versions`.
#[derive(Debug, Clone)]
struct Whole {
    prefix: String,
    count: usize,
    versions: BTreeSet<u32>,
}

/// One writer to kill.
#[derive(Debug, Clone)]
enum Writer {
    /// `import NAME FILE` of a new context (`count` steps, prefix `NAME_`).
    ImportNew { context: String },
    /// `import replaced FILE --replace` with the next version of its steps.
    Replace { version: u32 },
    /// `clear NAME`.
    Clear { context: String },
    /// `compact`.
    Compact,
    /// `check --repair`.
    Repair,
}

/// How a kill went.
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    finished_first: usize,
    per_writer: BTreeMap<&'static str, usize>,
    verifications: usize,
}

fn writer_name(writer: &Writer) -> &'static str {
    match writer {
        Writer::ImportNew { .. } => "import (new context)",
        Writer::Replace { .. } => "import --replace",
        Writer::Clear { .. } => "clear",
        Writer::Compact => "compact",
        Writer::Repair => "check --repair",
    }
}

/// Spawns `args` against `db`, SIGKILLs it after `delay` unless it ended first; returns
/// whether it ended on its own, and its exit code then.
fn kill_after(db: &Path, args: &[&str], delay: Duration) -> TestResult<(bool, Option<i32>)> {
    let mut command = support::command(db, args);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = command.spawn()?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((true, status.code()));
        }
        if started.elapsed() >= delay {
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    child.kill()?; // SIGKILL
    let status = child.wait()?;
    Ok((false, status.code()))
}

/// Checks the file right after a kill, read-only first: every context whole and as the
/// model allows, counts equal a recount, `check` clean. Updates the model to what it saw.
fn verify(
    db: &Path,
    model: &mut BTreeMap<String, Whole>,
    maybe: &BTreeMap<String, Whole>,
) -> TestResult {
    let listed = run(db, &["contexts", "--json"])?;
    listed.expect(0)?;
    let counts = support::context_counts(&listed.json()?)?;
    let stats = run(db, &["stats", "--json"])?;
    stats.expect(0)?;
    let stats_counts = support::context_counts(&stats.json()?)?;
    if stats_counts != counts {
        return Err(format!("`stats` says {stats_counts:?}, `contexts` says {counts:?}").into());
    }
    let names: BTreeSet<&String> = counts
        .keys()
        .chain(model.keys())
        .chain(maybe.keys())
        .collect();
    let mut seen = BTreeMap::new();
    for name in names {
        let Some(&(steps, types)) = counts.get(name) else {
            // Absent: allowed only where the model says it may be (a killed new import or
            // a killed clear).
            if model.contains_key(name) && !maybe.contains_key(name) {
                return Err(format!("context '{name}' vanished").into());
            }
            continue;
        };
        let expected = model
            .get(name)
            .or_else(|| maybe.get(name))
            .ok_or_else(|| format!("an unexpected context '{name}' appeared"))?;
        let exported = run(db, &["export", name])?;
        exported.expect(0)?;
        let exported = support::exported_steps(&exported.json()?)?;
        // Counts equal a recount.
        let distinct_types: BTreeSet<&String> = exported.iter().map(|(_, t)| t).collect();
        if steps as usize != exported.len() || types as usize != distinct_types.len() {
            return Err(format!(
                "context '{name}': the catalog says {steps} step(s) and {types} type(s), a recount of the export finds {} and {}",
                exported.len(),
                distinct_types.len()
            )
            .into());
        }
        // Whole: exactly the steps of one import, all of one version.
        let expected_names: Vec<String> = (0..expected.count)
            .map(|i| format!("{}{i}", expected.prefix))
            .collect();
        let names: Vec<&String> = exported.iter().map(|(n, _)| n).collect();
        if names.len() != expected_names.len()
            || names.iter().zip(&expected_names).any(|(a, b)| *a != b)
        {
            return Err(format!(
                "context '{name}' is not whole: {} step(s), expected {} named {}0..",
                names.len(),
                expected.count,
                expected.prefix
            )
            .into());
        }
        let versions: BTreeSet<u32> = exported
            .iter()
            .filter_map(|(_, t)| t.rsplit_once('v').and_then(|(_, v)| v.parse().ok()))
            .collect();
        if versions.len() != 1 || !versions.is_subset(&expected.versions) {
            return Err(format!(
                "context '{name}' mixes or invents versions: {versions:?}, allowed one of {:?}",
                expected.versions
            )
            .into());
        }
        let version = versions.into_iter().next().unwrap_or_default();
        seen.insert(
            name.clone(),
            Whole {
                prefix: expected.prefix.clone(),
                count: expected.count,
                versions: BTreeSet::from([version]),
            },
        );
    }
    run(db, &["check"])?.expect(0)?;
    *model = seen;
    Ok(())
}

#[test]
fn sigkill_of_writers_at_random_moments_leaves_whole_readable_contexts() -> TestResult {
    let seed = seed("sigkill_of_writers_at_random_moments_leaves_whole_readable_contexts");
    let mut rng = Rng::new(seed);
    let kills = scale(16, 120);
    let specs = scale(3_000, 20_000);
    let dir = temp_dir()?;
    let db = dir.path().join("registry.redb");
    let repair = support::has_flag("check", "--repair")?;

    // The replaced context, at version 1, and a document per version to come.
    let mut model: BTreeMap<String, Whole> = BTreeMap::new();
    let replaced_specs = specs / 2;
    let version_file = |version: u32| -> TestResult<std::path::PathBuf> {
        write_file(
            dir.path(),
            &format!("replaced_v{version}.json"),
            support::synthetic_specs("r", replaced_specs, version).as_bytes(),
        )
    };
    run(&db, &["import", "replaced", s(&version_file(1)?)?])?.expect(0)?;
    model.insert(
        "replaced".into(),
        Whole {
            prefix: "r".into(),
            count: replaced_specs,
            versions: BTreeSet::from([1]),
        },
    );
    let new_file = write_file(
        dir.path(),
        "new.json",
        support::synthetic_specs("n", specs, 1).as_bytes(),
    )?;

    // How long each writer takes when not killed (to spread the kills over its run; no
    // assertion depends on it).
    let timed = |args: &[&str]| -> TestResult<Duration> {
        let started = Instant::now();
        run(&db, args)?.expect(0)?;
        Ok(started.elapsed())
    };
    let import_time = timed(&["import", "timing", s(&new_file)?])?;
    let clear_time = timed(&["clear", "timing"])?;
    let compact_time = timed(&["compact"])?;

    let mut tally = Tally::default();
    let mut violations = Vec::new();
    let mut next_version = 2;
    let mut next_context = 0;
    for kill in 0..kills {
        let imported: Vec<String> = model
            .keys()
            .filter(|k| k.starts_with("new"))
            .cloned()
            .collect();
        let writer = match rng.below(10) {
            _ if imported.len() >= 3 => Writer::Clear {
                context: imported[rng.below(imported.len())].clone(),
            },
            0..=3 => {
                next_context += 1;
                Writer::ImportNew {
                    context: format!("new{next_context}"),
                }
            }
            4..=6 => {
                next_version += 1;
                Writer::Replace {
                    version: next_version,
                }
            }
            7 if !imported.is_empty() => Writer::Clear {
                context: imported[rng.below(imported.len())].clone(),
            },
            8 if repair => Writer::Repair,
            _ => Writer::Compact,
        };
        let (args, window, maybe): (Vec<String>, Duration, BTreeMap<String, Whole>) = match &writer
        {
            Writer::ImportNew { context } => (
                vec!["import".into(), context.clone(), s(&new_file)?.into()],
                import_time,
                BTreeMap::from([(
                    context.clone(),
                    Whole {
                        prefix: "n".into(),
                        count: specs,
                        versions: BTreeSet::from([1]),
                    },
                )]),
            ),
            Writer::Replace { version } => {
                let file = version_file(*version)?;
                let mut allowed = model["replaced"].clone();
                allowed.versions.insert(*version);
                model.insert("replaced".into(), allowed);
                (
                    vec![
                        "import".into(),
                        "replaced".into(),
                        s(&file)?.into(),
                        "--replace".into(),
                    ],
                    import_time,
                    BTreeMap::new(),
                )
            }
            Writer::Clear { context } => {
                let whole = model.remove(context).ok_or("clearing an unknown context")?;
                (
                    vec!["clear".into(), context.clone()],
                    clear_time,
                    BTreeMap::from([(context.clone(), whole)]),
                )
            }
            Writer::Compact => (vec!["compact".into()], compact_time, BTreeMap::new()),
            Writer::Repair => (
                vec!["check".into(), "--repair".into()],
                compact_time,
                BTreeMap::new(),
            ),
        };
        // A moment anywhere in the writer's run, a little past its usual end included.
        let window_us = (window.as_micros() as usize * 6 / 5).max(1_000);
        let delay = Duration::from_micros(rng.below(window_us) as u64);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ended, code) = kill_after(&db, &refs, delay)?;
        tally.kills += 1;
        if ended {
            tally.finished_first += 1;
            if code != Some(0) {
                violations.push(format!(
                    "kill #{kill}: `{}` ended by itself with {code:?}",
                    args.join(" ")
                ));
            }
        }
        *tally.per_writer.entry(writer_name(&writer)).or_default() += 1;
        match verify(&db, &mut model, &maybe) {
            Ok(()) => tally.verifications += 1,
            Err(e) => {
                violations.push(format!(
                    "kill #{kill} of `{}` after {delay:?} (seed {seed}): {e}",
                    args.join(" ")
                ));
                // Recover with a writer so the next kill starts from a usable file, and
                // relearn the model from it.
                let _ = run(&db, &["check", "--repair"]);
                let _ = run(&db, &["import", "recovery-probe", s(&new_file)?]);
                let _ = run(&db, &["clear", "recovery-probe"]);
                if relearn(&db, &mut model, specs, replaced_specs).is_err() {
                    break;
                }
            }
        }
    }
    if !violations.is_empty() {
        let shown: Vec<String> = violations
            .iter()
            .take(12)
            .map(|v| support::shorten(v))
            .collect();
        return Err(format!(
            "{} violation(s) over {} kills:\n{}",
            violations.len(),
            tally.kills,
            shown.join("\n")
        )
        .into());
    }
    eprintln!(
        "FIGURE adversarial_kill: {} SIGKILLs ({} finished before the kill) of imports of {specs} specs (new context) and {replaced_specs} (--replace), clear, compact{}: {:?}; after each, read-only commands worked at once, every context whole, counts equal a recount, check clean ({} verifications)",
        tally.kills,
        tally.finished_first,
        if repair { ", check --repair" } else { "" },
        tally.per_writer,
        tally.verifications
    );
    Ok(())
}

/// Rebuilds the model from the file after a violation (so later kills are judged on their
/// own): every context as it now is.
fn relearn(
    db: &Path,
    model: &mut BTreeMap<String, Whole>,
    specs: usize,
    replaced: usize,
) -> TestResult {
    let counts = support::context_counts(&run(db, &["contexts", "--json"])?.expect(0)?.json()?)?;
    model.clear();
    for name in counts.keys() {
        let exported = support::exported_steps(&run(db, &["export", name])?.expect(0)?.json()?)?;
        let versions: BTreeSet<u32> = exported
            .iter()
            .filter_map(|(_, t)| t.rsplit_once('v').and_then(|(_, v)| v.parse().ok()))
            .collect();
        let (prefix, count) = if name == "replaced" {
            ("r", replaced)
        } else {
            ("n", specs)
        };
        if exported.len() == count {
            model.insert(
                name.clone(),
                Whole {
                    prefix: prefix.into(),
                    count,
                    versions,
                },
            );
        } else {
            // A broken context: remove it, so the run can go on.
            run(db, &["clear", name])?.expect(0)?;
        }
    }
    Ok(())
}
