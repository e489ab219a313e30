"""Logs written before 2026-11-28 keep entries as keys of a per-key entries map, and
every layout before this one keeps a key's timestamps as a last-writer-wins ``meta``
entry of that map; this version writes both inside each write's history record. It must
read the old logs as the old code did, and supersede old entries and timestamps so that
every replica agrees.

The fixtures were written by the old code: see data/make_legacy_layout.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentsync._core import Core

DATA = Path(__file__).parent / "data"
NS = ("team",)
SCHEMA: Any = {NS: {"count": "counter", "steps": "list"}}


LAYOUTS = ("legacy_layout", "records_layout")


def _legacy(layout: str = "legacy_layout") -> bytes:
    return (DATA / f"{layout}.loro").read_bytes()


def _expected(layout: str = "legacy_layout") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"{layout}.json").read_text())
    return loaded


def _core(peer: int, layout: str = "legacy_layout") -> Core:
    core = Core(peer_id=peer, schema=SCHEMA)
    core.import_updates(_legacy(layout))
    return core


def _timestamps(core: Core) -> dict[str, list[float]]:
    return {key: [v.created_at, v.updated_at] for _, key, v in core.items()}


def _values(core: Core) -> list[list[Any]]:
    return [[list(ns), key, v.value] for ns, key, v in core.items()]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_old_log_reads_as_the_old_code_read_it(layout: str) -> None:
    core = _core(3, layout)
    expected = _expected(layout)
    assert _values(core) == expected["items"]
    assert _timestamps(core) == expected["timestamps"]
    escalations = [
        [e.key, e.field, sorted([c.op_id, c.agent_id, c.value] for c in e.contenders)]
        for e in core.escalations()
    ]
    assert escalations == expected["escalations"]
    for key, records in expected["history"].items():
        got = [[r.op_id, r.agent_id, r.action, list(r.fields)] for r in core.history(NS, key)]
        assert got == records
    # the fixture holds what this test is about: merged kinds and an open conflict
    plan = core.get(NS, "plan")
    assert plan is not None
    assert plan.value["count"] == 6
    assert set(plan.value["tags"]) == {"a", "b", "y"}


def test_writes_over_old_entries_supersede_them_on_every_replica() -> None:
    writer, reader = _core(3), _core(4)
    (esc,) = writer.escalations()
    writer.resolve(esc, "shipped", agent="carol", now=10.0)
    writer.put(
        NS,
        "plan",
        {
            "status": "shipped",
            "tags": ["a"],
            "count": 7,
            "notes": "the plan",
            "steps": ["s2"],
            "meta": {"owner": "carol"},
        },
        agent="carol",
        turn=None,
        now=11.0,
    )
    writer.delete(NS, "kept", agent="carol", turn=None, now=12.0)
    expected = [
        [
            ["team"],
            "plan",
            {
                "count": 7,
                "meta": {"owner": "carol"},
                "notes": "the plan",
                "status": "shipped",
                "steps": ["s2"],
                "tags": ["a"],
            },
        ]
    ]
    assert _values(writer) == expected
    assert writer.escalations() == []
    reader.import_updates(writer.export_updates(reader.version()))
    assert _values(reader) == expected
    assert reader.escalations() == []
    fresh = Core(peer_id=5, schema=SCHEMA)  # everything at once, old and new layout
    fresh.import_updates(writer.export_updates())
    assert _values(fresh) == expected
    # the writer reloads the key from Loro when an import touches it: what it superseded
    # must stay superseded there too
    current = reader.get(NS, "plan")
    assert current is not None
    reader.put(NS, "plan", {**current.value, "extra": 1}, agent="dave", turn=None, now=13.0)
    writer.import_updates(reader.export_updates(writer.version()))
    expected[0][2]["extra"] = 1
    for core in (writer, reader):
        assert _values(core) == expected
        assert core.escalations() == []


def test_concurrent_writes_over_one_old_entry_still_conflict() -> None:
    a, b = _core(3), _core(4)
    a.put(NS, "kept", {"n": 2, "tags": ["k"]}, agent="carol", turn=None, now=10.0)
    b.put(NS, "kept", {"n": 3, "tags": ["k", "m"]}, agent="dave", turn=None, now=10.5)
    a.import_updates(b.export_updates(a.version()))
    b.import_updates(a.export_updates(b.version()))
    for core in (a, b):
        (esc,) = [e for e in core.escalations() if e.key == "kept"]
        assert esc.field == "n"
        assert sorted((c.agent_id, c.value) for c in esc.contenders) == [
            ("carol", 2),
            ("dave", 3),
        ]
        kept = core.get(NS, "kept")
        assert kept is not None
        assert sorted(kept.value["tags"]) == ["k", "m"]
    assert a.version() == b.version()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_writes_over_old_timestamps_supersede_them_on_every_replica(layout: str) -> None:
    """The old layouts' timestamps count until a write of this layout lands; from then on
    the records decide, alike on every replica, and a key keeps its creation time."""
    writer, reader = _core(3, layout), _core(4, layout)
    before = _timestamps(writer)
    assert before == _expected(layout)["timestamps"]
    # a clock behind the old writes': the later write still gives the key its timestamps
    writer.put(NS, "kept", {"n": 2, "tags": ["k"]}, agent="carol", turn=None, now=0.5)
    assert _timestamps(writer)["kept"] == [before["kept"][0], 0.5]
    assert _timestamps(writer)["plan"] == before["plan"]  # untouched keys keep theirs
    reader.import_updates(writer.export_updates(reader.version()))
    fresh = Core(peer_id=5, schema=SCHEMA)  # everything at once, old and new layout
    fresh.import_updates(writer.export_updates())
    for core in (reader, fresh):
        assert _timestamps(core) == _timestamps(writer)
    # and a write of the reader's after that, seen by the writer, wins there too
    reader.put(NS, "kept", {"n": 3, "tags": ["k"]}, agent="dave", turn=None, now=0.25)
    writer.import_updates(reader.export_updates(writer.version()))
    for core in (writer, reader):
        assert _timestamps(core)["kept"] == [before["kept"][0], 0.25]
