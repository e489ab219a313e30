"""Threads and asyncio tasks hammering one store. Barriers line every round up so the
expected end state is exact: no exception, no lost field or element, no false escalation."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from store_support import SYNCED, StoreFactory

NS = ("stress",)


@pytest.fixture(params=list(SYNCED))
def factory(request: pytest.FixtureRequest) -> StoreFactory:
    return SYNCED[request.param]


def _expected_shared(writers: int, rounds: int) -> dict[str, Any]:
    return {
        **{f"f{i}": rounds - 1 for i in range(writers)},
        "tags": sorted(f"t{i}-{r}" for i in range(writers) for r in range(rounds)),
    }


def _next(value: dict[str, Any] | None, i: int, r: int) -> dict[str, Any]:
    """Read-modify-write: keep everything read, set my field, add my element."""
    value = dict(value or {})
    value[f"f{i}"] = r
    value["tags"] = [*value.get("tags", []), f"t{i}-{r}"]
    return value


def test_threads_on_shared_and_distinct_keys(factory: StoreFactory) -> None:
    store = factory()
    writers, rounds = 8, 40
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait()  # every writer's turn of round r begins after round r-1
                with store.acting_as(f"t{i}"):
                    barrier.wait()
                    item = store.get(NS, "shared")
                    store.put(NS, "shared", _next(item.value if item else None, i, r))
                    store.put(NS, f"own{i}", {"r": r, "tags": [f"x{k}" for k in range(r + 1)]})
                # plain calls: each its own turn, as with InMemoryStore
                store.put(NS, f"plain{i}", {"r": r})
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    shared = store.get(NS, "shared").value
    assert {**shared, "tags": sorted(shared["tags"])} == _expected_shared(writers, rounds)
    for i in range(writers):
        assert store.get(NS, f"own{i}").value == {
            "r": rounds - 1,
            "tags": [f"x{k}" for k in range(rounds)],
        }
        assert store.get(NS, f"plain{i}").value == {"r": rounds - 1}
    assert store.escalations() == []
    assert store.stats()["puts"] == writers * rounds * 3


def test_threads_writing_one_register_concurrently_escalate_every_round(
    factory: StoreFactory,
) -> None:
    store = factory()
    writers, rounds = 8, 10
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait()
                with store.acting_as(f"t{i}"):
                    barrier.wait()
                    store.put(NS, f"round{r}", {"winner": f"t{i}"})
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    escalations = store.escalations()
    assert sorted(e.key for e in escalations) == sorted(f"round{r}" for r in range(rounds))
    for esc in escalations:
        assert sorted(c.agent_id for c in esc.contenders) == [f"t{i}" for i in range(writers)]


def test_many_asyncio_tasks(factory: StoreFactory) -> None:
    store = factory()
    writers, rounds = 64, 6

    async def work(i: int, barrier: asyncio.Barrier) -> None:
        for r in range(rounds):
            await barrier.wait()
            async with store.acting_as(f"t{i}"):
                await barrier.wait()
                item = await store.aget(NS, "shared")
                await store.aput(NS, "shared", _next(item.value if item else None, i, r))
                await store.aput(NS, f"own{i}", {"r": r})

    async def main() -> None:
        barrier = asyncio.Barrier(writers)
        await asyncio.gather(*(work(i, barrier) for i in range(writers)))

    asyncio.run(main())
    shared = store.get(NS, "shared").value
    assert {**shared, "tags": sorted(shared["tags"])} == _expected_shared(writers, rounds)
    assert [store.get(NS, f"own{i}").value for i in range(writers)] == [{"r": rounds - 1}] * writers
    assert store.escalations() == []


def test_asyncio_tasks_and_threads_together(factory: StoreFactory) -> None:
    store = factory()
    threads_n, tasks_n, per = 4, 16, 25
    start = threading.Barrier(threads_n + 1)

    def thread_work(i: int) -> None:
        start.wait()
        for j in range(per):
            with store.acting_as(f"th{i}"):
                item = store.get(NS, "mixed")
                value = dict(item.value) if item else {}
                value["tags"] = [*value.get("tags", []), f"th{i}-{j}"]
                store.put(NS, "mixed", value)

    async def task_work(i: int) -> None:
        for j in range(per):
            async with store.acting_as(f"task{i}"):
                item = await store.aget(NS, "mixed")
                value = dict(item.value) if item else {}
                value["tags"] = [*value.get("tags", []), f"task{i}-{j}"]
                await store.aput(NS, "mixed", value)

    async def main() -> None:
        await asyncio.to_thread(start.wait)
        await asyncio.gather(*(task_work(i) for i in range(tasks_n)))

    threads = [threading.Thread(target=thread_work, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    asyncio.run(main())
    for t in threads:
        t.join()
    expected = {f"th{i}-{j}" for i in range(threads_n) for j in range(per)}
    expected |= {f"task{i}-{j}" for i in range(tasks_n) for j in range(per)}
    assert set(store.get(NS, "mixed").value["tags"]) == expected
    assert store.escalations() == []
