"""`lww`: per-field last-write-wins, the corruption baseline.

Kind-blind on purpose: every top-level field is a register whose latest write (by Lamport
clock, then origin id) wins, whatever the field holds, which is what every LangGraph store
does today one level up. Two agents that append to the same list, edit the same text or
bump the same counter concurrently: one of them silently loses its write.

It is still an honest replica: a put writes each field it carries and tombstones the
fields it dropped, a delete tombstones every field the replica holds, and replicas gossip
deltas. The version digest is a vector clock (origin -> highest contiguous sequence
number) and `export_updates` ships only the ops a peer's clock lacks. Ops that arrive
ahead of a gap wait until the gap is filled, so the digest never overstates what is held.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import msgspec

from ._errors import CorruptUpdateError
from ._strategy import Seen, StrategyCounters
from ._types import JSON, Escalation, Namespace
from ._values import copy_json, plain_copy, validate_value

__all__ = ["LwwReplica"]


class _Op(msgspec.Struct, array_like=True, frozen=True):
    origin: str
    seq: int
    clock: int
    namespace: tuple[str, ...]
    key: str
    agent: str
    fields: dict[str, Any]
    removed: tuple[str, ...]


_OPS_ENCODER: Final = msgspec.msgpack.Encoder()
_OPS_DECODER: Final = msgspec.msgpack.Decoder(list[_Op])
_VERSION_DECODER: Final = msgspec.msgpack.Decoder(dict[str, int])


@dataclass(slots=True)
class _Cell:
    """The current winner of one field: `value` is `_GONE` for a tombstone."""

    stamp: tuple[int, str]
    value: Any
    agent: str


_GONE: Final = object()


@dataclass(frozen=True, slots=True)
class _LwwSeen:
    """LWW ignores what a writer saw; the token only records the clock, for debugging."""

    clock: int


class LwwReplica:
    """One replica under per-field last-write-wins (see the module docstring)."""

    strategy: ClassVar[str] = "lww"

    def __init__(self, replica_id: str, *, rng: random.Random, **options: Any) -> None:
        # Options other strategies use (schema, resolver, model latency) mean nothing here.
        del options
        self.replica_id = replica_id
        self.counters = StrategyCounters()
        # A restarted replica gets a fresh origin, so its op ids never collide with the ops
        # an earlier incarnation already gossiped.
        self._origin = f"{replica_id}~{rng.getrandbits(48):012x}"
        self._seq = 0
        self._clock = 0
        self._ops: dict[str, list[_Op]] = {}
        self._pending: dict[str, dict[int, _Op]] = {}
        self._cells: dict[tuple[Namespace, str], dict[str, _Cell]] = {}

    # -- writes ------------------------------------------------------------------------
    def observe(self) -> Seen:
        return _LwwSeen(self._clock)

    def write(
        self,
        namespace: Namespace,
        key: str,
        value: Mapping[str, JSON] | None,
        *,
        agent: str,
        seen: Seen | None = None,
    ) -> str:
        del seen  # last-write-wins does not care what the writer had seen
        namespace = tuple(namespace)
        held = self._cells.get((namespace, key), {})
        live = [f for f, cell in held.items() if cell.value is not _GONE]
        if value is None:
            fields: dict[str, Any] = {}
            removed = tuple(sorted(live))
        else:
            if not isinstance(value, Mapping):
                raise TypeError(f"value must be a dict, got {type(value).__name__}")
            validate_value(dict(value))
            fields = {name: plain_copy(item) for name, item in value.items()}
            removed = tuple(sorted(f for f in live if f not in fields))
        self._seq += 1
        self._clock += 1
        op = _Op(self._origin, self._seq, self._clock, namespace, key, agent, fields, removed)
        self._ops.setdefault(self._origin, []).append(op)
        self._apply(op)
        self.counters.local_writes += 1
        return _op_id(op)

    async def arbitrate(self) -> int:
        return 0

    def decision_due_at(self) -> float | None:
        return None

    # -- reads ---------------------------------------------------------------------------
    def read(self, namespace: Namespace, key: str) -> dict[str, JSON] | None:
        cells = self._cells.get((tuple(namespace), key))
        if not cells:
            return None
        out = {f: copy_json(c.value) for f, c in sorted(cells.items()) if c.value is not _GONE}
        return out or None

    def keys(self) -> list[tuple[Namespace, str]]:
        return sorted(
            k
            for k, cells in self._cells.items()
            if any(c.value is not _GONE for c in cells.values())
        )

    def escalations(self) -> list[Escalation]:
        return []  # last-write-wins never notices a conflict: that is the point

    def attribution(self) -> dict[tuple[Namespace, str], dict[str, list[str]]]:
        out: dict[tuple[Namespace, str], dict[str, list[str]]] = {}
        for k, cells in sorted(self._cells.items()):
            fields = {f: [c.agent] for f, c in sorted(cells.items()) if c.value is not _GONE}
            if fields:
                out[k] = fields
        return out

    def stats(self) -> Mapping[str, float]:
        return {
            "local_writes": float(self.counters.local_writes),
            "imported_writes": float(self.counters.imported_writes),
            "pending_ops": float(sum(len(p) for p in self._pending.values())),
            "model_calls": 0.0,
        }

    # -- replica sync ----------------------------------------------------------------------
    def version(self) -> bytes:
        return _OPS_ENCODER.encode({o: len(ops) for o, ops in sorted(self._ops.items())})

    def export_updates(self, since: bytes | None) -> bytes:
        have: dict[str, int] = {}
        if since is not None:
            try:
                have = _VERSION_DECODER.decode(since)
            except msgspec.DecodeError as exc:
                raise CorruptUpdateError(f"not an lww version digest: {exc}") from exc
        out: list[_Op] = []
        for origin, ops in self._ops.items():
            out.extend(ops[max(have.get(origin, 0), 0) :])
        return _OPS_ENCODER.encode(out) if out else b""

    def import_updates(self, blob: bytes) -> list[str]:
        if not blob:
            return []
        try:
            incoming = _OPS_DECODER.decode(blob)
        except msgspec.DecodeError as exc:
            raise CorruptUpdateError(f"undecodable lww update ({len(blob)} bytes): {exc}") from exc
        for op in incoming:  # validate everything before applying anything
            if op.seq < 1 or op.clock < 1 or not op.origin:
                raise CorruptUpdateError(f"malformed lww op {op.origin!r}#{op.seq}")
            try:
                validate_value(op.fields)
            except (TypeError, ValueError) as exc:
                raise CorruptUpdateError(f"lww op {op.origin!r}#{op.seq}: {exc}") from exc
        applied: list[str] = []
        for op in incoming:
            ops = self._ops.setdefault(op.origin, [])
            if op.seq > len(ops):
                self._pending.setdefault(op.origin, {})[op.seq] = op
        for origin in {op.origin for op in incoming}:
            pending = self._pending.get(origin)
            ops = self._ops[origin]
            while pending and (nxt := pending.pop(len(ops) + 1, None)) is not None:
                ops.append(nxt)
                self._clock = max(self._clock, nxt.clock)
                self._apply(nxt)
                applied.append(_op_id(nxt))
            if not pending:
                self._pending.pop(origin, None)
            if not ops:
                del self._ops[origin]
        self.counters.imported_writes += len(applied)
        return applied

    def _apply(self, op: _Op) -> None:
        stamp = (op.clock, op.origin)
        cells = self._cells.setdefault((op.namespace, op.key), {})
        for name, value in (*op.fields.items(), *((f, _GONE) for f in op.removed)):
            cell = cells.get(name)
            if cell is None:
                cells[name] = _Cell(stamp, value, op.agent)
            elif stamp > cell.stamp:
                cell.stamp, cell.value, cell.agent = stamp, value, op.agent


def _any_live(cells: dict[str, _Cell]) -> bool:
    return any(c.value is not _GONE for c in cells.values())


def _op_id(op: _Op) -> str:
    return f"{op.origin}:{op.seq}"
