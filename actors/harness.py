"""Run one scenario under one strategy: build the actors, play the faults, detect
convergence, then score the end state against the truth from the delivery history.

The harness never looks at which strategy runs: replicas come from
`agentsync._strategies.make_replica` and are driven only through `StrategyReplica`.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import structlog

from agentsync._strategies import make_replica
from agentsync._strategy import StrategyReplica

from . import clock
from .agent import Agent
from .checker import ReplicaState, Score, expectation_failures, ground_truth, score
from .history import History
from .network import Network, NetworkStats
from .replica import GossipSettings, ReplicaActor, spanning_tree
from .scenario import ExpectSpec, Scenario

__all__ = ["ROW_KEYS", "RunConfig", "RunResult", "run_scenario", "simulate"]

log = structlog.get_logger(__name__)

ROW_KEYS: tuple[str, ...] = (
    "scenario",
    "strategy",
    "replicas",
    "verdict",
    "outcome",
    "converged",
    "convergence_ms",
    "usable_after_ms",
    "rounds",
    "messages",
    "bytes",
    "writes",
    "msgs_per_write",
    "stable_latency_ms",
    "writes_lost",
    "conflicts_expected",
    "escalations",
    "resolved",
    "missed_conflicts",
    "false_escalations",
    "attribution_complete",
    "model_calls",
    "wall_ms",
    "peak_mem_kb",
)
"""The keys of a benchmark result row, exactly (issue 4)."""

_SAMPLE_S = 0.05


@dataclass(frozen=True, slots=True)
class RunConfig:
    strategy: str
    replicas: int | None = None
    """Override the scenario's replica count."""
    seed: int = 0
    jitter: bool = False
    realtime: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    """Extra `make_replica` options (e.g. a resolver)."""


@dataclass(slots=True)
class RunResult:
    scenario: str
    strategy: str
    replicas: int
    converged: bool
    convergence_ms: float | None
    """Simulated ms from the last write until every replica showed the same state."""
    usable_after_ms: float | None
    """Simulated ms from the last conflicting write (the last write if nothing
    conflicted) until every replica read the same decided value for every field; None
    if a conflict was still open when the run ended (nobody drained it)."""
    rounds: float | None
    """The same span in gossip intervals."""
    messages: int
    bytes: int
    writes: int
    latencies_ms: list[float]
    score: Score
    model_calls: int
    wall_ms: float
    peak_mem_kb: int
    failures: list[str]
    timeline: list[tuple[float, float]]
    """(simulated seconds, deliveries so far / every write at every replica)."""
    network: NetworkStats
    sim_ms: float
    gossip_rounds: int
    """Anti-entropy rounds opened by all replicas together."""
    payload_min_bytes: int
    """Every write's own delta delivered once to every other replica: the least any
    gossip could ship (before framing and digests)."""
    digest_bytes: int
    """Bytes of the anti-entropy openers (version digests)."""

    @property
    def bytes_ratio(self) -> float | None:
        """Bytes sent over the minimum: every update delivered once to every other
        replica, plus the digests (1.0 would be perfect)."""
        floor = self.payload_min_bytes + self.digest_bytes
        return self.bytes / floor if self.payload_min_bytes else None

    @property
    def verdict(self) -> Literal["PASS", "FAIL"]:
        return "FAIL" if self.failures else "PASS"

    def percentiles(self) -> dict[str, float | None]:
        return _percentiles(self.latencies_ms)

    def row(self) -> dict[str, Any]:
        """One JSON result row with exactly `ROW_KEYS`."""
        s = self.score
        row = {
            "scenario": self.scenario,
            "strategy": self.strategy,
            "replicas": self.replicas,
            "verdict": self.verdict,
            "outcome": s.outcome,
            "converged": self.converged,
            "convergence_ms": _round(self.convergence_ms),
            "usable_after_ms": _round(self.usable_after_ms),
            "rounds": self.rounds,
            "messages": self.messages,
            "bytes": self.bytes,
            "writes": self.writes,
            "msgs_per_write": round(self.messages / self.writes, 2) if self.writes else None,
            "stable_latency_ms": self.percentiles(),
            "writes_lost": s.writes_lost,
            "conflicts_expected": s.conflicts_expected,
            "escalations": s.escalations,
            "resolved": s.resolved,
            "missed_conflicts": s.missed_conflicts,
            "false_escalations": s.false_escalations,
            "attribution_complete": s.attribution_complete,
            "model_calls": self.model_calls,
            "wall_ms": round(self.wall_ms, 1),
            "peak_mem_kb": self.peak_mem_kb,
        }
        assert tuple(row) == ROW_KEYS
        return row


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def pick(q: float) -> float:
        # nearest-rank: the smallest value with at least q of the samples at or below it
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": round(ordered[-1], 1)}


