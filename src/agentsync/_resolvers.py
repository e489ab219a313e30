"""Resolvers: what decides an escalated conflict.

A resolver is any callable `(Escalation) -> value`, sync or async (an async one returns
an awaitable of the value). The value it returns is written by the caller as an ordinary
attributed write that has seen every contender. A resolver that cannot decide raises
`ResolverError`; the escalation then simply stays open and the caller decides what next.

Provided here:

- policy helpers: `prefer_agents`, `prefer_values`, `custom_resolver`, `chain_resolvers`;
- `OfflineResolver`: the benchmark default, a deterministic pick with a modelled latency;
- `AnthropicResolver`: asks Claude, forcing a structured answer through tool use;
- `resolve_with` / `aresolve_with`: call any resolver from sync or async code, turning
  every failure into `ResolverError` and checking the value is JSON.
"""

from __future__ import annotations

import enum
import inspect
import json
import math
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import anyio.to_thread

from ._errors import AgentSyncError, ResolverError
from ._logging import get_logger
from ._types import JSON, Contender, Escalation

if TYPE_CHECKING:
    # Imported lazily at run time: the SDK takes most of a second to import, and the
    # offline benchmark never needs it.
    import anthropic
    from anthropic.types import Message, MessageParam, ToolChoiceToolParam, ToolParam

__all__ = [
    "Resolver",
    "UNDECIDED",
    "Decision",
    "PreferAgents",
    "PreferValues",
    "CustomResolver",
    "ChainResolver",
    "prefer_agents",
    "prefer_values",
    "custom_resolver",
    "chain_resolvers",
    "OfflineResolver",
    "AnthropicResolver",
    "DEFAULT_MODEL",
    "DEFAULT_SYSTEM",
    "TOOL_NAME",
    "resolve_with",
    "aresolve_with",
]

log = get_logger(__name__)

Resolver: TypeAlias = "Callable[[Escalation], JSON | Awaitable[JSON]]"
"""Anything that settles an escalation: returns the value, or an awaitable of it."""

DEFAULT_MODEL: Final = "claude-sonnet-5-5"
TOOL_NAME: Final = "settle_conflict"
_REASON_LIMIT: Final = 1000

DEFAULT_SYSTEM: Final = (
    "You arbitrate conflicts in a shared memory written by several AI agents working in "
    "parallel. Two or more agents wrote different values to the same field without seeing "
    "each other's write. Decide which value the field should hold. Prefer choosing one "
    "contender by its index. Give a merged_value only when no single contender is right "
    "and a combination preserves every writer's intent; it must be valid JSON of the kind "
    "the field holds. Always answer by calling the settle_conflict tool exactly once, with "
    "a one-sentence reason."
)


class _Undecided(enum.Enum):
    """Type of `UNDECIDED`: a sentinel distinct from every JSON value, None included."""

    UNDECIDED = "UNDECIDED"

    def __repr__(self) -> str:
        return "UNDECIDED"


UNDECIDED: Final = _Undecided.UNDECIDED
"""Returned by a `custom_resolver` function to say "I cannot decide this one"."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What a counting resolver decided for one escalation, kept for logs and history.

    `op_id`/`agent_id` name the chosen contender; both are None for a merged value.
    """

    escalation_id: str
    field: str
    value: JSON
    op_id: str | None
    agent_id: str | None
    reason: str
    model: str


# -- shared helpers ----------------------------------------------------------------------


def _where(escalation: Escalation) -> str:
    """Human-readable location of the conflicted field, for error messages."""
    namespace = "/".join(escalation.namespace)
    return f"field {escalation.field!r} of {namespace}/{escalation.key}"


def _require_contenders(escalation: Escalation) -> tuple[Contender, ...]:
    if not escalation.contenders:
        raise ResolverError(f"escalation on {_where(escalation)} has no contenders")
    return escalation.contenders


def _json_problem(value: object, path: str = "value") -> str | None:
    """Why `value` is not a JSON value (naming where inside it), or None if it is."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is the non-finite float {value!r}"
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{index}]")
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                return f"{path} has the non-string key {name!r}"
            problem = _json_problem(item, f"{path}.{name}")
            if problem is not None:
                return problem
        return None
    return f"{path} is a {type(value).__name__}, not JSON"


def _json_equal(left: JSON, right: JSON) -> bool:
    """JSON equality: `true` is not `1`, but `1` equals `1.0`; dicts ignore key order."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    return type(left) is type(right) and left == right


