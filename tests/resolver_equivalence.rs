//! Invariant: for arbitrary specifications and step lists (duplicates, unregistered and
//! blank names, identical outputs under several names, ties everywhere), the optimised
//! resolver returns exactly what the straightforward reference-style path returns, cached or
//! not; and `resolve_with_scoring` returns exactly (scores and breakdowns bit for bit,
//! candidate order with ties included) what its first, straightforward version returns,
//! also after a registry write, and a `CandidateScorer`'s top candidates (one consumer at a
//! time or many together) are the start of those lists with their full lengths.

use pipeline_deps::resolve::{CandidateScorer, ScoredCandidate, ScoringResolution, StepResolution};
use pipeline_deps::{
    DependencySpec, DependencyType, NodeType, OutputSpec, PipelineResolution, RegistryManager,
    SemanticMatcher, StepSpecification, UnifiedDependencyResolver,
};
use proptest::prelude::*;

/// Names, including pairs equal only after normalisation (similarity 1.0 without the
/// exact-name bonus) and one that normalises to nothing.
const NAMES: [&str; 14] = [
    "data",
    "training_data",
    "model",
    "model_output",
    "processed_data",
    "input_path",
    "config",
    "payload_samples",
    "eval_output",
    "x",
    "Training-Data",
    "the_config",
    "MODEL",
    "of",
];
const DATA_TYPES: [&str; 4] = ["S3Uri", "String", "Integer", "Float"];
const STEP_TYPES: [&str; 6] = [
    "TabularPreprocessing",
    "XGBoostTraining",
    "Package",
    "Processing_X",
    "FooStep",
    "TabularPreprocessing_Training",
];
const SOURCES: [&str; 6] = [
    "TabularPreprocessing",
    "XGBoostTrainingStep",
    "MIMSPackaging",
    "Processing",
    "Foo",
    "Other",
];
const KEYWORDS: [&str; 5] = ["data", "model", "OUT", "train", "Data"];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(list)
}

fn subset(list: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(pick(list), 0..=max)
}

fn dep_type() -> impl Strategy<Value = DependencyType> {
    proptest::sample::select(DependencyType::ALL.to_vec())
}

fn dependency() -> impl Strategy<Value = DependencySpec> {
    (
        pick(&NAMES),
        dep_type(),
        any::<bool>(),
        pick(&DATA_TYPES),
        subset(&SOURCES, 3),
        subset(&KEYWORDS, 3),
    )
        .prop_map(|(name, ty, required, data_type, sources, keywords)| {
            let dep = DependencySpec::new(name, ty)
                .with_data_type(data_type)
                .with_compatible_sources(sources)
                .with_keywords(keywords);
            if required { dep } else { dep.optional() }
        })
}

fn output() -> impl Strategy<Value = OutputSpec> {
    (
        pick(&NAMES),
        dep_type(),
        pick(&DATA_TYPES),
        subset(&NAMES, 3),
    )
        .prop_map(|(name, ty, data_type, aliases)| {
            OutputSpec::new(name, ty, format!("properties.{name}"))
                .with_data_type(data_type)
                .with_aliases(aliases)
        })
}

fn spec() -> impl Strategy<Value = StepSpecification> {
    (
        pick(&STEP_TYPES),
        proptest::collection::vec(dependency(), 0..3),
        proptest::collection::vec(output(), 0..3),
    )
        .prop_map(|(step_type, deps, outs)| {
            let node = if deps.is_empty() && outs.is_empty() {
                NodeType::Singular
            } else {
                NodeType::Internal
            };
            let spec = deps
                .into_iter()
                .fold(StepSpecification::new(step_type, node), |s, d| {
                    s.with_dependency(d)
                });
            outs.into_iter().fold(spec, |s, o| s.with_output(o))
        })
}

/// Registered step names: `"a "` is another step than `"a"`, and `" b"` than `"b"`; an edge
/// from either must name it exactly (a blank name is refused by registration).
const STEP_NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", " b", "a "];

fn case() -> impl Strategy<Value = (Vec<StepSpecification>, Vec<usize>, Vec<usize>)> {
    (
        proptest::collection::vec(spec(), 1..7),
        // Which registered spec each step name gets (the same spec under several names).
        proptest::collection::vec(0usize..7, STEP_NAMES.len()),
        // The step list: indexes into STEP_NAMES plus one unregistered name (8).
        proptest::collection::vec(0usize..9, 1..10),
    )
}

