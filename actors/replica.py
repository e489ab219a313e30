"""The replica actor: one task, one bounded mailbox, one strategy replica.

Everything that touches the replica's state happens in its task, one mailbox item at a
time: network messages (encoded bytes), agents' turns, and its own timers (the gossip
tick and the eager-push flush). It gossips in two ways:

- push-pull anti-entropy: every interval (+/- jitter) it sends its version digest to
  `fanout` random peers; a peer answers with only what the digest lacks plus its own
  digest, and the opener pushes back only what the peer lacks;
- eager push (Plumtree-style): each fresh local update is exported as a delta against the
  version just before it and pushed along a spanning tree; a replica forwards a rumor it
  has not seen to its tree neighbours except the one it came from. Anti-entropy repairs
  whatever the tree loses to drops, partitions and crashes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from agentsync._errors import CorruptUpdateError
from agentsync._strategy import StrategyCounters, StrategyReplica
from agentsync._wire import (
    EagerPush,
    Message,
    Rumor,
    SyncPush,
    SyncReply,
    SyncRequest,
    decode_message,
)

from .agent import Turn
from .history import History
from .network import Network

__all__ = ["GossipSettings", "ReplicaActor", "ReplicaStats", "spanning_tree"]

log = structlog.get_logger(__name__)

_SEEN_RUMORS: Final = 1024
"""Rumor ids a replica remembers; a tree delivers each rumor once, so only network
duplicates (which arrive soon after the original) need catching."""

Inbound = bytes | Turn


def spanning_tree(replicas: int, degree: int, rng: random.Random) -> list[list[int]]:
    """Neighbours of each replica in a random `degree`-ary spanning tree."""
    order = list(range(replicas))
    rng.shuffle(order)
    neighbours: list[list[int]] = [[] for _ in range(replicas)]
    for position in range(1, replicas):
        child, parent = order[position], order[(position - 1) // degree]
        neighbours[child].append(parent)
        neighbours[parent].append(child)
    return neighbours


@dataclass(frozen=True, slots=True)
class GossipSettings:
    interval_s: float
    jitter: float
    """Each interval is interval_s * (1 +/- jitter)."""
    fanout: int
    eager: bool
    flush_s: float


@dataclass(slots=True)
class ReplicaStats:
    rounds: int = 0
    """Anti-entropy rounds this replica opened."""
    imports: int = 0
    corrupt: int = 0
    rumors_forwarded: int = 0
    duplicate_rumors: int = 0
    turns_lost: int = 0
    """Agents' turns cut short by a crash."""
    crashes: int = 0
    retired: list[StrategyCounters] = field(default_factory=list)
    """Counters of incarnations lost to non-durable crashes."""


