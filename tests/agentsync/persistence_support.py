"""Reading an update log the way a store does, for the log tests."""

from __future__ import annotations

from agentsync._persistence import UpdateLog


def loaded(log: UpdateLog) -> list[bytes]:
    """What `log.load` hands over, in order."""
    blobs: list[bytes] = []
    log.load(blobs.append)
    return blobs


def pulled(log: UpdateLog) -> list[bytes]:
    """What `log.pull` hands over, in order."""
    blobs: list[bytes] = []
    log.pull(blobs.append)
    return blobs
