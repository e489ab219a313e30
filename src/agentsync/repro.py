"""`python -m agentsync.repro`: the lost write, reproduced, then fixed.

Two LangGraph nodes run in parallel (one superstep) and both update the shared memory
item `("team", "plan")`: each appends its finding and sets the status. On LangGraph's
stock `InMemoryStore` one node's finding disappears without an error (last write wins).
The same graph compiled with `SyncedStore` keeps both findings and escalates the status,
which really is a disagreement; then the async variant on `AsyncSyncedStore`.

The graph code is plain LangGraph: nodes reach the store through `get_store()`, so the
`InMemoryStore` run has no agentsync code in its write path.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import version
from typing import Annotated, Any, TypedDict

import structlog
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from ._store import AsyncSyncedStore, SyncedStore

__all__ = ["main", "build_graph", "build_async_graph", "run_sync", "run_async"]

NS = ("team",)
KEY = "plan"
SEED: dict[str, Any] = {"status": "draft", "findings": ["scope agreed"]}
WRITES = {
    "researcher": ("approved", "benchmarks look good"),
    "critic": ("needs-work", "no tests for the error path"),
}


class State(TypedDict):
    done: Annotated[list[str], operator.add]


def _updated(agent: str, item: Any) -> dict[str, Any]:
    """What `agent` writes: what it read, plus its finding, with its status."""
    current = dict(item.value) if item else {}
    status, finding = WRITES[agent]
    return {**current, "status": status, "findings": [*current.get("findings", []), finding]}


def _node(agent: str, thinking: threading.Barrier) -> Any:
    def node(state: State) -> State:
        store = get_store()
        item = store.get(NS, KEY)
        # Real agents think (call a model) between reading and writing; the barrier
        # stands in for that: both have read before either writes.
        thinking.wait(timeout=30)
        store.put(NS, KEY, _updated(agent, item))
        return {"done": [agent]}

    node.__name__ = agent
    return node


def _anode(agent: str, thinking: asyncio.Barrier) -> Any:
    async def node(state: State) -> State:
        store = get_store()
        item = await store.aget(NS, KEY)
        async with asyncio.timeout(30):
            await thinking.wait()
        await store.aput(NS, KEY, _updated(agent, item))
        return {"done": [agent]}

    node.__name__ = agent
    return node


def _wire(builder: StateGraph[Any]) -> None:
    for agent in WRITES:
        builder.add_edge(START, agent)
        builder.add_edge(agent, END)


def build_graph(store: BaseStore) -> Any:
    """START -> researcher, critic (in parallel) -> END; sync nodes."""
    builder: StateGraph[Any] = StateGraph(State)
    thinking = threading.Barrier(len(WRITES))
    for agent in WRITES:
        builder.add_node(agent, _node(agent, thinking))
    _wire(builder)
    return builder.compile(store=store)


def build_async_graph(store: BaseStore) -> Any:
    """The same graph with async nodes (`aget`/`aput`)."""
    builder: StateGraph[Any] = StateGraph(State)
    thinking = asyncio.Barrier(len(WRITES))
    for agent in WRITES:
        builder.add_node(agent, _anode(agent, thinking))
    _wire(builder)
    return builder.compile(store=store)


def run_sync(store: BaseStore) -> dict[str, Any]:
    store.put(NS, KEY, dict(SEED))
    build_graph(store).invoke({"done": []})
    item = store.get(NS, KEY)
    return dict(item.value) if item else {}


async def run_async(store: BaseStore) -> dict[str, Any]:
    await store.aput(NS, KEY, dict(SEED))
    await build_async_graph(store).ainvoke({"done": []})
    item = await store.aget(NS, KEY)
    return dict(item.value) if item else {}


def _lost(final: dict[str, Any]) -> list[str]:
    """The agents whose finding is not in the final value."""
    findings = final.get("findings", [])
    return [agent for agent, (_, finding) in WRITES.items() if finding not in findings]


def _show_value(final: dict[str, Any]) -> None:
    print(f"    status:   {final.get('status')!r}")
    for finding in final.get("findings", []):
        print(f"    finding:  {finding!r}")


def _show_synced(store: SyncedStore | AsyncSyncedStore, final: dict[str, Any]) -> bool:
    _show_value(final)
    lost = _lost(final)
    escalations = store.escalations(NS)
    print(f"    lost writes: {lost or 'none'}")
    for esc in escalations:
        who = ", ".join(f"{c.agent_id}={c.value!r}" for c in esc.contenders)
        print(f"    ESCALATED {'/'.join(esc.namespace)}:{esc.key} field {esc.field!r}: {who}")
    for record in store.history(NS, KEY):
        print(f"    history:  {record.agent_id:<10} {record.action} {', '.join(record.fields)}")
    return not lost and [e.field for e in escalations] == ["status"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three demonstrations; exit status 0 when each behaved as described."""
    del argv
    if not structlog.is_configured():
        # A demo program may quiet the debug events; the library itself never configures.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"langgraph {version('langgraph')}, agentsync on loro {version('loro')}")
    print()
    print("Two parallel nodes update ('team', 'plan'):")
    for agent, (status, finding) in WRITES.items():
        print(f"    {agent:<10} status={status!r} + finding {finding!r}")

    print()
    print("1. stock InMemoryStore, graph.invoke()")
    stock = run_sync(InMemoryStore())
    _show_value(stock)
    lost = _lost(stock)
    print(f"    lost writes: {lost or 'none'}  <- no error, no warning")
    ok = bool(lost)

    print()
    print("2. SyncedStore, graph.invoke()")
    synced = SyncedStore()
    ok = _show_synced(synced, run_sync(synced)) and ok

    print()
    print("3. AsyncSyncedStore, await graph.ainvoke()")
    async_store = AsyncSyncedStore()
    ok = _show_synced(async_store, asyncio.run(run_async(async_store))) and ok

    print()
    print("reproduced and fixed" if ok else "UNEXPECTED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
