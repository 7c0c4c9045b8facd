//! Invariant: on the 61 real cursus specifications (and their job-type variants) resolution
//! completes, is deterministic, does not depend on caches, and the optimised path returns
//! exactly what the straightforward one does, in any step order and at 244 steps (and so
//! does `resolve_with_scoring`, candidate lists included); the
//! embedded step catalog equals the fixture's; variants merge as the Python reference loader does.

mod common;

use indexmap::IndexMap;
use pipeline_deps::resolve::{InterfaceCatalog, merge_variant};
use pipeline_deps::scoring::{
    REFERENCE_KNOWN_STEP_NAMES, REFERENCE_LEGACY_ALIASES, StepTypeCatalog,
};
use pipeline_deps::{
    RegistryManager, SemanticMatcher, SpecificationRegistry, StepSpecification,
    UnifiedDependencyResolver,
};
use serde_json::Value;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

fn catalog() -> TestResult<InterfaceCatalog> {
    Ok(InterfaceCatalog::from_path(FIXTURE)?)
}

/// All 61 base specs registered under their own names in one context.
fn real_registry(
    catalog: &InterfaceCatalog,
) -> TestResult<(RegistryManager, SpecificationRegistry, Vec<String>)> {
    let manager = common::manager()?;
    let registry = manager.get_registry("cursus")?;
    let specs = catalog.specs(None);
    registry.register_many(specs.iter().copied())?;
    let names = specs.iter().map(|(n, _)| (*n).to_owned()).collect();
    Ok((manager, registry, names))
}

/// A deterministic Fisher–Yates shuffle (64-bit LCG).
fn shuffled(names: &[String], seed: u64) -> Vec<String> {
    let mut out = names.to_vec();
    let mut state = seed;
    for i in (1..out.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = usize::try_from((state >> 33) % (i as u64 + 1)).unwrap_or(0);
        out.swap(i, j);
    }
    out
}

#[test]
fn embedded_step_catalog_equals_the_fixture() -> TestResult {
    let catalog = catalog()?;
    assert_eq!(catalog.known_step_names(), REFERENCE_KNOWN_STEP_NAMES);
    let legacy: Vec<(&str, &str)> = catalog
        .legacy_aliases()
        .iter()
        .map(|(l, c)| (l.as_str(), c.as_str()))
        .collect();
    assert_eq!(legacy, REFERENCE_LEGACY_ALIASES);
    assert_eq!(catalog.step_type_catalog(), StepTypeCatalog::default());
    Ok(())
}

#[test]
fn all_61_real_specs_resolve_deterministically() -> TestResult {
    let catalog = catalog()?;
    let (_manager, registry, names) = real_registry(&catalog)?;
    assert_eq!(names.len(), 61);
    let first = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let a = first.resolve_all_dependencies(&names)?;
    let b = first.resolve_all_dependencies(&names)?;
    let fresh = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let c = fresh.resolve_all_dependencies(&names)?;
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert!(a.unregistered.is_empty());
    for name in &names {
        if a.get(name).is_none() && !a.unresolved.iter().any(|e| &e.step == name) {
            // Left out because nothing resolved (e.g. source steps without dependencies).
            assert!(first.resolve_step_dependencies(name, &names)?.is_empty());
        }
    }
    assert!(
        a.resolved.len() >= 50,
        "{} steps resolved",
        a.resolved.len()
    );
    for failure in &a.unresolved {
        assert!(!failure.dependencies.is_empty());
        let spec = registry
            .get_specification(&failure.step)?
            .ok_or("unregistered failure")?;
        for dep in &failure.dependencies {
            assert!(spec.dependencies[dep].required);
        }
    }
    // Every resolved reference points at a real output of a registered step other than
    // the consumer, and renders as SageMaker expects.
    for (consumer, dep, reference) in a.edges() {
        assert_ne!(consumer, reference.step_name());
        let provider = registry
            .get_specification(reference.step_name())?
            .ok_or("unknown provider")?;
        assert_eq!(
            &provider.outputs[reference.output_name()],
            reference.output_spec()
        );
        let consumer_spec = registry.get_specification(consumer)?.ok_or("no consumer")?;
        let score = first.calculate_compatibility(
            &consumer_spec.dependencies[dep],
            reference.output_spec(),
            &provider,
        );
        assert!(score > 0.5, "{consumer}.{dep}: {score}");
        let rendered = reference.to_sagemaker_property();
        let get = rendered["Get"].as_str().ok_or("no Get")?;
        assert!(get.starts_with(&format!("Steps.{}.", reference.step_name())));
    }
    Ok(())
}

