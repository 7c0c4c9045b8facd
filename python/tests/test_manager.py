"""The manager keeps contexts isolated and durable, returns the same registry object for the
same context, and its statistics always equal a recount."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import pipeline_deps as pd


def spec(step_type: str) -> pd.StepSpecification:
    return pd.StepSpecification(
        step_type,
        pd.NodeType.INTERNAL,
        dependencies=[pd.DependencySpec("input_data", pd.DependencyType.PROCESSING_OUTPUT)],
        outputs=[pd.OutputSpec("output_data", "processing_output", "properties.Out")],
    )


def test_get_registry_creates_on_demand_and_returns_the_same_object(manager):
    first = manager.get_registry("new_pipeline")
    assert first is manager.get_registry("new_pipeline")
    assert isinstance(first, pd.SpecificationRegistry)
    assert first.context_name == "new_pipeline"
    assert manager.list_contexts() == ["new_pipeline"]


def test_create_if_missing_false_returns_none_and_creates_nothing(manager):
    assert manager.get_registry("nonexistent", create_if_missing=False) is None
    assert manager.list_contexts() == []


def test_contexts_are_listed_in_creation_order_and_isolated(manager):
    for name in ["b", "a", "c"]:
        manager.get_registry(name).register("step", spec(name.upper()))
    assert manager.list_contexts() == ["b", "a", "c"]
    for name in ["b", "a", "c"]:
        assert manager.get_registry(name).get_specification("step").step_type == name.upper()


def test_clear_context_reports_whether_it_existed_and_stale_objects_fail(manager):
    old = manager.get_registry("old_pipeline")
    old.register("s", spec("T"))
    assert manager.clear_context("old_pipeline") is True
    assert manager.clear_context("old_pipeline") is False
    assert "old_pipeline" not in manager.list_contexts()
    with pytest.raises(pd.ContextClearedError):
        old.list_step_names()
    fresh = manager.get_registry("old_pipeline")
    assert fresh is not old
    assert len(fresh) == 0


def test_clear_all_contexts(manager):
    for name in ["x", "y", "z"]:
        manager.get_registry(name)
    assert manager.clear_all_contexts() == 3
    assert manager.list_contexts() == []


def test_stats_have_the_designs_keys_and_equal_a_recount(manager):
    training = manager.get_registry("training_pipeline")
    for i, step_type in enumerate(["A", "B", "B", "C", "D"]):
        training.register(f"s{i}", spec(step_type))
    manager.get_registry("empty")
    stats = manager.get_context_stats()
    assert list(stats) == ["training_pipeline", "empty"]
    assert stats["training_pipeline"] == {
        "step_count": 5,
        "step_type_count": 4,
        "registry_type": "SpecificationRegistry",
    }
    assert stats["training_pipeline"]["step_count"] == len(training.list_step_names())
    assert stats["training_pipeline"]["step_type_count"] == len(training.list_step_types())
    assert stats["empty"]["step_count"] == 0


def test_scoped_context_is_cleared_on_exit_even_after_an_exception(manager):
    with pytest.raises(RuntimeError):
        with manager.scoped_context("test_ctx") as registry:
            registry.register("s", spec("T"))
            assert manager.list_contexts() == ["test_ctx"]
            raise RuntimeError("test failed")
    assert manager.list_contexts() == []


def test_a_file_manager_persists_across_close_and_reopen(tmp_path):
    path = tmp_path / "registry.redb"
    with pd.RegistryManager(path) as m:
        m.get_registry("ctx").register("s", spec("T"))
    assert path.is_file()
    with pd.RegistryManager(str(path)) as m:
        assert m.get_registry("ctx").get_specification("s") == spec("T")
        assert m.path == str(path)


def test_temporary_file_is_removed_on_close():
    m = pd.RegistryManager()
    path = m.path
    m.get_registry("ctx").register("s", spec("T"))
    assert os.path.exists(path)
    m.close()
    assert not os.path.exists(path)
    assert m.closed
    with pytest.raises(pd.ClosedError):
        m.list_contexts()


def test_memory_manager_touches_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pd.RegistryManager(":memory:") as m:
        m.get_registry("ctx").register("s", spec("T"))
        assert m.path == ":memory:"
        assert len(m.get_registry("ctx")) == 1
    assert list(tmp_path.iterdir()) == []


def test_closing_releases_the_file_for_another_manager(tmp_path):
    path = tmp_path / "registry.redb"
    first = pd.RegistryManager(path)
    registry = first.get_registry("ctx")
    with pytest.raises(pd.InUseError):
        pd.RegistryManager(path)
    first.close()
    with pytest.raises(pd.ClosedError):
        registry.list_step_names()
    with pd.RegistryManager(path) as second:
        assert second.list_contexts() == ["ctx"]


def test_read_only_manager_reads_and_refuses_writes(tmp_path):
    path = tmp_path / "registry.redb"
    with pd.RegistryManager(path) as m:
        m.get_registry("ctx").register("s", spec("T"))
    with pd.RegistryManager(path, read_only=True) as ro:
        assert ro.read_only
        registry = ro.get_registry("ctx", create_if_missing=False)
        assert registry.list_step_names() == ["s"]
        with pytest.raises(pd.ReadOnlyError, match="read-only"):
            registry.register("t", spec("T"))
        assert ro.get_registry("missing", create_if_missing=False) is None
        with pytest.raises(pd.NoSuchContextError, match="missing"):
            ro.get_registry("missing")
    # An I/O error is a plain Error whose cause is the OSError.
    with pytest.raises(pd.Error) as raised:
        pd.RegistryManager(tmp_path / "absent.redb", read_only=True)
    assert isinstance(raised.value.__cause__, FileNotFoundError)



def test_close_releases_the_registries_of_cleared_contexts_too(tmp_path):
    path = tmp_path / "registry.redb"
    with pd.RegistryManager(path) as m:
        old = m.get_registry("ctx")
        old.register("s", spec("T"))
        m.clear_context("ctx")
        m.get_registry("other")
        m.clear_all_contexts()
    # Every registry object is closed with its manager, so the file is free again.
    with pytest.raises(pd.ClosedError):
        old.list_step_names()
    with pd.RegistryManager(path) as again:
        assert again.list_contexts() == []


def test_a_failed_clear_leaves_the_registry_object_current(tmp_path):
    path = tmp_path / "registry.redb"
    with pd.RegistryManager(path) as m:
        m.get_registry("keep").register("s", spec("T"))
    with pd.RegistryManager(path, read_only=True) as ro:
        kept = ro.get_registry("keep")
        with pytest.raises(pd.Error, match="read-only"):
            ro.clear_context("keep")
        with pytest.raises(pd.Error, match="read-only"):
            ro.clear_all_contexts()
        assert ro.get_registry("keep") is kept
    with pytest.raises(pd.ClosedError):
        kept.list_step_names()


def test_an_open_error_says_why_and_shows_the_path_escaped(tmp_path):
    missing = tmp_path / "no such dir" / "registry.redb"
    with pytest.raises(pd.Error) as caught:
        pd.RegistryManager(missing)
    message = str(caught.value)
    assert str(missing) in message
    assert "caused by: " in message, message
    assert isinstance(caught.value.__cause__, FileNotFoundError), repr(caught.value.__cause__)
    with pytest.raises(pd.Error) as caught:
        pd.RegistryManager(str(tmp_path / "a\x1b[31mdir" / "b.redb"))
    assert "\x1b" not in str(caught.value), repr(str(caught.value))
    with pytest.raises(pd.Error) as caught:
        pd.RegistryManager(str(tmp_path) + "/a\x00b")
    assert "\x00" not in str(caught.value), repr(str(caught.value))


def test_a_registry_closed_by_its_owner_is_not_handed_out_again(tmp_path):
    with pd.RegistryManager(tmp_path / "registry.redb") as m:
        first = m.get_registry("ctx")
        first.register("s", spec("T"))
        first.close()
        again = m.get_registry("ctx")
        assert again is not first
        assert again.list_step_names() == ["s"]
        assert m.get_registry("ctx") is again


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


def test_read_only_is_refused_for_databases_that_start_empty():
    for args in ((), (":memory:",)):
        with pytest.raises(pd.InvalidInputError, match="starts empty"):
            pd.RegistryManager(*args, read_only=True)


def test_a_single_writer_owner_lets_other_processes_read_its_file(tmp_path):
    from conftest import run_python

    path = tmp_path / "registry.redb"
    reader = f"""
