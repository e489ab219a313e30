"""SyncedStore / AsyncSyncedStore beyond InMemoryStore: merging, causality outside a graph,
escalations and resolution, attribution, stats, TTL, replica exchange, bad input."""

from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path
from typing import Any

import pytest
import structlog
from langgraph.store.base import GetOp, PutOp, SearchOp, TTLConfig
from store_support import SYNCED, Agents, FakeClock, MemoryLog, StoreFactory

from agentsync import CorruptUpdateError, Escalation, SchemaError
from agentsync._store import SyncedStore

NS = ("ctx",)


@pytest.fixture(params=list(SYNCED))
def factory(request: pytest.FixtureRequest) -> StoreFactory:
    return SYNCED[request.param]


def _conflict(store: SyncedStore, key: str = "plan") -> None:
    """alice and bob both began before either wrote: a register conflict, merged rest."""
    store.put(NS, key, {"status": "draft", "tags": ["a"], "notes": "base"})
    agents = Agents(store, "alice", "bob")
    agents("alice", "put", NS, key, {"status": "approved", "tags": ["a", "x"], "notes": "base+A"})
    agents("bob", "put", NS, key, {"status": "rejected", "tags": ["a", "y"], "notes": "B:base"})
    agents.close()


async def _concurrent_aputs(store: Any, key: str, *values: dict[str, Any]) -> None:
    """One asyncio task per value, each in its own acting_as turn, all begun up front."""
    gate = asyncio.Barrier(len(values))

    async def writer(i: int, value: dict[str, Any]) -> None:
        async with store.acting_as(f"agent{i}"):
            await gate.wait()
            await store.aput(NS, key, value)

    await asyncio.gather(*(writer(i, v) for i, v in enumerate(values)))


# -- merging and causality outside a graph ----------------------------------------------------


def test_sequential_writes_overwrite_without_escalating(factory: StoreFactory) -> None:
    store = factory()
    for status in ["draft", "review", "done"]:
        store.put(NS, "plan", {"status": status, "tags": [status]})
    assert store.get(NS, "plan").value == {"status": "done", "tags": ["done"]}
    assert store.escalations() == []
    assert store.stats()["escalations"] == 0


def test_concurrent_acting_as_blocks_merge_and_escalate(factory: StoreFactory) -> None:
    store = factory()
    _conflict(store)
    value = store.get(NS, "plan").value
    assert value["status"] == "<escalated:status>"
    assert sorted(value["tags"]) == ["a", "x", "y"]
    assert "A" in value["notes"] and "B:" in value["notes"]
    [esc] = store.escalations()
    assert (esc.namespace, esc.key, esc.field) == (NS, "plan", "status")
    assert {(c.agent_id, c.value) for c in esc.contenders} == {
        ("alice", "approved"),
        ("bob", "rejected"),
    }
    assert store.escalations(("other",)) == []
    assert store.escalations(NS) == [esc]


def test_an_acting_as_block_that_read_first_overwrites(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "k", {"status": "draft"})
    agents = Agents(store, "alice", "bob")
    agents("alice", "put", NS, "k", {"status": "approved"})
    assert agents("bob", "get", NS, "k").value == {"status": "approved"}
    agents("bob", "put", NS, "k", {"status": "rejected"})
    assert store.get(NS, "k").value == {"status": "rejected"}
    assert store.escalations() == []


def test_writes_inside_one_block_are_sequential(factory: StoreFactory) -> None:
    store = factory()
    with store.acting_as("alice"):
        store.put(NS, "k", {"status": "a", "tags": ["x"]})
        store.put(NS, "k", {"status": "b", "tags": []})
    assert store.get(NS, "k").value == {"status": "b", "tags": []}
    assert store.escalations() == []


def test_a_nested_block_is_seen_by_the_block_around_it(factory: StoreFactory) -> None:
    store = factory()
    with store.acting_as("outer"):
        store.put(NS, "k", {"status": "outer-1"})
        with store.acting_as("inner"):
            store.put(NS, "k", {"status": "inner"})
        store.put(NS, "k", {"status": "outer-2"})
    assert store.get(NS, "k").value == {"status": "outer-2"}
    assert store.escalations() == []


