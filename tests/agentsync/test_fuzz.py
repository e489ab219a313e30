"""Fuzzing the replica's import path: 10,000 mutated update blobs and version digests.

Only `AgentSyncError` subclasses may come out, the replica's state must be unchanged after
a refused blob, and Loro's bare `BaseException` must never leak.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agentsync import AgentSyncError, CorruptUpdateError
from agentsync._core import Core
from agentsync._core_layout import FORMAT

NS = ("fuzz",)


def source_blobs() -> list[bytes]:
    a = Core(peer_id=11, schema={NS: {"n": "counter"}})
    blobs = []
    version = a.version()
    for i in range(12):
        a.put(
            NS,
            f"k{i % 3}",
            {"notes": f"text {i}", "tags": [i, "x"], "n": i, "meta": {"v": i}},
            agent="w",
            turn=None,
            now=float(i),
        )
        blobs.append(a.export_updates(version))
        version = a.version()
    blobs.append(a.export_updates(None))
    blobs.append(a.export_snapshot())
    return blobs


def mutate(rng: random.Random, blob: bytes, others: list[bytes]) -> bytes:
    data = bytearray(blob)
    choice = rng.randrange(6)
    if choice == 0 and data:  # bit flips
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif choice == 1:  # truncation
        del data[rng.randrange(len(data) + 1) :]
    elif choice == 2:  # splice with another blob
        other = rng.choice(others)
        cut, at = rng.randrange(len(data) + 1), rng.randrange(len(other) + 1)
        data = data[:cut] + other[at:]
    elif choice == 3:  # random bytes
        data = bytearray(rng.randbytes(rng.randint(0, 200)))
    elif choice == 4 and data:  # overwrite a run
        i = rng.randrange(len(data))
        data[i : i + 8] = rng.randbytes(8)
    else:  # duplicated or dropped chunk
        i = rng.randrange(len(data) + 1)
        data = data[:i] + data[i : i + 16] + data[i:]
    return bytes(data)


def snapshot_of(core: Core) -> tuple[bytes, list[object], list[object]]:
    return (
        core.version(),
        [(ns, k, v.value) for ns, k, v in core.items()],
        [e.id for e in core.escalations()],
    )


def test_ten_thousand_mutated_blobs_only_raise_agentsync_errors() -> None:
    rng = random.Random(20261128)
    blobs = source_blobs()
    target = Core(peer_id=22)
    target.put(NS, "own", {"mine": True}, agent="t", turn=None, now=0.0)
    before = snapshot_of(target)
    refused = accepted = 0
    for _ in range(10_000):
        blob = mutate(rng, rng.choice(blobs), blobs)
        try:
            target.import_updates(blob)
        except AgentSyncError:
            refused += 1
            assert snapshot_of(target) == before
            continue
        accepted += 1
        # a mutation that still decodes is a valid (partial or pending) update: start over
        target = Core(peer_id=22)
        target.put(NS, "own", {"mine": True}, agent="t", turn=None, now=0.0)
        before = snapshot_of(target)
    assert refused > 9_000, (refused, accepted)


def test_mutated_version_digests_only_raise_agentsync_errors() -> None:
    rng = random.Random(7)
    core = Core(peer_id=5)
    core.put(NS, "k", {"v": 1}, agent="a", turn=None, now=0.0)
    digests = [core.version(), Core(peer_id=6).version()]
    refused = 0
    for _ in range(2_000):
        digest = mutate(rng, rng.choice(digests), digests)
        try:
            blob = core.export_updates(digest)
        except CorruptUpdateError:
            refused += 1
            continue
        fresh = Core(peer_id=7)
        fresh.import_updates(blob)  # whatever a digest yields is a valid delta
    assert refused > 500


@pytest.mark.parametrize("bad", [b"\x00", b"\xff" * 64, bytes(range(256))])
def test_garbage_is_corrupt_update_error(bad: bytes) -> None:
    with pytest.raises(CorruptUpdateError):
        Core().import_updates(bad)


def test_ten_thousand_mutated_wire_messages_only_raise_corrupt_update_error() -> None:
    from agentsync._wire import (
        EagerPush,
        Rumor,
        SyncPush,
        SyncReply,
        SyncRequest,
        decode_message,
        encode_message,
    )

    rng = random.Random(99)
    blobs = source_blobs()
    messages = [
        encode_message(m)
        for m in (
            SyncRequest(3, b"\x01\x02"),
            SyncReply(4, b"\x09", blobs[0]),
            SyncPush(7, blobs[-2]),
            EagerPush(1, [Rumor(1, 0, blobs[1]), Rumor(5, 12, blobs[2])]),
        )
    ]
    refused = 0
    for _ in range(10_000):
        data = mutate(rng, rng.choice(messages), messages)
        try:
            decode_message(data)
        except CorruptUpdateError:
            refused += 1
    assert refused > 1_000  # many mutations still decode (payload bytes are opaque)


def test_mutated_scenario_files_only_raise_scenario_errors() -> None:
    from actors.scenario import available_scenarios, decode_scenario, load_scenario
    from agentsync import ScenarioError

    rng = random.Random(5)
    sources = []
    for name in available_scenarios():
        scenario = load_scenario(name)
        path = next(p for p in _scenario_files() if p.stem == scenario.name)
        sources.append(path.read_bytes())
    refused = 0
    for _ in range(3_000):
        text = mutate(rng, rng.choice(sources), sources)
        try:
            decode_scenario(text, source="fuzz")
        except ScenarioError:
            refused += 1
    assert refused > 1_000


def _scenario_files() -> list[Path]:
    return sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))


def _forged(base: Core, kid_of: Core, key: str, record: object) -> bytes:
    """A well-formed Loro update from a peer that writes `record` as a write of `key`:
    valid bytes, content that no agentsync writer produces."""
    import loro

    forger = loro.LoroDoc()
    forger.import_(base.export_updates())
    kid = kid_of._kid(("ns",), key)
    forger.get_map(f"h:{kid}").insert("999:0", json.dumps(record))
    forger.commit()
    return bytes(forger.export(loro.ExportMode.Updates(loro.VersionVector())))


@pytest.mark.parametrize(
    "record",
    [
        [FORMAT, "mallory", "put", 1.0, ["x"], ['r["x"]', "r"], [], 1.0, 1, None, []],  # short
        [
            FORMAT,
            "mallory",
            "put",
            1.0,
            ["x"],
            ['s["x"]\n1\n0'],
            [],
            1.0,
            1,
            None,
            [],
        ],  # no position
        [FORMAT, "mallory", "put", 1.0, ["x"], [7, "r", 1], [], 1.0, 1, None, []],  # not a short id
        [FORMAT, "mallory", "put", 1.0, ["x"], ['q["x"]', "r", 1], [], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], ["", "r", 1], [], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [3], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], [], ['r["x"]'], 1.0, 1, None, []],  # a kill of no op
        [FORMAT, "mallory", "put", 1.0, ["x"], [], ["01:0", 'r["x"]'], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], [], ["1:0", 5], 1.0, 1, None, []],  # no such insert
        [FORMAT, "mallory", "put", 1.0, ["x"], "nope", [], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["n"], ['c["n"]', "1"], [], 1.0, 1, None, []],  # str delta
        [FORMAT, "mallory", "put", 1.0, ["x"], ['r["x"]', "q", 1], [], 1.0, 1, None, []],  # no kind
        [
            FORMAT,
            "mallory",
            "put",
            1.0,
            ["x"],
            ['s["x"]\n1\n0', 5],
            [],
            1.0,
            1,
            None,
        ],  # int position
        [FORMAT, "mallory", "put", 1.0, "x", [], [], 1.0, 1, None, []],  # fields not a list
        ["mallory", "shout", 1.0, ["x"], [], []],
        [7, "put", 1.0, ["x"]],
        ["mallory", ["put"], 1.0, ["x"], [], []],  # an unhashable action
        [
            FORMAT,
            "mallory",
            "put",
            10**400,
            ["x"],
            [],
            [],
            1.0,
            1,
            None,
            [],
        ],  # no float holds it
        [FORMAT, "mallory", "put", 1.0, ["h"], ['r[["h"]]', "r", 1], [], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["5"], ["r[5]", "r", 1], [], 1.0, 1, None, []],
        # an entry of another write (the victim's first), or of an op no writer makes:
        # never this record's to insert
        [FORMAT, "mallory", "put", 1.0, ["x"], ['r["x"]\n1:0', "r", 999], [], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], ['r["x"]\nab:0', "r", 999], [], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["n"], ['c["n"]\n1:0', 5], [], 1.0, 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], ['s["x"]\n1\n0\n1:0', "a0"], [], 1.0, 1, None, []],
        # timestamps no writer stores: a creation time that is not one, a seq out of range
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], "soon", 1, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], 1.0, 0, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], 1.0, 1.5, None, []],
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], 1.0, 2**63, None, []],
        [
            FORMAT,
            "mallory",
            "put",
            "now",
            ["x"],
            [],
            [],
            None,
            1,
            None,
            [],
        ],  # null: the write's time
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], 1.0, 1, True, []],  # a TTL not a number
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], 1.0, 1, "5", []],  # nor this
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], 1.0, 1, None, [1, 2]],  # not op spans
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], 1.0, 1, None, [1, 5, 2]],  # backwards
        [FORMAT, "mallory", "put", 1.0, ["x"], [], [], 1.0, 1, []],  # no TTL at all
    ],
)
def test_unreadable_records_in_a_well_formed_update_are_skipped_alike_everywhere(
    record: object,
) -> None:
    """Loro takes any well-formed update, so a record no agentsync writer produces (a
    forged or damaged peer) cannot be refused: what cannot be read is left out of the
    value, on every replica alike, and reported; the rest of the update applies."""
    victim = Core(peer_id=1)
    victim.put(("ns",), "k", {"x": 1, "y": "keep"}, agent="a", turn=None, now=1.0)
    other = Core(peer_id=2)
    other.put(("ns",), "k2", {"z": 2}, agent="b", turn=None, now=1.0)
    before = victim.get(("ns",), "k")
    assert before is not None
    # the forged record rides with a good write of another key in the same import
    blob = _forged(other, victim, "k", record)
    with capture_logs() as events:
        victim.import_updates(blob)
        got = victim.get(("ns",), "k")
    assert got is not None and got.value == before.value
    assert [e["event"] for e in events if e["log_level"] == "error"] == ["unreadable data skipped"]
    assert victim.stats()["unreadable_records"] == 1
    # a record of the wrong shape is out of the history too; one whose entry does not
    # parse stays listed there (its entries are parsed only while live)
    agents = [r.agent_id for r in victim.history(("ns",), "k")]
    assert agents[0] == "a" and set(agents) <= {"a", "mallory"}
    k2 = victim.get(("ns",), "k2")
    assert k2 is not None and k2.value == {"z": 2}
    # a replica that gets everything at once reads the same
    fresh = Core(peer_id=3)
    fresh.import_updates(victim.export_updates())
    for key in ("k", "k2"):
        mine, theirs = victim.get(("ns",), key), fresh.get(("ns",), key)
        assert mine is not None and theirs is not None and mine.value == theirs.value


def test_unreadable_timestamps_read_the_same_whatever_the_batches() -> None:
    import loro

    good = Core(peer_id=1)
    good.put(("ns",), "k", {"f": 1}, agent="a", turn=None, now=1.0)
    forger = loro.LoroDoc()
    forger.import_(good.export_updates())
    forger.get_map(f"k:{good._kid(('ns',), 'k')}").insert("meta", json.dumps(["x", 10**400]))
    forger.commit()
    forged = bytes(forger.export(loro.ExportMode.Updates(loro.VersionVector())))
    in_two = Core(peer_id=2)
    in_two.import_updates(good.export_updates())
    assert in_two.get(("ns",), "k") is not None  # reads the good timestamps first
    in_two.import_updates(forged)
    in_one = Core(peer_id=3)
    in_one.import_updates(forged)
    two, one = in_two.get(("ns",), "k"), in_one.get(("ns",), "k")
    assert two is not None and one is not None
    assert (two.value, two.created_at, two.updated_at) == (
        one.value,
        one.created_at,
        one.updated_at,
    )
    assert two.value == {"f": 1}


@pytest.mark.parametrize("version", [1, 2, FORMAT + 100])
def test_a_record_of_another_layout_version_is_skipped_and_named(
    version: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The layout carries a version number: a record of another version is refused with
    a reason naming both versions, never guessed at, and honest writes stay readable."""
    base = Core(peer_id=2)
    base.put(("ns",), "other", {"z": 1}, agent="b", turn=None, now=1.0)
    reader = Core(peer_id=1)
    reader.put(("ns",), "k", {"y": 0}, agent="a", turn=None, now=1.0)
    record = [
        version,
        "alice",
        "put",
        2.0,
        ["x"],
        ['r["x"]', "r", 5],
        [],
        2.0,
        5,
    ]
    reader.import_updates(_forged(base, reader, "k", record))
    stored = reader.get(("ns",), "k")
    assert stored is not None and stored.value == {"y": 0}
    assert reader.stats()["unreadable_records"] == 1
    assert [r.op_id for r in reader.history(("ns",), "k")] == ["1:0"]
    reader.put(("ns",), "k", {"y": 1}, agent="a", turn=None, now=3.0)
    assert reader.get(("ns",), "k").value == {"y": 1}  # type: ignore[union-attr]


