"""`SyncedStore` and `AsyncSyncedStore`: drop-in LangGraph stores that merge (SPEC 1, 3, 4).

Writes go to the CRDT core (`_core.Core`) instead of overwriting: concurrent writes merge
field by field, every write is attributed to an agent, and genuine semantic conflicts are
escalated instead of silently picking a winner. Without concurrency the store behaves like
LangGraph's `InMemoryStore` (same results, same errors), plus TTL like the SQL stores.

Concurrency model: one lock around the core and the store's local indexes, held only for
in-memory work and the durable append; embeddings, resolvers and escalation callbacks run
outside it. `batch` and `abatch` share one pipeline:

1. validate every op (nothing is applied if any op is bad);
2. embed search queries (outside the lock);
3. under the lock: reads (they see the state before this batch's writes, as in
   InMemoryStore), then writes, each appended to the durable log before the batch returns;
4. outside the lock: embed what was written, then fire `on_escalation` callbacks and run
   the resolver for each new conflict.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import enum
import inspect
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Self, TypeAlias, TypeVar

import anyio
import anyio.to_thread
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from ._context import (
    ANONYMOUS,
    ActingFrame,
    GraphTask,
    TaskTurns,
    current_frame,
    graph_task,
    new_store_token,
    pop_frame,
    push_frame,
)
from ._core import ConflictValue, Core, ImportResult, PutResult, Schema, Turn
from ._errors import AgentSyncError, PersistenceError, StaleEscalationError
from ._logging import get_logger
from ._persistence import NullLog, open_log
from ._query import (
    IndexPaths,
    matches_filter,
    select_namespaces,
)
from ._store_durability import Durability
from ._store_index import EmbedJob as _EmbedJob
from ._store_index import KeyOrder, SemanticIndex
from ._store_ttl import (
    Deadlines,
    TaskSweeper,
    ThreadSweeper,
    no_sweeper,
    omit_expired,
    refresh_on_read,
    sweep_due,
    sweep_interval_seconds,
)
from ._types import JSON, Escalation, Namespace, WriteRecord
from ._validation import ensure_ttl as _ensure_ttl
from ._validation import validate_namespace as _validate_namespace
from ._validation import validate_namespace_labels as _validate_namespace_labels
from ._validation import validate_op_namespace
from ._values import check_size, copy_json, lone_surrogate_at

__all__ = ["SyncedStore", "AsyncSyncedStore", "EscalationCallback", "ResolverFunc"]

log = get_logger(__name__)

T = TypeVar("T")

EscalationCallback: TypeAlias = Callable[[Escalation], "Awaitable[None] | None"]
"""Called once per new conflict; may be a coroutine function."""

ResolverFunc: TypeAlias = Callable[[Escalation], "JSON | Awaitable[JSON]"]
"""Decides an escalated field's value; may be a coroutine function."""

TTL_AGENT: Final = "ttl-sweeper"
_FIRED_MEMORY: Final = 16_384

_Key: TypeAlias = tuple[Namespace, str]


# --------------------------------------------------------------------------------------
# batch bookkeeping


@dataclass(slots=True)
class _Plan:
    """A validated batch: reads by position, then the last put per key (InMemoryStore)."""

    size: int
    gets: list[tuple[int, GetOp]] = field(default_factory=list)
    searches: list[tuple[int, SearchOp]] = field(default_factory=list)
    lists: list[tuple[int, ListNamespacesOp]] = field(default_factory=list)
    puts: dict[_Key, PutOp] = field(default_factory=dict)


class _Outcome:
    """What a store call did under the lock: results by position, texts to embed and new
    conflicts (embedded and settled after the lock). One per call: a plain class builds
    in half the time of a dataclass with default factories."""

    __slots__ = ("embed", "escalations", "not_durable", "results")

    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.embed: list[_EmbedJob] = []
        self.escalations: list[Escalation] = []
        # a write applied but not appended: raised once it is embedded and settled, so
        # that it is visible to every read (semantic search too) and its conflicts fire
        self.not_durable: PersistenceError | None = None


@dataclass(frozen=True, slots=True)
class _Cached:
    """A key's value as the core last returned it, with its timestamps as datetimes."""

    value: dict[str, JSON]
    created_at: datetime
    updated_at: datetime
    # when the key expires as its latest write says (seconds), and its TTL in minutes
    deadline: tuple[float, float] | None = None


class _Writer(NamedTuple):
    """Who writes (or reads) in a store call, and the turns that see it. Made per call
    inside `acting_as` and graph nodes: a NamedTuple builds in half the time of a frozen
    dataclass."""

    agent: str
    turn: Turn | None
    ancestors: tuple[Turn, ...]


_NOBODY: Final = _Writer(ANONYMOUS, None, ())


class _Slow(enum.Enum):
    SLOW = "slow"


_SLOW: Final = _Slow.SLOW
"""`_get_fast` says: take the general path."""


