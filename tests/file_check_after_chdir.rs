//! A manager opened through a relative path goes on writing its file after the process
//! changes its working directory: the check that the path still names the opened file
//! (`file_gone_while_open.rs`) uses the path as it was when the manager opened it. This test
//! changes the working directory of its process, so it is its own test binary.
#![cfg(unix)]

mod common;

use common::{TestResult, spec};
use pipeline_deps::RegistryManager;

#[test]
fn a_relative_path_keeps_its_file_after_the_working_directory_changes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let elsewhere = tempfile::tempdir()?;
    std::env::set_current_dir(dir.path())?;
    let manager = RegistryManager::open("registry.redb")?;
    let registry = manager.get_registry("ml")?;
    registry.register("prep", &spec("Prep"))?;

    std::env::set_current_dir(elsewhere.path())?;
    registry.register("train", &spec("Train"))?;
    manager.get_registry("second")?;
    drop((registry, manager));

    assert!(!elsewhere.path().join("registry.redb").exists());
    let reopened = RegistryManager::open(dir.path().join("registry.redb"))?;
    assert_eq!(reopened.list_contexts()?, vec!["ml", "second"]);
    assert_eq!(
        reopened.get_registry("ml")?.list_step_names()?,
        vec!["prep", "train"]
    );
    Ok(())
}
