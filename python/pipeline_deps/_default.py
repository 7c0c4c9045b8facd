"""The process-wide manager (``registry_manager``) and the design's module-level functions
that use it, and the pipeline-builder decorator.

It opens on first use (not at import) the file named by ``PIPELINE_DEPS_DB``, else the
per-user default, the same file as the Rust default manager and the CLI; it is closed
cleanly at interpreter exit.
"""

from __future__ import annotations

import atexit
import functools
import os
import threading
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, TypeVar, Union, overload

from . import _native
from ._manager import (
    ContextStats,
    PathLike,
    RegistryManager,
    _check_path,
    _fs_path,
    _shown,
)
from ._registry import SpecificationRegistry
from ._checks import _given, checked_name


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

    if builder_cls is not None and not isinstance(builder_cls, type):
        raise TypeError(
            f"integrate_with_pipeline_builder decorates a class, not {_given(builder_cls)}"
        )
    if manager is not None and not isinstance(manager, RegistryManager):
        raise TypeError(f"manager must be a RegistryManager or None, not {_given(manager)}")

    def decorate(cls: _Builder) -> _Builder:
        if not isinstance(cls, type):
            raise TypeError(
                f"integrate_with_pipeline_builder decorates a class, not {_given(cls)}"
            )
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
