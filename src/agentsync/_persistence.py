"""Durable update logs: SPEC section 7.

A replica persists the Loro update blobs it produces (and the ones it imports, if the
caller wants them durable) in an append-only log, and rebuilds itself at startup by
importing `load()` in order. Two backends:

- `SqliteLog`, the embedded default: one file, one writing process (enforced with an
  exclusive lock), WAL with a synchronous commit per append so an acknowledged append
  survives SIGKILL; periodic compaction into one snapshot keeps reopening fast.
- `PostgresLog`: an append-only table shared by every replica. Replicas catch up by
  reading rows other replicas committed since their last read; `LISTEN/NOTIFY` is only a
  wake-up. While the server is unreachable, appends queue in memory and are flushed, in
  order, as soon as it answers again.

Every method is thread-safe (the sync store calls them from LangGraph's thread pool). The
async store calls the same objects through `anyio.to_thread.run_sync`: the work is
blocking I/O, and a thread keeps a cancelled caller from abandoning a half-done commit.

Contract with the caller (the store):
- apply a write to the Core *before* appending its blob, and import what `fetch_new`
  returns before the next `maybe_compact`: the snapshot callable must include every blob
  appended or fetched before `maybe_compact` was called;
- imports are idempotent, so a blob may be returned more than once (after a reconnect
  whose commit acknowledgement was lost, a queued blob can be written twice).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, Self, TypeVar

from ._errors import PersistenceError
from ._logging import get_logger
from ._types import Namespace

if TYPE_CHECKING:
    import psycopg

    _Conn = psycopg.Connection[tuple[Any, ...]]

__all__ = [
    "LogEntry",
    "UpdateLog",
    "NullLog",
    "SqliteLog",
    "PostgresLog",
    "open_log",
    "DEFAULT_COMPACT_EVERY",
]

logger = get_logger(__name__)

DEFAULT_COMPACT_EVERY = 1000
"""Appends between two snapshots. Reopening costs one snapshot import plus at most this
many update imports, however long the history."""

Synchronous = Literal["full", "normal"]
_T = TypeVar("_T")


class LogEntry(NamedTuple):
    """One update blob and what it was about (kept for provenance and debugging)."""

    blob: bytes
    namespace: Namespace
    key: str
    agent: str


class UpdateLog(Protocol):
    """What a store needs from durable storage. See the module docstring for the contract."""

    def load(self) -> list[bytes]:
        """Blobs to import, in order, to rebuild the state: latest snapshot first."""
        ...

    def append(self, blob: bytes, *, namespace: Namespace, key: str, agent: str) -> None:
        """Durable before it returns; raises PersistenceError if it is not."""
        ...

    def append_many(self, entries: Iterable[LogEntry]) -> None:
        """Several appends committed together: all durable, or (on error) none."""
        ...

    def maybe_compact(self, snapshot: Callable[[], bytes]) -> bool:
        """Every `compact_every` appends, store `snapshot()` in place of the log before it.

        Returns whether it compacted."""
        ...

    def fetch_new(self) -> list[bytes]:
        """Blobs other replicas appended since the previous call (or since `load`)."""
        ...

    def start_listener(self, wake: Callable[[], None]) -> None:
        """Call `wake()` from a background thread when other replicas appended."""
        ...

    def close(self) -> None: ...


def _check_entry(entry: LogEntry) -> LogEntry:
    blob, namespace, key, agent = entry
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise TypeError(f"update blob must be bytes, got {type(blob).__name__}")
    if not isinstance(namespace, tuple) or not all(isinstance(p, str) for p in namespace):
        raise TypeError(f"namespace must be a tuple of str, got {namespace!r}")
    if not isinstance(key, str):
        raise TypeError(f"key must be str, got {type(key).__name__}")
    if not isinstance(agent, str):
        raise TypeError(f"agent must be str, got {type(agent).__name__}")
    return LogEntry(bytes(blob), namespace, key, agent)


class _LogBase:
    """Context-manager support shared by the backends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class NullLog(_LogBase):
    """No durability: the in-memory store's log. Every operation is a cheap no-op."""

    def load(self) -> list[bytes]:
        return []

    def append(self, blob: bytes, *, namespace: Namespace, key: str, agent: str) -> None:
        return None

    def append_many(self, entries: Iterable[LogEntry]) -> None:
        return None

    def maybe_compact(self, snapshot: Callable[[], bytes]) -> bool:
        return False

    def fetch_new(self) -> list[bytes]:
        return []

    def start_listener(self, wake: Callable[[], None]) -> None:
        return None

    def close(self) -> None:
        return None


