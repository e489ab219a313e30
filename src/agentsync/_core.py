"""The CRDT value core: SPEC section 3 on Loro. The only module that touches Loro's API.

STUB: signatures are final, bodies are being written. Callers (the store, strategies,
persistence) may rely on everything documented here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._types import JSON, Escalation, FieldKind, Namespace, WriteRecord

ConflictValue = Literal["placeholder", "provisional"]
Schema = Mapping[Namespace, Mapping[str, FieldKind]]
"""Namespace prefix -> {dotted field path: kind}. The longest matching prefix wins."""

__all__ = ["Core", "Turn", "StoredValue", "PutResult", "ImportResult", "Schema", "ConflictValue"]


@dataclass(slots=True)
class Turn:
    """What one writer has observed: everything committed when the turn began, its own
    writes since, and keys it read during the turn (reads count as seen)."""

    epoch: int
    own_ops: set[str] = field(default_factory=set)
    read_epochs: dict[tuple[Namespace, str], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredValue:
    value: dict[str, JSON]
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class PutResult:
    op_id: str | None
    """None when the write changed nothing (no op was recorded)."""
    new_escalations: list[Escalation]


@dataclass(frozen=True, slots=True)
class ImportResult:
    new_ops: list[str]
    changed_keys: list[tuple[Namespace, str]]
    new_escalations: list[Escalation]


class Core:
    """One replica's state: a JSON object per (namespace, key), merged per field kind.

    Not thread-safe: the store serializes calls with its own lock.
    """

    def __init__(
        self,
        *,
        peer_id: int | None = None,
        schema: Schema | None = None,
        conflict_value: ConflictValue = "placeholder",
    ) -> None:
        raise NotImplementedError

    @property
    def peer_id(self) -> int:
        raise NotImplementedError

    # -- turns (causality) ---------------------------------------------------------
    def begin_turn(self) -> Turn:
        """A writer that starts now has seen everything committed so far."""
        raise NotImplementedError

    def note_read(self, turn: Turn, namespace: Namespace, key: str) -> None:
        """The writer of `turn` read this key: it has seen its current state."""
        raise NotImplementedError

    # -- writes --------------------------------------------------------------------
    def put(
        self,
        namespace: Namespace,
        key: str,
        value: Mapping[str, Any],
        *,
        agent: str,
        turn: Turn | None,
        now: float,
    ) -> PutResult:
        """Replace the value relative to what `turn` had seen (`None`: seen everything).

        Raises TypeError naming the field path for non-JSON input and SchemaError for a
        value of the wrong shape for a declared kind; nothing is applied then.
        """
        raise NotImplementedError

    def delete(
        self, namespace: Namespace, key: str, *, agent: str, turn: Turn | None, now: float
    ) -> PutResult:
        """Remove everything `turn` had seen of the key (concurrent puts survive)."""
        raise NotImplementedError

    def resolve(
        self, escalation: Escalation, value: Any, *, agent: str, now: float
    ) -> PutResult:
        """Write `value` to the escalated field as a write that has seen every contender."""
        raise NotImplementedError

    # -- reads ---------------------------------------------------------------------
    def get(self, namespace: Namespace, key: str) -> StoredValue | None:
        """The merged value; conflicted fields read as the placeholder or provisional."""
        raise NotImplementedError

    def items(self) -> Iterator[tuple[Namespace, str, StoredValue]]:
        """Every live key, in a deterministic order."""
        raise NotImplementedError

    def escalations(self, namespace: Namespace | None = None) -> list[Escalation]:
        """Open conflicts, optionally only under a namespace prefix."""
        raise NotImplementedError

    def history(self, namespace: Namespace, key: str) -> list[WriteRecord]:
        raise NotImplementedError

    def attribution(self) -> dict[tuple[Namespace, str], dict[str, list[str]]]:
        raise NotImplementedError

    def stats(self) -> dict[str, float]:
        raise NotImplementedError

    # -- replica sync --------------------------------------------------------------
    def version(self) -> bytes:
        """Opaque digest of what this replica holds."""
        raise NotImplementedError

    def export_updates(self, since: bytes | None = None) -> bytes:
        """A delta with everything a replica at digest `since` lacks (None: everything).

        Raises CorruptUpdateError if `since` is not a digest.
        """
        raise NotImplementedError

    def import_updates(self, blob: bytes) -> ImportResult:
        """Apply a peer's delta. CorruptUpdateError on bad bytes, state unchanged.

        Updates whose dependencies are missing stay pending and apply when the gap arrives.
        """
        raise NotImplementedError

    def export_snapshot(self) -> bytes:
        """Everything, compacted, for persistence (`import_updates` accepts it)."""
        raise NotImplementedError
