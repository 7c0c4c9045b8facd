//! Invariant: the resolver reproduces the Python reference's scores (its worked example),
//! its frozen 6-step edge snapshot with its tie-break, its thresholds, and the deliberate
//! differences D4 (cache keyed by the ordered list, invalidated by any registry write) and D5 (score
//! breakdowns add up to the score); a candidate scorer follows the registry it scores.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use pipeline_deps::resolve::{InterfaceCatalog, TopCandidates};
use pipeline_deps::scoring::{StepTypeCatalog, compatibility_score};
use pipeline_deps::{
    DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
    SpecificationRegistry, StepSpecification, UnifiedDependencyResolver,
};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

const SNAPSHOT_STEPS: [&str; 6] = [
    "TabularPreprocessing",
    "XGBoostTraining",
    "XGBoostModel",
    "Package",
    "Payload",
    "Registration",
];

/// The Python reference's edge snapshot: consumer.dep → producer.output with its score.
const SNAPSHOT: [(&str, &str, f64); 13] = [
    (
        "Package.calibration_model",
        "TabularPreprocessing.processed_data",
        0.6455492424242425,
    ),
    (
        "Package.inference_scripts_input",
        "XGBoostModel.model_name",
        0.5093750000000001,
    ),
    ("Package.model_input", "XGBoostTraining.model_output", 1.0),
    (
        "Payload.custom_payload_input",
        "TabularPreprocessing.processed_data",
        0.6093750000000001,
    ),
    ("Payload.model_input", "XGBoostTraining.model_output", 1.0),
    (
        "Registration.GeneratedPayloadSamples",
        "Payload.payload_sample",
        0.81,
    ),
    ("Registration.PackagedModel", "Package.packaged_model", 1.0),
    (
        "TabularPreprocessing.DATA",
        "XGBoostTraining.evaluation_output",
        0.6074122807017545,
    ),
    (
        "TabularPreprocessing.DATA_SECONDARY",
        "XGBoostTraining.evaluation_output",
        0.6071479885057472,
    ),
    (
        "TabularPreprocessing.SIGNATURE",
        "Payload.payload_sample",
        0.5234375000000001,
    ),
    (
        "XGBoostModel.model_data",
        "XGBoostTraining.model_output",
        1.0,
    ),
    (
        "XGBoostTraining.input_path",
        "TabularPreprocessing.processed_data",
        0.8125,
    ),
    (
        "XGBoostTraining.model_artifacts_input",
        "TabularPreprocessing.processed_data",
        0.6452890390390392,
    ),
];

fn close(actual: f64, expected: f64, what: &str) -> TestResult {
    if (actual - expected).abs() <= 1e-9 {
        Ok(())
    } else {
        Err(format!("{what}: got {actual:?}, expected {expected:?}").into())
    }
}

/// A fresh in-memory registry with the six snapshot steps (base specs, own names).
fn snapshot_registry() -> TestResult<(RegistryManager, SpecificationRegistry)> {
    let catalog = InterfaceCatalog::from_path(FIXTURE)?;
    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("default")?;
    for name in SNAPSHOT_STEPS {
        let spec = catalog.load(name, None).ok_or(format!("{name} missing"))?;
        registry.register(name, spec)?;
    }
    Ok((manager, registry))
}

/// `consumer.dep` → `producer.output`, sorted.
fn edges<S: AsRef<str>>(
    resolver: &UnifiedDependencyResolver,
    steps: &[S],
) -> TestResult<BTreeMap<String, String>> {
    let resolution = resolver.resolve_all_dependencies(steps)?;
    Ok(resolution
        .edges()
        .map(|(c, d, r)| (format!("{c}.{d}"), r.to_string()))
        .collect())
}

