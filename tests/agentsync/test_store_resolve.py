"""`resolve()` settles exactly the contenders it was given: an escalation that is no longer
the open one (a new contender, an overwrite, a delete) raises StaleEscalationError and
changes nothing."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph

from agentsync import AgentSyncError, Escalation, StaleEscalationError, SyncedStore

NS = ("team",)


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _writer(name: str, status: str) -> Any:
    def node(state: State) -> State:
        get_store().put(NS, "plan", {"status": status})
        return {"log": [name]}

    node.__name__ = name
    return node


def _three_parallel_writers(store: SyncedStore) -> list[Escalation]:
    """a, b, c write `status` in one superstep; returns what on_escalation saw."""
    store.put(NS, "plan", {"status": "draft"})
    fired: list[Escalation] = []
    store.on_escalation(fired.append)
    builder: StateGraph[Any] = StateGraph(State)
    for name, status in (("a", "approved"), ("b", "rejected"), ("c", "on-hold")):
        builder.add_node(name, _writer(name, status))
        builder.add_edge(START, name)
        builder.add_edge(name, END)
    builder.compile(store=store).invoke({"log": []})
    return fired


def _agents(escalation: Escalation) -> list[str]:
    return sorted(c.agent_id for c in escalation.contenders)


def test_a_new_contender_makes_the_first_escalation_stale() -> None:
    store = SyncedStore()
    fired = _three_parallel_writers(store)
    # the three puts land one after another: a conflict of two, then of three
    assert [_agents(e) for e in fired][-1] == ["a", "b", "c"]
    first = fired[0]
    assert len(first.contenders) == 2
    version = store.version()

    with pytest.raises(StaleEscalationError) as raised:
        store.resolve(first, "approved")
    assert isinstance(raised.value, AgentSyncError)
    message = str(raised.value)
    assert "'status'" in message and "open conflict now has the contenders" in message
    assert "'on-hold'" in message and "nothing was written" in message
    [current] = raised.value.current
    assert _agents(current) == ["a", "b", "c"]
    # nothing changed: no write, no new conflict
    assert store.version() == version
    assert store.escalations() == [current]
    assert store.get(NS, "plan").value["status"] == "<escalated:status>"

    store.resolve(current, "approved")
    assert store.escalations() == []
    assert store.get(NS, "plan").value["status"] == "approved"


def test_resolving_after_an_overwrite_is_stale() -> None:
    store = SyncedStore()
    _three_parallel_writers(store)
    [escalation] = store.escalations()
    store.get(NS, "plan")  # this turn has seen every contender
    store.put(NS, "plan", {"status": "shipped"})
    assert store.escalations() == []
    version = store.version()

    with pytest.raises(StaleEscalationError, match="no longer in conflict") as raised:
        store.resolve(escalation, "approved")
    assert raised.value.current == ()
    assert store.version() == version
    assert store.escalations() == []
    assert store.get(NS, "plan").value == {"status": "shipped"}


def test_resolving_after_a_delete_does_not_recreate_the_key() -> None:
    store = SyncedStore()
    _three_parallel_writers(store)
    [escalation] = store.escalations()
    store.delete(NS, "plan")
    version = store.version()

    with pytest.raises(StaleEscalationError, match="deleted"):
        store.resolve(escalation, "approved")
    assert store.version() == version
    assert store.get(NS, "plan") is None
    assert store.escalations() == []


def test_resolving_twice_is_stale_the_second_time() -> None:
    store = SyncedStore()
    _three_parallel_writers(store)
    [escalation] = store.escalations()
    store.resolve(escalation, "approved")
    with pytest.raises(StaleEscalationError, match="no longer in conflict"):
        store.resolve(escalation, "rejected")
    assert store.get(NS, "plan").value["status"] == "approved"


def test_a_resolver_decision_on_a_stale_escalation_is_discarded_not_a_failure() -> None:
    decided: list[list[str]] = []

    def resolver(escalation: Escalation) -> Any:
        decided.append(_agents(escalation))
        return "approved"

    store = SyncedStore(resolver=resolver)
    _three_parallel_writers(store)
    assert store.escalations() == []
    assert store.get(NS, "plan").value["status"] == "approved"
    assert store.stats()["resolver_failures"] == 0