#[test]
fn optimised_path_equals_the_straightforward_one_in_several_orders() -> TestResult {
    let catalog = catalog()?;
    let (_manager, registry, names) = real_registry(&catalog)?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let mut orders = vec![names.clone(), names.iter().rev().cloned().collect()];
    orders.push(shuffled(&names, 1));
    // A partial pipeline with a duplicate and an unregistered name.
    let mut partial: Vec<String> = names.iter().step_by(3).cloned().collect();
    partial.push("NotRegistered".to_owned());
    partial.push(names[0].clone());
    orders.push(partial);
    for order in &orders {
        let fast = resolver.resolve_all_dependencies(order)?;
        let plain = resolver.resolve_all_dependencies_unoptimized(order)?;
        assert_eq!(fast, plain, "order starting with {}", order[0]);
        for consumer in order.iter().take(6) {
            let fast = resolver
                .resolve_step_dependencies(consumer, order)
                .map_err(|e| e.to_string());
            let plain = resolver
                .resolve_step_dependencies_unoptimized(consumer, order)
                .map_err(|e| e.to_string());
            assert_eq!(fast, plain, "{consumer}");
        }
    }
    Ok(())
}

#[test]
fn optimised_path_equals_the_straightforward_one_at_244_renamed_steps() -> TestResult {
    let catalog = catalog()?;
    let manager = common::manager()?;
    let registry = manager.get_registry("x4")?;
    let mut names = Vec::new();
    for copy in 0..4 {
        for (name, spec) in catalog.specs(None) {
            let renamed = format!("{name}_{copy}");
            registry.register(&renamed, spec)?;
            names.push(renamed);
        }
    }
    assert_eq!(names.len(), 244);
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    // The plain path is slow in debug builds (about 1M name similarities for all 244
    // consumers), so it checks every 8th consumer against the whole list, in two orders.
    for order in [names.clone(), shuffled(&names, 42)] {
        let fast = resolver.resolve_all_dependencies(&order)?;
        for consumer in order.iter().step_by(8) {
            let plain = resolver
                .resolve_step_dependencies_unoptimized(consumer, &order)
                .map_err(|e| e.to_string());
            assert_eq!(outcome_of(&fast, consumer), plain, "{consumer}");
        }
    }
    Ok(())
}

/// What [`UnifiedDependencyResolver::resolve_step_dependencies`] returns for `consumer`,
/// read back from a whole-pipeline resolution.
fn outcome_of(
    resolution: &pipeline_deps::PipelineResolution,
    consumer: &str,
) -> Result<pipeline_deps::resolve::StepResolution, String> {
    if let Some(failure) = resolution.unresolved.iter().find(|e| e.step == consumer) {
        return Err(failure.to_string());
    }
    Ok(resolution.get(consumer).cloned().unwrap_or_default())
}

