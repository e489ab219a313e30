"""`agentsync.langgraph.review_node`: a graph pauses on open conflicts with `interrupt()`
(real checkpointer) and resolves them from `Command(resume=...)`."""

from __future__ import annotations

import operator
import threading
from typing import Annotated, Any, TypedDict

import anyio
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_store
from langgraph.graph import START, StateGraph
from langgraph.types import Command

from agentsync import AsyncSyncedStore, SyncedStore
from agentsync.langgraph import LEAVE_OPEN, areview_node, review_node

NS = ("team",)


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    final: str


def _writer(name: str, status: str) -> Any:
    def node(state: State) -> State:
        get_store().put(NS, "plan", {"status": status, "findings": [name]})
        return {"log": [name]}

    node.__name__ = name
    return node


def _publish(state: State) -> State:
    return {"final": get_store().get(NS, "plan").value["status"]}


def _graph(store: Any, review: Any) -> Any:
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("researcher", _writer("researcher", "approved"))
    builder.add_node("critic", _writer("critic", "needs-work"))
    builder.add_node("review", review)
    builder.add_node("publish", _publish)
    builder.add_edge(START, "researcher")
    builder.add_edge(START, "critic")
    builder.add_edge(["researcher", "critic"], "review")
    builder.add_edge("review", "publish")
    return builder.compile(store=store, checkpointer=InMemorySaver())


CONFIG: Any = {"configurable": {"thread_id": "t1"}}


def test_the_run_pauses_with_the_conflict_and_resumes_resolved() -> None:
    store = SyncedStore()
    graph = _graph(store, review_node(NS))

    paused = graph.invoke({"log": []}, CONFIG)
    [request] = paused["__interrupt__"]
    review = request.value
    assert review["namespace"] == ["team"] and review["stale"] == []
    [conflict] = review["escalations"]
    assert conflict["field"] == "status" and conflict["key"] == "plan"
    assert sorted((c["agent_id"], c["value"]) for c in conflict["contenders"]) == [
        ("critic", "needs-work"),
        ("researcher", "approved"),
    ]
    # while the run is paused, readers see the placeholder and both findings
    value = store.get(NS, "plan").value
    assert value["status"] == "<escalated:status>"
    assert sorted(value["findings"]) == ["critic", "researcher"]
    assert "final" not in paused

    done = graph.invoke(Command(resume={conflict["id"]: "needs-work"}), CONFIG)
    assert done["final"] == "needs-work"
    assert store.escalations() == []
    assert [r.action for r in store.history(NS, "plan")][-1] == "resolve"


def test_a_conflict_that_changed_while_paused_is_asked_again() -> None:
    store = SyncedStore()
    graph = _graph(store, review_node(NS))
    started = threading.Event()
    go = threading.Event()

    def late_writer() -> None:
        # a turn that began before the graph wrote: its write is concurrent with both
        with store.acting_as("late"):
            started.set()
            go.wait(30)
            store.put(NS, "plan", {"status": "on-hold", "findings": ["late"]})

    thread = threading.Thread(target=late_writer)
    thread.start()
    started.wait(30)
    paused = graph.invoke({"log": []}, CONFIG)
    [first] = paused["__interrupt__"][0].value["escalations"]
    go.set()
    thread.join(30)
    [now] = store.escalations()
    assert len(now.contenders) == 3

    again = graph.invoke(Command(resume={first["id"]: "approved"}), CONFIG)
    review = again["__interrupt__"][0].value
    assert review["stale"] == [first["id"]]
    [current] = review["escalations"]
    assert current["id"] == now.id
    assert store.get(NS, "plan").value["status"] == "<escalated:status>"  # nothing written

    done = graph.invoke(Command(resume={current["id"]: "on-hold"}), CONFIG)
    assert done["final"] == "on-hold"
    assert store.escalations() == []


def test_leave_open_leaves_the_conflict_open_and_the_run_continues() -> None:
    store = SyncedStore()
    graph = _graph(store, review_node(NS))
    graph.invoke({"log": []}, CONFIG)
    done = graph.invoke(Command(resume=LEAVE_OPEN), CONFIG)
    assert done["final"] == "<escalated:status>"
    assert len(store.escalations()) == 1


def test_no_conflict_no_interrupt() -> None:
    store = SyncedStore()
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("researcher", _writer("researcher", "approved"))
    builder.add_node("review", review_node(NS))
    builder.add_edge(START, "researcher")
    builder.add_edge("researcher", "review")
    done = builder.compile(store=store, checkpointer=InMemorySaver()).invoke({"log": []}, CONFIG)
    assert "__interrupt__" not in done


def test_a_bad_resume_value_is_a_clear_error() -> None:
    graph = _graph(SyncedStore(), review_node(NS))
    graph.invoke({"log": []}, CONFIG)
    with pytest.raises(TypeError, match="mapping of escalation id"):
        graph.invoke(Command(resume="needs-work"), CONFIG)


def test_async_graph() -> None:
    store = AsyncSyncedStore()
    graph = _graph(store, areview_node(NS))

    async def main() -> dict[str, Any]:
        paused = await graph.ainvoke({"log": []}, CONFIG)
        [conflict] = paused["__interrupt__"][0].value["escalations"]
        result: dict[str, Any] = await graph.ainvoke(
            Command(resume={conflict["id"]: "approved"}), CONFIG
        )
        return result

    assert anyio.run(main)["final"] == "approved"
    assert store.escalations() == []


def test_the_readme_review_example_runs() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(b for b in blocks if "review_node(" in b)
    exec(compile(example, "README.md", "exec"), {"__name__": "readme_review_example"})
