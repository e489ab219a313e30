"""Cold keys: past `hot_keys` key states, quiet keys keep only their value and are read
back from Loro when next written or changed; nothing a reader or writer sees differs."""

from __future__ import annotations

from typing import Any

import pytest

from agentsync._core import Core

NS = ("team",)


def put(core: Core, key: str, value: dict[str, Any], *, agent: str = "a", turn: Any = None) -> Any:
    return core.put(NS, key, value, agent=agent, turn=turn, now=1.0)


def fill(core: Core, keys: int, *, prefix: str = "other") -> None:
    """Writes to other keys: enough to make every quiet earlier key cold."""
    for i in range(keys):
        put(core, f"{prefix}-{i}", {"n": i})


def observed(core: Core) -> tuple[Any, ...]:
    """Everything a caller can read: values, timestamps, conflicts, history, attribution."""
    items = [(ns, key, stored) for ns, key, stored in core.items()]
    histories = [core.history(ns, key) for ns, key, _ in items]
    return items, core.escalations(), histories, core.attribution()


def test_cold_keys_read_and_write_exactly_as_whole_ones() -> None:
    values = [
        {"status": "new", "tags": ["a", "b", "a"], "meta": {"x": {"y": 1}}},
        {"count": 3, "items": [[1, 2], [1, 2]], "flag": None},
        {"nested": {"deep": {"deeper": [{"k": "v"}]}}, "n": 1.5},
    ]
    whole, cold = Core(peer_id=1), Core(peer_id=1, hot_keys=2)
    for core in (whole, cold):
        for i in range(30):
            put(core, f"k{i}", values[i % 3], agent=f"agent-{i % 4}")
        for i in range(0, 30, 3):  # written again from cold: a read back, then a diff
            put(core, f"k{i}", {**values[i % 3], "status": "done", "tags": ["b"]})
        core.delete(NS, "k4", agent="a", turn=None, now=2.0)
    assert len(cold._keys) < 5 and len(cold._cold) > 20
    assert observed(cold) == observed(whole)
    assert cold.get(NS, "k3") is not None and cold.get(NS, "k3").value["tags"] == ["b"]  # type: ignore[union-attr]
    assert cold.get(NS, "k4") is None


def test_a_turn_that_saw_a_key_before_it_went_cold_overwrites_it() -> None:
    """Read back from Loro, a cold key's writes are born when it last changed, which a
    turn begun later has seen: its write is sequential, not a conflict with its own past
    (born on reading back, every live turn would see them as new)."""
    core = Core(peer_id=1, hot_keys=2)
    put(core, "k", {"status": "draft"})
    turn = core.begin_turn()
    fill(core, 10)
    assert "k" not in {s.key for s in core._keys.values()}  # cold
    put(core, "k", {"status": "final"}, agent="writer", turn=turn)
    assert core.escalations() == []
    assert core.get(NS, "k").value == {"status": "final"}  # type: ignore[union-attr]


def test_a_key_changed_after_a_live_turn_began_stays_whole() -> None:
    core = Core(peer_id=1, hot_keys=2)
    early = core.begin_turn()
    put(core, "k", {"status": "late"}, agent="other")  # after `early` began
    fill(core, 10)
    assert "k" in {s.key for s in core._keys.values()}
    put(core, "k", {"status": "mine"}, agent="early", turn=early)
    [conflict] = core.escalations()
    assert sorted(c.agent_id for c in conflict.contenders) == ["early", "other"]


@pytest.mark.parametrize("deferred", [False, True], ids=["import", "deferred import"])
def test_an_import_into_a_cold_key_is_reported_and_new_to_earlier_turns(deferred: bool) -> None:
    a, b = Core(peer_id=1), Core(peer_id=2, hot_keys=2)
    put(a, "k", {"status": "draft"})
    b.import_updates(a.export_updates())
    before = b.begin_turn()
    fill(b, 10)
    assert "k" not in {s.key for s in b._keys.values()}
    put(a, "k", {"status": "from a"}, agent="alice")
    [op] = [r.op_id for r in a.history(NS, "k") if r.agent_id == "alice"]
    blob = a.export_updates(b.version())
    if deferred:
        assert b.import_updates_deferred(blob) == [op]
    else:
        result = b.import_updates(blob)
        assert result.new_ops == [op] and result.changed_keys == [(NS, "k")]
    after = b.begin_turn()
    assert b.get(NS, "k").value == {"status": "from a"}  # type: ignore[union-attr]
    put(b, "k", {"status": "from after"}, agent="after", turn=after)  # saw alice's write
    assert b.escalations() == []
    put(b, "k", {"status": "from before"}, agent="before", turn=before)  # saw neither
    [conflict] = b.escalations()
    assert sorted(c.agent_id for c in conflict.contenders) == ["after", "before"]


def test_keys_in_conflict_stay_whole_until_settled() -> None:
    a, b = Core(peer_id=1, hot_keys=2), Core(peer_id=2, hot_keys=2)
    put(a, "k", {"status": "one"}, agent="alice")
    put(b, "k", {"status": "two"}, agent="bob")
    b.import_updates(a.export_updates())
    fill(b, 10)
    [conflict] = b.escalations()
    assert conflict.key == "k"
    put(b, "k", {"status": "settled"}, agent="judge")  # saw both
    fill(b, 10, prefix="more")
    assert b.escalations() == [] and "k" not in {s.key for s in b._keys.values()}
    assert b.get(NS, "k").value == {"status": "settled"}  # type: ignore[union-attr]


def test_key_states_held_whole_stay_bounded() -> None:
    core = Core(peer_id=1, hot_keys=64)
    fill(core, 2_000)
    assert len(core._keys) <= 64 + 64 // 4
    assert [key for _, key, _ in core.items()] == sorted(f"other-{i}" for i in range(2_000))


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", None, True])
def test_hot_keys_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="hot_keys"):
        Core(hot_keys=bad)
