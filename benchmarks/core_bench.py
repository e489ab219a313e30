"""Cost of one write + read back on a key as its history grows (issue 2, issue 7 target 1).

Reports ratios from one run: Core.put vs LangGraph InMemoryStore.put on the same 4-field
value (text, list, int, nested dict), and the cost at write 10,000 vs write 100.

    .venv/bin/python benchmarks/core_bench.py [--writes 10000]
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import structlog
from langgraph.store.memory import InMemoryStore

from agentsync import _accel
from agentsync._core import Core

NS = ("bench",)


def value(i: int) -> dict[str, Any]:
    return {
        "notes": f"step {i}: looked at source {i % 7}",
        "tags": ["alpha", "beta", f"t{i % 5}"],
        "count": i,
        "meta": {"owner": "agent", "round": i % 3},
    }


def per_op_us(fn: Any, values: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for v in values:
        fn(v)
    return (time.perf_counter() - start) / len(values) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    print(f"agentsync build: {_accel.build_name()}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    window = args.window

    core = Core(peer_id=1)
    mem = InMemoryStore()
    vals = [value(i) for i in range(args.writes + window)]

    def core_put(v: dict[str, Any]) -> None:
        core.put(NS, "hot", v, agent="a", turn=None, now=0.0)

    def core_put_get(v: dict[str, Any]) -> None:
        core.put(NS, "hot", v, agent="a", turn=None, now=0.0)
        core.get(NS, "hot")

    # warm both, then measure at history 100 and at history N
    per_op_us(core_put, vals[:100])
    early = per_op_us(core_put_get, vals[100 : 100 + window])
    per_op_us(core_put, vals[100 + window : args.writes])
    late = per_op_us(core_put_get, vals[args.writes : args.writes + window])
    late_put = per_op_us(core_put, vals[:window])
    late_get = per_op_us(lambda v: core.get(NS, "hot"), vals[:window])

    for v in vals[:100]:
        mem.put(NS, "hot", v)
    mem_put = per_op_us(lambda v: mem.put(NS, "hot", v), vals[:window])
    mem_get = per_op_us(lambda v: mem.get(NS, "hot"), vals[:window])

    print(f"history {args.writes} writes on one key, {window}-op windows")
    print(f"  write+read at history 100:    {early:8.1f} us")
    print(
        f"  write+read at history {args.writes}: {late:8.1f} us"
        f"   ratio {late / early:.2f}x (target <= 1.5x)"
    )
    print(
        f"  Core.put  {late_put:7.1f} us vs InMemoryStore.put {mem_put:5.1f} us:"
        f" {late_put / mem_put:.1f}x (target <= 5x)"
    )
    print(
        f"  Core.get  {late_get:7.1f} us vs InMemoryStore.get {mem_get:5.1f} us:"
        f" {late_get / mem_get:.1f}x (target <= 2x)"
    )


if __name__ == "__main__":
    main()