#[test]
fn snapshot_of_section_9_with_scores() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let found = edges(&resolver, &SNAPSHOT_STEPS)?;
    let expected: BTreeMap<String, String> = SNAPSHOT
        .iter()
        .map(|(c, p, _)| ((*c).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(found, expected);
    for (consumer_dep, producer_out, score) in SNAPSHOT {
        let (consumer, dep) = consumer_dep.split_once('.').ok_or("bad edge")?;
        let (producer, out) = producer_out.split_once('.').ok_or("bad edge")?;
        let consumer_spec = registry.get_specification(consumer)?.ok_or("no consumer")?;
        let producer_spec = registry.get_specification(producer)?.ok_or("no producer")?;
        let actual = resolver.calculate_compatibility(
            &consumer_spec.dependencies[dep],
            &producer_spec.outputs[out],
            &producer_spec,
        );
        close(actual, score, consumer_dep)?;
        assert!(actual > 0.5);
    }
    Ok(())
}

#[test]
fn snapshot_is_deterministic_and_cached_results_equal_fresh_ones() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let first = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let second = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let a = first.resolve_all_dependencies(&SNAPSHOT_STEPS)?;
    let b = first.resolve_all_dependencies(&SNAPSHOT_STEPS)?;
    let c = second.resolve_all_dependencies(&SNAPSHOT_STEPS)?;
    let d = second.resolve_all_dependencies_unoptimized(&SNAPSHOT_STEPS)?;
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);
    assert!(a.is_complete());
    Ok(())
}

#[test]
fn reversing_the_order_flips_exactly_the_one_tie() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let forward = edges(&resolver, &SNAPSHOT_STEPS)?;
    let reversed_steps: Vec<&str> = SNAPSHOT_STEPS.iter().rev().copied().collect();
    let reversed = edges(&resolver, &reversed_steps)?;
    let changed: Vec<(&String, &String, &String)> = forward
        .iter()
        .filter_map(|(k, v)| {
            let other = reversed.get(k)?;
            (other != v).then_some((k, v, other))
        })
        .collect();
    assert_eq!(forward.len(), 13);
    assert_eq!(reversed.len(), 13);
    assert_eq!(
        changed,
        [(
            &"XGBoostModel.model_data".to_owned(),
            &"XGBoostTraining.model_output".to_owned(),
            &"Package.packaged_model".to_owned()
        )]
    );
    Ok(())
}

#[test]
fn unresolved_optional_dependency_and_its_best_candidate() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let resolution = resolver.resolve_all_dependencies(&SNAPSHOT_STEPS)?;
    let training = resolution
        .get("XGBoostTraining")
        .ok_or("no XGBoostTraining")?;
    assert!(!training.contains_key("hyperparameters_s3_uri"));
    let scoring = resolver.resolve_with_scoring("XGBoostTraining", &SNAPSHOT_STEPS)?;
    let failed = &scoring.failed_with_scores["hyperparameters_s3_uri"];
    assert!(!failed.required);
    let best = failed.best_candidate.as_ref().ok_or("no candidate")?;
    assert_eq!(
        (best.provider_step.as_str(), best.output_name.as_str()),
        ("XGBoostModel", "model_name")
    );
    assert!((best.score - 0.319355).abs() < 1e-6, "{}", best.score);
    assert!(failed.all_candidates.len() <= 3);
    Ok(())
}

/// The snapshot's component view: 0.2 + 0.2 + 0.25·1.0 + 0.05 + 0.1 + 0.05·(1/5) = 0.81.
#[test]
fn component_view_of_one_edge() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let consumer = registry
        .get_specification("Registration")?
        .ok_or("no Registration")?;
    let provider = registry.get_specification("Payload")?.ok_or("no Payload")?;
    let b = resolver
        .score_breakdown(
            &consumer.dependencies["GeneratedPayloadSamples"],
            &provider.outputs["payload_sample"],
            &provider,
        )
        .ok_or("incompatible")?;
    close(b.type_compatibility, 0.2, "type")?;
    close(b.data_type_compatibility, 0.2, "data type")?;
    close(b.semantic_similarity, 0.25, "semantic")?;
    close(b.exact_match_bonus, 0.05, "exact")?;
    close(b.source_compatibility, 0.1, "source")?;
    close(b.keyword_matching, 0.01, "keywords")?;
    close(b.score(), 0.81, "score")?;
    Ok(())
}

