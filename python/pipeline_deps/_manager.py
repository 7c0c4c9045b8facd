"""Registry manager and specification registries, persistent in one redb file.

``RegistryManager(path)`` opens the same file format the Rust library and the
``pipeline-deps`` CLI use. Every write to a file (``register``, ``unregister``, a context's
creation or clearing) is committed durably before the call returns; after a crash the file
holds exactly the writes whose calls returned. A temporary or in-memory manager commits
without fsync, since its data dies with it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import threading
import weakref
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    TypedDict,
    TypeVar,
    Union,
    overload,
)


from . import _native
from ._native import NativeRegistry as _NativeRegistry
from ._spec import SpecLike, StepSpecification, _flag, _given, checked_name, spec_json

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class ContextStats(TypedDict):
    """One context's entry of ``get_context_stats()``."""

    step_count: int
    step_type_count: int
    registry_type: str

MEMORY = ":memory:"


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
        checked_name(step_name, "step_name")
        self._native.register(step_name, spec_json(step_name, specification, self.context_name))

    def upsert(self, step_name: str, specification: SpecLike) -> None:
        """Registers or replaces ``step_name``, durably."""
        checked_name(step_name, "step_name")
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
        """The context in the export format (the same JSON as ``pipeline-deps export``)."""
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
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                # Text read with errors="surrogateescape" from a file that is not UTF-8.
                error = _native.InvalidInputError(
                    f"invalid input in the JSON import into context {self.context_name!r}: "
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
            f"cannot pickle or deep-copy the registry of context {self.context_name!r}: it "
            "is a handle to an open database (copy.copy gives the same object); pickle its "
            "specifications (get_specification) or its export_json() instead"
        )

    def close(self) -> None:
        """Lets go of this registry's (and its resolvers') hold on the database file."""
        self._closed = True
        for resolver in list(self._resolvers):
            resolver.close()
        self._native.close()


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
        checked_name(context_name, "context_name")
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
        checked_name(context_name, "context_name")
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
                    note = f"clearing the scoped context {context_name!r} failed too: {failed}"
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
            f"cannot pickle or deep-copy the registry manager of {self.path!r}: it is a "
            "handle to an open database (copy.copy gives the same object); open the same "
            "file or server again where it is needed"
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


class _DefaultManager(RegistryManager):
    """The process-wide manager behind ``registry_manager`` and the module functions: a
    :class:`RegistryManager` like any other (``isinstance`` says so, every method is
    inherited), except that it opens lazily.

    It opens on first use the file named by ``PIPELINE_DEPS_DB`` or else the per-user
    default (the same file the Rust library's default manager and the CLI use), so importing
    the package touches no file; after :meth:`close` the next use opens it again.
    """

    def __init__(self) -> None:
        # Opens nothing: the inherited methods reach the database through ``_native``.
        self._init_registries()
        # The native manager while open: None before first use and after close().
        self._opened: Optional[_native.NativeManager] = None
        # Guards ``_opened``; taken after ``_lock`` when both are held, never before it.
        self._open_lock = threading.Lock()

    @property
    def _native(self) -> _native.NativeManager:
        """The process-wide native manager, opened now if it is not open."""
        with self._open_lock:
            if self._opened is None:
                self._opened = _native.NativeManager.default_manager()
            return self._opened

    # Asking about the manager does not open it (nor create its file).

    @property
    def closed(self) -> bool:
        """True unless it is open now (before first use, and after :meth:`close`)."""
        with self._open_lock:
            return self._opened is None or self._opened.closed

    @property
    def path(self) -> str:
        """The database it opened, or would open now (a server's URL without its
        password); ``""`` when no default location can be found."""
        with self._open_lock:
            if self._opened is not None and not self._opened.closed:
                return self._opened.path
        path = _native.default_database_path()
        return _shown(os.fsdecode(path)) if path is not None else ""

    @property
    def read_only(self) -> bool:
        """Always False: the process-wide manager opens its database for writing."""
        return False

    def close(self) -> None:
        """Closes the process-wide manager and its file (with every registry and resolver
        taken from it); the next use opens it again, on the path chosen then
        (:func:`set_default_database_path` works again after this)."""
        with self._lock:
            self._close_registries()
            with self._open_lock:
                if self._opened is not None:
                    self._opened.close()
                    self._opened = None
                _native.close_default_manager()

    def __reduce__(self) -> Any:
        # A handle, as every manager is: ``pickle`` and ``deepcopy`` refuse it with the
        # TypeError they give any other manager (not an error about its bookkeeping).
        raise TypeError("cannot pickle the process-wide registry manager: it is a handle")

    def __repr__(self) -> str:
        return f"<default RegistryManager on {self.path or '(no path)'}>"


def _fs_path(path: Any) -> str:
    """``path`` as a ``str``: a bytes path (as ``open()`` takes) becomes the str the OS would
    decode it to; anything but a str, bytes or ``os.PathLike`` is a ``TypeError`` naming
    the argument."""
    try:
        return os.fsdecode(path)
    except TypeError:
        raise TypeError(
            f"path must be a str, bytes or os.PathLike, not {_given(path)}"
        ) from None


