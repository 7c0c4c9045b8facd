"""A registry stores exactly what was registered, from any accepted spec form, keeps
registration order, and maps every failure onto the exception hierarchy without writing."""

from __future__ import annotations

import enum
import json

import pytest

import pipeline_deps as pd


def test_register_and_read_back_real_specs_exactly(manager, real_specs):
    registry = manager.get_registry("cursus")
    for name, spec in real_specs.items():
        registry.register(name, spec)
    assert registry.list_step_names() == list(real_specs)
    for name, spec in real_specs.items():
        got = registry.get_specification(name)
        assert got == spec
        assert repr(got) == repr(spec)
    assert len(registry) == 61
    assert list(registry) == list(real_specs)
    assert "XGBoostTraining" in registry and "Nope" not in registry and 3 not in registry


def test_types_are_listed_in_first_seen_order_and_by_type(manager, real_specs):
    registry = manager.get_registry("ctx")
    registry.register("a", real_specs["XGBoostTraining"])
    registry.register("b", real_specs["TabularPreprocessing"])
    registry.register("c", real_specs["XGBoostTraining"])
    assert registry.list_step_types() == ["XGBoostTraining", "TabularPreprocessing"]
    assert registry.get_specifications_by_type("XGBoostTraining") == [
        real_specs["XGBoostTraining"],
        real_specs["XGBoostTraining"],
    ]
    assert registry.get_specifications_by_type("Nope") == []


def test_a_dict_in_the_export_format_registers_the_same_spec(manager, real_specs):
    registry = manager.get_registry("ctx")
    spec = real_specs["XGBoostModel"]
    registry.register("from_dict", spec.to_dict())
    assert registry.get_specification("from_dict") == spec


class _Enum(enum.Enum):
    MODEL = "model_artifacts"
    INTERNAL = "internal"


class _PydanticLike:
    """Stands for a pydantic v2 model: model_dump() with enum members, as the original
    implementation's StepInterface dumps (dependencies inside a nested `spec` section,
    `dependency_type`/`output_type` spellings and extra sections)."""

    def model_dump(self):
        return {
            "step_type": "XGBoostModel",
            "node_type": _Enum.INTERNAL,
            "contract": {"entry_point": "x.py"},
            "spec": {
                "dependencies": {
                    "model_data": {
                        "logical_name": "model_data",
                        "dependency_type": _Enum.MODEL,
                        "required": True,
                        "compatible_sources": ["XGBoostTraining"],
                        "semantic_keywords": ["model"],
                        "data_type": "S3Uri",
                        "description": "",
                    }
                },
                "outputs": {
                    "model_name": {
                        "logical_name": "model_name",
                        "output_type": "custom_property",
                        "property_path": "properties.ModelName",
                        "aliases": ["model"],
                        "data_type": "S3Uri",
                    }
                },
            },
        }


def test_an_object_with_model_dump_registers(manager):
    registry = manager.get_registry("ctx")
    registry.register("model", _PydanticLike())
    got = registry.get_specification("model")
    assert got.step_type == "XGBoostModel"
    assert got.dependencies["model_data"].dependency_type is pd.DependencyType.MODEL_ARTIFACTS
    assert got.outputs["model_name"].output_type is pd.DependencyType.CUSTOM_PROPERTY
    assert got.outputs["model_name"].aliases == ["model"]


def test_a_dict_with_a_nested_spec_section_is_refused_as_an_import_refuses_it(manager):
    """A dict is read in the export format, as an import reads a step of its document: the
    nested `spec` section of the original models' model_dump() is refused by both, naming
    the field, and nothing is written. The model object itself still registers (above)."""
    registry = manager.get_registry("ctx")
    sections = {"outputs": {"o": {"property_path": "properties.O"}}}
    nested = {"step_type": "A", "node_type": "source", "spec": sections}
    with pytest.raises(pd.InvalidInputError, match="`spec`"):
        registry.import_json(json.dumps({"steps": [{"step_name": "s", **nested}]}))
    # Allowing unknown fields does not let the section be dropped.
    with pytest.raises(pd.InvalidInputError, match="nested `spec` section"):
        registry.import_json(json.dumps({"steps": [{"step_name": "s", **nested}]}),
                             allow_unknown_fields=True)
    with pytest.raises(pd.InvalidSpecError, match="step 's' is invalid: unknown field 'spec'"):
        registry.register("s", nested)
    with pytest.raises(pd.InvalidSpecError, match="unknown field 'spec'"):
        registry.upsert("s", nested)
    with pytest.raises(ValueError, match="unknown field 'spec'"):
        pd.StepSpecification.from_dict(nested)
    assert len(registry) == 0

    # The same sections at the top level: both read them, alike.
    flat = {"step_type": "A", "node_type": "source", **sections}
    registry.register("s", flat)
    assert registry.import_json(json.dumps({"steps": [{"step_name": "t", **flat}]})) == 1
    assert registry.get_specification("s") == registry.get_specification("t")
    assert registry.get_specification("s") == pd.StepSpecification.from_dict(nested, strict=False)


