"""SyncedStore vs LangGraph's InMemoryStore: put and get cost as a key's history grows.

    .venv/bin/python benchmarks/store_bench.py [--history 10000] [--window 500]

Every store gets the same values: one key rewritten `--history` times with a 4-field
value (a text field, a set, a register, a number), as an agent updating its memory. The
put cost is measured over a window of writes around write 100 and around the last
write; get is measured on the final value. Targets (issue 3): put within 5x of
InMemoryStore, flat as history grows (last window within 1.5x of the first), get within
2x. A benchmark, not a test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import structlog
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from agentsync._store import AsyncSyncedStore, SyncedStore

NS = ("bench", "agent")


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


def measure(store: BaseStore, history: int, window: int) -> dict[str, float]:
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
    return {"put@100": early, f"put@{history}": late, "get": per_call(get, 0, 2 * window)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    stores: dict[str, Callable[[], BaseStore]] = {
        "InMemoryStore": InMemoryStore,
        "SyncedStore": SyncedStore,
        "AsyncSyncedStore": AsyncSyncedStore,
    }
    results = {name: measure(make(), args.history, args.window) for name, make in stores.items()}
    late = f"put@{args.history}"
    base = results["InMemoryStore"]
    print(f"{'store':<18}{'put@100':>11}{late:>13}{'get':>9}   vs InMemoryStore  growth")
    for name, r in results.items():
        ratio = (
            f"put {r[late] / base[late]:5.1f}x  get {r['get'] / base['get']:4.1f}x"
            if name != "InMemoryStore"
            else " " * 20
        )
        print(
            f"{name:<18}{r['put@100']:>9.1f}us{r[late]:>11.1f}us{r['get']:>7.2f}us"
            f"   {ratio}  {r[late] / r['put@100']:4.2f}x"
        )
    print("targets: put <= 5x, get <= 2x, growth <= 1.5x")


if __name__ == "__main__":
    main()
