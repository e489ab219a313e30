"""Strategies behind one interface: `crdt`, `transactional`, `crdt+resolver` (here) and
`lww` (`_lww.py`).

- `crdt`: the Loro value core. Concurrent scalar disagreements end *escalated*; it never
  calls a model.
- `transactional`: the same merge for mergeable fields, but every scalar conflict is
  settled by one model call as soon as the arbiter sees it. Decisions are serialized
  through one arbiter replica (`arbiter_id`, default `"r0"`), as a transaction log would
  order them; the decision is an ordinary attributed write (agent `"resolver:<name>"`)
  that has seen every contender and reaches the other replicas by gossip. A contender
  that arrives after a decision is concurrent with it and reopens the conflict: another
  call.
- `crdt+resolver`: the CRDT with the same model attached as the resolver of one replica
  (`arbiter_id`), the way an application attaches `resolver=` to one store. Everything
  mergeable merges for free; the resolver decides a conflict once it has stopped gaining
  contenders for `settle_s` (escalate, then resolve), so a conflict costs one call.

A model call costs simulated time: the modelled latency of a stand-in (`latency_s`), or
the wall time a real model took, so its price shows in convergence time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import anyio

from ._core import Core, Turn
from ._errors import ResolverError
from ._logging import get_logger
from ._resolvers import OfflineResolver, Resolver, aresolve_with, resolve_with
from ._strategy import Seen, StrategyCounters, StrategyReplica
from ._types import JSON, Escalation, Namespace
from ._values import Schema

STRATEGIES = ("lww", "transactional", "crdt", "crdt+resolver")

__all__ = [
    "STRATEGIES",
    "CrdtReplica",
    "CrdtResolverReplica",
    "TransactionalReplica",
    "make_replica",
]

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

    def decision_due_at(self) -> float | None:
        return None

    def stats(self) -> Mapping[str, float]:
        return self.core.stats()


class _ModelCaller:
    """One model attached to a replica: counts its calls and charges their latency in
    simulated time."""

    def __init__(self, resolver: Resolver | None, model_latency_s: float) -> None:
        if model_latency_s < 0:
            raise ValueError(f"model_latency_s must be >= 0, got {model_latency_s!r}")
        self.resolver: Resolver = resolver or OfflineResolver(latency_s=model_latency_s)
        modelled = getattr(self.resolver, "latency_s", None)
        self.modelled_latency_s: float | None = None if modelled is None else float(modelled)
        self.agent = f"resolver:{getattr(self.resolver, 'name', type(self.resolver).__name__)}"

    async def decide(self, escalation: Escalation, counters: StrategyCounters) -> JSON:
        """One model call; raises `ResolverError` when the model gives no usable value.

        A stand-in sleeps its modelled latency. A real model is called synchronously so
        that simulated time stands still while it thinks, then the wall time it took is
        slept in simulated time: either way the call costs what it would cost.
        """
        counters.model_calls += 1
        if self.modelled_latency_s is not None:
            if self.modelled_latency_s:
                counters.model_latency_s += self.modelled_latency_s
                await anyio.sleep(self.modelled_latency_s)
            return await aresolve_with(self.resolver, escalation)
        started = time.perf_counter()
        try:
            return resolve_with(self.resolver, escalation)
        finally:
            took = time.perf_counter() - started
            counters.model_latency_s += took
            await anyio.sleep(took)


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
        self._model = _ModelCaller(resolver, model_latency_s)
        self.resolver: Resolver = self._model.resolver
        self.model_latency_s = self._model.modelled_latency_s or 0.0
        self.is_arbiter = replica_id == arbiter_id
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
            calls += 1
            if not await self._settle(pending[0]):
                self._failed.add(pending[0].id)

    async def _settle(self, escalation: Escalation) -> bool:
        """Ask the model about `escalation` and write its decision; False if it failed."""
        try:
            value = await self._model.decide(escalation, self.counters)
        except ResolverError as exc:
            log.warning("resolver failed", field=escalation.field, error=str(exc))
            return False
        if escalation.id in {e.id for e in self.core.escalations()}:
            self.core.resolve(escalation, value, agent=self._model.agent, now=self._now)
            self.counters.resolutions += 1
        # else: settled or changed while the model thought; the next pass decides again
        return True


class CrdtResolverReplica(TransactionalReplica):
    """The CRDT with a resolver attached to one replica: escalate, then resolve.

    Only the replica named `arbiter_id` calls the model. It decides an open conflict once
    its contenders have not changed for `settle_s` of simulated time (by then the
    concurrent writers' updates have arrived), so a genuine conflict costs one call
    instead of one per contender that trickles in. Decisions are ordinary attributed
    writes, exactly as `SyncedStore(resolver=...)` writes them.
    """

    strategy: ClassVar[str] = "crdt+resolver"

    def __init__(
        self,
        replica_id: str,
        *,
        rng: random.Random,
        settle_s: float = 0.2,
        **options: Any,
    ) -> None:
        super().__init__(replica_id, rng=rng, **options)
        if settle_s < 0:
            raise ValueError(f"settle_s must be >= 0, got {settle_s!r}")
        self.settle_s = float(settle_s)
        self._open_since: dict[str, float] = {}
        """Open escalation id (its contenders are in it) -> when this replica first held it."""

    def _undecided(self) -> list[Escalation]:
        """Open conflicts the resolver may still decide, oldest first; stamps new ones."""
        if not self.is_arbiter:
            return []
        now = anyio.current_time()
        open_now = [
            e
            for e in self.core.escalations()
            if e.id not in self._failed
            # two decisions that crossed: deciding again could loop forever (as the store)
            and not all(c.agent_id.startswith("resolver:") for c in e.contenders)
        ]
        self._open_since = {e.id: self._open_since.get(e.id, now) for e in open_now}
        return sorted(open_now, key=lambda e: (self._open_since[e.id], e.id))

    def decision_due_at(self) -> float | None:
        pending = self._undecided()
        if not pending:
            return None
        return self._open_since[pending[0].id] + self.settle_s

    async def arbitrate(self) -> int:
        """Decide every conflict that has been quiet for `settle_s`, one model call each."""
        calls = 0
        while True:
            # a nanosecond of slack: a timer set for the due time may wake a float ulp early
            now = anyio.current_time() + 1e-9
            due = [e for e in self._undecided() if self._open_since[e.id] + self.settle_s <= now]
            if not due:
                return calls
            calls += 1
            if not await self._settle(due[0]):
                self._failed.add(due[0].id)


def make_replica(
    strategy: str, replica_id: str, *, rng: random.Random, **options: Any
) -> StrategyReplica:
    """A fresh replica of `strategy`. `rng` seeds anything random (peer ids, picks).

    Options a strategy does not use are ignored: `resolver`, `model_latency_s` and
    `arbiter_id` (transactional, crdt+resolver), `settle_s` (crdt+resolver), `schema`
    (every strategy but lww).
    """
    if strategy == "lww":
        from ._lww import LwwReplica

        return LwwReplica(replica_id, rng=rng, **options)
    if strategy == "crdt":
        return CrdtReplica(replica_id, rng=rng, **options)
    if strategy == "transactional":
        return TransactionalReplica(replica_id, rng=rng, **options)
    if strategy == "crdt+resolver":
        return CrdtResolverReplica(replica_id, rng=rng, **options)
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
