//! The registry contract: registration order, exact step-type index, all-or-nothing batch
//! writes, the Python reference's compatible-output scoring, JSON round trips, and names
//! that cannot be registered being simply absent (on every backend).

mod common;

use common::{FIXTURE, TestResult, real_specs, source, spec};
use pipeline_deps::{
    DependencySpec, DependencyType, Error, ImportOptions, NodeType, StepSpecification,
};

#[test]
fn register_then_read_back_in_registration_order() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    assert_eq!(registry.context_name(), "ctx");
    assert!(registry.is_empty()?);
    registry.register("b_step", &spec("B"))?;
    registry.register("a_step", &spec("A"))?;
    registry.register("c_step", &spec("B"))?;
    assert_eq!(registry.list_step_names()?, ["b_step", "a_step", "c_step"]);
    assert_eq!(registry.list_step_types()?, ["B", "A"]);
    assert_eq!(registry.len()?, 3);
    assert!(registry.contains("a_step")?);
    assert!(!registry.contains("z_step")?);
    assert_eq!(
        registry.get_specification("a_step")?.as_deref(),
        Some(&spec("A"))
    );
    assert_eq!(registry.get_specification("z_step")?, None);
    let by_type = registry.get_specifications_by_type("B")?;
    assert_eq!(by_type.len(), 2);
    assert!(registry.get_specifications_by_type("Z")?.is_empty());
    let names: Vec<String> = registry.iter()?.map(|(name, _)| name).collect();
    assert_eq!(names, ["b_step", "a_step", "c_step"]);
    Ok(())
}

#[test]
fn register_of_a_taken_name_is_refused_and_changes_nothing() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    registry.register("s", &spec("T1"))?;
    let revision = registry.revision()?;
    let Err(error) = registry.register("s", &spec("T2")) else {
        panic!("re-registering a taken name succeeded");
    };
    assert!(
        matches!(&error, Error::AlreadyRegistered { context, step } if context == "ctx" && step == "s")
    );
    assert!(error.to_string().contains("upsert"), "{error}");
    assert_eq!(
        registry.get_specification("s")?.as_deref(),
        Some(&spec("T1"))
    );
    assert_eq!(registry.list_step_types()?, ["T1"]);
    assert_eq!(registry.revision()?, revision);
    Ok(())
}

#[test]
fn upsert_replaces_in_place_and_keeps_the_type_index_exact() -> TestResult {
    // Deliberate difference D1 (docs/design.md): the Python reference appended duplicate names and kept stale types.
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    registry.register("s", &spec("T1"))?;
    registry.register("t", &spec("T0"))?;
    registry.upsert("s", &spec("T1"))?;
    assert_eq!(registry.get_specifications_by_type("T1")?.len(), 1);
    registry.upsert("s", &spec("T2"))?;
    assert_eq!(
        registry.list_step_names()?,
        ["s", "t"],
        "upsert keeps the position"
    );
    assert_eq!(registry.list_step_types()?, ["T0", "T2"], "T1 is gone");
    assert!(registry.get_specifications_by_type("T1")?.is_empty());
    assert_eq!(
        registry.get_specifications_by_type("T2")?[0].step_type,
        "T2"
    );
    let stats = manager.get_context_stats()?;
    assert_eq!(
        (stats["ctx"].step_count, stats["ctx"].step_type_count),
        (2, 2)
    );
    registry.upsert("new", &spec("T3"))?;
    assert_eq!(registry.list_step_names()?, ["s", "t", "new"]);
    Ok(())
}

#[test]
fn the_same_spec_under_five_names_counts_one_type() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    for i in 0..5 {
        registry.register(&format!("step{i}"), &spec("Shared"))?;
    }
    let stats = manager.get_context_stats()?;
    assert_eq!(
        (stats["ctx"].step_count, stats["ctx"].step_type_count),
        (5, 1)
    );
    Ok(())
}

