"""SyncedStore inside real LangGraph graphs: parallel nodes of one superstep are concurrent,
later supersteps have seen earlier ones; sync and async runs, Send, subgraphs, the
functional API, checkpointers; node names are the agents."""

from __future__ import annotations

import asyncio
import gc
import operator
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_store
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Command, Send, interrupt
from store_support import SYNCED, StoreFactory

NS = ("shared",)


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    item: str


@pytest.fixture(params=list(SYNCED))
def factory(request: pytest.FixtureRequest) -> StoreFactory:
    return SYNCED[request.param]


def writer(name: str, value: dict[str, Any], key: str = "plan") -> Callable[[State], State]:
    def node(state: State) -> State:
        get_store().put(NS, key, value)
        return {"log": [name]}

    node.__name__ = name
    return node


def awriter(name: str, value: dict[str, Any], key: str = "plan") -> Callable[..., Any]:
    async def node(state: State) -> State:
        await get_store().aput(NS, key, value)
        return {"log": [name]}

    node.__name__ = name
    return node


def fan(nodes: dict[str, Any], *, then: dict[str, Any] | None = None) -> StateGraph[Any]:
    """START -> every node in `nodes` (one superstep) -> every node in `then` -> END."""
    builder: StateGraph[Any] = StateGraph(State)
    for name, fn in {**nodes, **(then or {})}.items():
        builder.add_node(name, fn)
    for name in nodes:
        builder.add_edge(START, name)
        for after in then or {}:
            builder.add_edge(name, after)
        if not then:
            builder.add_edge(name, END)
    for after in then or {}:
        builder.add_edge(after, END)
    return builder


def seed(store: BaseStore) -> None:
    store.put(NS, "plan", {"status": "draft", "tags": ["base"], "notes": "shared notes"})


A_VALUE = {"status": "approved", "tags": ["base", "a"], "notes": "shared notes; A was here"}
B_VALUE = {"status": "rejected", "tags": ["base", "b"], "notes": "B says: shared notes"}


def assert_merged_and_escalated(store: Any, agents: set[str]) -> None:
    value = store.get(NS, "plan").value
    assert value["status"] == "<escalated:status>"
    assert sorted(value["tags"]) == ["a", "b", "base"]
    assert "A was here" in value["notes"] and "B says" in value["notes"]
    [esc] = store.escalations()
    assert esc.field == "status"
    assert {c.agent_id for c in esc.contenders} == agents


# -- one superstep: concurrent ----------------------------------------------------------------


def test_parallel_nodes_merge_and_escalate_under_invoke(factory: StoreFactory) -> None:
    store = factory()
    seed(store)
    graph = fan({"a": writer("a", A_VALUE), "b": writer("b", B_VALUE)}).compile(store=store)
    graph.invoke({"log": []})
    assert_merged_and_escalated(store, {"a", "b"})


def test_parallel_async_nodes_merge_and_escalate_under_ainvoke(factory: StoreFactory) -> None:
    store = factory()
    seed(store)
    graph = fan({"a": awriter("a", A_VALUE), "b": awriter("b", B_VALUE)}).compile(store=store)
    asyncio.run(graph.ainvoke({"log": []}))
    assert_merged_and_escalated(store, {"a", "b"})


def test_sync_nodes_under_ainvoke(factory: StoreFactory) -> None:
    store = factory()
    seed(store)
    graph = fan({"a": writer("a", A_VALUE), "b": writer("b", B_VALUE)}).compile(store=store)
    asyncio.run(graph.ainvoke({"log": []}))
    assert_merged_and_escalated(store, {"a", "b"})


def test_equal_parallel_writes_do_not_escalate(factory: StoreFactory) -> None:
    store = factory()
    seed(store)
    same = {"status": "approved", "tags": ["base"], "notes": "shared notes"}
    graph = fan({"a": writer("a", same), "b": writer("b", same)}).compile(store=store)
    graph.invoke({"log": []})
    assert store.get(NS, "plan").value == same
    assert store.escalations() == []


