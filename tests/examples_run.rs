//! Every example under `examples/` runs as a real process, exits successfully, prints what
//! the design's example prints, and writes nothing into its working directory or leaves
//! anything behind in its temporary directory.
//!
//! The example binaries are the ones cargo builds beside this test (`cargo test` builds
//! every example); a test whose example was not built says so on stderr and passes.

use std::path::PathBuf;
use std::process::Command;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

/// `target/<profile>/examples/<name>`, found from this test's own path
/// (`target/<profile>/deps/examples_run-<hash>`).
fn example_binary(name: &str) -> TestResult<Option<PathBuf>> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or("the test executable has no grandparent directory")?;
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    Ok(binary.is_file().then_some(binary))
}

/// Runs example `name` with `args` in an empty working directory and an empty TMPDIR;
/// returns its stdout, or `None` when the example was not built.
fn run_example(name: &str, args: &[&str]) -> TestResult<Option<String>> {
    let Some(binary) = example_binary(name)? else {
        eprintln!(
            "SKIPPED: example `{name}` is not built next to this test; run `cargo test --all-targets`"
        );
        return Ok(None);
    };
    let cwd = tempfile::tempdir()?;
    let tmp = tempfile::tempdir()?;
    let output = Command::new(&binary)
        .args(args)
        .current_dir(cwd.path())
        .env("TMPDIR", tmp.path())
        .env_remove("PIPELINE_DEPS_DB")
        .output()?;
    let stdout = String::from_utf8(output.stdout)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "example {name} failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert_eq!(
        std::fs::read_dir(cwd.path())?.count(),
        0,
        "example {name} wrote into its working directory"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path())?.count(),
        0,
        "example {name} left files in its temporary directory"
    );
    Ok(Some(stdout))
}

fn assert_lines(name: &str, stdout: &str, expected: &[&str]) {
    for line in expected {
        assert!(
            stdout.lines().any(|l| l == *line),
            "example {name} did not print the line {line:?}; it printed:\n{stdout}"
        );
    }
}

const DEMO_STATS: [&str; 3] = [
    "fraud_detection_training: 3 steps, 3 types",
    "fraud_detection_inference: 2 steps, 2 types",
    "unit_tests: 2 steps, 2 types",
];
const DEMO_CONTEXTS_LINE: &str =
    r#"Active contexts: ["fraud_detection_training", "fraud_detection_inference", "unit_tests"]"#;

#[test]
fn multi_registry_prints_the_designs_output() -> TestResult {
    let Some(out) = run_example("multi_registry", &[])? else {
        return Ok(());
    };
    assert_lines("multi_registry", &out, &[DEMO_CONTEXTS_LINE]);
    assert_lines("multi_registry", &out, &DEMO_STATS);
    assert_lines(
        "multi_registry",
        &out,
        &["data_loading in fraud_detection_inference: false"],
    );
    Ok(())
}

#[test]
fn lifecycle_creates_looks_up_clears_and_survives_reopen() -> TestResult {
    let Some(out) = run_example("lifecycle", &[])? else {
        return Ok(());
    };
    assert_lines(
        "lifecycle",
        &out,
        &[
            "Same registry returned: true",
            r#"get_registry_if_exists("nonexistent"): None"#,
            r#"After reopening: ["new_pipeline", "old_pipeline"], new_pipeline has 7 steps"#,
            "Cleanup successful: true",
            "Cleanup of a context that no longer exists: false",
            "old_pipeline created again is empty: true",
            "Cleared 2 contexts",
            "Remaining contexts: 0",
        ],
    );
    assert!(out.contains("A handle taken before the clear: context 'old_pipeline' was cleared"));
    Ok(())
}

#[test]
fn monitoring_reports_usage_and_cleans_test_and_temp_contexts() -> TestResult {
    let Some(out) = run_example("monitoring", &[])? else {
        return Ok(());
    };
    assert_lines(
        "monitoring",
        &out,
        &[
            "Registry Usage Report",
            &"=".repeat(50),
            "Total Contexts: 6",
            "Total Steps: 13",
            "Total Step Types: 13",
            "Context: fraud_detection_training",
            "  Steps: 3",
            "  Registry Type: SpecificationRegistry",
            "Context: temp_scratch",
            "Cleaned up context: test_main",
            "Cleaned up context: test_helper",
            "Cleaned up context: temp_scratch",
            "Cleaned up 3 old contexts",
            r#"Remaining contexts: ["fraud_detection_training", "fraud_detection_inference", "unit_tests"]"#,
        ],
    );
    Ok(())
}

