from __future__ import annotations

import random
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsync._errors import CorruptUpdateError
from agentsync._lww import LwwReplica
from agentsync._strategies import make_replica
from agentsync._strategy import StrategyReplica

NS = ("team",)


def replica(name: str, seed: int = 0) -> LwwReplica:
    return LwwReplica(name, rng=random.Random(seed))


def sync(src: LwwReplica, dst: LwwReplica) -> list[str]:
    return dst.import_updates(src.export_updates(dst.version()))


def test_make_replica_builds_an_lww_replica_that_satisfies_the_protocol() -> None:
    r = make_replica("lww", "r0", rng=random.Random(1), schema={}, model_latency_s=0.3)
    assert isinstance(r, LwwReplica)
    assert isinstance(r, StrategyReplica)
    assert r.strategy == "lww"


def test_write_then_read_returns_the_value_and_a_copy() -> None:
    r = replica("a")
    r.write(NS, "k", {"tags": ["x"], "n": 1}, agent="A")
    got = r.read(NS, "k")
    assert got == {"tags": ["x"], "n": 1}
    assert got is not None
    got["tags"].append("mutated")  # type: ignore[union-attr]
    assert r.read(NS, "k") == {"tags": ["x"], "n": 1}
    assert r.keys() == [(NS, "k")]


def test_a_written_value_is_copied_even_when_it_nests_dict_and_list_subclasses() -> None:
    from collections import OrderedDict

    inner: OrderedDict[str, Any] = OrderedDict(x=1)
    r = replica("a")
    r.write(NS, "k", {"m": inner, "l": [inner]}, agent="A")
    inner["x"] = 2
    assert r.read(NS, "k") == {"m": {"x": 1}, "l": [{"x": 1}]}


def test_a_put_removes_the_fields_it_omits_and_a_delete_removes_the_key() -> None:
    r = replica("a")
    r.write(NS, "k", {"a": 1, "b": 2}, agent="A")
    r.write(NS, "k", {"a": 3}, agent="A")
    assert r.read(NS, "k") == {"a": 3}
    r.write(NS, "k", None, agent="A")
    assert r.read(NS, "k") is None
    assert r.keys() == []
    r.write(NS, "k", {"c": 1}, agent="A")
    assert r.read(NS, "k") == {"c": 1}


def test_replicas_converge_and_the_later_write_wins_whichever_order_they_sync() -> None:
    a, b = replica("a", 1), replica("b", 2)
    a.write(NS, "k", {"status": "open"}, agent="A")
    sync(a, b)
    b.write(NS, "k", {"status": "done"}, agent="B")  # b had seen a's write: later clock
    sync(b, a)
    assert a.read(NS, "k") == b.read(NS, "k") == {"status": "done"}


def test_concurrent_writes_to_one_field_silently_keep_one_on_every_replica() -> None:
    a, b = replica("a", 1), replica("b", 2)
    a.write(NS, "k", {"tags": ["from-a"]}, agent="A")
    b.write(NS, "k", {"tags": ["from-b"]}, agent="B")
    sync(a, b)
    sync(b, a)
    assert a.read(NS, "k") == b.read(NS, "k")
    assert a.read(NS, "k") in ({"tags": ["from-a"]}, {"tags": ["from-b"]})
    assert a.escalations() == [] == b.escalations()


def test_concurrent_writes_to_different_fields_both_survive() -> None:
    a, b = replica("a", 1), replica("b", 2)
    a.write(NS, "k", {"x": 1}, agent="A")
    b.write(NS, "k", {"y": 2}, agent="B")
    sync(a, b)
    sync(b, a)
    assert a.read(NS, "k") == b.read(NS, "k") == {"x": 1, "y": 2}
    assert a.attribution() == {(NS, "k"): {"x": ["A"], "y": ["B"]}}


def test_export_ships_only_what_the_peer_lacks() -> None:
    a, b = replica("a", 1), replica("b", 2)
    first = a.write(NS, "k1", {"x": 1}, agent="A")
    assert sync(a, b) == [first]
    second = a.write(NS, "k2", {"x": 2}, agent="A")
    delta = a.export_updates(b.version())
    assert b.import_updates(delta) == [second]
    assert a.export_updates(b.version()) == b""
    assert a.export_updates(a.version()) == b""
    assert b.import_updates(delta) == []  # idempotent