def test_concurrent_delete_keeps_the_concurrent_put(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "k", {"tags": ["a"], "status": "x"})
    agents = Agents(store, "deleter", "writer")
    agents("deleter", "delete", NS, "k")
    agents("writer", "put", NS, "k", {"tags": ["a", "b"], "status": "x"})
    assert store.get(NS, "k").value == {"tags": ["b"]}
    assert [i.key for i in store.search(NS)] == ["k"]


def test_acting_as_works_with_async_with(factory: StoreFactory) -> None:
    store = factory()

    async def main() -> None:
        async with store.acting_as("researcher"):
            await store.aput(NS, "k", {"v": 1})

    asyncio.run(main())
    assert [r.agent_id for r in store.history(NS, "k")] == ["researcher"]


def test_acting_as_rejects_empty_agents(factory: StoreFactory) -> None:
    with pytest.raises(ValueError, match="agent"):
        factory().acting_as("")


def test_acting_as_on_one_store_does_not_touch_another(factory: StoreFactory) -> None:
    one, two = factory(), factory()
    with one.acting_as("alice"):
        two.put(NS, "k", {"v": 1})
    assert [r.agent_id for r in two.history(NS, "k")] == ["anonymous"]


def test_async_methods_merge_concurrent_tasks(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "k", {"tags": []})

    async def writer(agent: str, gate: asyncio.Barrier) -> None:
        async with store.acting_as(agent):
            await gate.wait()  # both turns begin before either writes
            await store.aput(NS, "k", {"tags": [agent], "status": agent})

    async def main() -> None:
        gate = asyncio.Barrier(2)
        await asyncio.gather(writer("a", gate), writer("b", gate))

    asyncio.run(main())
    value = store.get(NS, "k").value
    assert sorted(value["tags"]) == ["a", "b"]
    assert value["status"] == "<escalated:status>"


# -- reading ----------------------------------------------------------------------------------


def test_returned_values_are_private_copies(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "k", {"tags": ["a"], "m": {"x": 1}})
    item = store.get(NS, "k")
    item.value["tags"].append("b")
    item.value["m"]["x"] = 2
    store.search(NS)[0].value["new"] = 1
    assert store.get(NS, "k").value == {"tags": ["a"], "m": {"x": 1}}
    item.value["tags"].append("c")
    store.put(NS, "k", item.value)  # the read-modify-write pattern agents use
    assert sorted(store.get(NS, "k").value["tags"]) == ["a", "b", "c"]


def test_dotted_filter_keys_address_nested_fields(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "a", {"user": {"access-level": "admin", "age": 40}})
    store.put(NS, "b", {"user": {"access-level": "guest", "age": 20}})
    store.put(NS, "c", {"user.access-level": "literal"})
    assert [r.key for r in store.search(NS, filter={"user.access-level": "admin"})] == ["a"]
    assert [r.key for r in store.search(NS, filter={"user.age": {"$gt": 30}})] == ["a"]
    assert [r.key for r in store.search(NS, filter={"user.access-level": "literal"})] == ["c"]


def test_order_filters_skip_missing_or_non_numeric_fields(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "n", {"score": 5})
    store.put(NS, "s", {"score": "high"})
    store.put(NS, "m", {"other": 1})
    assert [r.key for r in store.search(NS, filter={"score": {"$gte": 1}})] == ["n"]


def test_conflict_value_provisional_reads_a_deterministic_contender(
    factory: StoreFactory,
) -> None:
    readings = []
    for _ in range(2):
        store = factory(conflict_value="provisional")
        _conflict(store)
        readings.append(store.get(NS, "plan").value["status"])
    assert readings[0] in ("approved", "rejected") and readings[0] == readings[1]


# -- escalations ------------------------------------------------------------------------------


