"""The design's Python examples run as written (only the import path differs), with their
placeholder specs bound to real specifications, against the process-wide default manager
(PIPELINE_DEPS_DB pointing at a fresh file in a fresh process)."""

from __future__ import annotations

import textwrap

from conftest import FIXTURE, run_python

# The design's placeholder specs, bound to real ones.
PRELUDE = textwrap.dedent(
    f"""
    import pipeline_deps as pd
    _m = pd.RegistryManager(":memory:")
    _r = _m.get_registry("fixture")
    _r.import_json(open({str(FIXTURE)!r}).read())
    S = {{n: _r.get_specification(n) for n in _r.list_step_names()}}
    TRAINING_DATA_SPEC = TRAINING_DATA_LOADING_SPEC = DATA_LOADING_SPEC = S["CradleDataLoading"]
    INFERENCE_DATA_SPEC = TEST_DATA_SPEC = MOCK_DATA_SOURCE_SPEC = S["DummyDataLoading"]
    FEATURE_ENGINEERING_SPEC = S["RiskTableMapping"]
    PREPROCESSING_SPEC = TEST_PROCESSOR_SPEC = S["TabularPreprocessing"]
    XGBOOST_TRAINING_SPEC = TRAINING_SPEC = S["XGBoostTraining"]
    MODEL_LOADING_SPEC = S["XGBoostModel"]
    BATCH_TRANSFORM_SPEC = S["BatchTransform"]
    TEST_SPEC = TEST_SPEC_1 = S["Package"]
    TEST_SPEC_2 = S["Payload"]
    """
)


def run(tmp_path, body: str) -> str:
    code = PRELUDE + textwrap.dedent(body)
    return run_python(code, {"PIPELINE_DEPS_DB": str(tmp_path / "default.redb")})


def test_multi_registry_coordination(tmp_path):
    out = run(
        tmp_path,
        """
        from pipeline_deps import registry_manager, get_registry

        training_registry = get_registry("training_pipeline")
        inference_registry = get_registry("inference_pipeline")
        testing_registry = get_registry("unit_tests")

        training_registry.register("data_loading", TRAINING_DATA_SPEC)
        inference_registry.register("data_loading", INFERENCE_DATA_SPEC)
        testing_registry.register("data_loading", TEST_DATA_SPEC)

        all_contexts = registry_manager.list_contexts()
        print(f"Managing {len(all_contexts)} registry contexts: {all_contexts}")
        assert training_registry.get_specification("data_loading") == TRAINING_DATA_SPEC
        assert inference_registry.get_specification("data_loading") == INFERENCE_DATA_SPEC
        """,
    )
    assert out.strip() == (
        "Managing 3 registry contexts: ['training_pipeline', 'inference_pipeline', 'unit_tests']"
    )


def test_lifecycle_and_convenience_functions(tmp_path):
    out = run(
        tmp_path,
        """
        from pipeline_deps import (
            registry_manager, get_registry, get_pipeline_registry, get_default_registry,
            list_contexts, clear_context, get_context_stats,
        )
        pipeline_registry = get_registry("new_pipeline")
        existing_registry = get_registry("new_pipeline")
        assert pipeline_registry is existing_registry
        maybe_registry = get_registry("nonexistent", create_if_missing=False)
        assert maybe_registry is None
        get_registry("old_pipeline")
        success = registry_manager.clear_context("old_pipeline")
        print(f"Cleanup successful: {success}")
        assert get_registry("test") is get_pipeline_registry("test")
        assert get_default_registry() is get_registry("default")
        assert clear_context("nonexistent") is False
        assert isinstance(get_context_stats(), dict)
        registry_manager.clear_all_contexts()
        print(f"Remaining contexts: {len(registry_manager.list_contexts())}")
        """,
    )
    assert out.split("\n")[:2] == ["Cleanup successful: True", "Remaining contexts: 0"]


def test_basic_multi_registry_management_and_monitoring(tmp_path):
    out = run(
        tmp_path,
        """
        from pipeline_deps import get_registry, list_contexts, get_context_stats

        training_registry = get_registry("fraud_detection_training")
        inference_registry = get_registry("fraud_detection_inference")
        testing_registry = get_registry("unit_tests")

        training_registry.register("data_loading", TRAINING_DATA_LOADING_SPEC)
        training_registry.register("feature_engineering", FEATURE_ENGINEERING_SPEC)
        training_registry.register("model_training", XGBOOST_TRAINING_SPEC)
        inference_registry.register("model_loading", MODEL_LOADING_SPEC)
        inference_registry.register("batch_transform", BATCH_TRANSFORM_SPEC)
        testing_registry.register("mock_data_source", MOCK_DATA_SOURCE_SPEC)
        testing_registry.register("test_processor", TEST_PROCESSOR_SPEC)

        contexts = list_contexts()
        print(f"Active contexts: {contexts}")
        stats = get_context_stats()
        for context, info in stats.items():
            print(f"{context}: {info['step_count']} steps, {info['step_type_count']} types")
        for context_name, context_stats in stats.items():
            assert context_stats["registry_type"] == "SpecificationRegistry"
        """,
    )
    assert out.strip().split("\n") == [
        "Active contexts: ['fraud_detection_training', 'fraud_detection_inference', 'unit_tests']",
        "fraud_detection_training: 3 steps, 3 types",
        "fraud_detection_inference: 2 steps, 2 types",
        "unit_tests: 2 steps, 2 types",
    ]