def _checked_value(escalation: Escalation, value: object, source: str) -> JSON:
    """`value` if it is JSON, else a ResolverError naming the field and the problem."""
    problem = _json_problem(value)
    if problem is not None:
        raise ResolverError(
            f"{source} returned a non-JSON value for {_where(escalation)}: {problem}"
        )
    return value  # type: ignore[return-value]


def _describe(resolver: object) -> str:
    return getattr(resolver, "__qualname__", None) or type(resolver).__name__


# -- calling any resolver ----------------------------------------------------------------


def resolve_with(resolver: Resolver, escalation: Escalation) -> JSON:
    """Settle `escalation` with a resolver from synchronous code.

    Every failure becomes `ResolverError` (chained to its cause); cancellation is never
    caught. An async resolver cannot run here: its awaitable is closed unawaited and
    `ResolverError` says to use `aresolve_with`.
    """
    source = _describe(resolver)
    if isinstance(resolver, AnthropicResolver) and resolver.is_async:
        raise ResolverError(
            f"AnthropicResolver with an AsyncAnthropic client cannot settle {_where(escalation)} "
            "from sync code; use aresolve_with or a sync anthropic.Anthropic client"
        )
    try:
        result = resolver(escalation)
    except AgentSyncError:
        raise
    except Exception as err:
        raise ResolverError(f"{source} failed on {_where(escalation)}: {err!r}") from err
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise ResolverError(
            f"{source} is async and cannot settle {_where(escalation)} from sync code; "
            "use aresolve_with"
        )
    return _checked_value(escalation, result, source)


async def aresolve_with(resolver: Resolver, escalation: Escalation) -> JSON:
    """Settle `escalation` with a sync or async resolver from async code.

    Same error contract as `resolve_with`. An `AnthropicResolver` on a sync client runs
    in a worker thread so the event loop is not blocked by the HTTP call.
    """
    source = _describe(resolver)
    if isinstance(resolver, AnthropicResolver):
        return await resolver.aresolve(escalation)
    try:
        result = resolver(escalation)
        if inspect.isawaitable(result):
            result = await result
    except AgentSyncError:
        raise
    except Exception as err:
        raise ResolverError(f"{source} failed on {_where(escalation)}: {err!r}") from err
    return _checked_value(escalation, result, source)


# -- policy helpers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreferAgents:
    """Settle to the value written by the first agent in `order` among the contenders."""

    order: tuple[str, ...]

    def __call__(self, escalation: Escalation) -> JSON:
        contenders = _require_contenders(escalation)
        for agent in self.order:
            written = [c for c in contenders if c.agent_id == agent]
            if not written:
                continue
            first = written[0].value
            if any(not _json_equal(first, c.value) for c in written[1:]):
                ops = ", ".join(c.op_id for c in written)
                raise ResolverError(
                    f"prefer_agents cannot decide {_where(escalation)}: preferred agent "
                    f"{agent!r} wrote different values in concurrent ops {ops}"
                )
            return first
        present = sorted({c.agent_id for c in contenders})
        raise ResolverError(
            f"prefer_agents cannot decide {_where(escalation)}: none of {list(self.order)} "
            f"wrote it (contenders are from {present})"
        )


@dataclass(frozen=True, slots=True)
class PreferValues:
    """Settle to the first value in `order` that some contender holds (JSON equality)."""

    order: tuple[JSON, ...]

    def __call__(self, escalation: Escalation) -> JSON:
        contenders = _require_contenders(escalation)
        for wanted in self.order:
            for contender in contenders:
                if _json_equal(wanted, contender.value):
                    return contender.value
        held = [c.value for c in contenders]
        raise ResolverError(
            f"prefer_values cannot decide {_where(escalation)}: no contender holds any of "
            f"{list(self.order)!r} (contenders hold {held!r})"
        )


