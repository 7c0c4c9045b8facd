"""The manager keeps contexts isolated and durable, returns the same registry object for the
same context, and its statistics always equal a recount."""

from __future__ import annotations

import os

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
            # The path as the library's messages show one (escaped, not quoted).
            (m, f"the registry manager of {path}"),
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
