"""`put`/`aput`/`delete`/`adelete` skip planning a batch (the hot write path). They must
behave exactly as LangGraph's `BaseStore` methods, which build one `PutOp` and call
`batch`/`abatch`: each case runs on twin stores (same peer id, same fake clock), once
through the store's own method and once through `BaseStore`'s, and compares results,
errors, values, timestamps, history, stats, escalations, callbacks, resolver calls,
vectors and TTL deadlines."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import NOT_PROVIDED, BaseStore, PutOp
from store_support import SYNCED, Agents, CharEmbeddings, FakeClock, MemoryLog, StoreFactory

from agentsync import Escalation
from agentsync._values import MAX_DEPTH, MAX_VALUE_BYTES

NS = ("ctx",)
PEER = 4242


@pytest.fixture(params=list(SYNCED))
def factory(request: pytest.FixtureRequest) -> StoreFactory:
    return SYNCED[request.param]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Via:
    """Writes to `store` through its own methods (`fast`) or through BaseStore's, which
    batch one PutOp; `mode` "async" uses the `a*` methods. Remembers the keys written."""

    def __init__(self, store: Any, *, fast: bool, mode: str) -> None:
        self.store = store
        self.fast = fast
        self.mode = mode
        self.keys: dict[tuple[Any, str], None] = {}

    def _note(self, namespace: Any, key: Any) -> None:
        if isinstance(namespace, tuple) and all(isinstance(x, str) for x in namespace):
            self.keys[(namespace, str(key))] = None

    def put(self, namespace: Any, key: Any, value: Any, index: Any = None, **kw: Any) -> Any:
        self._note(namespace, key)
        if self.mode == "async":
            return asyncio.run(self.aput(namespace, key, value, index, **kw))
        if self.fast:
            return self.store.put(namespace, key, value, index, **kw)
        return BaseStore.put(self.store, namespace, key, value, index, **kw)

    async def aput(self, namespace: Any, key: Any, value: Any, index: Any = None, **kw: Any) -> Any:
        self._note(namespace, key)
        if self.fast:
            return await self.store.aput(namespace, key, value, index, **kw)
        return await BaseStore.aput(self.store, namespace, key, value, index, **kw)

    def delete(self, namespace: Any, key: Any) -> Any:
        self._note(namespace, key)
        if self.mode == "async":
            return asyncio.run(self.adelete(namespace, key))
        if self.fast:
            return self.store.delete(namespace, key)
        return BaseStore.delete(self.store, namespace, key)

    async def adelete(self, namespace: Any, key: Any) -> Any:
        self._note(namespace, key)
        if self.fast:
            return await self.store.adelete(namespace, key)
        return await BaseStore.adelete(self.store, namespace, key)


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call did: its result, or its exception's type and message."""
    try:
        return ("ok", call())
    except Exception as exc:
        return ("raised", type(exc), str(exc))


class Observed:
    """Escalation callbacks and resolver calls seen by one store."""

    def __init__(self, decide: Any = None) -> None:
        self.fired: list[tuple[str, str, str]] = []
        self.resolved: list[tuple[str, str]] = []
        self.decide = decide

    def callback(self, esc: Escalation) -> None:
        self.fired.append((esc.id, esc.key, esc.field))

    def resolver(self, esc: Escalation) -> Any:
        self.resolved.append((esc.id, esc.field))
        return self.decide(esc)


def snapshot(store: Any, via: Via) -> dict[str, Any]:
    """Everything a put can change, read without refreshing TTLs first."""
    gc.collect()  # views of graph tasks LangGraph has freed go now, not at the GC's whim
    with store._lock:
        store._tasks.purge()
    out: dict[str, Any] = {
        "keys": {ns: list(keys) for ns, keys in store._keys.items()},
        "expiry": dict(store._expiry),
        "vectors": {k: dict(v) for k, v in (store._index._vectors if store._index else {}).items()},
        "stats": store.stats(),
        "escalations": store.escalations(),
        "attribution": store.attribution(),
        "version": store.version(),
        "namespaces": outcome(store.list_namespaces),
        "history": {k: outcome(lambda k=k: store.history(*k)) for k in via.keys},
    }
    items = {}
    for namespace, key in via.keys:
        found = outcome(lambda n=namespace, k=key: store.get(n, k, refresh_ttl=False))
        item = found[1] if found[0] == "ok" else found
        items[(namespace, key)] = (
            item
            if item is None or isinstance(item, tuple)
            else (item.value, item.created_at, item.updated_at)
        )
    out["items"] = items
    return out