def test_resolve_settles_the_conflict_as_an_attributed_write(factory: StoreFactory) -> None:
    store = factory()
    _conflict(store)
    [esc] = store.escalations()
    with store.acting_as("lead"):
        store.resolve(esc, "approved")
    assert store.get(NS, "plan").value["status"] == "approved"
    assert store.escalations() == []
    assert store.history(NS, "plan")[-1].agent_id == "lead"
    assert store.stats()["resolutions"] == 1


def test_on_escalation_fires_once_per_conflict(factory: StoreFactory) -> None:
    store = factory()
    seen: list[Escalation] = []
    store.on_escalation(seen.append)
    _conflict(store)
    store.put(NS, "unrelated", {"v": 1})
    store.get(NS, "plan")
    assert [e.field for e in seen] == ["status"]
    assert seen == store.escalations()


def test_async_callbacks_are_awaited_by_both_apis(factory: StoreFactory) -> None:
    store = factory()
    fired: list[str] = []

    async def callback(esc: Escalation) -> None:
        await asyncio.sleep(0)
        fired.append(esc.field)

    store.on_escalation(callback)
    _conflict(store, "sync-path")
    assert fired == ["status"]

    async def main() -> None:
        await store.aput(NS, "async-path", {"status": "draft"})
        await _concurrent_aputs(store, "async-path", {"status": "x"}, {"status": "y"})

    asyncio.run(main())
    assert fired == ["status", "status"]


def test_a_failing_callback_is_logged_and_the_write_stands(factory: StoreFactory) -> None:
    store = factory()

    def broken(esc: Escalation) -> None:
        raise RuntimeError("pager down")

    store.on_escalation(broken)
    with structlog.testing.capture_logs() as logs:
        _conflict(store)
    assert store.get(NS, "plan").value["status"] == "<escalated:status>"
    assert any(e["event"] == "escalation callback failed" for e in logs)
    assert store.stats()["callback_failures"] == 1


def test_sync_resolver_settles_before_the_write_returns(factory: StoreFactory) -> None:
    decided: list[str] = []

    def resolver(esc: Escalation) -> Any:
        decided.append(esc.field)
        return sorted(str(c.value) for c in esc.contenders)[0]

    store = factory(resolver=resolver)
    _conflict(store)
    assert decided == ["status"]
    assert store.get(NS, "plan").value["status"] == "approved"
    assert store.escalations() == []
    assert store.history(NS, "plan")[-1].agent_id == "resolver:resolver"


def test_async_resolver_runs_from_the_sync_api_too(factory: StoreFactory) -> None:
    async def pick_rejected(esc: Escalation) -> Any:
        await asyncio.sleep(0)
        return "rejected"

    store = factory(resolver=pick_rejected)
    _conflict(store)
    assert store.get(NS, "plan").value["status"] == "rejected"
    assert store.escalations() == []


def test_async_resolver_is_awaited_by_the_async_api(factory: StoreFactory) -> None:
    async def pick(esc: Escalation) -> Any:
        return "approved"

    store = factory(resolver=pick)

    async def main() -> None:
        await store.aput(NS, "k", {"status": "draft"})
        await _concurrent_aputs(store, "k", {"status": "x"}, {"status": "y"})

    asyncio.run(main())
    assert store.get(NS, "k").value == {"status": "approved"}


def test_failing_resolver_leaves_the_escalation_open_and_says_why(factory: StoreFactory) -> None:
    def resolver(esc: Escalation) -> Any:
        raise RuntimeError("model unavailable")

    store = factory(resolver=resolver)
    with structlog.testing.capture_logs() as logs:
        _conflict(store)
    assert store.get(NS, "plan").value["status"] == "<escalated:status>"
    assert len(store.escalations()) == 1
    [event] = [e for e in logs if e["event"] == "resolver failed"]
    assert "model unavailable" in event["reason"] and event["field"] == "status"
    assert store.stats()["resolver_failures"] == 1


