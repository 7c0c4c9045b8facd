//! The manager contract: contexts are isolated, created once, listed in creation order,
//! cleared for good (old handles never write into a new context of the same name), and
//! workspace views see only their own contexts.

mod common;

use std::sync::{Arc, Barrier};

use common::{TestResult, spec};
use pipeline_deps::Error;
use pipeline_deps::pipeline::{PipelineConfig, WithRegistry};
use pipeline_deps::spec::MAX_NAME_BYTES;

#[test]
fn contexts_are_isolated_and_listed_in_creation_order() -> TestResult {
    let manager = common::manager()?;
    let training = manager.get_registry("training_pipeline")?;
    let inference = manager.get_registry("inference_pipeline")?;
    let testing = manager.get_registry("unit_tests")?;
    training.register("data_loading", &spec("TrainingData"))?;
    inference.register("data_loading", &spec("InferenceData"))?;
    testing.register("data_loading", &spec("TestData"))?;
    assert_eq!(
        manager.list_contexts()?,
        ["training_pipeline", "inference_pipeline", "unit_tests"]
    );
    assert_eq!(
        training
            .get_specification("data_loading")?
            .ok_or("missing")?
            .step_type,
        "TrainingData"
    );
    assert_eq!(
        inference
            .get_specification("data_loading")?
            .ok_or("missing")?
            .step_type,
        "InferenceData"
    );
    assert_eq!(testing.list_step_types()?, ["TestData"]);
    Ok(())
}

#[test]
fn get_registry_returns_equal_handles_and_if_exists_does_not_create() -> TestResult {
    let manager = common::manager()?;
    assert_eq!(manager.get_registry_if_exists("nonexistent")?, None);
    assert!(manager.list_contexts()?.is_empty());
    let first = manager.get_registry("new_pipeline")?;
    let second = manager.get_registry("new_pipeline")?;
    assert_eq!(first, second);
    assert_eq!(
        manager.get_registry_if_exists("new_pipeline")?,
        Some(first.clone())
    );
    assert_ne!(first, manager.get_registry("other")?);
    let other_db = common::manager()?;
    assert_ne!(first, other_db.get_registry("new_pipeline")?);
    Ok(())
}

#[test]
fn a_handle_taken_before_clear_context_never_writes_again() -> TestResult {
    let manager = common::manager()?;
    let old = manager.get_registry("ctx")?;
    old.register("a", &spec("A"))?;
    assert!(manager.clear_context("ctx")?);
    assert!(!manager.clear_context("ctx")?);
    assert!(!manager.list_contexts()?.contains(&"ctx".to_owned()));

    let fresh = manager.get_registry("ctx")?;
    assert!(
        fresh.is_empty()?,
        "a context created after a clear starts empty"
    );
    assert_ne!(old, fresh);
    for result in [
        old.register("b", &spec("B")).map(|_| ()),
        old.upsert("b", &spec("B")),
        old.unregister("a").map(|_| ()),
        old.clear(),
        old.len().map(|_| ()),
        old.get_specification("a").map(|_| ()),
        old.list_step_names().map(|_| ()),
        old.iter().map(|_| ()),
    ] {
        let Err(error) = result else {
            panic!("a call through a cleared handle succeeded");
        };
        assert!(matches!(&error, Error::ContextCleared { context } if context == "ctx"));
        assert!(error.to_string().contains("get_registry"), "{error}");
    }
    assert!(fresh.is_empty()?, "nothing leaked into the new context");
    Ok(())
}

#[test]
fn a_cleared_contexts_cached_specs_are_never_served() -> TestResult {
    let manager = common::manager()?;
    for clear_all in [false, true] {
        let old = manager.get_registry("ctx")?;
        old.register("a", &spec("A"))?;
        // Reads through the handle fill its cache.
        assert_eq!(
            old.get_specification("a")?.map(|s| s.step_type.clone()),
            Some("A".into())
        );
        assert_eq!(old.get_specifications_by_type("A")?.len(), 1);
        if clear_all {
            manager.clear_all_contexts()?;
        } else {
            assert!(manager.clear_context("ctx")?);
        }
        // Also once the name holds a new context with a step of the same name.
        manager.get_registry("ctx")?.register("a", &spec("B"))?;
        for result in [
            old.get_specification("a").map(|_| ()),
            old.get_specifications_by_type("A").map(|_| ()),
            old.contains("a").map(|_| ()),
        ] {
            let Err(error) = result else {
                panic!("a cleared handle served its cached specs (clear_all: {clear_all})");
            };
            assert!(matches!(&error, Error::ContextCleared { context } if context == "ctx"));
        }
        assert!(manager.clear_context("ctx")?);
    }
    Ok(())
}

