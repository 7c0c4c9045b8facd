"""A hostile caller gets a clear exception of the documented class, with a message of
bounded length, and changes nothing: whatever the value given (huge, of the wrong type,
with a ``__repr__``, ``__eq__`` or ``__hash__`` that raises), never a panic's text, a
``SystemError`` or an exception raised by the value's own methods."""

from __future__ import annotations

import pytest

import pipeline_deps as pd

# A value whose repr would be ten million characters long.
HUGE = "x" * 10_000_000


class BadRepr:
    """Raises from ``__repr__`` (and ``__str__``)."""

    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    __str__ = __repr__


def test_a_huge_value_given_where_it_does_not_belong_makes_a_short_message(tmp_path):
    """The value is shown cut (its repr's first 80 characters); ``read_only=HUGE`` made a
    message of ten million characters, as did a spec field or ``available_steps``."""
    path = tmp_path / "r.redb"
    with pytest.raises(TypeError) as refused:
        pd.RegistryManager(path, read_only=HUGE)  # type: ignore[arg-type]
    assert len(str(refused.value)) < 300, len(str(refused.value))
    assert not path.exists()
    with pd.RegistryManager(":memory:") as m:
        registry = m.get_registry("ctx")
        for spec in (
            {"step_type": "A", "dependencies": {"d": {"required": HUGE}}},
            {"step_type": "A", "node_type": HUGE},
            {"step_type": "A", "dependencies": {"d": {"semantic_keywords": HUGE}}},
            {"step_type": "A", "outputs": [HUGE]},
            {"step_type": "A", "dependencies": {"d": {"data_type": [HUGE]}}},
            {"step_type": "A", HUGE: 1},
            {"step_name": HUGE, "step_type": "A"},
        ):
            with pytest.raises(pd.InvalidSpecError) as refused:
                registry.register("s", spec)
            assert len(str(refused.value)) < 700, (len(str(refused.value)), str(refused.value)[:200])
        resolver = pd.UnifiedDependencyResolver(registry)
        with pytest.raises(TypeError) as refused:
            resolver.resolve_all_dependencies(HUGE)  # type: ignore[arg-type]
        assert len(str(refused.value)) < 300
        assert len(registry) == 0


@pytest.mark.parametrize("value", [BadRepr(), 10**5000], ids=["bad_repr", "huge_int"])
def test_a_value_whose_repr_fails_is_still_refused_with_the_documented_exception(value):
    """Python refuses ``str()`` of an int of more than 4300 digits; a ``__repr__`` may
    raise: the refusal was that exception instead of the TypeError or InvalidSpecError."""
    with pd.RegistryManager(":memory:") as m:
        with pytest.raises(TypeError, match="context_name must be a str"):
            m.get_registry(value)
        with pytest.raises(TypeError, match="read_only must be True or False"):
            pd.RegistryManager(":memory:", read_only=value)
        registry = m.get_registry("ctx")
        with pytest.raises(pd.InvalidSpecError, match="required must be True or False"):
            registry.register("s", {"step_type": "A", "dependencies": {"d": {"required": value}}})
        with pytest.raises(pd.InvalidSpecError, match="node_type must be one of"):
            registry.register("s", {"step_type": "A", "node_type": value})
        assert len(registry) == 0 and m.list_contexts() == ["ctx"]


class Impostor(str):
    """A str whose hash and equality claim it is another name."""

    def __hash__(self) -> int:
        return hash("other")

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False


class Raising(str):
    """A str whose hash and equality raise."""

    def __hash__(self) -> int:
        raise RuntimeError("hash refused")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq refused")

    __ne__ = __eq__


def test_a_str_subclass_is_read_as_its_text_whatever_its_hash_and_equality_say():
    """A name is its text: a str subclass's own ``__hash__``/``__eq__`` handed out the
    registry object of another context (``get_registry(Impostor("x"))`` returned the one
    of "other"), or raised from them."""
    with pd.RegistryManager(":memory:") as m:
        other = m.get_registry("other")
        other.register("s", {"step_type": "A", "node_type": "singular"})
        impostor = m.get_registry(Impostor("x"))
        assert impostor is not other and impostor.context_name == "x"
        assert m.get_registry(Raising("y")).context_name == "y"
        assert m.get_registry("y") is m.get_registry(Raising("y"))
        assert m.clear_context(Raising("y")) and m.list_contexts() == ["other", "x"]
        registry = m.get_registry("z")
        for name in (Impostor("t"), Raising("u")):
            registry.register(name, {"step_type": name, "node_type": type(name)("singular")})
            named = {"step_name": type(name)("n" + name), "step_type": "A", "node_type": "singular"}
            registry.register("n" + name, named)
        assert registry.list_step_names() == ["t", "nt", "u", "nu"]
        # A name that differs from the step's own is still refused, whatever its __ne__.
        with pytest.raises(pd.InvalidSpecError, match="its 'step_name' is 'v'"):
            registry.register("w", {"step_name": Impostor("v"), "step_type": "A"})
        with pytest.raises(pd.InvalidSpecError, match="node_type must be one of"):
            registry.register("w", {"step_type": "A", "node_type": Impostor("bogus")})
        assert len(registry) == 4