fn outcome_of(resolution: &PipelineResolution, consumer: &str) -> Result<StepResolution, String> {
    if let Some(failure) = resolution.unresolved.iter().find(|e| e.step == consumer) {
        return Err(failure.to_string());
    }
    Ok(resolution.get(consumer).cloned().unwrap_or_default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn optimised_and_plain_paths_agree((specs, assignment, list) in case()) {
        let manager = RegistryManager::in_memory().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let registry = manager.get_registry("prop").map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (name, &which) in STEP_NAMES.iter().zip(&assignment) {
            if let Some(spec) = specs.get(which) {
                registry.register(name, spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
        let steps: Vec<&str> = list
            .iter()
            .map(|&i| STEP_NAMES.get(i).copied().unwrap_or("unregistered"))
            .collect();
        let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
        let fast = resolver.resolve_all_dependencies(&steps).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let plain = resolver.resolve_all_dependencies_unoptimized(&steps).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&fast, &plain);
        // Every edge names a listed step exactly as registered, which has that output.
        for deps in fast.resolved.values() {
            for reference in deps.values() {
                prop_assert!(steps.contains(&reference.step_name()), "{}", reference.step_name());
                let provider = registry
                    .get_specification(reference.step_name())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(
                    provider.is_some_and(|p| p.outputs.contains_key(&reference.output_spec().logical_name)),
                    "{} has no output {}", reference.step_name(), reference.output_spec().logical_name
                );
            }
        }
        // Cached results equal fresh ones.
        let again = resolver.resolve_all_dependencies(&steps).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&fast, &again);
        // Single-step resolution, cold (fresh resolver) and warm, agrees too; also for a
        // consumer that is not in the list.
        let cold = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
        for consumer in steps.iter().copied().chain(["g", "a"]) {
            let plain_one = cold
                .resolve_step_dependencies_unoptimized(consumer, &steps)
                .map_err(|e| e.to_string());
            let fast_one = cold.resolve_step_dependencies(consumer, &steps).map_err(|e| e.to_string());
            let warm_one = resolver.resolve_step_dependencies(consumer, &steps).map_err(|e| e.to_string());
            prop_assert_eq!(&fast_one, &plain_one);
            prop_assert_eq!(&warm_one, &plain_one);
            if steps.contains(&consumer) {
                prop_assert_eq!(outcome_of(&fast, consumer), plain_one);
            }
        }
    }
}

/// Every score and breakdown part of `scoring` as bits (`==` on `f64` takes `-0.0` for
/// `0.0`), in candidate order.
fn score_bits(scoring: &ScoringResolution) -> Vec<[u64; 7]> {
    let failed = scoring
        .failed_with_scores
        .values()
        .flat_map(|f| f.best_candidate.iter().chain(&f.all_candidates));
    scoring
        .candidates
        .values()
        .flatten()
        .chain(failed)
        .map(|c| {
            let b = &c.score_breakdown;
            [
                c.score.to_bits(),
                b.type_compatibility.to_bits(),
                b.data_type_compatibility.to_bits(),
                b.semantic_similarity.to_bits(),
                b.exact_match_bonus.to_bits(),
                b.source_compatibility.to_bits(),
                b.keyword_matching.to_bits(),
            ]
        })
        .collect()
}

/// `resolve_with_scoring` of every consumer of `consumers` equals the straightforward
/// version's, bit for bit, on a fresh resolver and on `warm` (whose caches may hold
/// earlier lists); and `scorer`'s top candidates (made over `steps` by `warm`, possibly
/// before a registry write) are the start of those lists, with their full lengths.
fn scoring_agrees(
    warm: &UnifiedDependencyResolver,
    scorer: &mut CandidateScorer<'_>,
    registry: &pipeline_deps::SpecificationRegistry,
    consumers: &[&str],
    steps: &[&str],
) -> Result<(), TestCaseError> {
    let cold = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    for &consumer in consumers {
        let plain = cold
            .resolve_with_scoring_unoptimized(consumer, steps)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        top_candidates_agree(scorer, registry, consumer, &plain)?;
        for resolver in [&cold, warm] {
            let fast = resolver
                .resolve_with_scoring(consumer, steps)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&fast, &plain, "consumer {:?}", consumer);
            prop_assert_eq!(
                score_bits(&fast),
                score_bits(&plain),
                "consumer {:?}",
                consumer
            );
        }
    }
    // Scored together, the consumers get what each gets alone.
    let together = scorer
        .top_candidates_many(consumers, 2)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(together.len(), consumers.len());
    for (&consumer, got) in consumers.iter().zip(together) {
        let alone = scorer
            .top_candidates(consumer, 2)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, alone, "consumer {:?}", consumer);
    }
    Ok(())
}

