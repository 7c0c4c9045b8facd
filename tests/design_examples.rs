//! Every usage example of the registry-manager design (docs/design.md) reproduced through the
//! process-wide default manager and its free functions, pointed at a temporary file (or, with
//! `PIPELINE_DEPS_TEST_BACKEND=postgres`, at a fresh PostgreSQL database).

mod common;

use std::sync::{Mutex, MutexGuard, OnceLock};

use common::{TestResult, spec};
use pipeline_deps::default_manager::registry_manager;
use pipeline_deps::pipeline::{PipelineConfig, integrate_with_pipeline_builder};
use pipeline_deps::{
    clear_all_contexts, clear_context, get_context_stats, get_default_registry,
    get_pipeline_registry, get_registry, list_contexts,
};

/// Where the default manager of this test binary was pointed.
static CHOSEN: OnceLock<std::path::PathBuf> = OnceLock::new();

/// The default manager is process-wide: tests in this file take turns and start from an
/// empty database.
fn default_manager() -> TestResult<MutexGuard<'static, ()>> {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let guard = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if DIR.get().is_none() {
        let dir = tempfile::tempdir()?;
        let database =
            common::default_database("design_examples", dir.path().join("default.redb"))?;
        pipeline_deps::default_manager::set_default_database_path(&database)?;
        let _ = CHOSEN.set(database);
        let _ = DIR.set(dir);
    }
    clear_all_contexts()?;
    Ok(guard)
}

#[test]
fn multi_registry_coordination() -> TestResult {
    let _turn = default_manager()?;
    let training = get_registry("training_pipeline")?;
    let inference = get_registry("inference_pipeline")?;
    let testing = get_registry("unit_tests")?;
    training.register("data_loading", &spec("TrainingDataLoading"))?;
    inference.register("data_loading", &spec("InferenceDataLoading"))?;
    testing.register("data_loading", &spec("TestDataLoading"))?;
    let all = registry_manager()?.list_contexts()?;
    assert_eq!(
        format!("Managing {} registry contexts: {:?}", all.len(), all),
        r#"Managing 3 registry contexts: ["training_pipeline", "inference_pipeline", "unit_tests"]"#
    );
    Ok(())
}

#[test]
fn intelligent_registry_lifecycle() -> TestResult {
    let _turn = default_manager()?;
    let pipeline = get_registry("new_pipeline")?;
    let existing = get_registry("new_pipeline")?;
    assert_eq!(pipeline, existing);
    assert!(
        registry_manager()?
            .get_registry_if_exists("nonexistent")?
            .is_none()
    );
    assert!(!registry_manager()?.clear_context("old_pipeline")?);
    get_registry("old_pipeline")?;
    assert!(registry_manager()?.clear_context("old_pipeline")?);
    registry_manager()?.clear_all_contexts()?;
    assert_eq!(registry_manager()?.list_contexts()?.len(), 0);
    Ok(())
}

#[test]
fn statistics_monitoring_and_convenience_functions() -> TestResult {
    let _turn = default_manager()?;
    let training = get_registry("training_pipeline")?;
    for (name, t) in [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D"), ("e", "D")] {
        training.register(name, &spec(t))?;
    }
    let inference = get_pipeline_registry("inference_pipeline")?;
    for (name, t) in [("x", "X"), ("y", "Y"), ("z", "Z")] {
        inference.register(name, &spec(t))?;
    }
    let mut report = String::new();
    for (context, stats) in get_context_stats()? {
        report += &format!(
            "Context: {context}\n  Steps: {}\n  Types: {}\n  Registry: {}\n\n",
            stats.step_count, stats.step_type_count, stats.registry_type
        );
    }
    assert_eq!(
        report,
        "Context: training_pipeline\n  Steps: 5\n  Types: 4\n  Registry: SpecificationRegistry\n\n\
         Context: inference_pipeline\n  Steps: 3\n  Types: 3\n  Registry: SpecificationRegistry\n\n"
    );
    assert_eq!(get_registry("test")?, get_pipeline_registry("test")?);
    assert_eq!(get_default_registry()?, get_registry("default")?);
    assert_eq!(get_default_registry()?.context_name(), "default");
    assert_eq!(list_contexts()?.len(), 4);
    assert!(clear_context("test")?);
    Ok(())
}

#[test]
fn specification_registry_integration() -> TestResult {
    let _turn = default_manager()?;
    let registry = get_registry("my_pipeline")?;
    assert_eq!(registry.context_name(), "my_pipeline");
    get_registry("other_pipeline")?;
    let all: Vec<_> = list_contexts()?
        .iter()
        .map(|c| get_registry(c))
        .collect::<Result<_, _>>()?;
    assert_eq!(all.len(), 2);
    Ok(())
}

struct Config {
    pipeline_name: &'static str,
    environment: Option<&'static str>,
}