# -- SQLite ----------------------------------------------------------------------------

_SQLITE_SCHEMA_VERSION = 1
_SQLITE_SCHEMA = (
    # AUTOINCREMENT: a seq is never reused, even after compaction deleted every row;
    # reusing one would hide new rows behind the snapshot's `upto`.
    """CREATE TABLE agentsync_updates (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        agent TEXT NOT NULL,
        created_at REAL NOT NULL,
        update_blob BLOB NOT NULL)""",
    """CREATE TABLE agentsync_snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        upto INTEGER NOT NULL,
        created_at REAL NOT NULL,
        snapshot BLOB NOT NULL)""",
)


class SqliteLog(_LogBase):
    """An embedded single-writer log in one SQLite file (WAL, exclusive lock)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compact_every: int = DEFAULT_COMPACT_EVERY,
        synchronous: Synchronous = "full",
        lock_timeout: float = 1.0,
    ) -> None:
        if compact_every < 1:
            raise ValueError(f"compact_every must be >= 1, got {compact_every}")
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', got {synchronous!r}")
        self.path = Path(path)
        self.compact_every = compact_every
        self._lock = threading.Lock()
        self._compacting = threading.Lock()
        self._closed = False
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=lock_timeout
            )
        except sqlite3.Error as exc:
            raise PersistenceError(f"cannot open SQLite log {self.path}: {exc}") from exc
        try:
            self._setup(synchronous)
        except BaseException:
            self._conn.close()
            raise

    def _setup(self, synchronous: Synchronous) -> None:
        conn = self._conn
        try:
            # Exclusive locking: the first write takes the file lock and keeps it until
            # close, so a second process fails fast instead of silently diverging. The OS
            # drops the lock when a killed process dies.
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise PersistenceError(f"SQLite log {self.path}: cannot enable WAL ({mode})")
            # FULL fsyncs the WAL on every commit (survives power loss); NORMAL survives a
            # killed process but may lose the last commits on an OS crash.
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > _SQLITE_SCHEMA_VERSION:
                    raise PersistenceError(
                        f"SQLite log {self.path} has schema version {version}, newer than "
                        f"this agentsync supports ({_SQLITE_SCHEMA_VERSION}); upgrade agentsync"
                    )
                if version == 0:
                    for statement in _SQLITE_SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={_SQLITE_SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._since_compact = conn.execute(
                "SELECT count(*) FROM agentsync_updates"
                " WHERE seq > (SELECT coalesce(max(upto), 0) FROM agentsync_snapshots)"
            ).fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise PersistenceError(
                    f"SQLite log {self.path} is open in another process or connection; a "
                    "SQLite log has one writer (use dsn= for replicas in several processes)"
                ) from exc
            raise PersistenceError(f"cannot open SQLite log {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise PersistenceError(f"cannot open SQLite log {self.path}: {exc}") from exc

    def _fail(self, action: str, exc: sqlite3.Error) -> PersistenceError:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the original error is what matters
                self._conn.execute("ROLLBACK")
        return PersistenceError(f"SQLite log {self.path}: {action} failed: {exc}")

    def _check_open(self) -> None:
        if self._closed:
            raise PersistenceError(f"SQLite log {self.path} is closed")

    def load(self) -> list[bytes]:
        with self._lock:
            self._check_open()
            try:
                row = self._conn.execute(
                    "SELECT upto, snapshot FROM agentsync_snapshots ORDER BY id DESC LIMIT 1"
                ).fetchone()
                upto = 0 if row is None else row[0]
                blobs = [bytes(row[1])] if row is not None else []
                blobs.extend(
                    bytes(blob)
                    for (blob,) in self._conn.execute(
                        "SELECT update_blob FROM agentsync_updates WHERE seq > ? ORDER BY seq",
                        (upto,),
                    )
                )
            except sqlite3.Error as exc:
                raise self._fail("load", exc) from exc
        return blobs

    def append(self, blob: bytes, *, namespace: Namespace, key: str, agent: str) -> None:
        entry = _check_entry(LogEntry(blob, namespace, key, agent))
        with self._lock:
            self._check_open()
            try:
                self._conn.execute(
                    "INSERT INTO agentsync_updates"
                    " (namespace, key, agent, created_at, update_blob) VALUES (?, ?, ?, ?, ?)",
                    (json.dumps(entry.namespace), entry.key, entry.agent, time.time(), entry.blob),
                )
            except sqlite3.Error as exc:
                raise self._fail("append", exc) from exc
            self._since_compact += 1

    def append_many(self, entries: Iterable[LogEntry]) -> None:
        checked = [_check_entry(LogEntry(*entry)) for entry in entries]
        if not checked:
            return
        now = time.time()
        rows = [(json.dumps(e.namespace), e.key, e.agent, now, e.blob) for e in checked]
        with self._lock:
            self._check_open()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT INTO agentsync_updates"
                    " (namespace, key, agent, created_at, update_blob) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._fail("append_many", exc) from exc
            self._since_compact += len(rows)

    def maybe_compact(self, snapshot: Callable[[], bytes]) -> bool:
        if self._since_compact < self.compact_every:
            return False
        if not self._compacting.acquire(blocking=False):
            return False  # another thread is compacting right now
        try:
            with self._lock:
                self._check_open()
                if self._since_compact < self.compact_every:
                    return False
                try:
                    upto = self._conn.execute(
                        "SELECT coalesce(max(seq), 0) FROM agentsync_updates"
                    ).fetchone()[0]
                except sqlite3.Error as exc:
                    raise self._fail("compaction", exc) from exc
                counted = self._since_compact
            # Outside the lock: the snapshot callable takes the store's lock, and other
            # threads holding that lock may be waiting to append. Rows appended meanwhile
            # have seq > upto and stay in the log.
            blob = snapshot()
            if not isinstance(blob, bytes):
                raise TypeError(f"snapshot() must return bytes, got {type(blob).__name__}")
            with self._lock:
                self._check_open()
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    cur = self._conn.execute(
                        "INSERT INTO agentsync_snapshots (upto, created_at, snapshot)"
                        " VALUES (?, ?, ?)",
                        (upto, time.time(), blob),
                    )
                    self._conn.execute(
                        "DELETE FROM agentsync_snapshots WHERE id < ?", (cur.lastrowid,)
                    )
                    dropped = self._conn.execute(
                        "DELETE FROM agentsync_updates WHERE seq <= ?", (upto,)
                    ).rowcount
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    raise self._fail("compaction", exc) from exc
                self._since_compact -= counted
            logger.debug(
                "log compacted", path=str(self.path), dropped=dropped, snapshot_bytes=len(blob)
            )
            return True
        finally:
            self._compacting.release()

    def fetch_new(self) -> list[bytes]:
        """A SQLite log has one writer: there is never anything new from elsewhere."""
        with self._lock:
            self._check_open()
        return []

    def start_listener(self, wake: Callable[[], None]) -> None:
        """Nothing to listen to: no other replica writes to this file."""
        return None

    def integrity_check(self) -> str:
        """SQLite's own consistency check; `"ok"` when the file is sound."""
        with self._lock:
            self._check_open()
            try:
                return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
            except sqlite3.Error as exc:
                raise self._fail("integrity check", exc) from exc

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                raise PersistenceError(f"SQLite log {self.path}: close failed: {exc}") from exc


