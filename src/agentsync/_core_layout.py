"""The stored layout of the core and its codecs: everything a replica writes into Loro or
reads back from it, and nothing about what a replica does with it.

Contract: `FORMAT` is the layout's version number, first in every write record; a record
of another version is refused (`CorruptUpdateError`), never guessed at. Every decoder here
either returns a value of the documented shape or raises `CorruptUpdateError` (or
`ValueError`/`TypeError` for the callers that translate them). `loro` is the one handle on
the Loro API for the `_core*` modules, and `_is_loro_failure` is how they recognise its
bare `BaseException`s (cancellation is never one).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Final

import loro as _loro_module
import msgspec

from ._errors import CorruptUpdateError
from ._types import FieldKind, WriteAction
from ._values import (
    FieldPath,
)

# Loro's type stubs describe values as a union its runtime does not honour (values come
# back as plain Python objects); the looseness is confined to this one module.
loro: Any = _loro_module


FORMAT: Final = 5
"""The stored layout's version number, first in every write record."""


# Between the parts of an entry id. The parts are JSON texts (which escape every control
# character), op ids and indices (digits), so it never occurs inside one; a record stores
# it as two bytes of JSON (`\n`), where most control characters take six (`\u001f`).
_SEP: Final = "\n"


_HASH_SEP: Final = "\x1f"  # key ids and text names hash namespace labels and keys (any text)


_KIND_CODE: Final[dict[FieldKind, str]] = {
    "map": "m",
    "set": "s",
    "list": "l",
    "text": "t",
    "counter": "c",
    "register": "r",
}


_CODE_KIND: Final[dict[str, FieldKind]] = {v: k for k, v in _KIND_CODE.items()}


_VERSION_ENCODER: Final = msgspec.msgpack.Encoder()


_PACK: Final = msgspec.json.Encoder()


_UNPACK: Final = msgspec.json.Decoder(list[Any])


_COPY: Final = msgspec.json.Decoder(dict[str, Any])


_VERSION_DECODER: Final = msgspec.msgpack.Decoder(
    list[
        tuple[
            Annotated[int, msgspec.Meta(ge=0)],  # peer (msgpack ints stop at 2**64 - 1)
            Annotated[int, msgspec.Meta(ge=0, lt=2**31)],  # end counter
        ]
    ]
)


# the highest seq a write record carries: a writer after a record at the cap stays there
# (readable everywhere; among such records the op decides), so a forged record of the
# highest seq cannot make later writes unreadable
_SEQ_MAX: Final = 2**63 - 1


_COUNTER_OF: Final[dict[WriteAction, str]] = {
    "put": "writes",
    "delete": "deletes",
    "resolve": "resolutions",
}


def _is_loro_failure(exc: BaseException) -> bool:
    """Loro raises bare BaseException (and pyo3 PanicException) on bad input.

    Cancellation (asyncio.CancelledError, trio.Cancelled), KeyboardInterrupt and SystemExit
    are BaseException *subclasses* with their own types, so they never match here.
    """
    return (
        type(exc) is BaseException
        or type(exc).__name__ == "PanicException"
        or (isinstance(exc, Exception))
    )


def _hash(*parts: str) -> str:
    return hashlib.blake2b(_HASH_SEP.join(parts).encode(), digest_size=10).hexdigest()


def _op_sort_key(op: str) -> tuple[int, int]:
    peer, _, counter = op.partition(":")
    return (int(counter), int(peer))


_PRESENCE: Final = frozenset(_CODE_KIND)


_TAG: Final = "*"  # kind code of a set/list element tag


_DELTA: Final = "+"  # kind code of a counter increment


def _text_ops(scalar: Any) -> tuple[int, int, int] | None:
    """The ops a text presence names (`Core._write_text`): (peer, start, end) counters;
    None for a presence that names none, or names them in a shape no writer makes."""
    if (
        type(scalar) is list
        and len(scalar) == 3
        and all(type(n) is int for n in scalar)
        and 0 <= scalar[0] < 2**64
        and 0 <= scalar[1] < scalar[2] <= 2**31
    ):
        return scalar[0], scalar[1], scalar[2]
    return None