#[test]
fn scoring_resolution_agrees_with_normal_resolution() -> TestResult {
    let catalog = catalog()?;
    let (_manager, registry, names) = real_registry(&catalog)?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let all = resolver.resolve_all_dependencies(&names)?;
    for consumer in &names {
        let scoring = resolver.resolve_with_scoring(consumer, &names)?;
        // Exactly what the straightforward version returns (candidate order included).
        assert_eq!(
            scoring,
            resolver.resolve_with_scoring_unoptimized(consumer, &names)?,
            "{consumer}"
        );
        for candidates in scoring.candidates.values() {
            for c in candidates {
                assert_eq!(c.score_breakdown.score(), c.score);
                assert!(c.score > 0.0);
            }
        }
        if let Some(resolved) = all.get(consumer) {
            for (dep, reference) in resolved {
                assert_eq!(
                    scoring.resolved.get(dep),
                    Some(reference),
                    "{consumer}.{dep}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn resolution_report_over_all_real_specs() -> TestResult {
    let catalog = catalog()?;
    let (_manager, registry, names) = real_registry(&catalog)?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let report = resolver.resolution_report(&names)?;
    let all = resolver.resolve_all_dependencies(&names)?;
    assert_eq!(report.total_steps, 61);
    assert_eq!(report.registered_steps, 61);
    assert_eq!(report.step_details.len(), 61);
    assert_eq!(report.resolution_summary.total_dependencies, 117);
    assert_eq!(report.resolution_summary.available_dependencies, 117);
    assert_eq!(
        report.resolution_summary.steps_with_errors,
        all.unresolved.len()
    );
    let resolved: usize = all.resolved.values().map(IndexMap::len).sum();
    assert_eq!(report.resolution_summary.resolved_dependencies, resolved);
    assert_eq!(
        report.resolution_summary.resolution_rate,
        resolved as f64 / 117.0
    );
    for failure in &all.unresolved {
        let details = &report.step_details[&failure.step];
        assert_eq!(details.error.as_deref(), Some(failure.to_string().as_str()));
    }
    Ok(())
}

#[test]
fn variants_load_like_the_reference_loader() -> TestResult {
    let catalog = catalog()?;
    assert_eq!(catalog.len(), 61);
    let variant_blocks: usize = catalog.entries().map(|e| e.variants.len()).sum();
    assert_eq!(variant_blocks, 29);
    let risk = catalog
        .get("RiskTableMapping")
        .ok_or("no RiskTableMapping")?;
    let training = catalog
        .load("RiskTableMapping", Some("training"))
        .ok_or("missing")?;
    assert_eq!(training, &risk.variants["training"]);
    assert_eq!(
        training.step_type, "RiskTableMapping",
        "the declared step type is not applied"
    );
    assert_eq!(
        risk.declared_step_types["training"].as_deref(),
        Some("RiskTableMapping_Training")
    );
    assert_eq!(catalog.load("RiskTableMapping", None), Some(&risk.spec));
    assert_eq!(
        catalog.load("RiskTableMapping", Some("nope")),
        Some(&risk.spec)
    );
    let plain = catalog.get("XGBoostTraining").ok_or("no XGBoostTraining")?;
    assert_eq!(
        catalog.load("XGBoostTraining", Some("training")),
        Some(&plain.spec)
    );
    assert_eq!(catalog.load("Unknown", None), None);
    Ok(())
}

fn spec_json(spec: &StepSpecification) -> TestResult<Value> {
    Ok(serde_json::to_value(spec)?)
}

/// The smallest overlay turning `base` into `variant` by a recursive merge, or `None` when
/// the variant drops a key (a merge cannot remove anything).
fn overlay(base: &Value, variant: &Value) -> Option<Value> {
    match (base, variant) {
        (Value::Object(b), Value::Object(v)) => {
            if b.keys().any(|k| !v.contains_key(k)) {
                return None;
            }
            let mut patch = serde_json::Map::new();
            for (key, value) in v {
                match b.get(key) {
                    Some(existing) if existing == value => {}
                    Some(existing @ Value::Object(_)) if value.is_object() => {
                        patch.insert(key.clone(), overlay(existing, value)?);
                    }
                    _ => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(variant.clone()),
    }
}

fn assert_same_spec(actual: &StepSpecification, expected: &StepSpecification, what: &str) {
    assert_eq!(actual, expected, "{what}");
    assert!(
        actual.dependencies.keys().eq(expected.dependencies.keys()),
        "{what}: dependency order"
    );
    assert!(
        actual.outputs.keys().eq(expected.outputs.keys()),
        "{what}: output order"
    );
}

#[test]
fn merging_overlays_reproduces_every_stored_variant() -> TestResult {
    let catalog = catalog()?;
    let mut merged = 0;
    for entry in catalog.entries() {
        let base = spec_json(&entry.spec)?;
        for (job, variant) in &entry.variants {
            let Some(patch) = overlay(&base, &spec_json(variant)?) else {
                continue;
            };
            let result = merge_variant(&entry.spec, &patch.to_string())?;
            assert_same_spec(&result, variant, &format!("{}:{job}", entry.step_name));
            merged += 1;
        }
    }
    assert_eq!(merged, 29, "every real variant only changes or adds values");
    Ok(())
}

/// The raw `variants.<job>.spec` blocks of `risk_table_mapping.step.yaml` (lists replace,
/// dictionaries merge).
const RISK_TABLE_MAPPING_VARIANTS: [(&str, &str); 4] = [
    (
        "training",
        r#"{"dependencies": {"input_data": {"semantic_keywords": ["training", "train", "data", "input", "preprocessed", "tabular", "processed_data"]}, "model_artifacts_input": {"required": false}},
      "outputs": {"processed_data": {"type": "processing_output", "property_path": "properties.ProcessingOutputConfig.Outputs['processed_data'].S3Output.S3Uri", "aliases": ["training_data", "model_input_data", "data_input", "input_data", "input_path"], "data_type": "S3Uri"},
                  "model_artifacts_output": {"type": "processing_output", "property_path": "properties.ProcessingOutputConfig.Outputs['model_artifacts_output'].S3Output.S3Uri", "aliases": ["risk_tables", "bin_mapping", "risk_table_artifacts", "categorical_mappings", "risk_tables_input", "model_artifacts_input"], "data_type": "S3Uri"}}}"#,
    ),
    (
        "validation",
        r#"{"dependencies": {"input_data": {"semantic_keywords": ["validation", "val", "data", "input", "preprocessed", "tabular", "processed_data"]}, "model_artifacts_input": {"required": true, "compatible_sources": ["RiskTableMapping_Training"]}},
      "outputs": {"processed_data": {"aliases": ["validation_data", "model_validation_data", "data_input", "input_data", "input_path"]},
                  "model_artifacts_output": {"aliases": ["risk_tables", "bin_mapping", "risk_table_artifacts", "categorical_mappings", "risk_tables_input", "model_artifacts_input"]}}}"#,
    ),
    (
        "testing",
        r#"{"dependencies": {"input_data": {"semantic_keywords": ["testing", "test", "data", "input", "preprocessed", "tabular", "processed_data"]}, "model_artifacts_input": {"required": true, "compatible_sources": ["RiskTableMapping_Training"]}},
      "outputs": {"processed_data": {"aliases": ["testing_data", "model_testing_data", "data_input", "input_data", "input_path"]}}}"#,
    ),
    (
        "calibration",
        r#"{"dependencies": {"input_data": {"semantic_keywords": ["calibration", "calib", "data", "input", "preprocessed", "tabular", "processed_data"]}, "model_artifacts_input": {"required": true, "compatible_sources": ["RiskTableMapping_Training"]}},
      "outputs": {"processed_data": {"aliases": ["calibration_data", "model_calibration_data", "data_input", "input_data", "input_path"]},
                  "model_artifacts_output": {"aliases": ["risk_tables", "risk_tables_output", "bin_mapping", "risk_table_artifacts", "categorical_mappings", "risk_tables_input", "model_artifacts_input"]}}}"#,
    ),
];

#[test]
fn raw_yaml_variants_merge_into_the_stored_ones() -> TestResult {
    let catalog = catalog()?;
    let entry = catalog
        .get("RiskTableMapping")
        .ok_or("no RiskTableMapping")?;
    for (job, raw) in RISK_TABLE_MAPPING_VARIANTS {
        let merged = merge_variant(&entry.spec, raw)?;
        assert_same_spec(&merged, &entry.variants[job], job);
    }
    // A variant adding a dependency appends it after the base ones.
    let added = merge_variant(
        &entry.spec,
        r#"{"dependencies": {"extra": {"type": "model_artifacts", "required": false}}}"#,
    )?;
    assert_eq!(
        added.dependencies.keys().last().map(String::as_str),
        Some("extra")
    );
    assert_eq!(added.dependencies["extra"].logical_name, "extra");
    Ok(())
}

#[test]
fn variant_pipelines_resolve_with_the_optimised_path_equal_to_the_plain_one() -> TestResult {
    let catalog = catalog()?;
    let manager = common::manager()?;
    let registry = manager.get_registry("variants")?;
    let mut names = Vec::new();
    for job in ["training"] {
        for (name, spec) in catalog.specs(Some(job)) {
            let step = format!("{name}_{job}");
            registry.register(&step, spec)?;
            names.push(step);
        }
    }
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    assert_eq!(
        resolver.resolve_all_dependencies(&names)?,
        resolver.resolve_all_dependencies_unoptimized(&names)?
    );
    Ok(())
}
