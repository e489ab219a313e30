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
- apply a write to the Core *before* appending its blob; `load` and `pull` hand each row
  to the caller's `apply` in order, and the snapshot callable of `maybe_compact` must
  include every blob appended or applied before `maybe_compact` was called;
- `apply` raising an `AgentSyncError` (a row that cannot be decoded or read) sets that
  row aside: it is recorded in `quarantined`, logged once, and the rows after it are
  applied as usual. `apply` raising anything else stops the read there, and the cursor
  stays before the row that failed: the next `pull` hands it over again;
- imports are idempotent, so a blob may be handed over more than once (after a reconnect
  whose commit acknowledgement was lost, a queued blob can be written twice).

On-disk format: each backend records a format version (SQLite `user_version`, the
PostgreSQL table `agentsync_schema_version`); a log of any other version is refused.
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
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, Self, TypeAlias, TypeVar

from ._errors import AgentSyncError, PersistenceError
from ._logging import get_logger
from ._types import Namespace

if TYPE_CHECKING:
    import psycopg

    # an explicit alias: without psycopg installed (a wheel build's environment) it is
    # Any, which an implicit alias would make a variable that is no type
    _Conn: TypeAlias = psycopg.Connection[tuple[Any, ...]]

__all__ = [
    "Apply",
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

Apply = Callable[[bytes], object]
"""What a log hands its rows to (the store's import). An `AgentSyncError` from it sets the
row aside (see the module docstring)."""


class LogEntry(NamedTuple):
    """One update blob and what it was about (kept for provenance and debugging)."""

    blob: bytes
    namespace: Namespace
    key: str
    agent: str


class UpdateLog(Protocol):
    """What a store needs from durable storage. See the module docstring for the contract.

    The one definition of the update-log protocol: `NullLog`, `SqliteLog` and
    `PostgresLog` implement it, and the store's durability bracket
    (`agentsync._store_durability`) is written against it."""

    def load(self, apply: Apply) -> int:
        """Hand the rows that rebuild the state to `apply`, in order (latest snapshot
        first). Returns how many were applied; rows set aside are not counted."""
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

    def pull(self, apply: Apply) -> int:
        """Hand the rows other replicas appended since the previous `load`/`pull` to
        `apply`, in order. Returns how many were applied."""
        ...

    def queued(self) -> int:
        """Appends accepted but not yet durable (queued while a server is away)."""
        ...

    @property
    def quarantined(self) -> dict[int, str]:
        """Rows set aside because `apply` refused them: row id -> reason."""
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
    """What the backends share: setting refused rows aside, context-manager support."""

    _where: str

    def __init__(self) -> None:
        self._quarantined: dict[int, str] = {}

    @property
    def quarantined(self) -> dict[int, str]:
        return dict(self._quarantined)

    def queued(self) -> int:
        return 0

    def _apply_row(self, apply: Apply, row: int, blob: bytes) -> bool:
        """`apply(blob)`; False if it refused the row (then the row is set aside and
        logged, once per row). Anything but an AgentSyncError propagates."""
        try:
            apply(blob)
        except AgentSyncError as exc:
            if row not in self._quarantined:
                self._quarantined[row] = str(exc)
                self._set_aside(row, exc)
                logger.warning(
                    "update row set aside", where=self._where, row=row, bytes=len(blob),
                    error=str(exc)[:300], set_aside=len(self._quarantined),
                )  # fmt: skip
            return False
        return True

    def _set_aside(self, row: int, exc: AgentSyncError) -> None:
        """Keep a refused row out of the way of later loads (the backend's own place)."""

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

    _where = "memory"

    def load(self, apply: Apply) -> int:
        return 0

    def append(self, blob: bytes, *, namespace: Namespace, key: str, agent: str) -> None:
        return None

    def append_many(self, entries: Iterable[LogEntry]) -> None:
        return None

    def maybe_compact(self, snapshot: Callable[[], bytes]) -> bool:
        return False

    def pull(self, apply: Apply) -> int:
        return 0

    def start_listener(self, wake: Callable[[], None]) -> None:
        return None

    def close(self) -> None:
        return None


# -- SQLite ----------------------------------------------------------------------------

SQLITE_FORMAT_VERSION = 2
"""The SQLite log's format (its `user_version`). Any other version is refused: earlier
development layouts are not read (no deployment used them)."""
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
    # Rows the store could not import, moved here (with the reason) so that they never
    # block a reopen and are kept for inspection. Their seqs still count for the gap
    # check: a row set aside is accounted for, a row deleted is not.
    """CREATE TABLE agentsync_quarantine (
        seq INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        agent TEXT NOT NULL,
        created_at REAL NOT NULL,
        update_blob BLOB NOT NULL,
        reason TEXT NOT NULL,
        quarantined_at REAL NOT NULL)""",
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
        super().__init__()
        self.path = Path(path)
        self._where = str(self.path)
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
                if version == 0:
                    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                    if tables:
                        raise PersistenceError(
                            f"{self.path} is a SQLite database but not an agentsync log "
                            f"(no format version, {tables} schema objects); refusing to write "
                            "into it"
                        )
                    for statement in _SQLITE_SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={SQLITE_FORMAT_VERSION}")
                elif version != SQLITE_FORMAT_VERSION:
                    raise PersistenceError(
                        f"SQLite log {self.path} has format version {version}; this "
                        f"agentsync reads only version {SQLITE_FORMAT_VERSION}"
                        + (" (upgrade agentsync)" if version > SQLITE_FORMAT_VERSION else "")
                    )
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

    def load(self, apply: Apply) -> int:
        """Checks the log has no gap, then hands over the snapshot and the rows after it.

        A row `apply` refuses moves to `agentsync_quarantine`; a refused snapshot is an
        error (it stands for every row it replaced)."""
        with self._lock:
            self._check_open()
            try:
                row = self._conn.execute(
                    "SELECT upto, snapshot FROM agentsync_snapshots ORDER BY id DESC LIMIT 1"
                ).fetchone()
                upto = 0 if row is None else int(row[0])
                self._check_no_gap(upto)
                if row is not None:
                    try:
                        apply(bytes(row[1]))
                    except AgentSyncError as exc:
                        raise PersistenceError(
                            f"SQLite log {self.path}: its snapshot (rows up to {upto}) "
                            f"cannot be imported: {exc}"
                        ) from exc
                rows = self._conn.execute(
                    "SELECT seq, update_blob FROM agentsync_updates WHERE seq > ? ORDER BY seq",
                    (upto,),
                ).fetchall()
                applied = int(row is not None)
                for seq, blob in rows:
                    applied += self._apply_row(apply, seq, bytes(blob))
            except sqlite3.Error as exc:
                raise self._fail("load", exc) from exc
        return applied

    def _check_no_gap(self, upto: int) -> None:
        """Rows after the snapshot must be every seq up to the last one handed out (a
        seq is never reused and a failed insert hands none out): a missing one is a row
        deleted or lost, and opening would silently drop its writes."""
        last_row = self._conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'agentsync_updates'"
        ).fetchone()
        last = 0 if last_row is None else int(last_row[0])
        present = self._conn.execute(
            "SELECT count(*) FROM (SELECT seq FROM agentsync_updates WHERE seq > ?"
            " UNION SELECT seq FROM agentsync_quarantine WHERE seq > ?)",
            (upto, upto),
        ).fetchone()[0]
        if present != max(0, last - upto):
            raise PersistenceError(
                f"SQLite log {self.path} has a gap: {last - upto - present} of the "
                f"{last - upto} update rows after its snapshot (seq {upto + 1}..{last}) are "
                "missing, so writes would be lost; refusing to open it (restore the file "
                "from a backup, or copy out what is readable)"
            )

    def _set_aside(self, row: int, exc: AgentSyncError) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(
                "INSERT OR REPLACE INTO agentsync_quarantine (seq, namespace, key, agent,"
                " created_at, update_blob, reason, quarantined_at)"
                " SELECT seq, namespace, key, agent, created_at, update_blob, ?, ?"
                " FROM agentsync_updates WHERE seq = ?",
                (str(exc)[:2000], time.time(), row),
            )
            self._conn.execute("DELETE FROM agentsync_updates WHERE seq = ?", (row,))
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._since_compact -= 1

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

    def pull(self, apply: Apply) -> int:
        """A SQLite log has one writer: there is never anything new from elsewhere."""
        with self._lock:
            self._check_open()
        return 0

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
_PG_SCHEMA_LOCK = 0x61676E7473796E63  # "agntsync": serializes concurrent first use
PG_FORMAT_VERSION = 1
"""The PostgreSQL log's format (the row of `agentsync_schema_version`). Any other version
is refused: earlier development layouts are not read (no deployment used them)."""
_PG_SCHEMA = (
    # xid: the writing transaction's id. A reader's snapshot says which transactions it
    # could not see (xmax, and the in-progress list xip), which makes catch-up exact.
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
)