/// For each `top`, the scorer's candidates of `consumer` are the first `top` of `plain`'s
/// lists (the scoring resolution of the same list), bit for bit, with the full lists'
/// lengths and the dependencies' `required`; an unregistered consumer has none.
fn top_candidates_agree(
    scorer: &mut CandidateScorer<'_>,
    registry: &pipeline_deps::SpecificationRegistry,
    consumer: &str,
    plain: &ScoringResolution,
) -> Result<(), TestCaseError> {
    let spec = registry
        .get_specification(consumer)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for top in [0, 1, 2, 5, usize::MAX] {
        let scored = scorer
            .top_candidates(consumer, top)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Some(spec) = &spec else {
            prop_assert!(scored.is_none(), "unregistered {:?} was scored", consumer);
            continue;
        };
        let Some(scored) = scored else {
            return Err(TestCaseError::fail(format!("{consumer:?} was not scored")));
        };
        let keys: Vec<&String> = scored.keys().collect();
        prop_assert_eq!(keys, plain.candidates.keys().collect::<Vec<_>>());
        for (key, got) in &scored {
            let full = &plain.candidates[key];
            let start = &full[..top.min(full.len())];
            prop_assert_eq!(
                &got.candidates,
                start,
                "{:?}.{:?} top {}",
                consumer,
                key,
                top
            );
            let bits = |list: &[ScoredCandidate]| -> Vec<u64> {
                list.iter().map(|c| c.score.to_bits()).collect()
            };
            prop_assert_eq!(bits(&got.candidates), bits(start));
            prop_assert_eq!(got.total, full.len(), "{:?}.{:?}", consumer, key);
            prop_assert_eq!(got.required, spec.dependencies[key].required);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn scoring_equals_the_straightforward_scoring(
        (specs, _, list) in case(),
        rewrite in (0usize..8, spec()),
        doubled in proptest::collection::vec(0usize..14, 8),
    ) {
        let manager = RegistryManager::in_memory().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let registry = manager.get_registry("prop").map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Odd assignments get the spec under another step type: equal outputs of different
        // providers, which tie whenever the sources rule cannot tell them apart.
        for (name, &which) in STEP_NAMES.iter().zip(&doubled) {
            if let Some(spec) = specs.get(which / 2) {
                let mut spec = spec.clone();
                if which % 2 == 1 {
                    spec.step_type = format!("{}_Other", spec.step_type);
                }
                registry.register(name, &spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
        // Listed twice, unregistered ("unregistered", "g"), and the consumer in the list
        // or not.
        let steps: Vec<&str> = list
            .iter()
            .map(|&i| STEP_NAMES.get(i).copied().unwrap_or("unregistered"))
            .collect();
        let consumers: Vec<&str> = steps.iter().copied().chain(STEP_NAMES).chain(["g"]).collect();
        let warm = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
        // Another list first, so the warm resolver holds several cache entries.
        warm.resolve_with_scoring("a", &STEP_NAMES).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut scorer = warm.candidate_scorer(&steps).map_err(|e| TestCaseError::fail(e.to_string()))?;
        scoring_agrees(&warm, &mut scorer, &registry, &consumers, &steps)?;
        // A registry write is seen by the cached index, and by the scorer made before it.
        let (which, spec) = rewrite;
        let name = STEP_NAMES.get(which).copied().unwrap_or("a");
        registry.upsert(name, &spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
        scoring_agrees(&warm, &mut scorer, &registry, &consumers, &steps)?;
    }
}
