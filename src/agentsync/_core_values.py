"""Materialization and conflicts: `Values`, which a `Core` owns, builds a key's value from
its live entries and finds the fields whose live presences disagree (contenders, one
`Escalation` per field); with the core's JSON equality (`_same`), deep copies of stored
values and lookups of a field path in a value.

Contract: a value and its conflicts depend only on the entries alive here and the text
in Loro, so replicas holding the same ops read the same value and the same conflicts.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final, Literal

from ._core_keys import _ABSENT, _Absent, _Entry, _KeyState, _stamp_of
from ._core_layout import _COPY, _PACK, _PRESENCE, _op_sort_key
from ._core_text import TextFields
from ._core_views import _alive, _view
from ._types import JSON, Contender, Escalation
from ._values import FieldPath, canonical, dotted

_SCALARS: Final = frozenset({str, int, float, bool, type(None)})

ConflictValue = Literal["placeholder", "provisional"]
"""What a conflicted field reads back as until resolved."""


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


def _provisional(contenders: tuple[Contender, ...]) -> JSON:
    """The contender's value a conflict reads as provisionally: the same on every replica."""
    return max(contenders, key=lambda c: (canonical(c.value), c.op_id)).value


def _exact(increment: Any) -> Fraction:
    """An increment as stored (`_counter_increment`) as an exact number."""
    if type(increment) is list:
        return Fraction(increment[0], increment[1])
    return Fraction(increment)


def _counter_increment(target: int | float, seen: list[_Entry]) -> Any:
    """What a write of `target` to a counter whose increments the writer saw were `seen`
    adds, exactly (None: nothing): an int, a float when the target is one and the
    increment is exactly a float, else [numerator, denominator, target is a float].
    Summed as floats, 1e300 then 3 read 0 and 0.5 then 2**53 + 1 read 2**53."""
    if type(target) is int and all(type(e.value) is int for e in seen):
        delta: Any = target - sum(e.value for e in seen)
        return delta or None
    exact = Fraction(target) - sum((_exact(e.value) for e in seen), Fraction(0))
    is_float = type(target) is float
    if not exact:
        # the same number: an increment only to say it is now a float (2 -> 2.0) or not
        return None if is_float == _reads_float(seen) else (0.0 if is_float else 0)
    if is_float:
        try:
            as_float = float(exact)
        except OverflowError:
            as_float = math.inf
        if as_float == exact:
            return as_float
    elif exact.denominator == 1:
        return int(exact)
    return [exact.numerator, exact.denominator, is_float]


def _reads_float(entries: list[_Entry]) -> bool:
    """Whether the latest of these increments (by op) was written as a float."""
    if not entries:
        return False
    latest = max(entries, key=lambda e: _op_sort_key(e.op)).value
    return type(latest) is float or (type(latest) is list and latest[2] is True)


def _counter_value(entries: list[_Entry]) -> int | float:
    """A counter's value: the exact sum of its increments, an int unless it is not a
    whole number or its latest write (by op) set a float."""
    if all(type(e.value) is int for e in entries):
        whole: int = sum(e.value for e in entries)
        return whole
    total = sum((_exact(e.value) for e in entries), Fraction(0))
    if total.denominator == 1 and not _reads_float(entries):
        return int(total)
    try:
        return float(total)
    except OverflowError:  # concurrent increments past float range: the nearest JSON
        return int(total) if total.denominator == 1 else math.copysign(sys.float_info.max, total)


if TYPE_CHECKING:  # Core and _Ops import this module
    from ._core import Core
    from ._core_write import _Ops