def _pack(fields: list[Any]) -> str:
    """Entry payloads are stored as compact JSON text: Loro stores a string far more
    cheaply than a list value."""
    return _PACK.encode(fields).decode()


def _unpack(payload: Any) -> list[Any]:
    try:
        fields = _UNPACK.decode(payload)
    except (msgspec.DecodeError, TypeError) as exc:
        raise CorruptUpdateError(f"unreadable entry payload {payload!r}") from exc
    return fields


@functools.lru_cache(maxsize=4096)
def _parse_path(pj: str) -> FieldPath:
    """A field path from its JSON text; a key has few paths and many entries per path."""
    path = json.loads(pj)
    if type(path) is not list or not all(type(p) is str for p in path):
        raise ValueError(f"not a field path: {pj!r:.80}")
    return tuple(path)


# a record's (seq, created, updated, TTL in minutes or None)
_Stamp = tuple[int, float, float, float | None]


def _read_record(record: list[Any], op: str, born: dict[str, Any], killed: set[str]) -> _Stamp:
    """Collect the entries write `op`'s record inserts (eid -> payload, parsed later, if
    they are still live) and the ids it kills, and return its (seq, created, updated)
    timestamps and the TTL in minutes it gave the item (None: it does not expire). Its
    last field, the text ops of edits no presence of it names (a text cleared), is
    checked but not read: it is kept for a check of which changes records account for.
    CorruptUpdateError, collecting nothing, if the record is not a write record of this
    layout (`FORMAT`).

    A record stores what it inserts without the write's op and agent (both are the
    record's): each entry as its id up to the op (`_SEP` + op ends every entry id) and its
    payload's other items, flat (a presence: short id, kind, scalar; an element tag: short
    id, position; an increment: short id, delta). Read back here as the full id and
    payload; a short id holding a separator where its kind has none (an op of its own)
    refuses the record, so an entry can only ever be the record's op's. Kills are ids of
    other writes' entries, flat and grouped by op: the op, then the short ids of its
    entries, each as text or as the position in `inserts` of an equal short id (a write
    that replaces a field ends the entry of the same short id it inserts). A null
    creation time is the write's own time (a key's first write); a text presence's ops
    of two counters are of the op's own peer (`_stored_text_ops`)."""
    if type(record) is not list or not record or type(record[0]) is not int:
        raise CorruptUpdateError(f"unreadable write record {record!r:.200}")
    if record[0] != FORMAT:
        raise CorruptUpdateError(
            f"write record of layout version {record[0]}; this agentsync reads version {FORMAT}"
        )
    if len(record) != 11:
        raise CorruptUpdateError(f"unreadable write record {record!r:.200}")
    agent, action, timestamp, fields, inserts, kills, created, seq, ttl, cleared = record[1:]
    if created is None:
        created = timestamp
    if (
        type(agent) is not str
        or type(action) is not str
        or action not in _COUNTER_OF
        or not _is_time(timestamp)
        or type(fields) is not list
        or type(inserts) is not list
        or type(kills) is not list
        or not _is_time(created)
        or type(seq) is not int
        or not 0 < seq <= _SEQ_MAX
        or not (ttl is None or _is_time(ttl))
        or type(cleared) is not list
        or len(cleared) % 3
        or not all(_text_ops(cleared[i : i + 3]) is not None for i in range(0, len(cleared), 3))
    ):
        raise CorruptUpdateError(f"unreadable write record {record!r:.200}")
    for name in fields:
        if type(name) is not str:
            raise CorruptUpdateError(f"unreadable write record {record!r:.200}")
    own = _SEP + op
    entries: list[tuple[str, list[Any]]] = []
    i, end = 0, len(inserts)
    while i < end:
        short = inserts[i]
        code = short[:1] if type(short) is str else ""
        if code == "r" and i + 2 < end and _SEP not in short:
            kind, scalar = inserts[i + 1], inserts[i + 2]
            if kind == "t" and type(scalar) is list and len(scalar) == 2:
                peer = op.partition(":")[0]
                if not (peer.isascii() and peer.isdigit()):  # (callers pass op ids)
                    raise CorruptUpdateError(f"write record under {op!r:.80}")
                scalar = [int(peer), *scalar]  # (`_stored_text_ops`)
            entries.append((short + own, [kind, scalar, agent]))
            i += 3
        elif code == "s" and i + 1 < end and short.count(_SEP) == 2:
            entries.append((short + own, [agent, inserts[i + 1]]))
            i += 2
        elif code == "c" and i + 1 < end and _SEP not in short:
            entries.append((short + own, [inserts[i + 1], agent]))
            i += 2
        else:
            raise CorruptUpdateError(f"write record {op} holds entry {short!r:.80}")
    ended: list[str] = []
    of = ""  # _SEP + the op whose entries follow
    for item in kills:
        if type(item) is int and of and 0 <= item < end and type(inserts[item]) is str:
            ended.append(inserts[item] + of)
            continue
        if type(item) is not str:
            raise CorruptUpdateError(f"unreadable write record {record!r:.200}")
        if item[:1].isdigit():
            if not _is_op(item):
                raise CorruptUpdateError(f"write record {op} kills entries of {item!r:.80}")
            of = _SEP + item
        elif of:
            ended.append(item + of)
        else:
            raise CorruptUpdateError(f"write record {op} kills {item!r:.80} of no op")
    born.update(entries)
    killed.update(ended)
    return (seq, float(created), float(timestamp), None if ttl is None else float(ttl))