/// The Python reference's worked example of a score.
#[test]
fn worked_example_of_section_5_5() -> TestResult {
    let matcher = SemanticMatcher::default();
    let catalog = StepTypeCatalog::default();
    let out = OutputSpec::new(
        "processed_data",
        DependencyType::ProcessingOutput,
        "properties.X",
    );
    let dep = |sources: &[&str], keywords: &[&str]| {
        DependencySpec::new("training_data", DependencyType::ProcessingOutput)
            .with_compatible_sources(sources.iter().copied())
            .with_keywords(keywords.iter().copied())
    };
    let score =
        |d: &DependencySpec| compatibility_score(&matcher, &catalog, d, &out, "PreprocessingStep");
    close(
        score(&dep(&["PreprocessingStep"], &["data"])),
        0.9072916666666667,
        "sources match",
    )?;
    // "With sources [Other]" (and no keywords): the -0.1 penalty.
    close(
        score(&dep(&["Other"], &[])),
        0.6572916666666667,
        "sources miss",
    )?;
    close(
        score(&dep(&["Other"], &["data"])),
        0.7072916666666668,
        "sources miss, keyword",
    )?;
    close(
        score(&dep(&[], &[])),
        0.7572916666666667,
        "no sources, no keywords",
    )?;
    // Incompatible types score 0 (early exit); compatible ones at least 0.1.
    let model = DependencySpec::new("training_data", DependencyType::ModelArtifacts);
    assert_eq!(
        compatibility_score(&matcher, &catalog, &model, &out, "X"),
        0.0
    );
    Ok(())
}

#[test]
fn provider_step_type_normalisation_and_source_rule_of_section_5_5() {
    let c = StepTypeCatalog::default();
    for (input, want) in [
        ("TabularPreprocessing_Training", "TabularPreprocessing"),
        ("TabularPreprocessing_Foo", "TabularPreprocessing"),
        ("RiskTableMapping_Calibration_Training", "RiskTableMapping"),
        ("Processing_X", "Processing"),
        ("Foo_Training", "Foo"),
        ("Foo_Bar", "Foo_Bar"),
        ("PreprocessingStep", "PreprocessingStep"),
    ] {
        assert_eq!(c.normalize_step_type(input), want);
    }
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert!(c.provider_in_sources("Payload", &s(&["PayloadStep"])));
    assert!(c.provider_in_sources("ProcessingStep", &s(&["Processing"])));
    assert!(c.provider_in_sources("XGBoostTraining", &s(&["XGBoostTrainingStep"])));
    assert!(c.provider_in_sources("Package", &s(&["MIMSPackaging"])));
    assert!(!c.provider_in_sources("Package", &s(&["PackagingStep"])));
    // Configurable: without the legacy aliases the MIMS name no longer matches.
    let bare = StepTypeCatalog::new(["Package"], Vec::<(String, String)>::new());
    assert!(!bare.provider_in_sources("Package", &s(&["MIMSPackaging"])));
    assert_eq!(
        bare.normalize_step_type("TabularPreprocessing_Training"),
        "TabularPreprocessing"
    );
    assert_eq!(
        bare.normalize_step_type("TabularPreprocessing_Foo"),
        "TabularPreprocessing_Foo"
    );
}

/// A provider output scoring exactly 0.5: 0.4 (type) + 0.1 (S3Uri ← String) + 0 (no name
/// similarity).
fn half_score_registry() -> TestResult<(RegistryManager, SpecificationRegistry)> {
    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("threshold")?;
    registry.register(
        "producer",
        &StepSpecification::new("Producer", NodeType::Source).with_output(
            OutputSpec::new("abc", DependencyType::ProcessingOutput, "properties.Abc")
                .with_data_type("String"),
        ),
    )?;
    registry.register(
        "consumer",
        &StepSpecification::new("Consumer", NodeType::Sink)
            .with_dependency(DependencySpec::new("xyz", DependencyType::ProcessingOutput)),
    )?;
    Ok((manager, registry))
}

