"""One file, three doors: a registry written from Python is read by the Rust CLI, and one
written by the CLI is read from Python, spec for spec."""

from __future__ import annotations

import json
import subprocess

import pipeline_deps as pd
from conftest import FIXTURE


def cli(binary, *args):
    result = subprocess.run(
        [str(binary), *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_python_writes_the_cli_reads(tmp_path, cli_binary, real_specs):
    db = tmp_path / "registry.redb"
    with pd.RegistryManager(db) as manager:
        registry = manager.get_registry("from_python")
        for name in ["Package", "Payload", "XGBoostTraining"]:
            registry.register(name, real_specs[name])
        python_export = json.loads(registry.export_json())
    exported = json.loads(cli(cli_binary, "--db", db, "export", "from_python"))
    assert exported["steps"] == python_export["steps"]
    names = [step.get("step_name") or step.get("name") for step in exported["steps"]]
    assert names == ["Package", "Payload", "XGBoostTraining"]
    stats = json.loads(cli(cli_binary, "--db", db, "contexts", "--json"))
    assert "from_python" in json.dumps(stats)


def test_the_cli_writes_python_reads(tmp_path, cli_binary, real_specs):
    db = tmp_path / "registry.redb"
    cli(cli_binary, "--db", db, "import", "from_cli", FIXTURE)
    with pd.RegistryManager(db) as manager:
        registry = manager.get_registry("from_cli", create_if_missing=False)
        assert registry is not None
        assert registry.list_step_names() == list(real_specs)
        for name, spec in real_specs.items():
            assert registry.get_specification(name) == spec
        # And back: a Python write after the CLI's is visible to the CLI.
        registry.unregister("Package")
    exported = json.loads(cli(cli_binary, "--db", db, "export", "from_cli"))
    assert len(exported["steps"]) == 60
