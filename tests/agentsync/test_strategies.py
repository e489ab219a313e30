"""The strategies behind one interface: what each does with the same concurrent writes."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest
from store_support import sync_all

from agentsync import Escalation, ResolverError, StrategyReplica
from agentsync._strategies import STRATEGIES, TransactionalReplica, make_replica

NS = ("s",)


def replicas(strategy: str, n: int = 2, **options: Any) -> list[StrategyReplica]:
    return [make_replica(strategy, f"r{i}", rng=random.Random(i), **options) for i in range(n)]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_implements_the_interface_and_converges(strategy: str) -> None:
    reps = replicas(strategy, 3)
    for i, rep in enumerate(reps):
        assert isinstance(rep, StrategyReplica)
        assert rep.strategy == strategy
        op = rep.write(NS, f"k{i}", {"v": i, "tags": [i]}, agent=f"agent{i}")
        assert op
    sync_all(*reps)
    views = [{k: r.read(*k) for k in sorted(r.keys())} for r in reps]
    assert views[0] == views[1] == views[2]
    assert len(views[0]) == 3
    assert reps[0].export_updates(reps[1].version()) == b""


def concurrent_writes(strategy: str, **options: Any) -> list[StrategyReplica]:
    reps = replicas(strategy, 2, **options)
    reps[0].write(NS, "k", {"status": "todo", "tags": ["x"]}, agent="setup")
    sync_all(*reps)
    reps[0].write(NS, "k", {"status": "done", "tags": ["x", "a"]}, agent="alice")
    reps[1].write(NS, "k", {"status": "blocked", "tags": ["x", "b"]}, agent="bob")
    sync_all(*reps)
    return reps


def test_lww_silently_drops_a_concurrent_write() -> None:
    reps = concurrent_writes("lww")
    value = reps[0].read(NS, "k")
    assert value is not None
    assert value["status"] in ("done", "blocked")
    assert sorted(value["tags"]) != ["a", "b", "x"]  # one list replaced the other
    assert reps[0].escalations() == []


def test_crdt_merges_and_escalates_without_a_model() -> None:
    reps = concurrent_writes("crdt")
    value = reps[0].read(NS, "k")
    assert value is not None
    assert sorted(value["tags"]) == ["a", "b", "x"]
    assert value["status"] == "<escalated:status>"
    assert anyio.run(reps[0].arbitrate) == 0
    assert len(reps[1].escalations()) == 1


def test_transactional_arbiter_spends_one_model_call_per_conflict() -> None:
    reps = concurrent_writes("transactional", model_latency_s=0.25)
    assert anyio.run(reps[1].arbitrate) == 0  # not the arbiter
    assert anyio.run(reps[0].arbitrate) == 1
    assert reps[0].counters.model_calls == 1
    assert reps[0].counters.model_latency_s == pytest.approx(0.25)
    sync_all(*reps)
    for rep in reps:
        value = rep.read(NS, "k")
        assert value is not None and value["status"] in ("done", "blocked")
        assert sorted(value["tags"]) == ["a", "b", "x"]
        assert rep.escalations() == []
        assert rep.attribution()[(NS, "k")]["status"] == ["resolver:OfflineResolver"]
    assert anyio.run(reps[0].arbitrate) == 0  # nothing left to decide


def test_transactional_resolver_failure_leaves_the_conflict_open() -> None:
    def undecided(escalation: Escalation) -> Any:
        raise ResolverError("no idea")

    reps = concurrent_writes("transactional", resolver=undecided)
    assert anyio.run(reps[0].arbitrate) == 1
    assert len(reps[0].escalations()) == 1
    assert anyio.run(reps[0].arbitrate) == 0  # a failed decision is not retried forever


def test_transactional_rejects_negative_latency() -> None:
    with pytest.raises(ValueError, match="model_latency_s"):
        TransactionalReplica("r0", rng=random.Random(0), model_latency_s=-1)


def test_unknown_strategy_is_named() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'paxos'"):
        make_replica("paxos", "r0", rng=random.Random(0))


def test_crdt_resolver_decides_a_conflict_once_it_stops_gaining_contenders() -> None:
    """Escalate, then resolve: the arbiter waits `settle_s` after the last contender
    arrives, so three concurrent writers cost one model call, not two."""
    from actors import clock

    reps = replicas("crdt+resolver", 3, model_latency_s=0.25, settle_s=0.2)
    arbiter, other, late = reps
    reps[0].write(NS, "k", {"status": "todo"}, agent="setup")
    sync_all(*reps)

    async def scenario() -> None:
        start = anyio.current_time()
        arbiter.write(NS, "k", {"status": "done"}, agent="alice")
        other.write(NS, "k", {"status": "blocked"}, agent="bob")
        late.write(NS, "k", {"status": "review"}, agent="cy")
        arbiter.import_updates(other.export_updates(arbiter.version()))
        assert arbiter.decision_due_at() == pytest.approx(start + 0.2)
        assert other.decision_due_at() is None  # only the arbiter holds the resolver
        assert await arbiter.arbitrate() == 0  # not quiet yet
        await anyio.sleep(0.1)
        arbiter.import_updates(late.export_updates(arbiter.version()))  # a third contender
        assert arbiter.decision_due_at() == pytest.approx(start + 0.3)
        await anyio.sleep(0.15)
        assert await arbiter.arbitrate() == 0  # the window restarted with the newcomer
        await anyio.sleep(0.05)
        assert await arbiter.arbitrate() == 1
        assert anyio.current_time() == pytest.approx(start + 0.3 + 0.25)  # modelled latency
        assert arbiter.decision_due_at() is None
        assert await other.arbitrate() == 0

    clock.run(scenario)
    assert arbiter.counters.model_calls == 1 and arbiter.counters.resolutions == 1
    sync_all(*reps)
    for rep in reps:
        value = rep.read(NS, "k")
        assert value is not None and value["status"] in ("done", "blocked", "review")
        assert rep.escalations() == []
        assert rep.attribution()[(NS, "k")]["status"] == ["resolver:OfflineResolver"]


def test_crdt_resolver_failure_leaves_the_conflict_open_and_stops_waiting() -> None:
    from actors import clock

    def undecided(escalation: Escalation) -> Any:
        raise ResolverError("no idea")

    reps = concurrent_writes("crdt+resolver", resolver=undecided, settle_s=0.0)

    async def scenario() -> None:
        assert await reps[0].arbitrate() == 1
        assert reps[0].decision_due_at() is None  # the run may end with it escalated
        assert await reps[0].arbitrate() == 0

    clock.run(scenario)
    assert len(reps[0].escalations()) == 1


def test_crdt_resolver_rejects_a_negative_settle_window() -> None:
    with pytest.raises(ValueError, match="settle_s"):
        make_replica("crdt+resolver", "r0", rng=random.Random(0), settle_s=-0.1)


def test_crdt_resolver_asks_claude_once_through_the_real_client() -> None:
    """With AnthropicResolver the decision is Claude's (here a mock HTTP transport), the
    call is made once, and the wall time it took is charged in simulated time."""
    import anthropic
    import httpx2

    from actors import clock
    from agentsync import AnthropicResolver

    requests: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        answer = {"type": "tool_use", "id": "toolu_1", "name": "settle_conflict"}
        answer["input"] = {"choice": 1, "reason": "the later plan"}  # type: ignore[assignment]
        body = {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": [answer],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 10},
        }
        return httpx2.Response(200, json=body)

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        client = anthropic.Anthropic(api_key="sk-ant-test", http_client=http, max_retries=0)
        reps = concurrent_writes("crdt+resolver", resolver=AnthropicResolver(client), settle_s=0.0)
        escalation = reps[0].escalations()[0]

        async def decide() -> float:
            start = anyio.current_time()
            assert await reps[0].arbitrate() == 1
            return anyio.current_time() - start

        spent = clock.run(decide)
    assert len(requests) == 1
    assert reps[0].counters.model_calls == 1 and reps[0].counters.model_latency_s > 0
    assert spent == pytest.approx(reps[0].counters.model_latency_s)
    value = reps[0].read(NS, "k")
    assert value is not None and value["status"] == escalation.contenders[1].value
    assert reps[0].escalations() == []
