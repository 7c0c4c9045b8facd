"""The specification model: what a step depends on and what it produces.

The classes mirror the Rust library's model and its JSON export format field by field, so a
specification registered from Python reads back identically from Rust or the CLI, and the
reverse. ``register`` also takes a plain dict in the export format, or any object with a
pydantic-style ``model_dump()`` (such as the original Python implementation's spec objects).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
# ``Mapping`` and ``Iterable`` from ``collections.abc``, not ``typing``: an ``isinstance``
# check against the ``typing`` aliases is several times slower, and dicts are checked often.
from collections.abc import Iterable, Mapping
from typing import Any, Dict, List, Optional, Type, TypeVar, Union

from ._checks import (
    _DEPENDENCY_KEYS,
    _OUTPUT_KEYS,
    _STEP_KEYS,
    _all_text,
    _field,
    _flag,
    _known_keys,
    _mapping,
    _message,
    _repr,
    _same_text,
    _shown,
    _text,
    _texts,
)
from ._native import InvalidSpecError, shown_name


class DependencyType(enum.Enum):
    """The kind of artifact a dependency needs or an output produces."""

    MODEL_ARTIFACTS = "model_artifacts"
    PROCESSING_OUTPUT = "processing_output"
    TRAINING_DATA = "training_data"
    HYPERPARAMETERS = "hyperparameters"
    PAYLOAD_SAMPLES = "payload_samples"
    CUSTOM_PROPERTY = "custom_property"

    def __str__(self) -> str:
        return self.value


class NodeType(enum.Enum):
    """Where a step sits in a pipeline graph."""

    SOURCE = "source"
    INTERNAL = "internal"
    SINK = "sink"
    SINGULAR = "singular"

    def __str__(self) -> str:
        return self.value


_Enum = TypeVar("_Enum", bound=enum.Enum)

# Each enum's members by value string, for :func:`_enum`.
_BY_VALUE: Dict[type, Dict[str, Any]] = {
    kind: {member.value: member for member in kind} for kind in (DependencyType, NodeType)
}


def _enum(kind: Type[_Enum], value: Any, what: str) -> _Enum:
    """``value`` as a member of ``kind``: a member, its value string, or any enum whose
    ``.value`` is one (the original implementation's own enums)."""
    if isinstance(value, kind):
        return value
    raw = value.value if isinstance(value, enum.Enum) else value
    if isinstance(raw, str):
        # Looked up in a dict of its own (a tenth of a dict's reading went to the enum's
        # own lookup), as a plain str: a str subclass's __hash__ or __eq__ may raise.
        member = _BY_VALUE[kind].get(raw if type(raw) is str else "".join((raw,)))
        if member is not None:
            return member  # type: ignore[no-any-return]
    allowed = ", ".join(repr(m.value) for m in kind)
    raise ValueError(f"{what} must be one of {allowed}, not {_repr(value)}")


@dataclass(init=False)
class DependencySpec:
    """One input a step depends on. ``dependency_type`` may be given as a
    :class:`DependencyType` or its string; list fields may be ``None`` (empty)."""

    logical_name: str
    dependency_type: DependencyType
    required: bool
    compatible_sources: List[str]
    semantic_keywords: List[str]
    data_type: str
    description: str

    def __init__(
        self,
        logical_name: str,
        dependency_type: Union[DependencyType, str] = DependencyType.PROCESSING_OUTPUT,
        required: bool = True,
        compatible_sources: Optional[Iterable[str]] = None,
        semantic_keywords: Optional[Iterable[str]] = None,
        data_type: str = "S3Uri",
        description: str = "",
    ) -> None:
        self.logical_name = _text(logical_name, "logical_name")
        self.dependency_type = _enum(DependencyType, dependency_type, "dependency_type")
        self.required = _flag(required, "required")
        self.compatible_sources = _texts(compatible_sources, "compatible_sources")
        self.semantic_keywords = _texts(semantic_keywords, "semantic_keywords")
        self.data_type = _text(data_type, "data_type")
        self.description = _text(description, "description")

    def to_dict(self) -> Dict[str, Any]:
        """The export-format dict."""
        # Every field is read again, as the constructor reads it: it may have been set after
        # construction (an enum to its string, or to a value of the wrong type).
        if not (
            _all_text(self.logical_name, self.data_type, self.description)
            and type(self.required) is bool
        ):
            _text(self.logical_name, "logical_name")
            _flag(self.required, "required")
            _text(self.data_type, "data_type")
            _text(self.description, "description")
        return {
            "logical_name": self.logical_name,
            "type": _enum(DependencyType, self.dependency_type, "dependency_type").value,
            "required": self.required,
            "compatible_sources": _texts(self.compatible_sources, "compatible_sources"),
            "semantic_keywords": _texts(self.semantic_keywords, "semantic_keywords"),
            "data_type": self.data_type,
            "description": self.description,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], key: str = "", strict: bool = True
    ) -> "DependencySpec":
        """From the export format (``type`` or ``dependency_type``); ``strict`` refuses a key
        the format does not know."""
        _mapping(data, "a dependency")
        if strict:
            _known_keys(data, _DEPENDENCY_KEYS, "a dependency")
        return cls(
            logical_name=data.get("logical_name", key),
            dependency_type=data.get("type", data.get("dependency_type", "processing_output")),
            required=data.get("required", True),
            compatible_sources=data.get("compatible_sources"),
            semantic_keywords=data.get("semantic_keywords"),
            data_type=data.get("data_type", "S3Uri"),
            description=data.get("description", ""),
        )


