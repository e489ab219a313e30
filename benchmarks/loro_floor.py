"""How much of a SyncedStore put is Loro's own work: the floor under issue 7's target 1.

    .venv/bin/python benchmarks/loro_floor.py [--history 10000] [--window 200]

Runs store_bench's workload (one key rewritten `--history` times with a 4-field value)
with the store's Loro document behind a recorder, then replays the exact Loro calls of
the last `--window` puts (text edits, map inserts, commits, version reads: the same
methods, arguments and order) on a fresh document in the same state, with nothing of
agentsync around them. The replay loop's own cost (the same calls to a no-op) is
subtracted. Prints the put through the store, the replayed Loro calls and InMemoryStore's
put, and their ratios. A benchmark, not a test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

import loro
import structlog
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from store_bench import NS, per_call, value

from agentsync import _accel
from agentsync._store import SyncedStore

# (handle, method or property name, args, kwargs, is a property)
Call = tuple[int, str, tuple[Any, ...], dict[str, Any], bool]
_LORO_TYPES = (loro.LoroDoc, loro.LoroMap, loro.LoroText)


class Recorder:
    """Stands in for a Loro document or container; logs every call made through it."""

    def __init__(self, target: Any, handle: int, book: Book) -> None:
        self._target = target
        self._handle = handle
        self._book = book

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        book = self._book
        if not callable(attr):
            book.log(self._handle, name, (), {}, prop=True)
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            book.log(self._handle, name, args, kwargs, prop=False)
            result = attr(*args, **kwargs)
            if isinstance(result, _LORO_TYPES):
                return book.wrap(result, origin=(self._handle, name, args))
            return result

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._target, name, value)


class Book:
    def __init__(self) -> None:
        self.origins: list[tuple[int, str, tuple[Any, ...]] | None] = []
        self.writes: list[list[Call]] = []
        self.recording = False

    def wrap(self, target: Any, origin: tuple[int, str, tuple[Any, ...]] | None) -> Recorder:
        self.origins.append(origin)
        return Recorder(target, len(self.origins) - 1, self)

    def log(
        self, handle: int, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, prop: bool
    ) -> None:
        if self.writes:
            self.writes[-1].append((handle, name, args, kwargs, prop))


def replay_cost(book: Book, peer: int, window: int) -> tuple[float, int]:
    """Microseconds per write of the last `window` writes' Loro calls, replayed alone."""
    doc = loro.LoroDoc()
    doc.peer_id = peer
    handles: list[Any] = []
    for origin in book.origins:
        if origin is None:
            handles.append(doc)
        else:
            parent, name, args = origin
            handles.append(getattr(handles[parent], name)(*args))

    def compile_write(calls: list[Call]) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
        out: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        for handle, name, args, kwargs, prop in calls:
            target = handles[handle]
            if prop:
                out.append((getattr, (target, name)))
            elif kwargs:
                method = getattr(target, name)
                out.append((lambda m=method, a=args, k=kwargs: m(*a, **k), ()))
            else:
                out.append((getattr(target, name), args))
        return out

    writes = book.writes
    for calls in writes[:-window]:  # the same state as the store's before the window
        for fn, args in compile_write(calls):
            fn(*args)
    measured = [compile_write(calls) for calls in writes[-window:]]
    noop = [[(_noop, args) for _, args in calls] for calls in measured]

    def run(batch: list[list[tuple[Callable[..., Any], tuple[Any, ...]]]]) -> float:
        gc.disable()
        start = time.perf_counter()
        for calls in batch:
            for fn, args in calls:
                fn(*args)
        elapsed = time.perf_counter() - start
        gc.enable()
        return elapsed / len(batch) * 1e6

    overhead = min(run(noop) for _ in range(5))
    cost = run(measured) - overhead
    return cost, sum(len(calls) for calls in measured) // len(measured)


def _noop(*args: Any) -> None:
    return None


def put_cost(store: BaseStore, history: int, window: int) -> float:
    """Microseconds per put at `history` writes (store_bench's measure)."""
    for i in range(history):
        store.put(NS, "memory", value(i))
    return per_call(lambda i: store.put(NS, "memory", value(i)), history, window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    print(f"agentsync build: {_accel.build_name()}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    history, window = args.history, args.window

    book = Book()
    store = SyncedStore()
    core: Any = store._core
    core._doc = book.wrap(core._doc, origin=None)
    core._dir = core._doc.get_map("dir")
    for i in range(history):
        book.writes.append([])
        store.put(NS, "memory", value(i))
    replayed, calls = replay_cost(book, core.peer_id, window)

    synced = put_cost(SyncedStore(), history, window)  # without the recorder
    base = put_cost(InMemoryStore(), history, window)
    print(f"put at history {history}, {window}-put windows ({calls} Loro calls per put)")
    print(f"  SyncedStore.put            {synced:7.2f} us  {synced / base:5.1f}x InMemoryStore")
    print(f"  its Loro calls, replayed   {replayed:7.2f} us  {replayed / base:5.1f}x InMemoryStore")
    print(f"  the rest (agentsync)       {synced - replayed:7.2f} us")
    print(f"  InMemoryStore.put          {base:7.2f} us")


if __name__ == "__main__":
    main()
