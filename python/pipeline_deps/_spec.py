"""The specification model: what a step depends on and what it produces.

The classes mirror the Rust library's model and its JSON export format field by field, so a
specification registered from Python reads back identically from Rust or the CLI, and the
reverse. ``register`` also takes a plain dict in the export format, or any object with a
pydantic-style ``model_dump()`` (such as the original Python implementation's spec objects).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Union

from ._native import InvalidSpecError


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


def _enum(kind: type, value: Any, what: str) -> Any:
    """``value`` as a member of ``kind``: a member, its value string, or any enum whose
    ``.value`` is one (the original implementation's own enums)."""
    if isinstance(value, kind):
        return value
    raw = value.value if isinstance(value, enum.Enum) else value
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in kind)
        raise ValueError(f"{what} must be one of {allowed}, not {value!r}") from None


@dataclass
class DependencySpec:
    """One input a step depends on."""

    logical_name: str
    dependency_type: DependencyType = DependencyType.PROCESSING_OUTPUT
    required: bool = True
    compatible_sources: List[str] = field(default_factory=list)
    semantic_keywords: List[str] = field(default_factory=list)
    data_type: str = "S3Uri"
    description: str = ""

    def __post_init__(self) -> None:
        self.dependency_type = _enum(DependencyType, self.dependency_type, "dependency_type")
        self.compatible_sources = list(self.compatible_sources)
        self.semantic_keywords = list(self.semantic_keywords)

    def to_dict(self) -> Dict[str, Any]:
        """The export-format dict."""
        return {
            "logical_name": self.logical_name,
            "type": self.dependency_type.value,
            "required": self.required,
            "compatible_sources": list(self.compatible_sources),
            "semantic_keywords": list(self.semantic_keywords),
            "data_type": self.data_type,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str = "") -> "DependencySpec":
        """From the export format (``type`` or ``dependency_type``)."""
        return cls(
            logical_name=data.get("logical_name") or key,
            dependency_type=data.get("type", data.get("dependency_type", "processing_output")),
            required=bool(data.get("required", True)),
            compatible_sources=list(data.get("compatible_sources") or []),
            semantic_keywords=list(data.get("semantic_keywords") or []),
            data_type=data.get("data_type") or "S3Uri",
            description=data.get("description") or "",
        )


@dataclass
class OutputSpec:
    """One artifact a step produces."""

    logical_name: str
    output_type: DependencyType = DependencyType.PROCESSING_OUTPUT
    property_path: str = ""
    aliases: List[str] = field(default_factory=list)
    semantic_keywords: List[str] = field(default_factory=list)
    data_type: str = "S3Uri"
    description: str = ""

    def __post_init__(self) -> None:
        self.output_type = _enum(DependencyType, self.output_type, "output_type")
        self.aliases = list(self.aliases)
        self.semantic_keywords = list(self.semantic_keywords)

    def matches_name_or_alias(self, name: str) -> bool:
        """Exact logical name, or any alias ignoring case."""
        return name == self.logical_name or any(a.lower() == name.lower() for a in self.aliases)

    def to_dict(self) -> Dict[str, Any]:
        """The export-format dict."""
        return {
            "logical_name": self.logical_name,
            "type": self.output_type.value,
            "property_path": self.property_path,
            "aliases": list(self.aliases),
            "semantic_keywords": list(self.semantic_keywords),
            "data_type": self.data_type,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str = "") -> "OutputSpec":
        """From the export format (``type`` or ``output_type``)."""
        return cls(
            logical_name=data.get("logical_name") or key,
            output_type=data.get("type", data.get("output_type", "processing_output")),
            property_path=data.get("property_path") or "",
            aliases=list(data.get("aliases") or []),
            semantic_keywords=list(data.get("semantic_keywords") or []),
            data_type=data.get("data_type") or "S3Uri",
            description=data.get("description") or "",
        )


def _keyed(items: Any, kind: type) -> Dict[str, Any]:
    """Dependencies or outputs as ``{logical_name: spec}``, from a dict or a list."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        pairs: Iterable = items.items()
    else:
        pairs = ((getattr(i, "logical_name", None) or i.get("logical_name", ""), i) for i in items)
    result: Dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(value, kind):
            value = kind.from_dict(_plain(value), key)
        result[key] = value
    return result


@dataclass
class StepSpecification:
    """What a step is (its type and node type), what it needs and what it produces.

    ``dependencies`` and ``outputs`` are dicts keyed by logical name, in declaration order
    (the order decides resolver ties); a list of specs is accepted too.
    """

    step_type: str
    node_type: NodeType = NodeType.INTERNAL
    dependencies: Dict[str, DependencySpec] = field(default_factory=dict)
    outputs: Dict[str, OutputSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.node_type = _enum(NodeType, self.node_type, "node_type")
        self.dependencies = _keyed(self.dependencies, DependencySpec)
        self.outputs = _keyed(self.outputs, OutputSpec)

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
        return {
            "step_type": self.step_type,
            "node_type": self.node_type.value,
            "dependencies": {k: v.to_dict() for k, v in self.dependencies.items()},
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
        }

    def to_json(self) -> str:
        # NaN and infinities are not JSON: refused here rather than sent as invalid text.
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StepSpecification":
        """From the export format, or a ``model_dump()`` of the original implementation's
        spec objects (whose dependencies and outputs may sit in a nested ``spec`` section)."""
        data = _plain(data)
        section = data.get("spec")
        if isinstance(section, Mapping) and not data.get("dependencies") and not data.get("outputs"):
            merged = dict(section)
            merged["step_type"] = data.get("step_type") or section.get("step_type", "")
            merged["node_type"] = data.get("node_type", section.get("node_type", "internal"))
            data = merged
        if "step_type" not in data:
            raise ValueError("a step specification needs a 'step_type'")
        return cls(
            step_type=data["step_type"],
            node_type=data.get("node_type") or "internal",
            dependencies=data.get("dependencies") or {},
            outputs=data.get("outputs") or {},
        )

    @classmethod
    def from_json(cls, text: str) -> "StepSpecification":
        return cls.from_dict(json.loads(text))


SpecLike = Union[StepSpecification, Mapping[str, Any], Any]


def _plain(value: Any) -> Any:
    """Plain JSON-like data: enums become their values, pydantic models their dumps."""
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
    if isinstance(value, Mapping) or callable(getattr(value, "model_dump", None)):
        return StepSpecification.from_dict(_plain(value))
    raise TypeError(
        "a specification must be a StepSpecification, a dict in the export format, or an "
        f"object with model_dump(); got {type(value).__name__}"
    )


def spec_json(step_name: str, value: SpecLike) -> str:
    """The export-format JSON of ``value`` for step ``step_name``. A value of the wrong type
    altogether is a ``TypeError``; content that is not a specification (an unknown node
    type, a list where a mapping belongs, a NaN) is :class:`InvalidSpecError` naming the
    step, with Python's own error as its ``__cause__``."""
    if not (
        isinstance(value, (StepSpecification, Mapping))
        or callable(getattr(value, "model_dump", None))
    ):
        to_spec(value)  # raises the TypeError
    try:
        return to_spec(value).to_json()
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise InvalidSpecError(f"the specification of step {step_name!r} is invalid: {e}") from e
