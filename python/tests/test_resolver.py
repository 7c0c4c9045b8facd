"""Resolution from Python gives exactly the Rust library's edges and scores, in the
design's shapes."""

from __future__ import annotations

import json
import subprocess

import pytest

import pipeline_deps as pd
from conftest import FIXTURE, SIX


@pytest.fixture()
def cursus(manager):
    registry = manager.get_registry("cursus")
    registry.import_json(FIXTURE.read_text())
    return registry


def test_resolve_all_dependencies_gives_property_references(cursus, real_specs):
    resolver = pd.UnifiedDependencyResolver(cursus)
    resolved = resolver.resolve_all_dependencies(SIX)
    assert sum(len(deps) for deps in resolved.values()) == 13
    ref = resolved["XGBoostModel"]["model_data"]
    assert isinstance(ref, pd.PropertyReference)
    assert ref.step_name == "XGBoostTraining"
    assert ref.output_spec == real_specs["XGBoostTraining"].outputs["model_output"]
    assert str(ref) == "XGBoostTraining.model_output"
    assert repr(ref) == "PropertyReference(step='XGBoostTraining', output='model_output')"
    assert ref.to_sagemaker_property() == {
        "Get": "Steps.XGBoostTraining.ModelArtifacts.S3ModelArtifacts"
    }