@pytest.mark.parametrize("stored", [[1, 2], {"a": 1}, 7, None, b"\x00"])
def test_a_record_stored_as_another_type_than_text_is_skipped(stored: object) -> None:
    import loro

    base = Core(peer_id=2)
    base.put(("ns",), "other", {"z": 1}, agent="b", turn=None, now=1.0)
    reader = Core(peer_id=1)
    reader.put(("ns",), "k", {"y": 0}, agent="a", turn=None, now=1.0)
    forger = loro.LoroDoc()
    forger.import_(base.export_updates())
    forger.get_map(f"h:{reader._kid(('ns',), 'k')}").insert("999:0", stored)
    forger.commit()
    reader.import_updates(bytes(forger.export(loro.ExportMode.Updates(loro.VersionVector()))))
    stored_value = reader.get(("ns",), "k")
    assert stored_value is not None and stored_value.value == {"y": 0}
    assert [r.op_id for r in reader.history(("ns",), "k")] == ["1:0"]
    other = reader.get(("ns",), "other")
    assert other is not None and other.value == {"z": 1}


def _forged_record(base: Core, op: str, record: list[Any], *, peer: int | None = None) -> bytes:
    """A well-formed update from a peer that stores `record` under history key `op` of
    base's key `k`: by default the peer `op` names (a record stored by another peer is
    skipped for that alone)."""
    import loro

    forger = loro.LoroDoc()
    forger.peer_id = int(op.partition(":")[0]) if peer is None else peer
    forger.import_(base.export_updates())
    forger.get_map(f"h:{base._kid(('ns',), 'k')}").insert(op, json.dumps(record))
    forger.commit()
    return bytes(forger.export(loro.ExportMode.Updates(loro.VersionVector())))