def test_parallel_nodes_touching_different_fields_merge_cleanly(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "plan", {"owner": "x", "due": "mon"})

    def a(state: State) -> State:
        value = get_store().get(NS, "plan").value
        get_store().put(NS, "plan", {**value, "owner": "alice"})
        return {"log": ["a"]}

    def b(state: State) -> State:
        value = get_store().get(NS, "plan").value
        get_store().put(NS, "plan", {**value, "due": "fri"})
        return {"log": ["b"]}

    fan({"a": a, "b": b}).compile(store=store).invoke({"log": []})
    assert store.get(NS, "plan").value == {"owner": "alice", "due": "fri"}
    assert store.escalations() == []


def test_a_read_of_a_sibling_write_counts_as_seen(factory: StoreFactory) -> None:
    store = factory()
    seed(store)
    written = threading.Event()

    def a(state: State) -> State:
        get_store().put(NS, "plan", {"status": "approved"})
        written.set()
        return {"log": ["a"]}

    def b(state: State) -> State:
        assert written.wait(timeout=30)
        assert get_store().get(NS, "plan").value == {"status": "approved"}
        get_store().put(NS, "plan", {"status": "rejected"})
        return {"log": ["b"]}

    fan({"a": a, "b": b}).compile(store=store).invoke({"log": []})
    assert store.get(NS, "plan").value == {"status": "rejected"}
    assert store.escalations() == []


# -- later supersteps: sequential --------------------------------------------------------------


def test_later_supersteps_overwrite_without_escalating(factory: StoreFactory) -> None:
    store = factory()
    seed(store)
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("a", writer("a", A_VALUE))
    builder.add_node("b", writer("b", B_VALUE))
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    builder.compile(store=store).invoke({"log": []})
    assert store.get(NS, "plan").value == B_VALUE
    assert store.escalations() == []


def test_a_later_node_that_writes_the_field_settles_the_conflict(factory: StoreFactory) -> None:
    store = factory()
    seed(store)

    def judge(state: State) -> State:
        value = get_store().get(NS, "plan").value
        assert value["status"] == "<escalated:status>"
        get_store().put(NS, "plan", {**value, "status": "approved"})
        return {"log": ["judge"]}

    graph = fan({"a": writer("a", A_VALUE), "b": writer("b", B_VALUE)}, then={"judge": judge})
    graph.compile(store=store).invoke({"log": []})
    assert store.get(NS, "plan").value["status"] == "approved"
    assert store.escalations() == []
    assert store.history(NS, "plan")[-1].agent_id == "judge"


def test_a_later_read_modify_write_of_other_fields_keeps_the_conflict_open(
    factory: StoreFactory,
) -> None:
    store = factory()
    seed(store)

    def editor(state: State) -> State:
        value = get_store().get(NS, "plan").value
        get_store().put(NS, "plan", {**value, "editor": "was here"})
        return {"log": ["editor"]}

    graph = fan({"a": writer("a", A_VALUE), "b": writer("b", B_VALUE)}, then={"editor": editor})
    graph.compile(store=store).invoke({"log": []})
    value = store.get(NS, "plan").value
    assert value["editor"] == "was here"
    assert value["status"] == "<escalated:status>"
    [esc] = store.escalations()
    assert {c.value for c in esc.contenders} == {"approved", "rejected"}


def test_repeated_runs_are_sequential(factory: StoreFactory) -> None:
    store = factory()
    graph = fan({"a": writer("a", {"status": "one"})}).compile(store=store)
    graph.invoke({"log": []})
    store.put(NS, "plan", {"status": "between runs"})
    graph.invoke({"log": []})
    assert store.get(NS, "plan").value == {"status": "one"}
    assert store.escalations() == []


