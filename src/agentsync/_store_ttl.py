"""TTL for the stores: deadlines of live keys, when a sweep is due, and the sweepers.

Semantics follow LangGraph's SQL stores (`TTLConfig`): TTLs are in minutes; a put's TTL
replaces the key's (None: no expiry; unset: `default_ttl`); a read refreshes the TTL when
`refresh_ttl` is True or, unset, when `refresh_on_read` (default True) is; with
`omit_expired` an expired item is hidden before it is swept; otherwise it stays readable
until a sweep deletes it. A sweep is an ordinary delete by agent "ttl-sweeper" (the store
does it, so it replicates).

Sweeps happen on demand (`sweep_ttl`), on the next store call once `sweep_interval_minutes`
has passed, and in a sweeper: a daemon thread for `SyncedStore` (as SqliteStore and
PostgresStore run theirs) and an asyncio task for `AsyncSyncedStore`, whose TTL methods are
coroutines as on AsyncSqliteStore and AsyncPostgresStore. The sweeper outlives the call
that starts it (that is the API), so it is a task of the caller's loop, not of a task group.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Awaitable, Callable
from typing import Final, TypeAlias

import structlog
from langgraph.store.base import TTLConfig

from ._types import Namespace

__all__ = [
    "DEFAULT_SWEEP_INTERVAL_MINUTES",
    "Deadlines",
    "TaskSweeper",
    "ThreadSweeper",
    "omit_expired",
    "refresh_on_read",
    "sweep_due",
    "sweep_interval_seconds",
]

log = structlog.get_logger(__name__)

Key: TypeAlias = tuple[Namespace, str]

DEFAULT_SWEEP_INTERVAL_MINUTES: Final = 5.0
"""As LangGraph's SQL stores, when neither the call nor the config gives an interval."""


class Deadlines(dict[Key, tuple[float, float]]):
    """key → (when it expires, its TTL in minutes), for live keys that expire.

    A dict, so "can anything expire?" is a plain truth test on the store's hot paths.
    """

    __slots__ = ("last_sweep",)

    def __init__(self, now: float) -> None:
        super().__init__()
        self.last_sweep = now

    def set_ttl(self, key: Key, ttl_minutes: float | None, now: float) -> None:
        """A put's TTL replaces the key's (None: it no longer expires)."""
        if ttl_minutes is None:
            self.pop(key, None)
        else:
            minutes = float(ttl_minutes)
            self[key] = (now + minutes * 60.0, minutes)

    def expired(self, key: Key, now: float) -> bool:
        deadline = self.get(key)
        return deadline is not None and deadline[0] <= now

    def refresh(self, key: Key, now: float) -> None:
        deadline = self.get(key)
        if deadline is not None:
            self[key] = (now + deadline[1] * 60.0, deadline[1])

    def take_expired(self, now: float) -> list[Key]:
        """Forget and return (sorted) every key expired at `now`; a sweep starts here."""
        self.last_sweep = now
        expired = sorted(key for key, (deadline, _) in self.items() if deadline <= now)
        for key in expired:
            del self[key]
        return expired


def refresh_on_read(config: TTLConfig | None, refresh_ttl: bool | None) -> bool:
    """Whether a read refreshes TTLs: the call's `refresh_ttl`, else the config's."""
    if refresh_ttl is not None:
        return refresh_ttl
    if config is not None:
        return bool(config.get("refresh_on_read", True))
    return True


def omit_expired(config: TTLConfig | None) -> bool:
    return bool(config and config.get("omit_expired", False))


def sweep_due(config: TTLConfig | None, last_sweep: float, now: float) -> bool:
    """Whether `sweep_interval_minutes` has passed since the last sweep."""
    if not config:
        return False
    interval = config.get("sweep_interval_minutes")
    return bool(interval) and now - last_sweep >= float(interval or 0) * 60.0


def sweep_interval_seconds(config: TTLConfig, minutes: float | None) -> float:
    chosen = minutes or config.get("sweep_interval_minutes") or DEFAULT_SWEEP_INTERVAL_MINUTES
    return float(chosen) * 60.0


# -- sweepers ----------------------------------------------------------------------------


class ThreadSweeper:
    """Calls `sweep()` every interval in a daemon thread until stopped."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(
        self, sweep: Callable[[], int], interval_seconds: float
    ) -> concurrent.futures.Future[None]:
        """The returned future finishes when the sweeper stops; cancelling it stops it."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        future.add_done_callback(functools.partial(_stop_if_cancelled, self._stop))
        if self.running:
            return future
        self._stop.clear()
        self._thread = threading.Thread(
            target=_sweep_until_stopped,
            args=(sweep, self._stop, interval_seconds, future),
            name="agentsync-ttl-sweeper",
            daemon=True,
        )
        self._thread.start()
        return future

    def stop(self, timeout: float | None = None) -> bool:
        """False if the thread did not stop within `timeout` seconds."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._thread = None
            return True
        self._stop.set()
        if thread is not threading.current_thread():  # a sweep closing its own store
            thread.join(timeout)
        if thread.is_alive():
            return False
        self._thread = None
        return True

    def halt(self) -> None:
        """Stop, waiting for a sweep in progress (the store is closing)."""
        self.stop(None)


def _sweep_until_stopped(
    sweep: Callable[[], int],
    stop: threading.Event,
    interval: float,
    future: concurrent.futures.Future[None],
) -> None:
    try:
        while not stop.wait(interval):
            try:
                sweep()
            except Exception as exc:
                log.error("ttl sweep failed", error=repr(exc))
    finally:
        if not future.done():
            future.set_result(None)


def _stop_if_cancelled(stop: threading.Event, future: concurrent.futures.Future[None]) -> None:
    if future.cancelled():
        stop.set()


class TaskSweeper:
    """Awaits `sweep()` every interval in an asyncio task of the caller's loop."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    async def start(
        self, sweep: Callable[[], Awaitable[int]], interval_seconds: float
    ) -> asyncio.Task[None]:
        """The running task (the existing one if already started); cancel it to stop."""
        if self._task is not None and not self._task.done():
            return self._task
        stop = self._stop = asyncio.Event()

        async def sweep_until_stopped() -> None:
            while True:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
                    return
                except TimeoutError:
                    pass
                try:
                    await sweep()
                except Exception as exc:
                    log.error("ttl sweep failed", error=repr(exc))

        self._task = asyncio.get_running_loop().create_task(
            sweep_until_stopped(), name="agentsync-ttl-sweeper"
        )
        return self._task

    async def stop(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (the API's)
        """False if the task did not stop within `timeout` seconds."""
        task = self._task
        if task is None or task.done():
            self._task = None
            return True
        if task.get_loop() is not asyncio.get_running_loop():
            self.halt()  # another loop's task: it can only be told to stop
            return True
        assert self._stop is not None
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            return False
        self._task = None
        return True

    def halt(self) -> None:
        """Cancel the task from any thread (the store is closing)."""
        task = self._task
        self._task = None
        if task is not None and not task.done():
            loop = task.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)


def no_sweeper() -> concurrent.futures.Future[None]:
    """What starting a sweeper returns on a store without TTL: already finished."""
    future: concurrent.futures.Future[None] = concurrent.futures.Future()
    future.set_result(None)
    return future
