"""Resolvers: policy helpers, the offline stub, and AnthropicResolver over a mock transport.

The Anthropic tests drive the real `anthropic` client (request building, status-code
mapping, response parsing); only the HTTP transport is replaced by `httpx2.MockTransport`.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import anyio
import anyio.lowlevel
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agentsync._errors import ResolverError
from agentsync._resolvers import (
    DEFAULT_MODEL,
    DEFAULT_SYSTEM,
    TOOL_NAME,
    UNDECIDED,
    AnthropicResolver,
    OfflineResolver,
    aresolve_with,
    chain_resolvers,
    custom_resolver,
    prefer_agents,
    prefer_values,
    resolve_with,
)
from agentsync._types import JSON, Contender, Escalation

FAKE_KEY = "sk-ant-test-key-never-logged"

Handler = Callable[[httpx2.Request], httpx2.Response]


def escalation(*contenders: tuple[str, str, JSON], field: str = "status") -> Escalation:
    return Escalation(
        namespace=("proj", "tasks"),
        key="t1",
        field=field,
        contenders=tuple(Contender(agent, op, value) for agent, op, value in contenders),
        path=tuple(field.split(".")),
    )


STATUS = escalation(
    ("planner", "op-1", "in_progress"),
    ("reviewer", "op-2", "blocked"),
    ("coder", "op-3", {"state": "done", "pr": 17}),
)


def tool_use_message(tool_input: object, *, name: str = TOOL_NAME) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": DEFAULT_MODEL,
        "content": [{"type": "tool_use", "id": "toolu_1", "name": name, "input": tool_input}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def text_message(text: str) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": DEFAULT_MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def answering(tool_input: object, seen: list[httpx2.Request] | None = None) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if seen is not None:
            seen.append(request)
        return httpx2.Response(200, json=tool_use_message(tool_input))

    return handler


def failing_status(status: int, error_type: str) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        body = {"type": "error", "error": {"type": error_type, "message": "try later"}}
        return httpx2.Response(status, json=body, headers={"request-id": "req_42"})

    return handler


def raising(error: Exception) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise error

    return handler


@contextmanager
def sync_resolver(handler: Handler, **options: Any) -> Iterator[AnthropicResolver]:
    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        client = anthropic.Anthropic(api_key=FAKE_KEY, http_client=http, max_retries=0)
        yield AnthropicResolver(client, **options)


@contextmanager
def async_resolver(handler: Handler, **options: Any) -> Iterator[AnthropicResolver]:
    # The async client is only closed by an awaited aclose(); MockTransport holds no
    # sockets, so letting it go at the end of the test leaks nothing.
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    client = anthropic.AsyncAnthropic(api_key=FAKE_KEY, http_client=http, max_retries=0)
    yield AnthropicResolver(client, **options)


def sent_conflict(request: httpx2.Request) -> dict[str, Any]:
    """The <conflict> JSON embedded in the user message of a captured request."""
    body = json.loads(request.content)
    text = body["messages"][0]["content"]
    match = re.search(r"<conflict>\n(.*)\n</conflict>", text, re.DOTALL)
    assert match is not None, text
    conflict: dict[str, Any] = json.loads(match.group(1))
    return conflict


# -- policy helpers ----------------------------------------------------------------------


def test_prefer_agents_keeps_the_highest_ranked_agent_present() -> None:
    resolver = prefer_agents(["lead", "reviewer", "planner"])
    assert resolver(STATUS) == "blocked"
    reordered = escalation(*[(c.agent_id, c.op_id, c.value) for c in reversed(STATUS.contenders)])
    assert resolver(reordered) == "blocked"


def test_prefer_agents_raises_naming_the_field_when_no_ranked_agent_wrote_it() -> None:
    with pytest.raises(ResolverError, match=r"field 'status' of proj/tasks/t1.*'lead'"):
        prefer_agents(["lead"])(STATUS)


def test_prefer_agents_refuses_to_pick_between_two_different_writes_of_one_agent() -> None:
    split = escalation(("lead", "op-1", "a"), ("lead", "op-2", "b"), ("other", "op-3", "c"))
    with pytest.raises(ResolverError, match=r"'lead' wrote different values.*op-1, op-2"):
        prefer_agents(["lead"])(split)
    agreeing = escalation(("lead", "op-1", "a"), ("lead", "op-2", "a"), ("other", "op-3", "c"))
    assert prefer_agents(["lead"])(agreeing) == "a"


@pytest.mark.parametrize("order", ["lead", [], ["lead", ""]])
def test_prefer_agents_rejects_a_malformed_ranking(order: Any) -> None:
    with pytest.raises(ResolverError, match="prefer_agents"):
        prefer_agents(order)


def test_prefer_values_keeps_the_first_ranked_value_some_contender_holds() -> None:
    resolver = prefer_values(["blocked", "in_progress"])
    assert resolver(STATUS) == "blocked"
    assert prefer_values([{"pr": 17, "state": "done"}])(STATUS) == {"state": "done", "pr": 17}


def test_prefer_values_compares_as_json_true_is_not_one_but_one_is_one_point_zero() -> None:
    numbers = escalation(("a", "op-1", 1), ("b", "op-2", True))
    assert prefer_values([1.0])(numbers) == 1
    assert prefer_values([True])(numbers) is True
    with pytest.raises(ResolverError, match="no contender holds"):
        prefer_values([False, 2])(numbers)


def test_prefer_values_raises_naming_the_field_when_nothing_ranked_is_held() -> None:
    with pytest.raises(ResolverError, match=r"'status'.*no contender holds any of \['done'\]"):
        prefer_values(["done"])(STATUS)


def test_prefer_values_rejects_a_non_json_ranking() -> None:
    with pytest.raises(ResolverError, match=r"order\[1\] is a set"):
        prefer_values(["ok", {1, 2}])  # type: ignore[list-item]


def test_custom_resolver_returns_the_functions_value() -> None:
    resolver = custom_resolver(lambda esc: f"{len(esc.contenders)} contenders")
    assert resolver(STATUS) == "3 contenders"


def test_custom_resolver_turns_undecided_into_an_error_naming_the_field() -> None:
    def decline(esc: Escalation) -> object:
        return UNDECIDED

    with pytest.raises(ResolverError, match=r"decline could not decide field 'status'"):
        custom_resolver(decline)(STATUS)


def test_custom_resolver_accepts_none_as_a_real_value() -> None:
    assert custom_resolver(lambda esc: None)(STATUS) is None


def test_custom_resolver_chains_the_functions_exception() -> None:
    def broken(esc: Escalation) -> object:
        raise KeyError("missing")

    with pytest.raises(ResolverError, match="broken failed on field 'status'") as info:
        custom_resolver(broken)(STATUS)
    assert isinstance(info.value.__cause__, KeyError)


def test_custom_resolver_rejects_a_non_json_value() -> None:
    with pytest.raises(ResolverError, match=r"value\.when is a datetime"):
        import datetime

        custom_resolver(lambda esc: {"when": datetime.datetime(2026, 1, 1)}, name="clock")(STATUS)


def test_custom_resolver_wraps_an_async_function_into_a_coroutine() -> None:
    async def pick_last(esc: Escalation) -> object:
        await anyio.lowlevel.checkpoint()
        return esc.contenders[-1].value

    async def declines(esc: Escalation) -> object:
        return UNDECIDED

    async def run_picking() -> JSON:
        result = custom_resolver(pick_last)(STATUS)
        assert inspect.iscoroutine(result)
        value: JSON = await result
        return value

    assert anyio.run(run_picking) == {"state": "done", "pr": 17}

    async def run_declining() -> JSON:
        return await aresolve_with(custom_resolver(declines), STATUS)

    with pytest.raises(ResolverError, match="declines could not decide"):
        anyio.run(run_declining)


def test_chain_falls_through_policies_until_one_decides() -> None:
    chain = chain_resolvers(prefer_agents(["lead"]), prefer_values(["in_progress"]))
    assert chain(STATUS) == "in_progress"


def test_chain_reports_every_links_reason_when_none_decides() -> None:
    chain = chain_resolvers(prefer_agents(["lead"]), prefer_values(["done"]))
    with pytest.raises(ResolverError, match="no resolver could decide") as info:
        chain(STATUS)
    message = str(info.value)
    assert "prefer_agents cannot decide" in message
    assert "prefer_values cannot decide" in message
    assert isinstance(info.value.__cause__, ResolverError)


def test_chain_continues_asynchronously_after_an_async_link_declines() -> None:
    async def declines(esc: Escalation) -> object:
        return UNDECIDED

    chain = chain_resolvers(
        prefer_agents(["lead"]), custom_resolver(declines), prefer_values(["blocked"])
    )

    async def run() -> JSON:
        return await aresolve_with(chain, STATUS)

    assert anyio.run(run) == "blocked"


def test_chain_lets_a_non_resolver_error_propagate() -> None:
    def buggy(esc: Escalation) -> JSON:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        chain_resolvers(buggy, prefer_values(["blocked"]))(STATUS)


def test_policies_refuse_an_escalation_without_contenders() -> None:
    empty = escalation()
    for resolver in (prefer_agents(["a"]), prefer_values(["x"]), custom_resolver(lambda e: 1)):
        with pytest.raises(ResolverError, match="has no contenders"):
            resolver(empty)


# -- calling any resolver ----------------------------------------------------------------


def test_resolve_with_closes_an_async_resolvers_coroutine_and_says_why() -> None:
    made: list[Any] = []

    async def pick(esc: Escalation) -> JSON:
        return "x"

    def async_pick(esc: Escalation) -> Any:
        made.append(pick(esc))
        return made[-1]

    with pytest.raises(ResolverError, match="use aresolve_with"):
        resolve_with(async_pick, STATUS)
    # Closed, so no "coroutine was never awaited" warning (which would fail this suite).
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED


def test_resolve_with_turns_any_failure_or_non_json_value_into_resolver_error() -> None:
    def broken(esc: Escalation) -> JSON:
        raise RuntimeError("boom")

    with pytest.raises(ResolverError, match="broken failed on field 'status'") as info:
        resolve_with(broken, STATUS)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ResolverError, match="non-finite float nan"):
        resolve_with(lambda esc: float("nan"), STATUS)
    with pytest.raises(ResolverError, match="non-string key 1"):
        resolve_with(lambda esc: {1: "x"}, STATUS)  # type: ignore[dict-item]
    assert resolve_with(prefer_values(["blocked"]), STATUS) == "blocked"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_aresolve_with_runs_sync_and_async_resolvers(backend: str) -> None:
    async def last(esc: Escalation) -> JSON:
        return esc.contenders[-1].op_id

    async def run() -> tuple[JSON, JSON]:
        return (
            await aresolve_with(prefer_values(["blocked"]), STATUS),
            await aresolve_with(last, STATUS),
        )

    assert anyio.run(run, backend=backend) == ("blocked", "op-3")


# -- OfflineResolver ---------------------------------------------------------------------


def test_offline_resolver_picks_the_greatest_op_id_and_counts_the_call() -> None:
    resolver = OfflineResolver()
    assert resolver.latency_s == 0.3
    assert resolver(STATUS) == {"state": "done", "pr": 17}
    assert resolver.calls == 1
    decision = resolver.decision_for(STATUS)
    assert decision is not None
    assert (decision.op_id, decision.agent_id, decision.model) == ("op-3", "coder", "offline")
    assert "greatest op id" in decision.reason


def test_offline_resolver_counts_a_call_that_cannot_decide() -> None:
    resolver = OfflineResolver(latency_s=0)
    with pytest.raises(ResolverError, match="no contenders"):
        resolver(escalation())
    assert (resolver.calls, resolver.failures, resolver.decisions) == (1, 1, [])


@pytest.mark.parametrize("latency", [-0.1, float("inf"), float("nan"), "0.3", True])
def test_offline_resolver_rejects_a_meaningless_latency(latency: Any) -> None:
    with pytest.raises(ResolverError, match="latency_s"):
        OfflineResolver(latency_s=latency)


def test_offline_resolver_keeps_only_the_newest_decisions() -> None:
    resolver = OfflineResolver(keep_decisions=2)
    fields = ["a", "b", "c"]
    for name in fields:
        resolver(escalation(("x", "op-1", 1), ("y", "op-2", 2), field=name))
    assert [d.field for d in resolver.decisions] == ["b", "c"]
    assert resolver.calls == 3


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
contender_lists = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), json_values), min_size=1, max_size=5
).map(
    lambda pairs: tuple(
        Contender(agent, f"op-{index}-{agent}", value) for index, (agent, value) in enumerate(pairs)
    )
)


@given(contender_lists, st.randoms(use_true_random=False))
def test_offline_pick_does_not_depend_on_contender_order(
    contenders: tuple[Contender, ...], rng: Any
) -> None:
    shuffled = list(contenders)
    rng.shuffle(shuffled)
    first = Escalation(("n",), "k", "f", contenders)
    second = Escalation(("n",), "k", "f", tuple(shuffled))
    assert OfflineResolver()(first) == OfflineResolver()(second)


# -- AnthropicResolver: requests -----------------------------------------------------------


def test_request_carries_the_conflict_a_forced_tool_choice_and_the_settings() -> None:
    seen: list[httpx2.Request] = []
    with sync_resolver(
        answering({"choice": 1, "reason": "blocked is safest"}, seen),
        timeout=12.5,
        max_tokens=300,
        system="be brief",
    ) as resolver:
        resolver(STATUS)
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/v1/messages"
    assert request.extensions["timeout"]["read"] == 12.5
    body = json.loads(request.content)
    assert body["model"] == DEFAULT_MODEL
    assert body["max_tokens"] == 300
    assert body["system"] == "be brief"
    assert body["tool_choice"] == {
        "type": "tool",
        "name": TOOL_NAME,
        "disable_parallel_tool_use": True,
    }
    (tool,) = body["tools"]
    assert tool["name"] == TOOL_NAME
    schema = tool["input_schema"]
    assert set(schema["properties"]) == {"choice", "merged_value", "reason"}
    assert schema["required"] == ["reason"]
    index_schema, op_schema = schema["properties"]["choice"]["anyOf"]
    assert index_schema["enum"] == [0, 1, 2]
    assert op_schema["enum"] == ["op-1", "op-2", "op-3"]
    conflict = sent_conflict(request)
    assert conflict["namespace"] == ["proj", "tasks"]
    assert conflict["key"] == "t1"
    assert conflict["field"] == "status"
    assert conflict["path"] == ["status"]
    assert conflict["contenders"] == [
        {"index": 0, "agent_id": "planner", "op_id": "op-1", "value": "in_progress"},
        {"index": 1, "agent_id": "reviewer", "op_id": "op-2", "value": "blocked"},
        {"index": 2, "agent_id": "coder", "op_id": "op-3", "value": {"state": "done", "pr": 17}},
    ]


def test_default_system_prompt_and_model_are_sent() -> None:
    seen: list[httpx2.Request] = []
    with sync_resolver(answering({"choice": 0, "reason": "r"}, seen)) as resolver:
        resolver(STATUS)
    body = json.loads(seen[0].content)
    assert (body["model"], body["system"]) == (DEFAULT_MODEL, DEFAULT_SYSTEM)


def test_a_contender_that_is_not_json_is_refused_before_any_call() -> None:
    seen: list[httpx2.Request] = []
    odd = escalation(("a", "op-1", "x"), ("b", "op-2", {"x": b"raw"}))  # type: ignore[dict-item]
    with (
        sync_resolver(answering({"choice": 0, "reason": "r"}, seen)) as resolver,
        pytest.raises(ResolverError, match=r"contender 'op-2'.*value\.x is a bytes"),
    ):
        resolver(odd)
    assert seen == []
    assert resolver.calls == 0


# -- AnthropicResolver: answers ------------------------------------------------------------


def test_a_choice_by_index_settles_to_that_contenders_value_and_is_recorded() -> None:
    with (
        capture_logs() as logs,
        sync_resolver(answering({"choice": 2, "reason": "  the PR is merged  "})) as resolver,
    ):
        value = resolver(STATUS)
    assert value == {"state": "done", "pr": 17}
    assert (resolver.calls, resolver.failures) == (1, 0)
    decision = resolver.decision_for(STATUS)
    assert decision is not None
    assert (decision.op_id, decision.agent_id) == ("op-3", "coder")
    assert decision.reason == "the PR is merged"
    assert decision.model == DEFAULT_MODEL
    (event,) = [e for e in logs if e["event"] == "resolver decided"]
    assert event["chosen_op"] == "op-3"
    assert event["field"] == "status"
    assert event["reason"] == "the PR is merged"


def test_a_choice_by_op_id_settles_to_that_contenders_value() -> None:
    with sync_resolver(answering({"choice": "op-1", "reason": "planner owns status"})) as r:
        assert r(STATUS) == "in_progress"


def test_a_merged_value_is_returned_as_is_with_no_chosen_contender() -> None:
    merged = {"state": "blocked", "pr": 17, "note": "review pending"}
    with sync_resolver(answering({"merged_value": merged, "reason": "keeps both"})) as r:
        assert r(STATUS) == merged
    decision = r.decision_for(STATUS)
    assert decision is not None
    assert (decision.op_id, decision.agent_id, decision.value) == (None, None, merged)


def test_a_null_merged_value_next_to_a_choice_is_read_as_absent() -> None:
    answer = {"choice": 1, "merged_value": None, "reason": "r"}
    with sync_resolver(answering(answer)) as r:
        assert r(STATUS) == "blocked"


@pytest.mark.parametrize(
    ("tool_input", "problem"),
    [
        ({"choice": 3, "reason": "r"}, r"choice 3 .* names no contender \(valid: 0\.\.2\)"),
        ({"choice": -1, "reason": "r"}, r"choice -1 .* names no contender"),
        ({"choice": "op-9", "reason": "r"}, r"choice 'op-9' .* names no contender"),
        ({"choice": True, "reason": "r"}, r"must be an index or op id, got True"),
        ({"choice": 1.0, "reason": "r"}, r"must be an index or op id, got float"),
        ({"choice": 0, "merged_value": "x", "reason": "r"}, r"both 'choice' and 'merged_value'"),
        ({"reason": "r"}, r"needs 'choice' or a non-null 'merged_value'"),
        ({"merged_value": None, "reason": "r"}, r"needs 'choice' or a non-null 'merged_value'"),
        ({"choice": 0}, r"needs a non-empty string 'reason', got None"),
        ({"choice": 0, "reason": "   "}, r"needs a non-empty string 'reason'"),
        ({"choice": 0, "reason": 5}, r"needs a non-empty string 'reason', got 5"),
        ({"choice": 0, "reason": "r", "confidence": 1}, r"unknown fields \['confidence'\]"),
    ],
)
def test_an_invalid_tool_input_is_rejected_naming_what_was_wrong(
    tool_input: dict[str, Any], problem: str
) -> None:
    with (
        capture_logs() as logs,
        sync_resolver(answering(tool_input)) as resolver,
        pytest.raises(ResolverError, match=problem) as info,
    ):
        resolver(STATUS)
    assert "field 'status' of proj/tasks/t1" in str(info.value)
    assert (resolver.calls, resolver.failures, resolver.decisions) == (1, 1, [])
    assert [e["event"] for e in logs] == ["resolver answer rejected"]


def test_a_non_finite_number_in_a_merged_value_is_rejected() -> None:
    # Python's json parser accepts the non-standard `Infinity`, so the SDK can hand it over.
    body = json.dumps(tool_use_message({"merged_value": [1, "INF"], "reason": "r"}))
    raw = body.replace('"INF"', "Infinity").encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=raw, headers={"content-type": "application/json"})

    with (
        sync_resolver(handler) as resolver,
        pytest.raises(ResolverError, match=r"merged_value\[1\] is the non-finite float inf"),
    ):
        resolver(STATUS)


def test_a_tool_input_that_is_not_an_object_is_rejected() -> None:
    with (
        sync_resolver(answering(["choice", 0])) as resolver,
        pytest.raises(ResolverError, match=r"input for field 'status'.* is not an object"),
    ):
        resolver(STATUS)


def test_an_answer_without_the_tool_call_is_rejected_with_the_stop_reason() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=text_message("I think blocked."))

    with (
        sync_resolver(handler) as resolver,
        pytest.raises(
            ResolverError, match=r"no settle_conflict tool_use block \(stop_reason='end_turn'"
        ),
    ):
        resolver(STATUS)
    assert resolver.failures == 1


def test_a_call_to_some_other_tool_is_not_an_answer() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=tool_use_message({"choice": 0}, name="other_tool"))

    with sync_resolver(handler) as resolver, pytest.raises(ResolverError, match="no settle_"):
        resolver(STATUS)


def test_two_calls_of_the_tool_are_ambiguous() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        message = tool_use_message({"choice": 0, "reason": "r"})
        message["content"].append({**message["content"][0], "id": "toolu_2"})
        return httpx2.Response(200, json=message)

    with sync_resolver(handler) as resolver, pytest.raises(ResolverError, match="2 times"):
        resolver(STATUS)


# -- AnthropicResolver: API failures -------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "cause", "detail"),
    [
        (failing_status(429, "rate_limit_error"), anthropic.RateLimitError, "HTTP 429"),
        (failing_status(529, "overloaded_error"), anthropic.OverloadedError, "HTTP 529"),
        (failing_status(500, "api_error"), anthropic.InternalServerError, "HTTP 500"),
        (raising(httpx2.ConnectError("refused")), anthropic.APIConnectionError, "no response"),
        (raising(httpx2.ReadTimeout("slow")), anthropic.APITimeoutError, "no response"),
    ],
    ids=["rate-limit", "overloaded", "server-error", "connection", "timeout"],
)
def test_an_api_failure_leaves_the_escalation_open_with_the_cause_chained(
    handler: Handler, cause: type[Exception], detail: str
) -> None:
    with (
        capture_logs() as logs,
        sync_resolver(handler) as resolver,
        pytest.raises(
            ResolverError, match=rf"field 'status'.*{cause.__name__} \({detail}\)"
        ) as info,
    ):
        resolver(STATUS)
    assert isinstance(info.value.__cause__, cause)
    assert (resolver.calls, resolver.failures, resolver.decisions) == (1, 1, [])
    (event,) = logs
    assert event["event"] == "resolver call failed"
    assert event["error"] == cause.__name__
    assert event["field"] == "status"
    assert event["log_level"] == "warning"
    assert FAKE_KEY not in repr(logs)


def test_the_rate_limit_event_carries_status_and_request_id() -> None:
    with (
        capture_logs() as logs,
        sync_resolver(failing_status(429, "rate_limit_error")) as r,
        pytest.raises(ResolverError),
    ):
        r(STATUS)
    assert (logs[0]["status"], logs[0]["request_id"]) == (429, "req_42")


# -- AnthropicResolver: async client -------------------------------------------------------


def test_with_an_async_client_calling_returns_a_coroutine_of_the_value() -> None:
    seen: list[httpx2.Request] = []
    with async_resolver(answering({"choice": 1, "reason": "r"}, seen)) as resolver:
        assert resolver.is_async

        async def run() -> JSON:
            pending = resolver(STATUS)
            assert inspect.iscoroutine(pending)
            value: JSON = await pending
            return value

        assert anyio.run(run) == "blocked"
    assert resolver.calls == 1
    assert sent_conflict(seen[0])["contenders"][1]["op_id"] == "op-2"
    assert json.loads(seen[0].content)["tool_choice"]["name"] == TOOL_NAME


def test_an_async_client_maps_overload_and_bad_answers_to_resolver_error() -> None:
    with (
        async_resolver(failing_status(529, "overloaded_error")) as overloaded,
        pytest.raises(ResolverError, match="OverloadedError") as info,
    ):
        anyio.run(overloaded.aresolve, STATUS)
    assert isinstance(info.value.__cause__, anthropic.OverloadedError)
    with (
        async_resolver(answering({"choice": 7, "reason": "r"})) as confused,
        pytest.raises(ResolverError, match="choice 7"),
    ):
        anyio.run(confused.aresolve, STATUS)


def test_an_async_client_cannot_be_used_from_sync_code() -> None:
    with (
        async_resolver(answering({"choice": 0, "reason": "r"})) as resolver,
        pytest.raises(ResolverError, match="await aresolve"),
    ):
        resolver.resolve(STATUS)
        with pytest.raises(ResolverError, match="use aresolve_with"):
            resolve_with(resolver, STATUS)
    assert resolver.calls == 0


def test_aresolve_runs_a_sync_client_off_the_event_loop() -> None:
    with sync_resolver(answering({"choice": 0, "reason": "r"})) as resolver:

        async def run() -> JSON:
            return await aresolve_with(resolver, STATUS)

        assert anyio.run(run) == "in_progress"
    assert not resolver.is_async
    assert resolver.calls == 1


# -- AnthropicResolver: construction -------------------------------------------------------


def test_without_a_key_in_the_environment_construction_fails_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ResolverError, match="ANTHROPIC_API_KEY"):
        AnthropicResolver()


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_client_is_built_from_the_environment_key(
    monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    with capture_logs() as logs:
        resolver = AnthropicResolver(asynchronous=asynchronous)
    assert resolver.is_async is asynchronous
    assert resolver.client.api_key == FAKE_KEY
    assert FAKE_KEY not in repr(resolver)
    assert FAKE_KEY not in repr(logs)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"client": object()}, "client must be an anthropic.Anthropic"),
        ({"model": ""}, "model must be"),
        ({"timeout": 0}, "timeout must be finite and > 0"),
        ({"timeout": "5"}, "timeout must be a number"),
        ({"max_tokens": 0}, "max_tokens must be an int >= 1"),
        ({"keep_decisions": -1}, "keep_decisions must be >= 0"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any], problem: str) -> None:
    options.setdefault("client", anthropic.Anthropic(api_key=FAKE_KEY))
    with pytest.raises(ResolverError, match=problem):
        AnthropicResolver(**options)


# -- properties ----------------------------------------------------------------------------

contender_escalations = contender_lists.map(lambda cs: Escalation(("n", "s"), "k", "f.g", cs))


@settings(max_examples=40, deadline=None)
@given(contender_escalations, st.data())
def test_any_valid_choice_maps_back_to_that_contenders_value(
    esc: Escalation, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(esc.contenders) - 1))
    by_op_id = data.draw(st.booleans())
    choice: int | str = esc.contenders[index].op_id if by_op_id else index
    seen: list[httpx2.Request] = []
    with sync_resolver(answering({"choice": choice, "reason": "r"}, seen)) as resolver:
        assert resolver(esc) == esc.contenders[index].value
    sent = sent_conflict(seen[0])["contenders"]
    assert [c["value"] for c in sent] == [c.value for c in esc.contenders]


@settings(max_examples=40, deadline=None)
@given(contender_escalations, st.integers())
def test_any_out_of_range_index_is_rejected(esc: Escalation, index: int) -> None:
    if 0 <= index < len(esc.contenders):
        index += len(esc.contenders)
    with (
        sync_resolver(answering({"choice": index, "reason": "r"})) as resolver,
        pytest.raises(ResolverError, match=rf"choice {index} .* names no contender"),
    ):
        resolver(esc)


def test_importing_the_resolvers_does_not_import_the_anthropic_sdk() -> None:
    # The offline benchmark must not pay the SDK's import cost or need it configured.
    code = "import sys, agentsync._resolvers; print('anthropic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
