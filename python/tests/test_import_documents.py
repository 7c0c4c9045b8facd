"""An import reads the export or fixture format exactly: a document that is not JSON, not
valid Unicode, of the wrong shape or with an unknown field is refused as InvalidInputError
naming the context and where (a JSON syntax error with Python's ``json.JSONDecodeError`` as
its cause), and writes nothing; an export imports back to the same specifications."""

from __future__ import annotations

import json

import pytest

import pipeline_deps as pd


def test_export_and_import_round_trip(manager, real_specs):
    source = manager.get_registry("source")
    for name in ["Package", "Payload"]:
        source.register(name, real_specs[name])
    target = manager.get_registry("target")
    assert target.import_json(source.export_json()) == 2
    assert target.get_specification("Payload") == real_specs["Payload"]


def test_a_document_that_is_not_valid_unicode_is_invalid_input(manager):
    """Text read with ``errors="surrogateescape"`` (a file that is not UTF-8) holds lone
    surrogates: the import refuses it as InvalidInputError naming the context and where,
    not with the UnicodeEncodeError of the conversion to the native side."""
    registry = manager.get_registry("ctx")
    document = json.dumps(
        {"steps": [{"step_name": "caf\udce9", "step_type": "A", "node_type": "singular"}]},
        ensure_ascii=False,
    )
    with pytest.raises(pd.InvalidInputError, match="not valid Unicode") as refused:
        registry.import_json(document)
    assert refused.value.context == "ctx"
    assert f"position {document.index(chr(0xDCE9))}" in str(refused.value)
    assert len(registry) == 0


@pytest.mark.parametrize(
    "document",
    [
        '{"steps": [',                             # ends too early
        'not json',                                 # not JSON at all
        '{"steps": []} trailing',                   # more after the document
        '{"steps": [{"step_name": "caf\u00e9",\n "step_type": "A",]}',  # non-ASCII, line 2
    ],
)
def test_a_document_that_is_not_json_has_the_json_decode_error_as_its_cause(manager, document):
    """An import of text that is not JSON raises InvalidInputError naming the context, whose
    ``__cause__`` is the ``json.JSONDecodeError`` Python's own parser would give: the
    document, and where in it (``pos`` in characters, ``lineno``, ``colno``) the parser
    stopped. It was a plain ``Exception`` holding the parser's message only."""
    registry = manager.get_registry("ctx")
    with pytest.raises(pd.InvalidInputError, match="into context 'ctx'") as refused:
        registry.import_json(document)
    cause = refused.value.__cause__
    assert isinstance(cause, json.JSONDecodeError), repr(cause)
    assert cause.doc is document
    assert 0 <= cause.pos <= len(document)
    assert (cause.lineno, cause.colno) == (
        document.count("\n", 0, cause.pos) + 1,
        cause.pos - document.rfind("\n", 0, cause.pos),
    )
    # The line and column the message gives are the cause's (in this ASCII-only line).
    if cause.lineno == 1:
        assert f"line 1, column {cause.colno}" in str(refused.value)
    assert len(registry) == 0


def test_a_document_of_the_wrong_shape_has_a_value_error_as_its_cause(manager):
    """Valid JSON of the wrong shape is not a decoding error: its cause is a ValueError
    with the parser's message (a plain Exception before)."""
    registry = manager.get_registry("ctx")
    document = '{"steps": [{"step_name": "s", "step_type": 1, "node_type": "singular"}]}'
    with pytest.raises(pd.InvalidInputError, match="step_type") as refused:
        registry.import_json(document)
    cause = refused.value.__cause__
    assert type(cause) is ValueError and "expected a string" in str(cause), repr(cause)
    assert len(registry) == 0


def test_unknown_fields_are_refused_unless_allowed(manager):
    registry = manager.get_registry("ctx")
    document = (
        '{"steps": [{"step_name": "s", "step_type": "A", "node_type": "singular", "colour": 1}]}'
    )
    with pytest.raises(pd.InvalidInputError, match="colour"):
        registry.import_json(document)
    assert registry.import_json(document, allow_unknown_fields=True) == 1
    assert registry.list_step_names() == ["s"]