def _stored_text_ops(ops: list[int], peer: int) -> list[int]:
    """A text presence's ops (`_text_ops`) as a record stores them: without the peer when
    it is the writer's (an edit of the latest version, the common case; a peer id is
    some twenty digits), which `_read_record` puts back from the record's op."""
    return ops[1:] if ops[0] == peer else ops


def _short_ids_at(inserts: list[Any]) -> dict[str, int]:
    """Where each short id stands in a record's stored `inserts`."""
    at: dict[str, int] = {}
    i, end = 0, len(inserts)
    while i < end:
        short = inserts[i]
        at[short] = i
        i += 3 if short[0] == "r" else 2
    return at


def _stored_record(
    agent: str,
    action: WriteAction,
    now: float,
    fields: list[str],
    inserts: list[Any],
    kills: dict[str, list[str]],
    created: float,
    seq: int,
    ttl: float | None,
    cleared: list[int],
) -> str:
    """A write's record as `_read_record` reads it: `inserts` already in its stored shape,
    `kills` the short ids of the entries it ends per op."""
    ended: list[Any] = []
    if kills:
        at = _short_ids_at(inserts)
        for of, shorts in kills.items():
            ended.append(of)
            for short in shorts:
                ended.append(at.get(short, short))
    # (-0.0 == 0.0: only a time of the same sign reads back as the write's own)
    own_time = created == now and math.copysign(1.0, created) == math.copysign(1.0, now)
    return _pack(
        [
            FORMAT,
            agent,
            action,
            now,
            fields,
            inserts,
            ended,
            None if own_time else created,
            seq,
            ttl,
            cleared,
        ]
    )


@functools.lru_cache(maxsize=4096)
def _record_entries(
    op: str, packed: Any
) -> tuple[tuple[tuple[str, Any], ...], tuple[str, ...], _Stamp]:
    """What write `op`'s stored record inserts and kills, and its timestamps, decoded and
    checked once per process for incremental imports (a simulation's replicas all read
    every record; a record never changes)."""
    born: dict[str, Any] = {}
    killed: set[str] = set()
    stamp = _read_record(_unpack(packed), op, born, killed)
    return tuple(born.items()), tuple(killed), stamp


def _is_op(op: object) -> bool:
    """An op id as writers make it: `peer:counter` in canonical decimal (no leading zeros;
    a peer below 2**64, a counter below 2**31, as in Loro). Only one spelling per op, so
    two records never rank alike, and never a number too long for int()."""
    if type(op) is not str or not op.isascii():
        return False
    peer, sep, counter = op.partition(":")
    return bool(sep) and _is_decimal(peer, _PEER_BOUND) and _is_decimal(counter, _COUNTER_BOUND)