def test_checkpointer_threads_and_resumed_runs(factory: StoreFactory) -> None:
    store = factory()
    seed(store)
    graph = fan({"a": writer("a", A_VALUE), "b": writer("b", B_VALUE)}).compile(
        store=store, checkpointer=InMemorySaver()
    )
    graph.invoke({"log": []}, {"configurable": {"thread_id": "t1"}})
    assert_merged_and_escalated(store, {"a", "b"})
    solo = fan({"a": writer("a", {"status": "final"})}).compile(
        store=store, checkpointer=InMemorySaver()
    )
    solo.invoke({"log": []}, {"configurable": {"thread_id": "t1"}})
    solo.invoke({"log": []}, {"configurable": {"thread_id": "t1"}})
    assert store.get(NS, "plan").value == {"status": "final"}
    assert store.escalations() == []


def test_a_node_resumed_after_an_interrupt_has_seen_its_siblings(factory: StoreFactory) -> None:
    store = factory()
    seed(store)

    def a(state: State) -> State:
        decision = interrupt("approve?")
        get_store().put(NS, "plan", {"status": decision})
        return {"log": ["a"]}

    graph = fan({"a": a, "b": writer("b", {"status": "b-was-here"})}).compile(
        store=store, checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "t"}}
    gc.disable()  # keep the interrupted run's task objects alive: must not matter
    try:
        graph.invoke({"log": []}, config)
        assert store.get(NS, "plan").value == {"status": "b-was-here"}
        graph.invoke(Command(resume="approved"), config)
    finally:
        gc.enable()
    assert store.get(NS, "plan").value == {"status": "approved"}
    assert store.escalations() == []


def test_async_run_with_a_checkpointer(factory: StoreFactory) -> None:
    store = factory()
    seed(store)
    graph = fan({"a": awriter("a", A_VALUE), "b": awriter("b", B_VALUE)}).compile(
        store=store, checkpointer=InMemorySaver()
    )
    asyncio.run(graph.ainvoke({"log": []}, {"configurable": {"thread_id": "t"}}))
    assert_merged_and_escalated(store, {"a", "b"})


def test_a_resolver_settles_inside_the_run(factory: StoreFactory) -> None:
    async def prefer_approved(esc: Any) -> Any:
        return "approved" if "approved" in [c.value for c in esc.contenders] else None

    store = factory(resolver=prefer_approved)
    seed(store)
    seen_by_judge: list[str] = []

    def judge(state: State) -> State:
        seen_by_judge.append(get_store().get(NS, "plan").value["status"])
        return {"log": ["judge"]}

    graph = fan({"a": awriter("a", A_VALUE), "b": awriter("b", B_VALUE)}, then={"judge": judge})
    asyncio.run(graph.compile(store=store).ainvoke({"log": []}))
    assert seen_by_judge == ["approved"]
    assert store.escalations() == []
    assert store.history(NS, "plan")[-1].agent_id == "resolver:prefer_approved"


# -- Send fan-out ---------------------------------------------------------------------------


def test_send_fan_out_tasks_are_concurrent(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "plan", {"found": [], "winner": "none"})
    items = [f"w{i}" for i in range(6)]

    def dispatch(state: State) -> list[Send]:
        return [Send("work", {"item": item}) for item in items]

    def work(state: State) -> State:
        item = state["item"]
        get_store().put(NS, "plan", {"found": [item], "winner": item})
        return {"log": [item]}

    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("work", work)
    builder.add_conditional_edges(START, dispatch, ["work"])
    builder.add_edge("work", END)
    builder.compile(store=store).invoke({"log": []})
    value = store.get(NS, "plan").value
    assert sorted(value["found"]) == items
    [esc] = store.escalations()
    assert sorted(str(c.value) for c in esc.contenders) == items
    assert {c.agent_id for c in esc.contenders} == {"work"}


def test_async_send_fan_out(factory: StoreFactory) -> None:
    store = factory()
    items = [f"w{i}" for i in range(8)]

    def dispatch(state: State) -> list[Send]:
        return [Send("work", {"item": item}) for item in items]

    async def work(state: State) -> State:
        await get_store().aput(NS, "plan", {"found": [state["item"]]})
        return {"log": [state["item"]]}

    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("work", work)
    builder.add_conditional_edges(START, dispatch, ["work"])
    builder.add_edge("work", END)
    asyncio.run(builder.compile(store=store).ainvoke({"log": []}))
    assert sorted(store.get(NS, "plan").value["found"]) == items
    assert store.escalations() == []