#[test]
fn threshold_is_strict_in_resolution_and_inclusive_in_scoring() -> TestResult {
    let (_manager, registry) = half_score_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let steps = ["producer", "consumer"];
    let scoring = resolver.resolve_with_scoring("consumer", &steps)?;
    assert_eq!(scoring.candidates["xyz"][0].score, 0.5);
    assert!(
        scoring.resolved.contains_key("xyz"),
        "0.5 >= 0.5 in scoring"
    );
    let err = resolver
        .resolve_step_dependencies("consumer", &steps)
        .err()
        .ok_or("0.5 must not resolve")?;
    let unresolved = err.unresolved().ok_or("expected a resolution error")?;
    assert_eq!(unresolved.step, "consumer");
    assert_eq!(unresolved.dependencies, ["xyz"]);
    assert!(err.to_string().contains("'consumer'") && err.to_string().contains("['xyz']"));
    let all = resolver.resolve_all_dependencies(&steps)?;
    assert!(all.resolved.is_empty());
    assert_eq!(all.unresolved, std::slice::from_ref(unresolved));
    Ok(())
}

/// Deliberate difference D4 (docs/design.md): the Python reference keys its cache by the *sorted* list, so after
/// one order the reversed order returns the stale tie-break; and it only clears the cache on
/// `register_specification`.
#[test]
fn cache_is_keyed_by_the_ordered_list_and_follows_registry_writes() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let forward = resolver.resolve_step_dependencies("XGBoostModel", &SNAPSHOT_STEPS)?;
    assert_eq!(
        forward["model_data"].to_string(),
        "XGBoostTraining.model_output"
    );
    let reversed: Vec<&str> = SNAPSHOT_STEPS.iter().rev().copied().collect();
    let back = resolver.resolve_step_dependencies("XGBoostModel", &reversed)?;
    assert_eq!(back["model_data"].to_string(), "Package.packaged_model");

    // A write made directly on the registry (not through the resolver) is seen at once.
    let better =
        StepSpecification::new("XGBoostTraining", NodeType::Source).with_output(OutputSpec::new(
            "model_data",
            DependencyType::ModelArtifacts,
            "properties.Better",
        ));
    registry.register("Better", &better)?;
    let mut steps: Vec<&str> = vec!["Better"];
    steps.extend(SNAPSHOT_STEPS);
    let before = resolver.resolve_step_dependencies("XGBoostModel", &steps)?;
    assert_eq!(before["model_data"].to_string(), "Better.model_data");
    registry.upsert(
        "Better",
        &StepSpecification::new("Unrelated", NodeType::Source).with_output(OutputSpec::new(
            "something",
            DependencyType::CustomProperty,
            "properties.S",
        )),
    )?;
    let after = resolver.resolve_step_dependencies("XGBoostModel", &steps)?;
    assert_eq!(
        after["model_data"].to_string(),
        "XGBoostTraining.model_output"
    );
    let all = resolver.resolve_all_dependencies(&steps)?;
    assert_eq!(all, resolver.resolve_all_dependencies_unoptimized(&steps)?);
    Ok(())
}

/// Deliberate difference D5 (docs/design.md): the Python reference's breakdown uses older source rules (no −0.1,
/// +0.05 for empty sources), so its parts need not add up to the score; here they do.
#[test]
fn score_breakdowns_add_up_to_the_score() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let mut penalties = 0;
    for consumer in SNAPSHOT_STEPS {
        let scoring = resolver.resolve_with_scoring(consumer, &SNAPSHOT_STEPS)?;
        for candidates in scoring.candidates.values() {
            for c in candidates {
                assert_eq!(c.score_breakdown.total().min(1.0), c.score);
                assert_eq!(c.score_breakdown.score(), c.score);
                if c.score_breakdown.source_compatibility < 0.0 {
                    penalties += 1;
                }
            }
        }
    }
    assert!(penalties > 0, "the -0.1 penalty shows in breakdowns");

    // Empty compatible sources contribute 0 (the Python reference's breakdown says 0.05).
    let (_m, registry) = half_score_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let scoring = resolver.resolve_with_scoring("consumer", &["producer"])?;
    let c = &scoring.candidates["xyz"][0];
    assert_eq!(c.score_breakdown.source_compatibility, 0.0);
    assert_eq!(c.score_breakdown.total(), c.score);
    Ok(())
}

#[test]
fn scoring_of_an_unknown_consumer_reports_the_error() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let scoring = resolver.resolve_with_scoring("Nope", &SNAPSHOT_STEPS)?;
    assert!(scoring.resolved.is_empty() && scoring.failed_with_scores.is_empty());
    assert_eq!(
        scoring.resolution_details.error.as_deref(),
        Some("No specification found")
    );
    assert_eq!(scoring.resolution_details.registered_steps, 6);
    assert!(
        resolver
            .resolve_step_dependencies("Nope", &SNAPSHOT_STEPS)?
            .is_empty()
    );
    Ok(())
}