#[test]
fn register_many_is_all_or_nothing() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    registry.register("existing", &spec("E"))?;
    let (a, b) = (spec("A"), spec("B"));
    let invalid = StepSpecification::new("", NodeType::Internal);

    let Err(error) = registry.register_many([("a", &a), ("bad1", &invalid), ("bad2", &invalid)])
    else {
        panic!("a batch with invalid specs succeeded");
    };
    let Error::InvalidSpec { problems, .. } = &error else {
        panic!("unexpected error {error}");
    };
    let steps: Vec<&str> = problems.iter().map(|p| p.step.as_str()).collect();
    assert_eq!(
        steps,
        ["bad1", "bad1", "bad2", "bad2"],
        "every problem of every spec"
    );

    assert!(matches!(
        registry.register_many([("a", &a), ("existing", &b)]),
        Err(Error::AlreadyRegistered { .. })
    ));
    // A name given twice in one batch is the caller's mistake, not a taken name, for both
    // batch writes (and as for an import).
    for replace in [false, true] {
        let twice = [("a", &a), ("a", &b)];
        let result = if replace {
            registry.upsert_many(twice)
        } else {
            registry.register_many(twice)
        };
        let Err(error) = result else {
            panic!("a batch naming a step twice succeeded (replace: {replace})");
        };
        assert!(error.is_invalid_input(), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("step 'a' is given more than once"),
            "{error}"
        );
    }
    assert_eq!(
        registry.list_step_names()?,
        ["existing"],
        "nothing was applied"
    );
    assert_eq!(manager.get_context_stats()?["ctx"].step_count, 1);

    assert_eq!(registry.register_many([("a", &a), ("b", &b)])?, 2);
    assert_eq!(registry.list_step_names()?, ["existing", "a", "b"]);
    assert_eq!(registry.upsert_many([("a", &b), ("c", &a)])?, 2);
    assert_eq!(registry.list_step_names()?, ["existing", "a", "b", "c"]);
    assert_eq!(registry.list_step_types()?, ["E", "B", "A"]);
    Ok(())
}

#[test]
fn unregister_removes_the_step_and_its_type_when_last() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    registry.register("a", &spec("A"))?;
    registry.register("b", &spec("B"))?;
    registry.register("b2", &spec("B"))?;
    assert!(registry.unregister("a")?);
    assert!(!registry.unregister("a")?);
    assert!(registry.unregister("b")?);
    assert_eq!(registry.list_step_names()?, ["b2"]);
    assert_eq!(registry.list_step_types()?, ["B"]);
    assert_eq!(registry.get_specification("a")?, None);
    registry.register("a", &spec("A"))?;
    assert_eq!(
        registry.list_step_names()?,
        ["b2", "a"],
        "re-registered goes last"
    );
    let stats = manager.get_context_stats()?;
    assert_eq!(
        (stats["ctx"].step_count, stats["ctx"].step_type_count),
        (2, 2)
    );
    Ok(())
}

#[test]
fn clear_empties_the_context_but_keeps_the_handle() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    registry.register("a", &spec("A"))?;
    registry.get_specification("a")?; // warm the cache
    registry.clear()?;
    assert!(registry.is_empty()?);
    assert_eq!(
        registry.get_specification("a")?,
        None,
        "the cache was invalidated"
    );
    assert!(registry.list_step_types()?.is_empty());
    assert_eq!(manager.list_contexts()?, ["ctx"]);
    registry.register("a", &spec("A"))?;
    assert_eq!(registry.len()?, 1);
    Ok(())
}

#[test]
fn every_write_bumps_the_revision() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    let mut last = registry.revision()?;
    let mut bumped = |registry: &pipeline_deps::SpecificationRegistry| -> TestResult<bool> {
        let now = registry.revision()?;
        let changed = now != last;
        last = now;
        Ok(changed)
    };
    registry.register("a", &spec("A"))?;
    assert!(bumped(&registry)?);
    registry.upsert("a", &spec("B"))?;
    assert!(bumped(&registry)?);
    registry.unregister("a")?;
    assert!(bumped(&registry)?);
    registry.register("b", &spec("B"))?;
    assert!(bumped(&registry)?);
    registry.clear()?;
    assert!(bumped(&registry)?);
    registry.get_specification("a")?;
    assert!(!bumped(&registry)?);
    // Writes that change nothing commit nothing (tests/noop_writes.rs).
    registry.unregister("a")?;
    registry.clear()?;
    assert!(!bumped(&registry)?);
    Ok(())
}

