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


def test_export_and_import_round_trip(manager, real_specs):
    source = manager.get_registry("source")
    for name in ["Package", "Payload"]:
        source.register(name, real_specs[name])
    target = manager.get_registry("target")
    assert target.import_json(source.export_json()) == 2
    assert target.get_specification("Payload") == real_specs["Payload"]


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


def test_spec_content_that_is_not_a_specification_is_an_invalid_spec_error(manager):
    registry = manager.get_registry("ctx")
    bad = [
        {"step_type": "A", "node_type": "bogus"},
        {"node_type": "singular"},
        {"step_type": "A", "dependencies": "abc"},
        {"step_type": "A", "dependencies": [1, 2]},
        {"step_type": "A", "node_type": "singular", "outputs": {"o": {"property_path": float("nan")}}},
    ]
    for spec in bad:
        with pytest.raises(pd.InvalidSpecError, match="step 's'"):
            registry.register("s", spec)
        with pytest.raises(pd.InvalidSpecError, match="step 's'"):
            registry.upsert("s", spec)
    # A value of the wrong type altogether stays a TypeError.
    with pytest.raises(TypeError, match="StepSpecification"):
        registry.register("s", 5)
    assert len(registry) == 0


def test_a_value_of_the_wrong_type_in_a_spec_names_the_step_and_field(manager):
    registry = manager.get_registry("ctx")
    with pytest.raises(pd.InvalidSpecError, match="step 's' is invalid: step_type must be a string"):
        registry.register("s", {"step_type": 5, "node_type": "singular"})
    with pytest.raises(pd.InvalidSpecError, match="outputs.o: property_path must be a string"):
        registry.register(
            "s", {"step_type": "A", "node_type": "source", "outputs": {"o": {"property_path": 5}}}
        )
    with pytest.raises(pd.InvalidSpecError, match="dependencies.d: description must be a string"):
        registry.register("s", {"step_type": "A", "dependencies": {"d": {"description": 5}}})
    assert len(registry) == 0


@pytest.mark.parametrize(
    "dependency, refusal",
    [
        # Not read as True: bool("false") is.
        ({"required": "false"}, "required must be True or False"),
        ({"required": None}, "required must be True or False"),
        # Not split into its letters.
        ({"semantic_keywords": "model"}, "semantic_keywords must be a list of strings"),
        ({"compatible_sources": "XGBoostTraining"}, "compatible_sources must be a list"),
        ({"compatible_sources": ["A", 5]}, "an entry of compatible_sources must be a string"),
        # Not replaced by the default: only a missing field takes it.
        ({"data_type": 0}, "data_type must be a string"),
        ({"description": []}, "description must be a string"),
        ({"logical_name": 0}, "logical_name must be a string"),
    ],
)
def test_spec_content_of_the_wrong_shape_is_refused_not_converted(manager, dependency, refusal):
    registry = manager.get_registry("ctx")
    with pytest.raises(pd.InvalidSpecError, match=refusal):
        registry.register("s", {"step_type": "A", "dependencies": {"d": dependency}})
    assert len(registry) == 0


