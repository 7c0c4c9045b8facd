"""Shared fixtures: the real step specifications of the repository's test fixture, and the
`pipeline-deps` binary for the cross-language tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

import pipeline_deps as pd

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "cursus-step-specs.json"

# The six steps of the resolver's edge-snapshot example, in its order.
SIX = ["TabularPreprocessing", "XGBoostTraining", "XGBoostModel", "Package", "Payload", "Registration"]


@pytest.fixture(scope="session")
def real_specs() -> Dict[str, pd.StepSpecification]:
    """The 61 real specifications, by step name, in fixture order (read through the Rust
    importer once, so Python sees exactly what the library stores)."""
    with pd.RegistryManager(":memory:") as manager:
        registry = manager.get_registry("fixture")
        registry.import_json(FIXTURE.read_text())
        return {name: registry.get_specification(name) for name in registry.list_step_names()}


@pytest.fixture()
def manager():
    """A manager on a throw-away temporary file."""
    with pd.RegistryManager() as m:
        yield m


@pytest.fixture(scope="session")
def cli_binary() -> Path:
    """The `pipeline-deps` binary: $PIPELINE_DEPS_BIN, else the workspace's build (in
    $CARGO_TARGET_DIR when set, as cargo puts it there), built with cargo when missing."""
    given = os.environ.get("PIPELINE_DEPS_BIN")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    for profile in ("debug", "release"):
        candidate = target / profile / "pipeline-deps"
        if candidate.is_file():
            return candidate
    print("building the pipeline-deps binary with cargo for the cross-language tests", file=sys.stderr)
    subprocess.run(["cargo", "build", "-p", "pipeline-deps-cli"], cwd=REPO, check=True)
    return target / "debug" / "pipeline-deps"


def run_python(code: str, env: Dict[str, str]) -> str:
    """Runs `code` in a fresh Python process (a restart), returning its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
