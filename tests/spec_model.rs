//! The specification model: the fixture's JSON shape deserialises directly, declaration
//! order is kept, and validation reports every problem while lint only warns; a blank
//! semantic keyword or property path is refused on every write, naming step and field (D11).

mod common;

use common::{FIXTURE, TestResult, real_specs, spec};
use pipeline_deps::{
    DependencySpec, DependencyType, Error, NodeType, OutputSpec, StepSpecification,
};

#[test]
fn every_fixture_step_deserialises_directly_into_a_specification() -> TestResult {
    let text = std::fs::read_to_string(FIXTURE)?;
    let document: serde_json::Value = serde_json::from_str(&text)?;
    let steps = document["steps"].as_array().ok_or("no steps array")?;
    assert_eq!(steps.len(), 61);
    for step in steps {
        let spec: StepSpecification = serde_json::from_value(step.clone())?;
        assert_eq!(
            spec.step_type,
            step["step_type"].as_str().ok_or("step_type")?
        );
        // Declaration order is the fixture's dependency_order / output_order.
        let dep_order: Vec<&str> = step["dependency_order"]
            .as_array()
            .ok_or("dependency_order")?
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let out_order: Vec<&str> = step["output_order"]
            .as_array()
            .ok_or("output_order")?
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(spec.dependencies.keys().collect::<Vec<_>>(), dep_order);
        assert_eq!(spec.outputs.keys().collect::<Vec<_>>(), out_order);
    }
    Ok(())
}

#[test]
fn all_61_real_specs_register_in_one_context() -> TestResult {
    let specs = real_specs()?;
    assert_eq!(specs.len(), 61);
    let manager = common::manager()?;
    let registry = manager.get_registry("cursus")?;
    for (name, spec) in &specs {
        registry.register(name, spec)?;
    }
    assert_eq!(registry.len()?, 61);
    for (name, spec) in &specs {
        assert_eq!(registry.get_specification(name)?.as_deref(), Some(spec));
    }
    let totals: (usize, usize) = specs.iter().fold((0, 0), |(d, o), (_, s)| {
        (d + s.dependencies.len(), o + s.outputs.len())
    });
    assert_eq!(totals, (117, 96), "the Python reference's inventory totals");
    Ok(())
}

#[test]
fn missing_fields_take_defaults_and_logical_names_come_from_keys() -> TestResult {
    let spec: StepSpecification = serde_json::from_str(
        r#"{"step_type": "T", "unknown": [1, 2],
            "dependencies": {"d": {"type": "training_data"}},
            "outputs": {"o": {"extra": true}}}"#,
    )?;
    assert_eq!(spec.node_type, NodeType::Internal);
    let dep = &spec.dependencies["d"];
    assert_eq!(dep.logical_name, "d");
    assert_eq!(dep.dependency_type, DependencyType::TrainingData);
    assert!(dep.required);
    assert_eq!(dep.data_type, "S3Uri");
    let out = &spec.outputs["o"];
    assert_eq!(out.logical_name, "o");
    assert_eq!(out.output_type, DependencyType::ProcessingOutput);
    assert_eq!(out.data_type, "S3Uri");
    assert!(out.aliases.is_empty());
    Ok(())
}

#[test]
fn an_unknown_type_string_is_a_parse_error() {
    let result = StepSpecification::from_json(
        r#"{"step_type": "T", "dependencies": {"d": {"type": "nonsense"}}}"#,
    );
    let Err(error) = result else {
        panic!("an unknown dependency type was accepted");
    };
    assert!(error.is_invalid_input());
    // The message says where (the field, line and column); the parser's explanation naming
    // the value is the source.
    assert!(error.to_string().contains("line 1, column"), "{error}");
    assert!(
        error.to_string().contains("field `dependencies.d.type`"),
        "{error}"
    );
    let cause = std::error::Error::source(&error).map(ToString::to_string);
    assert!(
        cause.as_deref().is_some_and(|c| c.contains("nonsense")),
        "{cause:?}"
    );
}

#[test]
fn validation_returns_every_problem_at_once_naming_step_and_field() {
    let mut bad = StepSpecification::new("  ", NodeType::Internal);
    let Err(problems) = bad.validate("s") else {
        panic!("a blank step type with no deps/outputs validated");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.step == "s"));
    assert_eq!(problems[0].field, "step_type");
    assert_eq!(problems[1].field, "dependencies/outputs");

    bad = spec("T");
    let mut mismatched = bad.dependencies["input_data"].clone();
    mismatched.logical_name = "other".into();
    bad.dependencies.insert("input_data".into(), mismatched);
    let mut blank = bad.outputs["processed_data"].clone();
    blank.logical_name = " ".into();
    bad.outputs.insert("processed_data".into(), blank);
    let Err(problems) = bad.validate("") else {
        panic!("mismatched and blank logical names validated");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "step name",
            "dependencies.input_data.logical_name",
            "outputs.processed_data.logical_name"
        ]
    );
}

#[test]
fn a_singular_step_may_have_neither_dependencies_nor_outputs() {
    assert!(
        StepSpecification::new("Marker", NodeType::Singular)
            .validate("m")
            .is_ok()
    );
    assert!(
        StepSpecification::new("Marker", NodeType::Sink)
            .validate("m")
            .is_err()
    );
}

