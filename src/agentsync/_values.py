"""JSON validation, field-kind inference and declared schemas (SPEC 3)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from ._errors import SchemaError
from ._types import JSON, FieldKind, Namespace

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUE_BYTES",
    "check_size",
    "copy_json",
    "TEXT_MARKERS",
    "FieldPath",
    "Schema",
    "canonical",
    "declared_kind",
    "dotted",
    "infer_kind",
    "names_text",
    "normalize_schema",
    "validate_value",
]

FieldPath = tuple[str, ...]
Schema = Mapping[Namespace, Mapping[str, FieldKind]]

MAX_DEPTH: Final = 64
"""Values nested deeper than this are refused: deep nesting is almost always a bug."""

MAX_VALUE_BYTES: Final = 16 * 1024 * 1024
"""Values larger than this as JSON are refused: one key is not a blob store, and every
replica would have to hold and ship it."""

_CANONICAL: Final = msgspec.json.Encoder(order="sorted")

TEXT_MARKERS: Final = frozenset({"text", "notes", "findings", "log"})
"""Whole words of a field name that make a string field text (SPEC 3)."""
# words of a name: split on `_`, `-`, `.` and camelCase humps (`buildLog` -> build, log;
# `HTMLText` -> HTML, Text), so `login`, `context` and `catalog` hold no marker word
_WORDS: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_KINDS: Final = frozenset({"map", "set", "list", "text", "counter", "register"})
_SCALARS: Final = (str, int, float, bool, type(None))


def dotted(path: FieldPath) -> str:
    """Human form of a field path: `("meta", "x")` -> `"meta.x"`."""
    return ".".join(path)


def canonical(value: JSON) -> str:
    """Deterministic JSON text: set elements and register values compare by it."""
    return _CANONICAL.encode(value).decode()


def lone_surrogate_at(text: str) -> int | None:
    """Where `text` stops being storable Unicode (a lone surrogate cannot be UTF-8)."""
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_text(text: str, path: FieldPath, *, what: str = "string") -> None:
    """TypeError if `text` is not storable Unicode."""
    at = lone_surrogate_at(text)
    if at is not None:
        raise TypeError(
            f"field {dotted(path) or '<root>'!r}: {what} {text!r} is not valid Unicode "
            f"(lone surrogate at position {at})"
        )


def validate_value(value: object, path: FieldPath = ()) -> None:
    """Raise TypeError naming the first non-JSON field path; ValueError past MAX_DEPTH."""
    if len(path) > MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH} levels at {dotted(path)!r}")
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                where = dotted(path) or "<root>"
                raise TypeError(
                    f"field names must be str, got {type(k).__name__} {k!r} under {where!r}"
                )
            check_text(k, path, what="field name")
            validate_value(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            validate_value(v, (*path, str(i)))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"field {dotted(path)!r}: {value!r} is not valid JSON")
    elif not isinstance(value, _SCALARS):
        raise TypeError(
            f"field {dotted(path)!r}: {type(value).__name__} is not JSON "
            "(allowed: dict, list, str, int, float, bool, None)"
        )


def copy_json(value: Any) -> Any:
    """A private deep copy of a JSON value (dicts and lists copied, scalars shared), so a
    caller that mutates what it read cannot reach into a cache. On the read path: one
    loop per container, no call per scalar. Only exact dicts and lists are copied: for a
    caller's value, which may nest their subclasses, use `plain_copy`."""
    kind = type(value)
    if kind is dict:
        return _copy_dict(value)
    if kind is list:
        return _copy_list(value)
    return value


