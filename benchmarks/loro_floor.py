"""Where a SyncedStore put's time goes, and how much of it is Loro's own work: the floor
under issue 7's target 1.

    .venv/bin/python benchmarks/loro_floor.py [--history 10000] [--window 200] [--rounds 7]

Runs store_bench's workload (one key rewritten `--history` times with a 4-field value)
with the store's Loro document behind a recorder, then replays the exact Loro calls of
the later puts (text edits, map inserts, commits, version reads: the same methods,
arguments and order) on a fresh document brought to the same state, with nothing of
agentsync around them; the replay loop's own cost (the same calls to a no-op) is
subtracted. Next to it, at the same history: InMemoryStore.put, SyncedStore.put and the
bare Core.put (the difference is the store layer above the core), and building the value.
Every figure is the median of `--rounds` windows, taken in turn so that load on the
machine drifts over all of them alike. Prints the split and what a put within 5x of
InMemoryStore would leave agentsync's bookkeeping. A benchmark, not a test: it prints what
it measured.
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import loro
import structlog
from langgraph.store.memory import InMemoryStore
from store_bench import NS, value

from agentsync import _accel
from agentsync._context import ANONYMOUS
from agentsync._core import Core
from agentsync._store import SyncedStore

# (handle, method or property name, args, kwargs, is a property)
Call = tuple[int, str, tuple[Any, ...], dict[str, Any], bool]
T = TypeVar("T")
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


Step = tuple[Callable[..., Any], tuple[Any, ...]]


def replay_windows(book: Book, peer: int, start: int, window: int) -> list[list[list[Step]]]:
    """The recorded writes from `start` on, in windows of `window` writes, each write as
    the Loro calls to replay (callable, args) on a fresh document that is first brought to
    the state the store's was in before `start`."""
    doc = loro.LoroDoc()
    doc.peer_id = peer
    handles: list[Any] = []
    for origin in book.origins:
        if origin is None:
            handles.append(doc)
        else:
            parent, name, args = origin
            handles.append(getattr(handles[parent], name)(*args))

    def compile_write(calls: list[Call]) -> list[Step]:
        out: list[Step] = []
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
    replay([compile_write(calls) for calls in writes[:start]])
    later = [compile_write(calls) for calls in writes[start:]]
    return [later[i : i + window] for i in range(0, len(later), window)]


def replay(writes: list[list[Step]]) -> None:
    for steps in writes:
        run_steps(steps)


def run_steps(steps: list[Step]) -> None:
    for fn, args in steps:
        fn(*args)


def _noop(*args: Any) -> None:
    return None


def timed(fn: Callable[[T], object], items: Sequence[T]) -> float:
    """Microseconds per `fn(item)` over `items`, with the collector off."""
    gc.disable()
    start = time.perf_counter()
    for item in items:
        fn(item)
    elapsed = time.perf_counter() - start
    gc.enable()
    return elapsed / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"agentsync build: {_accel.build_name()}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    history, window, rounds = args.history, args.window, args.rounds
    total = history + window * rounds

    # the store's Loro calls, recorded while the store writes the whole run
    book = Book()
    recorded = SyncedStore()
    core: Any = recorded._core
    core._doc = book.wrap(core._doc, origin=None)
    core._dir = core._doc.get_map("dir")
    for i in range(total):
        book.writes.append([])
        recorded.put(NS, "memory", value(i))
    windows = replay_windows(book, core.peer_id, history, window)
    calls = len(windows[0][0])
    # the replay loop's own cost: the same loop calling a no-op
    noops = [[[(_noop, args) for _, args in steps] for steps in w] for w in windows]

    # every layer at the same history, measured window by window in turn so that the
    # machine's load drifts over all of them alike
    memory, synced, bare = InMemoryStore(), SyncedStore(), Core()
    layers: dict[str, Callable[[int], object]] = {
        "memory": lambda i: memory.put(NS, "memory", value(i)),
        "store": lambda i: synced.put(NS, "memory", value(i)),
        "core": lambda i: bare.put(
            NS, "memory", value(i), agent=ANONYMOUS, turn=None, now=time.time()
        ),
        "values": value,  # building the value each put is given (in every figure above)
    }
    for put in layers.values():
        for i in range(history):
            put(i)
    samples: dict[str, list[float]] = {name: [] for name in (*layers, "loro", "loop")}
    for r in range(rounds):
        begin = history + r * window
        for name, put in layers.items():
            samples[name].append(timed(put, range(begin, begin + window)))
        samples["loro"].append(timed(run_steps, windows[r]))
        samples["loop"].append(timed(run_steps, noops[r]))
    us = {name: statistics.median(values) for name, values in samples.items()}
    base = us["memory"]
    loro_us = us["loro"] - us["loop"]
    layer_us = us["store"] - us["core"]
    rest_us = us["core"] - loro_us - us["values"]
    budget = 5 * base
    print(f"put at history {history}: median of {rounds} interleaved {window}-put windows")
    print(f"  SyncedStore.put              {us['store']:7.2f} us  {us['store'] / base:5.1f}x")
    print(f"    store layer above the core {layer_us:7.2f} us  {layer_us / base:5.1f}x")
    print(f"    Core.put                   {us['core']:7.2f} us  {us['core'] / base:5.1f}x")
    print(f"      Loro's {calls} calls, replayed {loro_us:7.2f} us  {loro_us / base:5.1f}x")
    print(f"      building the value       {us['values']:7.2f} us  {us['values'] / base:5.1f}x")
    print(f"      agentsync bookkeeping    {rest_us:7.2f} us  {rest_us / base:5.1f}x")
    print(f"  InMemoryStore.put            {base:7.2f} us   1.0x")
    left = budget - loro_us - layer_us - us["values"]
    print(
        f"at 5x ({budget:.2f} us) the bookkeeping would have {left:.2f} us, "
        f"{left / rest_us:.0%} of what it takes now"
    )


if __name__ == "__main__":
    main()