@dataclass(init=False)
class OutputSpec:
    """One artifact a step produces. ``output_type`` may be given as a
    :class:`DependencyType` or its string; list fields may be ``None`` (empty)."""

    logical_name: str
    output_type: DependencyType
    property_path: str
    aliases: List[str]
    semantic_keywords: List[str]
    data_type: str
    description: str

    def __init__(
        self,
        logical_name: str,
        output_type: Union[DependencyType, str] = DependencyType.PROCESSING_OUTPUT,
        property_path: str = "",
        aliases: Optional[Iterable[str]] = None,
        semantic_keywords: Optional[Iterable[str]] = None,
        data_type: str = "S3Uri",
        description: str = "",
    ) -> None:
        self.logical_name = _text(logical_name, "logical_name")
        self.output_type = _enum(DependencyType, output_type, "output_type")
        self.property_path = _text(property_path, "property_path")
        self.aliases = _texts(aliases, "aliases")
        self.semantic_keywords = _texts(semantic_keywords, "semantic_keywords")
        self.data_type = _text(data_type, "data_type")
        self.description = _text(description, "description")

    def matches_name_or_alias(self, name: str) -> bool:
        """Exact logical name, or any alias ignoring case."""
        return name == self.logical_name or any(a.lower() == name.lower() for a in self.aliases)

    def to_dict(self) -> Dict[str, Any]:
        """The export-format dict."""
        # Every field is read again, as the constructor reads it (see DependencySpec.to_dict).
        if not _all_text(self.logical_name, self.property_path, self.data_type, self.description):
            _text(self.logical_name, "logical_name")
            _text(self.property_path, "property_path")
            _text(self.data_type, "data_type")
            _text(self.description, "description")
        return {
            "logical_name": self.logical_name,
            "type": _enum(DependencyType, self.output_type, "output_type").value,
            "property_path": self.property_path,
            "aliases": _texts(self.aliases, "aliases"),
            "semantic_keywords": _texts(self.semantic_keywords, "semantic_keywords"),
            "data_type": self.data_type,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str = "", strict: bool = True) -> "OutputSpec":
        """From the export format (``type`` or ``output_type``); ``strict`` refuses a key the
        format does not know."""
        _mapping(data, "an output")
        if strict:
            _known_keys(data, _OUTPUT_KEYS, "an output")
        return cls(
            logical_name=data.get("logical_name", key),
            output_type=data.get("type", data.get("output_type", "processing_output")),
            property_path=data.get("property_path", ""),
            aliases=data.get("aliases"),
            semantic_keywords=data.get("semantic_keywords"),
            data_type=data.get("data_type", "S3Uri"),
            description=data.get("description", ""),
        )


# A dependency or an output: what ``_keyed`` reads a section's entries into.
_Entry = TypeVar("_Entry", DependencySpec, OutputSpec)


