//! Every command's `--json` document is pinned byte for byte (after masking) in
//! `cli/tests/golden/*.json`, on a database this test builds from the real fixture: a change
//! of shape is a deliberate, visible diff, and docs/json.md names every schema tag.
//!
//! Masked, because they vary from run to run and nothing else does: the temporary
//! directory (`<TMP>` in `database`, `file` and `source`) and byte counts of the database
//! file (`file_size_bytes`, `bytes_before`, `bytes_after`, `bytes_reclaimed` become 0).
//!
//! To accept a deliberate change: `PIPELINE_DEPS_UPDATE_GOLDEN=1 cargo test -p
//! pipeline-deps-cli --test golden`, then review the diff of `cli/tests/golden/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;
use common::{BIN, FIXTURE, Run, SIX, TestResult};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/json.md");
const UPDATE_ENV: &str = "PIPELINE_DEPS_UPDATE_GOLDEN";
/// Byte counts of the database file: they depend on the storage engine's allocation.
const SIZE_KEYS: [&str; 4] = [
    "file_size_bytes",
    "bytes_before",
    "bytes_after",
    "bytes_reclaimed",
];

struct Env {
    _dir: tempfile::TempDir,
    /// The temporary directory as the binary reports it (canonical).
    root: PathBuf,
    db: PathBuf,
}

impl Env {
    fn new() -> TestResult<Env> {
        let dir = tempfile::tempdir()?;
        let root = std::fs::canonicalize(dir.path())?;
        let db = root.join("registry.redb");
        Ok(Env {
            _dir: dir,
            root,
            db,
        })
    }

    fn path(&self, name: &str) -> String {
        self.root.join(name).display().to_string()
    }

    fn run(&self, args: &[&str]) -> TestResult<Run> {
        let output = Command::new(BIN)
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .env_remove("PIPELINE_DEPS_DB")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()?;
        Ok(Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout)?,
            stderr: String::from_utf8(output.stderr)?,
        })
    }

    /// Runs a command expected to exit with `code` and returns its masked JSON document
    /// (standard output, or standard error for a failure).
    fn document(&self, args: &[&str], code: i32) -> TestResult<Value> {
        let run = self.run(args)?;
        if run.code != code {
            return Err(format!(
                "{args:?}: expected exit {code}, got {}\nstdout: {}\nstderr: {}",
                run.code, run.stdout, run.stderr
            )
            .into());
        }
        let text = if code == 0 || code == 1 {
            &run.stdout
        } else {
            &run.stderr
        };
        let mut value: Value = serde_json::from_str(text)
            .map_err(|e| format!("{args:?} printed no JSON ({e}): {text}"))?;
        mask(&mut value, &self.root.display().to_string());
        Ok(value)
    }

    /// Writes a fixture-format file holding only `steps` of the real fixture.
    fn subset(&self, name: &str, steps: &[&str]) -> TestResult<String> {
        let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE)?)?;
        let all = doc["steps"].as_array().ok_or("no steps")?.clone();
        let kept: Vec<Value> = steps
            .iter()
            .map(|step| {
                all.iter()
                    .find(|s| s["step_name"] == *step)
                    .cloned()
                    .ok_or_else(|| format!("fixture lacks {step}"))
            })
            .collect::<Result<_, _>>()?;
        doc["steps"] = Value::Array(kept);
        let path = self.path(name);
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
        Ok(path)
    }
}

/// Replaces the temporary directory and the file sizes (see the module docs).
fn mask(value: &mut Value, root: &str) {
    match value {
        Value::String(text) if text.contains(root) => *text = text.replace(root, "<TMP>"),
        Value::Array(items) => items.iter_mut().for_each(|v| mask(v, root)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if SIZE_KEYS.contains(&key.as_str()) && v.is_u64() {
                    *v = Value::from(0);
                } else {
                    mask(v, root);
                }
            }
        }
        _ => {}
    }
}

/// Compares `value` with `golden/NAME.json` (or writes it in update mode).
fn pin(name: &str, value: &Value) -> TestResult {
    let path = Path::new(GOLDEN).join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value)? + "\n";
    if std::env::var_os(UPDATE_ENV).is_some() {
        std::fs::create_dir_all(GOLDEN)?;
        std::fs::write(&path, &text)?;
        return Ok(());
    }
    let pinned = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e}; run with {UPDATE_ENV}=1 to create it",
            path.display()
        )
    })?;
    assert_eq!(
        text, pinned,
        "the JSON of {name} changed; if deliberate, run with {UPDATE_ENV}=1 and follow the \
         versioning rule in docs/json.md"
    );
    Ok(())
}