def test_a_key_in_a_fields_path_is_shown_escaped_and_cut_as_the_library_shows_a_field(manager):
    """``outputs.<key>: …`` showed the key raw: an escape character reached the terminal,
    and a ten-million-character key made a message as long."""
    registry = manager.get_registry("ctx")
    odd = "o\x1b" * 60
    for section, entry in (("outputs", {"property_path": 5}), ("dependencies", {"data_type": 5})):
        for key in (odd, HUGE):
            with pytest.raises(pd.InvalidSpecError) as refused:
                registry.register("s", {"step_type": "A", section: {key: entry}})
            message = str(refused.value)
            assert "\x1b" not in message and len(message) < 400, message[:300]
    with pytest.raises(pd.InvalidSpecError) as refused:
        registry.register("s", {"step_type": "A", "outputs": {odd: {"property_path": 5}}})
    shown = ("o\\u{1b}" * 60)[:100]
    assert f"outputs.{shown}… ({len(odd)} bytes): property_path must be" in str(refused.value)
    assert len(registry) == 0


class Exploding(dict):
    """A spec dict whose every read raises."""

    def __getitem__(self, key: object) -> object:
        raise RuntimeError("getitem refused")

    def __contains__(self, key: object) -> bool:
        raise RuntimeError("contains refused")


class ExplodingModel:
    """A pydantic-style object whose model_dump() raises."""

    def model_dump(self) -> object:
        raise RuntimeError("model_dump refused")


@pytest.mark.parametrize(
    "spec",
    [
        Exploding(step_type="A"),
        ExplodingModel(),
        {"step_type": "A", "dependencies": {"d": 5}},
        {"step_type": "A", "outputs": {"o": None}},
        {"step_type": "A", "step_name": None},
    ],
    ids=["mapping_raising", "model_dump_raising", "entry_int", "entry_none", "step_name_none"],
)
def test_a_spec_whose_reading_fails_is_an_invalid_spec_error_naming_the_step(manager, spec):
    """Whatever reading the caller's spec raised (its own ``__getitem__`` or
    ``model_dump()``, or an entry that is not a dict) is InvalidSpecError naming the step,
    the exception as its cause; it was that exception itself, or a TypeError saying
    "'int' object is not iterable"."""
    registry = manager.get_registry("ctx")
    with pytest.raises(pd.InvalidSpecError, match="^the specification of step 's' is invalid: ") as refused:
        registry.register("s", spec)
    assert "not iterable" not in str(refused.value), str(refused.value)
    assert (refused.value.step, refused.value.context) == ("s", "ctx")
    assert len(registry) == 0


@pytest.mark.parametrize("data", [None, [1], "step", 5])
def test_from_dict_of_what_is_not_a_dict_is_a_type_error_saying_so(data):
    for read, what in (
        (pd.StepSpecification.from_dict, "a step specification"),
        (pd.DependencySpec.from_dict, "a dependency"),
        (pd.OutputSpec.from_dict, "an output"),
    ):
        with pytest.raises(TypeError, match=f"^{what} must be a dict, not {type(data).__name__}"):
            read(data)
    with pytest.raises(TypeError, match="strict must be True or False"):
        pd.StepSpecification.from_dict({"step_type": "A"}, strict=None)  # type: ignore[arg-type]


class Liar(str):
    """A str whose own methods say it is ASCII text and encodes to anything."""

    def isascii(self) -> bool:
        return True

    def encode(self, *args: object, **kwargs: object) -> bytes:  # type: ignore[override]
        return b"x"


def test_a_str_subclass_cannot_hide_a_lone_surrogate(manager):
    """The checks used the value's own ``isascii``/``encode``: a subclass that lied got past
    them, and the native conversion then raised UnicodeEncodeError (or the library refused
    the JSON the package had made of it)."""
    registry = manager.get_registry("ctx")
    resolver = pd.UnifiedDependencyResolver(registry)
    for refuse, raised in (
        (lambda: manager.get_registry(Liar("a\ud800")), pd.InvalidInputError),
        (lambda: registry.import_json(Liar('{"steps": []}\ud800')), pd.InvalidInputError),
        (lambda: resolver.resolve_all_dependencies([Liar("\ud800")]), pd.InvalidInputError),
        (
            lambda: registry.register("s", {"step_type": Liar("a\ud800"), "node_type": "singular"}),
            pd.InvalidSpecError,
        ),
    ):
        with pytest.raises(raised, match="not valid Unicode"):
            refuse()
    assert manager.list_contexts() == ["ctx"] and len(registry) == 0


def test_the_builder_decorator_refuses_what_is_not_a_class_or_a_manager():
    """It raised AttributeError from inside (``'int' object attribute '__init__' is
    read-only``), or, for a wrong manager, only once a builder was made."""
    with pytest.raises(TypeError, match="decorates a class, not int"):
        pd.integrate_with_pipeline_builder(5)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="manager must be a RegistryManager or None, not int"):
        pd.integrate_with_pipeline_builder(manager=5)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="decorates a class, not str"):
        pd.integrate_with_pipeline_builder()("builder")  # type: ignore[operator]