def _item(value: dict[str, Any], key: str, namespace: Namespace, cached: _Cached) -> Item:
    """`Item(...)` without its constructor's parsing of string timestamps (a hot path)."""
    item = Item.__new__(Item)
    item.value = value
    item.key = key
    item.namespace = namespace
    item.created_at = cached.created_at
    item.updated_at = cached.updated_at
    return item


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _ts(seconds: float) -> datetime:
    """A write's time as a datetime. A peer's time past what datetime holds (forged or
    damaged) reads as the nearer end of its range, alike on every replica, instead of
    making every read of the key raise."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return _LATEST if seconds > 0 else _EARLIEST


def _bad_value_error(namespace: Namespace, key: str, value: object) -> Exception:
    """The exception InMemoryStore raises for this non-dict value (its `dict(value)`),
    with a message that says what was wrong; TypeError where InMemoryStore accepts it."""
    what = f"put({namespace!r}, {key!r}): value must be a dict of JSON (or None to delete)"
    message = f"{what}, got {type(value).__name__}"
    try:
        dict(value)  # type: ignore[call-overload]
    except ValueError:
        return ValueError(message)
    except Exception:
        return TypeError(message)
    return TypeError(message)


def _check_put(op: PutOp) -> None:
    """Refuse a put whose key, value, TTL or size is not storable (before anything is
    applied). Its namespace is checked by the caller."""
    if not isinstance(op.key, str):
        raise TypeError(f"key must be str, got {type(op.key).__name__} {op.key!r}")
    # a lone surrogate cannot be stored (it is not UTF-8): refused here, by name
    at = lone_surrogate_at(op.key)
    if at is not None:
        raise ValueError(f"key {op.key!r} is not valid Unicode (lone surrogate at {at})")
    for label in op.namespace:
        at = lone_surrogate_at(label) if type(label) is str else None
        if at is not None:
            raise InvalidNamespaceError(
                f"Namespace label {label!r} is not valid Unicode (lone surrogate at {at})"
            )
    value = op.value
    # `type(...) is dict` first: the ABC check is slow and a dict is the common case
    if value is not None and type(value) is not dict and not isinstance(value, Mapping):
        raise _bad_value_error(op.namespace, op.key, value)
    ttl = op.ttl
    if ttl is not None and (type(ttl) is bool or not isinstance(ttl, int | float)):
        raise TypeError(f"ttl must be minutes (a number) or None, got {ttl!r}")
    if ttl is not None and not math.isfinite(ttl):
        raise ValueError(f"ttl must be a finite number of minutes, got {ttl!r}")
    if value is not None:
        try:
            check_size(value)
        except ValueError as err:
            raise ValueError(f"put({op.namespace!r}, {op.key!r}): {err}") from None


def _callable_name(func: object) -> str:
    name = getattr(func, "name", None)
    if isinstance(name, str) and name:
        return name
    name = getattr(func, "__name__", None)
    if isinstance(name, str) and name:
        return name
    return type(func).__name__


# --------------------------------------------------------------------------------------
# acting_as


class ActingAs:
    """`store.acting_as(agent)`: attribute writes to `agent` (sync `with` or `async with`).

    Outside a LangGraph run the block is one turn: its writes supersede what was committed
    when it was entered, plus what it wrote or read since. Inside a graph node only the
    agent id changes; the turn stays the task's.
    """

    __slots__ = ("_agent", "_store", "_token")

    def __init__(self, store: _StoreBase, agent: str) -> None:
        if not isinstance(agent, str) or not agent:
            raise ValueError(f"acting_as needs a non-empty agent id, got {agent!r}")
        if lone_surrogate_at(agent) is not None:
            raise ValueError(f"acting_as: agent id {agent!r} is not valid Unicode")
        self._store = store
        self._agent = agent
        self._token: contextvars.Token[Any] | None = None

    def __enter__(self) -> Self:
        if self._token is not None:
            raise RuntimeError("this acting_as block is already active; call acting_as() again")
        store = self._store
        outer = current_frame(store._token)
        task = graph_task()
        turn: Turn | None = None
        outer_turns: tuple[Turn, ...] = ()
        if task is None:
            with store._lock:
                turn = store._core.begin_turn()
            if outer is not None and outer.task_key is None:
                outer_turns = outer.outer if outer.turn is None else (*outer.outer, outer.turn)
        frame = ActingFrame(self._agent, turn, outer_turns, task.key if task else None)
        self._token = push_frame(store._token, frame)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            pop_frame(self._token)
            self._token = None

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    @property
    def agent(self) -> str:
        return self._agent


# --------------------------------------------------------------------------------------
# the store


class _StoreBase(BaseStore):
    """Shared implementation of `SyncedStore` and `AsyncSyncedStore`."""

    supports_ttl: bool = True

    def __init__(
        self,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        schema: Schema | None = None,
        resolver: ResolverFunc | None = None,
        conflict_value: ConflictValue = "placeholder",
        path: str | None = None,
        dsn: str | None = None,
        peer_id: int | None = None,
        resolver_timeout: float | None = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if path is not None and dsn is not None:
            raise ValueError("give path= (SQLite) or dsn= (PostgreSQL), not both")
        if resolver is not None and not callable(resolver):
            raise TypeError(f"resolver must be callable, got {type(resolver).__name__}")
        if resolver_timeout is not None and resolver_timeout <= 0:
            raise ValueError(f"resolver_timeout must be positive, got {resolver_timeout!r}")
        self._core = Core(peer_id=peer_id, schema=schema, conflict_value=conflict_value)
        self._lock = threading.Lock()
        self._token = new_store_token()
        self._clock: Callable[[], float] = clock or time.time
        self._tasks = TaskTurns(self._core.begin_turn)
        self._resolver = resolver
        self._resolver_name = _callable_name(resolver) if resolver is not None else ""
        self._resolver_timeout = resolver_timeout
        self._callbacks: list[EscalationCallback] = []
        self._fired: OrderedDict[str, None] = OrderedDict()
        # Local indexes: live keys in first-write order (InMemoryStore's search order)
        # with a change number per key (drops stale embeddings), and TTL deadlines.
        self._order = KeyOrder()
        self._keys = self._order.namespaces  # read directly by the hot read path
        # what the core returned per key, dropped whenever the key changes (every change
        # to the core goes through _key_changed), so reads skip the core's key lookup
        self._cache: dict[_Key, _Cached] = {}
        self._expiry = Deadlines(self._clock())
        self._counts: dict[str, int] = {
            "puts": 0,
            "delete_calls": 0,
            "anonymous_writes": 0,
            "escalations": 0,
            "resolver_calls": 0,
            "resolver_failures": 0,
            "callback_failures": 0,
            "ttl_expired": 0,
        }
        # semantic index, configured as InMemoryStore, SqliteStore or PostgresStore
        self._index = SemanticIndex(index) if index else None
        self.index_config: IndexConfig | None = self._index.config if self._index else None
        self.embeddings: Embeddings | None = self._index.embeddings if self._index else None
        self._index_paths: IndexPaths = self._index.paths if self._index else []
        self.ttl_config = ttl
        self._sweeper: ThreadSweeper | TaskSweeper = self._new_sweeper()
        # persistence
        self._defer_persist = False  # inside a multi-put batch: one append at the end
        self._closed = False
        durable = path is not None or dsn is not None
        updates = open_log(path=path, dsn=dsn) if durable else NullLog()
        self._durability = Durability(self._core, updates)
        if durable:
            try:
                with self._lock:
                    results: list[ImportResult] = []

                    def absorb(result: ImportResult) -> None:
                        # our own history: its conflicts are not new, so nothing fires
                        results.append(result)
                        self._absorb(result, collect=False)

                    self._durability.load(absorb)
                    _log_imported("open", results)
                updates.start_listener(self._durability.wake)
            except BaseException:
                updates.close()
                raise

    # == LangGraph BaseStore ============================================================

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        if type(ops) is list and len(ops) == 1 and type(ops[0]) is GetOp:
            found = self._get_fast(ops[0])  # BaseStore.get: the hot read path
            if not isinstance(found, _Slow):
                return [found]
        return self._batch(ops)

    def _batch(self, ops: Iterable[Op]) -> list[Result]:
        plan = self._plan(ops)
        queries = self._embed_queries(plan)
        return self._finish(self._apply(plan, queries, graph_task(), current_frame(self._token)))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        if type(ops) is list and len(ops) == 1 and type(ops[0]) is GetOp:
            found = self._get_fast(ops[0])
            if not isinstance(found, _Slow):
                return [found]
        return await self._abatch(ops)

    async def _abatch(self, ops: Iterable[Op]) -> list[Result]:
        plan = self._plan(ops)
        queries = await self._aembed_queries(plan)
        task, frame = graph_task(), current_frame(self._token)
        return await self._afinish(await self._off_loop(self._apply, plan, queries, task, frame))

    # A put or delete is a batch of one PutOp. These overrides check and build it as
    # BaseStore does, then apply it without planning a batch (the hot write path); the
    # result is the same as `batch([op])`. A `batch`/`abatch` replaced by a subclass or
    # patched onto the class or the store still gets every write, as BaseStore's do
    # (asked through the bound method: reading the store's `__dict__` would make every
    # attribute access on it slower from then on, CPython 3.11's inline values).

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """As `BaseStore.put`: store `value` at (namespace, key), merged with concurrent
        writes; `value=None` deletes. `index`: None (the configured fields), False (not
        indexed) or the field paths to embed; `ttl`: minutes, None for no expiry, default
        the TTLConfig's `default_ttl`. InvalidNamespaceError for a bad namespace."""
        self._write_one(self._put_op(namespace, key, value, index, ttl))

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """As `BaseStore.aput` (see `put`)."""
        await self._awrite_one(self._put_op(namespace, key, value, index, ttl))

    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        """As `BaseStore.delete`: remove what this writer has seen of the item."""
        _validate_namespace_labels(namespace)
        self._write_one(PutOp(namespace, str(key), None, None, None))

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        """As `BaseStore.adelete`."""
        _validate_namespace_labels(namespace)
        await self._awrite_one(PutOp(namespace, str(key), None, None, None))

    def _put_op(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any] | None,
        index: Literal[False] | list[str] | None,
        ttl: float | NotProvided | None,
    ) -> PutOp:
        """The checks `BaseStore.put`/`aput` make and the op they batch."""
        _validate_namespace(namespace)
        if ttl not in (NOT_PROVIDED, None) and not self.supports_ttl:
            raise NotImplementedError(
                f"TTL is not supported by {self.__class__.__name__}. "
                f"Use a store implementation that supports TTL or set ttl=None."
            )
        # positional: a NamedTuple built from keywords costs ~100 ns more
        return PutOp(namespace, str(key), value, index, _ensure_ttl(self.ttl_config, ttl))

    def _write_one(self, op: PutOp) -> None:
        """`batch([op])` for one PutOp, without planning a batch."""
        if getattr(self.batch, "__func__", None) is not _StoreBase.batch:
            self.batch([op])  # replaced (a subclass, a patch): BaseStore.put goes through it
            return
        _check_put(op)
        self._finish(self._apply_put(op, graph_task(), current_frame(self._token)))

    async def _awrite_one(self, op: PutOp) -> None:
        """`abatch([op])` for one PutOp, without planning a batch."""
        if getattr(self.abatch, "__func__", None) is not _StoreBase.abatch:
            await self.abatch([op])
            return
        _check_put(op)
        task, frame = graph_task(), current_frame(self._token)
        await self._afinish(await self._off_loop(self._apply_put, op, task, frame))

    def _finish(self, outcome: _Outcome) -> list[Result]:
        """After the lock: embed what was written, then settle new conflicts."""
        if outcome.embed:
            self._embed_written(outcome.embed)
        if outcome.escalations:
            self._settle(outcome.escalations)
        if outcome.not_durable is not None:
            raise outcome.not_durable
        return outcome.results

    async def _afinish(self, outcome: _Outcome) -> list[Result]:
        if outcome.embed:
            await self._aembed_written(outcome.embed)
        if outcome.escalations:
            await self._asettle(outcome.escalations)
        if outcome.not_durable is not None:
            raise outcome.not_durable
        return outcome.results

    async def _off_loop(self, apply: Callable[..., T], *args: Any) -> T:
        """`apply(*args)`; in a worker thread when it may block on a durable append."""
        if self._durability.blocking:
            return await anyio.to_thread.run_sync(apply, *args)
        return apply(*args)

    def get(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        """As `BaseStore.get` (validated once, then straight to the read path)."""
        # without TTL the answer is always True: skip the call on the hot read path
        refresh = (
            True
            if refresh_ttl is None and self.ttl_config is None
            else refresh_on_read(self.ttl_config, refresh_ttl)
        )
        op = GetOp(namespace, key if type(key) is str else str(key), refresh)
        found = self._get_fast(op)
        if isinstance(found, _Slow):
            result = self._batch([op])[0]
            return result if isinstance(result, Item) else None
        return found

    async def aget(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        """As `BaseStore.aget`."""
        op = GetOp(namespace, str(key), refresh_on_read(self.ttl_config, refresh_ttl))
        found = self._get_fast(op)
        if isinstance(found, _Slow):
            result = (await self._abatch([op]))[0]
            return result if isinstance(result, Item) else None
        return found

    # == agentsync API ==================================================================

    def acting_as(self, agent: str) -> ActingAs:
        """Attribute writes in this block to `agent`; outside a graph, the block is a turn."""
        return ActingAs(self, agent)

    def escalations(self, namespace: Namespace | None = None) -> list[Escalation]:
        """Open conflicts, optionally only those under a namespace prefix."""
        if namespace is not None:
            namespace = tuple(namespace)
        with self._lock:
            return self._core.escalations(namespace)

    def on_escalation(self, callback: EscalationCallback) -> EscalationCallback:
        """Call `callback(escalation)` once per new conflict (usable as a decorator).

        Sync callbacks run in the thread that surfaced the conflict; async ones are awaited
        by the async API and run to completion on a private loop by the sync API. A failing
        callback is logged and does not fail the write.
        """
        if not callable(callback):
            raise TypeError(f"on_escalation needs a callable, got {type(callback).__name__}")
        self._callbacks.append(callback)
        return callback

    def resolve(self, escalation: Escalation, value: Any) -> None:
        """Settle a conflict: write `value` as a write that has seen every contender.

        Attributed to the current agent (`acting_as`, else the graph node, else
        "anonymous"). The escalation closes here now and on every replica once it syncs.
        """
        if not isinstance(escalation, Escalation):
            raise TypeError(f"resolve needs an Escalation, got {type(escalation).__name__}")
        agent = self._agent_now(graph_task(), current_frame(self._token))
        embed, escalations = self._resolve_locked(escalation, value, agent)
        self._embed_written(embed)
        self._settle(escalations)

    async def aresolve(self, escalation: Escalation, value: Any) -> None:
        """`resolve` for async code (awaits async escalation callbacks)."""
        if not isinstance(escalation, Escalation):
            raise TypeError(f"resolve needs an Escalation, got {type(escalation).__name__}")
        agent = self._agent_now(graph_task(), current_frame(self._token))
        embed, escalations = self._resolve_locked(escalation, value, agent)
        await self._aembed_written(embed)
        await self._asettle(escalations)

    def history(self, namespace: Namespace, key: str) -> list[WriteRecord]:
        """The attributed writes that built the key's current value, oldest first."""
        labels = tuple(namespace)
        if not all(isinstance(label, str) for label in labels):
            raise TypeError(f"namespace labels must be str, got {namespace!r}")
        if not isinstance(key, str):
            raise TypeError(f"key must be str, got {type(key).__name__} {key!r}")
        with self._lock:
            return self._core.history(labels, key)

    def attribution(self) -> dict[tuple[Namespace, str], dict[str, list[str]]]:
        """Per key and field: the agents whose writes survive in the current value."""
        with self._lock:
            return self._core.attribution()

    def stats(self) -> dict[str, float]:
        """Puts, merges, escalations, resolutions and the conflict mix.

        `semantic_ratio` is the share of concurrent writes to one field that needed a
        decision (escalated) rather than merging on their own; `mergeable_ratio` the rest.
        """
        with self._lock:
            core = self._core.stats()
            mine = dict(self._counts)
            live = len(self._tasks)
            set_aside = len(self._durability.log.quarantined)
            waiting = self._durability.waiting
        merges = core.get("mergeable_concurrent", 0.0)
        semantic = core.get("semantic_conflicts", 0.0)
        concurrent = merges + semantic
        out: dict[str, float] = {**core, **{k: float(v) for k, v in mine.items()}}
        out["merges"] = float(merges)
        out["resolutions"] = float(core.get("resolutions", 0.0))
        out["semantic_ratio"] = semantic / concurrent if concurrent else 0.0
        out["mergeable_ratio"] = merges / concurrent if concurrent else 0.0
        out["live_task_views"] = float(live)
        out["updates_set_aside"] = float(set_aside)  # log rows that could not be imported
        out["imports_waiting"] = float(waiting)  # imports whose dependencies are missing
        return out

    def version(self) -> bytes:
        """Opaque digest of what this replica holds (for `export_updates(since=...)`)."""
        with self._lock:
            return self._core.version()

    def export_updates(self, since: bytes | None = None) -> bytes:
        """Everything a replica at digest `since` lacks (`None`: everything)."""
        with self._lock:
            return self._core.export_updates(since)

    def import_updates(self, blob: bytes) -> None:
        """Apply a peer's updates. CorruptUpdateError on bad bytes; state unchanged then."""
        embed, escalations = self._import_locked(blob)
        self._embed_written(embed)
        self._settle(escalations)

    async def aimport_updates(self, blob: bytes) -> None:
        """`import_updates` for async code."""
        embed, escalations = self._import_locked(blob)
        await self._aembed_written(embed)
        await self._asettle(escalations)

    def sync(self) -> None:
        """Pull what other replicas appended to the shared log (PostgreSQL) and apply it."""
        embed, escalations = self._pull_locked()
        self._embed_written(embed)
        self._settle(escalations)

    async def async_sync(self) -> None:
        """`sync` for async code."""
        embed, escalations = await anyio.to_thread.run_sync(self._pull_locked)
        await self._aembed_written(embed)
        await self._asettle(escalations)

    def close(self) -> None:
        """Stop the TTL sweeper and close the durable log. Idempotent. PersistenceError
        (the store is closed all the same) if writes whose append failed could still not
        be written."""
        self._sweeper.halt()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._durability.close()

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # == TTL (the public methods are SyncedStore's and AsyncSyncedStore's) ==============

    def _new_sweeper(self) -> ThreadSweeper | TaskSweeper:
        return ThreadSweeper()

    def _sweep_now(self) -> tuple[list[_EmbedJob], list[Escalation], int]:
        with self._lock:
            return self._sweep_locked()

    # == pipeline: validation ===========================================================

    def _plan(self, ops: Iterable[Op]) -> _Plan:
        items: list[object] = list(ops)  # unchecked input: refused below if not an op
        plan = _Plan(len(items))
        for i, op in enumerate(items):
            if isinstance(op, GetOp):
                validate_op_namespace(op)
                plan.gets.append((i, op))
            elif isinstance(op, SearchOp):
                validate_op_namespace(op)
                plan.searches.append((i, op))
            elif isinstance(op, ListNamespacesOp):
                validate_op_namespace(op)
                plan.lists.append((i, op))
            elif isinstance(op, PutOp):
                validate_op_namespace(op)
                _check_put(op)
                # The last put per key wins, at the key's first position (as InMemoryStore).
                plan.puts[(tuple(op.namespace), op.key)] = op
            else:
                raise ValueError(f"Unknown operation type: {type(op)}")
        if len(plan.puts) > 1:
            # The core validates one put at a time; check them all (JSON and declared
            # kinds) before applying any.
            for (namespace, name), put in plan.puts.items():
                if put.value is not None:
                    try:
                        self._core.check(namespace, put.value)
                    except (TypeError, ValueError) as err:
                        raise type(err)(f"put({namespace!r}, {name!r}): {err}") from None
        return plan

    # == pipeline: embeddings =========================================================

    def _embed_queries(self, plan: _Plan) -> dict[str, list[float]]:
        index = self._index
        if index is None or not plan.searches:
            return {}
        return index.embed_queries(index.queries(op for _, op in plan.searches))

    async def _aembed_queries(self, plan: _Plan) -> dict[str, list[float]]:
        index = self._index
        if index is None or not plan.searches:
            return {}
        return await index.aembed_queries(index.queries(op for _, op in plan.searches))

    def _embed_written(self, jobs: list[_EmbedJob]) -> None:
        index = self._index
        if not jobs or index is None:
            return
        texts, vectors = index.embed_documents(jobs)
        with self._lock:
            index.keep(jobs, texts, vectors, self._order)

    async def _aembed_written(self, jobs: list[_EmbedJob]) -> None:
        index = self._index
        if not jobs or index is None:
            return
        texts, vectors = await index.aembed_documents(jobs)
        with self._lock:
            index.keep(jobs, texts, vectors, self._order)

    # == pipeline: the critical section =================================================

    def _apply(
        self,
        plan: _Plan,
        queries: dict[str, list[float]],
        task: GraphTask | None,
        frame: ActingFrame | None,
    ) -> _Outcome:
        outcome = _Outcome([None] * plan.size)
        with self._lock:
            now, writer = self._enter_locked(task, frame, outcome)
            results = outcome.results
            for i, get in plan.gets:
                results[i] = self._get_locked(get, writer, now)
            for i, search in plan.searches:
                results[i] = self._search_locked(search, queries, writer, now)
            for i, listing in plan.lists:
                results[i] = self._list_locked(listing, now)
            if not self._durability.blocking or len(plan.puts) < 2:
                for (namespace, key), put in plan.puts.items():
                    self._write_locked(namespace, key, put, writer, now, outcome)
            else:
                self._write_batch_locked(plan, writer, now, outcome)
        return outcome

    def _apply_put(self, op: PutOp, task: GraphTask | None, frame: ActingFrame | None) -> _Outcome:
        """`_apply` for a batch of one checked PutOp, without a plan."""
        outcome = _Outcome([None])
        with self._lock:
            now, writer = self._enter_locked(task, frame, outcome)
            self._write_locked(tuple(op.namespace), op.key, op, writer, now, outcome)
        return outcome

    def _enter_locked(
        self, task: GraphTask | None, frame: ActingFrame | None, outcome: _Outcome
    ) -> tuple[float, _Writer]:
        """Under the lock, before a batch's reads and writes: refuse a closed store, pull
        what other replicas appended, sweep expired items when due; the time and writer."""
        if self._closed:
            raise AgentSyncError("store is closed")
        seen: Turn | None = None
        if self._durability.woken:
            # what a call has seen is what its replica held when it began (SPEC 3): the
            # updates it pulls now are concurrent with its writes, never overwritten
            seen = self._core.begin_turn()
            self._pull_into(outcome)
        now = self._clock()
        if self._expiry:  # (something can expire)
            self._maybe_sweep(now, outcome)
        writer = self._writer(task, frame)
        if seen is not None and writer.turn is None:
            writer = writer._replace(turn=seen)
        return now, writer

    def _write_batch_locked(
        self, plan: _Plan, writer: _Writer, now: float, outcome: _Outcome
    ) -> None:
        """Several puts in one batch: one durable append (one fsync) for all of them.

        A put that raises midway leaves the ones before it applied: the bracket still
        closes, so they are appended (or reported as not durable) like any write."""
        before = self._durability.version()
        namespace, key = next(iter(plan.puts))
        self._defer_persist = True
        try:
            for (namespace_, key_), put in plan.puts.items():
                self._write_locked(namespace_, key_, put, writer, now, outcome)
        except BaseException:
            self._defer_persist = False
            with contextlib.suppress(Exception):  # the put's own error is the one to raise
                self._durability.record(before, namespace, key, writer.agent)
            raise
        self._defer_persist = False
        try:
            self._durability.record(before, namespace, key, writer.agent)
        except PersistenceError as exc:
            outcome.not_durable = exc  # see _Outcome

    def _get_fast(self, op: GetOp) -> Item | _Slow | None:
        """A batch of one GetOp without the general bookkeeping, when none is due."""
        labels: tuple[object, ...] = op.namespace  # unchecked input: any objects
        for label in labels:
            if type(label) is not str or not label or "." in label or "\x00" in label:
                validate_op_namespace(op)  # raises InvalidNamespaceError, as BaseStore
                break
        task, frame = graph_task(), current_frame(self._token)
        with self._lock:
            if self._closed:
                raise AgentSyncError("store is closed")
            if self._durability.woken or self._tasks.pending or self.ttl_config is not None:
                return _SLOW  # the general path pulls, purges and sweeps as needed
            writer = _NOBODY if task is None and frame is None else self._writer(task, frame)
            return self._get_locked(op, writer, 0.0)

    def _writer(self, task: GraphTask | None, frame: ActingFrame | None) -> _Writer:
        self._tasks.purge()
        if task is not None:
            turn, ancestors = self._tasks.turn_for(task)
            if frame is not None and frame.task_key is None and frame.turn is not None:
                # a graph run inside an acting_as block: the block sees what the run wrote
                ancestors = (*frame.outer, frame.turn, *ancestors)
            return _Writer(self._agent_now(task, frame), turn, ancestors)
        if frame is not None and frame.task_key is None:
            return _Writer(frame.agent, frame.turn, frame.outer)
        return _NOBODY

    def _agent_now(self, task: GraphTask | None, frame: ActingFrame | None) -> str:
        if task is not None:
            return frame.agent if frame is not None and frame.task_key == task.key else task.node
        if frame is not None:
            return frame.agent
        return ANONYMOUS

    def _note_read(self, writer: _Writer, key: _Key) -> None:
        if writer.turn is None:
            return
        self._core.note_read(writer.turn, key[0], key[1])
        for turn in writer.ancestors:
            self._core.note_read(turn, key[0], key[1])

    def _read(self, key: _Key) -> _Cached | None:
        cached = self._cache.get(key)
        if cached is None:
            try:
                stored = self._core.get(key[0], key[1])
            except UnicodeEncodeError:  # a lone surrogate: no such key can be stored
                return None
            if stored is None:
                return None
            ttl = stored.ttl_minutes
            deadline = None if ttl is None else (stored.updated_at + ttl * 60.0, ttl)
            cached = _Cached(stored.value, _ts(stored.created_at), _ts(stored.updated_at), deadline)
            self._cache[key] = cached
        return cached

    def _get_locked(self, op: GetOp, writer: _Writer, now: float) -> Item | None:
        namespace = op.namespace
        key = (namespace if type(namespace) is tuple else tuple(namespace), op.key)
        if key[0] not in self._keys:
            # InMemoryStore creates the namespace's slot on a get; search order follows it
            self._keys[key[0]] = {}
        cached = self._read(key)
        if writer.turn is not None:
            self._note_read(writer, key)
        if cached is None:
            return None
        if self._expiry:
            if omit_expired(self.ttl_config) and self._expiry.expired(key, now):
                return None
            if op.refresh_ttl:
                self._expiry.refresh(key, now)
        return _item(copy_json(cached.value), op.key, key[0], cached)

    def _search_locked(
        self, op: SearchOp, queries: dict[str, list[float]], writer: _Writer, now: float
    ) -> list[SearchItem]:
        omit = omit_expired(self.ttl_config)
        index = self._index if op.query else None
        candidates: list[tuple[_Key, list[list[float]]]] = []
        stored_by_key: dict[_Key, _Cached] = {}
        for key in self._order.under(tuple(op.namespace_prefix)):
            stored = self._read(key)
            if stored is None:
                continue
            if omit and self._expiry.expired(key, now):
                continue
            if not matches_filter(stored.value, op.filter):
                continue
            stored_by_key[key] = stored
            candidates.append((key, index.vectors(key) if index is not None else []))
        query_vector = queries.get(op.query) if op.query else None
        scored: list[tuple[float | None, _Key]]
        if index is not None and query_vector is not None and candidates:
            scored = index.rank(candidates, query_vector, offset=op.offset, limit=op.limit)
        else:
            scored = [(None, key) for key, _ in candidates[op.offset : op.offset + op.limit]]
        out: list[SearchItem] = []
        for score, found in scored:
            stored = stored_by_key[found]
            self._note_read(writer, found)
            if op.refresh_ttl:
                self._expiry.refresh(found, now)
            out.append(
                SearchItem(
                    namespace=found[0],
                    key=found[1],
                    value=copy_json(stored.value),
                    created_at=stored.created_at,
                    updated_at=stored.updated_at,
                    score=float(score) if score is not None else None,
                )
            )
        return out

    def _list_locked(self, op: ListNamespacesOp, now: float) -> list[Namespace]:
        if omit_expired(self.ttl_config):
            namespaces = [
                ns for ns, keys in self._keys.items()
                if any(not self._expiry.expired((ns, k), now) for k in keys)
            ]  # fmt: skip
        else:
            namespaces = [ns for ns, keys in self._keys.items() if keys]
        return select_namespaces(namespaces, op)

    def _write_locked(
        self,
        namespace: Namespace,
        key: str,
        op: PutOp,
        writer: _Writer,
        now: float,
        outcome: _Outcome,
    ) -> None:
        before = None if self._defer_persist else self._durability.version()
        result: PutResult
        if op.value is None:
            self._keys.setdefault(namespace, {})  # as get: InMemoryStore makes the slot
            self._counts["delete_calls"] += 1
            result = self._core.delete(
                namespace, key, agent=writer.agent, turn=writer.turn, now=now
            )
        else:
            result = self._core.put(
                namespace, key, op.value, agent=writer.agent, turn=writer.turn, now=now, ttl=op.ttl
            )
            self._counts["puts"] += 1
        if result.op_id is None:
            if op.value is not None and self.ttl_config is not None:
                self._expiry.set_ttl((namespace, key), op.ttl, now)
            return
        if writer.agent == ANONYMOUS:
            self._counts["anonymous_writes"] += 1
        for turn in writer.ancestors:
            turn.own_ops.add(result.op_id)
        paths: IndexPaths | None = None
        if op.value is not None and self._index is not None:
            paths = self._index.paths_for(op.index)
        self._key_changed((namespace, key), paths, outcome, exists=op.value is not None)
        if op.value is not None and (op.ttl is not None or self._expiry):
            self._expiry.set_ttl((namespace, key), op.ttl, now)
        # visible to every read of this store before it is appended: an append that
        # fails leaves the write applied, visible, and queued for the next append
        try:
            self._durability.record(before, namespace, key, writer.agent)
        except PersistenceError as exc:
            outcome.not_durable = exc  # see _Outcome
        if result.new_escalations:
            self._collect(result.new_escalations, outcome)

    def _key_changed(
        self, key: _Key, paths: IndexPaths | None, outcome: _Outcome, *, exists: bool = False
    ) -> None:
        """Bring the local indexes up to date after the core changed `key`.

        `exists=True`: the caller knows the key is live (it just put it).
        """
        self._cache.pop(key, None)
        if not exists:
            cached = self._read(key)
            if cached is None:
                self._order.removed(key)  # an emptied namespace keeps its place (InMemoryStore)
                if self._index is not None:
                    self._index.forget(key)
                self._expiry.pop(key, None)
                return
            # another replica's write (or this store's, reopened): the item expires as
            # that write's TTL says, counted from it
            if cached.deadline is None:
                self._expiry.pop(key, None)
            else:
                self._expiry[key] = cached.deadline
        change = self._order.changed(key, self._created_at)
        if paths:
            stored = self._read(key)
            job = SemanticIndex.job(key, change, stored.value, paths) if stored else None
            if job is not None:
                outcome.embed.append(job)

    def _created_at(self, key: _Key) -> datetime:
        cached = self._read(key)
        return _ts(0.0) if cached is None else cached.created_at

    def _collect(self, escalations: list[Escalation], outcome: _Outcome) -> None:
        for esc in escalations:
            if esc.id in self._fired:
                continue
            self._fired[esc.id] = None
            if len(self._fired) > _FIRED_MEMORY:
                self._fired.popitem(last=False)
            self._counts["escalations"] += 1
            outcome.escalations.append(esc)

    # == imports, pulls, sweeps, resolutions (all under the lock) =======================

    def _absorb(
        self, result: ImportResult, outcome: _Outcome | None = None, *, collect: bool = True
    ) -> _Outcome:
        outcome = outcome if outcome is not None else _Outcome([])
        for namespace, key in result.changed_keys:
            self._key_changed((tuple(namespace), key), self._index_paths or None, outcome)
        if collect:
            self._collect(result.new_escalations, outcome)
        else:
            for esc in result.new_escalations:
                self._fired[esc.id] = None
        return outcome

    def _import_locked(self, blob: bytes) -> tuple[list[_EmbedJob], list[Escalation]]:
        outcome = _Outcome([])
        with self._lock:
            results: list[ImportResult] = []

            def absorb(result: ImportResult) -> None:
                results.append(result)
                self._absorb(result, outcome)

            self._durability.import_(blob, absorb)
            _log_imported("import", results)
            return outcome.embed, outcome.escalations

    def _pull_into(self, outcome: _Outcome) -> None:
        """Import what other replicas appended to the shared log (under the lock)."""
        results: list[ImportResult] = []

        def absorb(result: ImportResult) -> None:
            results.append(result)
            self._absorb(result, outcome)

        self._durability.pull(absorb)
        _log_imported("sync", results)

    def _pull_locked(self) -> tuple[list[_EmbedJob], list[Escalation]]:
        outcome = _Outcome([])
        with self._lock:
            self._pull_into(outcome)
        return outcome.embed, outcome.escalations

    def _maybe_sweep(self, now: float, outcome: _Outcome) -> None:
        """Sweep expired items if the interval has passed (asked when something can
        expire)."""
        if not sweep_due(self.ttl_config, self._expiry.last_sweep, now):
            return
        embed, escalations, _ = self._sweep_locked(now)
        outcome.embed.extend(embed)
        outcome.escalations.extend(escalations)

    def _sweep_locked(
        self, now: float | None = None
    ) -> tuple[list[_EmbedJob], list[Escalation], int]:
        now = self._clock() if now is None else now
        outcome = _Outcome([])
        count = 0
        for namespace, key in self._expiry.take_expired(now):
            before = self._durability.version()
            result = self._core.delete(namespace, key, agent=TTL_AGENT, turn=None, now=now)
            self._key_changed((namespace, key), None, outcome)
            if result.op_id is not None:
                count += 1
                self._durability.record(before, namespace, key, TTL_AGENT)
            self._collect(result.new_escalations, outcome)
        self._counts["ttl_expired"] += count
        return outcome.embed, outcome.escalations, count

    def _resolve_locked(
        self, escalation: Escalation, value: Any, agent: str
    ) -> tuple[list[_EmbedJob], list[Escalation]]:
        outcome = _Outcome([])
        # one rebuilt from JSON (a review queue) holds lists where the core reads tuples
        escalation = replace(
            escalation,
            namespace=tuple(escalation.namespace),
            contenders=tuple(escalation.contenders),
            path=tuple(escalation.path),
        )
        with self._lock:
            self._check_current(escalation)
            before = self._durability.version()
            result = self._core.resolve(escalation, value, agent=agent, now=self._clock())
            if result.op_id is not None:
                self._key_changed(
                    (escalation.namespace, escalation.key), self._index_paths or None, outcome
                )
                self._durability.record(before, escalation.namespace, escalation.key, agent)
            self._collect(result.new_escalations, outcome)
        return outcome.embed, outcome.escalations

    def _check_current(self, escalation: Escalation) -> None:
        """Raise StaleEscalationError unless `escalation`'s contenders are exactly the open
        ones for its field (under the lock): a resolution settles what its caller saw."""
        path = _field_path(escalation)
        current = tuple(
            e
            for e in self._core.escalations(escalation.namespace)
            if e.namespace == escalation.namespace
            and e.key == escalation.key
            and _field_path(e) == path
        )
        wanted = {c.op_id for c in escalation.contenders}
        if any({c.op_id for c in e.contenders} == wanted for e in current):
            return
        where = f"{escalation.field!r} of {escalation.key!r} in {escalation.namespace!r}"
        if current:
            now = "; ".join(
                "["
                + ", ".join(f"{c.agent_id} ({c.op_id}): {c.value!r}" for c in e.contenders)
                + "]"
                for e in current
            )
            state = f"its open conflict now has the contenders {now}"
        elif self._core.get(escalation.namespace, escalation.key) is None:
            state = "the key has been deleted since"
        else:
            state = "it is no longer in conflict (overwritten or resolved since)"
        raise StaleEscalationError(
            f"stale escalation for {where}: {state}; nothing was written "
            "(resolve one of store.escalations() instead)",
            escalation,
            current,
        )

    def _still_open(self, escalation: Escalation) -> bool:
        with self._lock:
            return any(e.id == escalation.id for e in self._core.escalations(escalation.namespace))

    def _resolvable(self, escalation: Escalation) -> bool:
        if self._resolver is None or not self._still_open(escalation):
            return False
        if all(c.agent_id.startswith("resolver:") for c in escalation.contenders):
            # Two replicas' resolvers disagreed: deciding again could loop forever.
            log.warning(
                "resolver skipped",
                reason="every contender is a resolver decision",
                namespace=escalation.namespace,
                key=escalation.key,
                field=escalation.field,
            )
            return False
        return True

    # == after the lock: callbacks and the resolver =====================================

    def _settle(self, escalations: list[Escalation]) -> None:
        """Fire callbacks, then let the resolver decide each new conflict (sync API)."""
        self._settle_callbacks_only(escalations)
        for esc in escalations:
            if not self._resolvable(esc):
                continue
            self._counts_add("resolver_calls")
            try:
                value = self._call_resolver_sync(esc)
            except Exception as exc:
                self._resolver_failed(esc, exc)
                continue
            self._apply_decision(esc, value)

    async def _asettle(self, escalations: list[Escalation]) -> None:
        """Fire callbacks, then let the resolver decide each new conflict (async API)."""
        for esc in escalations:
            for callback in list(self._callbacks):
                try:
                    result = callback(esc)
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    self._callback_failed(callback, esc, exc)
        for esc in escalations:
            if not self._resolvable(esc):
                continue
            self._counts_add("resolver_calls")
            try:
                value = await self._call_resolver_async(esc)
            except Exception as exc:
                self._resolver_failed(esc, exc)
                continue
            await self._aapply_decision(esc, value)

    def _call_resolver_sync(self, esc: Escalation) -> Any:
        resolver = self._resolver
        assert resolver is not None
        result = resolver(esc)
        if inspect.isawaitable(result):
            return _run_blocking(result, self._resolver_timeout)
        return result

    async def _call_resolver_async(self, esc: Escalation) -> Any:
        resolver = self._resolver
        assert resolver is not None
        aresolve = getattr(resolver, "aresolve", None)
        with anyio.fail_after(self._resolver_timeout):
            if callable(aresolve):
                return await aresolve(esc)
            if inspect.iscoroutinefunction(resolver) or inspect.iscoroutinefunction(
                getattr(resolver, "__call__", None)  # noqa: B004
            ):
                return await resolver(esc)  # type: ignore[misc]
            # A sync resolver may block (an HTTP call): run it off the event loop.
            result = await anyio.to_thread.run_sync(resolver, esc, abandon_on_cancel=True)
            if inspect.isawaitable(result):
                return await result
            return result

    def _apply_decision(self, esc: Escalation, value: Any) -> None:
        try:
            embed, escalations = self._resolve_locked(esc, value, f"resolver:{self._resolver_name}")
        except StaleEscalationError as exc:
            self._decision_stale(exc)
            return
        except Exception as exc:
            self._resolver_failed(esc, exc)
            return
        self._embed_written(embed)
        self._settle_callbacks_only(escalations)

    async def _aapply_decision(self, esc: Escalation, value: Any) -> None:
        try:
            embed, escalations = self._resolve_locked(esc, value, f"resolver:{self._resolver_name}")
        except StaleEscalationError as exc:
            self._decision_stale(exc)
            return
        except Exception as exc:
            self._resolver_failed(esc, exc)
            return
        await self._aembed_written(embed)
        for new in escalations:
            for callback in list(self._callbacks):
                try:
                    result = callback(new)
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    self._callback_failed(callback, new, exc)

    def _settle_callbacks_only(self, escalations: list[Escalation]) -> None:
        for new in escalations:
            for callback in list(self._callbacks):
                try:
                    result = callback(new)
                    if inspect.isawaitable(result):
                        _run_blocking(result, None)
                except Exception as exc:
                    self._callback_failed(callback, new, exc)

    def _counts_add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _resolver_failed(self, esc: Escalation, exc: Exception) -> None:
        self._counts_add("resolver_failures")
        reason = "timed out" if isinstance(exc, TimeoutError) else repr(exc)
        log.warning(
            "resolver failed",
            resolver=self._resolver_name,
            reason=reason,
            namespace=esc.namespace,
            key=esc.key,
            field=esc.field,
            escalation=esc.id,
            outcome="escalation stays open",
        )

    def _decision_stale(self, exc: StaleEscalationError) -> None:
        # the conflict changed while the resolver decided (a new contender joined, or it
        # was settled): the newer escalation gets its own decision
        esc = exc.escalation
        log.info(
            "resolver decision discarded",
            reason=str(exc),
            namespace=esc.namespace,
            key=esc.key,
            field=esc.field,
        )

    def _callback_failed(self, callback: object, esc: Escalation, exc: Exception) -> None:
        self._counts_add("callback_failures")
        log.warning(
            "escalation callback failed",
            callback=_callable_name(callback),
            error=repr(exc),
            namespace=esc.namespace,
            key=esc.key,
            field=esc.field,
        )


def _field_path(escalation: Escalation) -> tuple[str, ...]:
    return escalation.path or tuple(escalation.field.split("."))


def _log_imported(source: str, results: list[ImportResult]) -> None:
    """One summary event per open, import or sync, however many log rows it read."""
    writes = sum(len(result.new_ops) for result in results)
    if writes and log.debug_enabled():
        keys = {(tuple(ns), key) for result in results for ns, key in result.changed_keys}
        log.debug("updates imported", source=source, writes=writes, keys=len(keys))


def _run_blocking(awaitable: Awaitable[T], timeout: float | None) -> T:
    """Run an awaitable to completion from sync code, on a private event loop.

    In a thread that is already running an event loop, the private loop gets a thread of
    its own (blocking here is what a sync API means). TimeoutError past `timeout`.
    """

    async def runner() -> T:
        if timeout is None:
            return await awaitable
        with anyio.fail_after(timeout):
            return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(runner)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="agentsync-await") as pool:
        return pool.submit(anyio.run, runner).result()


class SyncedStore(_StoreBase):
    """A LangGraph store whose concurrent writes merge instead of overwriting.

    Drop-in for `InMemoryStore`: `builder.compile(store=SyncedStore())`. Both the sync
    methods (`put`, `get`, ...) and the async ones (`aput`, ...) merge. Concurrent writes
    to a field merge by kind (SPEC 3); two different scalars written concurrently become
    an `Escalation` (`store.escalations()`, `store.on_escalation(cb)`), and the field
    reads back as `"<escalated:FIELD>"` until resolved. Thread-safe.

    Keyword arguments: `index` (semantic search, as InMemoryStore), `ttl` (TTLConfig, as
    the SQL stores), `schema` (declared field kinds), `resolver` (sync or async callable
    deciding escalations), `conflict_value` ("placeholder" or "provisional"), `path`
    (durable SQLite log) or `dsn` (shared PostgreSQL log), `peer_id`; `resolver_timeout`
    (seconds an async resolver may take, default 60) and `clock` (wall-clock seconds for
    timestamps and TTL; tests pass a fake one).
    """

    def sweep_ttl(self) -> int:
        """Delete every item whose TTL has passed; returns how many were deleted.

        A sweep is an ordinary delete by agent "ttl-sweeper" (so it replicates): it
        removes what this replica had when it ran; a concurrent write elsewhere survives.
        """
        embed, escalations, count = self._sweep_now()
        self._embed_written(embed)
        self._settle(escalations)
        return count

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep periodically in a daemon thread (like SqliteStore). Cancel the returned
        future or call `stop_ttl_sweeper` to stop it."""
        if not self.ttl_config:
            return no_sweeper()
        interval = sweep_interval_seconds(self.ttl_config, sweep_interval_minutes)
        return self._thread_sweeper.start(self.sweep_ttl, interval)

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; False if it did not stop within `timeout` seconds."""
        return self._thread_sweeper.stop(timeout)

    @property
    def _thread_sweeper(self) -> ThreadSweeper:
        assert isinstance(self._sweeper, ThreadSweeper)
        return self._sweeper


class AsyncSyncedStore(_StoreBase):
    """`SyncedStore` for async graphs (`await graph.ainvoke(...)`).

    Same semantics and the same constructor. Its async path awaits async embeddings,
    resolvers and escalation callbacks on the caller's event loop, and moves durable
    appends off the loop; `async with AsyncSyncedStore(...) as store:` closes it.
    """

    def _new_sweeper(self) -> ThreadSweeper | TaskSweeper:
        return TaskSweeper()

    @property
    def _task_sweeper(self) -> TaskSweeper:
        assert isinstance(self._sweeper, TaskSweeper)
        return self._sweeper

    async def sweep_ttl(self) -> int:
        """Delete every item whose TTL has passed; returns how many were deleted.

        A coroutine, as on AsyncSqliteStore and AsyncPostgresStore; otherwise as
        `SyncedStore.sweep_ttl`.
        """
        embed, escalations, count = await self._off_loop(self._sweep_now)
        await self._aembed_written(embed)
        await self._asettle(escalations)
        return count

    async def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> asyncio.Task[None]:
        """Sweep periodically in a task of the running loop (as AsyncSqliteStore). Cancel
        the returned task or await `stop_ttl_sweeper` to stop it."""
        if not self.ttl_config:
            return asyncio.get_running_loop().create_task(asyncio.sleep(0))
        interval = sweep_interval_seconds(self.ttl_config, sweep_interval_minutes)
        return await self._task_sweeper.start(self.sweep_ttl, interval)

    # `timeout=` is AsyncSqliteStore's and AsyncPostgresStore's signature
    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Stop the sweeper task; False if it did not stop within `timeout` seconds."""
        return await self._task_sweeper.stop(timeout)

    async def aclose(self) -> None:
        await self._task_sweeper.stop()
        await super().aclose()
