//! Invariant: a damaged database file (flipped bits anywhere and near the start of the pages
//! holding the context catalog, zeroed and swapped pages, truncation, appended garbage) put
//! through EVERY command `pipeline-deps --help` lists, read and write alike, gives an exit
//! code of the documented table (0–4) — never 101 or 134, never a signal, never a hang,
//! never panic text on stderr (run with `RUST_BACKTRACE=1`); `check` never changes the file;
//! and `compact` / `check --repair` never leave it less readable: every context that
//! exported before exports the same after.
//!
//! Default: a few dozen damaged files; `PIPELINE_DEPS_ADVERSARIAL=heavy`: hundreds.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use support::{Inputs, Rng, TestResult, run, run_args, scale, seed, temp_dir};

const PAGE: usize = 4096;

/// One way of damaging a file.
#[derive(Debug, Clone)]
enum Damage {
    /// Flip one bit at a byte offset.
    Flip(usize, u8),
    /// Zero a whole page.
    ZeroPage(usize),
    /// Swap two pages.
    SwapPages(usize, usize),
    /// Cut the file to this length.
    Truncate(usize),
    /// Append this many random bytes.
    Append(usize),
}

impl Damage {
    fn apply(&self, bytes: &mut Vec<u8>, rng: &mut Rng) {
        match *self {
            Damage::Flip(offset, bit) => {
                if let Some(byte) = bytes.get_mut(offset) {
                    *byte ^= 1 << bit;
                }
            }
            Damage::ZeroPage(page) => {
                let start = (page * PAGE).min(bytes.len());
                let end = (start + PAGE).min(bytes.len());
                bytes[start..end].fill(0);
            }
            Damage::SwapPages(a, b) => {
                let pages = bytes.len() / PAGE;
                let (a, b) = (a % pages.max(1), b % pages.max(1));
                if a != b && pages > 1 {
                    let (low, high) = (a.min(b), a.max(b));
                    let (head, tail) = bytes.split_at_mut(high * PAGE);
                    head[low * PAGE..(low + 1) * PAGE].swap_with_slice(&mut tail[..PAGE]);
                }
            }
            Damage::Truncate(len) => bytes.truncate(len),
            Damage::Append(n) => bytes.extend((0..n).map(|_| rng.next_u64() as u8)),
        }
    }
}

/// Offsets of every occurrence of `needle` in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// The damages to try on `healthy`: the kinds in turn, `count` in all.
fn plan(healthy: &[u8], count: usize, rng: &mut Rng) -> Vec<Damage> {
    let len = healthy.len();
    let pages = len / PAGE;
    // The pages that hold context names: the catalog, and the tables named after them.
    let mut name_pages: Vec<usize> = ["cursus", "small", "other"]
        .iter()
        .flat_map(|n| occurrences(healthy, n.as_bytes()))
        .map(|offset| offset / PAGE)
        .collect();
    name_pages.sort_unstable();
    name_pages.dedup();
    (0..count)
        .map(|i| match i % 7 {
            0 | 1 => Damage::Flip(rng.below(len), rng.below(8) as u8),
            2 if !name_pages.is_empty() => {
                // Near the start of a page holding the catalog or a context's tables.
                let page = name_pages[rng.below(name_pages.len())];
                Damage::Flip(page * PAGE + rng.below(64), rng.below(8) as u8)
            }
            2 | 3 => Damage::ZeroPage(rng.below(pages.max(1))),
            4 => Damage::SwapPages(rng.below(pages.max(1)), rng.below(pages.max(1))),
            5 => Damage::Truncate(if rng.below(2) == 0 {
                rng.below(len)
            } else {
                rng.below(pages.max(1)) * PAGE
            }),
            _ => Damage::Append(1 + rng.below(3 * PAGE)),
        })
        .collect()
}

/// Context → export, for the contexts that export from `db` (read-only).
fn exports(db: &Path) -> TestResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for context in ["cursus", "small", "other"] {
        let result = run(db, &["export", context])?;
        result.contract()?;
        if result.code == Some(0) {
            out.insert(context.to_owned(), result.out());
        }
    }
    Ok(out)
}