Scenario = Callable[[Any, Via, FakeClock], list[tuple[Any, ...]]]


def twins(
    factory: StoreFactory,
    mode: str,
    scenario: Scenario,
    *,
    decide: Any = None,
    **config: Any,
) -> tuple[dict[str, Any], list[tuple[Any, ...]], Observed]:
    """Run `scenario` through both paths on twin stores; assert they did the same."""
    runs = []
    for fast in (True, False):
        clock = FakeClock()
        observed = Observed(decide)
        kwargs = dict(config)
        if decide is not None:
            kwargs["resolver"] = observed.resolver
        if "index" in kwargs:
            kwargs["index"] = {**kwargs["index"], "embed": CharEmbeddings()}
        store = factory(peer_id=PEER, clock=clock, **kwargs)
        store.on_escalation(observed.callback)
        via = Via(store, fast=fast, mode=mode)
        try:
            results = scenario(store, via, clock)
            state = snapshot(store, via)
        finally:
            store.close()
        runs.append((results, state, observed))
    (fast_results, fast_state, fast_seen), (batch_results, batch_state, batch_seen) = runs
    assert fast_results == batch_results
    stats_diff = {
        k: (v, batch_state["stats"].get(k))
        for k, v in fast_state["stats"].items()
        if batch_state["stats"].get(k) != v
    }
    assert stats_diff == {}
    assert fast_state == batch_state
    assert fast_seen.fired == batch_seen.fired
    assert fast_seen.resolved == batch_seen.resolved
    return fast_state, fast_results, fast_seen


# -- the cases --------------------------------------------------------------------------------


def test_plain_puts_overwrites_and_deletes(factory: StoreFactory, mode: str) -> None:
    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        out = [outcome(lambda: w.put(NS, "a", {"status": "draft", "tags": ["x"]}))]
        clock.advance(3)
        out.append(outcome(lambda: w.put(NS, "a", {"status": "done", "tags": ["x", "y"]})))
        out.append(outcome(lambda: w.put(("other", "deep"), "b", {"n": 1})))
        out.append(outcome(lambda: w.put(NS, 7, {"n": 7})))  # str(key), as BaseStore
        clock.advance(1)
        out.append(outcome(lambda: w.put(("other", "deep"), "b", None)))  # put(None) deletes
        out.append(outcome(lambda: w.delete(NS, "7")))
        out.append(outcome(lambda: w.delete(NS, "never-written")))
        out.append(outcome(lambda: w.put(NS, "a", {"status": "done", "tags": ["x", "y"]})))
        return out

    state, results, _ = twins(factory, mode, scenario)
    assert all(r == ("ok", None) for r in results)
    assert state["items"][(NS, "a")][0] == {"status": "done", "tags": ["x", "y"]}
    assert state["items"][(("other", "deep"), "b")] is None
    assert state["stats"]["puts"] == 5 and state["stats"]["delete_calls"] == 3
    fields = [r.fields for r in state["history"][(NS, "a")][1]]
    assert fields == [("status", "tags"), ("status", "tags"), ()]  # the rewrite changed none


def test_ttl_defaults_refresh_and_sweep_on_put(factory: StoreFactory, mode: str) -> None:
    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        out = [outcome(lambda: w.put(NS, "default", {"v": 1}))]  # default_ttl (2 min)
        out.append(outcome(lambda: w.put(NS, "long", {"v": 2}, ttl=30)))
        out.append(outcome(lambda: w.put(NS, "forever", {"v": 3}, ttl=None)))
        out.append(outcome(lambda: w.put(NS, "float", {"v": 4}, ttl=1.5)))
        clock.advance(60)
        out.append(outcome(lambda: w.put(NS, "long", {"v": 5})))  # back to the default
        clock.advance(150)  # past "default" and "float"; the sweep interval has passed
        out.append(outcome(lambda: w.put(NS, "late", {"v": 6}, ttl=10)))
        return out

    state, results, _ = twins(
        factory,
        mode,
        scenario,
        ttl={"default_ttl": 2, "sweep_interval_minutes": 1, "refresh_on_read": True},
    )
    assert all(r == ("ok", None) for r in results)
    swept = [k for (_, k), item in state["items"].items() if item is None]
    assert swept == ["default", "long", "float"]  # by the last put, before it wrote
    assert state["stats"]["ttl_expired"] == 3
    assert set(state["expiry"]) == {(NS, "late")}


