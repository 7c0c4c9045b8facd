//! The CLI's demo (`cli/src/demo.rs`, included here as a module) builds exactly the design's
//! three example contexts from real cursus specs (the
//! embedded excerpt is a verbatim copy of the fixture's entries), is idempotent, respects
//! workspace views, survives reopening and writes nothing on bad input.

#[allow(dead_code)]
#[path = "../src/demo.rs"]
mod demo;

use demo::{DEMO_CONTEXTS, DEMO_STEPS, DemoSource, EMBEDDED_DEMO_SPECS, build_demo, demo_specs};
use pipeline_deps::transfer::parse_steps_json;
use pipeline_deps::{Error, ImportOptions, RegistryManager, StepSpecification};
use serde_json::Value;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/cursus-step-specs.json"
);

fn fixture() -> TestResult<String> {
    Ok(std::fs::read_to_string(FIXTURE)?)
}

/// The spec of `fixture_step` in the full fixture, with `variant` applied.
fn fixture_spec(
    text: &str,
    fixture_step: &str,
    variant: Option<&str>,
) -> TestResult<StepSpecification> {
    let options = match variant {
        Some(job) => ImportOptions::new().variant(job),
        None => ImportOptions::default(),
    };
    parse_steps_json(text, &options)?
        .into_iter()
        .find(|(name, _)| name == fixture_step)
        .map(|(_, spec)| spec)
        .ok_or_else(|| format!("the fixture has no step {fixture_step}").into())
}

const EXPECTED_STATS: [(&str, usize, usize); 3] = [
    ("fraud_detection_training", 3, 3),
    ("fraud_detection_inference", 2, 2),
    ("unit_tests", 2, 2),
];

/// Checks that `manager` holds the demo exactly: contexts, step order, specs, stats.
fn assert_demo(manager: &RegistryManager, text: &str) -> TestResult {
    assert_eq!(manager.list_contexts()?, DEMO_CONTEXTS);
    let stats = manager.get_context_stats()?;
    for (context, steps, types) in EXPECTED_STATS {
        assert_eq!(stats[context].step_count, steps, "{context}");
        assert_eq!(stats[context].step_type_count, types, "{context}");
        assert_eq!(stats[context].registry_type, "SpecificationRegistry");
    }
    for context in DEMO_CONTEXTS {
        let registry = manager.get_registry(context)?;
        let planned: Vec<_> = DEMO_STEPS.iter().filter(|s| s.context == context).collect();
        let names: Vec<&str> = planned.iter().map(|s| s.step_name).collect();
        assert_eq!(registry.list_step_names()?, names);
        let types: Vec<&str> = planned.iter().map(|s| s.fixture_step).collect();
        assert_eq!(registry.list_step_types()?, types);
        for step in planned {
            let expected = fixture_spec(text, step.fixture_step, step.variant)?;
            let stored = registry
                .get_specification(step.step_name)?
                .ok_or_else(|| format!("{} missing", step.step_name))?;
            assert_eq!(*stored, expected, "{}", step.step_name);
        }
    }
    Ok(())
}

#[test]
fn the_embedded_excerpt_is_a_verbatim_copy_of_fixture_entries() -> TestResult {
    let full: Value = serde_json::from_str(&fixture()?)?;
    let excerpt: Value = serde_json::from_str(EMBEDDED_DEMO_SPECS)?;
    assert_eq!(excerpt["source"], full["source"]);
    assert!(
        excerpt["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("6a2e2022") && n.contains("EXCERPT"))
    );
    let steps = excerpt["steps"].as_array().ok_or("no steps")?;
    assert_eq!(excerpt["count"], steps.len());
    let mut needed: Vec<&str> = DEMO_STEPS.iter().map(|s| s.fixture_step).collect();
    needed.sort_unstable();
    let mut present: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["step_name"].as_str())
        .collect();
    present.sort_unstable();
    assert_eq!(
        present, needed,
        "the excerpt holds exactly the demo's steps"
    );

    let full_steps = full["steps"].as_array().ok_or("no steps")?;
    for entry in steps {
        let original = full_steps
            .iter()
            .find(|s| s["step_name"] == entry["step_name"])
            .ok_or("an excerpt step is not in the fixture")?;
        let (mut a, mut b) = (entry.clone(), original.clone());
        let kept = a
            .as_object_mut()
            .and_then(|o| o.remove("variants"))
            .ok_or("no variants")?;
        let all = b
            .as_object_mut()
            .and_then(|o| o.remove("variants"))
            .ok_or("no variants")?;
        assert_eq!(
            a, b,
            "entry {} differs from the fixture",
            entry["step_name"]
        );
        for (job, variant) in kept.as_object().ok_or("variants is not an object")? {
            assert_eq!(
                Some(variant),
                all.get(job),
                "variant {job} of {}",
                entry["step_name"]
            );
        }
    }
    Ok(())
}