@dataclass(frozen=True, slots=True)
class CustomResolver:
    """Wraps a plain function as a resolver with the standard error contract.

    The function may be sync or async and returns the value, or `UNDECIDED` to decline.
    Declining, raising, or returning non-JSON all become `ResolverError` naming the field.
    """

    function: Callable[[Escalation], object]
    name: str

    def __call__(self, escalation: Escalation) -> JSON | Coroutine[Any, Any, JSON]:
        _require_contenders(escalation)
        try:
            result = self.function(escalation)
        except AgentSyncError:
            raise
        except Exception as err:
            raise ResolverError(f"{self.name} failed on {_where(escalation)}: {err!r}") from err
        if inspect.isawaitable(result):
            return self._finish(escalation, result)
        return self._accept(escalation, result)

    async def _finish(self, escalation: Escalation, pending: Awaitable[object]) -> JSON:
        try:
            result = await pending
        except AgentSyncError:
            raise
        except Exception as err:
            raise ResolverError(f"{self.name} failed on {_where(escalation)}: {err!r}") from err
        return self._accept(escalation, result)

    def _accept(self, escalation: Escalation, result: object) -> JSON:
        if result is UNDECIDED:
            raise ResolverError(f"{self.name} could not decide {_where(escalation)}")
        return _checked_value(escalation, result, self.name)


@dataclass(frozen=True, slots=True)
class ChainResolver:
    """Try resolvers in order; the first that does not raise `ResolverError` decides.

    Returns a coroutine as soon as one link turns out to be async.
    """

    resolvers: tuple[Resolver, ...]

    def __call__(self, escalation: Escalation) -> JSON | Coroutine[Any, Any, JSON]:
        failures: list[ResolverError] = []
        for position, resolver in enumerate(self.resolvers):
            try:
                result = resolver(escalation)
            except ResolverError as err:
                failures.append(err)
                continue
            if inspect.isawaitable(result):
                return self._continue(escalation, result, position, failures)
            return result
        raise self._exhausted(escalation, failures)

    async def _continue(
        self,
        escalation: Escalation,
        pending: Awaitable[JSON],
        position: int,
        failures: list[ResolverError],
    ) -> JSON:
        try:
            return await pending
        except ResolverError as err:
            failures.append(err)
        for resolver in self.resolvers[position + 1 :]:
            try:
                result = resolver(escalation)
                if inspect.isawaitable(result):
                    result = await result
            except ResolverError as err:
                failures.append(err)
                continue
            return result
        raise self._exhausted(escalation, failures)

    @staticmethod
    def _exhausted(escalation: Escalation, failures: list[ResolverError]) -> ResolverError:
        reasons = "; ".join(str(err) for err in failures) or "no resolvers given"
        error = ResolverError(f"no resolver could decide {_where(escalation)}: {reasons}")
        error.__cause__ = failures[-1] if failures else None
        return error


def prefer_agents(order: Sequence[str]) -> PreferAgents:
    """Resolver that keeps the value of the highest-ranked agent among the contenders.

    `order` ranks agent ids, best first. Raises `ResolverError` when none of them wrote
    the field, or when the best-ranked one wrote different values concurrently.
    """
    if isinstance(order, str):
        raise ResolverError(f"prefer_agents takes a sequence of agent ids, not the str {order!r}")
    ranked = tuple(order)
    if not ranked or not all(isinstance(agent, str) and agent for agent in ranked):
        raise ResolverError(f"prefer_agents needs one or more non-empty agent ids, got {order!r}")
    return PreferAgents(ranked)


def prefer_values(order: Sequence[JSON]) -> PreferValues:
    """Resolver that keeps the first value of `order` some contender holds.

    E.g. `prefer_values(["blocked", "in_progress", "done"])` for a status field where
    the most cautious value should win. Raises `ResolverError` when no contender holds
    any of them.
    """
    if isinstance(order, str):
        raise ResolverError(f"prefer_values takes a sequence of values, not the str {order!r}")
    ranked = tuple(order)
    if not ranked:
        raise ResolverError("prefer_values needs at least one value")
    for index, value in enumerate(ranked):
        problem = _json_problem(value, f"order[{index}]")
        if problem is not None:
            raise ResolverError(f"prefer_values: {problem}")
    return PreferValues(ranked)