def _keyed(
    items: Any, kind: Type[_Entry], strict: bool = True, plain: bool = False
) -> Dict[str, _Entry]:
    """Dependencies or outputs as ``{logical_name: spec}``, from a dict or a list.
    ``plain``: ``items`` is already plain data (:func:`_plain`'s result), not read through
    it again."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        pairs: "Iterable[Any]" = items.items()
    elif isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ValueError(
            f"{kind.__name__} entries must be a dict or a list, not {type(items).__name__}"
        )
    else:
        pairs = ((_logical_name(i, kind, plain), i) for i in items)
    section = "dependencies" if kind is DependencySpec else "outputs"
    result: Dict[str, _Entry] = {}
    for key, value in pairs:
        if not isinstance(value, kind):
            try:
                value = kind.from_dict(value if plain else _plain(value), key, strict)
            except (ValueError, TypeError, AttributeError) as e:
                raise ValueError(f"{_field(section, key)}: {e}") from e
        if key in result:
            raise ValueError(f"{kind.__name__} {_shown(key)} is given twice")
        result[key] = value
    return result


def _section_dict(section: Any, kind: Type[_Entry]) -> Dict[str, Dict[str, Any]]:
    """The export-format dicts of a spec object's ``dependencies`` or ``outputs``, which
    must (still) be a dict of ``kind`` keyed by logical name; ``TypeError`` or ``ValueError``
    naming the section and entry otherwise."""
    name = "dependencies" if kind is DependencySpec else "outputs"
    if not isinstance(section, Mapping):
        raise TypeError(
            f"{name} must be a dict of {kind.__name__} keyed by logical name, not "
            f"{type(section).__name__}"
        )
    if not _all_text(*section):
        for key in section:
            _text(key, f"a key of {name}")
    result: Dict[str, Dict[str, Any]] = {}
    for key, entry in section.items():
        if not isinstance(entry, kind):
            article = "an" if kind is OutputSpec else "a"
            raise TypeError(
                f"{_field(name, key)} must be {article} {kind.__name__}, not "
                f"{type(entry).__name__}"
            )
        try:
            result[key] = entry.to_dict()
        except (TypeError, ValueError) as e:
            raise type(e)(f"{_field(name, key)}: {e}") from e
    return result


def _logical_name(item: Any, kind: Type[_Entry], plain: bool = False) -> Any:
    """The logical name of a list entry: a spec object's, or a dict's ``logical_name``
    (``plain``: the entry is already plain data)."""
    if isinstance(item, kind):
        return item.logical_name
    data = item if plain else _plain(item)
    if isinstance(data, Mapping):
        return data.get("logical_name", "")
    raise ValueError(
        f"a {kind.__name__} entry must be a {kind.__name__} or a dict, not {_repr(item)}"
    )


@dataclass(init=False)
class StepSpecification:
    """What a step is (its type and node type), what it needs and what it produces.

    ``dependencies`` and ``outputs`` are dicts keyed by logical name, in declaration order
    (the order decides resolver ties); a list of specs, or of dicts in the export format,
    is accepted too and becomes such a dict.
    """

    step_type: str
    node_type: NodeType
    dependencies: Dict[str, DependencySpec]
    outputs: Dict[str, OutputSpec]

    def __init__(
        self,
        step_type: str,
        node_type: Union[NodeType, str] = NodeType.INTERNAL,
        dependencies: Union[
            Mapping[str, Union[DependencySpec, Mapping[str, Any]]],
            Iterable[Union[DependencySpec, Mapping[str, Any]]],
            None,
        ] = None,
        outputs: Union[
            Mapping[str, Union[OutputSpec, Mapping[str, Any]]],
            Iterable[Union[OutputSpec, Mapping[str, Any]]],
            None,
        ] = None,
    ) -> None:
        self.step_type = _text(step_type, "step_type")
        self.node_type = _enum(NodeType, node_type, "node_type")
        self.dependencies = _keyed(dependencies, DependencySpec)
        self.outputs = _keyed(outputs, OutputSpec)

    def get_output_by_name_or_alias(self, name: str) -> "OutputSpec | None":
        """The output called ``name``: exact key first, then an alias ignoring case."""
        if name in self.outputs:
            return self.outputs[name]
        return next((o for o in self.outputs.values() if o.matches_name_or_alias(name)), None)

    def list_required_dependencies(self) -> List[DependencySpec]:
        return [d for d in self.dependencies.values() if d.required]

    def list_optional_dependencies(self) -> List[DependencySpec]:
        return [d for d in self.dependencies.values() if not d.required]

    def to_dict(self) -> Dict[str, Any]:
        """The export-format dict (the ``spec`` of one step in ``pipeline-deps export``)."""
        # Every field is read again, as the constructor reads it: it may have been set after
        # construction.
        return {
            "step_type": _text(self.step_type, "step_type"),
            "node_type": _enum(NodeType, self.node_type, "node_type").value,
            "dependencies": _section_dict(self.dependencies, DependencySpec),
            "outputs": _section_dict(self.outputs, OutputSpec),
        }

    def to_json(self) -> str:
        # NaN and infinities are not JSON: refused here rather than sent as invalid text.
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], strict: bool = True) -> "StepSpecification":
        """From the export format, or a ``model_dump()`` of the original implementation's
        spec objects.

        ``strict`` (for a dict given as such) reads a step as the JSON import reads a step of
        its document: a key the export and fixture formats do not know is refused, since a
        misspelt field would otherwise vanish, and so is a nested ``spec`` section (the
        dependencies and outputs of a dict sit at its top level). ``strict=False`` (for a
        ``model_dump()``) reads leniently: the original models carry sections of their own,
        and their dependencies and outputs may sit in a nested ``spec`` section."""
        _flag(strict, "strict")
        data = _plain(data)
        _mapping(data, "a step specification")
        if strict:
            if "spec" in data:
                raise ValueError(
                    "unknown field 'spec' in the step: a dict is read in the export format, "
                    "as an import reads it, with 'dependencies' and 'outputs' at its top "
                    "level; a nested 'spec' section is read only from an object's "
                    "model_dump()"
                )
            _known_keys(data, _STEP_KEYS, "the step")
        section = None if strict else data.get("spec")
        if isinstance(section, Mapping):
            data = _merge_spec_section(data, section)
        if "step_type" not in data:
            raise ValueError("a step specification needs a 'step_type'")
        return cls(
            step_type=data["step_type"],
            node_type=data.get("node_type", "internal"),
            # ``data`` is plain already: its sections are not read through _plain again.
            dependencies=_keyed(data.get("dependencies", {}), DependencySpec, strict, plain=True),
            outputs=_keyed(data.get("outputs", {}), OutputSpec, strict, plain=True),
        )

    @classmethod
    def from_json(cls, text: str) -> "StepSpecification":
        return cls.from_dict(json.loads(text))


def _merge_spec_section(data: Mapping[str, Any], section: Mapping[str, Any]) -> Dict[str, Any]:
    """A ``model_dump()`` whose nested ``spec`` section is read into its top level: each of
    ``dependencies`` and ``outputs`` from whichever side gives it. Given on both sides and
    different, it is refused: reading one would silently drop the other."""
    merged = dict(data)
    merged.pop("spec", None)
    for key in ("dependencies", "outputs"):
        top, nested = data.get(key), section.get(key)
        if top and nested and top != nested:
            raise ValueError(
                f"the step has '{key}' both at its top level and in its nested 'spec' "
                "section, and they differ: give them once"
            )
        if not top and nested:
            merged[key] = nested
    merged["step_type"] = data.get("step_type") or section.get("step_type", "")
    merged["node_type"] = data.get("node_type", section.get("node_type", "internal"))
    return merged


SpecLike = Union[StepSpecification, Mapping[str, Any], Any]


# The types ``_plain`` returns as they are, without asking them about enums or
# ``model_dump()`` (none of the exact types has either).
_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """Plain JSON-like data: enums become their values, pydantic models their dumps."""
    # The exact types of JSON-like data first: the same result as the general case below,
    # without its checks, which made a spec given as a dict several times slower to register
    # than the same spec given as an object.
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind is dict:
        return {k: v if type(v) in _PLAIN_SCALARS else _plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN_SCALARS else _plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return _plain(dump())
    if isinstance(value, (StepSpecification, DependencySpec, OutputSpec)):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_spec(value: SpecLike) -> StepSpecification:
    """A :class:`StepSpecification` from anything ``register`` accepts."""
    if isinstance(value, StepSpecification):
        return value
    if isinstance(value, Mapping):
        return StepSpecification.from_dict(value)  # which reads it through _plain
    if callable(getattr(value, "model_dump", None)):
        return StepSpecification.from_dict(_plain(value), strict=False)
    raise TypeError(
        "a specification must be a StepSpecification, a dict in the export format, or an "
        f"object with model_dump(); got {type(value).__name__}"
    )


def spec_json(step_name: str, value: SpecLike, context: Optional[str] = None) -> str:
    """The export-format JSON of ``value`` for step ``step_name``. A value of the wrong type
    altogether is a ``TypeError``; content that is not a specification (an unknown node
    type, a list where a mapping belongs, a NaN) is :class:`InvalidSpecError` naming the
    step, with Python's own error as its ``__cause__``."""
    if not (
        isinstance(value, (StepSpecification, Mapping))
        or callable(getattr(value, "model_dump", None))
    ):
        to_spec(value)  # raises the TypeError
    named: Any = step_name
    try:
        if isinstance(value, Mapping) and "step_name" in value:
            named = value["step_name"]
        text = to_spec(value).to_json() if _same_text(named, step_name) else None
    except Exception as e:
        # Whatever reading the caller's value raised (a ValueError of ours, or the
        # exception of its own model_dump(), __eq__, __iter__ or __getitem__): the spec is
        # refused.
        raise _invalid_spec(step_name, _message(e), context) from e
    if text is None:
        # The name given wins nowhere silently: a dict naming another step is a mistake
        # (a copy-paste, or the wrong dict for this name), not a rename.
        raise _invalid_spec(
            step_name,
            f"its 'step_name' is {_shown(named)}; register it under that name, or "
            "leave 'step_name' out",
            context,
        )
    return text


def _invalid_spec(step_name: str, why: str, context: Optional[str]) -> InvalidSpecError:
    """The :class:`InvalidSpecError` for step ``step_name`` (registered into ``context``),
    with its ``step`` and ``context`` set, and the step shown, as the library's errors do."""
    error = InvalidSpecError(f"the specification of step {shown_name(step_name)} is invalid: {why}")
    error.step = step_name
    error.context = context
    return error
