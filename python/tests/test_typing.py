"""Editors and mypy see the package's API: the installed package is typed (py.typed and
stubs), so mypy accepts correct use and reports a wrong type."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SAMPLE = textwrap.dedent(
    """
    import pipeline_deps as pd
    m = pd.RegistryManager(":memory:")
    r = m.get_registry("x")
    assert r is not None
    r.register("a", pd.StepSpecification("T", pd.NodeType.SINGULAR))
    n: int = len(r)
    resolver = pd.UnifiedDependencyResolver(r)
    for consumer, deps in resolver.resolve_all_dependencies(["a"]).items():
        for dependency, ref in deps.items():
            step: str = ref.step_name
    wrong: int = r.list_step_names()
    default = pd.get_registry("y")
    default.register("b", pd.StepSpecification("T", pd.NodeType.SINGULAR))
    count: int = m.get_context_stats()["x"]["step_count"]
    kind: str = m.get_context_stats()["x"]["registry_type"]
    maybe = m.get_registry("x", create_if_missing=False)
    if maybe is not None:
        maybe.list_step_names()

    @pd.integrate_with_pipeline_builder
    class Builder:
        def __init__(self, base_config: dict) -> None:
            self.base_config = base_config

    @pd.integrate_with_pipeline_builder(manager=m)
    class Other:
        pass

    built: Builder = Builder({"pipeline_name": "p"})
    other: Other = Other()
    names: list = pd.registry_manager.list_contexts()
    listed = pd.StepSpecification(
        "T",
        "internal",
        dependencies=[pd.DependencySpec("d", "training_data")],
        outputs=[pd.OutputSpec("o", output_type="model_artifacts")],
    )
    dep_kind: pd.DependencyType = listed.dependencies["d"].dependency_type
    path: str = listed.outputs["o"].property_path
    with pd.registry_manager as default_manager:
        default_manager.get_registry("z")
    """
)


def test_mypy_checks_uses_of_the_api(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (python/ci.sh installs it)")
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "c"),
         str(sample)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout
    assert "sample.py:12" in errors[0] and 'variable has type "int"' in errors[0]


def test_the_package_source_passes_mypy_strict(tmp_path):
    """The package's own modules type-check under ``mypy --strict``: no error and no
    internal error."""
    pytest.importorskip("mypy", reason="mypy is not installed (python/ci.sh installs it)")
    source = Path(__file__).resolve().parents[1] / "pipeline_deps"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         str(tmp_path / "c"), str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found"), result.stdout
