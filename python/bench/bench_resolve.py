"""Benchmark: the 61 real specifications registered (as objects and as dicts) and resolved from
Python, beside the same registrations into a plain dict (the in-memory baseline) and beside
the Rust API doing the same work in the same process. Prints ratios (machines are shared and
noisy: compare ratios from one run, not absolute times).

    python python/bench/bench_resolve.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pipeline_deps as pd

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "cursus-step-specs.json"


def best_of(rounds, fn):
    """The median of `rounds` timings of `fn()` (seconds)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    with pd.RegistryManager(":memory:") as loader:
        fixture = loader.get_registry("fixture")
        fixture.import_json(FIXTURE.read_text())
        specs = [(n, fixture.get_specification(n)) for n in fixture.list_step_names()]
    names = [n for n, _ in specs]
    dict_specs = [(n, s.to_dict()) for n, s in specs]

    for label, path in [("in-memory", ":memory:"), ("temporary file", None)]:
        with pd.RegistryManager(path) as manager:
            counter = iter(range(10**9))

            def register_python():
                registry = manager.get_registry(f"__bench_py_{next(counter)}")
                for name, spec in specs:
                    registry.register(name, spec)

            def register_dicts():
                registry = manager.get_registry(f"__bench_py_{next(counter)}")
                for name, spec in dict_specs:
                    registry.register(name, spec)

            def register_dict():
                d = {}
                for name, spec in specs:
                    d[name] = spec

            steps_json = [(n, s.to_json()) for n, s in specs]
            py_times, rust_times, dict_times, dicts_times = [], [], [], []
            for _ in range(args.rounds):  # interleaved, as below
                py_times.append(best_of(1, register_python))
                dicts_times.append(best_of(1, register_dicts))
                rust_times.append(manager._native.rust_register_seconds(steps_json, 1))
                dict_times.append(best_of(1, register_dict))
            py, rust = statistics.median(py_times), statistics.median(rust_times)
            baseline = statistics.median(dict_times)
            print(
                f"register 61 specs ({label}): python {py * 1e3:.3f} ms, rust {rust * 1e3:.3f} ms, "
                f"dict {baseline * 1e6:.1f} us; python/rust {py / rust:.2f}x, "
                f"python/dict {py / baseline:.0f}x"
            )
            dicts = statistics.median(dicts_times)
            print(
                f"register 61 specs given as dicts ({label}): python {dicts * 1e3:.3f} ms; "
                f"dicts/objects {dicts / py:.2f}x"
            )

    with pd.RegistryManager(":memory:") as manager:
        registry = manager.get_registry("cursus")
        for name, spec in specs:
            registry.register(name, spec)
        resolver = pd.UnifiedDependencyResolver(registry)

        def resolve_python():
            resolver.clear_cache()
            resolver.resolve_all_dependencies(names)

        # Interleaved, so that load from other processes hits both sides alike.
        py_times, rust_times = [], []
        for _ in range(args.rounds):
            py_times.append(best_of(1, resolve_python))
            rust_times.append(resolver._rust_resolve_seconds(names, 1))
        py, rust = statistics.median(py_times), statistics.median(rust_times)
        cached = best_of(args.rounds, lambda: resolver.resolve_all_dependencies(names))
        print(
            f"resolve 61 steps (cache cleared): python {py * 1e3:.3f} ms, rust {rust * 1e3:.3f} ms; "
            f"python/rust {py / rust:.2f}x (aim <= 2x); cached result from python "
            f"{cached * 1e6:.1f} us"
        )


if __name__ == "__main__":
    main()