#[test]
fn a_registry_handed_out_by_another_manager_is_not_cleared_by_handle() -> TestResult {
    let (ours, theirs) = (common::manager()?, common::manager()?);
    ours.get_registry("shared_name")?
        .register("s", &spec("T"))?;
    let foreign = theirs.get_registry("shared_name")?;
    match ours.clear_context_of(&foreign) {
        Err(Error::InvalidInput { what, detail, .. }) => {
            assert!(what.contains("shared_name"), "{what}");
            assert!(detail.contains("another manager"), "{detail}");
        }
        other => return Err(format!("expected invalid input, got {other:?}").into()),
    }
    // Nothing was cleared on either side.
    assert_eq!(ours.get_context_stats()?["shared_name"].step_count, 1);
    assert_eq!(theirs.list_contexts()?, ["shared_name"]);
    Ok(())
}

#[test]
fn clear_all_contexts_removes_everything_and_reports_the_count() -> TestResult {
    let manager = common::manager()?;
    for name in ["a", "b", "c"] {
        manager.get_registry(name)?.register("s", &spec("T"))?;
    }
    assert_eq!(manager.clear_all_contexts()?, 3);
    assert!(manager.list_contexts()?.is_empty());
    assert!(manager.get_context_stats()?.is_empty());
    assert_eq!(manager.clear_all_contexts()?, 0);
    Ok(())
}

/// The clears that report what they deleted give each context's statistics as deleted,
/// in creation order (not name order), under the names of the view they were called on.
#[test]
fn clears_with_stats_report_what_they_deleted_in_creation_order() -> TestResult {
    let manager = common::manager()?;
    let ws = manager.workspace("ws");
    let zeta = ws.get_registry("zeta")?;
    zeta.register("a", &spec("T"))?;
    zeta.register("b", &spec("U"))?;
    zeta.register("c", &spec("T"))?;
    ws.get_registry("alpha")?;
    ws.get_registry("mid")?.register("only", &spec("V"))?;
    manager.get_registry("outside")?.register("s", &spec("T"))?;

    let mid = ws.clear_context_with_stats("mid")?.ok_or("mid existed")?;
    assert_eq!((mid.step_count, mid.step_type_count), (1, 1));
    assert_eq!(ws.clear_context_with_stats("mid")?, None);
    // A write through the handle just before the clear is counted by it.
    zeta.register("d", &spec("W"))?;
    let cleared = ws.clear_all_contexts_with_stats()?;
    let shown: Vec<(&str, usize, usize)> = cleared
        .iter()
        .map(|(name, s)| (name.as_str(), s.step_count, s.step_type_count))
        .collect();
    assert_eq!(shown, [("zeta", 4, 3), ("alpha", 0, 0)]);
    assert_eq!(manager.list_contexts()?, ["outside"]);
    assert!(ws.clear_all_contexts_with_stats()?.is_empty());
    Ok(())
}

#[test]
fn stats_come_from_the_catalog_in_creation_order() -> TestResult {
    let manager = common::manager()?;
    let training = manager.get_registry("fraud_detection_training")?;
    training.register("data_loading", &spec("CradleDataLoading"))?;
    training.register("feature_engineering", &spec("TabularPreprocessing"))?;
    training.register("model_training", &spec("XGBoostTraining"))?;
    let inference = manager.get_registry("fraud_detection_inference")?;
    inference.register("model_loading", &spec("XGBoostModel"))?;
    inference.register("batch_transform", &spec("BatchTransform"))?;
    manager.get_registry("empty")?;
    let stats = manager.get_context_stats()?;
    let expected = [
        ("fraud_detection_training", 3, 3),
        ("fraud_detection_inference", 2, 2),
        ("empty", 0, 0),
    ];
    assert_eq!(stats.len(), expected.len());
    for ((name, stat), (want_name, steps, types)) in stats.iter().zip(expected) {
        assert_eq!(name, want_name);
        // `ContextStats` is `#[non_exhaustive]`: compared field by field.
        assert_eq!(
            (stat.step_count, stat.step_type_count, stat.registry_type),
            (steps, types, "SpecificationRegistry")
        );
    }
    Ok(())
}

