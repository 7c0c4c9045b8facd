"""The specifications of one context: :class:`SpecificationRegistry`, the object a
:class:`~pipeline_deps.RegistryManager` hands out for a context.

Every write (``register``, ``upsert``, ``unregister``, ``clear``, ``import_json``) is committed
durably before the call returns (a temporary or in-memory manager commits without fsync).
"""

from __future__ import annotations

import weakref
from typing import Any, Iterator, List, Optional

from . import _native
from ._checks import _flag, _given, checked_name
from ._spec import SpecLike, StepSpecification, spec_json


class SpecificationRegistry:
    """The specifications of one context. Get one from a :class:`RegistryManager`."""

    __slots__ = ("_native", "context_name", "_resolvers", "_closed", "__weakref__")

    def __init__(self, native: "_native.NativeRegistry") -> None:
        self._native = native
        self._closed = False
        self.context_name: str = native.context_name
        # Resolvers over this registry, closed with it (they hold the database open too).
        self._resolvers: "weakref.WeakSet[Any]" = weakref.WeakSet()

    def register(self, step_name: str, specification: SpecLike) -> None:
        """Registers ``specification`` under ``step_name``, durably.

        Raises :class:`AlreadyRegisteredError` if the name is taken (use :meth:`upsert`) and
        :class:`InvalidSpecError` if the spec is invalid; nothing is written then. A value
        that is not a specification's at all (a field of the wrong type, an unknown field or
        node type) is reported alone, the first one found, before the library sees the
        spec; the library's own checks (a blank name or path, a key that is not its entry's
        logical name, a node type's missing sections) are reported all at once.
        """
        step_name = checked_name(step_name, "step_name")
        self._native.register(step_name, spec_json(step_name, specification, self.context_name))

    def upsert(self, step_name: str, specification: SpecLike) -> None:
        """Registers or replaces ``step_name``, durably."""
        step_name = checked_name(step_name, "step_name")
        self._native.upsert(step_name, spec_json(step_name, specification, self.context_name))

    def get_specification(self, step_name: str) -> Optional[StepSpecification]:
        """The specification of ``step_name``, or ``None``."""
        text = self._native.get_specification(checked_name(step_name, "step_name"))
        return None if text is None else StepSpecification.from_json(text)

    def get_specifications_by_type(self, step_type: str) -> List[StepSpecification]:
        """Every specification of ``step_type``, in registration order."""
        return [
            StepSpecification.from_json(t)
            for t in self._native.get_specifications_by_type(checked_name(step_type, "step_type"))
        ]

    def list_step_names(self) -> List[str]:
        """Step names in registration order."""
        return self._native.list_step_names()

    def list_step_types(self) -> List[str]:
        """Step types in first-seen order."""
        return self._native.list_step_types()

    def unregister(self, step_name: str) -> bool:
        """Removes ``step_name``; whether it was registered."""
        return self._native.unregister(checked_name(step_name, "step_name"))

    def clear(self) -> None:
        """Removes every step (the context itself stays)."""
        self._native.clear()

    def export_json(self) -> str:
        """The context in the export format (the same JSON as ``pipeline-deps export``).

        Ctrl-C raises ``KeyboardInterrupt`` while it runs, once the export has stopped (at
        its next 64 KiB of text), so that nothing holds the database file any more. A read
        that waits on a PostgreSQL server stops only once the server answers; a second
        Ctrl-C meanwhile raises at once (the export lets go of the database when its read
        returns)."""
        return self._native.export_json()

    def import_json(
        self, text: str, replace: bool = False, *, allow_unknown_fields: bool = False
    ) -> int:
        """Imports the export format (or the cursus fixture format) in one transaction.
        A field neither format knows is refused unless ``allow_unknown_fields``. A document
        that is not JSON raises :class:`InvalidInputError` whose ``__cause__`` is the
        :class:`json.JSONDecodeError` saying where (``lineno``, ``colno``, ``pos``).

        Ctrl-C while the document is being read raises ``KeyboardInterrupt`` at once and
        writes nothing; once the steps are being written (one transaction, the shorter
        part of a large import), the write ends first, all of it, and ``KeyboardInterrupt``
        is raised after it with a note saying the import was completed."""
        if not isinstance(text, str):
            hint = "; decode it first (text.decode('utf-8'))" if isinstance(text, bytes) else ""
            raise TypeError(f"text must be a str (the JSON document), not {_given(text)}{hint}")
        _flag(replace, "replace")
        _flag(allow_unknown_fields, "allow_unknown_fields")
        # ``str``'s own methods: a subclass's may say anything.
        if not str.isascii(text):
            try:
                str.encode(text, "utf-8")
            except UnicodeEncodeError as e:
                # Text read with errors="surrogateescape" from a file that is not UTF-8.
                error = _native.InvalidInputError(
                    "invalid input in the JSON import into context "
                    f"{_native.shown_name(self.context_name)}: "
                    f"the text is not valid Unicode (a lone surrogate at position {e.start}, "
                    "as reading a file that is not UTF-8 with errors='surrogateescape' "
                    "gives); read the document as UTF-8 and try again"
                )
                error.context = self.context_name
                raise error from None
        return self._native.import_json(text, replace, allow_unknown_fields)

    def __len__(self) -> int:
        return self._native.len()

    def __contains__(self, step_name: object) -> bool:
        if not isinstance(step_name, str):
            return False
        try:
            checked_name(step_name)
        except _native.InvalidInputError:
            return False  # no registry can hold it
        return self._native.contains(step_name)

    def __iter__(self) -> Iterator[str]:
        """The step names, in registration order."""
        return iter(self.list_step_names())

    def __repr__(self) -> str:
        return f"SpecificationRegistry(context_name={self.context_name!r})"

    def __copy__(self) -> "SpecificationRegistry":
        # A registry object is a handle: a copy would be a second handle sharing the first's
        # state, so copying gives the same object (``deepcopy`` and ``pickle`` refuse).
        return self

    def __reduce__(self) -> Any:
        # Refused by ``pickle`` and ``deepcopy`` with a reason naming the registry, not with
        # the TypeError of the native handle inside it.
        raise TypeError(
            "cannot pickle or deep-copy the registry of context "
            f"{_native.shown_name(self.context_name)}: it is a handle to an open database "
            "(copy.copy gives the same object); pickle its specifications (get_specification) or its export_json() instead"
        )

    def close(self) -> None:
        """Lets go of this registry's (and its resolvers') hold on the database file."""
        self._closed = True
        for resolver in list(self._resolvers):
            resolver.close()
        self._native.close()
