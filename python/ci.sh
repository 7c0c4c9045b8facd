#!/usr/bin/env bash
# Builds the Python package into a fresh virtual environment and runs its pytest suite and a
# quick benchmark pass. Used by .ci/run; runnable by hand from anywhere.
#
# Needs python3 (>= 3.9) with venv, and the package registry for maturin and pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

echo "== python: cargo clippy -p pipeline-deps-python"
cargo clippy -p pipeline-deps-python -- -D warnings

venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q "maturin>=1.5,<2" pytest mypy pydantic

echo "== python: pip install ./python (maturin, release build)"
"$venv/bin/pip" install -q ./python

# The cross-language tests drive the CLI binary; build it once here.
cargo build -q -p pipeline-deps-cli
# Where cargo put it: $CARGO_TARGET_DIR when set (relative to the repository, where cargo ran).
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
export PIPELINE_DEPS_BIN="$target/debug/pipeline-deps"

echo "== python: pytest python/tests"
# From the repository root, so that the installed package (not python/pipeline_deps, which
# lacks the compiled module) is imported.
"$venv/bin/pytest" -q -p no:cacheprovider python/tests

echo "== python: benchmark (quick pass; ratios only)"
"$venv/bin/python" python/bench/bench_resolve.py --rounds 10