def _rss_kb() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            resident = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return resident * os.sysconf("SC_PAGE_SIZE") // 1024


class _Simulation:
    def __init__(self, scenario: Scenario, config: RunConfig) -> None:
        self.scenario = scenario
        self.config = config
        n = config.replicas or scenario.replicas
        self.n = n
        seed = config.seed
        self.history = History(n)
        g = scenario.gossip
        self.gossip = GossipSettings(
            interval_s=g.interval_ms / 1000,
            jitter=g.jitter if config.jitter else 0.0,
            fanout=g.fanout,
            eager=g.eager,
            flush_s=g.flush_ms / 1000,
        )
        self.network = Network(
            scenario.network,
            n,
            rng=random.Random(f"{seed}/network"),
            jitter=config.jitter,
            deliver=self._deliver,
            is_up=self._is_up,
        )
        tree = (
            spanning_tree(n, g.tree_degree, random.Random(f"{seed}/tree"))
            if g.eager
            else [[] for _ in range(n)]
        )
        options: dict[str, Any] = {
            "schema": scenario.schema(),
            "model_latency_s": scenario.model_latency_ms / 1000,
            # a resolver that escalates, then resolves waits one gossip interval for a
            # conflict's contenders to stop trickling in
            "settle_s": g.interval_ms / 1000,
            **config.options,
        }
        namespace = tuple(scenario.workload.namespace)

        def maker(i: int) -> Any:
            def make(incarnation: int) -> StrategyReplica:
                rng = random.Random(f"{seed}/replica/{i}/{incarnation}")
                return make_replica(config.strategy, f"r{i}", rng=rng, **options)

            return make

        self.actors = [
            ReplicaActor(
                i,
                make=maker(i),
                network=self.network,
                history=self.history,
                gossip=self.gossip,
                tree=tree[i],
                replicas=n,
                rng=random.Random(f"{seed}/gossip/{i}"),
                mailbox=scenario.network.mailbox,
                namespace=namespace,
            )
            for i in range(n)
        ]
        w = scenario.workload
        agents_total = n * w.agents_per_replica
        self.agents = [
            (
                i,
                Agent(
                    f"r{i}a{k}",
                    workload=w,
                    rng=random.Random(f"{seed}/agent/{i}/{k}"),
                    agents=agents_total,
                ),
            )
            for i in range(n)
            for k in range(w.agents_per_replica)
        ]
        self.agents_done = anyio.Event()
        self.faults_done = anyio.Event()
        self.timeline: list[tuple[float, float]] = []
        self.converged_at: float | None = None
        self.peak_rss_kb = 0
        self.start = 0.0

    def _deliver(self, dst: int, data: bytes) -> bool:
        return self.actors[dst].deliver(data)

    def _is_up(self, i: int) -> bool:
        return not self.actors[i].down

    async def run(self) -> None:
        self.start = anyio.current_time()
        budget = self.scenario.max_ms / 1000
        with anyio.move_on_after(budget):
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.network.run)
                for actor in self.actors:
                    tg.start_soon(actor.run)
                tg.start_soon(self._run_agents)
                tg.start_soon(self._run_faults)
                tg.start_soon(self._monitor, tg.cancel_scope)

    async def _run_agents(self) -> None:
        async with anyio.create_task_group() as tg:
            for i, agent in self.agents:
                tg.start_soon(agent.run, self.actors[i])
        self.agents_done.set()

    async def _run_faults(self) -> None:
        events: list[tuple[float, int, str, Any]] = []
        for p in self.scenario.partitions:
            events.append((p.start_ms, len(events), "partition", p))
            events.append((p.heal_ms, len(events), "heal", p))
        for c in self.scenario.crashes:
            events.append((c.at_ms, len(events), "crash", c))
            if c.restart_ms is not None:
                events.append((c.restart_ms, len(events), "restart", c))
        for at_ms, _, what, spec in sorted(events, key=lambda e: (e[0], e[1])):
            delay = self.start + at_ms / 1000 - anyio.current_time()
            if delay > 0:
                await anyio.sleep(delay)
            if what == "partition":
                self.network.partition(spec.groups)
            elif what == "heal":
                self.network.heal()
            elif what == "crash":
                self.actors[spec.replica % self.n].crash(durable=spec.durable)
            else:
                self.actors[spec.replica % self.n].restart()
        self.faults_done.set()

    async def _monitor(self, scope: anyio.CancelScope) -> None:
        history = self.history
        while True:
            now = anyio.current_time()
            self.timeline.append((now - self.start, float(history.total_held)))
            self.peak_rss_kb = max(self.peak_rss_kb, _rss_kb())
            if (
                self.agents_done.is_set()
                and self.faults_done.is_set()
                and history.unstable == 0
                and not any(
                    a.down or a.arbitrating or a.replica.decision_due_at() is not None
                    for a in self.actors
                )
                and self._states_agree()
            ):
                self.converged_at = max(history.all_stable_at() or 0.0, history.last_change_at)
                scope.cancel()
                return
            await anyio.sleep(_SAMPLE_S)

    def _states_agree(self) -> bool:
        def fingerprint(actor: ReplicaActor) -> bytes:
            return ReplicaState.capture(actor.replica, attribution=False).fingerprint()

        first = fingerprint(self.actors[0])
        return all(fingerprint(a) == first for a in self.actors[1:])


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """Collect cyclic garbage less often while the simulation runs.

    A run allocates a few objects per write per replica (a million at 1000 replicas)
    that live until its end; at CPython's default thresholds the collector rescans them
    again and again (8% of the wall time at 1000 replicas). Restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


async def simulate(scenario: Scenario, config: RunConfig) -> RunResult:
    """Run the scenario on the current anyio loop (virtual or real time)."""
    wall0 = time.perf_counter()
    rss0 = _rss_kb()
    with _few_collections():
        sim = _Simulation(scenario, config)
        await sim.run()
    end = anyio.current_time()
    wall_ms = (time.perf_counter() - wall0) * 1000
    history = sim.history
    converged = sim.converged_at is not None
    # attribution is judged on the first replica only (it is the costly part to read)
    states = [ReplicaState.capture(a.replica, attribution=a.index == 0) for a in sim.actors]
    resolutions = sum(
        a.replica.counters.resolutions + sum(c.resolutions for c in a.stats.retired)
        for a in sim.actors
    )
    model_calls = sum(
        a.replica.counters.model_calls + sum(c.model_calls for c in a.stats.retired)
        for a in sim.actors
    )
    truth = ground_truth(history, scenario.field_kinds())
    result = score(history, truth, states, resolutions=resolutions)
    last_write = max((w.at for w in history.writes), default=sim.start)
    interval = scenario.gossip.interval_ms / 1000
    if converged:
        assert sim.converged_at is not None
        span = max(0.0, sim.converged_at - last_write)
        convergence_ms: float | None = span * 1000
        rounds: float | None = round(span / interval, 1)
    else:
        convergence_ms, rounds = None, None
    conflicts = truth.conflicts()
    if converged and not any(state.escalations for state in states):
        assert sim.converged_at is not None
        contenders = [w.at for f in conflicts.values() for w in f.contenders]
        since = max(contenders, default=last_write)
        usable_after_ms: float | None = max(0.0, sim.converged_at - since) * 1000
    else:
        usable_after_ms = None
    expect = scenario.expect.get(config.strategy, ExpectSpec())
    failures = expectation_failures(
        expect, converged=converged, result=result, model_calls=model_calls
    )
    for where, conflict in conflicts.items():
        log.info(
            "conflict",
            key=where[1],
            field=".".join(where[2]),
            contenders=sorted(w.agent for w in conflict.contenders),
            strategy=config.strategy,
        )
    net = sim.network.stats
    run = RunResult(
        scenario=scenario.name,
        strategy=config.strategy,
        replicas=sim.n,
        converged=converged,
        convergence_ms=convergence_ms,
        usable_after_ms=usable_after_ms,
        rounds=rounds,
        messages=net.messages,
        bytes=net.bytes,
        writes=len(history.writes),
        latencies_ms=[s * 1000 for s in history.latencies()],
        score=result,
        model_calls=model_calls,
        wall_ms=wall_ms,
        peak_mem_kb=max(0, sim.peak_rss_kb - rss0, _rss_kb() - rss0),
        failures=failures,
        timeline=[(t, held / (sim.n * len(history.writes) or 1)) for t, held in sim.timeline],
        network=net,
        sim_ms=(end - sim.start) * 1000,
        gossip_rounds=sum(a.stats.rounds for a in sim.actors),
        payload_min_bytes=sum(w.update_bytes for w in history.writes) * (sim.n - 1),
        digest_bytes=net.bytes_by_kind.get("SyncRequest", 0),
    )
    log.info(
        "run finished",
        scenario=scenario.name,
        strategy=config.strategy,
        verdict=run.verdict,
        outcome=result.outcome,
        converged=converged,
        writes=run.writes,
        writes_lost=result.writes_lost,
        messages=run.messages,
        failures=failures,
        median_latency_ms=statistics.median(run.latencies_ms) if run.latencies_ms else None,
    )
    return run


def run_scenario(scenario: Scenario, config: RunConfig) -> RunResult:
    """Run the scenario in a fresh event loop (virtual clock unless `config.realtime`)."""
    return clock.run(simulate, scenario, config, realtime=config.realtime, seed=config.seed)