#[test]
fn workspace_views_prefix_every_operation_and_see_only_their_contexts() -> TestResult {
    // Deliberate difference D2 (docs/design.md): the Python reference did not prefix
    // clear_context.
    let manager = common::manager()?;
    manager.get_registry("plain")?;
    let ws = manager.workspace("ws");
    let other = manager.workspace("other");
    let registry = ws.get_registry("ctx")?;
    assert_eq!(registry.context_name(), "ws::ctx");
    registry.register("s", &spec("T"))?;
    other.get_registry("ctx")?;

    assert_eq!(ws.list_contexts()?, ["ctx"]);
    assert_eq!(other.list_contexts()?, ["ctx"]);
    assert_eq!(manager.list_contexts()?, ["plain", "ws::ctx", "other::ctx"]);
    assert_eq!(ws.get_context_stats()?["ctx"].step_count, 1);
    assert_eq!(other.get_context_stats()?["ctx"].step_count, 0);
    assert_eq!(manager.get_registry("ws::ctx")?, registry);
    assert!(other.get_registry("ctx")?.get_specification("s")?.is_none());

    // The name given in a view follows the rules on its own: an empty one would have named
    // the context `ws::`.
    let empty = ws.get_registry("").err();
    assert!(
        matches!(&empty, Some(Error::InvalidContextName { name, .. }) if name.is_empty()),
        "{empty:?}"
    );

    let nested = ws.workspace("inner");
    assert_eq!(nested.get_registry("x")?.context_name(), "ws::inner::x");
    assert_eq!(ws.list_contexts()?, ["ctx", "inner::x"]);

    assert!(ws.clear_context("ctx")?);
    assert_eq!(
        other.list_contexts()?,
        ["ctx"],
        "the other workspace is untouched"
    );
    assert_eq!(ws.clear_all_contexts()?, 1);
    assert_eq!(manager.list_contexts()?, ["plain", "other::ctx"]);
    assert_eq!(
        manager.workspace("").list_contexts()?,
        ["plain", "other::ctx"]
    );
    Ok(())
}

#[test]
fn context_names_are_validated() -> TestResult {
    let manager = common::manager()?;
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    for bad in ["", long.as_str(), "tab\there", "nul\0", "line\nbreak"] {
        let Err(error) = manager.get_registry(bad) else {
            panic!("{bad:?} was accepted");
        };
        assert!(matches!(error, Error::InvalidContextName { .. }), "{error}");
        assert!(error.is_invalid_input());
        assert!(error.to_string().len() < 400, "the message stays short");
        assert!(manager.get_registry_if_exists(bad).is_err());
        assert!(manager.clear_context(bad).is_err());
    }
    let at_limit = "y".repeat(MAX_NAME_BYTES);
    for good in [
        "a::b",
        "dir/name",
        "with spaces",
        "ünïcødé ✓",
        at_limit.as_str(),
    ] {
        assert_eq!(manager.get_registry(good)?.context_name(), good);
    }
    assert_eq!(manager.list_contexts()?.len(), 5);
    Ok(())
}

#[test]
fn sixteen_threads_create_exactly_one_context() -> TestResult {
    let manager = common::manager()?;
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let manager = manager.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                manager.get_registry("shared")
            })
        })
        .collect();
    let mut registries = Vec::new();
    for handle in handles {
        registries.push(handle.join().map_err(|_| "thread panicked")??);
    }
    assert!(registries.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(manager.list_contexts()?, ["shared"]);
    Ok(())
}

