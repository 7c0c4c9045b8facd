"""The process-wide default manager (``pd.registry_manager`` and the module-level
functions) opens its file on first use only, is a ``RegistryManager`` like any other, and
leaves its file closed and whole however the program ends."""

from __future__ import annotations

import json
import os
import subprocess


def test_closing_the_default_manager_releases_its_file(tmp_path):
    from conftest import run_python

    first, second = tmp_path / "first.redb", tmp_path / "second.redb"
    code = f"""
import pipeline_deps as pd
spec = {{"step_type": "A", "node_type": "singular"}}
pd.get_registry("a").register("x", spec)
pd.registry_manager.close()
with pd.RegistryManager({str(first)!r}) as m:   # the file is free again
    print(m.get_registry("a").list_step_names())
pd.set_default_database_path({str(second)!r})   # allowed again once closed
with pd.registry_manager:
    pd.get_registry("b")
    print(pd.list_contexts())
with pd.RegistryManager({str(second)!r}) as m:
    print(m.list_contexts())
"""
    out = run_python(code, {"PIPELINE_DEPS_DB": str(first)})
    assert out.split("\n")[:3] == ["['x']", "['b']", "['b']"], out


def test_a_program_that_ends_without_closing_the_default_manager_leaves_its_file_closed(
    tmp_path, cli_binary
):
    """The process-wide manager's file is closed cleanly at interpreter exit, so the next
    open finds nothing to recover (the CLI's read commands say when they read a copy
    recovered in memory). A forked child that exits normally leaves the parent's file to
    the parent."""
    from conftest import run_python

    path = tmp_path / "default.redb"
    code = """
import os
import pipeline_deps as pd
registry = pd.get_registry("kept")          # still referenced at exit
registry.register("x", {"step_type": "A", "node_type": "singular"})
child = os.fork()
if child == 0:
    import sys
    sys.exit(0)                              # a normal exit: atexit runs in the child too
os.waitpid(child, 0)
registry.register("y", {"step_type": "A", "node_type": "singular"})
print("done")
"""
    assert run_python(code, {"PIPELINE_DEPS_DB": str(path)}).strip() == "done"
    shown = subprocess.run(
        [str(cli_binary), "--db", str(path), "contexts", "--json"],
        capture_output=True, text=True, check=True,
    )
    assert "recovered" not in shown.stderr, shown.stderr
    assert json.loads(shown.stdout)["contexts"][0]["step_count"] == 2


def test_a_daemon_thread_holding_the_default_manager_does_not_hang_the_exit(tmp_path):
    """The exit's close waits for a daemon thread inside a call for a bounded time, then
    leaves the file to the next open's repair: the interpreter exits."""
    from conftest import run_python

    code = """
import threading, time
import pipeline_deps as pd
pd.get_registry("kept").register("x", {"step_type": "A", "node_type": "singular"})
held = threading.Event()
def hold():
    with pd.registry_manager._lock:     # stands for a call that never returns
        held.set()
        time.sleep(3600)
threading.Thread(target=hold, daemon=True).start()
held.wait()
print("exiting")
"""
    # run_python fails the test if the process has not ended after 120 s.
    out = run_python(code, {"PIPELINE_DEPS_DB": str(tmp_path / "held.redb")})
    assert out.strip() == "exiting"


def test_an_empty_default_path_is_refused_and_changes_nothing(tmp_path):
    from conftest import run_python

    code = """
import pipeline_deps as pd
try:
    pd.set_default_database_path("")
except pd.InvalidInputError as e:
    print("refused:", "empty" in str(e))
pd.set_default_database_path(b"%s")
print(pd.list_contexts())
print(pd.registry_manager.path)
""" % os.fsencode(tmp_path / "chosen.redb").decode()
    out = run_python(code, {})
    assert out.split("\n")[:3] == ["refused: True", "[]", str(tmp_path / "chosen.redb")], out


def test_the_default_manager_in_memory_creates_no_file(tmp_path):
    code = """
import pipeline_deps as pd
pd.get_registry("x").register("s", {"step_type": "A", "node_type": "singular"})
print(pd.list_contexts(), pd.registry_manager.path)
"""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PIPELINE_DEPS_DB": ":memory:"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "['x'] :memory:"
    assert list(tmp_path.iterdir()) == []


def test_asking_the_default_manager_about_itself_opens_nothing(tmp_path):
    from conftest import run_python

    target = tmp_path / "later.redb"
    code = """
import os, pipeline_deps as pd
print(pd.registry_manager.closed, pd.registry_manager.path == %r, pd.registry_manager.read_only)
print(repr(pd.registry_manager).startswith("<default RegistryManager on "))
print(os.path.exists(%r))
pd.get_registry("x")
print(pd.registry_manager.closed)
pd.registry_manager.close()
print(pd.registry_manager.closed, os.path.exists(%r))
""" % (str(target), str(target), str(target))
    out = run_python(code, {"PIPELINE_DEPS_DB": str(target)})
    assert out.split("\n")[:5] == ["True True False", "True", "False", "False", "True True"], out


def test_the_default_manager_is_a_registry_manager(tmp_path):
    """`registry_manager` is a RegistryManager instance, as the design has it: before its
    first use (asking opens nothing), while open, once closed, and opened again. It is a
    handle as any manager is: a copy is itself; deepcopy and pickle refuse (TypeError)."""
    from conftest import run_python

    target = tmp_path / "default.redb"
    code = """
import copy, os, pickle, pipeline_deps as pd
m = pd.registry_manager
print(isinstance(m, pd.RegistryManager), m.closed, os.path.exists(%r))
m.get_registry("x")
print(isinstance(m, pd.RegistryManager), m.closed, m.list_contexts())
m.close()
print(isinstance(m, pd.RegistryManager), m.closed)
print(m.get_registry("x").context_name, m.closed, m.path == %r)
for copied in (copy.copy, copy.deepcopy, pickle.dumps):   # a handle, as any manager is
    try:
        print(copied(m) is m)
    except TypeError:
        print("TypeError")
""" % (str(target), str(target))
    out = run_python(code, {"PIPELINE_DEPS_DB": str(target)})
    assert out.split("\n")[:7] == [
        "True True False",
        "True False ['x']",
        "True True",
        "x False True",
        "True",
        "TypeError",
        "TypeError",
    ], out


def test_a_wrong_argument_to_the_process_wide_manager_opens_nothing(tmp_path):
    """The process-wide manager opens (and creates) its file on first use: a call refused
    for its argument's type is no use, and leaves no file behind."""
    from conftest import run_python

    target = tmp_path / "untouched.redb"
    code = """
import os, pipeline_deps as pd
for call in (lambda: pd.get_registry(42), lambda: pd.get_pipeline_registry(None),
             lambda: pd.clear_context(b"x"), lambda: pd.create_dependency_resolver(None, "m")):
    try:
        call()
    except TypeError as e:
        print(str(e).split(" must ")[0])
print(pd.registry_manager.closed, os.path.exists(%r))
""" % str(target)
    out = run_python(code, {"PIPELINE_DEPS_DB": str(target)})
    assert out.split("\n")[:5] == [
        "context_name", "pipeline_name", "context_name", "semantic_matcher", "True False"
    ], out