def test_out_of_order_ops_wait_for_the_gap_and_the_version_never_overstates() -> None:
    a, b = replica("a", 1), replica("b", 2)
    empty = b.version()
    op1 = a.write(NS, "k", {"n": 1}, agent="A")
    after_first = a.version()
    only_first = a.export_updates(None)
    op2 = a.write(NS, "k", {"n": 2}, agent="A")
    only_second = a.export_updates(after_first)
    assert b.import_updates(only_second) == []
    assert b.read(NS, "k") is None
    assert b.version() == empty
    assert b.import_updates(only_first) == [op1, op2]
    assert b.read(NS, "k") == {"n": 2}


def test_equal_holdings_give_equal_version_bytes() -> None:
    a, b, c = replica("a", 1), replica("b", 2), replica("c", 3)
    a.write(NS, "k", {"x": 1}, agent="A")
    b.write(NS, "k", {"y": 1}, agent="B")
    sync(a, c)
    sync(b, c)
    sync(b, a)
    sync(a, b)
    assert a.version() == b.version() == c.version()


def test_corrupt_blobs_and_digests_raise_and_change_nothing() -> None:
    a, b = replica("a", 1), replica("b", 2)
    b.write(NS, "k", {"mine": True}, agent="B")
    before = (b.read(NS, "k"), b.version())
    a.write(NS, "k", {"x": 1}, agent="A")
    blob = a.export_updates(None)
    for bad in (b"\xc1garbage", blob[:-3], b"\x91\x93\x01\x02\x03"):
        with pytest.raises(CorruptUpdateError):
            b.import_updates(bad)
        assert (b.read(NS, "k"), b.version()) == before
    with pytest.raises(CorruptUpdateError):
        a.export_updates(b"\xc1")


def test_non_json_values_are_refused_naming_the_field_and_nothing_is_applied() -> None:
    r = replica("a")
    with pytest.raises(TypeError, match=r"meta\.when"):
        r.write(NS, "k", {"ok": 1, "meta": {"when": object()}}, agent="A")  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="nan"):
        r.write(NS, "k", {"x": float("nan")}, agent="A")
    assert r.read(NS, "k") is None
    assert r.version() == replica("b").version()


def test_a_restarted_replica_never_reuses_op_ids() -> None:
    rng = random.Random(5)
    first = LwwReplica("r0", rng=rng).write(NS, "k", {"x": 1}, agent="A")
    again = LwwReplica("r0", rng=rng).write(NS, "k", {"x": 1}, agent="A")
    assert first != again


def test_arbitrate_never_calls_a_model() -> None:
    r = replica("a")
    r.write(NS, "k", {"x": 1}, agent="A")
    assert anyio.run(r.arbitrate) == 0
    assert r.counters.model_calls == 0
    assert r.stats()["local_writes"] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # replica
            st.sampled_from(["write", "delete", "sync"]),
            st.sampled_from(["a", "b"]),  # field
            st.integers(0, 3),  # value / sync target
        ),
        max_size=30,
    )
)
def test_any_interleaving_of_writes_and_syncs_converges_after_a_full_exchange(
    steps: list[tuple[int, str, str, int]],
) -> None:
    replicas = [replica(f"r{i}", i) for i in range(3)]
    for who, action, field, n in steps:
        r = replicas[who]
        if action == "write":
            current = r.read(NS, "k") or {}
            r.write(NS, "k", {**current, field: n}, agent=f"A{who}")
        elif action == "delete":
            r.write(NS, "k", None, agent=f"A{who}")
        else:
            sync(r, replicas[n % 3])
    for _ in range(2):
        for src in replicas:
            for dst in replicas:
                sync(src, dst)
    states = [(r.read(NS, "k"), r.version(), r.attribution()) for r in replicas]
    assert states[0] == states[1] == states[2]