def test_resolver_that_times_out_leaves_the_escalation_open(factory: StoreFactory) -> None:
    async def never(esc: Escalation) -> Any:
        await asyncio.Event().wait()

    store = factory(resolver=never, resolver_timeout=0.01)
    with structlog.testing.capture_logs() as logs:
        _conflict(store)
    assert len(store.escalations()) == 1
    assert [e["reason"] for e in logs if e["event"] == "resolver failed"] == ["timed out"]


def test_resolver_returning_non_json_is_refused(factory: StoreFactory) -> None:
    store = factory(resolver=lambda esc: object())
    with structlog.testing.capture_logs() as logs:
        _conflict(store)
    assert len(store.escalations()) == 1
    assert any(e["event"] == "resolver failed" for e in logs)


# -- attribution and stats -------------------------------------------------------------------


def test_history_and_attribution_name_the_agents(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "k", {"a": 1})
    with store.acting_as("alice"):
        store.put(NS, "k", {"a": 1, "b": 2})
    history = store.history(NS, "k")
    assert [(r.agent_id, r.action) for r in history] == [("anonymous", "put"), ("alice", "put")]
    fields = store.attribution()[(NS, "k")]
    assert fields["b"] == ["alice"]


def test_stats_count_puts_and_the_conflict_mix(factory: StoreFactory) -> None:
    store = factory()
    _conflict(store)
    store.delete(NS, "plan")
    stats = store.stats()
    assert stats["puts"] == 3
    assert stats["delete_calls"] == 1
    assert stats["escalations"] == 1
    assert stats["anonymous_writes"] == 2
    assert stats["semantic_conflicts"] >= 1
    assert stats["semantic_ratio"] + stats["mergeable_ratio"] == pytest.approx(1.0)


# -- bad input --------------------------------------------------------------------------------


def test_non_json_values_name_the_field_and_apply_nothing(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "k", {"v": 1})
    with pytest.raises(TypeError, match=r"meta\.when"):
        store.put(NS, "k", {"v": 2, "meta": {"when": object()}})
    with pytest.raises(TypeError, match="nan"):
        store.put(NS, "k", {"v": float("nan")})
    with pytest.raises(TypeError):
        store.put(NS, "k", {1: "int key"})
    assert store.get(NS, "k").value == {"v": 1}


def test_a_bad_put_in_a_batch_applies_none_of_it(factory: StoreFactory) -> None:
    store = factory()
    with pytest.raises(TypeError, match="bad"):
        store.batch(
            [
                PutOp(NS, "good", {"v": 1}),
                PutOp(NS, "bad", {"v": {1, 2}}),
            ]
        )
    with pytest.raises(ValueError):
        store.batch([PutOp(NS, "good", {"v": 1}), PutOp(NS, "bad", "text")])  # type: ignore[arg-type]
    assert store.get(NS, "good") is None
    assert store.list_namespaces() == []


def test_a_schema_error_in_a_batch_applies_none_of_it(factory: StoreFactory) -> None:
    store = factory(schema={NS: {"hits": "counter"}})
    with pytest.raises(SchemaError, match=r"'bad'.*hits"):
        store.batch([PutOp(NS, "good", {"hits": 1}), PutOp(NS, "bad", {"hits": "many"})])
    assert store.get(NS, "good") is None


def test_what_a_caller_mutates_after_put_is_not_the_stored_value(factory: StoreFactory) -> None:
    from collections import OrderedDict

    class Tags(list[str]):
        pass

    inner: OrderedDict[str, Any] = OrderedDict(x=1)
    tags = Tags(["a"])
    store = factory()
    store.put(NS, "k", {"m": inner, "tags": tags, "deep": {"l": [OrderedDict(y=2)]}})
    inner["x"] = "mutated"
    tags.append("b")
    assert store.get(NS, "k").value == {"deep": {"l": [{"y": 2}]}, "m": {"x": 1}, "tags": ["a"]}
    read = store.get(NS, "k").value
    read["m"]["x"] = "mine"
    assert store.get(NS, "k").value["m"] == {"x": 1}


