from __future__ import annotations

from actors.history import History, Intent

NS = ("t",)


def record(h: History, op: str, replica: int, at: float) -> int:
    event = h.record_write(
        op,
        replica=replica,
        agent=f"a{replica}",
        namespace=NS,
        key="k",
        at=at,
        held=h.snapshot(replica),
        intents=(Intent(("tags",), "add", op),),
        value={"tags": [op]},
    )
    return event.index


def test_a_writer_has_seen_exactly_what_its_replica_held_when_it_began() -> None:
    h = History(2)
    record(h, "x", 0, 0.0)
    record(h, "y", 1, 0.5)  # replica 1 had not received x
    h.delivered(1, ["x"], 1.0)
    record(h, "z", 1, 2.0)
    x, y, z = h.writes
    assert not y.saw(x) and not x.saw(y)
    assert z.saw(x) and z.saw(y)


def test_a_write_is_stable_once_every_replica_holds_it() -> None:
    h = History(3)
    record(h, "x", 0, 1.0)
    assert h.unstable == 1 and h.all_stable_at() is None
    assert h.delivered(1, ["x"], 1.2) == 1
    assert h.delivered(1, ["x"], 1.3) == 0  # a duplicate changes nothing
    h.delivered(2, ["x", "resolver-op"], 1.5)
    assert h.unstable == 0
    assert h.all_stable_at() == 1.5
    assert h.latencies() == [0.5]
    assert h.foreign_ops == 1
    assert h.coverage() == 1.0


def test_a_replica_restarted_empty_makes_its_writes_unstable_again() -> None:
    h = History(2)
    record(h, "x", 0, 0.0)
    h.delivered(1, ["x"], 0.1)
    h.forget(1)
    assert h.unstable == 1 and h.holders == [1]
    assert h.coverage() == 0.5
    h.delivered(1, ["x"], 0.4)
    assert h.stable_at == [0.4]