# The reader's snapshot: everything below xmax is visible except the xids still in
# progress (xip). A later read needs only rows with xid >= xmax or xid in xip.
_SNAPSHOT_SQL = (
    "SELECT pg_snapshot_xmax(s)::text::bigint,"
    " array(SELECT x::text::bigint FROM pg_snapshot_xip(s) x)"
    " FROM pg_current_snapshot() s"
)
_INSERT_SQL = (
    "INSERT INTO agentsync_updates (namespace, key, replica, agent, update_blob)"
    " VALUES (%s, %s, %s, %s, %s) RETURNING seq"
)

# Connection failures that waiting cannot heal: a missing database or role, refused
# credentials, a malformed DSN. libpq reports them without a SQLSTATE, so by message.
_CANNOT_HEAL = (
    "does not exist",
    "authentication failed",
    "no pg_hba.conf entry",
    "permission denied",
    "for connection option",
    "invalid connection option",
    "invalid dsn",
    'missing "=" after',
    "invalid uri",
    "invalid sslmode",
    "password is required",
    "password supplied",
)
_CANNOT_HEAL_SQLSTATES = frozenset({"28000", "28P01", "3D000", "42501"})


def _cannot_heal(exc: BaseException) -> bool:
    if getattr(exc, "sqlstate", None) in _CANNOT_HEAL_SQLSTATES:
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _CANNOT_HEAL)


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