def test_results_equal_the_rust_cli_edge_for_edge(tmp_path, cli_binary, real_specs):
    path = tmp_path / "registry.redb"
    with pd.RegistryManager(path) as manager:
        registry = manager.get_registry("cursus")
        for name, spec in real_specs.items():
            registry.register(name, spec)
        resolver = pd.UnifiedDependencyResolver(registry)
        python_edges = {
            (consumer, dep, str(ref))
            for consumer, deps in resolver.resolve_all_dependencies(SIX).items()
            for dep, ref in deps.items()
        }
        python_scores = {}
        for consumer in SIX:
            scoring = resolver.resolve_with_scoring(consumer, SIX)
            for dep in scoring["resolved"]:
                python_scores[(consumer, dep)] = scoring["candidates"][dep][0]["score"]
    out = subprocess.run(
        [str(cli_binary), "--db", str(path), "resolve", "cursus", *SIX, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    cli = json.loads(out.stdout)
    cli_edges = {
        (e["consumer"], e["dependency"], f"{e['producer']}.{e['output']}")
        for e in _edges(cli)
    }
    assert python_edges == cli_edges
    assert len(python_edges) == 13
    for edge in _edges(cli):
        # Exactly the same float: JSON carries every bit of an f64.
        assert python_scores[(edge["consumer"], edge["dependency"])] == edge["score"]


def _edges(document):
    """The edges of `pipeline-deps resolve --json`, whatever its version names the list."""
    for key in ("edges", "resolved"):
        if isinstance(document.get(key), list):
            for edge in document[key]:
                yield {
                    "consumer": edge.get("consumer") or edge.get("consumer_step"),
                    "dependency": edge["dependency"],
                    "producer": edge.get("producer") or edge.get("provider_step"),
                    "output": edge.get("output") or edge.get("output_name"),
                    "score": edge["score"],
                }
            return
    raise AssertionError(f"no edge list in {sorted(document)}")


def test_resolve_with_scoring_has_the_designs_shape_and_exact_scores(cursus):
    resolver = pd.UnifiedDependencyResolver(cursus)
    result = resolver.resolve_with_scoring("XGBoostTraining", SIX)
    assert set(result) == {"resolved", "failed_with_scores", "resolution_details", "candidates"}
    assert str(result["resolved"]["input_path"]) == "TabularPreprocessing.processed_data"
    failed = result["failed_with_scores"]["hyperparameters_s3_uri"]
    assert failed["required"] is False
    best = failed["best_candidate"]
    assert str(best["property_reference"]) == "XGBoostModel.model_name"
    assert round(best["score"], 4) == 0.3194
    breakdown = best["score_breakdown"]
    assert set(breakdown) == {
        "type_compatibility",
        "data_type_compatibility",
        "semantic_similarity",
        "exact_match_bonus",
        "source_compatibility",
        "keyword_matching",
    }
    assert abs(sum(breakdown.values()) - best["score"]) < 1e-12
    details = result["resolution_details"]
    assert details["consumer_step_type"] == "XGBoostTraining"
    assert details["resolution_threshold"] == 0.5
    unknown = resolver.resolve_with_scoring("Nope", SIX)
    assert unknown["resolution_details"] == {
        "consumer_step": "Nope",
        "error": "No specification found",
    }


def test_resolve_step_dependencies_raises_for_unresolved_required(manager, real_specs):
    registry = manager.get_registry("ctx")
    registry.register("XGBoostModel", real_specs["XGBoostModel"])
    resolver = pd.UnifiedDependencyResolver(registry)
    with pytest.raises(pd.DependencyResolutionError, match="model_data"):
        resolver.resolve_step_dependencies("XGBoostModel", ["XGBoostModel"])
    assert resolver.resolve_all_dependencies(["XGBoostModel"]) == {}


def test_resolution_report(cursus):
    report = pd.UnifiedDependencyResolver(cursus).get_resolution_report(SIX)
    assert report["total_steps"] == 6
    assert report["registered_steps"] == 6
    assert report["resolution_summary"]["resolved_dependencies"] == 13
    assert report["step_details"]["XGBoostModel"]["resolved_dependencies"] == {
        "model_data": "XGBoostTraining.model_output"
    }


def test_a_write_invalidates_the_cached_result(manager, real_specs):
    registry = manager.get_registry("ctx")
    for name in ["XGBoostTraining", "XGBoostModel"]:
        registry.register(name, real_specs[name])
    resolver = pd.UnifiedDependencyResolver(registry)
    names = ["XGBoostTraining", "XGBoostModel"]
    assert "XGBoostModel" in resolver.resolve_all_dependencies(names)
    registry.unregister("XGBoostTraining")
    assert resolver.resolve_all_dependencies(names) == {}


def test_a_resolver_refuses_what_is_not_a_registry_or_a_list_of_names(cursus):
    with pytest.raises(TypeError, match="SpecificationRegistry"):
        pd.UnifiedDependencyResolver("cursus")
    resolver = pd.UnifiedDependencyResolver(cursus)
    with pytest.raises(TypeError, match="not a str"):
        resolver.resolve_all_dependencies("XGBoostTraining")
    with pytest.raises(TypeError, match="not a str"):
        resolver.get_resolution_report("XGBoostTraining")


def test_a_semantic_matcher_is_refused_not_ignored(cursus):
    """The design's signature takes a semantic matcher, but the scoring runs in Rust with
    the library's built-in one: a matcher given (a custom one, or the original
    implementation's) was ignored without a word, so results silently followed other rules
    than the caller chose. It is now a TypeError saying why; None (the default) is fine."""
    class CustomMatcher:
        def calculate_similarity(self, a: str, b: str) -> float:
            return 1.0

    for make in (
        lambda: pd.UnifiedDependencyResolver(cursus, CustomMatcher()),  # type: ignore[arg-type]
        lambda: pd.UnifiedDependencyResolver(cursus, semantic_matcher=CustomMatcher()),  # type: ignore[arg-type]
        lambda: pd.create_dependency_resolver(cursus, CustomMatcher()),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=r"semantic_matcher must be None.*CustomMatcher"):
            make()
    resolver = pd.create_dependency_resolver(cursus, semantic_matcher=None)
    assert resolver.resolve_all_dependencies(SIX) == pd.UnifiedDependencyResolver(
        cursus
    ).resolve_all_dependencies(SIX)


def test_a_property_reference_of_the_wrong_types_is_a_type_error(real_specs):
    output = real_specs["XGBoostTraining"].outputs["model_output"]
    with pytest.raises(TypeError, match="step_name must be a str, not int"):
        pd.PropertyReference(5, output)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="output_spec must be an OutputSpec, not dict"):
        pd.PropertyReference("XGBoostTraining", {"logical_name": "x"})  # type: ignore[arg-type]
    assert str(pd.PropertyReference(" XGBoostTraining ", output)) == "XGBoostTraining.model_output"