def custom_resolver(
    function: Callable[[Escalation], object], *, name: str | None = None
) -> CustomResolver:
    """Wrap `function` (sync or async, returning a value or `UNDECIDED`) as a resolver."""
    if not callable(function):
        raise ResolverError(f"custom_resolver needs a callable, got {function!r}")
    return CustomResolver(function, name or _describe(function))


def chain_resolvers(*resolvers: Resolver) -> ChainResolver:
    """Resolver that tries each of `resolvers` in turn (e.g. a policy, then a model)."""
    if not resolvers:
        raise ResolverError("chain_resolvers needs at least one resolver")
    for resolver in resolvers:
        if not callable(resolver):
            raise ResolverError(f"chain_resolvers: {resolver!r} is not callable")
    return ChainResolver(resolvers)


# -- counting resolvers ------------------------------------------------------------------


class _DecisionLog:
    """Thread-safe call counter plus a bounded record of recent decisions."""

    def __init__(self, keep_decisions: int) -> None:
        if isinstance(keep_decisions, bool) or not isinstance(keep_decisions, int):
            raise ResolverError(f"keep_decisions must be an int, got {keep_decisions!r}")
        if keep_decisions < 0:
            raise ResolverError(f"keep_decisions must be >= 0, got {keep_decisions}")
        self._lock = threading.Lock()
        self._calls = 0
        self._failures = 0
        self._decisions: deque[Decision] = deque(maxlen=keep_decisions)

    @property
    def calls(self) -> int:
        """Model calls made (each attempt counts, whether or not it decided)."""
        return self._calls

    @property
    def failures(self) -> int:
        """Calls that ended in `ResolverError`, leaving the escalation open."""
        return self._failures

    @property
    def decisions(self) -> list[Decision]:
        """The most recent decisions, oldest first."""
        with self._lock:
            return list(self._decisions)

    def decision_for(self, escalation: Escalation) -> Decision | None:
        """The latest recorded decision on this escalation, if still kept."""
        with self._lock:
            for decision in reversed(self._decisions):
                if decision.escalation_id == escalation.id:
                    return decision
        return None

    def _count_call(self) -> None:
        with self._lock:
            self._calls += 1

    def _count_failure(self) -> None:
        with self._lock:
            self._failures += 1

    def _record(self, decision: Decision) -> None:
        with self._lock:
            self._decisions.append(decision)


class OfflineResolver(_DecisionLog):
    """The benchmark's stand-in for a model: a deterministic pick, counted as a model call.

    Rule: the contender whose op id sorts last (plain string order) wins. That depends
    only on the escalation, never on contender order, so every replica picks alike.

    No network, no key, no sleeping: `latency_s` is the modelled cost of one call, which
    the caller (the transactional strategy) awaits in simulated time.
    """

    RULE: Final = "offline stub: contender with the greatest op id"

    def __init__(self, latency_s: float = 0.3, *, keep_decisions: int = 256) -> None:
        if isinstance(latency_s, bool) or not isinstance(latency_s, int | float):
            raise ResolverError(f"latency_s must be a number of seconds, got {latency_s!r}")
        if not math.isfinite(latency_s) or latency_s < 0:
            raise ResolverError(f"latency_s must be finite and >= 0, got {latency_s!r}")
        super().__init__(keep_decisions)
        self.latency_s = float(latency_s)

    def __repr__(self) -> str:
        return f"OfflineResolver(latency_s={self.latency_s!r}, calls={self.calls})"

    def __call__(self, escalation: Escalation) -> JSON:
        self._count_call()
        try:
            contenders = _require_contenders(escalation)
        except ResolverError:
            self._count_failure()
            raise
        winner = max(contenders, key=lambda c: c.op_id)
        self._record(
            Decision(
                escalation_id=escalation.id,
                field=escalation.field,
                value=winner.value,
                op_id=winner.op_id,
                agent_id=winner.agent_id,
                reason=self.RULE,
                model="offline",
            )
        )
        return winner.value


# -- Anthropic ---------------------------------------------------------------------------


