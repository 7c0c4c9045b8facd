"""The registry manager: many isolated registries, one context each, in one redb file (or a
PostgreSQL database).

``RegistryManager(path)`` opens the same file format the Rust library and the
``pipeline-deps`` CLI use. Every write to a file (``register``, ``unregister``, a context's
creation or clearing) is committed durably before the call returns; after a crash the file
holds exactly the writes whose calls returned. A temporary or in-memory manager commits
without fsync, since its data dies with it. The process-wide manager and the module-level
functions are in ``_default``; the registry objects it hands out in ``_registry``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from typing import Any, Dict, Iterator, List, Literal, Optional, TypedDict, Union, overload

from . import _native
from ._native import NativeRegistry as _NativeRegistry
from ._registry import SpecificationRegistry
from ._checks import _flag, _given, checked_name

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class ContextStats(TypedDict):
    """One context's entry of ``get_context_stats()``."""

    step_count: int
    step_type_count: int
    registry_type: str


MEMORY = ":memory:"


class RegistryManager:
    """Many isolated registries, one context each, in one database.

    ``RegistryManager()`` uses a temporary file removed on :meth:`close`;
    ``RegistryManager(":memory:")`` keeps everything in memory; ``RegistryManager(path)``
    opens or creates a registry file that survives restarts (with ``single_writer=True``,
    ``RegistryManager(path, read_only=True)`` in other processes can read it meanwhile, each
    read seeing its latest commit; without it, they get :class:`InUseError`);
    ``RegistryManager("postgres://user@host/database")`` connects to a registry on a
    PostgreSQL server, shared with every process that connects to it. Use it as a context
    manager (``with RegistryManager(path) as manager:``) to close the file deterministically.

    ``get_registry`` returns the same object for the same context (``a is b``) until that
    context is cleared (on a server, also by another process). All methods are thread-safe.
    """

    def __init__(
        self, path: Optional[PathLike] = None, *, read_only: bool = False, single_writer: bool = False
    ) -> None:
        # True or False only: ``read_only="false"`` must not open the file read-only (nor
        # ``0`` open it for writing), whichever kind of database the path names.
        _flag(read_only, "read_only")
        _flag(single_writer, "single_writer")
        path = None if path is None else _fs_path(path)
        if single_writer and (
            path is None
            or read_only
            or path == MEMORY
            or _is_server_url(path)
        ):
            raise _native.InvalidInputError(
                "single_writer=True applies to a registry file opened for writing: it lets "
                "read-only managers in other processes read the file meanwhile"
            )
        if read_only and (path is None or path == MEMORY):
            raise _native.InvalidInputError(
                "read_only=True was asked for a temporary or in-memory database, which starts "
                "empty and so could never hold anything; open a file or a server read-only"
            )
        if path is not None:
            _check_path(path)
        if path is None:
            native = _native.NativeManager.temporary()
        elif path == MEMORY:
            native = _native.NativeManager.in_memory()
        elif _is_server_url(path):
            native = _native.NativeManager.connect(path, read_only)
        elif read_only:
            native = _native.NativeManager.open_read_only(path)
        else:
            native = _native.NativeManager.open(path, single_writer)
        self._handle = native
        self._init_registries()

    @property
    def _native(self) -> _native.NativeManager:
        """The native manager (read through a property, which the process-wide manager
        overrides to open its database on first use)."""
        return self._handle

    def _init_registries(self) -> None:
        """The bookkeeping of the registry objects handed out (it opens nothing)."""
        # The registry object of each context, handed out again until the context is cleared.
        self._registries: Dict[str, SpecificationRegistry] = {}
        # Every registry object handed out and still alive, also those of cleared contexts:
        # close() closes them all, so that the database is released.
        self._handed_out: "weakref.WeakSet[SpecificationRegistry]" = weakref.WeakSet()
        # The handles scoped contexts keep to clear their context (closed with the manager).
        self._keepers: "set[_NativeRegistry]" = set()
        self._lock = threading.RLock()

    @property
    def path(self) -> str:
        """The database file (``:memory:`` for an in-memory manager; a server's URL without
        its password)."""
        return self._native.path

    @property
    def read_only(self) -> bool:
        """Whether the manager was opened with ``read_only=True`` (every write raises)."""
        return self._native.read_only

    @overload
    def get_registry(
        self, context_name: str = ..., create_if_missing: Literal[True] = ...
    ) -> SpecificationRegistry: ...

    @overload
    def get_registry(
        self, context_name: str, create_if_missing: bool
    ) -> Optional[SpecificationRegistry]: ...

    def get_registry(
        self, context_name: str = "default", create_if_missing: bool = True
    ) -> Optional[SpecificationRegistry]:
        """The registry of ``context_name``, created durably if missing (``None`` instead
        when ``create_if_missing`` is false)."""
        # Checked here, not only by the native call: a context already handed out is
        # returned without one.
        context_name = checked_name(context_name, "context_name")
        _flag(create_if_missing, "create_if_missing")
        with self._lock:
            registry = self._registries.get(context_name)
            # A registry object closed by its owner is not handed out again: a new one is.
            if (
                registry is not None
                and not registry._closed
                and not self._cleared_elsewhere(registry)
            ):
                return registry
            self._registries.pop(context_name, None)
            native = self._native.get_registry(context_name, create_if_missing)
            if native is None:
                return None
            registry = SpecificationRegistry(native)
            self._registries[context_name] = registry
            self._handed_out.add(registry)
            return registry

    def _cleared_elsewhere(self, registry: SpecificationRegistry) -> bool:
        """Whether another process cleared the context of ``registry``: only on a server,
        which other processes write too (one round trip); a file has one writer."""
        # A read-only manager follows a file that its owner writes meanwhile.
        if not (self._native.shared or self.read_only):
            return False
        try:
            registry._native.revision()
        except _native.ContextClearedError:
            return True
        return False

    def list_contexts(self) -> List[str]:
        """Every context, in creation order."""
        return self._native.list_contexts()

    def clear_context(self, context_name: str) -> bool:
        """Deletes ``context_name`` and its specifications; whether it existed. Registry
        objects taken before raise :class:`ContextClearedError` from then on."""
        # Checked first: the process-wide manager would otherwise open its file for nothing.
        context_name = checked_name(context_name, "context_name")
        with self._lock:
            cleared = self._native.clear_context(context_name)
            # Only once the clear succeeded: a failed one leaves the registry object current.
            self._registries.pop(context_name, None)
            return cleared

    def clear_all_contexts(self) -> int:
        """Deletes every context; how many there were."""
        with self._lock:
            count = self._native.clear_all_contexts()
            self._registries.clear()
            return count

    def get_context_stats(self) -> Dict[str, ContextStats]:
        """``{context: {"step_count", "step_type_count", "registry_type"}}``."""
        return self._native.get_context_stats()

    @contextlib.contextmanager
    def scoped_context(self, context_name: str) -> Iterator[SpecificationRegistry]:
        """A registry for ``context_name`` that is cleared when the block ends, also on an
        exception: isolation for a test. Only that context is cleared: if it was cleared and
        created again under the same name meanwhile, the new one is left alone. The context
        is cleared also when the block closed the registry object it was given. When the
        block raised, a failure to clear (the manager closed inside the block, say) does not
        replace its exception (it is attached to it as a note)."""
        with self._lock:
            registry = self.get_registry(context_name)
            # A handle of the scope's own, to that same context: the block may close the
            # registry object it is given, and the context must still be cleared.
            keeper = registry._native.duplicate()
            self._keepers.add(keeper)
        try:
            try:
                yield registry
            except BaseException as raised:
                try:
                    self._clear_own(registry, keeper)
                except _native.Error as failed:
                    note = (
                        f"clearing the scoped context {_native.shown_name(context_name)} "
                        f"failed too: {failed}"
                    )
                    if hasattr(raised, "add_note"):  # Python 3.11+
                        raised.add_note(note)
                raise
            self._clear_own(registry, keeper)
        finally:
            with self._lock:
                self._keepers.discard(keeper)
            keeper.close()

    def _clear_own(
        self, registry: SpecificationRegistry, keeper: _NativeRegistry
    ) -> None:
        """Deletes the context of ``registry`` (through ``keeper``, a native handle to the
        same context) if it is still that context."""
        with self._lock:
            if self._native.clear_context_of(keeper):
                if self._registries.get(registry.context_name) is registry:
                    del self._registries[registry.context_name]

    def __copy__(self) -> "RegistryManager":
        # A handle, as a registry object is: copying gives the same object.
        return self

    def __reduce__(self) -> Any:
        # As a registry object's: a reason naming the manager's database.
        raise TypeError(
            "cannot pickle or deep-copy the registry manager of "
            f"{_native.shown_path(self.path)}: it is a handle to an open database "
            "(copy.copy gives the same object); open the same file or server again where it is needed"
        )

    def close(self) -> None:
        """Closes the database; a temporary file is removed. Registry objects taken from
        this manager, and resolvers over them, are closed too. A call running in another
        thread at that moment finishes first: the file is released when it returns."""
        with self._lock:
            self._close_registries()
            self._native.close()

    def _close_registries(self) -> None:
        """Closes every registry object handed out (and its resolvers); the caller holds
        ``_lock``."""
        for registry in list(self._handed_out):
            registry.close()
        for keeper in self._keepers:
            keeper.close()
        self._keepers.clear()
        self._registries.clear()
        self._handed_out = weakref.WeakSet()

    @property
    def closed(self) -> bool:
        return self._native.closed

    def __enter__(self) -> "RegistryManager":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryManager(path={self.path!r})"


