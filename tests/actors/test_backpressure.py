"""Backpressure (issue 8): replica mailboxes are bounded. A replica that stops consuming,
or consumes slowly, holds at most its mailbox; what does not fit is refused and counted
as overflow, never queued, and anti-entropy repairs it once the replica resumes.

Everything runs on the virtual clock. A stalled or slow replica is made without touching
the actors: its strategy replica is wrapped so that `arbitrate()` (which the actor awaits
after every message and turn) sleeps in simulated time, exactly as a transactional
arbiter waiting on a model does. While it sleeps, the actor's task consumes nothing.
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from actors import harness
from actors.harness import RunConfig, RunResult, run_scenario
from actors.history import History
from actors.network import Network
from actors.replica import GossipSettings, ReplicaActor
from actors.scenario import NetworkSpec, decode_scenario
from agentsync._strategies import make_replica
from agentsync._strategy import StrategyReplica
from agentsync._wire import SyncPush

NS = ("t",)
MAILBOX = 8


# -- one replica, wired by hand ------------------------------------------------------------


class Pair:
    """Replica 0 runs; replica 1 is built but its task is only started by `resume()`."""

    def __init__(self, *, mailbox: int = MAILBOX, gossip_s: float = 0.1) -> None:
        self.accepted = [0, 0]
        self.refused = [0, 0]
        self.history = History(2)
        self.network = Network(
            NetworkSpec(delay="uniform", delay_ms=10, spread_ms=5),
            2,
            rng=random.Random(7),
            jitter=False,
            deliver=self._deliver,
            is_up=lambda i: True,
        )
        gossip = GossipSettings(gossip_s, 0.0, 1, False, 0.0)
        self.actors = [
            ReplicaActor(
                i,
                make=self._maker(i),
                network=self.network,
                history=self.history,
                gossip=gossip,
                tree=[],
                replicas=2,
                rng=random.Random(10 + i),
                mailbox=mailbox,
                namespace=NS,
            )
            for i in range(2)
        ]

    @staticmethod
    def _maker(i: int) -> Callable[[int], StrategyReplica]:
        return lambda incarnation: make_replica("crdt", f"r{i}", rng=random.Random(i))

    def close(self) -> None:
        """Actors whose task never ran still own open mailboxes."""
        for actor in self.actors:
            actor.close()

    def _deliver(self, dst: int, data: bytes) -> bool:
        ok = self.actors[dst].deliver(data)
        (self.accepted if ok else self.refused)[dst] += 1
        return ok


async def until(predicate: Any, limit_s: float = 60.0) -> None:
    with anyio.fail_after(limit_s):
        while not predicate():  # noqa: ASYNC110 (polls on virtual time)
            await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_a_stopped_replica_queues_at_most_its_mailbox_and_memory_stays_flat() -> None:
    pair = Pair()
    source = make_replica("crdt", "src", rng=random.Random(99))
    source.write(NS, "k", {"notes": "x" * 4096}, agent="a")
    blob = source.export_updates(None)
    floods, per_flood = 40, 100
    sent_bytes = 0
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        async with anyio.create_task_group() as tg:
            tg.start_soon(pair.network.run)
            for _ in range(floods):
                for _ in range(per_flood):
                    sent_bytes += pair.network.send(0, 1, SyncPush(0, blob))
                await anyio.sleep(0.05)
            await until(lambda: pair.network.in_flight() == 0)
            tg.cancel_scope.cancel()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pair.close()
    sent = floods * per_flood
    assert pair.accepted[1] == MAILBOX
    assert pair.refused[1] == sent - MAILBOX
    assert pair.network.stats.overflowed == sent - MAILBOX
    # every refused message was let go: what stays is the mailbox, not the 18 MB flood
    retained_limit = MAILBOX * len(blob) + 500_000
    assert sent_bytes > 30 * retained_limit
    assert after - before < retained_limit


@pytest.mark.anyio
async def test_a_stopped_replica_catches_up_by_anti_entropy_when_it_resumes() -> None:
    pair = Pair()
    writer, stopped = pair.actors
    async with anyio.create_task_group() as tg:
        tg.start_soon(pair.network.run)
        tg.start_soon(writer.run)
        for i in range(30):
            writer.replica.write(NS, f"k{i}", {"tags": [f"w{i}"], "n": i}, agent="a")
            await anyio.sleep(0.2)  # two gossip rounds per write, all aimed at the stopped one
        assert pair.accepted[1] == MAILBOX
        assert pair.refused[1] > 0
        assert stopped.replica.keys() == []
        tg.start_soon(stopped.run)  # resumes: drains its mailbox, then gossips
        await until(lambda: stopped.replica.version() == writer.replica.version())
        tg.cancel_scope.cancel()
    assert sorted(stopped.replica.keys()) == sorted(writer.replica.keys())
    for i in range(30):
        assert stopped.replica.read(NS, f"k{i}") == {"tags": [f"w{i}"], "n": i}


# -- whole simulations ---------------------------------------------------------------------

BUSY = """
name = "busy"
replicas = 5
max_ms = 60000
{top}

[workload]
keys = 2
agents_per_replica = 2
writes_per_agent = 15
duration_ms = 1500

[[workload.fields]]
path = "tags"
kind = "set"

[[workload.fields]]
path = "findings"
kind = "text"

[[workload.fields]]
path = "count"
kind = "counter"
declare = true