def test_a_model_dump_with_sections_on_both_levels_loses_none_of_them(manager):
    """A model_dump() read leniently takes each of `dependencies` and `outputs` from the
    side that gives it; given on both sides and different, it is refused rather than one
    side silently dropped."""
    registry = manager.get_registry("ctx")
    dependency = {"d": {"dependency_type": "processing_output"}}
    output = {"o": {"property_path": "properties.O"}}
    split = {"step_type": "A", "node_type": "internal", "dependencies": dependency,
             "spec": {"outputs": output}}
    spec = pd.StepSpecification.from_dict(split, strict=False)
    assert list(spec.dependencies) == ["d"] and list(spec.outputs) == ["o"]

    other = {"o2": {"property_path": "properties.O2"}}
    clash = {"step_type": "A", "node_type": "internal", "outputs": other,
             "spec": {"outputs": output}}
    with pytest.raises(ValueError, match="'outputs' both at its top level and in its nested"):
        pd.StepSpecification.from_dict(clash, strict=False)
    same = {"step_type": "A", "node_type": "internal", "outputs": output,
            "spec": {"outputs": output}}
    assert list(pd.StepSpecification.from_dict(same, strict=False).outputs) == ["o"]
    assert len(registry) == 0


def test_a_dict_naming_another_step_is_refused_and_writes_nothing(manager):
    """The `step_name` a dict in the export format may carry must be the name it is
    registered under: a dict naming another step is refused, never silently renamed."""
    registry = manager.get_registry("ctx")
    spec = {"step_name": "a", "step_type": "A", "node_type": "source",
            "outputs": {"o": {"property_path": "properties.O"}}}
    for write in (registry.register, registry.upsert):
        with pytest.raises(pd.InvalidSpecError, match="step 'b' is invalid: its 'step_name' is 'a'"):
            write("b", spec)
    assert len(registry) == 0
    registry.register("a", spec)
    assert registry.list_step_names() == ["a"]


def test_enum_values_are_accepted_as_strings_and_checked(manager):
    dep = pd.DependencySpec("d", "training_data")
    assert dep.dependency_type is pd.DependencyType.TRAINING_DATA
    with pytest.raises(ValueError, match="dependency_type"):
        pd.DependencySpec("d", "nonsense")
    registry = manager.get_registry("ctx")
    with pytest.raises(TypeError):
        registry.register("x", 42)  # type: ignore[arg-type]
    assert len(registry) == 0


def test_taken_names_invalid_specs_and_bad_names_change_nothing(manager, real_specs):
    registry = manager.get_registry("ctx")
    registry.register("a", real_specs["Package"])
    with pytest.raises(pd.AlreadyRegisteredError) as taken:
        registry.register("a", real_specs["Payload"])
    assert "'a'" in str(taken.value) and "ctx" in str(taken.value)
    blank = pd.StepSpecification("  ", "internal")
    with pytest.raises(pd.InvalidSpecError) as invalid:
        registry.register("b", blank)
    assert isinstance(invalid.value, pd.InvalidInputError)
    assert "'b'" in str(invalid.value)
    with pytest.raises(pd.InvalidInputError):
        manager.get_registry("bad\x00name")
    assert registry.list_step_names() == ["a"]
    assert registry.get_specification("a") == real_specs["Package"]
    assert manager.list_contexts() == ["ctx"]


