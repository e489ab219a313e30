"""The simulated network: per-message delay, jitter, loss, duplication, reordering and
partitions, delivering encoded messages into replicas' bounded mailboxes.

One delivery task holds every message in flight in a heap ordered by arrival time and
sleeps until the next one is due, so a message costs no task of its own. Senders are
charged for what they send (`messages`, `bytes` are the encoded sizes); what the network
then does to a message (drop, duplicate, delay) is counted separately.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import structlog

from agentsync._wire import Message, encode_message

from .scenario import NetworkSpec

__all__ = ["Network", "NetworkStats"]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class NetworkStats:
    messages: int = 0
    bytes: int = 0
    dropped: int = 0
    """Lost to the drop rate or a partition."""
    duplicated: int = 0
    reordered: int = 0
    overflowed: int = 0
    """Arrived at a full mailbox."""
    undeliverable: int = 0
    """Arrived at a crashed replica."""
    by_kind: dict[str, int] = field(default_factory=dict)
    bytes_by_kind: dict[str, int] = field(default_factory=dict)


Deliver = Callable[[int, bytes], bool]
"""deliver(dst, data) -> False if the mailbox was full."""


class Network:
    """Delivers messages between replicas `0..n-1` after a modelled delay."""

    def __init__(
        self,
        spec: NetworkSpec,
        replicas: int,
        *,
        rng: random.Random,
        jitter: bool,
        deliver: Deliver,
        is_up: Callable[[int], bool],
    ) -> None:
        self.spec = spec
        self.replicas = replicas
        self.stats = NetworkStats()
        self._rng = rng
        self._jitter_s = (
            (spec.jitter_ms if spec.jitter_ms is not None else spec.delay_ms / 2) / 1000
            if jitter
            else 0.0
        )
        self._delay_s = spec.delay_ms / 1000
        self._spread_s = spec.spread_ms / 1000
        self._reorder_s = spec.reorder_ms / 1000
        self._deliver = deliver
        self._is_up = is_up
        self._heap: list[tuple[float, int, int, int, bytes]] = []
        self._seq = 0
        self._wakeup = anyio.Event()
        self._sleeping_until = math.inf
        self._groups: list[int] | None = None

    # -- partitions ----------------------------------------------------------------------
    def partition(self, groups: int) -> None:
        """Split replicas into `groups` contiguous blocks that cannot reach each other."""
        n = self.replicas
        self._groups = [i * groups // n for i in range(n)]
        log.info("partition started", groups=groups, replicas=n)

    def heal(self) -> None:
        self._groups = None
        log.info("partition healed")

    def reachable(self, src: int, dst: int) -> bool:
        groups = self._groups
        return groups is None or groups[src] == groups[dst]

    # -- sending -------------------------------------------------------------------------
    def delay(self) -> float:
        """One message's transit time in seconds."""
        spec, rng = self.spec, self._rng
        if spec.delay == "constant":
            base = self._delay_s
        elif spec.delay == "uniform":
            base = rng.uniform(self._delay_s - self._spread_s, self._delay_s + self._spread_s)
        else:
            base = rng.expovariate(1 / self._delay_s) if self._delay_s > 0 else 0.0
        if self._jitter_s:
            base += rng.uniform(0.0, self._jitter_s)
        if spec.reorder and rng.random() < spec.reorder:
            self.stats.reordered += 1
            base += self._reorder_s
        return max(base, 0.0)

    def send(self, src: int, dst: int, message: Message) -> int:
        """Encode and put `message` in flight; returns its encoded size."""
        data = encode_message(message)
        stats = self.stats
        stats.messages += 1
        stats.bytes += len(data)
        kind = type(message).__name__
        stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
        stats.bytes_by_kind[kind] = stats.bytes_by_kind.get(kind, 0) + len(data)
        spec, rng = self.spec, self._rng
        if not self.reachable(src, dst) or (spec.drop and rng.random() < spec.drop):
            stats.dropped += 1
            return len(data)
        now = anyio.current_time()
        self._schedule(now + self.delay(), src, dst, data)
        if spec.duplicate and rng.random() < spec.duplicate:
            stats.duplicated += 1
            self._schedule(now + self.delay(), src, dst, data)
        return len(data)

    def _schedule(self, at: float, src: int, dst: int, data: bytes) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, src, dst, data))
        if at < self._sleeping_until:
            self._wakeup.set()

    # -- delivering ----------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver messages as they fall due; runs until cancelled."""
        heap = self._heap
        while True:
            now = anyio.current_time()
            while heap and heap[0][0] <= now:
                _, _, src, dst, data = heapq.heappop(heap)
                self._arrive(src, dst, data)
            self._wakeup = anyio.Event()
            self._sleeping_until = heap[0][0] if heap else math.inf
            with anyio.move_on_after(self._sleeping_until - now):
                await self._wakeup.wait()
            self._sleeping_until = -math.inf

    def _arrive(self, src: int, dst: int, data: bytes) -> None:
        if not self._is_up(dst):
            self.stats.undeliverable += 1
            return
        if not self.reachable(src, dst):  # a partition that began while it was in flight
            self.stats.dropped += 1
            return
        if not self._deliver(dst, data):
            self.stats.overflowed += 1

    def in_flight(self) -> int:
        return len(self._heap)