def test_index_false_index_fields_and_default_index(factory: StoreFactory, mode: str) -> None:
    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        out = [outcome(lambda: w.put(NS, "default", {"text": "red apples", "other": "x"}))]
        out.append(outcome(lambda: w.put(NS, "skip", {"text": "green pears"}, index=False)))
        out.append(
            outcome(lambda: w.put(NS, "chosen", {"text": "blue", "other": "yellow"}, ["other"]))
        )
        out.append(outcome(lambda: w.put(NS, "default", {"text": "red cherries"})))
        hits = store.search(NS, query="red apples", limit=10)
        out.append(("search", [(h.key, h.score) for h in hits]))
        out.append(("embedded", list(store.embeddings.documents)))
        return out

    state, results, _ = twins(factory, mode, scenario, index={"dims": 48, "fields": ["text"]})
    assert set(state["vectors"]) == {(NS, "default"), (NS, "chosen")}
    assert list(state["vectors"][(NS, "chosen")]) == ["other"]
    assert results[-1] == ("embedded", ["red apples", "yellow", "red cherries"])


def test_writes_inside_acting_as_blocks(factory: StoreFactory, mode: str) -> None:
    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        out = [outcome(lambda: w.put(NS, "k", {"status": "draft", "notes": "n"}))]
        with store.acting_as("planner"):
            out.append(outcome(lambda: w.put(NS, "k", {"status": "review", "notes": "n"})))
            with store.acting_as("editor"):
                out.append(outcome(lambda: w.put(NS, "j", {"status": "new"})))
                out.append(outcome(lambda: w.delete(NS, "k")))
        return out

    state, _, _ = twins(factory, mode, scenario)
    agents = [r.agent_id for r in state["history"][(NS, "k")][1]]
    assert agents == ["anonymous", "planner", "editor"]
    assert state["stats"]["anonymous_writes"] == 1


def test_a_conflict_fires_callbacks_and_the_resolver(factory: StoreFactory, mode: str) -> None:
    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        out = [outcome(lambda: w.put(NS, "plan", {"status": "draft", "tags": ["a"]}))]
        agents = Agents(store, "alice", "bob")
        for agent, status, tag in [("alice", "approved", "x"), ("bob", "rejected", "y")]:
            value = {"status": status, "tags": ["a", tag]}
            out.append(outcome(lambda a=agent, v=value: agents(a, "run", w.put, NS, "plan", v)))
        agents.close()
        return out

    def decide(esc: Escalation) -> Any:
        return "approved"

    state, _, seen = twins(
        _with_run(factory), mode, scenario, decide=decide, conflict_value="placeholder"
    )
    assert len(seen.fired) == 1 and seen.resolved == [(seen.fired[0][0], "status")]
    assert state["escalations"] == []  # the resolver settled it
    assert state["items"][(NS, "plan")][0]["status"] == "approved"
    assert state["stats"]["escalations"] == 1 and state["stats"]["resolver_calls"] == 1


def _with_run(factory: StoreFactory) -> StoreFactory:
    """The factory's store with a `run(fn, *args)` method, so `Agents` can call a Via
    method in an agent's context."""

    def make(**kwargs: Any) -> Any:
        store = factory(**kwargs)
        store.run = lambda fn, *args: fn(*args)
        return store

    return make


