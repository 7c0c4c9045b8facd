//! Invariant: every input of the fuzz targets' committed seeds (`fuzz/seeds/<target>/`) and
//! local corpora (`fuzz/corpus/<target>/`, when present) passes the same checks as under
//! libFuzzer: operation sequences with injected faults agree with the model, stored records
//! decode or are corruption errors naming context and step, JSON imports are all-or-nothing
//! with clear errors, context names are accepted exactly when valid. This is what `.ci/run`
//! falls back to where cargo-fuzz cannot be installed.

#[allow(clippy::expect_used, clippy::unwrap_used)] // the fuzz checks panic on a finding
#[path = "../fuzz/checks.rs"]
mod checks;
#[path = "support/fault_backend.rs"]
mod fault_backend;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/model.rs"]
mod model;

use std::path::Path;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Runs every file under the target's seed and corpus directories through `check`.
fn replay(target: &str, check: fn(&[u8])) -> TestResult {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = 0;
    for dir in [
        root.join("seeds").join(target),
        root.join("corpus").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let data = match std::fs::read(&path) {
                Ok(data) => data,
                // A fuzzer running meanwhile replaces corpus inputs by smaller ones.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            let outcome = std::panic::catch_unwind(|| check(&data));
            if outcome.is_err() {
                return Err(format!("{target}: input {} fails its check", path.display()).into());
            }
            inputs += 1;
        }
    }
    if inputs == 0 {
        return Err(format!("{target}: no seeds found").into());
    }
    eprintln!("FIGURE fuzz_corpora/{target}: {inputs} inputs replayed, 0 failures");
    Ok(())
}

#[test]
fn ops_model_corpus() -> TestResult {
    replay("ops_model", checks::ops_model)
}

#[test]
fn record_decode_corpus() -> TestResult {
    replay("record_decode", checks::record_decode)
}

#[test]
fn json_import_corpus() -> TestResult {
    replay("json_import", checks::json_import)
}

#[test]
fn context_name_corpus() -> TestResult {
    replay("context_name", checks::context_name)
}

#[test]
fn server_url_corpus() -> TestResult {
    replay("server_url", checks::server_url)
}

/// The operations of the `bulk_*` seeds of `ops_model` (see `model::decode_ops`).
const BULK_OPS: &[u8] = &[
    16, 0, 3, 5, 11, 17, // ImportSteps(a, [s0 #1, s1 #2, s2 #3], replace: false)
    19, 0, // GetRegistryIfExists(a)
    144, 0, 2, 20, 28, // ImportSteps(a, [s0 #4, s3 #5], replace: true)
    17, 0, 1, 4, // ImportIntoEmpty(a, [s4 #0]): refused, a holds steps
    18, 0, // ClearContextOf(a): cleared
    17, 0, 2, 6, 12, // ImportIntoEmpty(a, [s1 #1, s2 #2]): re-creates a
    18, 0, // ClearContextOf(a): the handle's context is gone, a no-op
    19, 1, // GetRegistryIfExists(ws::a): missing, creates nothing
];

