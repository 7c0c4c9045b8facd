//! Shared helpers for the core API tests: small specs and the real fixture.
#![allow(dead_code)]

use pipeline_deps::{
    DependencySpec, DependencyType, ImportOptions, NodeType, OutputSpec, StepSpecification,
};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

/// The 61 real step specifications, in fixture order, as (step name, spec).
pub fn real_specs() -> TestResult<Vec<(String, StepSpecification)>> {
    let text = std::fs::read_to_string(FIXTURE)?;
    Ok(pipeline_deps::transfer::parse_steps_json(
        &text,
        &ImportOptions::default(),
    )?)
}

/// A small valid spec of `step_type` with one dependency and one output.
pub fn spec(step_type: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Internal)
        .with_dependency(
            DependencySpec::new("input_data", DependencyType::ProcessingOutput)
                .with_keywords(["data"]),
        )
        .with_output(
            OutputSpec::new(
                "processed_data",
                DependencyType::ProcessingOutput,
                "properties.ProcessingOutputConfig.Outputs['processed_data'].S3Output.S3Uri",
            )
            .with_aliases(["training_data"]),
        )
}

/// A source spec of `step_type` producing `output`.
pub fn source(step_type: &str, output: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Source).with_output(OutputSpec::new(
        output,
        DependencyType::ProcessingOutput,
        format!("properties.{output}"),
    ))
}

/// Which backend the parametrised API tests run on: `PIPELINE_DEPS_TEST_BACKEND=postgres`
/// (with `--features postgres`) runs them on PostgreSQL, each manager in a fresh database
/// of the throw-away cluster (`tests/support/pg_cluster.rs`); otherwise on a temporary
/// redb file. `.ci/run` runs these test files on both.
pub const BACKEND_VAR: &str = "PIPELINE_DEPS_TEST_BACKEND";

/// A new, empty manager on the selected backend.
pub fn manager() -> TestResult<pipeline_deps::RegistryManager> {
    match std::env::var(BACKEND_VAR).as_deref() {
        Ok("postgres") => postgres_manager(),
        Ok("redb") | Ok("") | Err(_) => Ok(pipeline_deps::RegistryManager::temporary()?),
        Ok(other) => Err(format!("{BACKEND_VAR}={other}: expected redb or postgres").into()),
    }
}

#[cfg(feature = "postgres")]
#[path = "../support/pg_cluster.rs"]
mod pg_cluster;

#[cfg(feature = "postgres")]
fn postgres_manager() -> TestResult<pipeline_deps::RegistryManager> {
    let test = std::thread::current()
        .name()
        .unwrap_or("api_test")
        .rsplit("::")
        .next()
        .unwrap_or("api_test")
        .to_owned();
    Ok(pipeline_deps::RegistryManager::connect(&postgres_url(
        &test,
    )?)?)
}

/// The URL of a fresh database named after `test` in the throw-away cluster.
#[cfg(feature = "postgres")]
fn postgres_url(test: &str) -> TestResult<String> {
    let server = pg_cluster::server(test)?
        .ok_or_else(|| format!("{BACKEND_VAR}=postgres but no PostgreSQL is available"))?;
    Ok(server.database(test)?)
}

#[cfg(not(feature = "postgres"))]
fn postgres_manager() -> TestResult<pipeline_deps::RegistryManager> {
    Err(format!("{BACKEND_VAR}=postgres needs `cargo test --features postgres`").into())
}

/// Where the process-wide default manager of a test binary opens: with
/// `PIPELINE_DEPS_TEST_BACKEND=postgres`, the URL of a fresh database of the throw-away
/// cluster (the default manager connects to a `postgres://` path); otherwise `file`.
pub fn default_database(test: &str, file: std::path::PathBuf) -> TestResult<std::path::PathBuf> {
    match std::env::var(BACKEND_VAR).as_deref() {
        #[cfg(feature = "postgres")]
        Ok("postgres") => Ok(postgres_url(test)?.into()),
        #[cfg(not(feature = "postgres"))]
        Ok("postgres") => {
            let _ = test;
            Err(format!("{BACKEND_VAR}=postgres needs `cargo test --features postgres`").into())
        }
        _ => Ok(file),
    }
}
