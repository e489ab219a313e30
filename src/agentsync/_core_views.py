"""Turns and what each writer saw: a `Turn` remembers the epoch at which its writer began,
its own ops and its reads; `_view_epoch` says up to which local epoch it has seen a key,
and `_view` gives the fields of a key a writer saw (`_alive`: everything live here).

Contract: a view is decided locally by epochs (an entry's birth and death here against the
writer's view epoch); a field with live content but no live presence is in every view
that sees the content (add-wins), with a synthetic presence (`_synthetic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from mypy_extensions import mypyc_attr

from ._core_keys import Visible, _bucket, _Entry, _KeyState
from ._core_layout import _PRESENCE, _op_sort_key
from ._types import FieldKind, Namespace
from ._values import FieldPath, declared_kind

_NEVER: Final = 2**62  # an epoch no turn reaches
# the presence kinds whose content is held in tags (elements) and in deltas (increments)
_ELEMENT_CODES: Final = frozenset({"l", "s"})
_COUNTER_CODES: Final = frozenset({"c"})

# a schema as `normalize_schema` returns it: declared kinds per namespace, by field path
_Declared = dict[Namespace, dict[FieldPath, FieldKind]]


@mypyc_attr(native_class=False)  # turns are tracked in a WeakSet
@dataclass(slots=True, weakref_slot=True, eq=False)
class Turn:
    """What one writer has observed: everything committed when the turn began, its own
    writes since, and keys it read during the turn (reads count as seen)."""

    epoch: int
    own_ops: set[str] = field(default_factory=set)
    read_epochs: dict[tuple[Namespace, str], int] = field(default_factory=dict)


def _view_epoch(turn: Turn, ident: tuple[Namespace, str]) -> int:
    """The epoch up to which `turn` has seen the key: its start, or its last read of the
    key (or its own write that saw all of it), whichever is later."""
    return max(turn.epoch, turn.read_epochs.get(ident, -1))


def _alive(entry: _Entry) -> bool:
    return entry.died is None


def _synthetic(path: FieldPath, code: str, content: list[_Entry]) -> _Entry:
    """A presence implied by live content, attributed to the latest op behind it."""
    latest = max(content, key=lambda e: _op_sort_key(e.op))
    return _Entry("", path, latest.op, latest.agent, code, None)


def _view(state: _KeyState, visible: Visible, schema: _Declared) -> dict[FieldPath, list[_Entry]]:
    """The fields a writer had seen, by path: their presence/register entries.

    A field whose presence entries are gone but whose content is still live (an element
    added concurrently with the field's removal, a child of a removed map) is present
    too (add-wins): it gets a synthetic entry of the kind its content implies, so
    writes only assert presence when a field is new to their writer. Content live beside
    presences of another kind (an element added concurrently with a change of the
    field's kind) gets one too: the field's kinds then disagree, a conflict.
    """
    view: dict[FieldPath, list[_Entry]] = {}
    for path, entries in state.regs.items():
        if visible is _alive:  # without a call per entry
            seen = [e for e in entries.values() if e.died is None]
        else:
            seen = [e for e in entries.values() if visible(e)]
        if seen:
            view[path] = seen
    if visible is not _alive:
        for path, grave in state.graveyard.items():
            for e in grave:
                if e.kind in _PRESENCE and visible(e):
                    view.setdefault(path, []).append(e)
    for bucket, codes in ((state.tags, _ELEMENT_CODES), (state.deltas, _COUNTER_CODES)):
        for path in bucket:
            present = view.get(path)
            if present is not None and any(e.kind in codes for e in present):
                continue
            # live content no presence of its kind covers: the field was removed, or
            # changed kind, concurrently with the content's writer (a type conflict)
            content = _seen_in(bucket, state, path, visible)
            if content:
                code = "c" if bucket is state.deltas else _set_code(schema, state, path)
                view.setdefault(path, []).append(_synthetic(path, code, content))
    for path in sorted(view, key=len, reverse=True):
        for depth in range(len(path) - 1, -1, -1):
            ancestor = path[:depth]
            present = view.setdefault(ancestor, [])
            if any(e.kind == "m" for e in present):
                break
            present.append(_synthetic(ancestor, "m", view[path]))
    return view


def _set_code(schema: _Declared, state: _KeyState, path: FieldPath) -> str:
    return "s" if declared_kind(schema, state.namespace).get(path) == "set" else "l"


def _seen_in(
    bucket: dict[FieldPath, dict[str, _Entry]],
    state: _KeyState,
    path: FieldPath,
    visible: Visible,
) -> list[_Entry]:
    if visible is _alive:  # without a call per entry
        return [e for e in bucket.get(path, {}).values() if e.died is None]
    out = [e for e in bucket.get(path, {}).values() if visible(e)]
    out.extend(
        e for e in state.graveyard.get(path, ()) if _bucket(state, e) is bucket and visible(e)
    )
    return out