def test_a_forged_record_of_the_highest_seq_leaves_later_writes_readable() -> None:
    """The key's timestamps go to the record of the highest seq; writers never go past
    the highest a reader accepts, so a forged record there pins the timestamps (peers are
    not authenticated) but honest writes stay readable on every replica, reopened too."""
    a, b = Core(peer_id=1), Core(peer_id=2)
    a.put(("ns",), "k", {"x": 1}, agent="alice", turn=None, now=1.0)
    b.import_updates(a.export_updates())
    forged = _forged_record(
        a, "999:0", [FORMAT, "mallory", "put", 2.0, [], [], [], 2.0, 2**63 - 1, None, []]
    )
    a.import_updates(forged)
    b.import_updates(forged)
    a.put(("ns",), "k", {"x": 2}, agent="alice", turn=None, now=3.0)
    b.import_updates(a.export_updates(b.version()))
    reopened = Core(peer_id=3)
    reopened.import_updates(a.export_snapshot())
    got = [(c.get(("ns",), "k"), c.stats()["unreadable_records"]) for c in (a, b, reopened)]
    for stored, unreadable in got:
        assert stored is not None and unreadable == 0
        assert (stored.value, stored.created_at, stored.updated_at) == ({"x": 2}, 2.0, 2.0)


@pytest.mark.parametrize("op", ["0999:0", "999:00", "1" * 5000 + ":0", "18446744073709551616:0"])
def test_a_record_under_an_op_id_no_writer_makes_is_skipped(op: str) -> None:
    """Op ids are canonical decimal (as writers make them): one spelling per op, so no
    two records rank alike, and no number int() refuses; anything else is unreadable."""
    base = Core(peer_id=1)
    base.put(("ns",), "k", {"x": 1}, agent="alice", turn=None, now=1.0)
    genuine = _forged_record(
        base, "999:0", [FORMAT, "mallory", "put", 111.0, [], [], [], 100.0, 5, None, []]
    )
    other = _forged_record(
        base, op, [FORMAT, "mallory", "put", 222.0, [], [], [], 200.0, 5, None, []], peer=901
    )
    seen = set()
    for order in ([genuine, other], [other, genuine]):
        reader = Core(peer_id=2)
        reader.import_updates(base.export_updates())
        reader.get(("ns",), "k")
        for blob in order:
            reader.import_updates(blob)
        stored = reader.get(("ns",), "k")
        assert stored is not None and stored.value == {"x": 1}
        assert reader.stats()["unreadable_records"] == 1
        seen.add((stored.created_at, stored.updated_at))
        # the key keeps taking honest writes
        writer = Core(peer_id=3)
        writer.import_updates(base.export_updates())
        writer.put(("ns",), "k", {"x": 2}, agent="alice", turn=None, now=5.0)
        reader.import_updates(writer.export_updates(reader.version()))
        later = reader.get(("ns",), "k")
        assert later is not None and later.value == {"x": 2}
    assert seen == {(100.0, 111.0)}