class _Cursor(NamedTuple):
    """Where a reader stands: the snapshot of its last read."""

    xmax: int
    xip: list[int]

    @property
    def xmin(self) -> int:
        """Every xid below this was visible (committed or aborted) at that read."""
        return min([self.xmax, *self.xip])


class _Resources:
    """What a `PostgresLog` must release, held apart from the log so that a finalizer
    (the log dropped without `close()`) and the listener thread can reach it without
    keeping the log alive."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.conn: _Conn | None = None
        self.closing = threading.Event()
        self.wakeup_r, self.wakeup_w = socket.socketpair()
        self.listener: threading.Thread | None = None

    def drop_connection(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                self.conn.close()
            self.conn = None

    def release(self, *, join: bool) -> None:
        """Stop the listener, close the connection and the wake-up sockets. Idempotent."""
        self.closing.set()
        self.drop_connection()
        with contextlib.suppress(OSError):
            self.wakeup_w.send(b"x")
        listener = self.listener
        if listener is not None and join and listener is not threading.current_thread():
            listener.join()
        self.wakeup_w.close()
        if listener is None or not listener.is_alive():
            self.wakeup_r.close()
        # else: the listener closes it on its way out


def _release_unclosed(resources: _Resources) -> None:
    """The finalizer of a `PostgresLog` dropped without `close()`."""
    if not resources.closing.is_set():
        logger.warning("postgres log dropped without close()", where=resources.where)
        resources.release(join=False)


class _Listener:
    """The LISTEN loop of one log, in its own daemon thread. It holds the log's
    resources and the wake callback (weakly, if a bound method) but never the log."""

    def __init__(
        self,
        resources: _Resources,
        wake: Callable[[], None],
        *,
        dsn: str,
        replica: str,
        connect_timeout: float,
        backoff: tuple[float, ...],
    ) -> None:
        self.resources = resources
        self._wake_ref: Callable[[], Callable[[], None] | None]
        try:
            self._wake_ref = weakref.WeakMethod(wake)
        except TypeError:  # not a bound method of a Python object: held as given
            self._wake_ref = lambda: wake
        self.dsn = dsn
        self.replica = replica
        self.connect_timeout = connect_timeout
        self.backoff = backoff

    def _wake(self) -> None:
        wake = self._wake_ref()
        if wake is None:  # its owner is gone: nobody to wake any more
            self.resources.closing.set()
            return
        try:
            wake()
        except Exception:
            logger.exception("wake callback failed", where=self.resources.where)

    def run(self) -> None:
        try:
            self._loop()
        finally:
            if self.resources.wakeup_w.fileno() == -1:  # released without joining us
                self.resources.wakeup_r.close()

    def _loop(self) -> None:
        import psycopg

        closing = self.resources.closing
        failures = 0
        while not closing.is_set():
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
                        logger.info("listener reconnected", where=self.resources.where)
                    failures = 0
                    self._wake()  # catch up on whatever happened while not listening
                    self._pump(conn)  # returns only when closing
                finally:
                    conn.close()
            except psycopg.Error as exc:
                if closing.is_set():
                    return
                delay = self.backoff[min(failures, len(self.backoff) - 1)]
                failures += 1
                logger.warning(
                    "listener disconnected", where=self.resources.where,
                    error=_oneline(exc), retry_in=delay,
                )  # fmt: skip
                if closing.wait(delay):
                    return

    def _pump(self, conn: _Conn) -> None:
        """Wait for notifications until closing; raises psycopg.Error on a lost server."""
        import psycopg

        pgconn = conn.pgconn
        closing = self.resources.closing
        wakeup = self.resources.wakeup_r.fileno()
        while not closing.is_set():
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
                self._wake()


class PostgresLog(_LogBase):
    """A log shared by replicas through one PostgreSQL table.

    Catch-up is exact rather than heuristic. Sequence numbers are handed out before
    commit, so a row with a lower seq can become visible after a higher one. Every row
    records its transaction id; a read at snapshot S sees every xid below xmax(S) except
    those in progress, xip(S). The next read asks only for rows with xid >= xmax(S) or
    xid in xip(S): nothing is missed, nothing read twice, and a transaction left open by
    another client costs one xid in that list rather than a re-read of every row since it
    began.
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
        super().__init__()
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
        self._schema_ready = False
        self._outbox: list[LogEntry] = []
        self._cursor = _Cursor(0, [])  # the last read's snapshot
        self._own_upto = 0  # highest seq this replica committed
        self._since_compact = 0
        self.rows_fetched = 0
        """Rows read by `load` and `pull` (the cost of catching up), for benchmarks."""
        self._resources = _Resources(self._where)
        self._finalizer = weakref.finalize(self, _release_unclosed, self._resources)
        try:
            self._run("connect", lambda conn: None)
        except BaseException:
            self._finalizer.detach()
            self._resources.release(join=True)
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
        resources = self._resources
        conn = resources.conn
        if conn is None or conn.closed or conn.broken:
            resources.drop_connection()
            conn = self._connect()
            try:
                if not self._schema_ready:
                    self._create_schema(conn)
                    self._schema_ready = True
            except BaseException:
                conn.close()
                raise
            resources.conn = conn
        return conn

    def _create_schema(self, conn: _Conn) -> None:
        """Create the tables on first use; refuse a log of another format version."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS agentsync_schema_version ("
                " version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            versions = [v for (v,) in conn.execute("SELECT version FROM agentsync_schema_version")]
            if not versions:
                for statement in _PG_SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO agentsync_schema_version (version) VALUES (%s)",
                    (PG_FORMAT_VERSION,),
                )
                logger.info("log schema created", where=self._where, version=PG_FORMAT_VERSION)
            elif versions != [PG_FORMAT_VERSION]:
                found = max(versions)
                raise PersistenceError(
                    f"PostgreSQL log at {self._where} has format version {found}; this "
                    f"agentsync reads only version {PG_FORMAT_VERSION}"
                    + (" (upgrade agentsync)" if found > PG_FORMAT_VERSION else "")
                )

    def _run(self, action: str, op: Callable[[_Conn], _T]) -> _T:
        """Run `op(connection)`, reconnecting and retrying while the server is unreachable.

        A connection that was fine before and fails now (the server restarted) gets one
        immediate reconnect that is not counted against `retry_delays`. An error waiting
        cannot heal (a missing database or role, refused credentials, a bad DSN) is
        raised at once with its own message."""
        import psycopg

        if self._resources.closing.is_set():
            raise PersistenceError(f"PostgreSQL log at {self._where} is closed")
        delays = iter(self.retry_delays)
        attempts = 0
        last: Exception | None = None
        stale_retried = False
        while True:
            had_connection = self._resources.conn is not None
            attempts += 1
            try:
                return op(self._connection())
            except psycopg.OperationalError as exc:
                self._resources.drop_connection()
                if _cannot_heal(exc):
                    raise PersistenceError(
                        f"PostgreSQL log at {self._where}: {action} failed: {_oneline(exc)}"
                        " (not retried: waiting cannot fix this)"
                    ) from exc
                last = exc
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
            if delay is None or self._resources.closing.wait(delay):
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
        written (before anything newer) by the next append, pull or flush."""
        self.append_many((LogEntry(blob, namespace, key, agent),))

    def append_many(self, entries: Iterable[LogEntry]) -> None:
        checked = [_check_entry(LogEntry(*entry)) for entry in entries]
        with self._lock:
            if self._resources.closing.is_set():
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

    def queued(self) -> int:
        with self._lock:
            return len(self._outbox)

    # -- reads ---------------------------------------------------------------------
    def load(self, apply: Apply) -> int:
        """Hands over the latest snapshot and every row it does not cover. A snapshot
        that cannot be imported is skipped for the full table (rows are never deleted)."""

        def read(
            conn: _Conn, *, use_snapshot: bool
        ) -> tuple[_Cursor, bytes | None, list[tuple[int, bytes]]]:
            with conn.transaction():
                # One snapshot for every statement below.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor = _Cursor(*conn.execute(_SNAPSHOT_SQL).fetchone() or (0, []))
                snap = (
                    conn.execute(
                        "SELECT replica, covered_xmin, own_upto, snapshot"
                        " FROM agentsync_snapshots ORDER BY id DESC LIMIT 1"
                    ).fetchone()
                    if use_snapshot
                    else None
                )
                if snap is None:
                    rows = conn.execute(
                        "SELECT seq, update_blob FROM agentsync_updates ORDER BY seq"
                    ).fetchall()
                    return cursor, None, rows
                replica, covered, own_upto, blob = snap
                rows = conn.execute(
                    "SELECT seq, update_blob FROM agentsync_updates"
                    " WHERE xid >= %s AND NOT (replica = %s AND seq <= %s) ORDER BY seq",
                    (covered, replica, own_upto),
                ).fetchall()
                return cursor, bytes(blob), rows

        with self._lock:
            self._flush()
            cursor, snapshot, rows = self._run("load", lambda c: read(c, use_snapshot=True))
            applied = 0
            if snapshot is not None:
                try:
                    apply(snapshot)
                    applied += 1
                except AgentSyncError as exc:
                    logger.warning(
                        "snapshot set aside", where=self._where, error=str(exc)[:300],
                        fallback="every row",
                    )  # fmt: skip
                    cursor, _, rows = self._run("load", lambda c: read(c, use_snapshot=False))
            self.rows_fetched += len(rows)
            for seq, blob in rows:
                applied += self._apply_row(apply, seq, bytes(blob))
            self._cursor = cursor
        return applied

    def pull(self, apply: Apply) -> int:
        """Flushes queued appends, then hands over what other replicas committed since
        the last read. Never this replica's own appends. If `apply` raises (other than
        an AgentSyncError, which sets the row aside), the cursor stays where it was: the
        next pull hands the failed row and the ones after it over again."""

        def read(conn: _Conn) -> tuple[_Cursor, list[tuple[int, bytes]]]:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor = _Cursor(*conn.execute(_SNAPSHOT_SQL).fetchone() or (0, []))
                rows = conn.execute(
                    "SELECT seq, update_blob FROM agentsync_updates"
                    " WHERE (xid >= %s OR xid = ANY(%s)) AND replica <> %s ORDER BY seq",
                    (self._cursor.xmax, self._cursor.xip, self.replica),
                ).fetchall()
                return cursor, rows

        with self._lock:
            self._flush()
            cursor, rows = self._run("fetch", read)
            self.rows_fetched += len(rows)
            applied = 0
            for seq, blob in rows:
                applied += self._apply_row(apply, seq, bytes(blob))
            self._cursor = cursor  # only once every row was applied or set aside
        return applied

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
                covered, own_upto = self._cursor.xmin, self._own_upto
                counted = self._since_compact
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
        `wake()` the caller runs `pull`. After a lost connection the thread reconnects
        with backoff and calls `wake()` once, since notifications sent meanwhile are gone.

        A bound method is held weakly: when its object is gone the listener stops, so a
        store dropped without `close()` does not keep itself (and this log) alive.
        `wake` runs on the listener thread and must not block (set a flag, schedule a
        sync): `close()` waits for that thread, so a `wake` that waits for a lock held by
        whoever calls `close()` would deadlock."""
        with self._lock:
            resources = self._resources
            if resources.closing.is_set():
                raise PersistenceError(f"PostgreSQL log at {self._where} is closed")
            if resources.listener is not None:
                raise RuntimeError("this log already has a listener")
            listener = _Listener(
                resources, wake, dsn=self.dsn, replica=self.replica,
                connect_timeout=self.connect_timeout, backoff=self.listen_backoff,
            )  # fmt: skip
            resources.listener = threading.Thread(
                target=listener.run, name=f"agentsync-listen-{self.replica}", daemon=True
            )
            resources.listener.start()

    def close(self) -> None:
        """Flushes queued appends (PersistenceError if that fails), stops the listener."""
        with self._lock:
            if self._resources.closing.is_set():
                return
            error: PersistenceError | None = None
            try:
                self._flush()
            except PersistenceError as exc:
                error = PersistenceError(
                    f"PostgreSQL log at {self._where} closed with {len(self._outbox)} "
                    f"update(s) never written: {exc}"
                )
            self._finalizer.detach()
            self._resources.closing.set()
        self._resources.release(join=True)
        if error is not None:
            raise error


def open_log(
    *,
    path: str | os.PathLike[str] | None = None,
    dsn: str | None = None,
    replica: str | None = None,
    compact_every: int | None = None,
    synchronous: Synchronous = "full",
    retry_delays: Sequence[float] = (0.1, 0.5, 2.0),
) -> UpdateLog:
    """The log for a store: SQLite at `path`, PostgreSQL at `dsn`, or none (in memory).

    `replica` names this replica in a shared PostgreSQL log (default: host, pid and a
    random suffix); a SQLite log has one writer and ignores it.
    """
    if path is not None and dsn is not None:
        raise ValueError("pass path= (SQLite) or dsn= (PostgreSQL), not both")
    if compact_every is None:
        compact_every = DEFAULT_COMPACT_EVERY  # read now: tests and tools may change it
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
