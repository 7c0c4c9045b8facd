"""A specification that is not one (a field of the wrong type or shape, an empty-looking
value, a misspelt field, a name given twice) is refused as InvalidSpecError naming the step
and the field, never converted or defaulted, and nothing is written."""

from __future__ import annotations

import pytest

import pipeline_deps as pd


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


def test_a_blank_step_name_is_refused(manager):
    """A step name of whitespace only could never be wired (as a blank step type)."""
    registry = manager.get_registry("ctx")
    spec = {"step_type": "A", "node_type": "singular"}
    with pytest.raises(pd.InvalidSpecError, match="is blank"):
        registry.register("   ", spec)
    assert len(registry) == 0
    registry.register(" a ", spec)
    assert registry.list_step_names() == [" a "]


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
