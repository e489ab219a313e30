"""Importing one write into a replica as the written key's history grows (issue 15
item 6): the cost should not grow with the history.

    python benchmarks/import_bench.py [--histories 100,1000,10000] [--rounds 200]

Prints the median microseconds per import of a one-write delta at each history length
and the ratio of the longest history to the shortest (target <= 1.5x).
"""

from __future__ import annotations

import argparse
import statistics
import time

from agentsync._accel import build_name
from agentsync._core import Core

NS = ("bench",)


def value(i: int) -> dict[str, object]:
    return {"status": f"s{i % 7}", "notes": f"note {i}", "count": i, "tags": ["a", "b"]}


def per_import_us(history: int, rounds: int) -> float:
    writer, reader = Core(peer_id=1), Core(peer_id=2)
    for i in range(history):
        writer.put(NS, "k", value(i), agent="w", turn=None, now=float(i))
    reader.import_updates(writer.export_updates())
    reader.get(NS, "k")
    times = []
    for i in range(rounds):
        since = reader.version()
        writer.put(NS, "k", value(history + i), agent="w", turn=None, now=float(history + i))
        blob = writer.export_updates(since)
        start = time.perf_counter()
        reader.import_updates(blob)
        times.append(time.perf_counter() - start)
    stored = reader.get(NS, "k")
    assert stored is not None and stored.value == value(history + rounds - 1)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", default="100,1000,10000")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    histories = [int(h) for h in args.histories.split(",")]
    print(f"build: {build_name()}")
    results = [(h, per_import_us(h, args.rounds)) for h in histories]
    for h, us in results:
        print(f"history {h:>6}: {us:8.1f} us per one-write import")
    print(
        f"{results[-1][0]} vs {results[0][0]} writes of history: "
        f"{results[-1][1] / results[0][1]:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