import pipeline_deps as pd
try:
    with pd.RegistryManager({str(path)!r}, read_only=True) as m:
        print(m.get_registry("ctx", create_if_missing=False).list_step_names())
except pd.InUseError:
    print("in use")
"""
    with pd.RegistryManager(path) as exclusive:
        exclusive.get_registry("ctx").register("s", spec("T"))
        assert run_python(reader, {}).strip() == "in use"
    with pd.RegistryManager(path, single_writer=True) as owner:
        assert run_python(reader, {}).strip() == "['s']"
        owner.get_registry("ctx").register("t", spec("T"))
        assert run_python(reader, {}).strip() == "['s', 't']"
    for args, kwargs in (((), {}), ((":memory:",), {}), ((path,), {"read_only": True})):
        with pytest.raises(pd.InvalidInputError, match="single_writer"):
            pd.RegistryManager(*args, single_writer=True, **kwargs)


def test_a_read_only_reader_follows_its_owner_clearing_and_recreating_a_context(tmp_path):
    path = tmp_path / "registry.redb"
    with pd.RegistryManager(path, single_writer=True) as owner:
        owner.get_registry("c").register("old", spec("T"))
        with pd.RegistryManager(path, read_only=True) as reader:
            assert reader.get_registry("c").list_step_names() == ["old"]
            owner.clear_context("c")
            owner.get_registry("c").register("new", spec("T"))
            # The cached registry object of the cleared context is replaced, not stuck.
            assert reader.get_registry("c").list_step_names() == ["new"]


def test_a_path_no_file_name_can_hold_is_invalid_input(tmp_path):
    for path in (str(tmp_path / "\ud800.redb"), "postgres://u@h/\ud800"):
        with pytest.raises(pd.InvalidInputError, match="not valid Unicode"):
            pd.RegistryManager(path)
    with pytest.raises(pd.InvalidInputError, match="not valid Unicode"):
        pd.set_default_database_path(str(tmp_path / "\ud800.redb"))


def test_a_scope_clears_only_its_own_context_and_keeps_the_blocks_exception(tmp_path):
    with pd.RegistryManager(tmp_path / "registry.redb") as m:
        with m.scoped_context("shared") as mine:
            mine.register("mine", spec("T"))
            m.clear_context("shared")
            m.get_registry("shared").register("theirs", spec("T"))
        assert m.get_registry("shared").list_step_names() == ["theirs"]
        # The block's own failure reaches the caller, even when clearing fails too.
        with pytest.raises(AssertionError, match="the test's own failure"):
            with m.scoped_context("t"):
                m.close()
                raise AssertionError("the test's own failure")


def test_a_scope_clears_its_context_also_when_the_block_closed_its_registry(tmp_path):
    path = tmp_path / "registry.redb"
    with pd.RegistryManager(path) as m:
        with m.scoped_context("t") as registry:
            registry.register("s", spec("T"))
            registry.close()
        assert m.list_contexts() == []
        # A manager closed inside the block lets go of the file there, scope or not.
        with pytest.raises(AssertionError, match="own failure"):
            with m.scoped_context("u") as registry:
                registry.register("s", spec("T"))
                m.close()
                with pd.RegistryManager(path) as other:
                    assert other.list_contexts() == ["u"]
                raise AssertionError("the test's own failure")


def test_the_builder_decorator_finds_the_config_however_it_is_given(tmp_path):
    from types import SimpleNamespace

    with pd.RegistryManager(tmp_path / "registry.redb") as m:

        @pd.integrate_with_pipeline_builder(manager=m)
        class Builder:
            """Keeps nothing of its configuration."""

            def __init__(self, base_config=None, other=None):
                pass

        config = SimpleNamespace(pipeline_name="fraud", environment="prod")
        assert Builder(base_config=config).registry.context_name == "fraud_prod"
        assert Builder(config).registry.context_name == "fraud_prod"
        assert Builder({"pipeline_name": "fraud"}).registry.context_name == "fraud"
        assert Builder().registry.context_name == pd.DEFAULT_PIPELINE_CONTEXT


def test_a_bytes_path_names_the_same_file_as_its_str(tmp_path):
    path = tmp_path / "bytes.redb"
    with pd.RegistryManager(os.fsencode(path)) as m:
        m.get_registry("ctx").register("s", {"step_type": "A", "node_type": "singular"})
        assert m.path == str(path)
    with pd.RegistryManager(path, read_only=True) as m:
        assert m.get_registry("ctx").list_step_names() == ["s"]


def test_a_path_of_another_type_is_a_type_error():
    with pytest.raises(TypeError, match=r"^path must be a str, bytes or os.PathLike, not int \(5\)"):
        pd.RegistryManager(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^path must be .*, not NoneType"):
        pd.set_default_database_path(None)  # type: ignore[arg-type]


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


def test_a_mistyped_server_url_is_refused_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pd.InvalidInputError, match="written as a URL"):
        pd.RegistryManager("postgress://ci@db/registry")
    assert list(tmp_path.iterdir()) == []


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


def test_a_file_name_that_is_not_utf8_round_trips_and_shows(tmp_path):
    raw = os.fsencode(tmp_path) + b"/\xfd.redb"
    with pd.RegistryManager(raw) as m:
        m.get_registry("x")
        assert os.fsencode(m.path) == raw
        assert os.path.exists(m.path)
        assert "RegistryManager(" in repr(m)


def test_type_errors_name_the_public_parameters():
    with pd.RegistryManager(":memory:") as m:
        with pytest.raises(TypeError, match="context_name"):
            m.get_registry(None)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="create_if_missing"):
            m.get_registry("x", "no")  # type: ignore[call-overload]


@pytest.mark.parametrize("given", [42, None, b"ctx", ["ctx"]])
def test_a_name_that_is_not_a_str_is_a_type_error_naming_the_argument(given):
    """A name of another type (bytes, None, a number, a list) is a TypeError saying which
    argument and what was given, before anything is read or written; it was pyo3's own
    conversion text ("'int' object cannot be converted to 'PyString'"), or "unhashable
    type" for a list."""
    with pd.RegistryManager(":memory:") as m:
        registry = m.get_registry("ctx")
        registry.register("s", {"step_type": "A", "node_type": "singular"})
        resolver = pd.UnifiedDependencyResolver(registry)
        shown = f"not {type(given).__name__} ({given!r})"
        for argument, call in (
            ("context_name", lambda: m.get_registry(given)),
            ("context_name", lambda: m.clear_context(given)),
            ("context_name", lambda: m.scoped_context(given).__enter__()),
            ("step_name", lambda: registry.register(given, {"step_type": "A"})),
            ("step_name", lambda: registry.upsert(given, {"step_type": "A"})),
            ("step_name", lambda: registry.get_specification(given)),
            ("step_name", lambda: registry.unregister(given)),
            ("step_type", lambda: registry.get_specifications_by_type(given)),
            ("consumer_step", lambda: resolver.resolve_step_dependencies(given, ["s"])),
            ("consumer_step", lambda: resolver.resolve_with_scoring(given, ["s"])),
            ("each entry of available_steps", lambda: resolver.resolve_all_dependencies([given])),
            ("text", lambda: registry.import_json(given)),
        ):
            with pytest.raises(TypeError) as refused:
                call()
            assert str(refused.value).startswith(f"{argument} must be a str"), refused.value
            assert shown in str(refused.value)
        assert m.list_contexts() == ["ctx"] and registry.list_step_names() == ["s"]


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