class ReplicaActor:
    def __init__(
        self,
        index: int,
        *,
        make: Callable[[int], StrategyReplica],
        network: Network,
        history: History,
        gossip: GossipSettings,
        tree: list[int],
        replicas: int,
        rng: random.Random,
        mailbox: int,
        namespace: tuple[str, ...],
    ) -> None:
        self.index = index
        self.replica = make(0)
        self.stats = ReplicaStats()
        self.down = False
        self.arbitrating = False
        self.incarnation = 0
        self.namespace = namespace
        self._make = make
        self._network = network
        self._history = history
        self._gossip = gossip
        self._tree = tree
        # the other replicas, as positions 0..replicas-2 (a list of them per replica
        # would be quadratic: 800 MB at 10,000 replicas)
        self._others = replicas - 1
        self._rng = rng
        self._inbox_send: MemoryObjectSendStream[Inbound]
        self._inbox: MemoryObjectReceiveStream[Inbound]
        self._inbox_send, self._inbox = anyio.create_memory_object_stream[Inbound](mailbox)
        self._scope: anyio.CancelScope | None = None
        self._restarted = anyio.Event()
        self._rumor_seq = 0
        self._seen_rumors: dict[tuple[int, int], None] = {}
        self._outbox: dict[int, list[Rumor]] = {}
        self._next_tick = math.inf
        self._next_flush = math.inf
        self._log = log.bind(replica=index)

    # -- mailbox ---------------------------------------------------------------------------
    def deliver(self, data: bytes) -> bool:
        """Network side: drop the message (False) if the mailbox is full."""
        try:
            self._inbox_send.send_nowait(data)
        except (anyio.WouldBlock, anyio.ClosedResourceError):
            return False
        return True

    async def submit(self, turn: Turn) -> None:
        """Agent side: waits while the mailbox is full (backpressure)."""
        await self._inbox_send.send(turn)

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve until cancelled; a crash parks the task until `restart`."""
        try:
            while True:
                with anyio.CancelScope() as scope:
                    self._scope = scope
                    await self._serve()
                self._scope = None
                await self._restarted.wait()
        finally:
            self.close()

    def close(self) -> None:
        """Close the mailbox (both ends); later deliveries are refused."""
        self._inbox_send.close()
        self._inbox.close()

    def crash(self, *, durable: bool) -> None:
        """Stop now: the mailbox and everything in memory is lost; with `durable` the
        replica's state survives (its store), else it restarts empty."""
        if self.down:
            return
        self.down = True
        self.stats.crashes += 1
        self._restarted = anyio.Event()
        if self._scope is not None:
            self._scope.cancel()
        while True:
            try:
                item = self._inbox.receive_nowait()
            except anyio.WouldBlock:
                break
            if isinstance(item, Turn):
                self.stats.turns_lost += 1
        self._outbox.clear()
        self._seen_rumors.clear()
        self._next_flush = math.inf
        if not durable:
            self.stats.retired.append(self.replica.counters)
            self._history.forget(self.index)
            self.incarnation += 1
            self.replica = self._make(self.incarnation)
        self._log.info("replica crashed", durable=durable)

    def restart(self) -> None:
        if not self.down:
            return
        self.down = False
        self.incarnation += 1  # turns begun before the crash are void
        self._restarted.set()
        self._log.info("replica restarted")

    # -- the loop ------------------------------------------------------------------------------
    async def _serve(self) -> None:
        gossip = self._gossip
        now = anyio.current_time()
        if self._next_tick == math.inf or self._next_tick < now:
            self._next_tick = now + self._rng.uniform(0.0, gossip.interval_s)
        inbox = self._inbox
        while True:
            decision = self.replica.decision_due_at()
            deadline = min(
                self._next_tick, self._next_flush, math.inf if decision is None else decision
            )
            item: Inbound | None = None
            with anyio.move_on_after(deadline - anyio.current_time()):
                item = await inbox.receive()
            if item is None:
                now = anyio.current_time()
                if self._next_flush <= now:
                    self._flush()
                if self._next_tick <= now:
                    self._tick(now)
                if decision is not None and decision <= now:
                    await self._arbitrate()
                continue
            await self._handle(item)
            while True:  # drain what queued up meanwhile without re-arming a timeout
                try:
                    item = inbox.receive_nowait()
                except anyio.WouldBlock:
                    break
                await self._handle(item)

    async def _handle(self, item: Inbound) -> None:
        if isinstance(item, bytes):
            await self._on_message(item)
        else:
            await self._on_turn(item)

    def _tick(self, now: float) -> None:
        gossip = self._gossip
        spread = gossip.jitter * self._rng.uniform(-1.0, 1.0)
        self._next_tick = now + gossip.interval_s * (1.0 + spread)
        if not self._others:
            return
        self.stats.rounds += 1
        version = self.replica.version()
        fanout = min(gossip.fanout, self._others)
        # the same draws as sampling the list of the others: position p is replica p,
        # or p + 1 past our own index
        peers = [p + (p >= self.index) for p in self._rng.sample(range(self._others), fanout)]
        for peer in peers:
            self._network.send(self.index, peer, SyncRequest(self.index, version))
        self._log.debug("gossip round", peers=peers, round=self.stats.rounds)

    # -- agents ----------------------------------------------------------------------------------
    async def _on_turn(self, turn: Turn) -> None:
        replica = self.replica
        if turn.phase != "commit":
            turn.incarnation = self.incarnation
            turn.seen = replica.observe()
            turn.held = self._history.snapshot(self.index)
            turn.read = replica.read(self.namespace, turn.key)
            if turn.phase == "begin":
                return
        elif turn.incarnation != self.incarnation:
            self.stats.turns_lost += 1
            return
        planned = turn.agent.plan(turn.action, turn.read)
        if planned is None:
            return
        value, intents = planned
        before = replica.version()
        op_id = replica.write(
            self.namespace, turn.key, value, agent=turn.agent.name, seen=turn.seen
        )
        if not op_id:
            return
        delta = replica.export_updates(before)
        self._history.record_write(
            op_id,
            replica=self.index,
            agent=turn.agent.name,
            namespace=self.namespace,
            key=turn.key,
            at=anyio.current_time(),
            held=turn.held,
            intents=intents,
            value=value,
            update_bytes=len(delta),
        )
        if self._gossip.eager:
            self._rumor(delta)
        await self._arbitrate()

    async def _arbitrate(self) -> None:
        replica = self.replica
        before = replica.version() if self._gossip.eager else None
        self.arbitrating = True  # a model may be thinking: the replica is not settled
        try:
            calls = await replica.arbitrate()
        finally:
            self.arbitrating = False
        if calls and before is not None:
            self._rumor(replica.export_updates(before))

    # -- messages --------------------------------------------------------------------------------
    async def _on_message(self, data: bytes) -> None:
        try:
            message: Message = decode_message(data)
        except CorruptUpdateError as exc:
            self.stats.corrupt += 1
            self._log.warning("undecodable message", error=str(exc))
            return
        replica = self.replica
        try:
            if isinstance(message, SyncRequest):
                updates = replica.export_updates(message.version)
                version = replica.version()
                if updates or version != message.version:
                    reply = SyncReply(self.index, version, updates)
                    self._network.send(self.index, message.src, reply)
            elif isinstance(message, SyncReply):
                await self._import(message.updates)
                mine = replica.export_updates(message.version)
                if mine:
                    self._network.send(self.index, message.src, SyncPush(self.index, mine))
            elif isinstance(message, SyncPush):
                await self._import(message.updates)
            else:
                await self._on_eager(message)
        except CorruptUpdateError as exc:
            self.stats.corrupt += 1
            self._log.warning("corrupt update", error=str(exc), src=message.src)

    async def _import(self, blob: bytes) -> None:
        if not blob:
            return
        ops = self.replica.import_updates(blob)
        self.stats.imports += 1
        if ops:
            self._history.delivered(self.index, ops, anyio.current_time())
        await self._arbitrate()

    async def _on_eager(self, message: EagerPush) -> None:
        seen = self._seen_rumors
        fresh: list[Rumor] = []
        for rumor in message.rumors:
            rid = (rumor.origin, rumor.seq)
            if rid in seen:
                self.stats.duplicate_rumors += 1
                continue
            self._remember(rid)
            fresh.append(rumor)
        if not fresh:
            return
        replica = self.replica
        applied: list[str] = []
        for rumor in fresh:
            try:
                applied.extend(replica.import_updates(rumor.blob))
            except CorruptUpdateError as exc:
                self.stats.corrupt += 1
                self._log.warning("corrupt rumor", error=str(exc), origin=rumor.origin)
        self.stats.imports += 1
        if applied:
            self._history.delivered(self.index, applied, anyio.current_time())
        for peer in self._tree:
            if peer != message.src:
                self._queue(peer, fresh)
                self.stats.rumors_forwarded += len(fresh)
        await self._arbitrate()

    # -- eager push ------------------------------------------------------------------------------
    def _remember(self, rid: tuple[int, int]) -> None:
        seen = self._seen_rumors
        seen[rid] = None
        if len(seen) > _SEEN_RUMORS:
            del seen[next(iter(seen))]

    def _rumor(self, blob: bytes) -> None:
        if not blob or not self._tree:
            return
        rumor = Rumor(self.index, self._rumor_seq, blob)
        self._rumor_seq += 1
        self._remember((rumor.origin, rumor.seq))
        for peer in self._tree:
            self._queue(peer, [rumor])

    def _queue(self, peer: int, rumors: list[Rumor]) -> None:
        if self._gossip.flush_s <= 0:
            self._network.send(self.index, peer, EagerPush(self.index, rumors))
            return
        self._outbox.setdefault(peer, []).extend(rumors)
        if self._next_flush == math.inf:
            self._next_flush = anyio.current_time() + self._gossip.flush_s

    def _flush(self) -> None:
        self._next_flush = math.inf
        outbox, self._outbox = self._outbox, {}
        for peer, rumors in outbox.items():
            self._network.send(self.index, peer, EagerPush(self.index, rumors))
