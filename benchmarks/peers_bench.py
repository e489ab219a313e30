"""agentsync next to the published alternatives, on the same workload in one run.

    .venv/bin/pip install -e '.[peers]'   # once: agentcrdt and agent-coherence, pinned
    .venv/bin/python benchmarks/peers_bench.py [--history 10000] [--window 200]

Two measurements per store:

1. Speed: store_bench's workload (one key rewritten `--history` times with the same
   4-field value) and the cost of a put and a get around the last write, as a ratio to
   LangGraph's `InMemoryStore`.
2. What two races do to it: a real LangGraph graph whose two nodes run in one superstep,
   each reading the same item and writing it back with a change of its own (a barrier
   makes both read before either writes) -- once on different fields (the planner sets
   `status`, the reviewer adds a tag: nothing to lose) and once on the same field (they
   set `status` to different values: a genuine conflict). Reported: what survived, what
   was refused, what was flagged.

The peers: agent-coherence's `CCSStore` (a LangGraph store; a namespace's first label is
the agent) and agentcrdt's `WorldStore` (SQLite `:memory:`, not a LangGraph store: its
rows are driven directly -- in the races both agents read, then both write, as in the
graph -- with the value as one fact, and once more as one fact per field, each agent then
writing only the fields it changed). A peer that is not installed is reported as such.
A benchmark, not a test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import structlog
from langgraph.graph import START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from store_bench import NS, per_call, value

from agentsync import _accel
from agentsync._store import SyncedStore

AGENTCRDT = "agentcrdt==0.1.1"
AGENT_COHERENCE = "agent-coherence==0.15.0"
BASE = {"status": "draft", "tags": ["draft"]}


@dataclass
class Contender:
    name: str
    semantics: str
    put: Callable[[int], object] | None = None  # write value(i)
    get: Callable[[int], object] | None = None
    race: Callable[[Race], str] | None = None
    missing: str = ""  # why it is not measured


# -- the stores -------------------------------------------------------------------------


def langgraph_store(
    name: str, semantics: str, store: BaseStore, namespace: Callable[[str], tuple[str, ...]]
) -> Contender:
    ns = namespace("anonymous")
    return Contender(
        name,
        semantics,
        put=lambda i: store.put(ns, "memory", value(i)),
        get=lambda i: store.get(ns, "memory"),
        race=lambda race: graph_race(store, namespace, f"plan-{RACES.index(race)}", race),
    )


def ccs_store() -> Contender:
    # its documentation: read-side coherence; `put` is not version-checked (its stale-write
    # denial is CoherentVolume / `write_cas`, which the LangGraph store does not use)
    semantics = "read-side MESI cache coherence; put not version-checked (as documented)"
    try:
        from ccs.adapters.ccsstore import CCSStore  # type: ignore[import-untyped]
    except ImportError:
        return Contender("CCSStore", semantics, missing=f"pip install {AGENT_COHERENCE}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notice about a changed default
        store = CCSStore()
    return langgraph_store(
        "CCSStore (agent-coherence)", semantics, store, lambda agent: (agent, *NS)
    )


def agentcrdt_stores() -> list[Contender]:
    try:
        from agentcrdt import WorldFact, WorldStore
    except ImportError:
        missing = f"pip install {AGENTCRDT}"
        return [Contender("WorldStore (agentcrdt)", "", missing=missing)]
    semantics = "last-writer-wins per fact (higher version, then later timestamp)"

    def whole(store: Any) -> Callable[[int], object]:
        return lambda i: store.set_fact(
            WorldFact("bench", "memory", "value", value(i), version=i, agent_id="anonymous")
        )

    def per_field(store: Any) -> Callable[[int], object]:
        def put(i: int) -> None:
            for field, v in value(i).items():
                store.set_fact(
                    WorldFact("bench", "memory", field, v, version=i, agent_id="anonymous")
                )

        return put

    def race(by_field: bool) -> Callable[[Race], str]:
        def run(race: Race) -> str:
            # each agent reads version 1 and writes version 2 of what it changed
            store = WorldStore(":memory:")
            items = BASE.items() if by_field else [("value", BASE)]
            for attribute, v in items:
                store.set_fact(WorldFact("team", "plan", attribute, v, version=1))

            def read() -> dict[str, Any]:
                if not by_field:
                    fact = store.get_fact_by_key("team", "plan", "value")
                    return dict(fact.value) if fact else {}
                facts = {f.attribute: f.value for f in store.list_facts("team")}
                return {k: v for k, v in facts.items() if k in BASE}

            seen = {agent: read() for agent, _ in race.changes}
            for agent, change in race.changes:
                new = change(seen[agent])
                writes = {k: v for k, v in new.items() if v != seen[agent].get(k)}
                for attribute, v in writes.items() if by_field else [("value", new)]:
                    store.set_fact(
                        WorldFact("team", "plan", attribute, v, version=2, agent_id=agent)
                    )
            written = [agent for agent, _ in race.changes]
            return race.verdict(read(), written=written, refused=[], flagged=[])

        return run

    one, fields = WorldStore(":memory:"), WorldStore(":memory:")
    one_get = lambda i: one.get_fact_by_key("bench", "memory", "value")  # noqa: E731
    return [
        Contender(
            "WorldStore (agentcrdt), value as 1 fact", semantics, whole(one), one_get, race(False)
        ),
        Contender(
            "WorldStore (agentcrdt), 1 fact per field",
            semantics,
            per_field(fields),
            lambda i: [fields.get_fact_by_key("bench", "memory", f) for f in value(0)],
            race(True),
        ),
    ]


# -- the races --------------------------------------------------------------------------

Change = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Race:
    """Two agents read the same item, then each writes it back with its change."""

    title: str
    changes: tuple[tuple[str, Change], tuple[str, Change]]
    conflict: bool  # whether the two changes genuinely contradict each other

    def verdict(
        self,
        final: dict[str, Any] | None,
        *,
        written: list[str],
        refused: list[str],
        flagged: list[list[Any]],
    ) -> str:
        """What happened, from the item as it reads after both writes, the agents whose
        writes went through (in the order they did), the writes refused (`agent: error`)
        and the conflicts flagged on the item (each as its contenders' values). Which
        write lands last is up to the scheduler, so outcomes name writes by that order."""
        if final is None:
            return "the item is gone"

        def which(agent: str) -> str:
            place = "last" if written and written[-1] == agent else "first"
            return f"the {place} write ({agent}'s)"

        outcome = [f"refused {r}" for r in refused]
        contenders = sorted(str(v) for values in flagged for v in values)
        if self.conflict:
            status = final.get("status")
            by_value = {change(dict(BASE))["status"]: agent for agent, change in self.changes}
            if contenders:
                outcome.append(f"conflict flagged, contenders {contenders} (reads {status!r})")
            elif status in by_value:
                outcome.append(f"{which(by_value[status])} won silently: {status!r}")
            else:
                outcome.append(f"neither change kept (reads {status!r})")
            return "; ".join(outcome)
        lost = [
            agent
            for agent, change in self.changes
            if agent in written and not _applied(final, change)
        ]
        if not lost and not refused:
            outcome.append("both changes kept")
        outcome += [f"{which(agent)} lost" + ("" if flagged else " silently") for agent in lost]
        if contenders:
            outcome.append(f"a conflict flagged where there is none: {contenders}")
        return "; ".join(outcome)


def _applied(final: dict[str, Any], change: Change) -> bool:
    """Whether what `change` does to the base shows in `final`."""
    changed = change(dict(BASE))
    return all(
        final.get(k) == v if not isinstance(v, list) else set(v) <= set(final.get(k) or [])
        for k, v in changed.items()
        if v != BASE.get(k)
    )


RACES = (
    Race(
        "different fields: planner sets status, reviewer adds a tag",
        (
            ("planner", lambda v: {**v, "status": "approved"}),
            ("reviewer", lambda v: {**v, "tags": [*v["tags"], "reviewed"]}),
        ),
        conflict=False,
    ),
    Race(
        "same field: planner sets status approved, reviewer sets it rejected",
        (
            ("planner", lambda v: {**v, "status": "approved"}),
            ("reviewer", lambda v: {**v, "status": "rejected"}),
        ),
        conflict=True,
    ),
)


class _State(TypedDict):
    topic: str


def graph_race(
    store: BaseStore, namespace: Callable[[str], tuple[str, ...]], key: str, race: Race
) -> str:
    """A LangGraph graph whose two nodes (one superstep) read `key` and write it back."""
    store.put(namespace("setup"), key, dict(BASE))
    written: list[str] = []
    refused: list[str] = []
    # both have read before either writes (LangGraph runs a superstep's sync nodes on a
    # thread pool; without the barrier one node may finish before the other starts)
    both_read = threading.Barrier(2, timeout=10)

    def node(agent: str, change: Change) -> Any:
        def run(state: _State, *, store: BaseStore) -> dict[str, Any]:
            item = store.get(namespace(agent), key)
            assert item is not None
            both_read.wait()
            try:
                store.put(namespace(agent), key, change(dict(item.value)))
            except Exception as exc:
                refused.append(f"{agent}: {type(exc).__name__}")
            else:
                written.append(agent)
            return {}

        return run

    builder = StateGraph(_State)
    for agent, change in race.changes:
        builder.add_node(agent, node(agent, change))
        builder.add_edge(START, agent)
    builder.compile(store=store).invoke({"topic": "release"})
    item = store.get(namespace("setup"), key)
    escalations = getattr(store, "escalations", None)  # agentsync's: the open conflicts
    open_conflicts = escalations(namespace("setup")) if callable(escalations) else []
    flagged = [
        [c.value for c in e.contenders] for e in open_conflicts if e.key == key
    ]  # fmt: skip
    final = item.value if item else None
    return race.verdict(final, written=written, refused=refused, flagged=flagged)


# -- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    print(f"agentsync build: {_accel.build_name()}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.disable(logging.WARNING)  # the peers' own notices
    history, window = args.history, args.window

    contenders = [
        langgraph_store(
            "InMemoryStore (LangGraph)", "last write wins", InMemoryStore(), lambda a: NS
        ),
        langgraph_store(
            "SyncedStore (agentsync)", "CRDT merge + escalation", SyncedStore(), lambda a: NS
        ),
        ccs_store(),
        *agentcrdt_stores(),
    ]
    rows: list[tuple[Contender, float, float]] = []
    for c in contenders:
        if c.put is None or c.get is None:
            continue
        for i in range(history):
            c.put(i)
        rows.append((c, per_call(c.put, history, window), per_call(c.get, 0, window)))
    base_put, base_get = rows[0][1], rows[0][2]
    print(f"put and get at history {history} ({window}-call windows, median of 5)")
    print(f"{'store':<42}{'put':>10}{'x':>7}{'get':>10}{'x':>7}")
    for c, put_us, get_us in rows:
        print(
            f"{c.name:<42}{put_us:>8.2f}us{put_us / base_put:>6.1f}x"
            f"{get_us:>8.2f}us{get_us / base_get:>6.1f}x"
        )
    for race in RACES:
        print(f"\nrace, {race.title}")
        for c in contenders:
            if c.missing:
                print(f"  {c.name:<42}not installed: {c.missing}")
            elif c.race is not None:
                print(f"  {c.name:<42}{c.race(race)}")
    print("\nsemantics")
    for c in contenders:
        if c.semantics:
            print(f"  {c.name:<42}{c.semantics}")


if __name__ == "__main__":
    main()