# -- subgraphs ----------------------------------------------------------------------------------


def _subgraph() -> Any:
    sub: StateGraph[Any] = StateGraph(State)
    sub.add_node("s1", writer("s1", {"status": "sub-draft", "sub": "first"}, key="plan"))

    # s2 does not read: it has seen s1's write only because s1 ran in an earlier substep
    sub.add_node("s2", writer("s2", {"status": "sub-final", "sub": "second"}, key="plan"))
    sub.add_edge(START, "s1")
    sub.add_edge("s1", "s2")
    sub.add_edge("s2", END)
    return sub.compile()


def test_subgraph_steps_are_sequential_and_concurrent_with_parent_siblings(
    factory: StoreFactory,
) -> None:
    store = factory()
    store.put(NS, "plan", {"status": "draft"})

    q = writer("q", {"status": "q-says", "q": "yes"})
    graph = fan({"sub": _subgraph(), "q": q}).compile(store=store)
    graph.invoke({"log": []})
    value = store.get(NS, "plan").value
    assert value["sub"] == "second" and value["q"] == "yes"
    assert store.history(NS, "plan")[0].agent_id == "anonymous"
    [esc] = store.escalations()
    assert esc.field == "status"
    assert {(c.agent_id, c.value) for c in esc.contenders} == {
        ("s2", "sub-final"),
        ("q", "q-says"),
    }


def test_subgraph_invoked_inside_a_node_sees_what_the_node_wrote(factory: StoreFactory) -> None:
    store = factory()
    sub = _subgraph()

    def parent(state: State) -> State:
        get_store().put(NS, "plan", {"status": "parent-before", "tags": ["p"]})
        sub.invoke({"log": []})
        value = get_store().get(NS, "plan").value
        get_store().put(NS, "plan", {**value, "status": "parent-after"})
        return {"log": ["parent"]}

    fan({"parent": parent}).compile(store=store).invoke({"log": []})
    assert store.get(NS, "plan").value["status"] == "parent-after"
    assert store.escalations() == []


def test_async_subgraph(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "plan", {"status": "draft"})
    graph = fan({"sub": _subgraph(), "q": awriter("q", {"status": "q-says"})}).compile(store=store)
    asyncio.run(graph.ainvoke({"log": []}))
    [esc] = store.escalations()
    assert {c.agent_id for c in esc.contenders} == {"s2", "q"}


def test_a_node_that_changes_a_field_and_changes_it_back_still_conflicts_with_a_parallel_node(
    factory: StoreFactory,
) -> None:
    """Its second put is a write (it saw its first), concurrent with the other node's: the
    field escalates, a re-added element survives the other node's removal, a re-typed
    word survives its deletion. (A store that folded the two puts into one write that
    changes nothing lost all three.)"""
    store = factory()
    store.put(NS, "plan", {"status": "draft", "tags": ["x"], "notes": "ship it"})
    a_done = threading.Event()

    def a(state: State) -> State:
        get_store().put(NS, "plan", {"status": "final", "tags": [], "notes": "ship"})
        get_store().put(NS, "plan", {"status": "draft", "tags": ["x"], "notes": "ship it"})
        a_done.set()
        return {"log": ["a"]}

    def b(state: State) -> State:
        assert a_done.wait(10)
        get_store().put(NS, "plan", {"status": "shipped", "notes": "ship"})
        return {"log": ["b"]}

    fan({"a": a, "b": b}).compile(store=store).invoke({"log": []})
    value = store.get(NS, "plan").value
    assert value["tags"] == ["x"]
    assert "it" in value["notes"]
    [esc] = store.escalations()
    assert {(c.agent_id, c.value) for c in esc.contenders} == {("a", "draft"), ("b", "shipped")}