/// Writes the seed corpus (`PIPELINE_DEPS_WRITE_SEEDS=1`); kept as a test so the seeds are
/// reproducible from code.
#[test]
fn seeds_are_reproducible() -> TestResult {
    let write = std::env::var_os("PIPELINE_DEPS_WRITE_SEEDS").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("seeds");
    let mut record = vec![0u8];
    record.extend(checks::template_record());
    let mut leftover = record.clone();
    leftover.push(0);
    let mut chunk = vec![2u8];
    chunk.extend(checks::template_chunk());
    // The chunk's one entry (after the selector and the 8-byte first-seen seq) twice.
    let mut chunk_twice = chunk.clone();
    chunk_twice.extend_from_slice(&chunk[9..]);
    let fixture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cursus-step-specs.json"),
    )
    .unwrap_or_default();
    let fixture_head: String = fixture.chars().take(6000).collect();
    let seeds: Vec<(&str, &str, Vec<u8>)> = vec![
        ("ops_model", "empty", Vec::new()),
        ("ops_model", "no_fault", {
            let mut v = vec![8, 0, 0, 0, 0, 0, 0, 0];
            v.extend([0, 0, 2, 0, 7, 1, 3, 12, 13, 5, 0, 11, 0]);
            v
        }),
        ("ops_model", "power_loss", {
            let mut v = 0x1234_5678_9abc_def1u64.to_le_bytes().to_vec();
            v.extend([
                0, 0, 2, 0, 17, 1, 2, 9, 0, 1, 12, 0, 2, 0, 33, 14, 3, 2, 4, 40,
            ]);
            v
        }),
        ("ops_model", "workspace_clear_all", {
            let mut v = 77u64.to_le_bytes().to_vec();
            v.extend([0, 1, 2, 1, 3, 0, 2, 8, 1, 2, 1, 2, 13, 1, 2, 1, 4]);
            v
        }),
        // The manager's bulk operations: an import creating context `a` with three steps,
        // a handle only if it exists, a replacing import, an import into an empty context
        // refused, clearing by handle, the import re-creating `a`, clearing by the stale
        // handle (a no-op), and no handle to a missing `ws::a`; without a fault, and with
        // an I/O fault inside the first import (so the rest runs on a failed manager).
        ("ops_model", "bulk_no_fault", {
            let mut v = 16u64.to_le_bytes().to_vec();
            v.extend(BULK_OPS);
            v
        }),
        ("ops_model", "bulk_fault", {
            let mut v = 0x0bad_5eed_0000_0005u64.to_le_bytes().to_vec();
            v.extend(BULK_OPS);
            v
        }),
        ("record_decode", "valid_record", record.clone()),
        ("record_decode", "leftover_byte", leftover),
        (
            "record_decode",
            "truncated",
            record[..record.len() / 2].to_vec(),
        ),
        ("record_decode", "empty_record", vec![0]),
        ("record_decode", "valid_chunk", chunk.clone()),
        ("record_decode", "chunk_entry_twice", chunk_twice),
        (
            "record_decode",
            "chunk_truncated",
            chunk[..chunk.len() - 1].to_vec(),
        ),
        ("record_decode", "catalog_garbage", vec![1, 0, 1, 2, 3]),
        (
            "record_decode",
            "catalog_valid_shape",
            vec![1, 0, 1, 1, 1, 1, 1],
        ),
        (
            "json_import",
            "minimal",
            br#"{"steps":[{"step_name":"s","step_type":"T","outputs":{"o":{"property_path":"p"}}}]}"#.to_vec(),
        ),
        (
            "json_import",
            "blank_keyword_and_path",
            br#"{"steps":[{"step_name":"s","step_type":"T","dependencies":{"d":{"semantic_keywords":[""]}},"outputs":{"o":{}}}]}"#.to_vec(),
        ),
        ("json_import", "fixture_head", fixture_head.into_bytes()),
        ("json_import", "invalid", b"{\"steps\": [".to_vec()),
        (
            "json_import",
            "deep",
            format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        ),
        (
            "json_import",
            "taken_name",
            br#"{"steps":[{"step_name":"existing","step_type":"T","outputs":{"o":{"property_path":"p"}}}]}"#.to_vec(),
        ),
        ("context_name", "plain", b"training_pipeline".to_vec()),
        ("context_name", "workspace", b"\x01ws|inner".to_vec()),
        // A workspace name ending in `::` (found by the fuzzer, 2026-12-02, after such views
        // were made to refuse every call) and one of separators only.
        ("context_name", "workspace_ending_in_separator", b"\x01ws::|inner".to_vec()),
        ("context_name", "workspace_of_separators", b"\x01::|inner".to_vec()),
        ("context_name", "empty", Vec::new()),
        ("context_name", "nul", b"a\0b".to_vec()),
        (
            "context_name",
            "unicode",
            "コンテキスト::🚀".as_bytes().to_vec(),
        ),
        ("context_name", "too_long", vec![b'n'; 1025]),
        ("context_name", "at_limit", vec![b'n'; 1024]),
        (
            "server_url",
            "password_with_url_characters",
            b"\x01ci:s3?c/r#t@db.internal:5432/reg?sslmode=require".to_vec(),
        ),
        (
            "server_url",
            "encoded_key",
            b"\x01ci@h1:5432,[::1]:5433/reg?pass%77ord=x&application_name=a@b".to_vec(),
        ),
        ("server_url", "two_at_signs", b"\x01u:p@ss@h/db".to_vec()),
        ("server_url", "a_file", b"\x00registry.redb".to_vec()),
        // Findings of the first runs: a `password` key read as a user part; a URL of
        // `@`s only, hidden whole; a password value whose `/` kept an `@` out of the user.
        (
            "server_url",
            "password_key_as_user",
            b"\x01?pass%77ord=@".to_vec(),
        ),
        ("server_url", "at_signs_only", b"\x01@@".to_vec()),
        (
            "server_url",
            "password_holding_the_slash",
            b"\x17?pass%77ord=c/&\xab=@".to_vec(),
        ),
    ];
    for (target, name, bytes) in seeds {
        let path = root.join(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
            std::fs::write(&path, &bytes)?;
        } else if std::fs::read(&path)? != bytes {
            return Err(format!(
                "seed {} is stale: regenerate with PIPELINE_DEPS_WRITE_SEEDS=1",
                path.display()
            )
            .into());
        }
    }
    Ok(())
}
