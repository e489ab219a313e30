"""Regenerate a fixture of an earlier log layout: NAME.loro, a log the code of that
layout wrote, and NAME.json, what that code read from it.

- legacy_layout: entries as keys of a per-key entries map (before 2026-11-28); run
  against the code of commit d633432, the last one with that layout.
- records_layout: entries inside each write's history record, the key's timestamps a
  last-writer-wins ``meta`` entry of the entries map; run against commit 0f20771.

    git worktree add --detach /tmp/legacy d633432
    PYTHONPATH=/tmp/legacy/src AGENTSYNC_PURE_PYTHON=1 \
        python tests/agentsync/data/make_legacy_layout.py tests/agentsync/data legacy_layout
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agentsync._core import Core

NS = ("team",)
SCHEMA = {NS: {"count": "counter", "steps": "list"}}


def main(out: Path, name: str) -> None:
    a = Core(peer_id=1, schema=SCHEMA)
    b = Core(peer_id=2, schema=SCHEMA)
    a.put(
        NS,
        "plan",
        {
            "status": "draft",
            "tags": ["x", "y"],
            "count": 2,
            "notes": "first plan",
            "steps": ["s1", "s2"],
            "meta": {"owner": "a"},
        },
        agent="alice",
        turn=None,
        now=1.0,
    )
    b.import_updates(a.export_updates(b.version()))
    # concurrent: both change status (a conflict), both add tags, both count up
    a.put(
        NS,
        "plan",
        {
            "status": "review",
            "tags": ["x", "y", "a"],
            "count": 3,
            "notes": "first plan, revised",
            "steps": ["s1", "s2", "s3"],
            "meta": {"owner": "a"},
        },
        agent="alice",
        turn=None,
        now=2.0,
    )
    b.put(
        NS,
        "plan",
        {
            "status": "approved",
            "tags": ["y", "b"],
            "count": 5,
            "notes": "the first plan",
            "steps": ["s1", "s2"],
            "meta": {"owner": "b"},
        },
        agent="bob",
        turn=None,
        now=2.5,
    )
    b.put(NS, "other", {"status": "todo", "tags": ["z"]}, agent="bob", turn=None, now=3.0)
    b.delete(NS, "other", agent="bob", turn=None, now=3.5)
    b.put(NS, "kept", {"n": 1, "tags": ["k"]}, agent="bob", turn=None, now=4.0)
    a.import_updates(b.export_updates(a.version()))
    b.import_updates(a.export_updates(b.version()))
    assert a.version() == b.version()
    blob = a.export_updates()
    (out / f"{name}.loro").write_bytes(blob)
    expected = {
        "items": [[list(ns), key, v.value] for ns, key, v in a.items()],
        "escalations": [
            [e.key, e.field, sorted([c.op_id, c.agent_id, c.value] for c in e.contenders)]
            for e in a.escalations()
        ],
        "history": {
            key: [[r.op_id, r.agent_id, r.action, list(r.fields)] for r in a.history(NS, key)]
            for key in ("plan", "other", "kept")
        },
        "timestamps": {key: [v.created_at, v.updated_at] for _, key, v in a.items()},
    }
    (out / f"{name}.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
