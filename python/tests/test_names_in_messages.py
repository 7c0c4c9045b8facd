"""The package's own messages show names as the library's do (``spec::escape_name_exact``):
each backslash doubled and each invisible character as a ``\\u{...}`` escape, so that a name
holding a backslash and an ``n`` never shows as one holding a newline, and a right-to-left
override cannot turn the rest of a log line around. The exceptions' ``context`` and
``step`` keep the names exact."""

from __future__ import annotations

import copy
import json
import sys

import pytest

import pipeline_deps as pd

# A backslash before an "n", and U+202E RIGHT-TO-LEFT OVERRIDE (invisible, and allowed in a
# name, unlike a control character).
ODD = "a\\n \u202e"
# How messages show it: the backslash doubled, the override escaped.
SHOWN = "a\\\\n \\u{202e}"


def test_closed_handles_show_their_context_escaped():
    with pd.RegistryManager(":memory:") as manager:
        registry = manager.get_registry(ODD)
        resolver = pd.UnifiedDependencyResolver(registry)
    with pytest.raises(pd.ClosedError) as closed:
        registry.list_step_names()
    assert f"the registry of context '{SHOWN}' is closed" in str(closed.value)
    assert closed.value.context == ODD
    with pytest.raises(pd.ClosedError) as closed:
        resolver.resolve_all_dependencies([])
    assert f"the resolver over context '{SHOWN}' is closed" in str(closed.value)
    assert closed.value.context == ODD


def test_a_closed_managers_error_shows_its_path_escaped(tmp_path):
    """A file name may hold anything but a NUL: an escape character in it reached the
    terminal raw from this message (the library's own messages escape paths)."""
    path = tmp_path / "a\\n\x1b[31m.redb"
    manager = pd.RegistryManager(path)
    manager.close()
    with pytest.raises(pd.ClosedError) as closed:
        manager.list_contexts()
    message = str(closed.value)
    assert "\x1b" not in message, repr(message)
    assert f"{tmp_path}/a\\\\n\\u{{1b}}[31m.redb is closed" in message, repr(message)


def test_an_invalid_specs_error_shows_its_step_escaped(manager):
    """The error Python raises itself for a spec that is not one (``repr`` showed the step
    as ``'a\\\\n \\u202e'``, not as every other message shows it)."""
    registry = manager.get_registry("ctx")
    with pytest.raises(pd.InvalidSpecError) as refused:
        registry.register(ODD, {"step_type": 5, "node_type": "source"})
    assert f"the specification of step '{SHOWN}' is invalid" in str(refused.value)
    assert (refused.value.context, refused.value.step) == ("ctx", ODD)


def test_a_specification_the_library_cannot_read_names_its_step_escaped(manager):
    """The package hands each spec over as JSON it wrote itself; should the library fail to
    read it, the error names the step (it named none: the step was to be put into a wording
    the error no longer had)."""
    native = manager.get_registry("ctx")._native
    for call in (native.register, native.upsert):
        with pytest.raises(pd.InvalidInputError) as refused:
            call(ODD, "{")
        assert f"the specification of step '{SHOWN}' handed over by the Python package" in str(
            refused.value
        ), str(refused.value)


def test_an_imports_refusal_shows_its_context_escaped(manager):
    registry = manager.get_registry(ODD)
    with pytest.raises(pd.InvalidInputError) as refused:
        registry.import_json("{")
    assert f"the JSON import into context '{SHOWN}'" in str(refused.value)
    assert refused.value.context == ODD
    # Text read with errors="surrogateescape": refused in Python, worded the same way.
    with pytest.raises(pd.InvalidInputError) as refused:
        registry.import_json('{"steps": []}\udcff')
    assert f"the JSON import into context '{SHOWN}': the text is not valid Unicode" in str(
        refused.value
    )


def test_a_refusal_inside_a_step_names_the_imports_context_as_rust_does(manager):
    """A refusal about one step of the document names the context first, then the step and
    the field, in the words of the library's ``import_json_with``; from Python it named the
    step and field only."""
    registry = manager.get_registry(ODD)
    document = {"steps": [{"step_name": "train", "step_type": 5, "node_type": "source"}]}
    with pytest.raises(pd.InvalidInputError) as refused:
        registry.import_json(json.dumps(document))
    assert (
        f"invalid input in the JSON import into context '{SHOWN}', steps[0] (step 'train'), "
        "field `step_type`" in str(refused.value)
    ), str(refused.value)
    assert (refused.value.context, refused.value.step) == (ODD, "train")


@pytest.mark.parametrize(
    "document",
    [
        "",
        "{",
        "[]",
        "{}",
        '{"steps": 3}',
        '{"schema": "nope/v9", "steps": []}',
        '{"steps": [{"step_name": "a", "step_type": "A", "step_type": "B"}]}',
        '{"steps": [{"step_name": "a", "step_type": "A", "node_type": "singular", "colour": 1}]}',
        '{"steps": [{"step_name": "a", "step_type": 5, "node_type": "singular"}]}',
        '{"steps": [{"step_name": "a", "step_type": "A", "node_type": "singular"},'
        ' {"step_name": "a", "step_type": "A", "node_type": "singular"}]}',
    ],
)
def test_every_refusal_of_an_import_names_its_context(manager, document):
    """As the library's ``import_json_with`` (``a_refused_import_document_names_the_context``
    in ``tests/import_errors_name_their_context.rs``), and nothing is written."""
    registry = manager.get_registry("fraud_training")
    with pytest.raises(pd.InvalidInputError) as refused:
        registry.import_json(document)
    assert "the JSON import into context 'fraud_training'" in str(refused.value), str(
        refused.value
    )
    assert refused.value.context == "fraud_training"
    assert len(registry) == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are Python 3.11's")
