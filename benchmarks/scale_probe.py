"""How far a large clean_merge crdt run gets before a wall-clock or memory limit (issue 7).

Prints progress every `--every` seconds (simulated time reached, fraction of all
deliveries made, resident memory per replica) and stops the process at either limit.

    .venv/bin/python benchmarks/scale_probe.py --replicas 10000 --wall 150 --mem-gb 12

It reaches into the harness (`_Simulation`, `_rss_kb`, `_few_collections`): a probe, not
an API. For complete runs use `python bench.py --replicas N --scenario clean_merge`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import clock
from actors.harness import RunConfig, _few_collections, _rss_kb, _Simulation
from actors.scenario import load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--wall", type=float, default=150.0, help="stop after this many s")
    parser.add_argument("--mem-gb", type=float, default=12.0, help="stop past this RSS growth")
    parser.add_argument("--every", type=float, default=10.0, help="progress interval, s")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n = args.replicas
    started, rss0 = time.perf_counter(), _rss_kb()
    holder: dict[str, Any] = {}

    def report(tag: str) -> None:
        rss_gb = (_rss_kb() - rss0) / 2**20
        sim = holder.get("sim")
        wall = time.perf_counter() - started
        if sim is None:
            print(f"[{tag}] wall {wall:6.1f}s building, rss +{rss_gb:.2f} GB", flush=True)
            return
        history = sim.history
        reached = sim.timeline[-1][0] if sim.timeline else 0.0
        writes = len(history.writes)
        coverage = history.total_held / (n * writes) if writes else 0.0
        print(
            f"[{tag}] wall {wall:6.1f}s sim {reached * 1000:7.0f}ms writes {writes} "
            f"deliveries {coverage:.2%} rss +{rss_gb:.2f} GB "
            f"({rss_gb * 2**20 / n:.0f} KB/replica)",
            flush=True,
        )

    def watchdog() -> None:
        while True:
            time.sleep(args.every)
            report("progress")
            over_wall = time.perf_counter() - started > args.wall
            if over_wall or (_rss_kb() - rss0) / 2**20 > args.mem_gb:
                report("stopped at limit")
                os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()

    async def run() -> None:
        with _few_collections():
            config = RunConfig(strategy="crdt", replicas=n, jitter=True)
            sim = _Simulation(load_scenario("clean_merge"), config)
            holder["sim"] = sim
            report("built")
            await sim.run()
        report("converged" if sim.converged_at is not None else "ended")

    clock.run(run)


if __name__ == "__main__":
    main()