class Values:
    """The values and open conflicts of one `Core`'s keys: a key's value built from its
    live entries, the contenders of a field whose live presences disagree, and what a
    conflicted field reads back as (`conflict_value`).

    Reads the live view through its core and text fields through `texts`; writes only
    the derived parts of a `_KeyState` (value, live view, conflicts).
    """

    def __init__(self, core: Core, texts: TextFields, conflict_value: ConflictValue) -> None:
        self._core = core
        self._texts = texts
        self.conflict_value: ConflictValue = conflict_value

    # -- materialization and conflicts ------------------------------------------------
    def materialize(self, state: _KeyState) -> dict[str, JSON] | None:
        if state.value_valid:
            return state.value
        self.refresh_conflicts(state)
        return state.value

    def refresh_conflicts(self, state: _KeyState) -> list[Escalation]:
        """Recompute the value and the open conflicts of a key; return the new conflicts."""
        conflicts: dict[str, Escalation] = {}
        view = _view(state, _alive, self._core._schema)
        state.live_view = view
        children: dict[FieldPath, list[str]] = {}
        for path in view:
            if path:
                children.setdefault(path[:-1], []).append(path[-1])
        state.live_children = children
        state.live_exact = all(e.eid for entries in view.values() for e in entries)
        value = self.build(state, (), view, children, conflicts)
        state.value = value if isinstance(value, dict) else None
        state.value_valid = True
        fresh = [esc for cid, esc in conflicts.items() if cid not in state.conflicts]
        state.conflicts = conflicts
        return fresh

    def refresh_written(self, state: _KeyState, ops: _Ops, texts: dict[FieldPath, str]) -> bool:
        """After a write that had seen everything of the key: update the value and the
        live view in place for just the fields it changed, as `refresh_conflicts` would
        compute them. False (nothing settled; rebuild) unless the key had no open conflict,
        its view held no synthetic presence (those are attributed to the latest content
        beneath them) and the write kept its shape: no field appeared or vanished, and
        each field whose presence changed now has exactly one (so no conflict arose).
        `texts`: the texts it edited, as they read after it (already read from Loro).
        """
        value = state.value
        if value is None or state.conflicts or not state.live_exact:
            return False
        view = state.live_view
        touched: dict[FieldPath, bool] = {}  # path -> whether its presence changed
        for entry in ops.inserted:
            if entry.kind in _PRESENCE:
                touched[entry.path] = True
            else:
                touched.setdefault(entry.path, False)
        for entry in ops.removed:
            if entry.kind in _PRESENCE:
                touched[entry.path] = True
            else:
                touched.setdefault(entry.path, False)
        for path in ops.text_paths:
            touched.setdefault(path, False)
        regs = state.regs
        for path, presence in touched.items():
            if path not in view:
                return False  # a new field
            if presence:
                live = regs.get(path)
                if live is None or len(live) != 1:
                    return False  # a field gone, or more than one presence
                view[path] = list(live.values())
        children = state.live_children
        conflicts: dict[str, Escalation] = {}
        for path in touched:
            entries = view[path]
            kind = entries[0].kind
            built: JSON | _Absent
            if len(entries) == 1 and kind != "m":  # a leaf as `build` reads it
                if kind == "r":
                    built = entries[0].value
                elif kind == "t" and path in texts:
                    built = texts[path]
                else:
                    built = self.content(state, path, kind)
            else:
                built = self.build(state, path, view, children, conflicts)
                if conflicts or isinstance(built, _Absent):
                    return False
            if not path:
                if not isinstance(built, dict):
                    return False
                value = state.value = built
                continue
            parent: Any = value
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = built
        state.value_valid = True
        return True

    def build(
        self,
        state: _KeyState,
        path: FieldPath,
        view: dict[FieldPath, list[_Entry]],
        children: dict[FieldPath, list[str]],
        conflicts: dict[str, Escalation],
        *,
        provisional: bool = False,
    ) -> JSON | _Absent:
        """The value at `path` of a view; each conflict found is added to `conflicts` and
        reads per `conflict_value` (`provisional`: as the provisional value)."""
        entries = view.get(path)
        if not entries:
            return _ABSENT
        contenders = self.contenders(state, path, entries, view, children)
        if contenders is None:
            kind = entries[0].kind
            if kind == "m":
                out: dict[str, JSON] = {}
                for child in sorted(children.get(path, ())):
                    v = self.build(
                        state, (*path, child), view, children, conflicts, provisional=provisional
                    )
                    if not isinstance(v, _Absent):
                        out[child] = v
                return out
            if kind != "r":
                return self.content(state, path, kind)
            only: JSON = entries[0].value
            return only
        esc = Escalation(state.namespace, state.key, dotted(path), contenders, path)
        conflicts[esc.id] = esc
        if provisional:
            return _provisional(contenders)
        return self.shown(path, contenders)

    def contenders(
        self,
        state: _KeyState,
        path: FieldPath,
        entries: list[_Entry],
        view: dict[FieldPath, list[_Entry]] | None = None,
        children: dict[FieldPath, list[str]] | None = None,
    ) -> tuple[Contender, ...] | None:
        """The contenders if these presence entries of one field disagree, else None."""
        if len(entries) < 2:
            return None
        same_kind = len({e.kind for e in entries}) == 1
        if same_kind and entries[0].kind == "t":
            return self._texts.contenders(state, path, entries)
        if same_kind and (
            entries[0].kind != "r" or len({canonical(e.value) for e in entries}) == 1
        ):
            return None
        if view is None or children is None:
            view = _view(state, _alive, self._core._schema)
            children = {}
            for p in view:
                if p:
                    children.setdefault(p[:-1], []).append(p[-1])

        def map_as(e: _Entry, writer: _Entry) -> JSON:
            """The map as it reads now without the contest at this path, each contest
            beneath it decided for `writer` where it took part (else provisionally): a
            contender's value is one to choose, never a placeholder."""
            inner = {**view, path: [e]}
            for beneath in contested:
                mine = [x for x in view[beneath] if x.op == writer.op]
                if mine:
                    inner[beneath] = mine
            built = self.build(state, path, inner, children, {}, provisional=True)
            return None if isinstance(built, _Absent) else built

        def shown(e: _Entry) -> JSON:
            if e.kind == "r":
                return e.value  # type: ignore[no-any-return]
            if e.kind == "t":
                return self._texts.written(state, path, e)
            return self.content(state, path, e.kind)

        depth = len(path)
        # the contests beneath a map contender (only a map has fields beneath it)
        contested = (
            [
                p
                for p, found in view.items()
                if len(p) > depth and p[:depth] == path and len(found) > 1
            ]
            if any(e.kind == "m" for e in entries)
            else []
        )
        out: list[Contender] = []
        for e in sorted(entries, key=lambda e: _op_sort_key(e.op)):
            if e.kind != "m":
                out.append(Contender(e.agent, e.op, shown(e)))
            elif e.eid or not contested:
                out.append(Contender(e.agent, e.op, map_as(e, e)))
            else:
                # a map no writer asserted, implied by what writers put beneath it while
                # it was contested: each writer of a contest beneath is a contender
                writers = {x.op: x for p in contested for x in view[p] if x.eid}
                for writer in sorted(writers.values(), key=lambda x: _op_sort_key(x.op)):
                    out.append(Contender(writer.agent, writer.op, map_as(e, writer)))
        return tuple(out)

    def shown(self, path: FieldPath, contenders: tuple[Contender, ...]) -> JSON:
        """What a conflicted field reads back as: identical on every replica."""
        if self.conflict_value == "provisional":
            return _provisional(contenders)
        return f"<escalated:{dotted(path)}>"

    def content(self, state: _KeyState, path: FieldPath, kind: str) -> JSON:
        if kind in ("s", "l"):
            tags = sorted(state.tags.get(path, {}).values(), key=_stamp_of)
            if kind == "l":
                return [e.value for e in tags]
            seen: dict[str, JSON] = {}
            for e in tags:
                seen.setdefault(e.elem, e.value)
            return list(seen.values())
        if kind == "t":
            return self._texts.now(self._texts.track(state, path))
        if kind == "c":
            return _counter_value(list(state.deltas.get(path, {}).values()))
        raise AssertionError(f"unknown kind code {kind!r}")
