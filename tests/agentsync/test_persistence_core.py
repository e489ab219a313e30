"""Update logs carrying real Core deltas: reopening from SQLite, converging through PostgreSQL."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from persistence_support import loaded, pulled

from agentsync._core import Core
from agentsync._persistence import NullLog, PostgresLog, SqliteLog, UpdateLog


def durable_write(core: Core, log: UpdateLog, rng: random.Random, agent: str, now: float) -> None:
    """One store-style write: apply to the Core, append its delta, maybe compact."""
    namespace = ("project", rng.choice(["alpha", "beta"]))
    key = f"doc{rng.randrange(4)}"
    before = core.version()
    if rng.random() < 0.1:
        core.delete(namespace, key, agent=agent, turn=None, now=now)
    else:
        value = {
            "status": rng.choice(["draft", "review", "done"]),
            "notes": rng.choice(["", "check the numbers", "needs a citation"]),
            "tags": rng.sample(["a", "b", "c", "d"], k=rng.randrange(3)),
            "meta": {"owner": agent, "round": rng.randrange(3)},
        }
        core.put(namespace, key, value, agent=agent, turn=None, now=now)
    log.append(core.export_updates(before), namespace=namespace, key=key, agent=agent)
    log.maybe_compact(core.export_snapshot)


def observable(core: Core) -> dict[str, Any]:
    """Everything a store user can read from a replica."""
    items = list(core.items())
    return {
        "items": items,
        "escalations": core.escalations(),
        "history": {(ns, key): core.history(ns, key) for ns, key, _ in items},
        "attribution": core.attribution(),
    }


def reopen(log: UpdateLog) -> Core:
    core = Core()  # a fresh peer id: ops after the restart never collide with old ones
    for blob in loaded(log):
        core.import_updates(blob)
    return core


def test_core_reopened_from_sqlite_equals_the_original(tmp_path: Path) -> None:
    path = tmp_path / "replica.db"
    rng = random.Random(11)
    original, peer = Core(peer_id=1), Core(peer_id=2)
    with SqliteLog(path, compact_every=40) as log:
        for step in range(150):
            durable_write(original, log, rng, rng.choice(["planner", "critic"]), float(step))
        # Concurrent writes from another replica, imported and persisted like local ones.
        peer.import_updates(original.export_updates())
        seen = original.version()
        for step in range(20):
            before = peer.version()
            durable_write(peer, NullLog(), rng, "remote", 200.0 + step)
            durable_write(original, log, rng, "planner", 300.0 + step)
            delta = peer.export_updates(before)
            original.import_updates(delta)
            log.append(delta, namespace=("project",), key="*", agent="remote")
        assert original.escalations(), "the workload must contain real conflicts"
        assert original.version() != seen
    with SqliteLog(path, compact_every=40) as log:
        assert len(loaded(log)) <= 1 + 40, "reopening reads a snapshot and a short tail"
        reopened = reopen(log)
    assert observable(reopened) == observable(original)


def test_core_reopened_after_continuing_from_a_reopen_still_matches(tmp_path: Path) -> None:
    path = tmp_path / "replica.db"
    rng = random.Random(12)
    with SqliteLog(path, compact_every=25) as log:
        first = Core()
        for step in range(60):
            durable_write(first, log, rng, "planner", float(step))
    with SqliteLog(path, compact_every=25) as log:
        second = reopen(log)
        for step in range(60):
            durable_write(second, log, rng, "critic", 100.0 + step)
    with SqliteLog(path) as log:
        assert observable(reopen(log)) == observable(second)


@pytest.mark.postgres
def test_two_core_replicas_converge_through_a_shared_postgres_log(postgres_dsn: str) -> None:
    rng = random.Random(13)
    cores = {"a": Core(), "b": Core()}
    logs = {
        name: PostgresLog(postgres_dsn, replica=name, compact_every=15, retry_delays=())
        for name in cores
    }
    try:
        for log in logs.values():
            assert loaded(log) == []
        for step in range(120):
            name = rng.choice(["a", "b"])
            durable_write(cores[name], logs[name], rng, f"agent-{name}", float(step))
            if rng.random() < 0.2:  # replicas sync on their own, irregular schedules
                for blob in pulled(logs[name]):
                    cores[name].import_updates(blob)
        for name, core in cores.items():  # a last pair of concurrent writes: must escalate
            before = core.version()
            core.put(
                ("project", "alpha"), "doc0", {"status": f"final-{name}"},
                agent=f"agent-{name}", turn=None, now=1000.0,
            )  # fmt: skip
            logs[name].append(
                core.export_updates(before),
                namespace=("project", "alpha"), key="doc0", agent=f"agent-{name}",
            )  # fmt: skip
        for name, core in cores.items():
            for blob in pulled(logs[name]):
                core.import_updates(blob)
        assert observable(cores["a"]) == observable(cores["b"])
        assert cores["a"].escalations(), "concurrent writes must have produced conflicts"

        newcomer = PostgresLog(postgres_dsn, replica="c", retry_delays=())
        try:
            assert observable(reopen(newcomer)) == observable(cores["a"])
        finally:
            newcomer.close()
    finally:
        for log in logs.values():
            log.close()
