"""The one interface every merge strategy implements.

The simulator and the benchmark drive replicas only through `StrategyReplica`, so they
never branch on which strategy runs. A replica is one copy of the shared state; replicas
converge by exchanging opaque update blobs (`export_updates` / `import_updates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from ._types import JSON, Escalation, Namespace

__all__ = ["StrategyCounters", "StrategyReplica", "Seen"]


class Seen(Protocol):
    """Opaque token for what a writer had observed when it began its turn."""


@dataclass(slots=True)
class StrategyCounters:
    """Work a replica did; the checker derives outcomes, these are only tallies."""

    local_writes: int = 0
    imported_writes: int = 0
    model_calls: int = 0
    resolutions: int = 0
    model_latency_s: float = 0.0


@runtime_checkable
class StrategyReplica(Protocol):
    """One replica of the shared state under some merge strategy.

    Op ids are opaque strings, unique across all replicas; `write` returns the op id of
    the write, `import_updates` returns the op ids of the writes it newly applied (the
    delivery history the checker builds ground truth from).
    """

    strategy: ClassVar[str]
    replica_id: str
    counters: StrategyCounters

    def observe(self) -> Seen:
        """What this replica holds now: a writer that begins its turn here has seen it."""
        ...

    def write(
        self,
        namespace: Namespace,
        key: str,
        value: Mapping[str, JSON] | None,
        *,
        agent: str,
        seen: Seen | None = None,
    ) -> str:
        """Apply a local attributed put (`None` deletes); `seen=None` means "seen all"."""
        ...

    def read(self, namespace: Namespace, key: str) -> dict[str, JSON] | None: ...

    def keys(self) -> list[tuple[Namespace, str]]: ...

    def version(self) -> bytes:
        """Opaque digest of what this replica holds, sent to peers in anti-entropy."""
        ...

    def export_updates(self, since: bytes | None) -> bytes:
        """Everything this replica holds that a peer at digest `since` lacks."""
        ...

    def import_updates(self, blob: bytes) -> list[str]:
        """Apply a peer's blob; returns the op ids of writes newly applied.

        Raises `CorruptUpdateError` on undecodable bytes and leaves the replica unchanged.
        """
        ...

    def escalations(self) -> list[Escalation]: ...

    def attribution(self) -> dict[tuple[Namespace, str], dict[str, list[str]]]:
        """Per key and dotted field path: the agents whose writes survive in the value."""
        ...

    async def arbitrate(self) -> int:
        """Settle conflicts this replica arbitrates (transactional: one model call each,
        awaiting its modelled latency with `anyio.sleep`, so it costs simulated time).

        Returns the number of model calls made; strategies that never call a model return 0.
        """
        ...

    def decision_due_at(self) -> float | None:
        """The clock time (`anyio.current_time`) at which this replica wants `arbitrate`
        called even if nothing arrives meanwhile: a resolver waiting for a conflict to
        stop gaining contenders. `None`: it waits for nothing (the run may end)."""
        ...

    def stats(self) -> Mapping[str, float]: ...