#[test]
fn pipeline_builder_keeps_environments_apart() -> TestResult {
    let Some(out) = run_example("pipeline_builder", &[])? else {
        return Ok(());
    };
    let stats = r#"{"step_count":2,"step_type_count":2,"registry_type":"SpecificationRegistry"}"#;
    assert_lines(
        "pipeline_builder",
        &out,
        &[
            "Dev registry context: fraud_detection_dev",
            "Prod registry context: fraud_detection_prod",
            &format!("Dev environment: {stats}"),
            &format!("Prod environment: {stats}"),
            "Dev data_loading step type: DummyDataLoading",
            "Prod data_loading step type: CradleDataLoading",
            "integrate_with_pipeline_builder gives the same registry: true",
            r#"Contexts: ["fraud_detection_dev", "fraud_detection_prod"]"#,
        ],
    );
    Ok(())
}

#[test]
fn test_isolation_suite_passes_and_leaves_only_production_contexts() -> TestResult {
    let Some(out) = run_example("test_isolation", &[])? else {
        return Ok(());
    };
    assert_lines(
        "test_isolation",
        &out,
        &[
            "test_registry_isolation ... ok",
            "test_manager_coordination ... ok",
            "test_cleanup_functionality ... ok",
            "test_backward_compatible_functions ... ok",
            "test_guard_clears_even_when_a_test_panics ... ok",
            r#"Contexts after the suite: ["fraud_detection_training"]"#,
            "All 5 isolation checks passed",
        ],
    );
    Ok(())
}

#[test]
fn main_job_builds_reopens_and_prints_the_stats() -> TestResult {
    let Some(out) = run_example("main_job", &[])? else {
        return Ok(());
    };
    assert_lines(
        "main_job",
        &out,
        &[
            "Built 3 contexts with 7 steps from the embedded cursus specifications",
            "Reopened registry.redb",
            DEMO_CONTEXTS_LINE,
            "  data_loading: CradleDataLoading",
            "  feature_engineering: RiskTableMapping",
            "  model_training: XGBoostTraining",
            "  model_loading: XGBoostModel",
            "  batch_transform: BatchTransform",
            "  mock_data_source: DummyDataLoading",
            "  test_processor: TabularPreprocessing",
        ],
    );
    assert_lines("main_job", &out, &DEMO_STATS);
    Ok(())
}

#[test]
fn main_job_reads_the_full_fixture_when_given() -> TestResult {
    let Some(out) = run_example("main_job", &[FIXTURE])? else {
        return Ok(());
    };
    assert_lines(
        "main_job",
        &out,
        &["Built 3 contexts with 7 steps from the given fixture"],
    );
    assert_lines("main_job", &out, &DEMO_STATS);
    Ok(())
}

#[test]
fn disk_usage_prints_bytes_per_context_and_per_spec() -> TestResult {
    let Some(out) = run_example("disk_usage", &["--contexts", "20", "--specs", "200"])? else {
        return Ok(());
    };
    for prefix in [
        "Per empty context: ",
        "Per context holding one spec: ",
        "Per spec (one context): ",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(prefix) && l.ends_with("bytes compacted")),
            "disk_usage printed no {prefix:?} line:\n{out}"
        );
    }
    Ok(())
}

#[test]
fn quick_start_registers_reports_and_resolves_with_question_marks() -> TestResult {
    let Some(out) = run_example("quick_start", &[])? else {
        return Ok(());
    };
    assert_lines(
        "quick_start",
        &out,
        &[
            "fraud_detection_training: 2 steps, 2 types",
            "model_training.input_path <- preprocessing.processed_data",
            r#"as a SageMaker property: {"Get":"Steps.preprocessing.ProcessingOutputConfig.Outputs['processed_data'].S3Output.S3Uri"}"#,
        ],
    );
    assert!(
        out.contains(
            "unresolved: step 'preprocessing' has unresolved required dependencies: ['DATA']"
        ),
        "{out}"
    );
    Ok(())
}