def test_an_unresolved_conflict_stays_open_the_same_way(factory: StoreFactory, mode: str) -> None:
    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        out = [outcome(lambda: w.put(NS, "plan", {"status": "draft"}))]
        agents = Agents(store, "alice", "bob")
        out.append(outcome(lambda: agents("alice", "run", w.put, NS, "plan", {"status": "A"})))
        out.append(outcome(lambda: agents("bob", "run", w.put, NS, "plan", {"status": "B"})))
        agents.close()
        return out

    def refuse(esc: Escalation) -> Any:
        raise RuntimeError("no opinion")

    state, _, seen = twins(_with_run(factory), mode, scenario, decide=refuse)
    assert len(seen.fired) == 1 and len(seen.resolved) == 1
    assert [e.field for e in state["escalations"]] == ["status"]
    assert state["stats"]["resolver_failures"] == 1


def test_writes_from_graph_nodes(factory: StoreFactory, mode: str) -> None:
    class State(TypedDict, total=False):
        n: int

    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        w.put(NS, "plan", {"status": "draft", "tags": ["base"]})

        def node(name: str, status: str) -> Any:
            if mode == "async":

                async def anode(state: State) -> State:
                    assert get_store() is store
                    await w.aput(NS, "plan", {"status": status, "tags": ["base", name]})
                    return {}

                return anode

            def snode(state: State) -> State:
                assert get_store() is store
                w.put(NS, "plan", {"status": status, "tags": ["base", name]})
                return {}

            return snode

        builder: StateGraph[Any] = StateGraph(State)
        builder.add_node("a", node("a", "approved"))
        builder.add_node("b", node("b", "rejected"))
        builder.add_node("c", node("c", "approved"))
        builder.add_edge(START, "a")
        builder.add_edge(START, "b")
        builder.add_edge("a", "c")
        builder.add_edge("b", "c")
        builder.add_edge("c", END)
        graph = builder.compile(store=store)
        if mode == "async":
            asyncio.run(graph.ainvoke({"n": 0}))
        else:
            graph.invoke({"n": 0})
        return []

    state, _, seen = twins(factory, mode, scenario)
    # a and b ran in one superstep (concurrent: escalated); c ran after both
    assert [r.agent_id for r in state["history"][(NS, "plan")][1]][-1] == "c"
    assert len(seen.fired) == 1
    assert state["items"][(NS, "plan")][0]["status"] == "approved"


def test_bad_input_raises_the_same_errors_and_applies_nothing(
    factory: StoreFactory, mode: str
) -> None:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(MAX_DEPTH + 1):
        cursor["d"] = {}
        cursor = cursor["d"]
    bad: list[tuple[Any, ...]] = [
        ((), "k", {"v": 1}),
        (("langgraph", "x"), "k", {"v": 1}),
        (("a.b",), "k", {"v": 1}),
        (("",), "k", {"v": 1}),
        (("a", 3), "k", {"v": 1}),
        (("nul\x00",), "k", {"v": 1}),
        (NS, "k", ["not", "a", "dict"]),
        (NS, "k", [("pairs", 1)]),  # dict() accepts it; the store does not
        (NS, "k", "text"),
        (NS, "k", 42),
        (NS, "k", {"v": {1, 2}}),  # not JSON
        (NS, "k", {"v": float("nan")}),
        (NS, "k", {"v": "x" * (MAX_VALUE_BYTES + 1)}),  # past the size limit
        (NS, "k", deep),  # past the depth limit
        (NS, "k", {"hits": "many"}),  # the schema declares hits a counter
    ]

    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        w.put(NS, "k", {"status": "kept"})
        out = [outcome(lambda a=args: w.put(*a)) for args in bad]
        out.append(outcome(lambda: w.put(NS, "k", {"v": 1}, ttl="5")))  # TTL not a number
        out.append(outcome(lambda: w.put(NS, "k", {"v": 1}, ttl=[1])))
        out.append(outcome(lambda: w.delete(("a.b",), "k")))
        out.append(outcome(lambda: w.delete((3,), "k")))
        return out

    state, results, _ = twins(factory, mode, scenario, schema={NS: {"hits": "counter"}})
    assert all(r[0] == "raised" for r in results), results
    names = {r[1].__name__ for r in results}
    assert names >= {"InvalidNamespaceError", "TypeError", "ValueError", "SchemaError"}
    assert state["items"][(NS, "k")][0] == {"status": "kept"}
    assert state["stats"]["puts"] == 1


