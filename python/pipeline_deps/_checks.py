"""The checks and the wording of what a caller gives: names (a plain ``str`` of valid
Unicode), flags, the fields of a specification's dict, and how a message shows a value
that was refused (a name as the library shows one; anything else by a short ``repr``).
Every check runs before anything is opened or written, so that a wrong value changes
nothing."""

from __future__ import annotations

# ``Mapping`` and ``Iterable`` from ``collections.abc``, not ``typing``: an ``isinstance``
# check against the ``typing`` aliases is several times slower, and dicts are checked often.
from collections.abc import Iterable, Mapping
from typing import Any, List

from ._native import InvalidInputError, shown_name


def _whole(text: str) -> bool:
    """Whether ``text`` is valid Unicode text: no lone surrogate such as ``"\\ud800"``,
    which UTF-8, and so no registry, can hold. (``str``'s own methods: a subclass's may
    say anything.)"""
    if str.isascii(text):  # the common case, without encoding it
        return True
    try:
        str.encode(text, "utf-8")
    except UnicodeEncodeError:
        return False
    return True


def checked_name(name: Any, argument: str = "name") -> str:
    """``name`` (a plain ``str``) if it is a ``str`` of valid Unicode text; else
    ``TypeError`` naming ``argument`` (the parameter) and what was given, or
    :class:`InvalidInputError` for a lone surrogate (:func:`_whole`), which no registry can
    hold. Checked before anything is opened or written, so that a wrong value changes
    nothing."""
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a str, not {_given(name)}")
    if not _whole(name):
        raise InvalidInputError(
            f"invalid {argument} {shown_name(name)}: it is not valid Unicode text (it holds "
            "a lone surrogate); use a name of whole characters"
        )
    # A plain copy of a str subclass: its own __hash__ or __eq__ (the registry objects
    # handed out are looked up by name) could raise, or match another name.
    return name if type(name) is str else "".join((name,))


def _given(value: Any) -> str:
    """What was given instead, for a ``TypeError``: its type and its :func:`_repr`."""
    return f"{type(value).__name__} ({_repr(value)})"


def _repr(value: Any) -> str:
    """The ``repr`` of a value given where it does not belong, cut to 80 characters (a
    10 MB bytes value must not make a 10 MB message); never an exception of its own (a
    ``__repr__`` that raises, an ``int`` too long for ``str``)."""
    try:
        shown = repr(value)
    except Exception:
        return f"a {type(value).__name__} whose repr() failed"
    return shown if len(shown) <= 80 else shown[:80] + "…"


def _shown(value: Any) -> str:
    """``value`` as a message shows it: a ``str`` as the library shows a name
    (:func:`shown_name`: escaped, quoted, cut after 100 characters), anything else as
    :func:`_given` shows it."""
    return shown_name(value) if isinstance(value, str) else _given(value)


def _field(section: str, key: Any) -> str:
    """The path of entry ``key`` of ``section`` (``outputs.name``) as messages show it: the
    key escaped and cut as a name is, unquoted, as the library shows a field."""
    shown = shown_name(key, quoted=False) if isinstance(key, str) else _repr(key)
    return f"{section}.{shown}"


def _text(value: Any, what: str) -> str:
    """``value`` if it is a ``str`` of valid Unicode, else ``TypeError`` (another type) or
    ``ValueError`` (a lone surrogate) naming ``what``."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {_given(value)}")
    if not _whole(value):
        raise ValueError(
            f"{what} {shown_name(value)} is not valid Unicode text (a lone surrogate)"
        )
    return value


def _all_text(*values: Any) -> bool:
    """Whether every value is a ``str`` of valid Unicode: one check for many fields, which
    are then checked one by one (:func:`_text`) only to name the one that is not."""
    try:
        joined = "".join(values)
    except TypeError:
        return False
    return _whole(joined)


def _flag(value: Any, what: str) -> bool:
    """``value`` if it is a ``bool``: ``"false"`` or ``None`` are not read as one."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, not {_repr(value)}")
    return value


# The keys the export and fixture formats know (the same lists as the Rust import's), so
# that a misspelt field in a dict is refused rather than dropped: a step entry (with the
# fixture's descriptive keys; not the nested ``spec`` section of a ``model_dump()``, which
# the import refuses too), a dependency and an output.
_STEP_KEYS = frozenset(
    {
        "step_name", "step_type", "node_type", "dependencies", "outputs", "variants", "file",
        "sagemaker_step_type", "dependency_order", "output_order", "contract",
    }
)
_DEPENDENCY_KEYS = frozenset(
    {
        "logical_name", "type", "dependency_type", "required", "compatible_sources",
        "semantic_keywords", "data_type", "description",
    }
)
_OUTPUT_KEYS = frozenset(
    {
        "logical_name", "type", "output_type", "property_path", "aliases", "semantic_keywords",
        "data_type", "description",
    }
)


def _mapping(data: Any, what: str) -> None:
    """``TypeError`` unless ``data`` is a dict (or another ``Mapping``)."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise TypeError(f"{what} must be a dict, not {_given(data)}")


def _known_keys(data: Mapping[str, Any], known: "frozenset[str]", what: str) -> None:
    """``ValueError`` naming the first key of ``data`` that ``known`` lacks."""
    if known.issuperset(data):  # the common case, in one pass in C
        return
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ValueError(
            f"unknown field {_shown(unknown[0])} in {what} (known: {', '.join(sorted(known))})"
        )


def _texts(value: Any, what: str) -> List[str]:
    """A list of strings from a list or tuple (or ``None``, no strings); a lone string is
    refused rather than split into its characters."""
    if value is None:
        return []
    if type(value) is list or type(value) is tuple:
        # The common case, without the abstract-class checks below (a fifth of a
        # registration's Python time went to them).
        if not value or (set(map(type, value)) == {str} and _whole("".join(value))):
            return list(value)
    elif isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a list of strings, not {_given(value)}")
    return [_text(v, f"an entry of {what}") for v in value]


def _message(error: BaseException) -> str:
    """``str(error)`` cut to 500 characters, or its type when that fails or is empty."""
    try:
        text = str(error)
    except Exception:
        text = ""
    if len(text) > 500:
        text = text[:500] + "…"
    return text or type(error).__name__


def _same_text(value: Any, text: str) -> bool:
    """Whether ``value`` is a ``str`` of the same text as ``text`` (compared as plain
    strings: a str subclass's own ``__eq__`` may raise, or claim anything)."""
    return isinstance(value, str) and "".join((value,)) == "".join((text,))
