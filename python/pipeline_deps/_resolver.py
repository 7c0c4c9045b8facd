"""Dependency resolution: which producer output feeds each consumer dependency.

The scoring is the Rust library's (the same scores, threshold and tie-breaking, to the last
bit); this module only turns its results into Python objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Dict, List, Optional, Sequence

from . import _native
from ._registry import SpecificationRegistry
from ._checks import _given, _repr, checked_name
from ._spec import OutputSpec

_PROPERTIES_PREFIX = "properties."


class PropertyReference:
    """A reference to one output of one step: ``str(ref)`` is ``"step.output"``.

    Built by hand, the step name is trimmed and must not be blank (as in the original
    implementation); the resolver's references carry the registered name exactly, so a
    step registered as ``"prep "`` is never confused with ``"prep"``."""

    __slots__ = ("step_name", "output_spec")

    def __init__(self, step_name: str, output_spec: OutputSpec) -> None:
        if not isinstance(step_name, str):
            raise TypeError(f"step_name must be a str, not {type(step_name).__name__}")
        if not isinstance(output_spec, OutputSpec):
            raise TypeError(
                f"output_spec must be an OutputSpec, not {type(output_spec).__name__}"
            )
        step_name = step_name.strip()
        if not step_name:
            raise ValueError("a property reference needs a non-blank step name")
        self.step_name = step_name
        self.output_spec = output_spec

    def to_sagemaker_property(self) -> Dict[str, str]:
        """``{"Get": "Steps.<step>.<path>"}`` with one leading ``properties.`` removed."""
        path = self.output_spec.property_path
        if path.startswith(_PROPERTIES_PREFIX):
            path = path[len(_PROPERTIES_PREFIX) :]
        return {"Get": f"Steps.{self.step_name}.{path}"}

    def __str__(self) -> str:
        return f"{self.step_name}.{self.output_spec.logical_name}"

    def __repr__(self) -> str:
        return (
            f"PropertyReference(step='{self.step_name}', "
            f"output='{self.output_spec.logical_name}')"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PropertyReference):
            return NotImplemented
        return self.step_name == other.step_name and self.output_spec == other.output_spec

    def __hash__(self) -> int:
        return hash((self.step_name, self.output_spec.logical_name))


class _Outputs:
    """Output specs of resolution results, decoded once per distinct output JSON: the
    resolver hands back the same few outputs many times, and decoding dominates the cost of
    a result in Python. Results therefore share ``OutputSpec`` objects: treat them as
    read-only."""

    __slots__ = ("_decoded",)

    def __init__(self) -> None:
        self._decoded: Dict[str, OutputSpec] = {}

    def reference(self, edge: Any) -> PropertyReference:
        step, output_json = edge
        output = self._decoded.get(output_json)
        if output is None:
            output = OutputSpec.from_dict(json.loads(output_json))
            self._decoded[output_json] = output
        reference = PropertyReference.__new__(PropertyReference)
        # The registered name exactly (not trimmed: "prep " and "prep" are two steps).
        reference.step_name = step
        reference.output_spec = output
        return reference


def _candidate(outputs: _Outputs, value: Dict[str, Any]) -> Dict[str, Any]:
    reference = outputs.reference(value["property_reference"])
    return {
        "provider_step": value["provider_step"],
        "output_name": value["output_name"],
        "output_spec": reference.output_spec,
        "score": value["score"],
        "property_reference": reference,
        "score_breakdown": value["score_breakdown"],
    }


def _names(available_steps: Sequence[str]) -> List[str]:
    """The step names as a list; a lone string is refused rather than read as its
    characters."""
    if isinstance(available_steps, str):
        raise TypeError(
            f"available_steps must be a sequence of step names, not a str "
            f"({_repr(available_steps)})"
        )
    if isinstance(available_steps, bytes) or not isinstance(available_steps, Iterable):
        raise TypeError(
            f"available_steps must be a sequence of step names, not {_given(available_steps)}"
        )
    return [checked_name(s, "each entry of available_steps") for s in available_steps]


def _no_other_matcher(semantic_matcher: object) -> None:
    """``TypeError`` unless ``semantic_matcher`` is ``None``: the design's signature takes a
    matcher, but the scoring runs in Rust with the library's own, and a matcher given here
    (a custom one, or the original implementation's) could not be used. Refusing it says so;
    ignoring it would resolve with other rules than the caller chose, silently."""
    if semantic_matcher is not None:
        raise TypeError(
            "semantic_matcher must be None: the resolver always scores with the library's "
            "built-in semantic matcher (the original implementation's synonym, abbreviation "
            "and stop-word tables, the same scores to the last bit) and cannot use another; "
            f"leave the argument out (got {_given(semantic_matcher)})"
        )


class UnifiedDependencyResolver:
    """Resolves the dependencies of steps registered in one registry.

    Results are cached per ordered list of steps and dropped by any write to the registry.
    ``semantic_matcher`` is accepted for the design's signature but must be ``None``: the
    scoring always uses the library's built-in matcher (another is refused with a
    ``TypeError``, not ignored). A resolution sees Ctrl-C only when it returns: over tens
    of thousands of steps that can take seconds (the README's Python section says why).
    """

    def __init__(self, registry: SpecificationRegistry, semantic_matcher: None = None) -> None:
        _no_other_matcher(semantic_matcher)
        if not isinstance(registry, SpecificationRegistry):
            raise TypeError(
                "UnifiedDependencyResolver needs a SpecificationRegistry (from "
                f"get_registry); got {type(registry).__name__}"
            )
        self.registry = registry
        self._native = _native.NativeResolver(registry._native)
        self._outputs = _Outputs()
        registry._resolvers.add(self)

    def resolve_all_dependencies(
        self, available_steps: Sequence[str]
    ) -> Dict[str, Dict[str, PropertyReference]]:
        """``{consumer: {dependency: PropertyReference}}``; steps with an unresolved
        required dependency, and unregistered names, are left out (never raises for that)."""
        raw = self._native.resolve_all_dependencies(_names(available_steps))
        reference = self._outputs.reference
        return {
            consumer: {dep: reference(edge) for dep, edge in deps.items()}
            for consumer, deps in raw.items()
        }

    def resolve_step_dependencies(
        self, consumer_step: str, available_steps: Sequence[str]
    ) -> Dict[str, PropertyReference]:
        """``{dependency: PropertyReference}`` of one step; raises
        :class:`DependencyResolutionError` naming every unresolved required dependency. A
        consumer that is not registered has nothing to resolve: ``{}`` (as in the original
        implementation)."""
        raw = self._native.resolve_step_dependencies(
            checked_name(consumer_step, "consumer_step"), _names(available_steps)
        )
        return {dep: self._outputs.reference(edge) for dep, edge in raw.items()}

    def resolve_with_scoring(
        self, consumer_step: str, available_steps: Sequence[str]
    ) -> Dict[str, Any]:
        """Every candidate with its score breakdown: ``{"resolved": {dep: ref},
        "failed_with_scores": {dep: {"best_candidate", "all_candidates", "required"}},
        "resolution_details": {...}}`` (threshold 0.5 inclusive), plus ``"candidates"``:
        every type-compatible candidate per dependency, best first (an addition to the
        design's shape)."""
        result = self._native.resolve_with_scoring(
            checked_name(consumer_step, "consumer_step"), _names(available_steps)
        )
        for entry in result["failed_with_scores"].values():
            best = entry["best_candidate"]
            entry["best_candidate"] = None if best is None else _candidate(self._outputs, best)
            entry["all_candidates"] = [_candidate(self._outputs, c) for c in entry["all_candidates"]]
        result["resolved"] = {
            dep: self._outputs.reference(e) for dep, e in result["resolved"].items()
        }
        result["candidates"] = {
            dep: [_candidate(self._outputs, c) for c in candidates]
            for dep, candidates in result["candidates"].items()
        }
        return result

    def get_resolution_report(self, available_steps: Sequence[str]) -> Dict[str, Any]:
        """A summary of the resolution of ``available_steps``: per-step details,
        unresolved steps and totals (``resolution_summary``). As in the original
        implementation, ``total_dependencies`` counts the dependencies of every step of the
        registry, not only of ``available_steps``."""
        return self._native.get_resolution_report(_names(available_steps))

    def clear_cache(self) -> None:
        """Empties the result cache."""
        self._native.clear_cache()

    def __repr__(self) -> str:
        return f"UnifiedDependencyResolver(context={self.registry.context_name!r})"

    def __copy__(self) -> "UnifiedDependencyResolver":
        # A handle over its registry: copying gives the same object.
        return self

    def __reduce__(self) -> Any:
        # As a registry object's: a reason naming the resolver's context.
        raise TypeError(
            "cannot pickle or deep-copy the resolver over context "
            f"{_native.shown_name(self.registry.context_name)}: it is a handle to an open "
            "database (copy.copy gives the same object); make a UnifiedDependencyResolver where it is needed"
        )

    def close(self) -> None:
        """Lets go of the registry (done for you when its manager closes)."""
        self._native.close()

    def _rust_resolve_seconds(self, available_steps: Sequence[str], iterations: int) -> float:
        """Seconds per ``resolve_all_dependencies`` call made by Rust itself, with the cache
        cleared before each: the benchmark's same-process baseline."""
        return self._native.rust_resolve_seconds(_names(available_steps), iterations)


def create_dependency_resolver(
    registry: Optional[SpecificationRegistry] = None, semantic_matcher: None = None
) -> UnifiedDependencyResolver:
    """A resolver over ``registry`` (default: the process-wide ``default`` context);
    ``semantic_matcher`` must be ``None`` (see :class:`UnifiedDependencyResolver`)."""
    # Checked before the default registry is opened: a refused call opens nothing.
    _no_other_matcher(semantic_matcher)
    if registry is None:
        from ._default import get_default_registry

        registry = get_default_registry()
    return UnifiedDependencyResolver(registry, semantic_matcher)


__all__: List[str] = [
    "PropertyReference",
    "UnifiedDependencyResolver",
    "create_dependency_resolver",
]