def test_a_closed_store_refuses_writes_the_same_way(factory: StoreFactory, mode: str) -> None:
    def scenario(store: Any, w: Via, clock: FakeClock) -> list[tuple[Any, ...]]:
        w.put(NS, "k", {"v": 1})
        store.close()
        return [
            outcome(lambda: w.put(NS, "k", {"v": 2})),
            outcome(lambda: w.delete(NS, "k")),
            outcome(lambda: w.put(NS, "k", ["bad"])),  # validation comes first
        ]

    _, results, _ = twins(factory, mode, scenario)
    assert [r[1].__name__ for r in results] == ["AgentSyncError", "AgentSyncError", "ValueError"]


def test_durable_writes_reopen_the_same(factory: StoreFactory, mode: str, tmp_path: Path) -> None:
    reopened = []
    for fast in (True, False):
        path = str(tmp_path / f"{fast}.db")
        store = factory(path=path, peer_id=PEER, clock=FakeClock())
        via = Via(store, fast=fast, mode=mode)
        via.put(NS, "a", {"v": 1, "tags": ["x"]})
        via.put(NS, "a", {"v": 2, "tags": ["x", "y"]}, ttl=5)
        via.put(("other",), "b", {"v": 3})
        via.delete(("other",), "b")
        store.close()
        db = sqlite3.connect(path)
        try:
            (rows,) = db.execute("SELECT count(*) FROM agentsync_updates").fetchone()
        finally:
            db.close()
        again = factory(path=path, peer_id=PEER + 1, clock=FakeClock())
        try:
            reopened.append((rows, snapshot(again, via)))
        finally:
            again.close()
    assert reopened[0][1]["items"][(NS, "a")][0] == {"v": 2, "tags": ["x", "y"]}
    assert reopened[0][0] == 4  # one append per write
    assert reopened[0] == reopened[1]


def test_put_does_not_plan_a_batch(factory: StoreFactory) -> None:
    store = factory()

    def no_plan(ops: Any) -> Any:
        raise AssertionError("put planned a batch")

    store._plan = no_plan
    store.put(NS, "k", {"v": 1})
    asyncio.run(store.aput(NS, "k", {"v": 2}))
    store.delete(NS, "k")
    assert store.get(NS, "k") is None
    assert store.stats()["puts"] == 2


def test_a_subclass_that_overrides_batch_still_sees_every_write(factory: StoreFactory) -> None:
    seen: list[Any] = []

    class Spy(factory):  # type: ignore[misc,valid-type]
        def batch(self, ops: Any) -> Any:
            ops = list(ops)
            seen.append(("batch", ops))
            return super().batch(ops)

        async def abatch(self, ops: Any) -> Any:
            ops = list(ops)
            seen.append(("abatch", ops))
            return await super().abatch(ops)

    store = Spy()
    store.put(NS, 5, {"v": 1}, ttl=None)
    asyncio.run(store.aput(NS, "k", {"v": 2}, index=False))
    store.delete(NS, "k")
    asyncio.run(store.adelete(NS, "5"))
    assert seen == [
        ("batch", [PutOp(NS, "5", {"v": 1}, index=None, ttl=None)]),
        ("abatch", [PutOp(NS, "k", {"v": 2}, index=False, ttl=None)]),
        ("batch", [PutOp(NS, "k", None, ttl=None)]),
        ("abatch", [PutOp(NS, "5", None)]),
    ]
    assert store.search(NS) == []


def test_a_batch_patched_onto_the_store_or_its_class_still_sees_every_write(
    factory: StoreFactory,
) -> None:
    """Tests and tracing wrap `batch` on a live store (mock.patch.object): put and delete
    go through it, as BaseStore's do."""
    from unittest import mock

    store = factory()
    calls: list[list[Any]] = []
    real = store.batch

    def spy(ops: Any) -> Any:
        calls.append(list(ops))
        return real(calls[-1])

    with mock.patch.object(store, "batch", spy):
        store.put(NS, "k", {"v": 1})
        store.delete(NS, "k")
    with mock.patch.object(type(store), "batch", lambda self, ops: spy(ops)):
        store.put(NS, "k", {"v": 2})
    assert [op.value for ops in calls for op in ops] == [{"v": 1}, None, {"v": 2}]
    item = store.get(NS, "k")
    assert item is not None and item.value == {"v": 2}


