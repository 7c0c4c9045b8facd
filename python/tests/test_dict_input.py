"""A specification given as a plain dict in the export format registers exactly as the same
specification given as a `StepSpecification` does, with about the same work: reading a dict
is one pass over it, not several (it was about fifteen times the Python work of the object).

The work is counted as Python and C function calls (a deterministic measure), never as time.
"""

from __future__ import annotations

import enum
import json
import sys
import types

import pipeline_deps as pd


def _calls_to_register(registry, items) -> int:
    """How many Python and C function calls registering ``items`` (name, spec) makes."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        for name, spec in items:
            registry.register(name, spec)
    finally:
        sys.setprofile(None)
    return count


def test_a_dict_spec_takes_about_the_work_of_its_object(real_specs):
    with pd.RegistryManager(":memory:") as manager:
        objects = _calls_to_register(manager.get_registry("objects"), real_specs.items())
        dicts = _calls_to_register(
            manager.get_registry("dicts"),
            [(name, spec.to_dict()) for name, spec in real_specs.items()],
        )
        # Reading a dict builds the objects and checks every value once, so it does some
        # more than an object's export: at most a few times as much (not twenty-odd times).
        assert dicts <= 4 * objects, (dicts, objects)
        stored = [
            json.loads(manager.get_registry(c).export_json())["steps"] for c in ("dicts", "objects")
        ]
        assert stored[0] == stored[1]


class _Kind(enum.Enum):
    """Another enum whose values are the library's: its members are read as their values."""

    TRAINING = "training_data"
    SOURCE = "source"


def _every_accepted_spelling(spec: pd.StepSpecification):
    """``spec`` as each form a dict may take: its export dict, lists for its sections,
    tuples for its list fields, a read-only mapping, and enum members for its strings."""
    exported = spec.to_dict()
    yield exported
    yield dict(exported, dependencies=list(exported["dependencies"].values()),
               outputs=list(exported["outputs"].values()))
    yield {
        **exported,
        "dependencies": {
            k: dict(d, compatible_sources=tuple(d["compatible_sources"]))
            for k, d in exported["dependencies"].items()
        },
    }
    yield types.MappingProxyType(exported)
    yield dict(exported, node_type=pd.NodeType(exported["node_type"]))


def test_every_real_spec_given_as_a_dict_is_stored_as_its_object(real_specs):
    with pd.RegistryManager(":memory:") as manager:
        registry = manager.get_registry("ctx")
        for name, spec in real_specs.items():
            for spelling in _every_accepted_spelling(spec):
                registry.upsert(name, spelling)
                assert registry.get_specification(name) == spec, (name, spelling)
        registry.upsert("kinds", {
            "step_type": "T", "node_type": _Kind.SOURCE,
            "outputs": {"o": {"type": _Kind.TRAINING, "property_path": "p"}},
        })
        got = registry.get_specification("kinds")
        assert got.node_type is pd.NodeType.SOURCE
        assert got.outputs["o"].output_type is pd.DependencyType.TRAINING_DATA


def test_a_dict_is_refused_with_the_same_messages_as_before(manager):
    """The messages of dict refusals, word for word: the faster reading changed none."""
    registry = manager.get_registry("ctx")
    cases = [
        ({"step_type": "T", "outputz": {}},
         "unknown field 'outputz' in the step"),
        ({"step_type": "T", "dependencies": {"d": {"required": "no"}}},
         "dependencies.d: required must be True or False, not 'no'"),
        ({"step_type": "T", "dependencies": [{"logical_name": "d"}, {"logical_name": "d"}]},
         "DependencySpec 'd' is given twice"),
        ({"step_type": "T", "outputs": {"o": {"type": "nope"}}},
         "outputs.o: output_type must be one of"),
        ({"step_type": "T", "outputs": {"o": {"aliases": "one"}}},
         "outputs.o: aliases must be a list of strings, not str ('one')"),
        ({"step_type": "T", "node_type": ["source"]},
         "node_type must be one of"),
        ({"node_type": "source"},
         "a step specification needs a 'step_type'"),
        ({"step_type": "T", "outputs": "o"},
         "OutputSpec entries must be a dict or a list, not str"),
        ({"step_type": "T", "outputs": [5]},
         "a OutputSpec entry must be a OutputSpec or a dict, not 5"),
    ]
    for spec, message in cases:
        try:
            registry.register("s", spec)
        except pd.InvalidSpecError as refused:
            assert str(refused).startswith(
                "the specification of step 's' is invalid: " + message
            ), (spec, str(refused))
            assert (refused.context, refused.step) == ("ctx", "s")
        else:
            raise AssertionError(f"{spec} was accepted")
    assert len(registry) == 0
    assert json.loads(registry.export_json())["steps"] == []
