"""Simulated time: run an anyio program on a virtual clock, or on the real one.

The virtual clock is Trio's `MockClock` with ``autojump_threshold=0``: whenever every task
is blocked, time jumps straight to the next deadline, so twenty simulated seconds of
gossip cost only the CPU the actors use. Actors only ever call anyio (`sleep`,
`current_time`, `move_on_after`, memory object streams), so the same code runs on real
time with ``realtime=True``.

Reproducibility: Trio randomizes the order in which tasks that became runnable together
are run; that order comes from a module-level `random.Random`, which is seeded here so a
seed reproduces a run exactly.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

__all__ = ["run"]

T = TypeVar("T")


def _seed_trio_scheduler(seed: int) -> None:
    from trio._core import _run as trio_run  # private, but the only handle on its RNG

    scheduler_rng = getattr(trio_run, "_r", None)
    if isinstance(scheduler_rng, random.Random):
        scheduler_rng.seed(f"agentsync-sim/{seed}")


def run(main: Callable[..., Awaitable[T]], *args: Any, realtime: bool = False, seed: int = 0) -> T:
    """Run `main(*args)` under Trio via anyio, on the virtual clock unless `realtime`."""
    _seed_trio_scheduler(seed)
    if realtime:
        return anyio.run(main, *args, backend="trio")
    from trio.testing import MockClock

    return anyio.run(
        main, *args, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)}
    )