fn copy_of(dir: &Path, bytes: &[u8], name: &str) -> TestResult<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

#[test]
fn damaged_files_through_every_command() -> TestResult {
    let seed = seed("damaged_files_through_every_command");
    let mut rng = Rng::new(seed);
    let dir = temp_dir()?;
    let healthy_path = support::healthy_db(dir.path())?;
    let inputs = Inputs::new(dir.path(), &healthy_path)?;
    let commands = support::every_command(&inputs)?;
    let healthy = std::fs::read(&healthy_path)?;
    let count = scale(21, 210);
    let damages = plan(&healthy, count, &mut rng);
    let work = dir.path().join("work");
    std::fs::create_dir(&work)?;
    let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
    let mut runs = 0;
    let mut kept_readable = 0;
    // Every violation is collected, so that one run shows all of them.
    let mut violations: Vec<String> = Vec::new();
    for (index, damage) in damages.iter().enumerate() {
        let mut bytes = healthy.clone();
        damage.apply(&mut bytes, &mut rng);
        let context = |e: Box<dyn std::error::Error>| -> String {
            format!("damaged file #{index} ({damage:?}, seed {seed}): {e}")
        };
        for args in &commands {
            let db = copy_of(&work, &bytes, "damaged.redb")?;
            let result = run_args(&db, args)?;
            if let Err(e) = result.contract() {
                violations.push(context(e));
            }
            *codes.entry(result.code.unwrap_or(-1)).or_default() += 1;
            runs += 1;
            if support::reads_only(args) && std::fs::read(&db)? != bytes {
                violations.push(context(
                    format!("{} changed the file's bytes", result.what).into(),
                ));
            }
        }
        // compact and check --repair never make the file less readable.
        let db = copy_of(&work, &bytes, "damaged.redb")?;
        let readable = match exports(&db) {
            Ok(readable) => readable,
            Err(e) => {
                violations.push(context(e));
                continue;
            }
        };
        let mut maintenance = vec![vec!["compact".to_owned()]];
        if commands.iter().any(|a| a.iter().any(|x| x == "--repair")) {
            maintenance.push(vec!["check".to_owned(), "--repair".to_owned()]);
        }
        for args in maintenance {
            let db = copy_of(&work, &bytes, "maintained.redb")?;
            let result = run_args(&db, &args)?;
            if let Err(e) = result.contract() {
                violations.push(context(e));
            }
            runs += 1;
            let after = match exports(&db) {
                Ok(after) => after,
                Err(e) => {
                    violations.push(context(e));
                    continue;
                }
            };
            for (name, text) in &readable {
                if after.get(name) == Some(text) {
                    kept_readable += 1;
                } else {
                    violations.push(context(
                        format!(
                            "context '{name}' exported before `{}` (exit {:?}) but not the same after",
                            args.join(" "),
                            result.code
                        )
                        .into(),
                    ));
                }
            }
        }
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &violations {
        let kind = if v.contains("before `check --repair`") {
            "less readable after check --repair"
        } else if v.contains("before `compact`") {
            "less readable after compact"
        } else if v.contains("changed the file's bytes") {
            "a read command or check changed the file"
        } else {
            "exit-code contract broken"
        };
        *kinds.entry(kind).or_default() += 1;
    }
    eprintln!(
        "FIGURE adversarial_damage: {count} damaged files x {} invocations = {runs} runs; exit codes {codes:?}; {kept_readable} readable contexts still readable after compact/repair; violations {kinds:?}",
        commands.len()
    );
    if !violations.is_empty() {
        let shown: Vec<String> = violations
            .iter()
            .take(15)
            .map(|v| support::shorten(v))
            .collect();
        return Err(format!(
            "{} violation(s) over {runs} runs (first {}):\n{}",
            violations.len(),
            shown.len(),
            shown.join("\n")
        )
        .into());
    }
    Ok(())
}
