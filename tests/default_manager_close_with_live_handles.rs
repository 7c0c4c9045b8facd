//! After `close_default_manager`, the next use of the default manager works even while a
//! registry taken before the close still holds the file open: it takes that manager back
//! (same file, same data), where it used to fail with `InUse` ("already open by another
//! process or manager"); once every handle is gone the file is closed and opened afresh.

use pipeline_deps::default_manager::{close_default_manager, set_default_database_path};
use pipeline_deps::{NodeType, RegistryManager, StepSpecification};

type TestResult = Result<(), Box<dyn std::error::Error>>;

// One test in this binary: the default manager is process-wide state.
#[test]
fn the_next_use_after_a_close_takes_back_a_manager_still_held_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    set_default_database_path(&path)?;
    let spec = StepSpecification::new("Train", NodeType::Singular);

    let held = pipeline_deps::get_registry("training")?;
    held.register("train", &spec)?;
    assert!(close_default_manager());
    // The held registry keeps the file open; the free functions still work on it.
    assert_eq!(pipeline_deps::list_contexts()?, ["training"]);
    let again = pipeline_deps::get_registry("training")?;
    assert_eq!(again, held);
    again.register("evaluate", &spec)?;
    assert_eq!(held.list_step_names()?, ["train", "evaluate"]);

    // Once every handle is dropped, the close really closes the file.
    assert!(close_default_manager());
    drop((held, again));
    let other = RegistryManager::open(&path)?;
    assert_eq!(other.get_registry("training")?.len()?, 2);
    drop(other);
    assert_eq!(
        pipeline_deps::get_context_stats()?["training"].step_count,
        2
    );

    // A close followed by another path opens that one, the old file being held or not.
    let held = pipeline_deps::get_registry("training")?;
    assert!(close_default_manager());
    set_default_database_path(dir.path().join("other.redb"))?;
    assert!(pipeline_deps::list_contexts()?.is_empty());
    assert_eq!(held.len()?, 2);
    assert!(close_default_manager());
    Ok(())
}
