"""List costs as a list grows: the first put of an n-element list, one append to it,
and the bytes a fresh replica imports for it, per element (issue 15 items 2 and 5).

    python benchmarks/list_bench.py [--sizes 1000,4000,16000,50000]

Ratios are what count (the machine is shared and noisy): per-element cost at the largest
size against the smallest should stay within 1.5x.
"""

from __future__ import annotations

import argparse
import json
import time

from agentsync._accel import build_name
from agentsync._core import Core

NS = ("bench",)


def measure(n: int) -> dict[str, float]:
    core = Core(peer_id=1)
    items = [f"item-{i}" for i in range(n)]
    start = time.perf_counter()
    core.put(NS, "k", {"items": items}, agent="a", turn=None, now=1.0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    core.put(NS, "k", {"items": [*items, "one more"]}, agent="a", turn=None, now=2.0)
    append = time.perf_counter() - start
    stored = core.get(NS, "k")
    assert stored is not None and stored.value["items"] == [*items, "one more"]
    exported = len(core.export_updates())
    return {
        "elements": n,
        "first_put_us_per_element": first / n * 1e6,
        "append_us_per_element": append / n * 1e6,
        "export_bytes_per_element": exported / n,
        "json_bytes_per_element": len(json.dumps(items)) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,16000,50000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(n) for n in sizes]
    print(f"build: {build_name()}")
    header = ("elements", "first put us/el", "append us/el", "export B/el", "JSON B/el")
    print("{:>9} {:>16} {:>13} {:>12} {:>10}".format(*header))
    for r in rows:
        print(
            f"{r['elements']:>9.0f} {r['first_put_us_per_element']:>16.2f}"
            f" {r['append_us_per_element']:>13.2f} {r['export_bytes_per_element']:>12.1f}"
            f" {r['json_bytes_per_element']:>10.1f}"
        )
    small, large = rows[0], rows[-1]
    print(
        f"per-element cost, {large['elements']:.0f} vs {small['elements']:.0f}: first put "
        f"{large['first_put_us_per_element'] / small['first_put_us_per_element']:.2f}x, append "
        f"{large['append_us_per_element'] / small['append_us_per_element']:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
