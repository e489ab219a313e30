"""Materialization and conflicts: `Values`, which a `Core` owns, builds a key's value from
its live entries and finds the fields whose live presences disagree (contenders, one
`Escalation` per field); with the core's JSON equality (`_same`), deep copies of stored
values and lookups of a field path in a value.

Contract: a value and its conflicts depend only on the entries alive here and the text
in Loro, so replicas holding the same ops read the same value and the same conflicts.
"""

from __future__ import annotations

from typing import Any, Final

from ._core_keys import _ABSENT
from ._core_layout import _COPY, _PACK
from ._types import JSON
from ._values import (
    FieldPath,
    canonical,
)

_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _same(a: Any, b: Any) -> bool:
    """JSON equality: `1 == True` in Python, not in JSON."""
    t = type(a)
    if t is not type(b):
        return False
    if t in _SCALARS:  # the exact types by a set lookup first
        return bool(a == b)
    if t is list:
        if len(a) != len(b):
            return False
        # a list of exact str/int/bool/None (no float: -0.0 == 0.0) compares element by
        # element as its JSON does, without encoding both
        for i in range(len(a)):
            x, y = a[i], b[i]
            tx = type(x)
            if tx is not type(y) or not (tx is str or tx is int or tx is bool or x is None):
                return canonical(a) == canonical(b)
            if x != y:
                return False
        return True
    if isinstance(a, (str, int, float, type(None))):
        return bool(a == b)
    return canonical(a) == canonical(b)


def _copy(value: dict[str, JSON]) -> dict[str, JSON]:
    copied: dict[str, JSON] = _COPY.decode(_PACK.encode(value))
    return copied


def _lookup(value: Any, path: FieldPath) -> Any:
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _tidy_number(x: int | float) -> int | float:  # not `float`: mypyc would coerce ints
    return int(x) if isinstance(x, float) and x.is_integer() and abs(x) < 2**53 else x