@pytest.mark.parametrize(
    "entry", [7, None, [["ns"], "k", "extra"], [["ns"]], ["ns", "k"], [[1], "k"]]
)
def test_a_malformed_directory_entry_is_skipped_and_breaks_no_api(entry: object) -> None:
    """Issue 15 item 9: a well-formed update whose directory entry is not [namespace, key]
    is skipped, counted once and logged; import and every read API keep working, honest
    keys read back, and an honest write of the same key lists it again."""
    import loro

    base = Core(peer_id=2)
    base.put(("ns",), "k", {"x": 1}, agent="b", turn=None, now=1.0)
    base.put(("ns",), "other", {"z": 1}, agent="b", turn=None, now=1.0)
    forger = loro.LoroDoc()
    forger.import_(base.export_updates())
    forger.get_map("dir").insert(base._kid(("ns",), "k"), entry)  # over an honest key
    forger.get_map("dir").insert("0" * 20, entry)  # a key id of nothing
    forger.commit()
    forged = bytes(forger.export(loro.ExportMode.Updates(loro.VersionVector())))
    for reader in (Core(peer_id=1), Core(peer_id=3)):
        reader.import_updates(base.export_updates())
        reader.get(("ns",), "k")
        reader.import_updates(forged)  # no raise
        assert reader.escalations() == []
        assert reader.attribution()[(("ns",), "other")] == {"z": ["b"]}
        stats = reader.stats()
        assert stats["unreadable_records"] >= 1
        assert reader.get(("ns",), "other").value == {"z": 1}  # type: ignore[union-attr]
        assert [key for _, key, _ in reader.items()] == ["other"]
        reader.put(("ns",), "k", {"x": 2}, agent="w", turn=None, now=2.0)
        assert reader.get(("ns",), "k").value == {"x": 2}  # type: ignore[union-attr]
        fresh = Core(peer_id=4)
        fresh.import_updates(reader.export_updates())
        assert fresh.get(("ns",), "k").value == {"x": 2}  # type: ignore[union-attr]