#[test]
fn cached_reads_see_writes_from_other_handles() -> TestResult {
    let manager = common::manager()?;
    let first = manager.get_registry("ctx")?;
    let second = manager.get_registry("ctx")?;
    assert_eq!(first, second);
    first.register("a", &spec("A"))?;
    assert_eq!(second.get_specification("a")?.as_deref(), Some(&spec("A")));
    second.upsert("a", &spec("B"))?;
    assert_eq!(first.get_specification("a")?.as_deref(), Some(&spec("B")));
    Ok(())
}

fn dep(keywords: &[&str], sources: &[&str]) -> DependencySpec {
    DependencySpec::new("input", DependencyType::ProcessingOutput)
        .with_keywords(keywords.iter().copied())
        .with_compatible_sources(sources.iter().copied())
}

#[test]
fn find_compatible_outputs_scores_as_the_reference_registry() -> TestResult {
    // Measured examples of the Python reference registry.
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    registry.register("prep", &source("PreprocessingStep", "processed_data"))?;
    let score = |d: &DependencySpec| -> TestResult<f64> {
        Ok(registry.find_compatible_outputs(d)?[0].score)
    };
    assert_eq!(
        score(&dep(&["processed", "data"], &["PreprocessingStep"]))?,
        1.0
    );
    assert!((score(&dep(&["processed", "data"], &[]))? - 0.7).abs() < 1e-12);
    assert!((score(&dep(&[], &["PreprocessingStep"]))? - 0.8).abs() < 1e-12);

    registry.register("raw", &source("Loader", "raw_data"))?;
    let found = registry.find_compatible_outputs(&dep(&["data", "model"], &[]))?;
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].step_name, "raw");
    assert_eq!(found[1].output_name, "raw_data");
    assert!((found[1].score - 0.6).abs() < 1e-12);

    let other_type = DependencySpec::new("m", DependencyType::ModelArtifacts);
    assert!(registry.find_compatible_outputs(&other_type)?.is_empty());
    let other_data_type = dep(&[], &[]).with_data_type("String");
    assert!(
        registry
            .find_compatible_outputs(&other_data_type)?
            .is_empty()
    );
    Ok(())
}

#[test]
fn ties_in_compatible_outputs_keep_registration_order() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    for name in ["z", "a", "m"] {
        registry.register(name, &source("S", "out"))?;
    }
    let found = registry.find_compatible_outputs(&dep(&[], &[]))?;
    let order: Vec<&str> = found.iter().map(|f| f.step_name.as_str()).collect();
    assert_eq!(order, ["z", "a", "m"]);
    Ok(())
}

#[test]
fn export_then_import_round_trips_every_real_spec_in_order() -> TestResult {
    let manager = common::manager()?;
    let original = manager.get_registry("original")?;
    let text = std::fs::read_to_string(FIXTURE)?;
    assert_eq!(original.import_json(&text)?, 61);
    let expected = real_specs()?;
    for (name, spec) in &expected {
        let stored = original.get_specification(name)?.ok_or("missing")?;
        assert_eq!(&*stored, spec);
        assert_eq!(
            stored.dependencies.keys().collect::<Vec<_>>(),
            spec.dependencies.keys().collect::<Vec<_>>()
        );
    }
    let exported = original.export_json()?;
    let document: serde_json::Value = serde_json::from_str(&exported)?;
    assert_eq!(document["schema"], pipeline_deps::transfer::EXPORT_SCHEMA);
    assert_eq!(document["context"], "original");

    let copy = manager.get_registry("copy")?;
    assert_eq!(copy.import_json(&exported)?, 61);
    let a: Vec<_> = original.iter()?.collect();
    let b: Vec<_> = copy.iter()?.collect();
    assert_eq!(a, b);
    Ok(())
}

