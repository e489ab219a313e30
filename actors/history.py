"""The delivery history: which writes happened, what each writer had seen, who holds what.

The harness records every write with its *intents* (what the agent meant to change:
"add element e to tags", "set status to x") and with the set of writes its replica held
when the writer began its turn (what it had seen). Every time a replica applies writes
(its own or imported) the history learns it. That is the checker's ground truth.

Writes are numbered in the order they happen; a replica's holdings are a bitset over
those numbers, so recording what a writer had seen is one integer copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from agentsync._types import JSON, Namespace

__all__ = ["Action", "History", "Intent", "WriteEvent"]

Action: TypeAlias = Literal[
    "set",  # register: set to value
    "remove",  # register: remove the field
    "add",  # set: add element value
    "discard",  # set: remove element value
    "insert",  # text: insert token value
    "erase",  # text: erase token value
    "incr",  # counter: add value
    "delete",  # the whole key (path ())
]


@dataclass(frozen=True, slots=True)
class Intent:
    path: tuple[str, ...]
    action: Action
    value: Any = None


@dataclass(frozen=True, slots=True, eq=False)
class WriteEvent:
    index: int
    op_id: str
    replica: int
    agent: str
    namespace: Namespace
    key: str
    at: float
    """Simulated time of the write (seconds)."""
    held: int
    """Bitset of write indices the writer had seen (its replica held at turn start)."""
    intents: tuple[Intent, ...]
    value: dict[str, JSON] | None
    """The full value put (None for a delete)."""
    update_bytes: int = 0
    """Size of the write's own delta: what delivering it to one more replica must cost."""

    def saw(self, other: WriteEvent) -> bool:
        return bool((self.held >> other.index) & 1)


@dataclass(slots=True)
class History:
    replicas: int
    writes: list[WriteEvent] = field(default_factory=list)
    index_of: dict[str, int] = field(default_factory=dict)
    held: list[int] = field(default_factory=list)
    holders: list[int] = field(default_factory=list)
    stable_at: list[float | None] = field(default_factory=list)
    unstable: int = 0
    total_held: int = 0
    foreign_ops: int = 0
    """Ops replicas applied that no harness agent wrote (e.g. a resolver's decisions)."""
    last_change_at: float = 0.0
    """When any replica last applied any op (a write, or an import that changed it)."""

    def __post_init__(self) -> None:
        if not self.held:
            self.held = [0] * self.replicas

    def snapshot(self, replica: int) -> int:
        """What `replica` holds now, to record as what a writer starting here has seen."""
        return self.held[replica]

    def record_write(
        self,
        op_id: str,
        *,
        replica: int,
        agent: str,
        namespace: Namespace,
        key: str,
        at: float,
        held: int,
        intents: tuple[Intent, ...],
        value: dict[str, JSON] | None,
        update_bytes: int = 0,
    ) -> WriteEvent:
        if op_id in self.index_of:
            raise ValueError(f"op id {op_id!r} recorded twice")
        event = WriteEvent(
            index=len(self.writes),
            op_id=op_id,
            replica=replica,
            agent=agent,
            namespace=tuple(namespace),
            key=key,
            at=at,
            held=held,
            intents=intents,
            value=value,
            update_bytes=update_bytes,
        )
        self.writes.append(event)
        self.index_of[op_id] = event.index
        self.holders.append(0)
        self.stable_at.append(None)
        self.unstable += 1
        self.last_change_at = max(self.last_change_at, at)
        self._hold(replica, event.index, at)
        return event

    def delivered(self, replica: int, op_ids: list[str], at: float) -> int:
        """`replica` applied these ops at `at`; returns how many harness writes were new."""
        if op_ids:
            self.last_change_at = max(self.last_change_at, at)
        fresh = 0
        index_of = self.index_of
        for op in op_ids:
            index = index_of.get(op)
            if index is None:
                self.foreign_ops += 1
            elif self._hold(replica, index, at):
                fresh += 1
        return fresh

    def _hold(self, replica: int, index: int, at: float) -> bool:
        bit = 1 << index
        if self.held[replica] & bit:
            return False
        self.held[replica] |= bit
        self.total_held += 1
        count = self.holders[index] + 1
        self.holders[index] = count
        if count == self.replicas:
            self.stable_at[index] = at
            self.unstable -= 1
        return True

    def forget(self, replica: int) -> None:
        """`replica` restarted empty: it holds nothing any more."""
        held = self.held[replica]
        self.held[replica] = 0
        index = 0
        while held:
            if held & 1:
                if self.holders[index] == self.replicas:
                    self.unstable += 1
                    self.stable_at[index] = None
                self.holders[index] -= 1
                self.total_held -= 1
            held >>= 1
            index += 1

    def all_stable_at(self) -> float | None:
        """When the last write reached the last replica, if every write has (else None)."""
        if self.unstable:
            return None
        return max((s for s in self.stable_at if s is not None), default=0.0)

    def coverage(self) -> float:
        """Fraction of (replica, write) pairs delivered so far (1.0: everyone has all)."""
        if not self.writes:
            return 1.0
        return self.total_held / (self.replicas * len(self.writes))

    def latencies(self) -> list[float]:
        """Seconds from each write until every replica held it (stable writes only)."""
        return [
            stable - w.at
            for w, stable in zip(self.writes, self.stable_at, strict=True)
            if stable is not None
        ]