def _copy_dict(value: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in value.items():
        kind = type(v)
        out[k] = _copy_dict(v) if kind is dict else _copy_list(v) if kind is list else v
    return out


def _copy_list(value: list[Any]) -> list[Any]:
    out = []
    for v in value:
        kind = type(v)
        out.append(_copy_dict(v) if kind is dict else _copy_list(v) if kind is list else v)
    return out


def plain_copy(value: Any) -> Any:
    """A deep copy of a caller's JSON value in plain dicts, lists and scalars: a nested
    OrderedDict or list subclass is copied too, so mutating it later changes nothing, and
    a str, int or float subclass (a str enum, a tagged string) is stored as the JSON it
    stands for (its own `__str__` is not asked)."""
    if isinstance(value, Mapping):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__pos__(value)
    if isinstance(value, float):
        return float.__pos__(value)
    return value


def check_size(value: object) -> None:
    """ValueError if `value` encodes to more than MAX_VALUE_BYTES of JSON.

    Values that are not JSON at all are left to `validate_value`, which names the field.
    """
    try:
        size = len(_CANONICAL.encode(value))
    except (TypeError, ValueError, OverflowError):
        return
    if size > MAX_VALUE_BYTES:
        raise ValueError(
            f"value is {size:,} bytes as JSON, over the {MAX_VALUE_BYTES:,}-byte limit per key"
        )


def normalize_schema(schema: object) -> dict[Namespace, dict[FieldPath, FieldKind]]:
    """Check a declared schema up front and index it by field path tuples.

    Takes any object (typed so, the compiled build checks nothing before these checks).
    """
    if schema is None:
        return {}
    if not isinstance(schema, Mapping):
        raise SchemaError(
            f"schema must map namespace prefixes (tuple of str) to {{field: kind}}, "
            f"got {type(schema).__name__}"
        )
    out: dict[Namespace, dict[FieldPath, FieldKind]] = {}
    for prefix, fields in schema.items():
        if not isinstance(prefix, tuple) or not all(isinstance(p, str) for p in prefix):
            raise SchemaError(f"schema keys are namespace prefixes (tuple of str), got {prefix!r}")
        if not isinstance(fields, Mapping):
            raise SchemaError(f"schema for {prefix!r} must map field paths to kinds")
        indexed: dict[FieldPath, FieldKind] = {}
        for name, kind in fields.items():
            if kind not in _KINDS:
                raise SchemaError(
                    f"schema {prefix!r} field {name!r}: unknown kind {kind!r}; "
                    f"choose one of {', '.join(sorted(_KINDS))}"
                )
            path = tuple(str(name).split("."))
            indexed[path] = kind
        out[prefix] = indexed
    return out


def declared_kind(
    schema: dict[Namespace, dict[FieldPath, FieldKind]], namespace: Namespace
) -> dict[FieldPath, FieldKind]:
    """The declarations that apply to `namespace`: the longest matching prefix wins."""
    best: dict[FieldPath, FieldKind] = {}
    best_len = -1
    for prefix, fields in schema.items():
        if len(prefix) > best_len and namespace[: len(prefix)] == prefix:
            best, best_len = fields, len(prefix)
    return best


def infer_kind(path: FieldPath, value: Any, declared: dict[FieldPath, FieldKind]) -> FieldKind:
    """The kind a field merges by: declared, else inferred from the value (SPEC 3 table)."""
    kind = declared.get(path)
    if kind is not None:
        _check_declared(path, value, kind)
        return kind
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str) and path and names_text(path[-1]):
        return "text"
    return "register"


def names_text(name: str) -> bool:
    """Whether a string field of this name is text: one of its words is a marker."""
    return any(word.lower() in TEXT_MARKERS for word in _WORDS.findall(name))


def _check_declared(path: FieldPath, value: Any, kind: FieldKind) -> None:
    ok = {
        "map": isinstance(value, dict),
        "set": isinstance(value, list),
        "list": isinstance(value, list),
        "text": isinstance(value, str),
        "counter": isinstance(value, int | float) and not isinstance(value, bool),
        "register": True,
    }[kind]
    if not ok:
        raise SchemaError(
            f"field {dotted(path)!r} is declared {kind} but got {type(value).__name__} {value!r}"
        )