def test_declared_schema_is_checked(factory: StoreFactory) -> None:
    store = factory(schema={NS: {"hits": "counter"}})
    with pytest.raises(SchemaError):
        store.put(NS, "k", {"hits": "many"})
    assert store.get(NS, "k") is None


def test_bad_constructor_arguments(factory: StoreFactory) -> None:
    with pytest.raises(ValueError, match="conflict_value"):
        factory(conflict_value="newest")
    with pytest.raises(TypeError, match="resolver"):
        factory(resolver="pick one")
    with pytest.raises(ValueError, match="not both"):
        factory(path="x.db", dsn="postgresql://x")


# -- TTL --------------------------------------------------------------------------------------


def _sweep(store: Any) -> int:
    """`sweep_ttl()`: a coroutine on AsyncSyncedStore, as on LangGraph's async stores."""
    swept = store.sweep_ttl()
    return asyncio.run(swept) if inspect.iscoroutine(swept) else int(swept)


def _ttl_store(factory: StoreFactory, **config: Any) -> tuple[Any, FakeClock]:
    clock = FakeClock()
    ttl: TTLConfig = {"default_ttl": 1.0, **config}  # type: ignore[typeddict-item]
    return factory(ttl=ttl, clock=clock), clock


def test_ttl_items_expire_at_sweep(factory: StoreFactory) -> None:
    store, clock = _ttl_store(factory)
    assert store.supports_ttl
    store.put(NS, "short", {"v": 1})
    store.put(NS, "forever", {"v": 2}, ttl=None)
    store.put(NS, "long", {"v": 3}, ttl=10)
    clock.advance(61)
    assert store.get(NS, "short", refresh_ttl=False) is not None  # not swept yet
    assert _sweep(store) == 1
    assert store.get(NS, "short") is None
    assert {r.key for r in store.search(NS)} == {"forever", "long"}
    clock.advance(600)
    assert _sweep(store) == 1
    assert [r.key for r in store.search(NS)] == ["forever"]
    assert store.history(NS, "short")[-1].agent_id == "ttl-sweeper"


def test_reads_refresh_the_ttl(factory: StoreFactory) -> None:
    store, clock = _ttl_store(factory)
    store.put(NS, "read", {"v": 1})
    store.put(NS, "searched", {"v": 2})
    store.put(NS, "idle", {"v": 3})
    clock.advance(50)
    store.get(NS, "read")
    store.search(NS, filter={"v": 2})
    store.get(NS, "idle", refresh_ttl=False)
    clock.advance(20)
    assert _sweep(store) == 1
    assert {r.key for r in store.search(NS)} == {"read", "searched"}


def test_refresh_on_read_false_is_the_default_override(factory: StoreFactory) -> None:
    store, clock = _ttl_store(factory, refresh_on_read=False)
    store.put(NS, "k", {"v": 1})
    clock.advance(50)
    store.get(NS, "k")
    clock.advance(20)
    assert _sweep(store) == 1


def test_omit_expired_hides_items_before_the_sweep(factory: StoreFactory) -> None:
    store, clock = _ttl_store(factory, omit_expired=True)
    store.put(("a",), "k", {"v": 1})
    store.put(("b",), "k", {"v": 1}, ttl=None)
    clock.advance(61)
    assert store.get(("a",), "k") is None
    assert store.search(("a",)) == []
    assert store.list_namespaces() == [("b",)]


def test_sweep_interval_sweeps_on_the_next_call(factory: StoreFactory) -> None:
    store, clock = _ttl_store(factory, sweep_interval_minutes=5)
    store.put(NS, "k", {"v": 1})
    clock.advance(301)
    store.get(("other",), "x")
    assert store.stats()["ttl_expired"] == 1
    assert store.get(NS, "k") is None


def test_a_new_put_replaces_the_ttl(factory: StoreFactory) -> None:
    store, clock = _ttl_store(factory)
    store.put(NS, "k", {"v": 1})
    store.put(NS, "k", {"v": 1}, ttl=None)  # same value, no expiry now
    clock.advance(120)
    assert _sweep(store) == 0