[[workload.fields]]
path = "phase"
kind = "register"
values = ["a", "b"]

[workload.mix]
set_add = 3
text_insert = 2
counter = 1
register = 1

[network]
{network}
mailbox = {mailbox}

[gossip]
interval_ms = 60
fanout = 2
"""


UNIFORM_LOSSY = 'delay = "uniform"\ndelay_ms = 15\nspread_ms = 10\ndrop = 0.05'


def busy(mailbox: int, *, network: str = UNIFORM_LOSSY, top: str = "") -> str:
    """Five replicas, two agents each, writing fast on two keys."""
    return BUSY.format(mailbox=mailbox, network=network, top=top)


@dataclass
class Stall:
    """Makes one replica's actor consume nothing for a while, on the virtual clock."""

    index: int
    start_s: float = 0.0
    until_s: float = 0.0
    each_s: float = 0.0
    """If > 0: stall this long after every message and turn (a slow replica)."""
    windows: list[tuple[float, float]] = field(default_factory=list)
    deliveries: list[tuple[float, bool]] = field(default_factory=list)
    """(virtual time, accepted) for every network delivery to the stalled replica."""

    def accepted_in(self, start: float, end: float) -> int:
        return sum(1 for t, ok in self.deliveries if ok and start < t < end)

    def refused(self) -> int:
        return sum(1 for _, ok in self.deliveries if not ok)


class StalledReplica:
    """A strategy replica whose `arbitrate()` also waits out the stall."""

    def __init__(self, inner: StrategyReplica, stall: Stall) -> None:
        self._inner = inner
        self._stall = stall

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def arbitrate(self) -> int:
        stall, now = self._stall, anyio.current_time()
        if stall.each_s > 0:
            end = now + stall.each_s
        elif stall.start_s <= now < stall.until_s:
            end = stall.until_s
        else:
            end = now
        if end > now:
            stall.windows.append((now, end))
            await anyio.sleep(end - now)
        return await self._inner.arbitrate()


def run_stalled(monkeypatch: pytest.MonkeyPatch, stall: Stall, *, mailbox: int) -> RunResult:
    def make(strategy: str, replica_id: str, **options: Any) -> StrategyReplica:
        inner = make_replica(strategy, replica_id, **options)
        if replica_id == f"r{stall.index}":
            return StalledReplica(inner, stall)  # type: ignore[return-value]
        return inner

    original = ReplicaActor.deliver

    def deliver(actor: ReplicaActor, data: bytes) -> bool:
        ok = original(actor, data)
        if actor.index == stall.index:
            stall.deliveries.append((anyio.current_time(), ok))
        return ok

    monkeypatch.setattr(harness, "make_replica", make)
    monkeypatch.setattr(ReplicaActor, "deliver", deliver)
    scenario = decode_scenario(busy(mailbox))
    return run_scenario(scenario, RunConfig("crdt", seed=3, jitter=True))


def assert_nothing_lost(result: RunResult) -> None:
    s = result.score
    assert result.converged, s.notes
    assert s.writes_lost == 0 and s.spurious == 0, s.notes
    assert s.missed_conflicts == 0 and s.false_escalations == 0, s.notes
    assert result.failures == []


def test_a_stalled_replica_holds_at_most_its_mailbox_then_catches_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stall = Stall(index=2, start_s=0.3, until_s=2.5)
    result = run_stalled(monkeypatch, stall, mailbox=MAILBOX)
    ((start, end),) = stall.windows  # one long stall, begun at its first message after 0.3 s
    assert 0.3 <= start < 0.5 and end == 2.5
    assert stall.accepted_in(start, end) <= MAILBOX  # nothing consumed, so this is the queue
    assert stall.refused() > 10 * MAILBOX  # the pressure was real
    assert result.network.overflowed >= stall.refused()  # every refusal counted as a drop
    assert_nothing_lost(result)


def test_a_slow_replica_never_queues_past_its_mailbox_and_the_run_still_converges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stall = Stall(index=1, each_s=0.04)  # 40 ms of work per message: slower than it is fed
    result = run_stalled(monkeypatch, stall, mailbox=MAILBOX)
    assert len(stall.windows) > 50
    assert max(stall.accepted_in(a, b) for a, b in stall.windows) <= MAILBOX
    assert stall.refused() > 0
    assert result.network.overflowed >= stall.refused()
    assert_nothing_lost(result)


def test_a_mailbox_of_one_drops_simultaneous_arrivals_and_anti_entropy_repairs_them() -> None:
    # constant delay without jitter: a duplicate lands at the same instant as its
    # original, before the replica runs, so a one-slot mailbox must refuse it
    network = 'delay = "constant"\ndelay_ms = 15\nduplicate = 0.3'
    scenario = decode_scenario(busy(1, network=network))
    result = run_scenario(scenario, RunConfig("crdt", seed=5))
    assert result.network.overflowed > 0
    assert_nothing_lost(result)


def test_a_slow_model_arbiter_overflows_its_mailbox_and_still_resolves_everything() -> None:
    """The transactional arbiter is a naturally slow replica: it awaits each model call."""
    scenario = decode_scenario(busy(4, top="model_latency_ms = 800"))
    result = run_scenario(scenario, RunConfig("transactional", seed=2, jitter=True))
    assert result.model_calls > 0
    assert result.network.overflowed > 0
    assert_nothing_lost(result)
    assert result.score.outcome in ("resolved", "auto_merged")
