"""A LangGraph run end to end on SyncedStore against InMemoryStore (issue 15 item 11):
8 parallel nodes x 10 supersteps; each node does 5 get+put pairs on its own keys and one
put to a key all nodes share.

    python benchmarks/graph_bench.py [--nodes 8] [--steps 10] [--runs 5]

Prints the median wall time of a run on each store and the ratio (target <= 1.5x).
"""

from __future__ import annotations

import argparse
import logging
import operator
import statistics
import time
from typing import Annotated, Any, TypedDict

import structlog
from langgraph.graph import START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from agentsync import SyncedStore
from agentsync._accel import build_name


class State(TypedDict):
    step: Annotated[int, operator.add]


def build(store: BaseStore, nodes: int, steps: int) -> Any:
    builder = StateGraph(State)

    def make(name: str) -> Any:
        def node(state: State, *, store: BaseStore) -> dict[str, int]:
            step = state["step"]
            for i in range(5):
                key = f"{name}-{i}"
                item = store.get(("agents", name), key)
                count = 0 if item is None else int(item.value["count"])
                store.put(
                    ("agents", name),
                    key,
                    {"count": count + 1, "notes": f"step {step} by {name}", "tags": [name]},
                )
            store.put(("shared",), "board", {name: step, "findings": f"{name} saw {step}"})
            return {"step": 1}

        return node

    names = [f"node{n}" for n in range(nodes)]
    for name in names:
        builder.add_node(name, make(name))
        builder.add_edge(START, name)

    # every node loops back to every node's next superstep until the step count is reached
    def route(state: State) -> list[str]:
        return names if state["step"] < steps * nodes else []

    builder.add_node("join", lambda state: {})
    for name in names:
        builder.add_edge(name, "join")
    builder.add_conditional_edges("join", route)
    return builder.compile(store=store)


def run_once(make_store: Any, nodes: int, steps: int) -> float:
    store = make_store()
    graph = build(store, nodes, steps)
    start = time.perf_counter()
    graph.invoke({"step": 0}, {"recursion_limit": 10 * steps + 10})
    elapsed = time.perf_counter() - start
    item = store.get(("agents", "node0"), "node0-0")
    assert item is not None and item.value["count"] == steps
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"build: {build_name()}")
    times: dict[str, list[float]] = {"InMemoryStore": [], "SyncedStore": []}
    for _ in range(args.runs):  # interleaved, so both see the same machine
        times["InMemoryStore"].append(run_once(InMemoryStore, args.nodes, args.steps))
        times["SyncedStore"].append(run_once(SyncedStore, args.nodes, args.steps))
    base = statistics.median(times["InMemoryStore"])
    ours = statistics.median(times["SyncedStore"])
    print(f"{args.nodes} nodes x {args.steps} supersteps, median of {args.runs} runs:")
    print(f"  InMemoryStore {base * 1e3:.1f} ms, SyncedStore {ours * 1e3:.1f} ms")
    print(f"  SyncedStore / InMemoryStore: {ours / base:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