def _check_path(path: str) -> None:
    """:class:`InvalidInputError` for a path that no file name can hold (a NUL character, or
    a lone surrogate that is not one of ``os.fsdecode``'s escapes), before it reaches the
    native module."""
    if "\0" in path:
        raise _native.InvalidInputError(
            f"invalid database path {path!r}: it holds a NUL character, which no file name can"
        )
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        raise _native.InvalidInputError(
            f"invalid database path {path!r}: it is not valid Unicode text (it holds a "
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
registry_manager: RegistryManager = _DefaultManager()


def _close_default_manager_at_exit() -> None:
    """Closes the process-wide manager's file cleanly when the interpreter exits (after
    non-daemon threads are joined), as a ``RegistryManager`` a program opens itself is
    closed when it is collected: the native default manager is a static, never dropped,
    and its file would otherwise be left as a crash leaves it. A forked child's copy
    leaves the parent's file alone (the native handle knows it was forked). A daemon thread
    still inside a call that holds the manager (a wait for a server's lock, say) is waited
    for two seconds at most; after that the file is left to the next open's repair rather
    than the exit hanging.

    First, calls still running in daemon threads are kept from taking the GIL once the
    interpreter finalizes (CPython before 3.14 ends such a thread with ``pthread_exit``,
    which aborted the process from inside the native module); see ``prepare_exit``."""
    _native.prepare_exit()
    manager = registry_manager
    if not manager._lock.acquire(timeout=2.0):
        return
    try:
        manager.close()
    finally:
        manager._lock.release()


atexit.register(_close_default_manager_at_exit)
if hasattr(os, "register_at_fork"):
    # A forked child has none of its parent's other threads, nor their calls in flight.
    os.register_at_fork(after_in_child=_native.forget_other_threads)


@overload
def get_registry(
    context_name: str = ..., create_if_missing: Literal[True] = ...
) -> SpecificationRegistry: ...


@overload
def get_registry(context_name: str, create_if_missing: bool) -> Optional[SpecificationRegistry]: ...


def get_registry(
    context_name: str = "default", create_if_missing: bool = True
) -> Optional[SpecificationRegistry]:
    """The registry of ``context_name`` from the process-wide manager."""
    return registry_manager.get_registry(context_name, create_if_missing)


def get_pipeline_registry(pipeline_name: str) -> SpecificationRegistry:
    """Same as :func:`get_registry` (the design's backward-compatible name)."""
    return registry_manager.get_registry(checked_name(pipeline_name, "pipeline_name"))


def get_default_registry() -> SpecificationRegistry:
    """The ``default`` context's registry."""
    return registry_manager.get_registry("default")


def list_contexts() -> List[str]:
    """Every context of the process-wide manager, in creation order."""
    return registry_manager.list_contexts()


def clear_context(context_name: str) -> bool:
    """Deletes ``context_name`` from the process-wide manager; whether it existed."""
    return registry_manager.clear_context(context_name)


def clear_all_contexts() -> int:
    """Deletes every context of the process-wide manager; how many there were."""
    return registry_manager.clear_all_contexts()


def get_context_stats() -> Dict[str, ContextStats]:
    """``{context: {"step_count", "step_type_count", "registry_type"}}`` of the
    process-wide manager."""
    return registry_manager.get_context_stats()


def set_default_database_path(path: PathLike) -> None:
    """Points the process-wide manager at ``path``; call before its first use."""
    path = _fs_path(path)
    _check_path(path)
    _native.set_default_database_path(path)


DEFAULT_PIPELINE_CONTEXT = "default_pipeline"


def _context_of(config: object) -> str:
    """``pipeline_name`` (default ``default_pipeline``), suffixed ``_{environment}`` when
    the configuration names an environment, as the Rust ``PipelineConfig`` does."""
    def field(key: str) -> object:
        if isinstance(config, Mapping):
            return config.get(key)
        return getattr(config, key, None)

    name = field("pipeline_name") or DEFAULT_PIPELINE_CONTEXT
    environment = field("environment")
    return f"{name}_{environment}" if environment else str(name)


_Builder = TypeVar("_Builder", bound=type)


@overload
def integrate_with_pipeline_builder(
    builder_cls: _Builder, manager: Optional[RegistryManager] = None
) -> _Builder: ...


@overload
def integrate_with_pipeline_builder(
    builder_cls: None = None, manager: Optional[RegistryManager] = None
) -> Callable[[_Builder], _Builder]: ...


def integrate_with_pipeline_builder(
    builder_cls: Optional[_Builder] = None, manager: Optional[RegistryManager] = None
) -> Union[_Builder, Callable[[_Builder], _Builder]]:
    """Class decorator: after ``__init__``, ``self.registry`` is the registry of the
    builder's configuration (``self.base_config``, else the ``base_config`` keyword argument,
    else the first argument; an object or a dict with ``pipeline_name`` and optionally
    ``environment``), from ``manager`` or the process-wide manager. Usable as
    ``@integrate_with_pipeline_builder`` or ``@integrate_with_pipeline_builder(manager=m)``."""

    def decorate(cls: _Builder) -> _Builder:
        original_init: Callable[..., None] = getattr(cls, "__init__")

        @functools.wraps(original_init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            config = getattr(self, "base_config", None)
            if config is None:
                config = kwargs.get("base_config", args[0] if args else None)
            target = manager if manager is not None else registry_manager
            self.registry = target.get_registry(_context_of(config))

        setattr(cls, "__init__", __init__)
        return cls

    return decorate if builder_cls is None else decorate(builder_cls)
