"""Strategies behind one interface: `crdt`, `transactional` (here) and `lww` (`_lww.py`).

- `crdt`: the Loro value core. Concurrent scalar disagreements end *escalated*; it never
  calls a model.
- `transactional`: the same merge for mergeable fields, but every scalar conflict is
  settled by one model call. Decisions are serialized through one arbiter replica
  (`arbiter_id`, default `"r0"`), as a transaction log would order them; the decision is an
  ordinary attributed write (agent `"resolver:<name>"`) that has seen every contender and
  reaches the other replicas by gossip. A model call costs its modelled latency in
  simulated time (`anyio.sleep`), so its price shows in convergence time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar

import anyio

from ._core import Core, Turn
from ._errors import ResolverError
from ._logging import get_logger
from ._resolvers import OfflineResolver, Resolver, aresolve_with
from ._strategy import Seen, StrategyCounters, StrategyReplica
from ._types import JSON, Escalation, Namespace
from ._values import Schema

STRATEGIES = ("lww", "transactional", "crdt")

__all__ = ["STRATEGIES", "CrdtReplica", "TransactionalReplica", "make_replica"]

log = get_logger(__name__)


class CrdtReplica:
    """A replica of the Loro value core, driven through the strategy interface."""

    strategy: ClassVar[str] = "crdt"

    def __init__(
        self,
        replica_id: str,
        *,
        rng: random.Random,
        schema: Schema | None = None,
        now: float = 0.0,
        **_ignored: Any,
    ) -> None:
        self.replica_id = replica_id
        self.counters = StrategyCounters()
        self.core = Core(peer_id=rng.getrandbits(63), schema=schema)
        self._now = now

    def observe(self) -> Seen:
        return self.core.begin_turn()

    def write(
        self,
        namespace: Namespace,
        key: str,
        value: Mapping[str, JSON] | None,
        *,
        agent: str,
        seen: Seen | None = None,
    ) -> str:
        """Apply a put (or a delete for `None`); returns its op id, `""` if it was a
        delete of nothing this writer had seen (no op is recorded then)."""
        turn = seen if isinstance(seen, Turn) else None
        if value is None:
            result = self.core.delete(namespace, key, agent=agent, turn=turn, now=self._now)
        else:
            result = self.core.put(namespace, key, value, agent=agent, turn=turn, now=self._now)
        if result.op_id:
            self.counters.local_writes += 1
        return result.op_id or ""

    def read(self, namespace: Namespace, key: str) -> dict[str, JSON] | None:
        stored = self.core.get(namespace, key)
        return None if stored is None else stored.value

    def keys(self) -> list[tuple[Namespace, str]]:
        return [(ns, key) for ns, key, _ in self.core.items()]

    def version(self) -> bytes:
        return self.core.version()

    def export_updates(self, since: bytes | None) -> bytes:
        return self.core.export_updates(since)

    def import_updates(self, blob: bytes) -> list[str]:
        # the values catch up on the next read: a replica that only relays never pays
        # for applying updates to its state
        ops = self.core.import_updates_deferred(blob)
        self.counters.imported_writes += len(ops)
        return ops

    def escalations(self) -> list[Escalation]:
        return self.core.escalations()

    def attribution(self) -> dict[tuple[Namespace, str], dict[str, list[str]]]:
        return self.core.attribution()

    async def arbitrate(self) -> int:
        return 0

    def stats(self) -> Mapping[str, float]:
        return self.core.stats()


class TransactionalReplica(CrdtReplica):
    """CRDT merge for mergeable fields; one model call settles each scalar conflict."""

    strategy: ClassVar[str] = "transactional"

    def __init__(
        self,
        replica_id: str,
        *,
        rng: random.Random,
        schema: Schema | None = None,
        resolver: Resolver | None = None,
        model_latency_s: float = 0.3,
        arbiter_id: str = "r0",
        **ignored: Any,
    ) -> None:
        super().__init__(replica_id, rng=rng, schema=schema, **ignored)
        if model_latency_s < 0:
            raise ValueError(f"model_latency_s must be >= 0, got {model_latency_s!r}")
        self.resolver: Resolver = resolver or OfflineResolver(latency_s=model_latency_s)
        self.model_latency_s = float(getattr(self.resolver, "latency_s", 0.0))
        self.is_arbiter = replica_id == arbiter_id
        self._agent = f"resolver:{getattr(self.resolver, 'name', type(self.resolver).__name__)}"
        self._failed: set[str] = set()

    async def arbitrate(self) -> int:
        """The arbiter settles every open conflict it holds, one model call each."""
        if not self.is_arbiter:
            return 0
        calls = 0
        while True:
            pending = [e for e in self.core.escalations() if e.id not in self._failed]
            if not pending:
                return calls
            escalation = pending[0]
            calls += 1
            self.counters.model_calls += 1
            if self.model_latency_s:
                self.counters.model_latency_s += self.model_latency_s
                await anyio.sleep(self.model_latency_s)
            try:
                value = await aresolve_with(self.resolver, escalation)
            except ResolverError as exc:
                self._failed.add(escalation.id)
                log.warning("resolver failed", field=escalation.field, error=str(exc))
                continue
            if escalation.id not in {e.id for e in self.core.escalations()}:
                continue  # settled or changed while the model thought: decide again
            self.core.resolve(escalation, value, agent=self._agent, now=self._now)
            self.counters.resolutions += 1


def make_replica(
    strategy: str, replica_id: str, *, rng: random.Random, **options: Any
) -> StrategyReplica:
    """A fresh replica of `strategy`. `rng` seeds anything random (peer ids, picks).

    Options a strategy does not use are ignored: `resolver`, `model_latency_s` and
    `arbiter_id` (transactional), `schema` (crdt, transactional).
    """
    if strategy == "lww":
        from ._lww import LwwReplica

        return LwwReplica(replica_id, rng=rng, **options)
    if strategy == "crdt":
        return CrdtReplica(replica_id, rng=rng, **options)
    if strategy == "transactional":
        return TransactionalReplica(replica_id, rng=rng, **options)
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