@pytest.mark.parametrize("flag", ["read_only", "single_writer"])
@pytest.mark.parametrize("value", ["false", "no", 1, 0, None])
def test_a_flag_that_is_not_a_bool_is_a_type_error_and_opens_nothing(tmp_path, flag, value):
    """``read_only="false"`` opened the file read-only (any truthy value did; ``0`` opened
    it for writing, taking the file from readers), where a server URL or ``single_writer``
    refused the same value: a flag is True or False, as ``required`` is."""
    path = tmp_path / "r.redb"
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        pd.RegistryManager(path, **{flag: value})
    assert not path.exists()
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        pd.RegistryManager("postgres://nobody@127.0.0.1:1/none", **{flag: value})


def test_create_if_missing_is_checked_also_for_a_context_already_handed_out():
    with pd.RegistryManager(":memory:") as m:
        m.get_registry("x")
        with pytest.raises(TypeError, match="create_if_missing"):
            m.get_registry("x", "no")  # type: ignore[call-overload]


def test_a_closed_registrys_error_names_its_context():
    """ClosedError from a registry object names its context exactly (the message escapes
    it), as every error about a context does; it was None."""
    odd = "ctx \u202e"
    with pd.RegistryManager(":memory:") as m:
        registry = m.get_registry(odd)
        resolver = pd.UnifiedDependencyResolver(registry)
    for call in (registry.list_step_names, lambda: len(registry), lambda: "x" in registry):
        with pytest.raises(pd.ClosedError) as closed:
            call()
        assert (closed.value.context, closed.value.step) == (odd, None)
        assert "\\u{202e}" in str(closed.value)
    # A resolver's too: it said only "the resolver is closed", with no context.
    for call in (lambda: resolver.resolve_all_dependencies([]), resolver.clear_cache):
        with pytest.raises(pd.ClosedError) as closed:
            call()
        assert (closed.value.context, closed.value.step) == (odd, None)
        assert "resolver over context 'ctx \\u{202e}' is closed" in str(closed.value)