impl PipelineConfig for Config {
    fn pipeline_name(&self) -> Option<&str> {
        Some(self.pipeline_name)
    }
    fn environment(&self) -> Option<&str> {
        self.environment
    }
}

#[test]
fn pipeline_builder_integration_per_environment() -> TestResult {
    let _turn = default_manager()?;
    let simple = integrate_with_pipeline_builder(&Config {
        pipeline_name: "training",
        environment: None,
    })?;
    simple.register("data_loading", &spec("DataLoading"))?;
    simple.register("training", &spec("Training"))?;
    assert_eq!(simple.context_name(), "training");

    let dev = integrate_with_pipeline_builder(&Config {
        pipeline_name: "fraud_detection",
        environment: Some("dev"),
    })?;
    let prod = integrate_with_pipeline_builder(&Config {
        pipeline_name: "fraud_detection",
        environment: Some("prod"),
    })?;
    dev.register("data_loading", &spec("DevDataLoading"))?;
    dev.register("training", &spec("FastTraining"))?;
    prod.register("data_loading", &spec("ProdDataLoading"))?;
    let stats = get_context_stats()?;
    assert_eq!(stats["fraud_detection_dev"].step_count, 2);
    assert_eq!(stats["fraud_detection_prod"].step_count, 1);
    assert!(prod.get_specification("training")?.is_none(), "isolated");
    Ok(())
}

#[test]
fn testing_framework_set_up_and_tear_down() -> TestResult {
    let _turn = default_manager()?;
    get_registry("test_stale")?;
    get_registry("production")?;
    // setUp: clear existing test contexts, create test registries.
    for context in list_contexts()? {
        if context.starts_with("test_") {
            clear_context(&context)?;
        }
    }
    let main = get_registry("test_main")?;
    let helper = get_registry("test_helper")?;
    main.register("step1", &spec("T1"))?;
    helper.register("step2", &spec("T2"))?;
    assert!(main.list_step_names()?.contains(&"step1".to_owned()));
    assert!(!helper.list_step_names()?.contains(&"step1".to_owned()));
    let stats = get_context_stats()?;
    assert_eq!(stats["test_main"].step_count, 1);
    assert_eq!(stats["test_helper"].step_count, 1);

    let temp = get_registry("test_temp")?;
    temp.register("temp_step", &spec("T1"))?;
    assert!(list_contexts()?.contains(&"test_temp".to_owned()));
    assert!(clear_context("test_temp")?);
    assert!(!list_contexts()?.contains(&"test_temp".to_owned()));
    assert!(!clear_context("nonexistent")?);
    // tearDown.
    clear_context("test_main")?;
    clear_context("test_helper")?;
    assert_eq!(list_contexts()?, ["production"]);
    Ok(())
}

#[test]
fn production_monitoring_and_cleanup() -> TestResult {
    let _turn = default_manager()?;
    get_registry("fraud_detection_training")?.register_many([
        ("data_loading", &spec("CradleDataLoading")),
        ("feature_engineering", &spec("TabularPreprocessing")),
        ("model_training", &spec("XGBoostTraining")),
    ])?;
    get_registry("test_a")?.register("s", &spec("T"))?;
    get_registry("temp_b")?;
    let stats = get_context_stats()?;
    let total_steps: usize = stats.values().map(|s| s.step_count).sum();
    let total_types: usize = stats.values().map(|s| s.step_type_count).sum();
    assert_eq!((stats.len(), total_steps, total_types), (3, 4, 4));

    let mut cleaned = 0;
    for context in list_contexts()? {
        if (context.starts_with("test_") || context.starts_with("temp_"))
            && clear_context(&context)?
        {
            cleaned += 1;
        }
    }
    assert_eq!(cleaned, 2);
    assert_eq!(list_contexts()?, ["fraud_detection_training"]);
    Ok(())
}

#[test]
fn the_default_path_cannot_change_once_open() -> TestResult {
    let _turn = default_manager()?;
    let Err(error) = pipeline_deps::default_manager::set_default_database_path("/elsewhere.redb")
    else {
        panic!("the default manager was re-pointed after opening");
    };
    assert!(error.to_string().contains("already open"), "{error}");
    assert_eq!(
        pipeline_deps::default_manager::resolve_default_path(),
        CHOSEN.get().cloned()
    );
    Ok(())
}

#[test]
fn an_empty_default_path_is_refused_and_changes_nothing() -> TestResult {
    let _turn = default_manager()?;
    let before = pipeline_deps::default_manager::resolve_default_path();
    let Err(error) = pipeline_deps::default_manager::set_default_database_path("") else {
        panic!("an empty default path was accepted");
    };
    assert_eq!(
        error.kind(),
        pipeline_deps::ErrorKind::InvalidInput,
        "{error}"
    );
    assert!(error.to_string().contains("empty"), "{error}");
    assert_eq!(
        pipeline_deps::default_manager::resolve_default_path(),
        before
    );
    Ok(())
}
