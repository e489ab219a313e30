"""Memory and per-key costs (issue 15 item 8), each figure from one run:

- RSS growth of 100,000 small keys in SyncedStore against InMemoryStore (each measured
  in a fresh subprocess);
- a put to a new key against a put to an existing key;
- bytes kept per write: a key's exported log divided by its writes, for store_bench's
  4-field value.

    python benchmarks/memory_bench.py [--keys 100000]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from typing import Any

from store_bench import value  # the 4-field value every put benchmark writes

NS = ("bench",)


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _child(store_name: str, keys: int) -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from langgraph.store.memory import InMemoryStore

    from agentsync import SyncedStore

    store: Any = InMemoryStore() if store_name == "InMemoryStore" else SyncedStore()
    store.put(NS, "warm", {"n": 0})
    gc.collect()
    before = _rss_kib()
    for i in range(keys):
        store.put(NS, f"key-{i}", {"n": i, "label": "small"})
    gc.collect()
    print(json.dumps({"kib": _rss_kib() - before}))


def _rss_growth(store_name: str, keys: int) -> int:
    out = subprocess.run(
        [sys.executable, __file__, "--child", store_name, "--keys", str(keys)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(json.loads(out.strip().splitlines()[-1])["kib"])


def _put_costs(count: int = 3000) -> tuple[float, float]:
    from agentsync import SyncedStore

    store = SyncedStore()
    for i in range(count):  # warm: the existing keys
        store.put(NS, f"existing-{i}", value(i))
    gc.disable()
    start = time.perf_counter()
    for i in range(count):
        store.put(NS, f"existing-{i}", value(i + 1))
    existing = (time.perf_counter() - start) / count
    start = time.perf_counter()
    for i in range(count):
        store.put(NS, f"new-{i}", value(i))
    new = (time.perf_counter() - start) / count
    gc.enable()
    return new * 1e6, existing * 1e6


def _bytes_per_write(writes: int = 2000) -> float:
    from agentsync._core import Core

    core = Core(peer_id=1)
    for i in range(writes):
        core.put(NS, "k", value(i), agent="agent", turn=None, now=float(i))
    return len(core.export_updates()) / writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.keys)
        return
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from agentsync._accel import build_name

    print(f"build: {build_name()}")
    baseline = _rss_growth("InMemoryStore", args.keys)
    ours = _rss_growth("SyncedStore", args.keys)
    print(
        f"{args.keys:,} small keys: SyncedStore {ours / 1024:.1f} MiB, InMemoryStore "
        f"{baseline / 1024:.1f} MiB: {ours / baseline:.1f}x (target <= 3x)"
    )
    new, existing = _put_costs()
    print(
        f"put to a new key {new:.1f} us, to an existing key {existing:.1f} us: "
        f"{new / existing:.2f}x (target <= 2x)"
    )
    print(f"bytes kept per write (4-field value, 2,000 writes): {_bytes_per_write():.0f} B")


if __name__ == "__main__":
    main()
