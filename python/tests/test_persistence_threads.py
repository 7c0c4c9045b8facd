"""Registries survive a process restart, and many Python threads can write and read through
one manager at once without losing or mixing anything."""

from __future__ import annotations

import threading

import pipeline_deps as pd
from conftest import FIXTURE, run_python


def test_a_registry_survives_a_process_restart(tmp_path):
    db = str(tmp_path / "registry.redb")
    run_python(
        f"""
import pipeline_deps as pd
with pd.RegistryManager({db!r}) as m:
    m.get_registry("ctx").import_json(open({str(FIXTURE)!r}).read())
    m.get_registry("other").register("x", m.get_registry("ctx").get_specification("Package"))
""",
        {},
    )
    out = run_python(
        f"""
import pipeline_deps as pd
with pd.RegistryManager({db!r}) as m:
    print(m.list_contexts(), m.get_context_stats()["ctx"]["step_count"], len(m.get_registry("other")))
""",
        {},
    )
    assert out.strip() == "['ctx', 'other'] 61 1"


def test_threads_write_shared_and_private_contexts(manager, real_specs):
    specs = list(real_specs.values())
    errors = []

    def work(thread: int) -> None:
        try:
            private = manager.get_registry(f"private_{thread}")
            shared = manager.get_registry("shared")
            for i in range(15):
                private.register(f"s{i}", specs[(thread + i) % len(specs)])
                shared.register(f"t{thread}_s{i}", specs[i % len(specs)])
                assert private.get_specification(f"s{i}") == specs[(thread + i) % len(specs)]
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = manager.get_context_stats()
    assert stats["shared"]["step_count"] == 8 * 15
    for t in range(8):
        registry = manager.get_registry(f"private_{t}")
        assert registry.list_step_names() == [f"s{i}" for i in range(15)]
        assert stats[f"private_{t}"]["step_count"] == 15
    # Every thread got the same object for the shared context.
    assert manager.get_registry("shared") is manager.get_registry("shared")


def test_other_threads_run_while_rust_works(manager):
    """The GIL is released around library calls: a Python thread keeps counting while the
    main thread imports the fixture many times."""
    registry = manager.get_registry("ctx")
    text = FIXTURE.read_text()
    ticks = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        before = ticks[0]
        for _ in range(5):
            registry.import_json(text, replace=True)
        during = ticks[0] - before
    finally:
        stop.set()
        counter.join()
    assert len(registry) == 61
    assert during > 0


FORK_SCRIPT = """
import os, sys
import pipeline_deps as pd
spec = {{"step_type": "A", "node_type": "singular"}}
m = pd.RegistryManager({db!r})
r = m.get_registry("jobs")
r.register("parent_before", spec)
temporary = pd.RegistryManager()
temporary.get_registry("t").register("x", spec)
pid = os.fork()
if pid == 0:
    # The child inherited the parent's open file: every use is refused, nothing is
    # acknowledged, and its normal exit (which drops the manager) leaves the file alone.
    outcomes = []
    for attempt in (lambda: r.register("child", spec), m.list_contexts, lambda: r.list_step_names()):
        try:
            attempt()
            outcomes.append("worked")
        except pd.InUseError as e:
            outcomes.append("refused" if "forked" in str(e) else str(e))
    print("child", outcomes, flush=True)
    sys.exit(0)
os.waitpid(pid, 0)
print("temporary file still there", os.path.exists(temporary.path), flush=True)
r.register("parent_after", spec)
print("parent", r.list_step_names(), flush=True)
m.close()
with pd.RegistryManager({db!r}) as again:
    print("reopened", again.get_registry("jobs").list_step_names(), flush=True)
"""


def test_a_forked_process_cannot_use_its_parents_open_file(tmp_path):
    """A forked child shares its parent's file handle and engine state: its writes used to be
    acknowledged and then lost. Now every call in the child is refused as InUseError, and
    the child's exit leaves the parent's file and lock alone."""
    import os

    if not hasattr(os, "fork"):
        return
    out = run_python(FORK_SCRIPT.format(db=str(tmp_path / "r.redb")), {})
    lines = out.strip().splitlines()
    assert lines == [
        "child ['refused', 'refused', 'refused']",
        "temporary file still there True",
        "parent ['parent_before', 'parent_after']",
        "reopened ['parent_before', 'parent_after']",
    ], out


DAEMON_EXIT_SCRIPT = """
import atexit, threading, time
def late():
    # Registered before the package's own handler, so it runs after it: the main thread's
    # calls still return.
    print("late handler sees", "seed" in m.get_registry("ctx"), flush=True)
atexit.register(late)
import pipeline_deps as pd
m = pd.RegistryManager({db!r})
r = m.get_registry("ctx")
r.upsert("seed", {{"step_type": "A", "node_type": "singular"}})
resolver = pd.UnifiedDependencyResolver(r)
def work(n):
    i = 0
    while True:
        r.upsert(f"s{{n}}_{{i % 20}}", {{"step_type": "A", "node_type": "singular"}})
        r.list_step_names()
        resolver.resolve_all_dependencies(["seed"])
        # A call whose caller waits for its own thread, taking the GIL every 50 ms.
        r.export_json()
        i += 1
for n in range(3):
    threading.Thread(target=work, args=(n,), daemon=True).start()
time.sleep(0.3)
print("exiting", flush=True)
"""


def test_daemon_threads_inside_calls_at_exit_do_not_abort_the_process(tmp_path):
    """Daemon threads still calling into the package when the program ends: a call that
    began before the interpreter's finalization and ends after it must not take the GIL
    again (CPython before 3.14 ends such a thread with pthread_exit, whose unwinding
    through Rust frames aborted the whole process: 'FATAL: exception not rethrown', exit
    status -6, on every such exit). The thread is parked instead; every write that returned
    is in the file."""
    import subprocess
    import sys

    db = tmp_path / "daemon.redb"
    for _ in range(5):
        ended = subprocess.run(
            [sys.executable, "-c", DAEMON_EXIT_SCRIPT.format(db=str(db))],
            capture_output=True, text=True, timeout=120,
        )
        assert ended.returncode == 0, (ended.returncode, ended.stderr[-2000:])
        assert "FATAL" not in ended.stderr
        assert ended.stdout.split("\n")[:2] == ["exiting", "late handler sees True"]
    with pd.RegistryManager(db) as again:
        assert "seed" in again.get_registry("ctx")



def test_threads_using_a_registry_and_a_resolver_closed_under_them_raise_and_never_hang():
    """Each call on a handle closed under it raises ClosedError. Building that error let go
    of the GIL (pyo3 normalizes an exception so) while the handle's lock was held; another
    thread took the GIL and waited for that lock, holding the GIL the first needed back: the
    process hung for good (``run_python``'s timeout fails the test then)."""
    from conftest import run_python

    code = """
import threading
import pipeline_deps as pd
m = pd.RegistryManager(":memory:")
r = m.get_registry("c")
r.register("s", {"step_type": "A", "node_type": "singular"})
resolver = pd.UnifiedDependencyResolver(r)
start = threading.Barrier(5)
unexpected = []
def work():
    start.wait()
    for _ in range(2000):
        for call in (r.list_step_names, lambda: resolver.resolve_all_dependencies(["s"])):
            try:
                call()
            except pd.ClosedError:
                pass
            except BaseException as e:
                unexpected.append(repr(e))
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
start.wait()
m.close()
for t in threads:
    t.join()
print(unexpected)
"""
    assert run_python(code, {}).split("\n")[0] == "[]"
