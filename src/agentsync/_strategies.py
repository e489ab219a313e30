"""Strategy registry: build a replica of any strategy by name.

`crdt` (the Loro core) and `transactional` live here; `lww` lives in `_lww.py`.
"""

from __future__ import annotations

import random
from typing import Any

from ._strategy import StrategyReplica

STRATEGIES = ("lww", "transactional", "crdt")

__all__ = ["STRATEGIES", "make_replica"]


def make_replica(
    strategy: str, replica_id: str, *, rng: random.Random, **options: Any
) -> StrategyReplica:
    """A fresh replica of `strategy`. `rng` seeds anything random (peer ids, picks).

    Options understood by every strategy are ignored by those that do not need them:
    `resolver` (transactional), `model_latency_s` (transactional), `schema` (crdt,
    transactional).
    """
    if strategy == "lww":
        from ._lww import LwwReplica

        return LwwReplica(replica_id, rng=rng, **options)
    if strategy in ("crdt", "transactional"):
        raise NotImplementedError(f"strategy {strategy!r} is being written")
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
