"""What durability costs: per-write append latency and reopen time.

    .venv/bin/python benchmarks/persistence_bench.py [--writes 100000] [--dsn postgresql://...]

Appends use ~100-byte blobs (the size of a one-field Loro delta). "store write" is a
Core put plus its delta export plus the append, i.e. what `SyncedStore.put` pays.
Reopen builds a log of N real Core writes, then times open + load + import into a
fresh Core, with compaction (the default) and without it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from agentsync import _accel
from agentsync._core import Core
from agentsync._persistence import (
    DEFAULT_COMPACT_EVERY,
    LogEntry,
    NullLog,
    PostgresLog,
    SqliteLog,
    UpdateLog,
)

BLOB = bytes(range(100))
NAMESPACE = ("bench", "notes")


def per_op_us(run: Callable[[int], None], ops: int, repeats: int = 3) -> float:
    """Median over `repeats` of the wall time per op, in microseconds."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(ops)
        samples.append((time.perf_counter() - start) / ops * 1e6)
    return statistics.median(samples)


def single_appends(log: UpdateLog) -> Callable[[int], None]:
    def run(ops: int) -> None:
        for i in range(ops):
            log.append(BLOB, namespace=NAMESPACE, key=f"k{i % 50}", agent="bench")

    return run


def batched_appends(log: UpdateLog, batch: int) -> Callable[[int], None]:
    entries = [LogEntry(BLOB, NAMESPACE, f"k{i % 50}", "bench") for i in range(batch)]

    def run(ops: int) -> None:
        for _ in range(ops // batch):
            log.append_many(entries)

    return run


def store_writes(log: UpdateLog, rng: random.Random) -> Callable[[int], None]:
    core = Core()

    def run(ops: int) -> None:
        for i in range(ops):
            before = core.version()
            key = f"k{rng.randrange(50)}"
            core.put(NAMESPACE, key, {"status": f"s{i}", "n": i}, agent="bench", turn=None,
                     now=float(i))  # fmt: skip
            log.append(core.export_updates(before), namespace=NAMESPACE, key=key, agent="b")
            log.maybe_compact(core.export_snapshot)

    return run


def append_table(tmp: Path, dsn: str | None) -> list[tuple[str, float]]:
    rows: list[tuple[str, float]] = []
    rows.append(("in memory (NullLog) append", per_op_us(single_appends(NullLog()), 20_000)))
    for sync in ("full", "normal"):
        with SqliteLog(tmp / f"append-{sync}.db", synchronous=sync) as log:  # type: ignore[arg-type]
            rows.append((f"SQLite append, synchronous={sync}", per_op_us(single_appends(log), 300)))
            for batch in (10, 100):
                rows.append((
                    f"SQLite append_many x{batch}, synchronous={sync} (per entry)",
                    per_op_us(batched_appends(log, batch), 3000),
                ))  # fmt: skip
    rng = random.Random(1)
    rows.append(("store write, in memory", per_op_us(store_writes(NullLog(), rng), 2000)))
    with SqliteLog(tmp / "store.db") as log:
        rows.append(
            ("store write, SQLite synchronous=full", per_op_us(store_writes(log, rng), 300))
        )
    if dsn is not None:
        with PostgresLog(dsn, replica="bench") as pg:
            rows.append(("PostgreSQL append", per_op_us(single_appends(pg), 300)))
            for batch in (10, 100):
                rows.append((
                    f"PostgreSQL append_many x{batch} (per entry)",
                    per_op_us(batched_appends(pg, batch), 3000),
                ))  # fmt: skip
    return rows


def build_history(path: Path, writes: int, compact_every: int) -> Core:
    rng = random.Random(2)
    core = Core()
    with SqliteLog(path, compact_every=compact_every, synchronous="normal") as log:
        batch: list[LogEntry] = []
        for i in range(writes):
            before = core.version()
            key = f"k{rng.randrange(1000)}"
            value = {"status": rng.choice(["a", "b", "c"]), "round": i % 7, "tags": [f"t{i % 5}"]}
            core.put(NAMESPACE, key, value, agent="bench", turn=None, now=float(i))
            batch.append(LogEntry(core.export_updates(before), NAMESPACE, key, "bench"))
            if len(batch) == 100:
                log.append_many(batch)
                batch.clear()
                log.maybe_compact(core.export_snapshot)
        log.append_many(batch)
    return core


def reopen_seconds(path: Path, original: Core, repeats: int) -> tuple[float, float, int]:
    """Median seconds to open + load the log, and to import it into a fresh Core."""
    loads, imports = [], []
    blobs = 0
    for _ in range(repeats):
        start = time.perf_counter()
        with SqliteLog(path) as log:
            loaded: list[bytes] = []
            log.load(loaded.append)
        loaded_at = time.perf_counter()
        core = Core()
        for blob in loaded:
            core.import_updates(blob)
        loads.append(loaded_at - start)
        imports.append(time.perf_counter() - loaded_at)
        blobs = len(loaded)
        assert sum(1 for _ in core.items()) == sum(1 for _ in original.items())
    return statistics.median(loads), statistics.median(imports), blobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=100_000, help="history size for reopen")
    parser.add_argument("--dsn", help="also measure a PostgreSQL log at this DSN")
    args = parser.parse_args()
    print(f"agentsync build: {_accel.build_name()}")
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(30)  # warnings and up
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"{'append cost':<58} {'µs/op':>10}")
        for label, micros in append_table(tmp, args.dsn):
            print(f"{label:<58} {micros:>10.1f}")
        print()
        print(f"reopen after {args.writes:,} Core writes (median)")
        print(f"  {'':<26} {'open+load':>10} {'Core import':>12} {'blobs':>7} {'file':>8}")
        for label, every, repeats in (
            (f"compacted every {DEFAULT_COMPACT_EVERY}", DEFAULT_COMPACT_EVERY, 5),
            ("never compacted", args.writes + 1, 1),
        ):
            path = tmp / f"history-{every}.db"
            start = time.perf_counter()
            original = build_history(path, args.writes, every)
            built = time.perf_counter() - start
            load, imported, blobs = reopen_seconds(path, original, repeats)
            size = path.stat().st_size / 1e6
            print(
                f"  {label:<26} {load * 1000:8.1f}ms {imported * 1000:10.1f}ms {blobs:>7}"
                f" {size:6.1f}MB  (writing the history took {built:.1f} s)"
            )


if __name__ == "__main__":
    main()
