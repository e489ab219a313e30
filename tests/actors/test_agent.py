from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from actors.agent import Agent
from actors.history import Intent
from actors.scenario import FieldSpec, Mix, WorkloadSpec

FIELDS = [
    FieldSpec(path="tags", kind="set"),
    FieldSpec(path="notes", kind="text"),
    FieldSpec(path="hits", kind="counter", declare=True),
    FieldSpec(path="meta.owner", kind="register", values=["ana", "bo"]),
]


def agent(seed: int = 1, **workload: Any) -> Agent:
    spec = WorkloadSpec(
        writes_per_agent=workload.pop("writes_per_agent", 5),
        fields=FIELDS,
        mix=workload.pop("mix", Mix(set_add=1)),
        **workload,
    )
    return Agent("r0a0", workload=spec, rng=random.Random(seed), agents=4)


def plan(a: Agent, action: str, read: dict[str, Any] | None) -> tuple[Any, tuple[Intent, ...]]:
    planned = a.plan(action, read)
    assert planned is not None
    return planned


def test_set_add_appends_a_fresh_element_to_what_was_read() -> None:
    a = agent()
    read = {"tags": ["x"], "hits": 2}
    value, intents = plan(a, "set_add", read)
    assert value == {"tags": ["x", "r0a0.1"], "hits": 2}
    assert intents == (Intent(("tags",), "add", "r0a0.1"),)
    assert read == {"tags": ["x"], "hits": 2}  # the read itself is not modified


def test_set_remove_drops_an_element_it_saw_and_falls_back_to_add_on_empty() -> None:
    a = agent()
    value, intents = plan(a, "set_remove", {"tags": ["x"]})
    assert value == {"tags": []} and intents == (Intent(("tags",), "discard", "x"),)
    value, intents = plan(a, "set_remove", None)
    assert intents[0].action == "add"


def test_text_insert_puts_a_whole_token_at_a_word_boundary() -> None:
    a = agent()
    for _ in range(20):
        value, intents = plan(a, "text_insert", {"notes": "aa bb cc "})
        token = intents[0].value
        assert sorted(value["notes"].split()) == sorted(["aa", "bb", "cc", token])
        assert value["notes"].endswith(" ")


def test_text_delete_erases_one_whole_token() -> None:
    a = agent()
    value, intents = plan(a, "text_delete", {"notes": "aa bb "})
    erased = intents[0].value
    assert intents[0].action == "erase"
    assert value["notes"].split() == [t for t in ["aa", "bb"] if t != erased]


def test_counter_adds_a_positive_delta_to_what_was_read() -> None:
    value, intents = plan(agent(), "counter", {"hits": 10})
    (incr,) = intents
    assert incr.action == "incr" and 1 <= incr.value <= 5
    assert value == {"hits": 10 + incr.value}


def test_register_always_changes_the_value_and_nests_under_maps() -> None:
    a = agent()
    for _ in range(10):
        value, intents = plan(a, "register", {"meta": {"owner": "ana", "x": 1}})
        assert value == {"meta": {"owner": "bo", "x": 1}}
        assert intents == (Intent(("meta", "owner"), "set", "bo"),)


def test_remove_field_and_delete_only_act_on_what_exists() -> None:
    a = agent()
    value, intents = plan(a, "remove_field", {"meta": {"owner": "ana"}})
    assert value == {"meta": {}} and intents == (Intent(("meta", "owner"), "remove"),)
    assert plan(a, "delete", {"tags": []}) == (None, (Intent((), "delete"),))
    value, intents = plan(a, "delete", None)  # nothing to delete: writes something instead
    assert value is not None and intents[0].action == "add"
    assert a.plan("read", {"tags": []}) is None


def test_schedules_are_seeded_and_follow_the_workload() -> None:
    mix = Mix(set_add=1, register=1)
    first = agent(3, mix=mix, writes_per_agent=7, duration_ms=500).schedule
    assert first == agent(3, mix=mix, writes_per_agent=7, duration_ms=500).schedule
    assert first != agent(4, mix=mix, writes_per_agent=7, duration_ms=500).schedule
    assert len(first) == 7
    assert [t for t, _, _ in first] == sorted(t for t, _, _ in first)
    assert all(0 <= t <= 0.5 for t, _, _ in first)
    assert {action for _, action, _ in first} <= {"set_add", "register"}


def test_rate_schedules_spread_the_total_rate_over_all_agents() -> None:
    spec = WorkloadSpec(total_rate=100.0, duration_ms=20_000, fields=FIELDS, mix=Mix(set_add=1))
    agents = [Agent(f"a{i}", workload=spec, rng=random.Random(i), agents=25) for i in range(25)]
    total = sum(len(a.schedule) for a in agents)
    assert 1800 < total < 2200  # 100/s for 20 s, Poisson
    assert all(t < 20 for a in agents for t, _, _ in a.schedule)


@pytest.mark.parametrize("keys", [1, 4])
def test_keys_come_from_the_workload_key_space(keys: int) -> None:
    a = agent(keys=keys, writes_per_agent=40)
    assert {k for _, _, k in a.schedule} == {f"k{i}" for i in range(keys)}
    assert msgspec.structs.asdict(a.workload)["keys"] == keys
