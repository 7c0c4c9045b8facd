"""The package's own messages show names as the library's do (``spec::escape_name_exact``):
each backslash doubled and each invisible character as a ``\\u{...}`` escape, so that a name
holding a backslash and an ``n`` never shows as one holding a newline, and a right-to-left
override cannot turn the rest of a log line around. The exceptions' ``context`` and
``step`` keep the names exact."""

from __future__ import annotations

import json

import pytest

import pipeline_deps as pd

# A backslash before an "n", and U+202E RIGHT-TO-LEFT OVERRIDE (invisible, and allowed in a
# name, unlike a control character).
ODD = "a\\n \u202e"
# How messages show it: the backslash doubled, the override escaped.
SHOWN = "a\\\\n \\u{202e}"


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