_PEER_BOUND: Final = str(2**64)


_COUNTER_BOUND: Final = str(2**31)


def _is_decimal(digits: str, bound: str) -> bool:
    """`digits` is a number below `bound` (decimal text) as str(int) writes it: digit
    strings of one length compare as their numbers do."""
    if not digits.isdigit() or (digits[0] == "0" and len(digits) > 1):
        return False
    return len(digits) < len(bound) or (len(digits) == len(bound) and digits < bound)


def _is_time(x: object) -> bool:
    """Seconds as a record stores them: a finite float, or an int that a float holds
    (a record is data from a peer: an int clock there reads as the same seconds)."""
    if type(x) is float:
        return math.isfinite(x)
    return type(x) is int and -(2**1023) < x < 2**1023


def _read_fields(eid: str, payload: tuple[Any, ...]) -> tuple[Any, ...]:
    """The immutable fields of an entry, parsed once per process: a simulation holds
    every write once per replica (a thousand of them), and so do many stores in one
    process. Strings are interned for the same reason.

    An entry id is its kind code, then its parts joined by `_SEP`, its op last: a
    presence `r` path, op; an element tag `s` path, element, index, op; an increment `c`
    path, op."""
    eid = _intern(eid)
    tag = eid[:1]
    parts = eid[1:].split(_SEP)
    if len(parts) != (4 if tag == "s" else 2) or not _is_op(parts[-1]):
        raise ValueError(f"not an entry id: {eid!r:.80}")
    path = _parse_path(parts[0])
    op = _intern(parts[-1])
    values: Sequence[Any] = payload
    if tag == "r":
        kind, scalar, agent = values
        if kind not in _CODE_KIND or type(agent) is not str:
            raise ValueError(f"presence of kind {kind!r} by {agent!r}")
        return (eid, path, op, _intern(agent), str(kind), scalar)
    if tag == "s":
        agent, pos = values
        if type(agent) is not str or type(pos) is not str:
            raise ValueError(f"element tag by {agent!r} at {pos!r}")
        elem, idx = _intern(parts[1]), int(parts[2])
        stamp = (_intern(pos), op, idx)
        return (eid, path, op, _intern(agent), _TAG, _parse_element(elem), elem, stamp)
    if tag == "c":
        delta, agent = values
        if not _is_increment(delta) or type(agent) is not str:
            raise ValueError(f"increment {delta!r} by {agent!r}")
        return (eid, path, op, _intern(agent), _DELTA, delta)
    raise CorruptUpdateError(f"unrecognised entry {eid!r}")


def _is_increment(delta: Any) -> bool:
    """An int, a finite float, or [numerator, denominator > 1, is float] (an exact
    increment no float holds: `_counter_increment`)."""
    kind = type(delta)
    if kind is int:
        return True
    if kind is float:
        return math.isfinite(delta)
    return (
        kind is list
        and len(delta) == 3
        and type(delta[0]) is int
        and type(delta[1]) is int
        and delta[1] > 1
        and type(delta[2]) is bool
    )


# parsed once per process per entry (payloads of registers holding containers are not
# hashable: those are parsed each time)
_parse_fields: Final = functools.lru_cache(maxsize=1 << 16)(_read_fields)


_intern: Final = sys.intern


_ELEMENT: Final = msgspec.json.Decoder()


def _parse_element(elem: str) -> Any:
    try:
        return _ELEMENT.decode(elem)
    except msgspec.DecodeError:
        return json.loads(elem)  # what msgspec refuses (e.g. 1e400), json reads


def _decode_version(since: object) -> Any:
    if not isinstance(since, bytes | bytearray | memoryview):
        raise TypeError(f"version digest must be bytes, got {type(since).__name__}")
    try:
        pairs = _VERSION_DECODER.decode(since)
    except msgspec.DecodeError as exc:
        raise CorruptUpdateError(f"not a version digest ({len(since)} bytes): {exc}") from None
    vv = loro.VersionVector()
    set_end, make_id = vv.set_end, loro.ID
    for peer, end in pairs:  # ranges were checked while decoding
        set_end(make_id(peer, end))
    return vv