def test_a_path_with_a_nul_character_is_invalid_input():
    with pytest.raises(pd.InvalidInputError, match="NUL"):
        pd.RegistryManager("a\0b.redb")


def test_copying_a_handle_gives_the_same_handle():
    import copy

    with pd.RegistryManager(":memory:") as m:
        r = m.get_registry("x")
        assert copy.copy(m) is m and copy.copy(r) is r
        resolver = pd.UnifiedDependencyResolver(r)
        assert copy.copy(resolver) is resolver


def test_pickling_or_deep_copying_a_handle_is_refused_naming_it(tmp_path):
    """A manager, a registry object and a resolver are handles to an open database:
    ``pickle`` and ``deepcopy`` refuse them with a TypeError saying which handle and what to
    do instead (it named the native class inside, ``NativeRegistry``); the handle still
    works after."""
    import copy
    import pickle

    path = tmp_path / "r.redb"
    with pd.RegistryManager(path) as m:
        r = m.get_registry("ctx")
        resolver = pd.UnifiedDependencyResolver(r)
        handles = [
            (m, f"the registry manager of {str(path)!r}"),
            (r, "the registry of context 'ctx'"),
            (resolver, "the resolver over context 'ctx'"),
        ]
        for handle, named in handles:
            for refuse in (pickle.dumps, copy.deepcopy):
                with pytest.raises(TypeError) as refused:
                    refuse(handle)
                assert str(refused.value).startswith(f"cannot pickle or deep-copy {named}: ")
                assert "Native" not in str(refused.value)
        r.register("s", spec("T"))
        assert resolver.resolve_all_dependencies(["s"]) == {}
        assert m.list_contexts() == ["ctx"]