def test_a_scoped_contexts_failed_clearing_note_shows_its_name_escaped():
    manager = pd.RegistryManager(":memory:")
    with pytest.raises(ValueError) as raised:
        with manager.scoped_context(ODD):
            manager.close()
            raise ValueError("the block failed")
    notes = getattr(raised.value, "__notes__", [])
    assert any(f"clearing the scoped context '{SHOWN}' failed too" in n for n in notes), notes


def test_a_refused_paths_message_shows_it_as_the_library_shows_paths(tmp_path):
    """A path no file can have (a NUL, a lone surrogate) was shown with ``repr``
    (``'…\\x1b\\x00…'``, quoted), where the library's messages show a path escaped as a
    name is and unquoted, as the closed manager's message (the library's wording) shows
    the same directory here."""
    escape = tmp_path / "a\x1b.redb"
    manager = pd.RegistryManager(escape)
    manager.close()
    with pytest.raises(pd.ClosedError) as closed:
        manager.list_contexts()
    assert f"the registry manager of {tmp_path}/a\\u{{1b}}.redb is closed" in str(closed.value)
    for path, shown in (
        (f"{tmp_path}/a\x1b\0.redb", f"{tmp_path}/a\\u{{1b}}\\u{{0}}.redb"),
        (f"{tmp_path}/a\x1b\ud800.redb", f"{tmp_path}/a\\u{{1b}}\\u{{d800}}.redb"),
    ):
        for refuse in (pd.RegistryManager, pd.set_default_database_path):
            with pytest.raises(pd.InvalidInputError) as refused:
                refuse(path)
            message = str(refused.value)
            assert message.startswith(f"invalid database path {shown}: "), message
            assert "\x1b" not in message and "\0" not in message, message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a\x1b.redb"]


# A name longer than the 100 characters messages show of one, with characters to escape.
LONG = ODD * 40
# How the library shows it: its first 100 characters once escaped, then its length.
LONG_SHOWN = "'" + (SHOWN * 40)[:100] + f"…' ({len(LONG.encode())} bytes)"


def test_the_packages_messages_cut_a_long_name_as_the_librarys_do(manager):
    """The library shows at most 100 characters of a name, and how long it is, so that one
    name cannot flood a message; the package's own messages showed every name whole."""
    registry = manager.get_registry(LONG)
    with pytest.raises(pd.InvalidInputError) as library:
        registry.import_json("{")
    assert f"the JSON import into context {LONG_SHOWN}: " in str(library.value)
    with pytest.raises(pd.InvalidSpecError) as library:
        registry.register(LONG, {"step_type": " ", "node_type": "singular"})
    assert f"step {LONG_SHOWN}" in str(library.value), str(library.value)

    messages = []
    with pytest.raises(pd.InvalidSpecError) as refused:
        registry.register(LONG, {"step_type": 5, "node_type": "singular"})
    messages.append(str(refused.value))
    with pytest.raises(pd.InvalidInputError) as refused:
        registry._native.register(LONG, "{")
    messages.append(str(refused.value))
    with pytest.raises(pd.InvalidInputError) as refused:
        registry.import_json('{"steps": []}\udcff')
    messages.append(str(refused.value))
    with pytest.raises(TypeError) as refused:
        copy.deepcopy(registry)
    messages.append(str(refused.value))
    resolver = pd.UnifiedDependencyResolver(registry)
    registry.close()
    for call in (registry.list_step_names, lambda: resolver.resolve_all_dependencies([])):
        with pytest.raises(pd.ClosedError) as closed:
            call()
        messages.append(str(closed.value))
    assert len(messages) == 6
    for message in messages:
        assert LONG_SHOWN in message, message
        assert len(message) < 400, message


def test_a_name_with_a_lone_surrogate_is_shown_escaped_and_cut():
    """A name holding a lone surrogate (which no registry can hold) was shown with
    ``repr``, whole; it is shown as every name is, the surrogate escaped in the same style
    (``\\u{d800}``), and cut after 100 characters."""
    with pd.RegistryManager(":memory:") as m:
        with pytest.raises(pd.InvalidInputError) as refused:
            m.get_registry("a\x1b\ud800")
        assert str(refused.value).startswith(
            "invalid context_name 'a\\u{1b}\\u{d800}': it is not valid Unicode text"
        ), str(refused.value)
        with pytest.raises(pd.InvalidInputError) as refused:
            m.get_registry("x" * 200 + "\ud800")
        assert str(refused.value).startswith(
            f"invalid context_name '{'x' * 100}…' (203 bytes): "
        ), str(refused.value)
        assert m.list_contexts() == []


def test_the_refusal_of_a_document_with_a_lone_surrogate_is_framed_as_the_librarys(manager):
    """The refusal of text holding a lone surrogate is made in Python (such text cannot
    reach the library); it begins as the library's own refusal of a document in the same
    context begins, also for a context whose name is cut."""
    for context in (ODD, LONG):
        registry = manager.get_registry(context)
        with pytest.raises(pd.InvalidInputError) as library:
            registry.import_json("{")
        with pytest.raises(pd.InvalidInputError) as python:
            registry.import_json('{"steps": []}\udcff')
        framing = str(library.value).split(": ")[0]
        assert framing.startswith("invalid input in the JSON import into context '"), framing
        assert str(python.value).startswith(framing + ": the text is not valid Unicode")
        assert python.value.context == library.value.context == context