def _fs_path(path: Any) -> str:
    """``path`` as a ``str``: a bytes path (as ``open()`` takes) becomes the str the OS would
    decode it to; anything but a str, bytes or ``os.PathLike`` is a ``TypeError`` naming
    the argument. A plain ``str``: a subclass's own methods (``lower``, ``__contains__``)
    could make a file name read as a server URL, or hide a NUL."""
    try:
        decoded = os.fsdecode(path)
    except TypeError:
        raise TypeError(
            f"path must be a str, bytes or os.PathLike, not {_given(path)}"
        ) from None
    return decoded if type(decoded) is str else "".join((decoded,))


def _check_path(path: str) -> None:
    """:class:`InvalidInputError` for a path that no file name can hold (a NUL character, or
    a lone surrogate that is not one of ``os.fsdecode``'s escapes), before it reaches the
    native module."""
    if "\0" in path:
        raise _native.InvalidInputError(
            f"invalid database path {_native.shown_path(path)}: it holds a NUL character, which "
            "no file name can"
        )
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        raise _native.InvalidInputError(
            f"invalid database path {_native.shown_path(path)}: it is not valid Unicode text (it holds a "
            "lone surrogate), so no file or server can be named by it"
        ) from None


def _is_server_url(path: str) -> bool:
    """Whether ``path`` is a ``postgres://`` or ``postgresql://`` URL (the scheme in any
    case, as URL schemes are): a server, never a file name."""
    return path.lower().startswith(("postgres://", "postgresql://"))


def _shown(path: str) -> str:
    """``path`` as it may be shown: a server URL without its password, a file as it is
    (also one whose name is not UTF-8)."""
    return _native.url_without_password(path) if _is_server_url(path) else path


# The process-wide manager: a RegistryManager, opened on first use.