#[test]
fn every_json_document_matches_its_golden_file() -> TestResult {
    let env = Env::new()?;
    pin("demo", &env.document(&["demo", "--json"], 0)?)?;
    let six = env.subset("six.json", &SIX)?;
    pin(
        "import",
        &env.document(&["import", "six", &six, "--json"], 0)?,
    )?;
    pin("contexts", &env.document(&["contexts", "--json"], 0)?)?;
    pin("stats", &env.document(&["stats", "--json"], 0)?)?;
    pin("show-steps", &env.document(&["show", "six", "--json"], 0)?)?;
    pin(
        "show-step",
        &env.document(&["show", "six", "Payload", "--json"], 0)?,
    )?;
    pin("types", &env.document(&["types", "six", "--json"], 0)?)?;
    let exported = env.path("exported.json");
    pin(
        "export",
        &env.document(&["export", "six", "-o", &exported, "--json"], 0)?,
    )?;
    pin("resolve", &env.document(&["resolve", "six", "--json"], 0)?)?;
    pin(
        "resolve-explain",
        &env.document(
            &[
                "resolve",
                "six",
                "XGBoostTraining",
                "Payload",
                "Registration",
                "--explain",
                "--top",
                "2",
                "--json",
            ],
            0,
        )?,
    )?;
    let snap = env.path("edges.json");
    let mut args = vec!["snapshot", "six"];
    args.extend(SIX);
    args.extend(["-o", &snap, "--json"]);
    pin("snapshot", &env.document(&args, 0)?)?;
    pin(
        "check-snapshot-ok",
        &env.document(&["check-snapshot", "six", &snap, "--json"], 0)?,
    )?;
    // Payload.payload_sample answers Registration's GeneratedPayloadSamples through an
    // alias; without it one edge is re-wired and another rescored.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&exported)?)?;
    let steps = doc["steps"].as_array_mut().ok_or("no steps")?;
    let payload = steps
        .iter_mut()
        .find(|s| s["step_name"] == "Payload")
        .ok_or("no Payload")?;
    payload["outputs"]["payload_sample"]["aliases"]
        .as_array_mut()
        .ok_or("no aliases")?
        .retain(|a| a != "GeneratedPayloadSamples");
    let edited = env.path("edited.json");
    std::fs::write(&edited, serde_json::to_string(&doc)?)?;
    env.document(&["import", "six", &edited, "--replace", "--json"], 0)?;
    pin(
        "check-snapshot-failed",
        &env.document(&["check-snapshot", "six", &snap, "--json"], 1)?,
    )?;
    pin("check", &env.document(&["check", "--json"], 0)?)?;
    let copy = env.path("copy.redb");
    pin(
        "copy",
        &env.document(&["copy", "--to", &copy, "--json"], 0)?,
    )?;
    pin(
        "clear",
        &env.document(&["clear", "unit_tests", "--json"], 0)?,
    )?;
    pin(
        "clear-missing",
        &env.document(&["clear", "unit_tests", "--json"], 0)?,
    )?;
    pin(
        "clear-all",
        &env.document(&["clear-all", "--yes", "--json"], 0)?,
    )?;
    pin("compact", &env.document(&["compact", "--json"], 0)?)?;
    Ok(())
}

#[test]
fn every_json_error_matches_its_golden_file() -> TestResult {
    let env = Env::new()?;
    env.document(&["demo", "--json"], 0)?;
    pin(
        "error-unknown-context",
        &env.document(&["show", "nope", "--json"], 4)?,
    )?;
    pin(
        "error-unknown-step",
        &env.document(&["show", "unit_tests", "nope", "--json"], 4)?,
    )?;
    let bad = env.path("bad.json");
    std::fs::write(
        &bad,
        r#"{"steps": [{"step_name": "blank", "step_type": "", "node_type": "singular"}]}"#,
    )?;
    pin(
        "error-invalid-spec",
        &env.document(&["import", "fresh", &bad, "--json"], 4)?,
    )?;
    pin(
        "error-usage",
        &env.document(&["--json", "resolve", "x", "--top", "3"], 2)?,
    )?;
    let missing = Env::new()?;
    pin(
        "error-no-database",
        &missing.document(&["stats", "--json"], 3)?,
    )?;
    Ok(())
}

/// Every golden document carries a schema tag, and docs/json.md describes each tag.
#[test]
fn docs_describe_every_schema_tag() -> TestResult {
    let docs = std::fs::read_to_string(DOCS)?;
    let mut seen = 0;
    for entry in std::fs::read_dir(GOLDEN)? {
        let path = entry?.path();
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let schema = value["schema"]
            .as_str()
            .ok_or_else(|| format!("{} has no schema tag", path.display()))?;
        assert!(
            schema.starts_with("pipeline-deps/") && schema.ends_with("/v1"),
            "{schema}"
        );
        assert!(
            docs.contains(&format!("`{schema}`")),
            "docs/json.md does not describe {schema}"
        );
        assert!(value.get("database").is_some(), "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} golden files");
    // The other way round: every document the page describes has a golden file, but the
    // version document, whose `postgres` field depends on the build's features
    // (`version_is_a_json_document_under_json_and_a_line_otherwise` pins it).
    let pinned: Vec<String> = std::fs::read_dir(GOLDEN)?
        .map(|entry| std::fs::read_to_string(entry?.path()))
        .collect::<std::io::Result<_>>()?;
    for line in docs.lines() {
        let Some(tag) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        else {
            continue;
        };
        if tag == "pipeline-deps/version/v1" {
            continue;
        }
        assert!(
            pinned
                .iter()
                .any(|text| text.contains(&format!("\"schema\": \"{tag}\""))),
            "docs/json.md describes {tag}, which no golden file pins"
        );
    }
    Ok(())
}
