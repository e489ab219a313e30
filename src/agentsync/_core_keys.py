"""Per-key state as one replica caches it: entries (`_Entry`), text fields
(`_TextTrack`), the key's registers, tags, increments and graveyard (`_KeyState`), and a
quiet key kept as its value only (`_ColdKey`).

Contract: an `_Entry`'s stored fields come from its write record (`_parse_entry`) and never
change; its epochs (`born`, `died`) and `killers` are this replica's own. Loading a key
from Loro, burying superseded entries and evicting keys are `KeyStates` (`_core_states`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from mypy_extensions import mypyc_attr

from ._core_layout import _DELTA, _TAG, _parse_element, _parse_fields, _read_fields
from ._errors import CorruptUpdateError
from ._types import JSON, Escalation, Namespace
from ._values import (
    FieldPath,
)

# a grave (dead entries of one path) is trimmed every 8 deaths up to this size, then
# each time its size doubles: trims are what every live view has seen die, never more
_GRAVE_BATCHES_UP_TO: Final = 256


# a key's (created, updated) seconds and its TTL in minutes (None: it does not expire)
_Meta = tuple[float, float, float | None]


@mypyc_attr(acyclic=True)  # compiled: untracked by the cyclic collector
class _Entry:
    """One stored entry as cached here. A replica holds one per write of every replica (a
    million in a 1000-replica simulation): slotted, compared by identity, and compiled as
    a native class that the cyclic collector never visits (it refers only to strings,
    tuples and JSON values)."""

    __slots__ = (
        "agent",
        "born",
        "died",
        "eid",
        "elem",
        "killers",
        "kind",
        "op",
        "path",
        "stamp",
        "value",
    )

    eid: str  # key in the Loro map
    path: FieldPath
    op: str
    agent: str
    kind: str  # kind code for presence entries; "s"/"c" for tags and increments
    value: Any  # register scalar, set element, or counter delta
    elem: str  # canonical JSON of a set element
    stamp: tuple[str, str, int]  # order of a set element: (position, op, index)
    born: int
    died: int | None
    # ops that superseded it: the one that removed it here, and any later write that had
    # seen it alive and so superseded it too (a writer never sees again what it replaced).
    # A tuple, not a list: most entries never get one, and there are many entries.
    killers: tuple[str, ...]

    def __init__(
        self,
        eid: str,
        path: FieldPath,
        op: str,
        agent: str,
        kind: str,
        value: Any,
        elem: str = "",
        stamp: tuple[str, str, int] = ("", "", 0),
    ) -> None:
        self.eid = eid
        self.path = path
        self.op = op
        self.agent = agent
        self.kind = kind
        self.value = value
        self.elem = elem
        self.stamp = stamp
        self.born = 0
        self.died = None
        self.killers = ()


@dataclass(slots=True, eq=False)
class _TextTrack:
    name: str
    handle: Any  # the text in Loro, looked up once (as a key's maps are)
    # (epoch, op, frontiers, text, made) after each change: the base for an older view;
    # `made` is the epoch it was recorded at (an own-view snapshot's epoch is _NEVER).
    # Kept while a live writer's view may be that old (never capped: a writer diffed
    # against a later version would delete what others wrote meanwhile); their texts
    # are held up to `_HELD_TEXT_CHARS`, beyond that the oldest are read back at their
    # frontiers when needed (Loro's checkout of a text with concurrent history costs
    # time linear in that history)
    snapshots: list[tuple[int, str, Any, str | None, int]] = field(default_factory=list)
    held: int = 0  # characters of the texts held in `snapshots`
    release_at: int = 16  # the length at which the next release is tried (doubles)
    # the text as it read when Loro's state was last changed other than by this text's
    # own local edits (`Core._loro_changes` then), so a read need not ask Loro again
    known: str | None = None
    known_at: int = -1


@dataclass(slots=True, eq=False)
class _KeyState:
    kid: str
    namespace: Namespace
    key: str
    regs: dict[FieldPath, dict[str, _Entry]] = field(default_factory=dict)
    tags: dict[FieldPath, dict[str, _Entry]] = field(default_factory=dict)
    deltas: dict[FieldPath, dict[str, _Entry]] = field(default_factory=dict)
    graveyard: dict[FieldPath, list[_Entry]] = field(default_factory=dict)
    texts: dict[FieldPath, _TextTrack] = field(default_factory=dict)
    # (created, updated, TTL in minutes or None) of the key's latest record
    meta: _Meta | None = None
    # (seq, peer, counter) of the record the timestamps come from (None: no record yet)
    meta_rank: tuple[int, int, int] | None = None
    history_ops: set[str] = field(default_factory=set)
    conflicts: dict[str, Escalation] = field(default_factory=dict)
    value: dict[str, JSON] | None = None
    value_valid: bool = False
    changed_epoch: int = 0  # last epoch at which anything of this key changed here
    live_view: dict[FieldPath, list[_Entry]] = field(default_factory=dict)
    # child names per path in `live_view`, and whether every entry in it is a stored one
    # (none synthetic): what lets a write that saw everything update the value in place
    live_children: dict[FieldPath, list[str]] = field(default_factory=dict)
    live_exact: bool = False
    history: Any = None  # its history map in Loro, looked up once
    # records and entries skipped as unreadable here (each reported once)
    skipped: set[str] = field(default_factory=set)
    listed: bool = False  # known to be in Loro's directory of keys


class _ColdKey:
    """A key whose state was dropped to save memory: what a read returns, and what
    reading its state back from Loro needs (`KeyStates.restore`). Only quiet keys go cold:
    no open conflict, nothing a live writer's older view needs (every live turn has seen
    all of it), no text field, nothing unreadable."""

    __slots__ = ("changed_epoch", "key", "meta", "namespace", "value", "version")

    def __init__(
        self,
        namespace: Namespace,
        key: str,
        value: dict[str, JSON] | None,
        meta: _Meta | None,
        changed_epoch: int,
        version: Any,
    ) -> None:
        self.namespace = namespace
        self.key = key
        self.value = value
        self.meta = meta
        self.changed_epoch = changed_epoch
        self.version = version  # Loro's version vector when it went cold (shared)


Visible = Callable[[_Entry], bool]


class _Absent:
    __slots__ = ()


_ABSENT: Final = _Absent()


_stamp_of: Final = operator.attrgetter("stamp")


_died_of: Final = operator.attrgetter("died")


def _bucket(state: _KeyState, entry: _Entry) -> dict[FieldPath, dict[str, _Entry]]:
    if entry.kind == _TAG:
        return state.tags
    if entry.kind == _DELTA:
        return state.deltas
    return state.regs


def _parse_entry(eid: str, payload: Any) -> _Entry:
    """An entry as read from its write record (its epochs and killers are this replica's
    own)."""
    if type(payload) is not list:
        raise CorruptUpdateError(f"unreadable entry payload {payload!r:.200}")
    key: tuple[Any, ...] = tuple(payload)
    try:
        try:
            hash(key)
        except TypeError:  # a declared register holding a dict or list: not cached
            fields = _read_fields(eid, key)
        else:
            fields = _parse_fields(eid, key)
    except (TypeError, ValueError, IndexError, KeyError) as exc:  # JSON of the wrong shape
        raise CorruptUpdateError(f"unreadable entry {eid!r:.200}: {payload!r:.200}") from exc
    entry = _Entry(*fields)
    if fields[4] == _TAG and isinstance(entry.value, dict | list):
        entry.value = _parse_element(entry.elem)  # a container is never shared
    return entry