#[test]
fn import_is_all_or_nothing_and_replace_is_explicit() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    let text = std::fs::read_to_string(FIXTURE)?;
    registry.import_json(&text)?;
    assert!(matches!(
        registry.import_json(&text),
        Err(Error::AlreadyRegistered { .. })
    ));
    assert_eq!(
        registry.import_json_with(&text, &ImportOptions::new().replace(true))?,
        61
    );
    assert_eq!(registry.len()?, 61);

    let bad = r#"{"steps": [
        {"step_name": "ok", "step_type": "A", "outputs": {"o": {}}},
        {"step_name": "bad", "step_type": "", "node_type": "internal"}]}"#;
    let fresh = manager.get_registry("fresh")?;
    let Err(error) = fresh.import_json(bad) else {
        panic!("an invalid import succeeded");
    };
    assert!(matches!(error, Error::InvalidSpec { .. }), "{error}");
    assert!(fresh.is_empty()?);
    for garbage in [
        "",
        "{",
        "[]",
        r#"{"steps": {}}"#,
        r#"{"steps": [{"step_type": "A"}]}"#,
    ] {
        let Err(error) = fresh.import_json(garbage) else {
            panic!("{garbage:?} was accepted");
        };
        assert!(error.is_invalid_input(), "{garbage:?}: {error}");
    }
    assert!(fresh.is_empty()?);
    Ok(())
}

#[test]
fn import_can_take_job_type_variants() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    let text = std::fs::read_to_string(FIXTURE)?;
    registry.import_json_with(&text, &ImportOptions::new().variant("training"))?;
    let document: serde_json::Value = serde_json::from_str(&text)?;
    let variant: StepSpecification =
        serde_json::from_value(document["steps"][1]["variants"]["training"].clone())?;
    assert_eq!(document["steps"][1]["step_name"], "BatchTransform");
    assert_eq!(
        registry.get_specification("BatchTransform")?.as_deref(),
        Some(&variant)
    );
    let base = &real_specs()?[0];
    assert_eq!(
        registry.get_specification(&base.0)?.as_deref(),
        Some(&base.1),
        "steps without the variant keep their base spec"
    );
    Ok(())
}

#[test]
fn a_name_that_cannot_be_registered_is_simply_absent() -> TestResult {
    let manager = common::manager()?;
    let registry = manager.get_registry("ctx")?;
    registry.register("a", &spec("A"))?;
    // NUL: refused by validation, and a byte PostgreSQL's text cannot even hold.
    for name in ["a\0b", "\0", "a\u{1b}"] {
        assert_eq!(registry.get_specification(name)?, None, "{name:?}");
        assert!(!registry.contains(name)?, "{name:?}");
        assert!(
            registry.get_specifications_by_type(name)?.is_empty(),
            "{name:?}"
        );
        let before = registry.revision()?;
        assert!(!registry.unregister(name)?, "{name:?}");
        assert_eq!(
            registry.revision()?,
            before,
            "an unregister of an absent name writes nothing"
        );
        let error = registry
            .register(name, &spec("A"))
            .err()
            .ok_or("registered")?;
        assert!(error.is_invalid_input(), "{error:?}");
    }
    let before = registry.revision()?;
    assert!(!registry.unregister("absent")?);
    assert_eq!(registry.revision()?, before);
    let resolver = pipeline_deps::UnifiedDependencyResolver::new(
        registry.clone(),
        pipeline_deps::SemanticMatcher::default(),
    );
    let resolution = resolver.resolve_all_dependencies(&["a\0b", "a"])?;
    assert_eq!(resolution.unregistered, ["a\0b"]);
    assert_eq!(registry.list_step_names()?, ["a"]);
    Ok(())
}
