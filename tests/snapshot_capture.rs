//! Invariant: a snapshot capture, which resolves from the specifications it read itself,
//! gives exactly what `resolve_all_dependencies` (and scores read from the registry) give
//! at that revision, and the candidate scorer it hands on gives exactly what a scorer that
//! reads the registry gives, also after a write since the capture (then it reads again);
//! the snapshot JSON streamed by `write_json_to` is `to_json`'s bytes.

mod common;

use common::TestResult;
use pipeline_deps::snapshot::{EdgeSnapshot, ResolvedEdge, SnapshotCapture, UnresolvedStep};
use pipeline_deps::{
    RegistryManager, SemanticMatcher, SpecificationRegistry, StepSpecification,
    UnifiedDependencyResolver,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// How many candidates per dependency the scorer comparisons keep.
const TOP: usize = 3;

/// The snapshot of `steps` as the pre-capture path computed it: a fresh resolver's
/// `resolve_all_dependencies` (reading the registry), each edge scored against the specs
/// read from the registry.
fn expected(
    registry: &SpecificationRegistry,
    steps: &[String],
    all_steps: bool,
) -> TestResult<EdgeSnapshot> {
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let resolution = resolver.resolve_all_dependencies(steps)?;
    let mut edges = Vec::new();
    for (consumer, dependency, reference) in resolution.edges() {
        let consumer_spec = registry
            .get_specification(consumer)?
            .ok_or("consumer not registered")?;
        let producer_spec = registry
            .get_specification(reference.step_name())?
            .ok_or("producer not registered")?;
        let dep = consumer_spec
            .dependencies
            .get(dependency)
            .ok_or("dependency not declared")?;
        let score = resolver.calculate_compatibility(dep, reference.output_spec(), &producer_spec);
        edges.push(edge_of(
            consumer,
            dependency,
            reference.step_name(),
            reference.output_name(),
            score,
        )?);
    }
    let unresolved = resolution
        .unresolved
        .iter()
        .map(|e| {
            let value = serde_json::json!({"step": e.step, "dependencies": e.dependencies});
            Ok(serde_json::from_value::<UnresolvedStep>(value)?)
        })
        .collect::<TestResult<Vec<_>>>()?;
    Ok(EdgeSnapshot::new(
        registry.context_name(),
        steps.to_vec(),
        all_steps,
        edges,
        unresolved,
    ))
}

/// A `ResolvedEdge` (non-exhaustive: built through its serialised form).
fn edge_of(
    consumer: &str,
    dependency: &str,
    producer: &str,
    output: &str,
    score: f64,
) -> TestResult<ResolvedEdge> {
    let value = serde_json::json!({
        "consumer": consumer, "dependency": dependency,
        "producer": producer, "output": output, "score": score,
    });
    Ok(serde_json::from_value(value)?)
}

/// The best `TOP` candidates of every dependency of `steps`, from a scorer that reads the
/// registry (a fresh resolver: nothing cached).
fn expected_candidates(
    registry: &SpecificationRegistry,
    steps: &[String],
) -> TestResult<Vec<Option<indexmap::IndexMap<String, pipeline_deps::resolve::TopCandidates>>>> {
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    Ok(resolver
        .candidate_scorer(steps)?
        .top_candidates_many(steps, TOP)?)
}

/// A context holding fixture specs `picks` (indices into `real`) under distinct names.
fn registry_of(
    real: &[(String, StepSpecification)],
    picks: &[usize],
) -> TestResult<(RegistryManager, SpecificationRegistry, Vec<String>)> {
    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("prop")?;
    let mut names = Vec::new();
    for (k, &pick) in picks.iter().enumerate() {
        let (name, spec) = &real[pick % real.len()];
        let name = format!("{name}_{k}");
        registry.register(&name, spec)?;
        names.push(name);
    }
    Ok((manager, registry, names))
}

/// `names` reordered by `keys` (a stable sort by key), then cut to `keep` of them.
fn sublist(names: &[String], keys: &[u8], keep: usize) -> Vec<String> {
    let mut keyed: Vec<(u8, &String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (keys.get(i).copied().unwrap_or(0), n))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed
        .into_iter()
        .take(keep.max(1))
        .map(|(_, n)| n.clone())
        .collect()
}

fn check_case(
    picks: &[usize],
    keys: &[u8],
    keep: usize,
    write: (usize, usize, bool),
) -> TestResult {
    let real = common::real_specs()?;
    let (_manager, registry, names) = registry_of(&real, picks)?;
    let list = sublist(&names, keys, keep);
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());

    // Every step, then a list in another order: as the old path, at this revision.
    let all = SnapshotCapture::of_all(&resolver)?;
    assert_eq!(all.snapshot(), &expected(&registry, &names, true)?);
    let listed = SnapshotCapture::of_steps(&resolver, &list)?;
    assert_eq!(listed.snapshot(), &expected(&registry, &list, false)?);
    // The capture hands on the specifications registered, in the snapshot's order.
    for (step, spec) in listed.steps() {
        let spec = spec.ok_or("a listed step without its spec")?;
        let registered = registry.get_specification(step)?.ok_or("unregistered")?;
        assert_eq!(**spec, *registered, "{step}");
    }
    // The scorer taking the capture's specs scores as one reading the registry.
    let wanted = expected_candidates(&registry, &list)?;
    assert_eq!(
        listed
            .candidate_scorer(&resolver)?
            .top_candidates_many(&list, TOP)?,
        wanted
    );
    let mut before_write = all.candidate_scorer(&resolver)?;
    assert_eq!(
        before_write.top_candidates_many(&names, TOP)?,
        expected_candidates(&registry, &names)?
    );

    // A write between the capture and the scoring: a step replaced by another fixture spec,
    // or removed. The capture's specs are stale; the scorers must read the registry again.
    let (at, replacement, remove) = write;
    let target = &names[at % names.len()];
    if remove {
        registry.unregister(target)?;
    } else {
        registry.upsert(target, &real[replacement % real.len()].1)?;
    }
    let now = expected_candidates(&registry, &names)?;
    assert_eq!(before_write.top_candidates_many(&names, TOP)?, now);
    assert_eq!(
        all.candidate_scorer(&resolver)?
            .top_candidates_many(&names, TOP)?,
        now
    );
    // And a capture after the write is the old path's at the new revision.
    let current: Vec<String> = registry.iter()?.map(|(name, _)| name).collect();
    assert_eq!(
        SnapshotCapture::of_all(&resolver)?.snapshot(),
        &expected(&registry, &current, true)?
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_capture_resolves_and_scores_as_the_registry_reading_path_also_after_a_write(
        picks in proptest::collection::vec(0usize..61, 2..48),
        keys in proptest::collection::vec(any::<u8>(), 48),
        keep in 1usize..48,
        write in (0usize..48, 0usize..61, any::<bool>()),
    ) {
        check_case(&picks, &keys, keep, write).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

/// Every real spec, twice (so that outputs of equal class tie): the whole fixture at once.
#[test]
fn a_capture_of_the_whole_fixture_twice_equals_the_registry_reading_path() -> TestResult {
    let picks: Vec<usize> = (0..122).collect();
    let keys: Vec<u8> = (0..122u8).rev().collect();
    check_case(&picks, &keys, 80, (7, 30, false))?;
    check_case(&picks, &keys, 80, (100, 0, true))
}

/// A scorer handed a capture of another registry, at the same revision number, reads its
/// own registry: the capture's specifications never stand in for another context's.
#[test]
fn a_capture_never_scores_for_another_registry() -> TestResult {
    let real = common::real_specs()?;
    let manager = RegistryManager::in_memory()?;
    let (one, other) = (manager.get_registry("one")?, manager.get_registry("other")?);
    let names: Vec<String> = (0..6).map(|i| real[i].0.clone()).collect();
    for (i, name) in names.iter().enumerate() {
        one.register(name, &real[i].1)?;
        // The same names, other specs, the same number of writes.
        other.register(name, &real[i + 20].1)?;
    }
    assert_eq!(one.revision()?, other.revision()?);
    let on_one = UnifiedDependencyResolver::new(one, SemanticMatcher::default());
    let on_other = UnifiedDependencyResolver::new(other.clone(), SemanticMatcher::default());
    let capture = SnapshotCapture::of_all(&on_one)?;
    assert_eq!(
        capture
            .candidate_scorer(&on_other)?
            .top_candidates_many(&names, TOP)?,
        expected_candidates(&other, &names)?
    );
    Ok(())
}

/// A writer that fails after `limit` bytes.
struct Full {
    written: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Full {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written.len() + buf.len() > self.limit {
            return Err(std::io::Error::other("disk full"));
        }
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_streamed_snapshot_json_is_to_json_byte_for_byte_and_a_write_error_is_returned() -> TestResult
{
    let real = common::real_specs()?;
    let picks: Vec<usize> = (0..244).map(|i| i % 61).collect();
    let (_manager, registry, _) = registry_of(&real, &picks)?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
    let snapshot = EdgeSnapshot::capture_all(&resolver)?;
    assert!(snapshot.edges.len() > 50 && !snapshot.unresolved.is_empty());
    let text = snapshot.to_json();
    // Larger than the stream's buffer, so it is written in several parts.
    assert!(text.len() > 64 * 1024, "{}", text.len());
    let mut streamed = Vec::new();
    snapshot.write_json_to(&mut streamed)?;
    assert_eq!(String::from_utf8(streamed)?, text);
    assert_eq!(EdgeSnapshot::from_json(&text)?, snapshot);

    let mut full = Full {
        written: Vec::new(),
        limit: text.len() / 2,
    };
    let error = snapshot
        .write_json_to(&mut full)
        .err()
        .ok_or("a failing writer was not reported")?;
    assert_eq!(error.to_string(), "disk full");
    Ok(())
}

/// A capture taken while another thread rewrites a step is the snapshot of one registry
/// state, never a mix, and the scorer it hands on scores the registry as it is after the
/// write (the capture's specifications only stand in at the revision the capture verified
/// it read them at). Each round the writer rewrites the step once, after a delay spread
/// over a capture's duration, so that writes land before, during and after the read and
/// the resolution (the delays only spread the writes; nothing is asserted about time).
#[test]
fn a_capture_during_writes_is_of_one_state_and_its_scorer_scores_the_current_one() -> TestResult {
    let real = common::real_specs()?;
    let picks: Vec<usize> = (0..61).collect();
    let (_manager, registry, names) = registry_of(&real, &picks)?;
    let target = names[10].clone();
    let states = [real[10].1.clone(), real[40].1.clone()];
    let mut frozen = Vec::new();
    for spec in &states {
        registry.upsert(&target, spec)?;
        frozen.push(expected(&registry, &names, true)?);
    }
    assert_ne!(frozen[0], frozen[1], "the two states must wire differently");
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let started = std::time::Instant::now();
    SnapshotCapture::of_all(&resolver)?;
    let capture_time = started.elapsed();

    let (go, rounds) = std::sync::mpsc::channel::<Option<std::time::Duration>>();
    let (done, written) = std::sync::mpsc::channel::<pipeline_deps::Result<()>>();
    let writer = {
        let (registry, target) = (registry.clone(), target.clone());
        std::thread::spawn(move || {
            let mut writes = 0;
            while let Ok(Some(delay)) = rounds.recv() {
                std::thread::sleep(delay);
                let result = registry.upsert(&target, &states[writes % 2]);
                writes += 1;
                if done.send(result).is_err() {
                    break;
                }
            }
        })
    };
    for round in 0..48u32 {
        go.send(Some(capture_time * (round % 12) / 10))?;
        let capture = SnapshotCapture::of_all(&resolver)?;
        written.recv()??;
        assert!(
            frozen.iter().any(|s| s == capture.snapshot()),
            "round {round}: a capture mixed two registry states"
        );
        assert_eq!(
            capture
                .candidate_scorer(&resolver)?
                .top_candidates_many(&names, TOP)?,
            expected_candidates(&registry, &names)?,
            "round {round}"
        );
    }
    go.send(None)?;
    writer.join().map_err(|_| "the writer panicked")?;
    Ok(())
}

/// A scorer keeps each (dependency contents, output class) breakdown for the consumers
/// after: consumers whose dependencies differ in only one part of what a score reads
/// (keywords, compatible sources, data type, name, type) still get each their own
/// candidates, exactly the start of `resolve_with_scoring`'s lists (which keeps nothing).
#[test]
fn scored_together_dependencies_differing_in_one_part_keep_their_own_candidates() -> TestResult {
    use pipeline_deps::{DependencySpec, DependencyType, NodeType};
    let real = common::real_specs()?;
    let picks: Vec<usize> = (0..61).collect();
    let (_manager, registry, mut steps) = registry_of(&real, &picks)?;
    let base = || {
        DependencySpec::new("training_data", DependencyType::TrainingData)
            .with_keywords(["training", "data"])
            .with_compatible_sources(["TabularPreprocessing"])
    };
    let variants = [
        base(),
        base(),
        base().with_keywords(["processed"]),
        base().with_keywords(["training"]),
        base().with_compatible_sources(["RiskTableMapping"]),
        base().with_compatible_sources(Vec::<String>::new()),
        base().with_data_type("String"),
        DependencySpec::new("model_input_data", DependencyType::TrainingData)
            .with_keywords(["training", "data"])
            .with_compatible_sources(["TabularPreprocessing"]),
        DependencySpec::new("training_data", DependencyType::ProcessingOutput)
            .with_keywords(["training", "data"])
            .with_compatible_sources(["TabularPreprocessing"]),
        base(),
    ];
    for (i, dep) in variants.into_iter().enumerate() {
        let name = format!("consumer_{i}");
        registry.register(
            &name,
            &StepSpecification::new("Consumer", NodeType::Sink).with_dependency(dep),
        )?;
        steps.push(name);
    }
    let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
    let consumers: Vec<&String> = steps.iter().rev().take(10).rev().collect();
    let together = resolver
        .candidate_scorer(&steps)?
        .top_candidates_many(&consumers, 4)?;
    for (consumer, got) in consumers.iter().zip(together) {
        let plain = resolver.resolve_with_scoring(consumer, &steps)?;
        let got = got.ok_or("a registered consumer was not scored")?;
        let (key, top) = got.first().ok_or("no dependency scored")?;
        let full = plain.candidates.get(key).ok_or("no such dependency")?;
        assert_eq!(top.total, full.len(), "{consumer}");
        assert_eq!(top.candidates, full[..4.min(full.len())], "{consumer}");
    }
    Ok(())
}
