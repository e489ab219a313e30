"""The network model on the virtual clock: delays, faults and partitions."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import anyio
import pytest

from actors.network import Network
from actors.scenario import NetworkSpec
from agentsync._wire import SyncPush, decode_message, encode_message

pytestmark = pytest.mark.anyio


class Inboxes:
    def __init__(self, n: int, capacity: int = 1000) -> None:
        self.got: list[list[tuple[float, int]]] = [[] for _ in range(n)]
        self.capacity = capacity
        self.up = [True] * n

    def deliver(self, dst: int, data: bytes) -> bool:
        if len(self.got[dst]) >= self.capacity:
            return False
        message = decode_message(data)
        assert isinstance(message, SyncPush)
        self.got[dst].append((anyio.current_time(), int(message.updates)))
        return True


async def run_network(
    spec: NetworkSpec,
    body: Callable[[Network, Inboxes], Awaitable[None]],
    *,
    n: int = 3,
    jitter: bool = False,
    capacity: int = 1000,
) -> tuple[Network, Inboxes]:
    inboxes = Inboxes(n, capacity)
    net = Network(
        spec,
        n,
        rng=random.Random(7),
        jitter=jitter,
        deliver=inboxes.deliver,
        is_up=lambda i: inboxes.up[i],
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(net.run)
        await body(net, inboxes)
        await anyio.sleep(10)  # let everything in flight land
        tg.cancel_scope.cancel()
    return net, inboxes


def push(net: Network, src: int, dst: int, n: int) -> None:
    net.send(src, dst, SyncPush(src, str(n).encode()))


async def test_constant_delay_delivers_every_message_after_exactly_the_delay() -> None:
    async def body(net: Network, _: Inboxes) -> None:
        for i in range(5):
            push(net, 0, 1, i)
            await anyio.sleep(0.01)

    start = anyio.current_time()
    net, inboxes = await run_network(NetworkSpec(delay_ms=100), body)
    arrivals = inboxes.got[1]
    assert [n for _, n in arrivals] == [0, 1, 2, 3, 4]
    assert [round(t - start, 3) for t, _ in arrivals] == [0.1, 0.11, 0.12, 0.13, 0.14]
    assert net.stats.messages == 5
    assert net.stats.bytes == sum(
        len(encode_message(SyncPush(0, str(i).encode()))) for i in range(5)
    )


async def test_jitter_spreads_delays_within_the_configured_bound() -> None:
    async def body(net: Network, _: Inboxes) -> None:
        for i in range(50):
            push(net, 0, 1, i)

    start = anyio.current_time()
    _, inboxes = await run_network(NetworkSpec(delay_ms=100, jitter_ms=40), body, jitter=True)
    delays = [t - start for t, _ in inboxes.got[1]]
    assert len(delays) == 50
    assert all(0.1 <= d <= 0.14 + 1e-9 for d in delays)
    assert len({round(d, 6) for d in delays}) > 40


async def test_drop_everything_delivers_nothing_but_still_charges_the_sender() -> None:
    async def body(net: Network, _: Inboxes) -> None:
        for i in range(20):
            push(net, 0, 1, i)

    net, inboxes = await run_network(NetworkSpec(drop=1.0), body)
    assert inboxes.got[1] == []
    assert net.stats.messages == 20 and net.stats.dropped == 20


async def test_duplication_delivers_copies() -> None:
    async def body(net: Network, _: Inboxes) -> None:
        for i in range(10):
            push(net, 0, 1, i)

    net, inboxes = await run_network(NetworkSpec(duplicate=1.0), body)
    assert sorted(n for _, n in inboxes.got[1]) == sorted(list(range(10)) * 2)
    assert net.stats.duplicated == 10


async def test_reordering_lets_later_messages_overtake_earlier_ones() -> None:
    async def body(net: Network, _: Inboxes) -> None:
        for i in range(40):
            push(net, 0, 1, i)
            await anyio.sleep(0.001)

    net, inboxes = await run_network(NetworkSpec(reorder=0.3, reorder_ms=50), body)
    order = [n for _, n in inboxes.got[1]]
    assert sorted(order) == list(range(40))
    assert order != sorted(order)
    assert net.stats.reordered > 0


async def test_exponential_and_uniform_delays_stay_in_range() -> None:
    async def body(net: Network, _: Inboxes) -> None:
        for i in range(200):
            push(net, 0, 1, i)

    start = anyio.current_time()
    _, uniform = await run_network(NetworkSpec(delay="uniform", delay_ms=50, spread_ms=20), body)
    delays = [t - start for t, _ in uniform.got[1]]
    assert all(0.03 - 1e-9 <= d <= 0.07 + 1e-9 for d in delays)
    start = anyio.current_time()
    _, expo = await run_network(NetworkSpec(delay="exponential", delay_ms=50), body)
    delays = [t - start for t, _ in expo.got[1]]
    assert 0.03 < sum(delays) / len(delays) < 0.07


async def test_a_partition_cuts_messages_between_groups_until_it_heals() -> None:
    async def body(net: Network, _: Inboxes) -> None:
        net.partition(2)  # replicas 0,1 | 2,3
        push(net, 0, 1, 1)  # same side: delivered
        push(net, 0, 2, 2)  # across: dropped
        push(net, 3, 2, 3)
        await anyio.sleep(1)
        push(net, 0, 3, 4)  # sent across the partition: dropped
        net.heal()
        push(net, 1, 2, 5)

    net, inboxes = await run_network(NetworkSpec(delay_ms=10), body, n=4)
    assert [n for _, n in inboxes.got[1]] == [1]
    assert [n for _, n in inboxes.got[2]] == [3, 5]
    assert inboxes.got[3] == []
    assert net.stats.dropped == 2


async def test_a_partition_that_starts_mid_flight_cuts_the_message() -> None:
    async def body(net: Network, _: Inboxes) -> None:
        push(net, 0, 1, 1)
        net.partition(2)

    net, inboxes = await run_network(NetworkSpec(delay_ms=10), body, n=2)
    assert inboxes.got[1] == []
    assert net.stats.dropped == 1


async def test_full_mailboxes_and_crashed_replicas_lose_messages_visibly() -> None:
    async def body(net: Network, inboxes: Inboxes) -> None:
        for i in range(5):
            push(net, 0, 1, i)
        inboxes.up[2] = False
        push(net, 0, 2, 9)

    net, inboxes = await run_network(NetworkSpec(), body, capacity=3)
    assert len(inboxes.got[1]) == 3
    assert net.stats.overflowed == 2
    assert net.stats.undeliverable == 1
    assert inboxes.got[2] == []