#[test]
fn demo_specs_are_the_same_from_the_excerpt_and_the_full_fixture() -> TestResult {
    let text = fixture()?;
    assert_eq!(demo_specs(None)?, demo_specs(Some(&text))?);
    for (step, spec) in demo_specs(None)? {
        assert_eq!(spec, fixture_spec(&text, step.fixture_step, step.variant)?);
    }
    Ok(())
}

#[test]
fn build_demo_creates_the_designs_three_contexts() -> TestResult {
    let manager = RegistryManager::temporary()?;
    let summary = build_demo(&manager, None)?;
    assert_eq!(summary.source, DemoSource::Embedded);
    assert_eq!(summary.steps_registered(), 7);
    assert_eq!(
        summary.to_string(),
        "fraud_detection_training: 3 steps, 3 types\n\
         fraud_detection_inference: 2 steps, 2 types\n\
         unit_tests: 2 steps, 2 types\n"
    );
    let names: Vec<&str> = summary.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, DEMO_CONTEXTS);
    assert_eq!(
        summary.contexts[0].steps,
        ["data_loading", "feature_engineering", "model_training"]
    );
    assert_demo(&manager, &fixture()?)
}

#[test]
fn build_demo_reads_the_full_fixture_when_given() -> TestResult {
    let text = fixture()?;
    let manager = RegistryManager::in_memory()?;
    let summary = build_demo(&manager, Some(&text))?;
    assert_eq!(summary.source, DemoSource::Provided);
    assert_demo(&manager, &text)
}

#[test]
fn build_demo_twice_changes_nothing_and_keeps_other_steps() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    let first = build_demo(&manager, None)?;
    let extra = demo_specs(None)?.remove(0).1;
    manager
        .get_registry("unit_tests")?
        .register("extra", &extra)?;
    let second = build_demo(&manager, None)?;
    assert_eq!(second.contexts[0], first.contexts[0]);
    assert_eq!(second.contexts[2].stats.step_count, 3);
    assert_eq!(
        manager.get_registry("unit_tests")?.list_step_names()?,
        ["mock_data_source", "test_processor", "extra"]
    );
    Ok(())
}

#[test]
fn build_demo_in_a_workspace_stays_inside_it() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    manager.get_registry("production")?;
    let view = manager.workspace("demo");
    build_demo(&view, None)?;
    assert_eq!(view.list_contexts()?, DEMO_CONTEXTS);
    let mut expected = vec!["production".to_owned()];
    expected.extend(DEMO_CONTEXTS.iter().map(|c| format!("demo::{c}")));
    assert_eq!(manager.list_contexts()?, expected);
    assert!(manager.get_registry("production")?.is_empty()?);
    Ok(())
}

#[test]
fn the_demo_survives_closing_and_reopening_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("demo.redb");
    build_demo(&RegistryManager::open(&path)?, None)?;
    assert_demo(&RegistryManager::open(&path)?, &fixture()?)?;
    assert_demo(&RegistryManager::open_read_only(&path)?, &fixture()?)
}

#[test]
fn bad_input_or_a_read_only_manager_writes_nothing() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    let err = build_demo(&manager, Some("{not json"));
    assert!(matches!(err, Err(Error::InvalidInput { .. })), "{err:?}");
    let err = build_demo(
        &manager,
        Some(
            r#"{"steps": [{"step_name": "XGBoostModel", "step_type": "XGBoostModel", "outputs": {"m": {"type": "model_artifacts"}}}]}"#,
        ),
    );
    assert!(
        matches!(err, Err(Error::InvalidInput { ref detail, .. }) if detail.contains("CradleDataLoading")),
        "{err:?}"
    );
    assert!(manager.list_contexts()?.is_empty());

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("empty.redb");
    drop(RegistryManager::open(&path)?);
    let read_only = RegistryManager::open_read_only(&path)?;
    let err = build_demo(&read_only, None);
    // A read-only manager cannot create the demo's first context.
    assert!(
        matches!(&err, Err(Error::NoSuchContext { context, .. }) if context == "fraud_detection_training"),
        "{err:?}"
    );
    assert!(read_only.list_contexts()?.is_empty());
    Ok(())
}