def test_pipeline_builder_integration_per_environment(tmp_path):
    out = run(
        tmp_path,
        """
        from dataclasses import dataclass
        from pipeline_deps import integrate_with_pipeline_builder, get_registry, get_context_stats

        @dataclass
        class Config:
            pipeline_name: str
            environment: str = ""

        @integrate_with_pipeline_builder
        class TrainingPipelineBuilder:
            def __init__(self, config):
                self.base_config = config

            def build_pipeline(self):
                self.registry.register("data_loading", DATA_LOADING_SPEC)
                self.registry.register("training", TRAINING_SPEC)
                return self.registry.list_step_names()

        builder = TrainingPipelineBuilder(Config("fraud_training"))
        assert builder.registry is get_registry("fraud_training")
        print(builder.build_pipeline())

        @integrate_with_pipeline_builder
        class MultiEnvironmentPipelineBuilder:
            def __init__(self, config):
                self.base_config = config
                self.environment = config.environment

            def build_training_pipeline(self):
                if self.environment == "dev":
                    self.registry.register("data_loading", DATA_LOADING_SPEC)
                else:
                    self.registry.register("data_loading", DATA_LOADING_SPEC)
                    self.registry.register("training", TRAINING_SPEC)

            def get_environment_stats(self):
                context_name = f"{self.base_config.pipeline_name}_{self.environment}"
                return get_context_stats().get(context_name, {})

        dev = MultiEnvironmentPipelineBuilder(Config("fraud_detection", "dev"))
        prod = MultiEnvironmentPipelineBuilder(Config("fraud_detection", "prod"))
        dev.build_training_pipeline()
        prod.build_training_pipeline()
        print(dev.get_environment_stats()["step_count"], prod.get_environment_stats()["step_count"])
        assert dev.registry.context_name == "fraud_detection_dev"
        """,
    )
    assert out.strip().split("\n") == ["['data_loading', 'training']", "1 2"]


def test_resolver_with_a_managed_registry(tmp_path):
    out = run(
        tmp_path,
        """
        from pipeline_deps import get_registry, get_context_stats, UnifiedDependencyResolver

        registry = get_registry("training_pipeline")
        resolver = UnifiedDependencyResolver(registry)
        registry.register("data_loading", DATA_LOADING_SPEC)
        registry.register("preprocessing", PREPROCESSING_SPEC)
        resolved = resolver.resolve_all_dependencies(["data_loading", "preprocessing"])
        stats = get_context_stats()
        print(f"Training pipeline has {stats['training_pipeline']['step_count']} steps")
        print(sorted(f"{c}.{d}<-{r}" for c, deps in resolved.items() for d, r in deps.items()))
        """,
    )
    lines = out.strip().split("\n")
    assert lines[0] == "Training pipeline has 2 steps"
    assert "preprocessing.DATA<-data_loading.DATA" in lines[1]


def test_unittest_isolation_example(tmp_path):
    out = run(
        tmp_path,
        """
        import unittest, io
        from pipeline_deps import get_registry, clear_context, list_contexts, get_context_stats

        class TestRegistryManager(unittest.TestCase):
            def setUp(self):
                for context in list_contexts():
                    if context.startswith("test_"):
                        clear_context(context)
                self.test_registry = get_registry("test_main")
                self.helper_registry = get_registry("test_helper")

            def tearDown(self):
                clear_context("test_main")
                clear_context("test_helper")

            def test_registry_isolation(self):
                self.test_registry.register("step1", TEST_SPEC_1)
                self.helper_registry.register("step2", TEST_SPEC_2)
                self.assertIn("step1", self.test_registry.list_step_names())
                self.assertNotIn("step1", self.helper_registry.list_step_names())

            def test_manager_coordination(self):
                self.test_registry.register("main_step", TEST_SPEC_1)
                self.helper_registry.register("helper_step", TEST_SPEC_2)
                stats = get_context_stats()
                self.assertEqual(stats["test_main"]["step_count"], 1)
                self.assertEqual(stats["test_helper"]["step_count"], 1)

            def test_cleanup_functionality(self):
                temp_registry = get_registry("test_temp")
                temp_registry.register("temp_step", TEST_SPEC_1)
                self.assertIn("test_temp", list_contexts())
                self.assertTrue(clear_context("test_temp"))
                self.assertNotIn("test_temp", list_contexts())
                self.assertFalse(clear_context("nonexistent"))

        suite = unittest.defaultTestLoader.loadTestsFromTestCase(TestRegistryManager)
        result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
        print(result.testsRun, len(result.failures), len(result.errors))
        print(list_contexts())
        """,
    )
    assert out.strip().split("\n") == ["3 0 0", "[]"]