def test_ttl_sweeper_thread_starts_and_stops() -> None:
    factory = SYNCED["SyncedStore"]  # AsyncSyncedStore's sweeper: test_store_compat.py
    store, _ = _ttl_store(factory)
    future = store.start_ttl_sweeper(sweep_interval_minutes=60)
    assert not future.done()
    assert store.stop_ttl_sweeper(timeout=5)
    assert future.result(timeout=5) is None
    no_ttl = factory()
    assert no_ttl.start_ttl_sweeper().done()


# -- replica exchange --------------------------------------------------------------------------


def test_two_replicas_converge_and_see_the_same_escalations(factory: StoreFactory) -> None:
    one, two = factory(), factory()
    with one.acting_as("alice"):
        one.put(NS, "k", {"status": "approved", "tags": ["a"], "notes": "alpha"})
    with two.acting_as("bob"):
        two.put(NS, "k", {"status": "rejected", "tags": ["b"], "notes": "beta"})
    seen: list[Escalation] = []
    one.on_escalation(seen.append)
    since_one, since_two = one.version(), two.version()
    one.import_updates(two.export_updates(None))
    two.import_updates(one.export_updates(None))
    assert one.get(NS, "k").value == two.get(NS, "k").value
    assert one.escalations() == two.escalations()
    assert [e.field for e in seen] == ["status"]
    assert sorted(one.get(NS, "k").value["tags"]) == ["a", "b"]
    assert one.search(NS)[0].key == "k" and two.list_namespaces() == [NS]
    # a delta since what the peer had brings exactly the missing writes
    with two.acting_as("carol"):
        two.put(NS, "late", {"v": 1})
    one.import_updates(two.export_updates(since_one))
    two.import_updates(one.export_updates(since_two))
    assert one.get(NS, "late").value == {"v": 1}
    assert one.get(NS, "k").value == two.get(NS, "k").value
    assert [e.field for e in seen] == ["status"]  # re-delivered updates fire nothing new


def test_resolution_closes_the_escalation_on_the_other_replica(factory: StoreFactory) -> None:
    one, two = factory(), factory()
    with one.acting_as("alice"):
        one.put(NS, "k", {"status": "approved"})
    with two.acting_as("bob"):
        two.put(NS, "k", {"status": "rejected"})
    one.import_updates(two.export_updates(None))
    two.import_updates(one.export_updates(None))
    [esc] = one.escalations()
    one.resolve(esc, "approved")
    two.import_updates(one.export_updates(two.version()))
    assert two.escalations() == []
    assert two.get(NS, "k").value == {"status": "approved"}


def test_corrupt_updates_raise_and_change_nothing(factory: StoreFactory) -> None:
    store = factory()
    store.put(NS, "k", {"v": 1})
    before = store.version()
    with pytest.raises(CorruptUpdateError):
        store.import_updates(b"\x00not a loro update")
    assert store.version() == before
    assert store.get(NS, "k").value == {"v": 1}


def test_imported_items_are_searchable_by_query(factory: StoreFactory) -> None:
    from store_support import CharEmbeddings

    emb = CharEmbeddings()
    index = {"dims": emb.dims, "embed": emb, "fields": ["text"]}
    one, two = factory(index=index), factory(index=index)
    one.put(NS, "zebra", {"text": "zebra zone"})
    one.put(NS, "apple", {"text": "apple pie"})
    two.import_updates(one.export_updates(None))
    results = two.search(NS, query="zebra zone")
    assert results[0].key == "zebra" and results[0].score == pytest.approx(1.0)


# -- persistence (light: the persistence module has its own durability tests) ---------------