# -- functional API -----------------------------------------------------------------------------


def test_functional_tasks_called_together_are_concurrent(factory: StoreFactory) -> None:
    store = factory()

    @task
    def research(topic: str) -> str:
        get_store().put(NS, "plan", {"topics": [topic], "lead": topic})
        return topic

    @entrypoint(store=store)
    def workflow(topics: list[str]) -> list[str]:
        get_store().put(NS, "plan", {"topics": [], "lead": "nobody"})
        futures = [research(t) for t in topics]
        return [f.result() for f in futures]

    workflow.invoke(["x", "y"])
    value = store.get(NS, "plan").value
    assert sorted(value["topics"]) == ["x", "y"]
    [esc] = store.escalations()
    assert {c.value for c in esc.contenders} == {"x", "y"}


# -- attribution ----------------------------------------------------------------------------------


def test_node_names_are_the_agents_and_acting_as_overrides(factory: StoreFactory) -> None:
    store = factory()

    def researcher(state: State) -> State:
        get_store().put(NS, "a", {"v": 1})
        with store.acting_as("researcher-v2"):
            get_store().put(NS, "b", {"v": 1})
        return {"log": ["r"]}

    fan({"researcher": researcher}).compile(store=store).invoke({"log": []})
    assert [r.agent_id for r in store.history(NS, "a")] == ["researcher"]
    assert [r.agent_id for r in store.history(NS, "b")] == ["researcher-v2"]
    assert store.stats()["anonymous_writes"] == 0


def test_a_graph_run_inside_acting_as_still_names_the_nodes(factory: StoreFactory) -> None:
    store = factory()
    graph = fan({"a": writer("a", {"v": 1}, key="a"), "b": writer("b", {"v": 1}, key="b")})
    with store.acting_as("orchestrator"):
        graph.compile(store=store).invoke({"log": []})
        store.put(NS, "c", {"v": 1})
        store.put(NS, "a", {"v": 2})  # the block has seen what the run wrote
    assert store.escalations() == []
    assert [r.agent_id for r in store.history(NS, "a")] == ["a", "orchestrator"]
    assert [r.agent_id for r in store.history(NS, "b")] == ["b"]
    assert [r.agent_id for r in store.history(NS, "c")] == ["orchestrator"]


# -- memory -------------------------------------------------------------------------------------


def test_views_of_finished_tasks_are_dropped(factory: StoreFactory) -> None:
    store = factory()
    graph = fan(
        {f"n{i}": writer(f"n{i}", {"tags": [str(i)]}, key=f"k{i}") for i in range(4)}
    ).compile(store=store)
    for _ in range(30):
        graph.invoke({"log": []})
    gc.collect()  # LangGraph's task objects sit in reference cycles
    store.get(NS, "k0")  # the store drops views of freed tasks on its next call
    assert store.stats()["live_task_views"] == 0
    assert store._tasks.group_count == 0


def test_concurrent_runs_on_threads_keep_their_own_supersteps(factory: StoreFactory) -> None:
    """Runs overlap in time; each run's step 2 must have seen its own step 1 (a blind
    overwrite, no escalation) and its step-1 nodes must merge (both fields kept)."""
    store = factory()

    def step1(field: str) -> Callable[[State], State]:
        def node(state: State) -> State:
            get_store().put(NS, state["item"], {field: "step1", "status": field})
            return {"log": [field]}

        return node

    def overwrite(state: State) -> State:
        get_store().put(NS, state["item"], {"status": "final"})
        return {"log": ["final"]}

    compiled = fan({"a": step1("a"), "b": step1("b")}, then={"c": overwrite}).compile(store=store)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            barrier.wait()
            for r in range(5):
                compiled.invoke({"log": [], "item": f"run{t}-{r}"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for t in range(4):
        for r in range(5):
            assert store.get(NS, f"run{t}-{r}").value == {"status": "final"}
    assert store.escalations() == []
    assert store.stats()["escalations"] == 20  # each run's step 1: a and b concurrent