#[test]
fn lint_flags_exactly_the_three_real_specs_that_break_the_legacy_rules() -> TestResult {
    let mut flagged: Vec<String> = real_specs()?
        .iter()
        .filter(|(name, spec)| !spec.lint(name).is_empty())
        .map(|(name, _)| name.clone())
        .collect();
    flagged.sort();
    assert_eq!(
        flagged,
        [
            "GraphFeatureProcessing",
            "GraphSubgraphExtraction",
            "TSATabularPreprocessing"
        ]
    );
    // They are warnings, not errors: all three validate.
    for (name, spec) in real_specs()? {
        assert!(spec.validate(&name).is_ok(), "{name}");
    }
    Ok(())
}

#[test]
fn output_lookup_by_name_or_alias_follows_the_reference() {
    let spec = spec("T");
    assert!(spec.get_output_by_name_or_alias("processed_data").is_some());
    assert!(spec.get_output_by_name_or_alias("TRAINING_DATA").is_some());
    assert!(spec.get_output_by_name_or_alias("nothing").is_none());
    assert_eq!(
        spec.list_all_output_names(),
        ["processed_data", "training_data"]
    );
    assert_eq!(spec.list_required_dependencies().len(), 1);
    assert!(spec.list_optional_dependencies().is_empty());
}

#[test]
fn a_blank_step_name_is_refused_as_a_blank_step_type_is() -> TestResult {
    let spec = StepSpecification::new("Train", NodeType::Singular);
    for blank in [" ", "   ", "\u{3000}"] {
        let problems = match spec.validate(blank) {
            Err(problems) => problems,
            Ok(()) => return Err(format!("the blank step name {blank:?} validated").into()),
        };
        assert_eq!(problems[0].field, "step name");
        assert_eq!(problems[0].message, "is blank (only whitespace)");
        assert!(pipeline_deps::spec::validate_step_name(blank).is_err());
    }
    // Registration refuses it and writes nothing; a name with spaces around text is fine.
    let registry = pipeline_deps::RegistryManager::in_memory()?.get_registry("ml")?;
    assert!(matches!(
        registry.register("   ", &spec),
        Err(pipeline_deps::Error::InvalidSpec { .. })
    ));
    assert_eq!(registry.len()?, 0);
    registry.register(" prep ", &spec)?;
    assert_eq!(registry.list_step_names()?, [" prep "]);
    Ok(())
}

#[test]
fn blank_keywords_and_property_paths_are_refused_naming_step_and_field() -> TestResult {
    // Deliberate difference D11 (docs/design.md): `"" in name` holds for every output name,
    // and an output without a property path cannot be referenced.
    let bad = StepSpecification::new("Train", NodeType::Internal)
        .with_dependency(
            DependencySpec::new("input_data", DependencyType::TrainingData)
                .with_keywords(["data", "", " "]),
        )
        .with_output(OutputSpec::new("model", DependencyType::ModelArtifacts, ""))
        .with_output(OutputSpec::new(
            "metrics",
            DependencyType::ProcessingOutput,
            " \t",
        ));
    let problems = match bad.validate("trainer") {
        Err(problems) => problems,
        Ok(()) => return Err("blank keywords and property paths validated".into()),
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "dependencies.input_data.semantic_keywords[1]",
            "dependencies.input_data.semantic_keywords[2]",
            "outputs.model.property_path",
            "outputs.metrics.property_path",
        ]
    );
    assert!(problems.iter().all(|p| p.step == "trainer"));
    assert!(
        problems[0].message.contains("every output name"),
        "{problems:?}"
    );

    // Registration and import refuse them, naming step and field, and write nothing.
    let manager = pipeline_deps::RegistryManager::in_memory()?;
    let registry = manager.get_registry("ml")?;
    let error = registry
        .register("trainer", &bad)
        .err()
        .ok_or("registered a spec with a blank keyword")?;
    assert!(matches!(error, Error::InvalidSpec { .. }), "{error:?}");
    let message = error.to_string();
    for needle in [
        "step 'trainer': dependencies.input_data.semantic_keywords[1] is empty",
        "step 'trainer': outputs.model.property_path is blank",
    ] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
    let json = r#"{"steps": [{"step_name": "prep", "step_type": "Prep", "node_type": "source",
        "outputs": {"data": {"type": "processing_output"}}}]}"#;
    let error = registry
        .import_json(json)
        .err()
        .ok_or("imported an output without a property path")?;
    assert!(
        error
            .to_string()
            .contains("step 'prep': outputs.data.property_path is blank"),
        "{error}"
    );
    assert_eq!(registry.len()?, 0);

    // Fixed, it registers.
    let mut fixed = bad.clone();
    if let Some(dep) = fixed.dependencies.get_mut("input_data") {
        dep.semantic_keywords.retain(|k| !k.trim().is_empty());
    }
    for out in fixed.outputs.values_mut() {
        out.property_path = format!("properties.{}", out.logical_name);
    }
    registry.register("trainer", &fixed)?;
    Ok(())
}