def test_a_durable_store_reopens_with_its_state(factory: StoreFactory, tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    with factory(path=path) as store:
        _conflict(store)
        store.put(("other",), "k", {"v": 1})
    with factory(path=path) as reopened:
        assert reopened.get(("other",), "k").value == {"v": 1}
        assert reopened.get(NS, "plan").value["status"] == "<escalated:status>"
        assert len(reopened.escalations()) == 1
        assert [r.key for r in reopened.search(())] == ["plan", "k"]
        assert reopened.stats()["escalations"] == 0  # reloaded conflicts are not new


def test_a_batch_of_puts_is_one_durable_append(factory: StoreFactory, tmp_path: Path) -> None:
    import sqlite3

    from langgraph.store.base import PutOp

    path = str(tmp_path / "state.db")
    with factory(path=path) as store:
        store.put(("solo",), "k", {"v": 0})
        store.batch([PutOp(("many",), f"k{i}", {"v": i}) for i in range(50)])
    db = sqlite3.connect(path)  # the store holds the file exclusively until closed
    try:
        (rows,) = db.execute("SELECT count(*) FROM agentsync_updates").fetchone()
    finally:
        db.close()
    assert rows == 2  # one for the single put, one for the whole batch
    with factory(path=path) as reopened:
        assert [reopened.get(("many",), f"k{i}").value["v"] for i in range(50)] == list(range(50))


def test_a_closed_store_refuses_work(factory: StoreFactory) -> None:
    store = factory()
    store.close()
    store.close()
    with pytest.raises(Exception, match="closed"):
        store.put(NS, "k", {"v": 1})


# -- thread safety smoke (the stress suite goes further) ---------------------------------------


def test_batch_ops_from_threads_do_not_interleave_badly(factory: StoreFactory) -> None:
    store = factory()
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        barrier.wait()
        for j in range(50):
            store.batch(
                [PutOp(NS, f"t{i}-{j}", {"v": j}), GetOp(NS, f"t{i}-{j}"), SearchOp(NS, limit=1)]
            )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.search(NS, limit=1000)) == 200


@pytest.mark.postgres
def test_replicas_sharing_a_postgres_log_converge(postgres_dsn: str) -> None:
    with SyncedStore(dsn=postgres_dsn) as one, SyncedStore(dsn=postgres_dsn) as two:
        agents_one = Agents(one, "alice")
        agents_two = Agents(two, "bob")
        agents_one("alice", "put", NS, "k", {"status": "approved", "tags": ["a"]})
        agents_two("bob", "put", NS, "k", {"status": "rejected", "tags": ["b"]})
        one.sync()
        two.sync()
        assert one.get(NS, "k").value == two.get(NS, "k").value
        assert sorted(one.get(NS, "k").value["tags"]) == ["a", "b"]
        assert [e.field for e in one.escalations()] == [e.field for e in two.escalations()]
        assert [e.field for e in one.escalations()] == ["status"]
    with SyncedStore(dsn=postgres_dsn) as three:
        assert sorted(three.get(NS, "k").value["tags"]) == ["a", "b"]
        assert len(three.escalations()) == 1