/// The best candidate's provider of `dependency` and how many candidates it has.
fn best_of(scored: &IndexMap<String, TopCandidates>, dependency: &str) -> Option<(String, usize)> {
    let top = scored.get(dependency)?;
    Some((top.candidates.first()?.provider_step.clone(), top.total))
}

/// A candidate scorer answers `None` for an unregistered consumer, sees a step registered
/// after it was made, and fails with `ContextCleared` once the context is cleared.
#[test]
fn a_candidate_scorer_follows_the_registry_it_scores() -> TestResult {
    let (manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let mut listed: Vec<&str> = SNAPSHOT_STEPS.to_vec();
    listed.insert(0, "Later");
    let mut scorer = resolver.candidate_scorer(&listed)?;
    assert!(scorer.top_candidates("Nope", 3)?.is_none());
    assert!(scorer.top_candidates("Later", 3)?.is_none());
    let before = scorer
        .top_candidates("XGBoostTraining", 1)?
        .ok_or("XGBoostTraining not scored")?;
    let (first, total) = best_of(&before, "input_path").ok_or("no candidate for input_path")?;
    assert_eq!(first, "TabularPreprocessing");
    // A copy of the best provider, listed first, now wins the tie and adds a candidate.
    let catalog = InterfaceCatalog::from_path(FIXTURE)?;
    let spec = catalog
        .load("TabularPreprocessing", None)
        .ok_or("TabularPreprocessing missing")?;
    registry.register("Later", spec)?;
    let after = scorer
        .top_candidates("XGBoostTraining", 1)?
        .ok_or("XGBoostTraining not scored")?;
    assert_eq!(
        best_of(&after, "input_path"),
        Some(("Later".to_owned(), total + 1))
    );
    manager.clear_context("default")?;
    let error = scorer
        .top_candidates("XGBoostTraining", 1)
        .err()
        .ok_or("a cleared context was scored")?;
    assert!(
        matches!(error, pipeline_deps::Error::ContextCleared { .. }),
        "{error}"
    );
    Ok(())
}

#[test]
fn sagemaker_rendering_of_a_resolved_edge() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let deps = resolver.resolve_step_dependencies("XGBoostTraining", &SNAPSHOT_STEPS)?;
    assert_eq!(
        deps["input_path"].to_sagemaker_property(),
        serde_json::json!({"Get": "Steps.TabularPreprocessing.ProcessingOutputConfig.Outputs['processed_data'].S3Output.S3Uri"})
    );
    Ok(())
}

#[test]
fn resolver_and_results_can_cross_threads() -> TestResult {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<UnifiedDependencyResolver>();
    assert_send_sync::<pipeline_deps::PipelineResolution>();
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let expected = resolver.resolve_all_dependencies_unoptimized(&SNAPSHOT_STEPS)?;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| resolver.resolve_all_dependencies(&SNAPSHOT_STEPS)))
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(result) => assert_eq!(result.ok().as_ref(), Some(&expected)),
                Err(_) => panic!("resolver thread panicked"),
            }
        }
    });
    Ok(())
}

#[test]
fn a_step_listed_twice_is_one_candidate_provider() -> TestResult {
    let (_manager, registry) = snapshot_registry()?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let once = resolver.resolve_with_scoring("XGBoostTraining", &SNAPSHOT_STEPS)?;
    let mut twice: Vec<&str> = SNAPSHOT_STEPS.to_vec();
    twice.extend(SNAPSHOT_STEPS.iter().rev());
    let doubled = resolver.resolve_with_scoring("XGBoostTraining", &twice)?;
    assert_eq!(doubled.candidates, once.candidates);
    assert_eq!(doubled.resolved, once.resolved);
    assert_eq!(
        doubled.resolution_details.registered_steps,
        once.resolution_details.registered_steps
    );
    // The details report the list as given.
    assert_eq!(doubled.resolution_details.available_step_count, twice.len());
    Ok(())
}