def test_upsert_replaces_and_unregister_reports(manager, real_specs):
    registry = manager.get_registry("ctx")
    registry.upsert("a", real_specs["Package"])
    registry.upsert("a", real_specs["Payload"])
    assert registry.get_specification("a") == real_specs["Payload"]
    assert registry.unregister("a") is True
    assert registry.unregister("a") is False
    assert registry.get_specification("a") is None
    assert len(registry) == 0


def test_a_foreign_file_is_a_corruption_error(tmp_path):
    path = tmp_path / "not-a-registry.redb"
    path.write_bytes(b"this is not a redb file" * 100)
    with pytest.raises(pd.CorruptedError):
        pd.RegistryManager(path)


def test_every_exception_is_a_pipeline_deps_error():
    for kind in [
        pd.InvalidInputError,
        pd.InvalidSpecError,
        pd.AlreadyRegisteredError,
        pd.ContextClearedError,
        pd.InUseError,
        pd.CorruptedError,
        pd.SchemaTooNewError,
        pd.DependencyResolutionError,
        pd.ClosedError,
    ]:
        assert issubclass(kind, pd.Error)
        assert kind.__module__ == "pipeline_deps"


def test_a_real_pydantic_model_registers(manager):
    """The original implementation's spec objects are pydantic v2 models with enum fields."""
    pydantic = pytest.importorskip("pydantic", reason="pydantic is not installed (python/ci.sh installs it)")

    class Kind(enum.Enum):
        MODEL_ARTIFACTS = "model_artifacts"

    class Dependency(pydantic.BaseModel):
        logical_name: str = ""
        type: Kind = Kind.MODEL_ARTIFACTS
        required: bool = True
        compatible_sources: list = []

    class Output(pydantic.BaseModel):
        logical_name: str = ""
        type: Kind = Kind.MODEL_ARTIFACTS
        property_path: str = ""
        aliases: list = []

    class Spec(pydantic.BaseModel):
        step_type: str
        node_type: str = "internal"
        dependencies: dict = {}
        outputs: dict = {}

    model = Spec(
        step_type="XGBoostModel",
        dependencies={"model_data": Dependency(compatible_sources=["XGBoostTraining"])},
        outputs={"model_name": Output(property_path="properties.ModelName", aliases=["model"])},
    )
    registry = manager.get_registry("ctx")
    registry.register("model", model)
    got = registry.get_specification("model")
    assert got.dependencies["model_data"].logical_name == "model_data"
    assert got.dependencies["model_data"].dependency_type is pd.DependencyType.MODEL_ARTIFACTS
    assert got.outputs["model_name"].aliases == ["model"]


def test_names_that_are_not_valid_unicode_are_invalid_input(manager):
    registry = manager.get_registry("ctx")
    for call in (
        lambda: manager.get_registry("\ud800"),
        lambda: registry.register("\ud800", {"step_type": "A"}),
        lambda: registry.get_specification("\ud800"),
        lambda: registry.unregister("\ud800"),
        lambda: pd.UnifiedDependencyResolver(registry).resolve_all_dependencies(["\ud800"]),
    ):
        with pytest.raises(pd.InvalidInputError, match="not valid Unicode"):
            call()
    assert "\ud800" not in registry
    with pytest.raises(pd.InvalidSpecError, match="not valid Unicode"):
        registry.register("s", {"step_type": "\ud800"})
    # In a list of strings too, wherever it stands, and a list holding a non-string.
    for aliases, problem in (
        (["ok", "\ud800"], "not valid Unicode"),
        (("\ud800",), "not valid Unicode"),
        (["ok", 3], "must be a string"),
    ):
        output = {"property_path": "properties.O", "aliases": aliases}
        spec = {"step_type": "A", "node_type": "source", "outputs": {"o": output}}
        with pytest.raises(pd.InvalidSpecError, match=problem):
            registry.register("s", spec)
    assert len(registry) == 0


def test_an_enum_field_set_to_its_string_after_construction_still_registers(manager):
    registry = manager.get_registry("ctx")
    spec = pd.StepSpecification("A", outputs=[pd.OutputSpec("o", property_path="properties.O")])
    spec.node_type = "source"
    spec.outputs["o"].output_type = "model_artifacts"
    registry.register("s", spec)
    stored = registry.get_specification("s")
    assert stored is not None
    assert stored.node_type is pd.NodeType.SOURCE
    assert stored.outputs["o"].output_type is pd.DependencyType.MODEL_ARTIFACTS


