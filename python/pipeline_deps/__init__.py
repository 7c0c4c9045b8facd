"""pipeline_deps: persistent, isolated registries of pipeline step specifications.

The design's Python API, backed by the Rust library of the same name: every context lives in
one redb database file that survives restarts and is shared with the Rust library and the
``pipeline-deps`` command-line tool, or in a PostgreSQL database that many processes and
machines share (``RegistryManager("postgres://…")``).

>>> from pipeline_deps import RegistryManager, StepSpecification, NodeType
>>> with RegistryManager(":memory:") as manager:
...     registry = manager.get_registry("training")
...     registry.register("load", StepSpecification("DataLoad", NodeType.SINGULAR))
...     manager.get_context_stats()["training"]["step_count"]
1
"""

from ._native import (
    EXPORT_SCHEMA,
    SCHEMA_VERSION,
    AlreadyRegisteredError,
    ClosedError,
    ContextClearedError,
    CorruptedError,
    DependencyResolutionError,
    Error,
    InUseError,
    InvalidInputError,
    InvalidSpecError,
    NoSuchContextError,
    ReadOnlyError,
    SchemaTooNewError,
    ServerError,
    default_database_path,
)
from ._default import (
    DEFAULT_PIPELINE_CONTEXT,
    clear_all_contexts,
    clear_context,
    get_context_stats,
    get_default_registry,
    get_pipeline_registry,
    get_registry,
    integrate_with_pipeline_builder,
    list_contexts,
    registry_manager,
    set_default_database_path,
)
from ._manager import ContextStats, RegistryManager
from ._registry import SpecificationRegistry
from ._resolver import PropertyReference, UnifiedDependencyResolver, create_dependency_resolver
from ._spec import DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification

__all__ = [
    "AlreadyRegisteredError",
    "ClosedError",
    "ContextClearedError",
    "ContextStats",
    "CorruptedError",
    "DEFAULT_PIPELINE_CONTEXT",
    "DependencyResolutionError",
    "DependencySpec",
    "DependencyType",
    "EXPORT_SCHEMA",
    "Error",
    "InUseError",
    "InvalidInputError",
    "InvalidSpecError",
    "NoSuchContextError",
    "ReadOnlyError",
    "NodeType",
    "OutputSpec",
    "PropertyReference",
    "RegistryManager",
    "SCHEMA_VERSION",
    "SchemaTooNewError",
    "ServerError",
    "SpecificationRegistry",
    "StepSpecification",
    "UnifiedDependencyResolver",
    "clear_all_contexts",
    "clear_context",
    "create_dependency_resolver",
    "default_database_path",
    "get_context_stats",
    "get_default_registry",
    "get_pipeline_registry",
    "get_registry",
    "integrate_with_pipeline_builder",
    "list_contexts",
    "registry_manager",
    "set_default_database_path",
]
