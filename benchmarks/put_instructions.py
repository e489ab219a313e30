"""Puts to count instructions in: `Core.put` of store_bench's 4-field value, 2,500 times.

Wall-time ratios on the shared machine drift with its load (the same build measured 13x
and 19x on one day); an instruction count does not. Run under callgrind, collecting only
inside `Core.put` (the compiled build), and divide the total by `--puts`:

    valgrind --tool=callgrind --collect-atstart=no \\
        --toggle-collect='CPyDef_agentsync____core___Core___put' \\
        .venv/bin/python benchmarks/put_instructions.py
    callgrind_annotate --inclusive=yes callgrind.out.<pid> | head -40

Measured 2026-12-06: 212k instructions per put at ce93f16, 229k at the session's end.
"""

from __future__ import annotations

import argparse
import logging

import structlog
from store_bench import NS, value

from agentsync._core import Core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=2_500)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    core = Core(peer_id=1)
    for i in range(args.puts):
        core.put(NS, "memory", value(i), agent="a", turn=None, now=float(i))


if __name__ == "__main__":
    main()