def test_put_keeps_basestore_signature_defaults() -> None:
    import inspect

    from agentsync import AsyncSyncedStore, SyncedStore

    for cls in (SyncedStore, AsyncSyncedStore):
        for name in ("put", "aput", "delete", "adelete"):
            ours = inspect.signature(getattr(cls, name))
            theirs = inspect.signature(getattr(BaseStore, name))
            assert list(ours.parameters) == list(theirs.parameters), name
            for param, base in zip(
                ours.parameters.values(), theirs.parameters.values(), strict=True
            ):
                assert (param.kind, param.default) == (base.kind, base.default), (name, param)
    assert inspect.signature(SyncedStore.put).parameters["ttl"].default is NOT_PROVIDED


class ThreadLog(MemoryLog):
    """A durable log that records which thread each append ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.appends: list[tuple[str, int]] = []

    def append(self, blob: bytes, *, namespace: Any, key: str, agent: str) -> None:
        self.appends.append((key, threading.get_ident()))


@pytest.mark.parametrize("fast", [True, False])
def test_async_durable_appends_stay_off_the_event_loop(factory: StoreFactory, fast: bool) -> None:
    store = factory()
    log = ThreadLog()
    log.install(store)
    via = Via(store, fast=fast, mode="async")

    async def main() -> int:
        await via.aput(NS, "a", {"v": 1})
        await via.adelete(NS, "a")
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    store.put(NS, "b", {"v": 2})  # the sync API appends in the caller's thread
    assert [key for key, _ in log.appends] == ["a", "a", "b"]
    assert all(thread != loop_thread for _, thread in log.appends[:2])
    assert log.appends[2][1] == threading.get_ident()


def test_put_checks_shared_with_batch_keep_their_messages(factory: StoreFactory) -> None:
    """`_check_put` serves both paths: pin what it says, through batch and through put."""
    store = factory()
    big = {"v": "x" * (MAX_VALUE_BYTES + 1)}
    ctx = "put(('ctx',), 'k'): "
    cases: list[tuple[Any, Any, Any, type[Exception], str]] = [
        (
            "k",
            42,
            None,
            TypeError,
            f"{ctx}value must be a dict of JSON (or None to delete), got int",
        ),
        (
            "k",
            "text",
            None,
            ValueError,
            f"{ctx}value must be a dict of JSON (or None to delete), got str",
        ),
        ("k", {"v": 1}, "5", TypeError, "ttl must be minutes (a number) or None, got '5'"),
        # the compact JSON {"v":"x..."} is 8 bytes more than the text
        ("k", big, None, ValueError, f"{ctx}value is {MAX_VALUE_BYTES + 9:,} bytes as JSON, over"),
    ]
    for key, value, ttl, kind, message in cases:
        op = PutOp(NS, key, value, ttl=ttl)
        for call in (
            lambda op=op: store.batch([op]),
            lambda op=op: asyncio.run(store.abatch([op])),
            lambda op=op: store.put(NS, op.key, op.value, ttl=op.ttl),
            lambda op=op: asyncio.run(store.aput(NS, op.key, op.value, ttl=op.ttl)),
        ):
            with pytest.raises(kind) as caught:
                call()
            assert str(caught.value).startswith(message), str(caught.value)[:200]
    # a key that is not a str: batch refuses it; put makes it a str first (as BaseStore)
    with pytest.raises(TypeError) as caught:
        store.batch([PutOp(NS, 7, {"v": 1})])  # type: ignore[arg-type]
    assert str(caught.value) == "key must be str, got int 7"
    assert store.stats()["puts"] == 0
    store.put(NS, 7, {"v": 1})  # type: ignore[arg-type]
    assert store.get(NS, "7").value == {"v": 1}


def test_a_store_keeps_its_attributes_within_cpythons_shared_keys(factory: StoreFactory) -> None:
    """CPython 3.11 keeps an instance's attributes inline (fast to read) only for up to 30
    of them: the fast-path commit's two extra attributes (31) made every attribute read
    on the store slower (store_bench's get 1.6x -> 1.8x InMemoryStore; measured by
    bisection). Keep new per-store state inside an existing attribute."""
    assert len(vars(factory())) <= 30  # (vars() of a throwaway store: it reads __dict__)
