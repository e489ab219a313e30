"""Helpers shared by the store tests: store factories, a sync/async API adapter, fakes."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from agentsync._store import AsyncSyncedStore, SyncedStore
from agentsync._store_durability import Durability

StoreFactory = Callable[..., BaseStore]

FACTORIES: dict[str, StoreFactory] = {
    "InMemoryStore": InMemoryStore,
    "SyncedStore": SyncedStore,
    "AsyncSyncedStore": AsyncSyncedStore,
}
SYNCED: dict[str, StoreFactory] = {k: v for k, v in FACTORIES.items() if k != "InMemoryStore"}


class Api:
    """Calls a store through its sync methods or (mode "async") its `a*` twins."""

    def __init__(self, store: BaseStore, mode: str) -> None:
        assert mode in ("sync", "async")
        self.store = store
        self.mode = mode

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return getattr(self.store, name)(*args, **kwargs)
        coro: Coroutine[Any, Any, Any] = getattr(self.store, f"a{name}")(*args, **kwargs)
        return asyncio.run(coro)

    def put(self, *args: Any, **kwargs: Any) -> None:
        self._call("put", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get", *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> None:
        self._call("delete", *args, **kwargs)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("search", *args, **kwargs)

    def list_namespaces(self, **kwargs: Any) -> Any:
        return self._call("list_namespaces", **kwargs)

    def batch(self, ops: Any) -> Any:
        return self._call("batch", ops)


class CharEmbeddings(Embeddings):
    """Deterministic bag-of-characters vectors; counts the texts it was asked to embed."""

    def __init__(self, dims: int = 48) -> None:
        self.dims = dims
        self.documents: list[str] = []
        self.queries: list[str] = []

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.dims
        for ch in text.lower():
            if ch.isalnum():
                vec[ord(ch) % self.dims] += 1.0
        return vec

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents.extend(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self._vector(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


def sync_all(*replicas: Any) -> None:
    """Full anti-entropy between every pair of replicas (a Core, a store, a strategy's
    replica), twice: a write one replica relays to another arrives too."""
    for _ in range(2):
        for source in replicas:
            for target in replicas:
                if source is not target:
                    target.import_updates(source.export_updates(target.version()))


class FakeClock:
    """A wall clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Agents:
    """Agents in separate contexts whose `acting_as` turns all begin up front, so each
    is concurrent with every other's writes (as parallel agents are)."""

    def __init__(self, store: Any, *agents: str) -> None:
        self.store = store
        self._contexts = {agent: contextvars.copy_context() for agent in agents}
        self._blocks = {agent: store.acting_as(agent) for agent in agents}
        for agent, ctx in self._contexts.items():
            ctx.run(self._blocks[agent].__enter__)

    def __call__(self, agent: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._contexts[agent].run(getattr(self.store, method), *args, **kwargs)

    def close(self) -> None:
        for agent, ctx in self._contexts.items():
            ctx.run(self._blocks[agent].__exit__, None, None, None)


class MemoryLog:
    """A durable update log that keeps its appends in memory (none to load, none from
    other replicas): subclass and override `append` to watch or fail appends."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.quarantined: dict[int, str] = {}

    def load(self, apply: Any) -> int:
        return 0

    def append(self, blob: bytes, *, namespace: Any, key: str, agent: str) -> None:
        self.blobs.append(blob)

    def append_many(self, entries: Any) -> None:
        for entry in entries:
            self.append(entry.blob, namespace=entry.namespace, key=entry.key, agent=entry.agent)

    def maybe_compact(self, snapshot: Any) -> bool:
        return False

    def pull(self, apply: Any) -> int:
        return 0

    def queued(self) -> int:
        return 0

    def start_listener(self, wake: Any) -> None:
        return None

    def close(self) -> None:
        return None

    def install(self, store: Any) -> None:
        """Make this the store's durable log (in place of its NullLog)."""
        store._durability = Durability(store._core, self)
