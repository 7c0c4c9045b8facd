//! Invariant: a read-only open of an older schema version, served from a copy upgraded in
//! memory, never reads silently wrong data and works in every concurrency mode: the copy's
//! pages are all verified before the upgrade reads them (a version 1 file has no row
//! checksums, so a flipped bit in a record would otherwise come back as data), and the copy,
//! which is this process's alone, opens also for a single-writer inspector. Written against
//! mutants of `Store::copy_of` that the cited tests let survive (see the report of the second
//! mutation audit, cargo-mutants): the copy opened without its integrity check, and in the
//! caller's concurrency mode.

mod support;

use std::path::Path;

use pipeline_deps::{Concurrency, RegistryManager, StepSpecification};
use support::TestResult;

/// The frozen database written by schema version 1 (see `tests/migrations.rs`).
const V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/v1/registry.redb");

/// A property path that the version 1 file holds once, in one step's output.
const ONCE_IN_V1: &[u8] = b"properties.BestTrainingJob.TrainingJobName";

/// Every context `manager` holds, with each step's spec in registration order.
type Contents = Vec<(String, Vec<(String, Option<StepSpecification>)>)>;

fn read_everything(manager: &RegistryManager) -> pipeline_deps::Result<Contents> {
    let mut contexts = Vec::new();
    for context in manager.list_contexts()? {
        let registry = manager.get_registry(&context)?;
        let mut steps = Vec::new();
        for step in registry.list_step_names()? {
            let spec = registry.get_specification(&step)?;
            steps.push((step, spec.as_deref().cloned()));
        }
        contexts.push((context, steps));
    }
    Ok(contexts)
}

fn copy_of_v1(dir: &Path, name: &str) -> TestResult<std::path::PathBuf> {
    let path = dir.join(name);
    std::fs::copy(V1, &path)?;
    Ok(path)
}

#[test]
fn a_flipped_bit_in_a_version_1_record_is_never_read_as_data_by_a_read_only_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let intact = copy_of_v1(dir.path(), "intact.redb")?;
    let expected = read_everything(&RegistryManager::builder().read_only(true).open(&intact)?)?;

    let damaged = copy_of_v1(dir.path(), "damaged.redb")?;
    let mut bytes = std::fs::read(&damaged)?;
    let at = bytes
        .windows(ONCE_IN_V1.len())
        .position(|w| w == ONCE_IN_V1)
        .ok_or("the version 1 fixture no longer holds the property path this test damages")?;
    // `B` of `BestTrainingJob` becomes `C`: still a valid record, with another path.
    bytes[at + "properties.".len()] ^= 1;
    std::fs::write(&damaged, &bytes)?;

    let read = RegistryManager::builder()
        .read_only(true)
        .open(&damaged)
        .and_then(|manager| read_everything(&manager));
    match read {
        Err(error) => assert!(error.is_corruption(), "{error:?}"),
        Ok(contexts) => assert!(
            contexts == expected,
            "a read-only open of a damaged version 1 file read data no commit wrote"
        ),
    }
    assert!(
        std::fs::read(&damaged)? == bytes,
        "a read-only open wrote the file"
    );
    Ok(())
}

#[test]
fn a_single_writer_inspector_reads_a_version_1_file_from_its_upgraded_copy() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = copy_of_v1(dir.path(), "registry.redb")?;
    let expected = read_everything(&RegistryManager::builder().read_only(true).open(&path)?)?;
    let inspector = RegistryManager::builder()
        .read_only(true)
        .concurrency(Concurrency::SingleWriter)
        .open(&path)?;
    assert!(!expected.is_empty());
    assert!(read_everything(&inspector)? == expected);
    drop(inspector);
    assert!(
        std::fs::read(&path)? == std::fs::read(V1)?,
        "a read-only open wrote the file"
    );
    Ok(())
}