class FlakyLog(MemoryLog):
    """An update log whose next append fails once, like a disk or server hiccup."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    def append(self, blob: bytes, *, namespace: Any, key: str, agent: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        super().append(blob, namespace=namespace, key=key, agent=agent)


def test_a_failed_append_is_carried_by_the_next_one(factory: StoreFactory) -> None:
    store = factory()
    log = FlakyLog()
    log.install(store)
    store.put(NS, "a", {"v": 1})
    log.fail_next = True
    with pytest.raises(OSError, match="disk full"):
        store.put(NS, "b", {"v": 2})
    store.put(NS, "c", {"v": 3})
    replay = factory()
    for blob in log.blobs:
        replay.import_updates(blob)
    assert {r.key for r in replay.search(NS)} == {"a", "b", "c"}


def test_async_writes_reach_the_durable_log(factory: StoreFactory, tmp_path: Path) -> None:
    path = str(tmp_path / "async.db")

    async def main() -> None:
        async with factory(path=path) as store:
            await store.aput(NS, "k", {"v": 1})
            await store.adelete(NS, "k")
            await store.aput(NS, "j", {"v": 2})

    asyncio.run(main())
    with factory(path=path) as reopened:
        assert reopened.get(NS, "k") is None
        assert reopened.get(NS, "j").value == {"v": 2}


def test_async_resolver_from_sync_calls_inside_a_running_loop(factory: StoreFactory) -> None:
    async def pick(esc: Escalation) -> Any:
        await asyncio.sleep(0)
        return "approved"

    fired: list[str] = []

    async def callback(esc: Escalation) -> None:
        fired.append(esc.field)

    store = factory(resolver=pick)
    store.on_escalation(callback)

    async def main() -> None:
        _conflict(store)  # sync API while this thread runs an event loop

    asyncio.run(main())
    assert fired == ["status"]
    assert store.get(NS, "plan").value["status"] == "approved"


def test_values_past_the_depth_and_size_limits_are_refused(factory: StoreFactory) -> None:
    from agentsync._values import MAX_DEPTH, MAX_VALUE_BYTES

    store = factory()
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(MAX_DEPTH + 1):
        cursor["d"] = {}
        cursor = cursor["d"]
    with pytest.raises(ValueError, match=f"deeper than {MAX_DEPTH} levels"):
        store.put(NS, "deep", deep)
    with pytest.raises(ValueError, match=r"over the .*-byte limit per key"):
        store.put(NS, "big", {"blob": "x" * (MAX_VALUE_BYTES + 1)})
    assert store.get(NS, "deep") is None and store.get(NS, "big") is None
    store.put(NS, "fine", {"blob": "x" * 1000})  # a value under the limits goes through
    assert store.get(NS, "fine") is not None


STORE_CHILD = """
import random, sys
import structlog
from langgraph.store.base import PutOp
from agentsync import SyncedStore

structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # stdout is for acks
path, start, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
store = SyncedStore(path=path)
store._durability.log.compact_every = 40
i = start
while True:
    size = rng.choice([1, 1, 1, 1, 5, 20])
    ops = {f"k{j % 13}": j for j in range(i, i + size)}  # last put per key wins in a batch
    if size == 1:
        store.put(("d",), f"k{i % 13}", {"v": i, "tags": [f"t{i % 4}"]})
    else:
        store.batch([PutOp(("d",), k, {"v": v, "tags": [f"t{v % 4}"]}) for k, v in ops.items()])
    i += size
    if rng.random() < 0.1:
        store.get(("d",), f"k{rng.randrange(13)}")
    if rng.random() < 0.05:
        store.delete(("d",), f"gone{i}")  # a delete of nothing: no op, no append
    sys.stdout.write("".join(f"{k} {v}\\n" for k, v in ops.items()))  # acknowledged
    sys.stdout.flush()
"""


def test_sigkill_loses_no_acknowledged_put(tmp_path: Path) -> None:
    import random

    from crash_support import acknowledged_before_sigkill

    path = tmp_path / "state.db"
    rng = random.Random(11)
    acknowledged: dict[str, int] = {}
    start = 0
    for round_ in range(6):
        for line in acknowledged_before_sigkill(
            STORE_CHILD, [str(path), str(start), str(round_)], rng, 300
        ):
            key, v = line.split()
            acknowledged[key] = max(acknowledged.get(key, -1), int(v))
        with SyncedStore(path=str(path)) as reopened:
            got = {item.key: item.value for item in reopened.search(("d",), limit=100)}
            assert reopened.escalations() == []
        for key, v in acknowledged.items():
            assert got[key]["v"] >= v, (key, got[key], v)  # a later, unacknowledged put may land
            assert got[key]["v"] % 13 == int(key[1:]) and got[key]["tags"] == [
                f"t{got[key]['v'] % 4}"
            ]
        start = max(item["v"] for item in got.values()) + 1


def test_acting_as_refuses_an_agent_id_that_is_not_valid_unicode() -> None:
    store = SyncedStore()
    with pytest.raises(ValueError, match="not valid Unicode"):
        store.acting_as("ag\ud800ent")