def test_a_logical_name_given_twice_in_a_list_is_refused(manager):
    registry = manager.get_registry("ctx")
    twice = [{"logical_name": "d"}, {"logical_name": "d", "required": False}]
    with pytest.raises(pd.InvalidSpecError, match="'d' is given twice"):
        registry.register("s", {"step_type": "A", "dependencies": twice})
    with pytest.raises(ValueError, match="given twice"):
        pd.StepSpecification("A", dependencies=[pd.DependencySpec("d"), pd.DependencySpec("d")])
    # A value of the wrong type is a TypeError, as Python's own constructors raise.
    with pytest.raises(TypeError, match="logical_name must be a string"):
        pd.StepSpecification("A", dependencies=[pd.DependencySpec(None)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="step_type must be a string"):
        pd.StepSpecification(None)  # type: ignore[arg-type]


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


def test_a_document_that_is_not_valid_unicode_is_invalid_input(manager):
    """Text read with ``errors="surrogateescape"`` (a file that is not UTF-8) holds lone
    surrogates: the import refuses it as InvalidInputError naming the context and where,
    not with the UnicodeEncodeError of the conversion to the native side."""
    registry = manager.get_registry("ctx")
    document = json.dumps(
        {"steps": [{"step_name": "caf\udce9", "step_type": "A", "node_type": "singular"}]},
        ensure_ascii=False,
    )
    with pytest.raises(pd.InvalidInputError, match="not valid Unicode") as refused:
        registry.import_json(document)
    assert refused.value.context == "ctx"
    assert f"position {document.index(chr(0xDCE9))}" in str(refused.value)
    assert len(registry) == 0


@pytest.mark.parametrize(
    "document",
    [
        '{"steps": [',                             # ends too early
        'not json',                                 # not JSON at all
        '{"steps": []} trailing',                   # more after the document
        '{"steps": [{"step_name": "caf\u00e9",\n "step_type": "A",]}',  # non-ASCII, line 2
    ],
)
def test_a_document_that_is_not_json_has_the_json_decode_error_as_its_cause(manager, document):
    """An import of text that is not JSON raises InvalidInputError naming the context, whose
    ``__cause__`` is the ``json.JSONDecodeError`` Python's own parser would give: the
    document, and where in it (``pos`` in characters, ``lineno``, ``colno``) the parser
    stopped. It was a plain ``Exception`` holding the parser's message only."""
    registry = manager.get_registry("ctx")
    with pytest.raises(pd.InvalidInputError, match="into context 'ctx'") as refused:
        registry.import_json(document)
    cause = refused.value.__cause__
    assert isinstance(cause, json.JSONDecodeError), repr(cause)
    assert cause.doc is document
    assert 0 <= cause.pos <= len(document)
    assert (cause.lineno, cause.colno) == (
        document.count("\n", 0, cause.pos) + 1,
        cause.pos - document.rfind("\n", 0, cause.pos),
    )
    # The line and column the message gives are the cause's (in this ASCII-only line).
    if cause.lineno == 1:
        assert f"line 1, column {cause.colno}" in str(refused.value)
    assert len(registry) == 0


def test_a_document_of_the_wrong_shape_has_a_value_error_as_its_cause(manager):
    """Valid JSON of the wrong shape is not a decoding error: its cause is a ValueError
    with the parser's message (a plain Exception before)."""
    registry = manager.get_registry("ctx")
    document = '{"steps": [{"step_name": "s", "step_type": 1, "node_type": "singular"}]}'
    with pytest.raises(pd.InvalidInputError, match="step_type") as refused:
        registry.import_json(document)
    cause = refused.value.__cause__
    assert type(cause) is ValueError and "expected a string" in str(cause), repr(cause)
    assert len(registry) == 0


def test_a_blank_step_name_is_refused(manager):
    """A step name of whitespace only could never be wired (as a blank step type)."""
    registry = manager.get_registry("ctx")
    spec = {"step_type": "A", "node_type": "singular"}
    with pytest.raises(pd.InvalidSpecError, match="is blank"):
        registry.register("   ", spec)
    assert len(registry) == 0
    registry.register(" a ", spec)
    assert registry.list_step_names() == [" a "]


def test_unknown_fields_are_refused_unless_allowed(manager):
    registry = manager.get_registry("ctx")
    document = (
        '{"steps": [{"step_name": "s", "step_type": "A", "node_type": "singular", "colour": 1}]}'
    )
    with pytest.raises(pd.InvalidInputError, match="colour"):
        registry.import_json(document)
    assert registry.import_json(document, allow_unknown_fields=True) == 1
    assert registry.list_step_names() == ["s"]


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


@pytest.mark.parametrize(
    "step, refusal",
    [
        ({"step_type": "A", "node_type": 0}, "node_type must be one of"),
        ({"step_type": "A", "dependencies": ""}, "must be a dict or a list"),
        ({"step_type": "A", "outputs": 0}, "must be a dict or a list"),
        ({"step_type": "A", "outputs": {"o": {"property_path": None}}}, "property_path must be"),
    ],
)
def test_empty_looking_values_are_refused_not_defaulted(manager, step, refusal):
    registry = manager.get_registry("ctx")
    with pytest.raises(pd.InvalidSpecError, match=refusal):
        registry.register("s", step)
    assert len(registry) == 0


def test_a_list_field_set_to_a_string_after_construction_is_refused(manager):
    registry = manager.get_registry("ctx")
    dependency = pd.DependencySpec("d")
    dependency.compatible_sources = "XGBoostTraining"  # type: ignore[assignment]
    with pytest.raises(pd.InvalidSpecError, match="compatible_sources must be a list"):
        registry.register("s", pd.StepSpecification("A", dependencies=[dependency]))
    assert len(registry) == 0


def _spec_with(change):
    """A valid spec (a dependency and an output), then `change` applied to it."""
    spec = pd.StepSpecification(
        "A",
        dependencies=[pd.DependencySpec("d")],
        outputs=[pd.OutputSpec("o", property_path="properties.O")],
    )
    change(spec)
    return spec


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda s: setattr(s, "step_type", None), "step_type"),
        (lambda s: setattr(s.dependencies["d"], "required", "no"), "dependencies.d: required"),
        (lambda s: setattr(s.dependencies["d"], "required", 0), "dependencies.d: required"),
        (lambda s: setattr(s.dependencies["d"], "data_type", 5), "dependencies.d: data_type"),
        (lambda s: setattr(s.dependencies["d"], "logical_name", 5), "dependencies.d: logical_name"),
        (lambda s: setattr(s.outputs["o"], "description", "\udc80"), "outputs.o: description"),
        (lambda s: setattr(s.outputs["o"], "property_path", float("nan")), "outputs.o: property_path"),
        (lambda s: setattr(s, "dependencies", [pd.DependencySpec("d")]), "dependencies must be a dict"),
        (lambda s: s.outputs.update(o={"logical_name": "o"}), "outputs.o must be an OutputSpec"),
        (lambda s: s.dependencies.update({("d",): pd.DependencySpec("d")}), "a key of dependencies"),
    ],
)
def test_a_scalar_field_set_to_a_wrong_value_after_construction_names_the_step_and_field(
    manager, change, field
):
    """A spec object's fields can be set after construction; a wrong value is refused as
    the constructor refuses it, as InvalidSpecError naming the step, its context and the
    field: not as JSON the package handed itself, at a line and column of that JSON."""
    registry = manager.get_registry("ctx")
    for write in (registry.register, registry.upsert):
        with pytest.raises(pd.InvalidSpecError) as refused:
            write("s", _spec_with(change))
        assert field in str(refused.value)
        assert "handed over by the Python package" not in str(refused.value)
        assert (refused.value.context, refused.value.step) == ("ctx", "s")
    assert len(registry) == 0


@pytest.mark.parametrize(
    "step, misspelt",
    [
        ({"step_type": "A", "node_type": "source", "outputs": {"o": {"propery_path": "p"}}}, "propery_path"),
        ({"step_type": "A", "dependancies": {"d": {}}}, "dependancies"),
        ({"step_type": "A", "dependencies": {"d": {"requried": False}}}, "requried"),
    ],
)
def test_a_misspelt_field_in_a_dict_is_refused_not_dropped(manager, step, misspelt):
    registry = manager.get_registry("ctx")
    with pytest.raises(pd.InvalidSpecError, match=f"unknown field '{misspelt}'"):
        registry.register("s", step)
    assert len(registry) == 0


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
