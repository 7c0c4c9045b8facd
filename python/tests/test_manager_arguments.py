"""A manager refuses every argument it cannot use (a path no file can have, a value of the
wrong type, a flag that is not a bool) with a clear exception before anything is opened,
created or written; a path of any accepted type names the same file."""

from __future__ import annotations

import os

import pytest

import pipeline_deps as pd


def test_read_only_is_refused_for_databases_that_start_empty():
    for args in ((), (":memory:",)):
        with pytest.raises(pd.InvalidInputError, match="starts empty"):
            pd.RegistryManager(*args, read_only=True)


def test_a_path_no_file_name_can_hold_is_invalid_input(tmp_path):
    for path in (str(tmp_path / "\ud800.redb"), "postgres://u@h/\ud800"):
        with pytest.raises(pd.InvalidInputError, match="not valid Unicode"):
            pd.RegistryManager(path)
    with pytest.raises(pd.InvalidInputError, match="not valid Unicode"):
        pd.set_default_database_path(str(tmp_path / "\ud800.redb"))


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


def test_a_mistyped_server_url_is_refused_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pd.InvalidInputError, match="written as a URL"):
        pd.RegistryManager("postgress://ci@db/registry")
    assert list(tmp_path.iterdir()) == []


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


def test_a_path_with_a_nul_character_is_invalid_input():
    with pytest.raises(pd.InvalidInputError, match="NUL"):
        pd.RegistryManager("a\0b.redb")


class LyingPath(str):
    """A str whose own methods say it holds no NUL and names a server."""

    def __contains__(self, text: object) -> bool:
        return False

    def lower(self) -> str:
        return "postgres://elsewhere"


def test_a_path_is_read_as_its_text_whatever_a_str_subclass_says(tmp_path):
    """A str subclass's ``lower`` made a file name read as a server URL (refused as a URL),
    and its ``__contains__`` hid a NUL from the check (an I/O error of the library)."""
    path = tmp_path / "file.redb"
    with pd.RegistryManager(LyingPath(path)) as m:
        assert m.path == str(path)
    assert path.exists()
    with pytest.raises(pd.InvalidInputError, match="NUL"):
        pd.RegistryManager(LyingPath(f"{tmp_path}/a\0b.redb"))
