"""Replica actors and the gossip protocol, on the virtual clock, with the lww strategy."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from actors.agent import Agent, Turn
from actors.history import History
from actors.network import Network
from actors.replica import GossipSettings, ReplicaActor, spanning_tree
from actors.scenario import FieldSpec, Mix, NetworkSpec, WorkloadSpec
from agentsync._strategies import make_replica
from agentsync._wire import SyncPush, encode_message

pytestmark = pytest.mark.anyio

NS = ("t",)
WORKLOAD = WorkloadSpec(
    namespace=list(NS),
    keys=1,
    writes_per_agent=1,
    fields=[FieldSpec(path="tags", kind="set")],
    mix=Mix(set_add=1),
)


class World:
    def __init__(
        self,
        n: int,
        *,
        interval_s: float = 0.2,
        eager: bool = False,
        flush_s: float = 0.0,
        network: NetworkSpec | None = None,
        tree_degree: int = 2,
    ) -> None:
        self.history = History(n)
        self.network = Network(
            network or NetworkSpec(delay_ms=10),
            n,
            rng=random.Random(1),
            jitter=False,
            deliver=lambda dst, data: self.actors[dst].deliver(data),
            is_up=lambda i: not self.actors[i].down,
        )
        tree = spanning_tree(n, tree_degree, random.Random(2)) if eager else [[] for _ in range(n)]
        gossip = GossipSettings(interval_s, 0.0, 1, eager, flush_s)

        def maker(i: int):  # type: ignore[no-untyped-def]
            return lambda inc: make_replica("lww", f"r{i}", rng=random.Random(f"{i}/{inc}"))

        self.actors = [
            ReplicaActor(
                i,
                make=maker(i),
                network=self.network,
                history=self.history,
                gossip=gossip,
                tree=tree[i],
                replicas=n,
                rng=random.Random(i),
                mailbox=256,
                namespace=NS,
            )
            for i in range(n)
        ]
        self.agents = [
            Agent(f"r{i}a0", workload=WORKLOAD, rng=random.Random(i), agents=n) for i in range(n)
        ]

    async def write(self, i: int, action: str = "set_add") -> None:
        await self.actors[i].submit(Turn(self.agents[i], action, "k0"))

    def values(self) -> list[object]:
        return [a.replica.read(NS, "k0") for a in self.actors]

    def converged(self, writes: int) -> bool:
        return (
            len(self.history.writes) == writes
            and self.history.unstable == 0
            and len({repr(v) for v in self.values()}) == 1
        )


@asynccontextmanager
async def running(world: World) -> AsyncIterator[anyio.abc.TaskGroup]:
    async with anyio.create_task_group() as tg:
        tg.start_soon(world.network.run)
        for actor in world.actors:
            tg.start_soon(actor.run)
        yield tg
        tg.cancel_scope.cancel()


async def until_converged(world: World, writes: int, limit_s: float = 30.0) -> None:
    """Wait until `writes` writes happened and every replica holds them all."""
    with anyio.fail_after(limit_s):
        while not world.converged(writes):  # noqa: ASYNC110 (polls on virtual time)
            await anyio.sleep(0.01)


async def test_anti_entropy_alone_spreads_every_write_to_every_replica() -> None:
    world = World(6)
    async with running(world):
        for i in range(6):
            await world.write(i)
        await until_converged(world, 6)
    tags = world.values()[0]
    assert isinstance(tags, dict)
    assert len(world.history.writes) == 6
    assert world.network.stats.by_kind.get("EagerPush", 0) == 0


async def test_replicas_in_sync_exchange_digests_only() -> None:
    world = World(4)
    async with running(world):
        await world.write(0)
        await until_converged(world, 1)
        await anyio.sleep(1)  # let in-flight exchanges settle
        before = dict(world.network.stats.by_kind)
        await anyio.sleep(5)
        after = dict(world.network.stats.by_kind)
    assert after["SyncRequest"] > before["SyncRequest"]
    assert after.get("SyncReply", 0) == before.get("SyncReply", 0)
    assert after.get("SyncPush", 0) == before.get("SyncPush", 0)


async def test_eager_push_reaches_everyone_once_along_the_tree_without_echoes() -> None:
    world = World(7, interval_s=1000.0, eager=True)  # anti-entropy effectively off
    async with running(world):
        await world.write(3)
        await until_converged(world, 1, limit_s=5)
        await anyio.sleep(1)
    stats = world.network.stats
    assert stats.by_kind == {"EagerPush": 6}  # one per tree edge: never back to the sender
    assert sum(a.stats.duplicate_rumors for a in world.actors) == 0


async def test_eager_flush_batches_rumors_into_fewer_messages() -> None:
    world = World(3, interval_s=1000.0, eager=True, flush_s=0.05, tree_degree=2)
    async with running(world):
        for _ in range(5):
            await world.write(0)
        await until_converged(world, 5, limit_s=5)
    pushes = world.network.stats.by_kind["EagerPush"]
    assert len(world.history.writes) == 5
    assert pushes < 5 * 2


async def test_duplicated_rumors_are_applied_and_forwarded_once() -> None:
    world = World(5, interval_s=1000.0, eager=True, network=NetworkSpec(duplicate=1.0))
    async with running(world):
        await world.write(0)
        await until_converged(world, 1, limit_s=5)
        await anyio.sleep(1)
    assert world.network.stats.by_kind == {"EagerPush": 4}
    assert sum(a.stats.duplicate_rumors for a in world.actors) == 4


async def test_anti_entropy_repairs_what_a_lossy_tree_drops() -> None:
    world = World(6, eager=True, network=NetworkSpec(drop=0.5))
    async with running(world):
        for i in range(6):
            await world.write(i)
        await until_converged(world, 6)


async def test_a_durable_crash_keeps_state_and_catches_up_after_restart() -> None:
    world = World(4)
    async with running(world):
        await world.write(0)
        await until_converged(world, 1)
        world.actors[2].crash(durable=True)
        await world.write(1)
        await anyio.sleep(2)
        assert world.history.unstable == 1  # replica 2 is down
        assert world.actors[2].replica.read(NS, "k0") is not None
        world.actors[2].restart()
        await until_converged(world, 2)
    assert world.actors[2].stats.crashes == 1


async def test_a_non_durable_crash_restarts_empty_and_refills_from_peers() -> None:
    world = World(4)
    async with running(world):
        for i in range(4):
            await world.write(i)
        await until_converged(world, 4)
        old = world.actors[1].replica
        world.actors[1].crash(durable=False)
        assert world.actors[1].replica is not old
        assert world.actors[1].replica.read(NS, "k0") is None
        assert world.history.unstable == 4
        world.actors[1].restart()
        await until_converged(world, 4)


async def test_undecodable_messages_are_counted_and_the_actor_keeps_serving() -> None:
    world = World(2)
    async with running(world):
        world.actors[0].deliver(b"\xc1 not msgpack")
        world.actors[0].deliver(encode_message(SyncPush(1, b"\xc1 not an update")))
        await world.write(0)
        await until_converged(world, 1)
    assert world.actors[0].stats.corrupt == 2


async def test_a_turn_records_what_its_writer_had_seen() -> None:
    world = World(2, interval_s=1000.0)
    async with running(world):
        await world.write(0)
        await anyio.sleep(0.1)
        await world.write(1)  # replica 1 has not heard of replica 0's write
        await world.write(0)
        await anyio.sleep(0.1)
    first, second, third = world.history.writes
    assert not second.saw(first)
    assert third.saw(first) and not third.saw(second)


@pytest.mark.parametrize(("n", "degree"), [(1, 3), (2, 1), (25, 24), (100, 4)])
def test_the_eager_tree_spans_every_replica_without_cycles(n: int, degree: int) -> None:
    tree = spanning_tree(n, degree, random.Random(n))
    assert sum(len(peers) for peers in tree) == 2 * (n - 1)  # a tree has n-1 edges
    assert all(i not in peers and len(peers) <= degree + 1 for i, peers in enumerate(tree))
    reached, frontier = {0}, [0]
    while frontier:
        node = frontier.pop()
        for peer in tree[node]:
            if peer not in reached:
                reached.add(peer)
                frontier.append(peer)
    assert reached == set(range(n))
