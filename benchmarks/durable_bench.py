"""Issue 7 target 6: a durable put (SQLite) vs an in-memory SyncedStore.put.

Puts that arrive in batches (one `store.batch([...])` of 100 puts) share one fsync; a
single durable put pays a whole fsync. Ratios are from one run on a shared machine.

    .venv/bin/python benchmarks/durable_bench.py [--batches 20]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import structlog
from langgraph.store.base import PutOp

from agentsync import SyncedStore, _accel

NS = ("bench",)


def value(i: int) -> dict[str, object]:
    return {"notes": f"step {i}", "tags": ["a", f"t{i % 5}"], "n": i, "meta": {"r": i % 3}}


def batched_us(store: SyncedStore, batches: int, size: int) -> float:
    start = time.perf_counter()
    for b in range(batches):
        store.batch([PutOp(NS, f"k{i}", value(b * size + i)) for i in range(size)])
    return (time.perf_counter() - start) / (batches * size) * 1e6


def single_us(store: SyncedStore, puts: int) -> float:
    start = time.perf_counter()
    for i in range(puts):
        store.put(NS, f"s{i % 50}", value(i))
    return (time.perf_counter() - start) / puts * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    print(f"agentsync build: {_accel.build_name()}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        memory = SyncedStore()
        durable = SyncedStore(path=str(Path(tmp) / "bench.db"))
        batched_us(memory, 2, args.size)  # warm up
        batched_us(durable, 2, args.size)
        mem_batch = batched_us(memory, args.batches, args.size)
        dur_batch = batched_us(durable, args.batches, args.size)
        mem_single = single_us(memory, 200)
        dur_single = single_us(durable, 200)
        durable.close()
    print(
        f"puts in batches of {args.size}: in memory {mem_batch:7.1f} us/put, "
        f"SQLite {dur_batch:7.1f} us/put -> {dur_batch / mem_batch:.2f}x (target <= 3x)"
    )
    print(
        f"single puts:          in memory {mem_single:7.1f} us/put, "
        f"SQLite {dur_single:7.1f} us/put -> {dur_single / mem_single:.2f}x (one fsync each)"
    )


if __name__ == "__main__":
    main()