def test_exceptions_name_their_context_and_step_exactly(manager, real_specs):
    """Every exception has `context` and `step`: the exact names it is about (the message
    escapes and shortens them), or None."""
    odd = "ctx \u202e" + "x" * 200
    registry = manager.get_registry(odd)
    registry.register("load", real_specs["XGBoostTraining"])
    with pytest.raises(pd.AlreadyRegisteredError) as taken:
        registry.register("load", real_specs["XGBoostTraining"])
    assert (taken.value.context, taken.value.step) == (odd, "load")

    invalid = {"step_type": "", "node_type": "source", "outputs": {"o": {"property_path": "p"}}}
    with pytest.raises(pd.InvalidSpecError) as refused:
        registry.register("blank", invalid)
    assert (refused.value.context, refused.value.step) == (odd, "blank")
    with pytest.raises(pd.InvalidSpecError) as renamed:
        registry.register("b", {**invalid, "step_name": "a"})
    assert (renamed.value.context, renamed.value.step) == (odd, "b")
    with pytest.raises(pd.InvalidSpecError) as misspelt:
        registry.upsert("e", {"step_type": "T", "node_type": "source", "outputz": {}})
    assert (misspelt.value.context, misspelt.value.step) == (odd, "e")

    document = {"steps": [{"step_name": "typo", "step_type": "T", "node_type": "source",
                           "outputz": {}}]}
    with pytest.raises(pd.InvalidInputError) as unknown:
        registry.import_json(json.dumps(document))
    assert (unknown.value.context, unknown.value.step) == (odd, "typo")
    with pytest.raises(pd.InvalidInputError) as syntax:
        registry.import_json("{")
    assert syntax.value.step is None

    with pytest.raises(pd.InvalidInputError) as bad_name:
        manager.get_registry("")
    assert (bad_name.value.context, bad_name.value.step) == ("", None)

    model = manager.get_registry("m")
    model.register("XGBoostModel", real_specs["XGBoostModel"])
    resolver = pd.UnifiedDependencyResolver(model)
    with pytest.raises(pd.DependencyResolutionError) as unresolved:
        resolver.resolve_step_dependencies("XGBoostModel", ["XGBoostModel"])
    assert (unresolved.value.context, unresolved.value.step) == ("m", "XGBoostModel")
    assert "model_data" in unresolved.value.dependencies

    manager.clear_context(odd)
    with pytest.raises(pd.ContextClearedError) as cleared:
        registry.list_step_names()
    assert (cleared.value.context, cleared.value.step) == (odd, None)
    assert pd.Error("raised in Python").context is None
    assert len(manager.get_registry(odd)) == 0


def test_each_dependency_resolution_error_has_its_own_dependencies_list(manager, real_specs):
    """`dependencies` belongs to one exception: changing one error's list (as a caller that
    collects what is missing may do) changes no other error's, whether the error was raised
    by a resolver, raised in Python, or never given a list."""
    registry = manager.get_registry("m")
    registry.register("XGBoostModel", real_specs["XGBoostModel"])
    resolver = pd.UnifiedDependencyResolver(registry)

    made_here = pd.DependencyResolutionError("raised in Python")
    other = pd.DependencyResolutionError("another")
    assert made_here.dependencies == [] and other.dependencies == []
    made_here.dependencies.append("leaked")
    assert other.dependencies == []
    assert pd.DependencyResolutionError("a third").dependencies == []

    with pytest.raises(pd.DependencyResolutionError) as first:
        resolver.resolve_step_dependencies("XGBoostModel", ["XGBoostModel"])
    first.value.dependencies.append("leaked")
    resolver.clear_cache()
    with pytest.raises(pd.DependencyResolutionError) as second:
        resolver.resolve_step_dependencies("XGBoostModel", ["XGBoostModel"])
    assert second.value.dependencies == ["model_data"]
    assert pd.DependencyResolutionError("a fourth").dependencies == []

    # Read on the class, it is an empty list, a new one each time.
    pd.DependencyResolutionError.dependencies.append("leaked")
    assert pd.DependencyResolutionError.dependencies == []
    assert pd.DependencyResolutionError("a fifth").dependencies == []

    # Set by hand, the attribute is that instance's, as any exception attribute is.
    made_here.dependencies = ["mine"]
    assert made_here.dependencies == ["mine"] and other.dependencies == []