class AnthropicResolver(_DecisionLog):
    """Settles a conflict by asking Claude, with a forced `settle_conflict` tool call.

    The request carries the namespace, key, field path and every contender (index,
    agent id, op id, value as JSON). The model must answer
    `{"choice": <index or op id>, "reason": ...}` or `{"merged_value": <JSON>, "reason": ...}`;
    anything else, and every API failure (rate limit, overload, connection, timeout,
    other status errors), raises `ResolverError` with the cause chained and a log event,
    so the escalation stays open.

    Sync or async, depending on the client:

    - with an `anthropic.Anthropic` client, `resolver(escalation)` returns the value;
    - with an `anthropic.AsyncAnthropic` client, `resolver(escalation)` returns a
      coroutine that must be awaited for the value.

    `resolve()` (sync clients only) and `aresolve()` (either client; a sync client runs in
    a worker thread) have exact return types. Without `client`, one is built from the
    `ANTHROPIC_API_KEY` environment variable (`asynchronous=True` builds an
    `AsyncAnthropic`); the key itself is never logged or stored on the resolver.
    """

    def __init__(
        self,
        client: anthropic.Anthropic | anthropic.AsyncAnthropic | None = None,
        *,
        model: str = DEFAULT_MODEL,
        timeout: float = 60.0,
        system: str = DEFAULT_SYSTEM,
        max_tokens: int = 1024,
        asynchronous: bool = False,
        keep_decisions: int = 256,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ResolverError(f"model must be a non-empty model name, got {model!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ResolverError(f"timeout must be a number of seconds, got {timeout!r}")
        if not math.isfinite(timeout) or timeout <= 0:
            raise ResolverError(f"timeout must be finite and > 0, got {timeout!r}")
        if not isinstance(system, str):
            raise ResolverError(f"system must be a str, got {type(system).__name__}")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ResolverError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
        import anthropic

        super().__init__(keep_decisions)
        if client is None:
            client = _client_from_env(asynchronous=asynchronous)
        self.client: anthropic.Anthropic | anthropic.AsyncAnthropic = client
        self._sync_client: anthropic.Anthropic | None = None
        self._async_client: anthropic.AsyncAnthropic | None = None
        if isinstance(client, anthropic.AsyncAnthropic):
            self._async_client = client
        elif isinstance(client, anthropic.Anthropic):
            self._sync_client = client
        else:
            raise ResolverError(
                "client must be an anthropic.Anthropic or anthropic.AsyncAnthropic, "
                f"got {type(client).__name__}"
            )
        self.model = model
        self.timeout = float(timeout)
        self.system = system
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        kind = "async" if self.is_async else "sync"
        return f"AnthropicResolver(model={self.model!r}, client={kind}, calls={self.calls})"

    @property
    def is_async(self) -> bool:
        """True when calling the resolver returns a coroutine (AsyncAnthropic client)."""
        return self._async_client is not None

    def __call__(self, escalation: Escalation) -> JSON | Coroutine[Any, Any, JSON]:
        """The settled value (sync client) or a coroutine producing it (async client)."""
        if self._async_client is not None:
            return self._resolve_async(self._async_client, escalation)
        return self._resolve_sync(self._sync_client, escalation)

    def resolve(self, escalation: Escalation) -> JSON:
        """Settle `escalation` synchronously; needs an `anthropic.Anthropic` client."""
        if self._async_client is not None:
            raise ResolverError(
                f"AnthropicResolver.resolve needs a sync client to settle {_where(escalation)}; "
                "this one holds an AsyncAnthropic client, await aresolve() instead"
            )
        return self._resolve_sync(self._sync_client, escalation)

    async def aresolve(self, escalation: Escalation) -> JSON:
        """Settle `escalation` from async code with either kind of client."""
        if self._async_client is not None:
            return await self._resolve_async(self._async_client, escalation)
        return await anyio.to_thread.run_sync(self._resolve_sync, self._sync_client, escalation)

    # -- request / response --------------------------------------------------------

    def request_params(self, escalation: Escalation) -> dict[str, Any]:
        """The keyword arguments sent to `messages.create` for this escalation."""
        contenders = _require_contenders(escalation)
        described: list[JSON] = []
        for index, contender in enumerate(contenders):
            problem = _json_problem(contender.value)
            if problem is not None:
                raise ResolverError(
                    f"contender {contender.op_id!r} on {_where(escalation)} cannot be sent "
                    f"to the model: {problem}"
                )
            described.append(
                {
                    "index": index,
                    "agent_id": contender.agent_id,
                    "op_id": contender.op_id,
                    "value": contender.value,
                }
            )
        conflict: dict[str, JSON] = {
            "namespace": list(escalation.namespace),
            "key": escalation.key,
            "field": escalation.field,
            "path": list(escalation.path or (escalation.field,)),
            "contenders": described,
        }
        prompt = (
            "Concurrent writes to a shared agent memory set the same field to different "
            f"values. Settle the conflict by calling {TOOL_NAME}.\n\n"
            f"<conflict>\n{json.dumps(conflict, ensure_ascii=False, indent=2)}\n</conflict>\n\n"
            "Answer with the index of the contender whose value should stand, or, only if "
            "no single value is right, a merged_value; and a one-sentence reason."
        )
        messages: list[MessageParam] = [{"role": "user", "content": prompt}]
        tool_choice: ToolChoiceToolParam = {
            "type": "tool",
            "name": TOOL_NAME,
            "disable_parallel_tool_use": True,
        }
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "messages": messages,
            "tools": [_settle_tool(contenders)],
            "tool_choice": tool_choice,
            "timeout": self.timeout,
        }

    def _resolve_sync(self, client: anthropic.Anthropic | None, escalation: Escalation) -> JSON:
        import anthropic

        assert client is not None, "a resolver holds exactly one kind of client"
        params = self.request_params(escalation)
        self._count_call()
        try:
            message = client.messages.create(**params)
        except anthropic.AnthropicError as err:
            raise self._api_failure(escalation, err) from err
        return self._settle(escalation, message)

    async def _resolve_async(
        self, client: anthropic.AsyncAnthropic, escalation: Escalation
    ) -> JSON:
        import anthropic

        params = self.request_params(escalation)
        self._count_call()
        try:
            message = await client.messages.create(**params)
        except anthropic.AnthropicError as err:
            raise self._api_failure(escalation, err) from err
        return self._settle(escalation, message)

    def _api_failure(self, escalation: Escalation, err: anthropic.AnthropicError) -> ResolverError:
        self._count_failure()
        status = getattr(err, "status_code", None)
        request_id = getattr(err, "request_id", None)
        kind = type(err).__name__
        log.warning(
            "resolver call failed",
            resolver="anthropic",
            model=self.model,
            namespace=list(escalation.namespace),
            key=escalation.key,
            field=escalation.field,
            escalation=escalation.id,
            error=kind,
            status=status,
            request_id=request_id,
        )
        detail = f"HTTP {status}" if status is not None else "no response"
        return ResolverError(
            f"Anthropic call to settle {_where(escalation)} failed: {kind} ({detail}); "
            "the escalation stays open"
        )

    def _settle(self, escalation: Escalation, message: Message) -> JSON:
        try:
            decision = self._interpret(escalation, message)
        except ResolverError as err:
            self._count_failure()
            log.warning(
                "resolver answer rejected",
                resolver="anthropic",
                model=self.model,
                namespace=list(escalation.namespace),
                key=escalation.key,
                field=escalation.field,
                escalation=escalation.id,
                stop_reason=message.stop_reason,
                problem=str(err),
            )
            raise
        self._record(decision)
        log.info(
            "resolver decided",
            resolver="anthropic",
            model=self.model,
            namespace=list(escalation.namespace),
            key=escalation.key,
            field=escalation.field,
            escalation=escalation.id,
            chosen_op=decision.op_id,
            merged=decision.op_id is None,
            reason=decision.reason,
        )
        return decision.value

    def _interpret(self, escalation: Escalation, message: Message) -> Decision:
        """Validate the model's answer strictly and turn it into a Decision."""
        from anthropic.types import ToolUseBlock

        where = _where(escalation)
        uses = [
            block
            for block in message.content
            if isinstance(block, ToolUseBlock) and block.name == TOOL_NAME
        ]
        if not uses:
            kinds = [getattr(block, "type", "?") for block in message.content]
            raise ResolverError(
                f"model answer for {where} has no {TOOL_NAME} tool_use block "
                f"(stop_reason={message.stop_reason!r}, content blocks={kinds})"
            )
        if len(uses) > 1:
            raise ResolverError(f"model answer for {where} calls {TOOL_NAME} {len(uses)} times")
        raw: object = uses[0].input
        if not isinstance(raw, dict):
            raise ResolverError(f"{TOOL_NAME} input for {where} is not an object: {raw!r}")
        unknown = sorted(set(raw) - {"choice", "merged_value", "reason"})
        if unknown:
            raise ResolverError(f"{TOOL_NAME} input for {where} has unknown fields {unknown}")
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ResolverError(
                f"{TOOL_NAME} input for {where} needs a non-empty string 'reason', got {reason!r}"
            )
        reason = reason.strip()[:_REASON_LIMIT]
        choice = raw.get("choice")
        has_merged = raw.get("merged_value") is not None
        if choice is not None and has_merged:
            raise ResolverError(
                f"{TOOL_NAME} input for {where} gives both 'choice' and 'merged_value'"
            )
        if choice is not None:
            contender = _chosen(escalation, choice)
            return Decision(
                escalation_id=escalation.id,
                field=escalation.field,
                value=contender.value,
                op_id=contender.op_id,
                agent_id=contender.agent_id,
                reason=reason,
                model=self.model,
            )
        if has_merged:
            merged = raw["merged_value"]
            problem = _json_problem(merged, "merged_value")
            if problem is not None:
                raise ResolverError(f"{TOOL_NAME} input for {where}: {problem}")
            return Decision(
                escalation_id=escalation.id,
                field=escalation.field,
                value=merged,
                op_id=None,
                agent_id=None,
                reason=reason,
                model=self.model,
            )
        raise ResolverError(
            f"{TOOL_NAME} input for {where} needs 'choice' or a non-null 'merged_value', "
            f"got fields {sorted(raw)}"
        )


def _chosen(escalation: Escalation, choice: object) -> Contender:
    """The contender `choice` names: an index into the contenders, or an op id."""
    contenders = escalation.contenders
    where = _where(escalation)
    if isinstance(choice, bool):
        raise ResolverError(f"choice for {where} must be an index or op id, got {choice!r}")
    if isinstance(choice, int):
        if 0 <= choice < len(contenders):
            return contenders[choice]
        raise ResolverError(
            f"choice {choice} for {where} names no contender (valid: 0..{len(contenders) - 1})"
        )
    if isinstance(choice, str):
        for contender in contenders:
            if contender.op_id == choice:
                return contender
        raise ResolverError(
            f"choice {choice!r} for {where} names no contender "
            f"(op ids: {[c.op_id for c in contenders]})"
        )
    raise ResolverError(
        f"choice for {where} must be an index or op id, got {type(choice).__name__} {choice!r}"
    )


def _settle_tool(contenders: Iterable[Contender]) -> ToolParam:
    listed = list(contenders)
    return {
        "name": TOOL_NAME,
        "description": (
            "Settle a conflict between concurrent writes to one field: choose the contender "
            "whose value stands, or give a merged value when no single one is right."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "choice": {
                    "description": "Index of the winning contender (or its op_id).",
                    "anyOf": [
                        {"type": "integer", "enum": list(range(len(listed)))},
                        {"type": "string", "enum": [c.op_id for c in listed]},
                    ],
                },
                "merged_value": {
                    "description": (
                        "Only when no single contender is right: the JSON value the field "
                        "should hold, combining the contenders' intent."
                    ),
                },
                "reason": {
                    "type": "string",
                    "description": "One short sentence explaining the decision.",
                },
            },
            "required": ["reason"],
            "additionalProperties": False,
        },
    }


def _client_from_env(*, asynchronous: bool) -> anthropic.Anthropic | anthropic.AsyncAnthropic:
    import anthropic

    key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
    if not key:
        raise ResolverError(
            "AnthropicResolver needs a client or the ANTHROPIC_API_KEY environment variable, "
            "which is not set"
        )
    if asynchronous:
        return anthropic.AsyncAnthropic(api_key=key)
    return anthropic.Anthropic(api_key=key)