# -- PostgreSQL ------------------------------------------------------------------------

_PG_CHANNEL = "agentsync_updates"
_PG_MIGRATION_LOCK = 0x61676E7473796E63  # "agntsync": serializes concurrent first use
_PG_MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            # xid: the writing transaction's id. A reader's snapshot xmin bounds which
            # rows might still become visible, which makes catch-up exact (see fetch_new).
            """CREATE TABLE agentsync_updates (
                seq bigserial PRIMARY KEY,
                namespace text[] NOT NULL,
                key text NOT NULL,
                replica text NOT NULL,
                agent text NOT NULL,
                update_blob bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint))""",
            "CREATE INDEX agentsync_updates_xid ON agentsync_updates (xid)",
            """CREATE TABLE agentsync_snapshots (
                id bigserial PRIMARY KEY,
                replica text NOT NULL,
                covered_xmin bigint NOT NULL,
                own_upto bigint NOT NULL,
                snapshot bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now())""",
        ),
    ),
)
PG_SCHEMA_VERSION = _PG_MIGRATIONS[-1][0]

_XMIN_SQL = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
_INSERT_SQL = (
    "INSERT INTO agentsync_updates (namespace, key, replica, agent, update_blob)"
    " VALUES (%s, %s, %s, %s, %s) RETURNING seq"
)