#[test]
fn concurrent_registrations_into_different_contexts_all_land() -> TestResult {
    let manager = common::manager()?;
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let manager = manager.clone();
            std::thread::spawn(move || -> pipeline_deps::Result<()> {
                let registry = manager.get_registry(&format!("ctx{t}"))?;
                for i in 0..20 {
                    registry.register(&format!("step{i}"), &spec(&format!("T{}", i % 3)))?;
                }
                Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle.join().map_err(|_| "thread panicked")??;
    }
    let stats = manager.get_context_stats()?;
    assert_eq!(stats.len(), 8);
    for t in 0..8 {
        assert_eq!(stats[&format!("ctx{t}")].step_count, 20);
        assert_eq!(stats[&format!("ctx{t}")].step_type_count, 3);
        assert_eq!(manager.get_registry(&format!("ctx{t}"))?.len()?, 20);
    }
    Ok(())
}

#[test]
fn a_scoped_context_is_cleared_on_drop_even_when_the_test_panics() -> TestResult {
    let manager = common::manager()?;
    {
        let scoped = manager.scoped_context("test_main")?;
        scoped.register("step1", &spec("T"))?;
        assert_eq!(manager.list_contexts()?, ["test_main"]);
    }
    assert!(manager.list_contexts()?.is_empty());

    let inner = manager.clone();
    let outcome = std::panic::catch_unwind(move || {
        let scoped = inner.scoped_context("test_panics").ok();
        assert!(scoped.is_some());
        panic!("simulated test failure");
    });
    assert!(outcome.is_err());
    assert!(
        manager.list_contexts()?.is_empty(),
        "cleared during unwinding"
    );
    Ok(())
}

#[test]
fn a_scope_clears_only_its_own_context_not_one_created_later_under_its_name() -> TestResult {
    let manager = common::manager()?;
    let scoped = manager.scoped_context("shared")?;
    scoped.register("mine", &spec("T"))?;
    // Someone else clears the context and creates a new one under the same name.
    manager.clear_context("shared")?;
    manager
        .get_registry("shared")?
        .register("theirs", &spec("T"))?;
    drop(scoped);
    assert_eq!(
        manager.get_registry("shared")?.list_step_names()?,
        ["theirs"],
        "the scope left the new context alone"
    );
    // Nested scopes of one name: the inner one clears the context, the outer one then
    // leaves alone the context created after that.
    let outer = manager.scoped_context("nested")?;
    drop(manager.scoped_context("nested")?);
    manager
        .get_registry("nested")?
        .register("later", &spec("T"))?;
    drop(outer);
    assert_eq!(manager.list_contexts()?, ["shared", "nested"]);
    Ok(())
}

struct Config {
    pipeline_name: Option<String>,
    environment: Option<String>,
}

impl PipelineConfig for Config {
    fn pipeline_name(&self) -> Option<&str> {
        self.pipeline_name.as_deref()
    }
    fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }
}

#[test]
fn pipeline_builders_get_the_registry_of_their_pipeline_context() -> TestResult {
    let manager = common::manager()?;
    let config = |name: Option<&str>, env: Option<&str>| Config {
        pipeline_name: name.map(str::to_owned),
        environment: env.map(str::to_owned),
    };
    let dev = WithRegistry::new(&manager, &config(Some("fraud_detection"), Some("dev")), 1)?;
    let prod = WithRegistry::new(&manager, &config(Some("fraud_detection"), Some("prod")), 2)?;
    let unnamed = WithRegistry::new(&manager, &config(None, None), 3)?;
    let plain = WithRegistry::new(&manager, &config(Some("plain"), None), 4)?;
    assert_eq!(dev.registry().context_name(), "fraud_detection_dev");
    assert_eq!(prod.registry().context_name(), "fraud_detection_prod");
    assert_eq!(unnamed.registry().context_name(), "default_pipeline");
    assert_eq!(plain.registry().context_name(), "plain");
    assert_eq!(*dev + *prod, 3, "the wrapper derefs to the builder");
    dev.registry().register("data_loading", &spec("Dev"))?;
    assert!(prod.registry().is_empty()?);
    Ok(())
}

#[test]
fn an_import_into_an_empty_context_refuses_one_that_holds_steps_and_writes_nothing() -> TestResult {
    let manager = common::manager()?;
    let steps = vec![
        ("train".to_owned(), spec("Train")),
        ("eval".to_owned(), spec("Eval")),
    ];
    // Absent: created with its steps. Empty: filled.
    let created = manager.import_steps_into_empty("absent", &steps)?;
    assert!(created.context_created);
    manager.get_registry("empty")?;
    let filled = manager.import_steps_into_empty("empty", &steps)?;
    assert_eq!((filled.context_created, filled.new), (false, 2));
    // Holding a step of another name: refused, with nothing merged into it.
    let taken = manager.get_registry("taken")?;
    taken.register("mine", &spec("Mine"))?;
    let before = manager.get_context_stats()?;
    match manager.import_steps_into_empty("taken", &steps) {
        Err(Error::ContextNotEmpty {
            context,
            step_count,
        }) => assert_eq!((context.as_str(), step_count), ("taken", 1)),
        other => return Err(format!("expected ContextNotEmpty, got {other:?}").into()),
    }
    assert_eq!(taken.list_step_names()?, ["mine"]);
    assert_eq!(manager.get_context_stats()?, before);
    Ok(())
}
