"""What LangGraph's store suites import, pointed at agentsync's stores.

Upstream's tests build their stores with `SqliteStore.from_conn_string(...)`,
`AsyncSqliteStore.from_conn_string(...)`, `PostgresStore.from_conn_string(...)` and
`AsyncPostgresStore.from_conn_string(...)`, then call `setup()`. The stand-ins below keep
those spellings and build `SyncedStore`/`AsyncSyncedStore` instead: `":memory:"` is an
in-memory store, any other SQLite connection string the durable SQLite log at that path,
and a PostgreSQL connection string the shared PostgreSQL log (`dsn=`). `setup()` has no
schema to migrate (agentsync creates its tables on open), so it does nothing.

Every store gets the test's `FakeClock` (see conftest.py): upstream waits out TTLs with
`time.sleep`/`asyncio.sleep`, which here advance that clock instead of the wall clock.

`CharacterEmbeddings` is upstream's fake embedding model, copied unchanged from
libs/checkpoint-postgres/tests/embed_test_utils.py at langgraph commit
f09cfe8ffc1eeffd68f4b628ed69c30f7cad229f (MIT License, Copyright (c) 2024 LangChain, Inc.;
the full notice is in README.md here).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from langchain_core.embeddings import Embeddings

from agentsync import AsyncSyncedStore, SyncedStore

__all__ = [
    "CLOCK",
    "POSTGRES",
    "VECTOR_TYPES",
    "AsyncPostgresStore",
    "AsyncSqliteStore",
    "CharacterEmbeddings",
    "FakeAsyncioModule",
    "FakeClock",
    "FakeTimeModule",
    "PostgresStore",
    "SqliteStore",
    "postgres_database",
]

VECTOR_TYPES = ["vector", "halfvec"]
"""pgvector storage types upstream parametrizes over (accepted and ignored here)."""


class FakeClock:
    """Wall-clock seconds that move when a test sleeps, and by a tick on every reading.

    The tick (10 µs) keeps the clock moving forward as a real one does between two
    statements: upstream asserts that an update's `updated_at` is later than the put's,
    and that a read refreshing a TTL pushes the deadline later.
    """

    TICK = 1e-5

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += self.TICK
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CLOCK = FakeClock()
"""The clock stores get; conftest.py's `fake_time` fixture replaces it for every test."""


class FakeTimeModule:
    """`time` for the copied test modules: `sleep` advances the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.advance(seconds)

    def time(self) -> float:
        return self._clock()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class FakeAsyncioModule:
    """`asyncio` for the copied test modules: `sleep` advances the fake clock (and yields)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self._clock.advance(delay)
        await asyncio.sleep(0)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


class _Store(SyncedStore):
    def setup(self) -> None:
        """Nothing to migrate: agentsync creates its log table when it opens."""


class _AsyncStore(AsyncSyncedStore):
    async def setup(self) -> None:
        """Nothing to migrate: agentsync creates its log table when it opens."""


def _sqlite_path(conn_string: str) -> str | None:
    return None if conn_string == ":memory:" else conn_string


class SqliteStore:
    """`SqliteStore.from_conn_string`, building a `SyncedStore`."""

    @staticmethod
    @contextmanager
    def from_conn_string(
        conn_string: str, *, index: Any = None, ttl: Any = None
    ) -> Iterator[_Store]:
        with _Store(path=_sqlite_path(conn_string), index=index, ttl=ttl, clock=CLOCK) as store:
            yield store


class AsyncSqliteStore:
    """`AsyncSqliteStore.from_conn_string`, building an `AsyncSyncedStore`."""

    @staticmethod
    @asynccontextmanager
    async def from_conn_string(
        conn_string: str, *, index: Any = None, ttl: Any = None
    ) -> AsyncIterator[_AsyncStore]:
        store = _AsyncStore(path=_sqlite_path(conn_string), index=index, ttl=ttl, clock=CLOCK)
        async with store:
            yield store


class PostgresStore:
    """`PostgresStore.from_conn_string`, building a `SyncedStore` on the PostgreSQL log.

    `pipeline=` and `pool_config=` tune psycopg connections that agentsync does not have;
    they are accepted and ignored.
    """

    @staticmethod
    @contextmanager
    def from_conn_string(
        conn_string: str,
        *,
        index: Any = None,
        ttl: Any = None,
        pipeline: bool = False,
        pool_config: Any = None,
    ) -> Iterator[_Store]:
        with _Store(dsn=conn_string, index=index, ttl=ttl, clock=CLOCK) as store:
            yield store


class AsyncPostgresStore:
    """`AsyncPostgresStore.from_conn_string`, building an `AsyncSyncedStore`."""

    @staticmethod
    @asynccontextmanager
    async def from_conn_string(
        conn_string: str,
        *,
        index: Any = None,
        ttl: Any = None,
        pipeline: bool = False,
        pool_config: Any = None,
    ) -> AsyncIterator[_AsyncStore]:
        store = _AsyncStore(dsn=conn_string, index=index, ttl=ttl, clock=CLOCK)
        async with store:
            yield store


# -- upstream's fake embeddings (MIT, see the module docstring) --------------------------


class CharacterEmbeddings(Embeddings):  # noqa: PLW1641 (upstream defines __eq__ only)
    """Simple character-frequency based embeddings using random projections."""

    def __init__(self, dims: int = 50, seed: int = 42):
        """Initialize with embedding dimensions and random seed."""
        self._rng = random.Random(seed)
        self.dims = dims
        # Create projection vector for each character lazily
        self._char_projections: defaultdict[str, list[float]] = defaultdict(
            lambda: [self._rng.gauss(0, 1 / math.sqrt(self.dims)) for _ in range(self.dims)]
        )

    def _embed_one(self, text: str) -> list[float]:
        """Embed a single text."""
        counts = Counter(text)
        total = sum(counts.values())

        if total == 0:
            return [0.0] * self.dims

        embedding = [0.0] * self.dims
        for char, count in counts.items():
            weight = count / total
            char_proj = self._char_projections[char]
            for i, proj in enumerate(char_proj):
                embedding[i] += weight * proj

        norm = math.sqrt(sum(x * x for x in embedding))
        if norm > 0:
            embedding = [x / norm for x in embedding]

        return embedding

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of documents."""
        return [self._embed_one(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed a query string."""
        return self._embed_one(text)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, CharacterEmbeddings) and self.dims == other.dims


# -- PostgreSQL --------------------------------------------------------------------------

POSTGRES: Any = None
"""This repo's throwaway PostgreSQL server (tests/conftest.py's `postgres_server`); the
PostgreSQL suites' autouse fixture sets it."""


def postgres_database() -> str:
    """The DSN of a fresh database, where upstream creates `test_<uuid>` on its server."""
    if POSTGRES is None:
        raise RuntimeError("a PostgreSQL suite's `_postgres` fixture did not run")
    dsn: str = POSTGRES.create_database()
    return dsn