def _oneline(exc: BaseException) -> str:
    """libpq messages span lines (hints, details); errors and events read better flat."""
    return " ".join(str(exc).split())


def _scalar(conn: _Conn, query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    if row is None:  # every query passed here returns exactly one row
        raise PersistenceError(f"PostgreSQL returned no row for: {query}")
    return row[0]


def _pg_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL. These columns are provenance, not state (the blob
    is), so a lossy stand-in beats a write that can never be flushed."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _default_replica() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _describe_dsn(dsn: str) -> str:
    """host:port/dbname, never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(dsn)
    except Exception:
        return "<unparseable dsn>"
    host = info.get("host") or info.get("hostaddr") or "localhost"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


class PostgresLog(_LogBase):
    """A log shared by replicas through one PostgreSQL table.

    Catch-up is exact rather than heuristic. Sequence numbers are handed out before
    commit, so a row with a lower seq can become visible after a higher one. Every row
    records its transaction id; a read at snapshot S returns the rows whose xid is at
    least the xmin of the previous read's snapshot. Any row that was invisible then
    belonged to a transaction in progress or not yet started, whose xid is >= that xmin,
    so nothing is missed; the overlap re-reads only rows of transactions that might have
    been in flight and is deduplicated by seq.
    """

    def __init__(
        self,
        dsn: str,
        *,
        replica: str | None = None,
        compact_every: int = DEFAULT_COMPACT_EVERY,
        retry_delays: Sequence[float] = (0.1, 0.5, 2.0),
        connect_timeout: float = 5.0,
        listen_backoff: Sequence[float] = (0.05, 0.2, 0.5, 1.0, 2.0),
    ) -> None:
        if compact_every < 1:
            raise ValueError(f"compact_every must be >= 1, got {compact_every}")
        if not listen_backoff:
            raise ValueError("listen_backoff needs at least one delay")
        replica = replica if replica is not None else _default_replica()
        if not replica or len(replica) > 200 or "\x00" in replica:
            # it is the NOTIFY payload (limit 8000 bytes) and the row's provenance
            raise ValueError(f"replica must be 1-200 characters without NUL, got {replica!r}")
        self.dsn = dsn
        self.replica = replica
        self.compact_every = compact_every
        self.retry_delays = tuple(retry_delays)
        self.connect_timeout = connect_timeout
        self.listen_backoff = tuple(listen_backoff)
        self._where = _describe_dsn(dsn)
        self._lock = threading.RLock()
        self._compacting = threading.Lock()
        self._closing = threading.Event()
        self._conn: _Conn | None = None  # psycopg is imported lazily (optional extra)
        self._schema_ready = False
        self._outbox: list[LogEntry] = []
        self._xmin = 0  # xmin of the last read's snapshot; every xid below it was seen
        self._seen: set[int] = set()  # seqs read whose xid >= _xmin (will be re-read)
        self._own_upto = 0  # highest seq this replica committed
        self._since_compact = 0
        self._listener: threading.Thread | None = None
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        try:
            self._run("connect", lambda conn: None)
        except BaseException:
            self._wakeup_r.close()
            self._wakeup_w.close()
            raise

    # -- connection handling -------------------------------------------------------
    def _connect(self) -> _Conn:
        import psycopg

        return psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=max(1, round(self.connect_timeout)),
            application_name="agentsync",
        )

    def _connection(self) -> _Conn:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._drop_connection()
            conn = self._connect()
            try:
                if not self._schema_ready:
                    self._migrate(conn)
                    self._schema_ready = True
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                self._conn.close()
            self._conn = None

    def _migrate(self, conn: _Conn) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS agentsync_schema_version ("
                " version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            current = _scalar(
                conn, "SELECT coalesce(max(version), 0) FROM agentsync_schema_version"
            )
            if current > PG_SCHEMA_VERSION:
                raise PersistenceError(
                    f"PostgreSQL log at {self._where} has schema version {current}, newer "
                    f"than this agentsync supports ({PG_SCHEMA_VERSION}); upgrade agentsync"
                )
            for version, statements in _PG_MIGRATIONS:
                if version > current:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO agentsync_schema_version (version) VALUES (%s)", (version,)
                    )
                    logger.info("log schema migrated", where=self._where, version=version)

    def _run(self, action: str, op: Callable[[_Conn], _T]) -> _T:
        """Run `op(connection)`, reconnecting and retrying while the server is unreachable.

        A connection that was fine before and fails now (the server restarted) gets one
        immediate reconnect that is not counted against `retry_delays`."""
        import psycopg

        if self._closing.is_set():
            raise PersistenceError(f"PostgreSQL log at {self._where} is closed")
        delays = iter(self.retry_delays)
        attempts = 0
        last: Exception | None = None
        stale_retried = False
        while True:
            had_connection = self._conn is not None
            attempts += 1
            try:
                return op(self._connection())
            except psycopg.OperationalError as exc:
                last = exc
                self._drop_connection()
                logger.warning(
                    "postgres unreachable", where=self._where, action=action,
                    attempt=attempts, error=_oneline(exc),
                )  # fmt: skip
            except psycopg.Error as exc:
                raise PersistenceError(
                    f"PostgreSQL log at {self._where}: {action} failed: {_oneline(exc)}"
                ) from exc
            if had_connection and not stale_retried:
                stale_retried = True
                continue
            delay = next(delays, None)
            if delay is None or self._closing.wait(delay):
                break
        queued = f"; {len(self._outbox)} update(s) queued locally" if self._outbox else ""
        raise PersistenceError(
            f"PostgreSQL at {self._where} unreachable ({action}, {attempts} attempts): "
            f"{_oneline(last) if last else ''}{queued}"
        ) from last

    # -- writes --------------------------------------------------------------------
    def _flush(self) -> None:
        """Write the queued entries in one transaction; keep them queued on failure."""
        if not self._outbox:
            return
        batch = list(self._outbox)
        rows = [
            ([_pg_text(p) for p in e.namespace], _pg_text(e.key), self.replica, _pg_text(e.agent),
             e.blob)
            for e in batch
        ]  # fmt: skip

        def insert(conn: _Conn) -> int:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_INSERT_SQL, rows, returning=True)
                top = 0
                while True:
                    row = cur.fetchone()
                    if row is not None:
                        top = max(top, row[0])
                    if not cur.nextset():
                        break
                # Delivered at commit, and only if it commits.
                cur.execute("SELECT pg_notify(%s, %s)", (_PG_CHANNEL, self.replica))
                return top

        self._own_upto = max(self._own_upto, self._run("append", insert))
        del self._outbox[: len(batch)]
        self._since_compact += len(batch)

    def append(self, blob: bytes, *, namespace: Namespace, key: str, agent: str) -> None:
        """Durable on the server before it returns. If the server stays unreachable
        through the retries, raises PersistenceError; the entry stays queued and is
        written (before anything newer) by the next append, fetch_new or flush."""
        self.append_many((LogEntry(blob, namespace, key, agent),))

    def append_many(self, entries: Iterable[LogEntry]) -> None:
        checked = [_check_entry(LogEntry(*entry)) for entry in entries]
        with self._lock:
            if self._closing.is_set():
                raise PersistenceError(f"PostgreSQL log at {self._where} is closed")
            self._outbox.extend(checked)
            self._flush()

    def flush(self) -> None:
        """Write whatever is queued now (PersistenceError if the server is still away)."""
        with self._lock:
            self._flush()

    def pending(self) -> list[LogEntry]:
        """Entries queued because the server was unreachable, oldest first."""
        with self._lock:
            return list(self._outbox)

    # -- reads ---------------------------------------------------------------------
    def load(self) -> list[bytes]:
        def read(conn: _Conn) -> tuple[int, bytes | None, list[tuple[int, int, str, bytes]]]:
            with conn.transaction():
                # One snapshot for every statement below.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                xmin = _scalar(conn, _XMIN_SQL)
                snap = conn.execute(
                    "SELECT replica, covered_xmin, own_upto, snapshot FROM agentsync_snapshots"
                    " ORDER BY id DESC LIMIT 1"
                ).fetchone()
                if snap is None:
                    rows = conn.execute(
                        "SELECT seq, xid, replica, update_blob FROM agentsync_updates ORDER BY seq"
                    ).fetchall()
                    return xmin, None, rows
                replica, covered, own_upto, blob = snap
                rows = conn.execute(
                    "SELECT seq, xid, replica, update_blob FROM agentsync_updates"
                    " WHERE xid >= %s AND NOT (replica = %s AND seq <= %s) ORDER BY seq",
                    (covered, replica, own_upto),
                ).fetchall()
                return xmin, bytes(blob), rows

        with self._lock:
            self._flush()
            xmin, snapshot, rows = self._run("load", read)
            self._xmin = xmin
            self._seen = {seq for seq, xid, replica, _ in rows if xid >= xmin}
        blobs = [snapshot] if snapshot is not None else []
        blobs.extend(bytes(blob) for *_, blob in rows)
        return blobs

    def fetch_new(self) -> list[bytes]:
        """Flushes queued appends, then returns what other replicas committed since the
        last read. Never returns this replica's own appends."""

        def read(conn: _Conn) -> tuple[int, list[tuple[int, int, bytes]]]:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                xmin = _scalar(conn, _XMIN_SQL)
                rows = conn.execute(
                    "SELECT seq, xid, update_blob FROM agentsync_updates"
                    " WHERE xid >= %s AND replica <> %s ORDER BY seq",
                    (self._xmin, self.replica),
                ).fetchall()
                return xmin, rows

        with self._lock:
            self._flush()
            xmin, rows = self._run("fetch", read)
            fresh = [bytes(blob) for seq, _, blob in rows if seq not in self._seen]
            self._seen = {seq for seq, xid, _ in rows if xid >= xmin}
            self._xmin = xmin
        return fresh

    # -- compaction ----------------------------------------------------------------
    def maybe_compact(self, snapshot: Callable[[], bytes]) -> bool:
        """Stores a snapshot so that `load` reads it plus the rows it does not cover.

        Rows are never deleted: other replicas may not have read them yet, and the table
        is append-only by contract. Older snapshots are dropped."""
        if self._since_compact < self.compact_every:
            return False
        if not self._compacting.acquire(blocking=False):
            return False
        try:
            with self._lock:
                if self._since_compact < self.compact_every:
                    return False
                covered, own_upto, counted = self._xmin, self._own_upto, self._since_compact
            blob = snapshot()  # outside the lock; see SqliteLog.maybe_compact
            if not isinstance(blob, bytes):
                raise TypeError(f"snapshot() must return bytes, got {type(blob).__name__}")

            def store(conn: _Conn) -> None:
                with conn.transaction():
                    new_id = _scalar(
                        conn,
                        "INSERT INTO agentsync_snapshots"
                        " (replica, covered_xmin, own_upto, snapshot)"
                        " VALUES (%s, %s, %s, %s) RETURNING id",
                        (self.replica, covered, own_upto, blob),
                    )
                    conn.execute("DELETE FROM agentsync_snapshots WHERE id < %s", (new_id,))

            with self._lock:
                self._run("compaction", store)
                self._since_compact -= counted
            logger.debug("log compacted", where=self._where, snapshot_bytes=len(blob))
            return True
        finally:
            self._compacting.release()

    # -- wake-ups ------------------------------------------------------------------
    def start_listener(self, wake: Callable[[], None]) -> None:
        """LISTEN in a daemon thread and call `wake()` when another replica commits.

        Notifications carry no data (they are a wake-up, not a transport): after
        `wake()` the caller runs `fetch_new`. After a lost connection the thread
        reconnects with backoff and calls `wake()` once, since notifications sent
        meanwhile are gone.

        `wake` runs on the listener thread and must not block (set an event, schedule a
        sync): `close()` waits for that thread, so a `wake` that waits for a lock held by
        whoever calls `close()` would deadlock."""
        with self._lock:
            if self._closing.is_set():
                raise PersistenceError(f"PostgreSQL log at {self._where} is closed")
            if self._listener is not None:
                raise RuntimeError("this log already has a listener")
            self._listener = threading.Thread(
                target=self._listen, args=(wake,), name=f"agentsync-listen-{self.replica}",
                daemon=True,
            )  # fmt: skip
            self._listener.start()

    def _wake(self, wake: Callable[[], None]) -> None:
        try:
            wake()
        except Exception:
            logger.exception("wake callback failed", where=self._where)

    def _listen(self, wake: Callable[[], None]) -> None:
        import psycopg

        failures = 0
        while not self._closing.is_set():
            try:
                conn = psycopg.connect(
                    self.dsn, autocommit=True, application_name="agentsync-listener",
                    connect_timeout=max(1, round(self.connect_timeout)),
                    # a vanished peer (no FIN) must not block select() forever
                    keepalives=1, keepalives_idle=30, keepalives_interval=10,
                    keepalives_count=3,
                )  # fmt: skip
                try:
                    conn.execute(f"LISTEN {_PG_CHANNEL}")
                    if failures:
                        logger.info("listener reconnected", where=self._where)
                    failures = 0
                    self._wake(wake)  # catch up on whatever happened while not listening
                    self._pump(conn, wake)  # returns only when closing
                finally:
                    conn.close()
            except psycopg.Error as exc:
                if self._closing.is_set():
                    return
                delay = self.listen_backoff[min(failures, len(self.listen_backoff) - 1)]
                failures += 1
                logger.warning(
                    "listener disconnected", where=self._where, error=_oneline(exc),
                    retry_in=delay,
                )  # fmt: skip
                if self._closing.wait(delay):
                    return

    def _pump(self, conn: _Conn, wake: Callable[[], None]) -> None:
        """Wait for notifications until closing; raises psycopg.Error on a lost server."""
        import psycopg

        pgconn = conn.pgconn
        while not self._closing.is_set():
            wakeup = self._wakeup_r.fileno()
            ready, _, _ = select.select([pgconn.socket, wakeup], [], [])
            if wakeup in ready:
                return
            pgconn.consume_input()  # raises OperationalError when the server went away
            others = False
            while (note := pgconn.notifies()) is not None:
                others = others or note.extra.decode() != self.replica
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("listener connection lost")
            if others:
                self._wake(wake)

    def close(self) -> None:
        """Flushes queued appends (PersistenceError if that fails), stops the listener."""
        with self._lock:
            if self._closing.is_set():
                return
            error: PersistenceError | None = None
            try:
                self._flush()
            except PersistenceError as exc:
                error = PersistenceError(
                    f"PostgreSQL log at {self._where} closed with {len(self._outbox)} "
                    f"update(s) never written: {exc}"
                )
            self._closing.set()
            self._drop_connection()
        self._wakeup_w.send(b"x")
        if self._listener is not None:
            self._listener.join()
        self._wakeup_r.close()
        self._wakeup_w.close()
        if error is not None:
            raise error


def open_log(
    *,
    path: str | os.PathLike[str] | None = None,
    dsn: str | None = None,
    replica: str | None = None,
    compact_every: int = DEFAULT_COMPACT_EVERY,
    synchronous: Synchronous = "full",
    retry_delays: Sequence[float] = (0.1, 0.5, 2.0),
) -> UpdateLog:
    """The log for a store: SQLite at `path`, PostgreSQL at `dsn`, or none (in memory).

    `replica` names this replica in a shared PostgreSQL log (default: host, pid and a
    random suffix); a SQLite log has one writer and ignores it.
    """
    if path is not None and dsn is not None:
        raise ValueError("pass path= (SQLite) or dsn= (PostgreSQL), not both")
    if path is not None:
        return SqliteLog(path, compact_every=compact_every, synchronous=synchronous)
    if dsn is not None:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise PersistenceError(
                "dsn= needs psycopg 3: pip install 'agentsync[postgres]'"
            ) from exc
        return PostgresLog(
            dsn, replica=replica, compact_every=compact_every, retry_delays=retry_delays
        )
    return NullLog()
