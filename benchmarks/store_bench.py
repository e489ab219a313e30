"""SyncedStore vs LangGraph's InMemoryStore: put and get cost as a key's history grows.

    .venv/bin/python benchmarks/store_bench.py [--history 10000] [--window 200] [--keys 2000]

Every store gets the same values: one key rewritten `--history` times with a 4-field
value (a text field, a set, a register, a number), as an agent updating its memory. The
put cost is measured over a window of writes around write 100 and around the last
write; get is measured on the final value; then each put followed by a get of the same
key (the read pays for materializing what the put changed); then the same puts from
inside a LangGraph node; then puts spread round-robin over `--keys` keys. Targets (issue
7): put within 5x of InMemoryStore, flat as history grows (last window within 1.5x of the
first), get within 2x, spread puts within 5x. A benchmark, not a test: it prints what it
measured.
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any, TypedDict

import structlog
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from agentsync import _accel
from agentsync._store import AsyncSyncedStore, SyncedStore

NS = ("bench", "agent")


class _State(TypedDict):
    n: int


def value(i: int) -> dict[str, Any]:
    return {
        "notes": f"observation {i}: the build is {'green' if i % 2 else 'red'}",
        "tags": ["memory", f"topic-{i % 7}"],
        "status": f"step-{i % 3}",
        "n": i,
    }


def per_call(fn: Callable[[int], object], start: int, count: int, repeats: int = 5) -> float:
    """Median over `repeats` windows of the mean cost of one call, in microseconds."""
    samples = []
    for r in range(repeats):
        begin = start + r * count
        gc.disable()
        t0 = time.perf_counter()
        for i in range(begin, begin + count):
            fn(i)
        samples.append((time.perf_counter() - t0) / count * 1e6)
        gc.enable()
    return statistics.median(samples)


def measure(
    make: Callable[[], BaseStore], history: int, window: int, keys: int
) -> dict[str, float]:
    store = make()

    def put(i: int) -> None:
        store.put(NS, "memory", value(i))

    def get(i: int) -> None:
        store.get(NS, "memory")

    for i in range(100):
        put(i)
    early = per_call(put, 100, window)
    written = 100 + 5 * window
    for i in range(written, history):
        put(i)
    late = per_call(put, max(history, written), window)
    out = {"put@100": early, f"put@{history}": late, "get": per_call(get, 0, 2 * window)}

    # every put read back at once: an agent's read-modify-write
    def put_get(i: int) -> None:
        store.put(NS, "memory", value(i))
        store.get(NS, "memory")

    out["put+get"] = per_call(put_get, history + 5 * window, window)

    # the same puts from inside a LangGraph node (where a graph's agents write)
    def node(state: _State, *, store: BaseStore) -> dict[str, int]:
        out["in node"] = per_call(
            lambda i: store.put(NS, "memory", value(i)), history + 10 * window, window
        )
        return {"n": state["n"] + 1}

    graph = StateGraph(_State)
    graph.add_node("agent", node)
    graph.add_edge(START, "agent")
    graph.add_edge("agent", END)
    graph.compile(store=store).invoke({"n": 0})

    # puts spread over many keys, each already written once
    spread = make()
    names = [f"key-{k}" for k in range(keys)]
    for k, name in enumerate(names):
        spread.put(NS, name, value(k))

    def put_spread(i: int) -> None:
        spread.put(NS, names[i % keys], value(i))

    out[f"{keys} keys"] = per_call(put_spread, keys, window)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--keys", type=int, default=2_000)
    args = parser.parse_args()
    print(f"agentsync build: {_accel.build_name()}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    stores: dict[str, Callable[[], BaseStore]] = {
        "InMemoryStore": InMemoryStore,
        "SyncedStore": SyncedStore,
        "AsyncSyncedStore": AsyncSyncedStore,
    }
    results = {
        name: measure(make, args.history, args.window, args.keys) for name, make in stores.items()
    }
    late = f"put@{args.history}"
    spread = f"{args.keys} keys"
    columns = ["put@100", late, spread, "get", "put+get", "in node"]
    base = results["InMemoryStore"]
    print(f"{'store':<18}" + "".join(f"{c:>12}" for c in columns) + "      growth")
    for name, r in results.items():
        cells = "".join(f"{r[c]:>10.2f}us" for c in columns)
        print(f"{name:<18}{cells}{r[late] / r['put@100']:>11.2f}x")
    for name, r in results.items():
        if name != "InMemoryStore":
            cells = "".join(f"{r[c] / base[c]:>11.1f}x" for c in columns)
            print(f"{name + ' / InMem':<18}{cells}")
    print(
        f"targets: {late} <= 5x, {spread} <= 5x, get <= 2x, growth <= 1.5x (put+get, in node: none)"
    )


if __name__ == "__main__":
    main()
