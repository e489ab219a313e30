"""Durable stores against bad data and failed writes (SPEC section 7): real SQLite files
and a real PostgreSQL server (tests/conftest.py).

A row or record that cannot be imported is set aside and never costs the rows after it;
a put that raises is applied and visible, and says it is not durable; an import waiting
for a dependency survives a restart; a log gap is an error at open, never silent loss.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import loro
import psycopg
import pytest
from crash_support import acknowledged_before_sigkill
from langgraph.store.base import InvalidNamespaceError
from persistence_support import loaded, pulled
from store_support import CharEmbeddings

from agentsync import SyncedStore, _persistence
from agentsync._errors import AgentSyncError, CorruptUpdateError, PersistenceError
from agentsync._persistence import PostgresLog, SqliteLog

if TYPE_CHECKING:
    from tests.conftest import PostgresServer

NS = ("team", "plan")


@pytest.fixture
def stores() -> Iterator[list[SyncedStore]]:
    """Stores a test opens; closed after it (errors on close are the test's business)."""
    opened: list[SyncedStore] = []
    yield opened
    for store in opened:
        with contextlib.suppress(AgentSyncError):
            store.close()


def keys(store: SyncedStore) -> set[str]:
    return {item.key for item in store.search(NS, limit=1000)}


def forged_update(base: bytes) -> bytes:
    """A well-formed Loro update whose agentsync directory entry is not
    [namespace, key]: no agentsync writer produces it."""
    doc = loro.LoroDoc()
    doc.import_(base)
    doc.get_map("dir").insert("f" * 20, 42)
    doc.commit()
    return bytes(doc.export(loro.ExportMode.Updates(loro.LoroDoc().oplog_vv)))


def sql(path: Path, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement on a SQLite file from outside the store (then close)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement).fetchall()


def sqlite_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    return sql(path, f"SELECT seq FROM {table} ORDER BY seq")


# -- item 1: undecodable rows ----------------------------------------------------------


@pytest.mark.postgres
def test_garbage_row_in_postgres_is_set_aside_and_blocks_nothing(
    postgres_dsn: str, stores: list[SyncedStore]
) -> None:
    a, b = SyncedStore(dsn=postgres_dsn), SyncedStore(dsn=postgres_dsn)
    stores += [a, b]
    a.put(NS, "before", {"v": 1})
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(
            "INSERT INTO agentsync_updates (namespace, key, replica, agent, update_blob)"
            " VALUES ('{x}', 'x', 'vandal', 'vandal', '\\x0102')"
        )
    a.put(NS, "after", {"v": 2})
    b.sync()  # the garbage row is set aside, not raised
    assert keys(b) == {"before", "after"}
    a.put(NS, "later", {"v": 3})
    b.sync()
    assert keys(b) == {"before", "after", "later"}
    assert b.stats()["updates_set_aside"] == 1
    c = SyncedStore(dsn=postgres_dsn)  # a new replica opens past the row
    stores.append(c)
    assert keys(c) == {"before", "after", "later"}
    assert c.stats()["updates_set_aside"] == 1


def test_garbage_row_in_sqlite_is_moved_aside_at_open(
    tmp_path: Path, stores: list[SyncedStore]
) -> None:
    path = tmp_path / "state.db"
    peer = SyncedStore()
    peer.put(NS, "imported", {"v": 0})
    with SyncedStore(path=str(path)) as store:
        store.put(NS, "before", {"v": 1})
        store.import_updates(peer.export_updates())  # row 2
        store.put(NS, "after", {"v": 2})  # row 3: a Loro change that depends on row 2
    sql(path, "UPDATE agentsync_updates SET update_blob = x'0102' WHERE seq = 2")
    reopened = SyncedStore(path=str(path))
    stores.append(reopened)
    assert keys(reopened) == {"before"}
    stats = reopened.stats()
    assert stats["updates_set_aside"] == 1
    assert stats["imports_waiting"] == 1, "row 3 is kept, waiting for what row 2 held"
    reopened.close()
    assert sqlite_rows(path, "agentsync_quarantine") == [(2,)]
    again = SyncedStore(path=str(path))  # the row is out of the way: no error
    stores.append(again)
    assert keys(again) == {"before"}
    again.import_updates(peer.export_updates())  # the lost update, from a peer that has it
    assert keys(again) == {"before", "imported", "after"}
    assert again.stats()["imports_waiting"] == 0


@pytest.mark.postgres
def test_a_failing_import_leaves_the_postgres_cursor_before_the_row(postgres_dsn: str) -> None:
    with (
        PostgresLog(postgres_dsn, replica="writer", retry_delays=()) as writer,
        PostgresLog(postgres_dsn, replica="reader", retry_delays=()) as reader,
    ):
        loaded(reader)
        for ident in range(3):
            writer.append(bytes([ident]), namespace=NS, key="k", agent="w")
        seen: list[bytes] = []

        def flaky(blob: bytes) -> None:
            if blob == b"\x01":
                raise MemoryError("not a verdict on the row")
            seen.append(blob)

        with pytest.raises(MemoryError):
            reader.pull(flaky)
        assert seen == [b"\x00"]
        assert pulled(reader) == [b"\x00", b"\x01", b"\x02"], "nothing was skipped"
        assert pulled(reader) == []

        def refuse_one(blob: bytes) -> None:
            if blob == b"\x04":
                raise CorruptUpdateError("bad row")

        for ident in (3, 4, 5):
            writer.append(bytes([ident]), namespace=NS, key="k", agent="w")
        assert reader.pull(refuse_one) == 2
        assert list(reader.quarantined.values()) == ["bad row"]
        assert pulled(reader) == []


# -- item 2: a well-formed update with a malformed record -------------------------------


@pytest.mark.postgres
def test_a_forged_record_in_postgres_blocks_nothing(
    postgres_dsn: str, stores: list[SyncedStore]
) -> None:
    a, b = SyncedStore(dsn=postgres_dsn), SyncedStore(dsn=postgres_dsn)
    stores += [a, b]
    a.put(NS, "before", {"v": 1})
    forged = forged_update(a.export_updates())
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(
            "INSERT INTO agentsync_updates (namespace, key, replica, agent, update_blob)"
            " VALUES ('{x}', 'x', 'vandal', 'vandal', %s)",
            (forged,),
        )
    a.put(NS, "after", {"v": 2})
    b.sync()
    assert keys(b) == {"before", "after"}
    c = SyncedStore(dsn=postgres_dsn)
    stores.append(c)
    assert keys(c) == {"before", "after"}


def test_a_forged_record_in_sqlite_lets_the_store_open(
    tmp_path: Path, stores: list[SyncedStore]
) -> None:
    path = tmp_path / "state.db"
    peer = SyncedStore()
    peer.put(("other",), "k", {"v": 0})
    with SyncedStore(path=str(path)) as store:
        store.put(NS, "before", {"v": 1})
        store.import_updates(peer.export_updates())  # row 2, replaced below
    forged = forged_update(peer.export_updates())
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE agentsync_updates SET update_blob = ? WHERE seq = 2", (forged,))
    reopened = SyncedStore(path=str(path))
    stores.append(reopened)
    assert keys(reopened) == {"before"}


# -- item 3: a failed put -------------------------------------------------------------


def fill_disk(store: SyncedStore) -> sqlite3.Connection:
    """Make the store's SQLite file full: no page can be added (SQLITE_FULL)."""
    log = store._durability.log
    assert isinstance(log, SqliteLog)
    conn = log._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")
    return conn


def free_disk(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA max_page_count=1073741823")


def test_a_put_that_fails_on_a_full_disk_is_visible_and_says_so(
    tmp_path: Path, stores: list[SyncedStore]
) -> None:
    path = tmp_path / "state.db"
    store = SyncedStore(path=str(path))
    stores.append(store)
    store.put(NS, "a", {"v": 1})
    conn = fill_disk(store)
    big = {"text": "x" * 20_000}  # needs new pages
    with pytest.raises(PersistenceError, match="not durable: queued locally, 1 queued"):
        store.put(NS, "a", big)
    with pytest.raises(PersistenceError, match="not durable: queued locally, 2 queued"):
        store.put(("other",), "b", big)
    got = store.get(NS, "a")
    assert got is not None and got.value == big
    assert keys(store) == {"a"}
    assert {i.key for i in store.search(("other",))} == {"b"}
    assert ("other",) in store.list_namespaces()
    free_disk(conn)
    store.put(NS, "c", {"v": 3})  # carries the two queued writes
    store.close()
    with SyncedStore(path=str(path)) as reopened:
        got = reopened.get(NS, "a")
        assert got is not None and got.value == big
        assert {i.key for i in reopened.search(("other",))} == {"b"}


def test_a_put_that_fails_is_embedded_for_semantic_search_too(
    tmp_path: Path, stores: list[SyncedStore]
) -> None:
    index = {"embed": CharEmbeddings(), "dims": 48, "fields": ["text"]}
    store = SyncedStore(path=str(tmp_path / "state.db"), index=index)  # type: ignore[arg-type]
    stores.append(store)
    fill_disk(store)
    with pytest.raises(PersistenceError, match="not durable"):
        store.put(NS, "doc", {"text": "zebra " * 4000})
    found = store.search(NS, query="zebra")
    assert [(item.key, item.score is not None) for item in found] == [("doc", True)]


@pytest.mark.postgres
def test_a_put_that_fails_while_postgres_is_down_is_visible_and_says_so(
    postgres_server: PostgresServer, postgres_dsn: str, stores: list[SyncedStore]
) -> None:
    a, b = SyncedStore(dsn=postgres_dsn), SyncedStore(dsn=postgres_dsn)
    stores += [a, b]
    a.put(NS, "k", {"v": 1})
    postgres_server.stop()
    try:
        with pytest.raises(PersistenceError, match="not durable: queued locally, 1 queued"):
            a.put(NS, "k", {"v": 2})
        with pytest.raises(PersistenceError, match="not durable: queued locally"):
            a.put(NS, "new", {"v": 3})
        got = a.get(NS, "k")
        assert got is not None and got.value == {"v": 2}
        assert keys(a) == {"k", "new"}
    finally:
        postgres_server.start()
    a.sync()  # flushes the queue
    b.sync()
    got = b.get(NS, "k")
    assert got is not None and got.value == {"v": 2}
    assert keys(b) == {"k", "new"}


# -- item 4: imports waiting for a dependency --------------------------------------------


def two_dependent_blobs() -> tuple[bytes, bytes]:
    """blob1 writes k1; blob2 writes k2 on top of it (Loro keeps blob2 pending without
    blob1)."""
    source = SyncedStore()
    source.put(NS, "k1", {"v": 1})
    middle = source.version()
    blob1 = source.export_updates()
    source.put(NS, "k2", {"v": 2})
    return blob1, source.export_updates(middle)


def test_an_import_waiting_for_its_dependency_survives_a_restart(tmp_path: Path) -> None:
    blob1, blob2 = two_dependent_blobs()
    path = str(tmp_path / "state.db")
    with SyncedStore(path=path) as store:
        store.import_updates(blob2)  # accepted, waiting for blob1
        assert store.get(NS, "k2") is None
        assert store.stats()["imports_waiting"] == 1
    with SyncedStore(path=path) as store:
        assert store.stats()["imports_waiting"] == 1
        store.import_updates(blob1)
        got = store.get(NS, "k2")
        assert got is not None and got.value == {"v": 2}
        assert store.stats()["imports_waiting"] == 0
    with SyncedStore(path=path) as store:
        assert keys(store) == {"k1", "k2"}


WAITING_IMPORT_CHILD = """
import sys, threading
import structlog
from agentsync import SyncedStore

structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # stdout is for acks
store = SyncedStore(path=sys.argv[1])
store.import_updates(bytes.fromhex(sys.argv[2]))
print("imported", flush=True)  # acknowledged: import_updates returned
threading.Event().wait()  # until SIGKILL
"""


def test_an_acknowledged_waiting_import_survives_sigkill(tmp_path: Path) -> None:
    blob1, blob2 = two_dependent_blobs()
    path = str(tmp_path / "state.db")
    acks = acknowledged_before_sigkill(
        WAITING_IMPORT_CHILD, [path, blob2.hex()], random.Random(16), most=1
    )
    assert acks == ["imported"]
    with SyncedStore(path=path) as store:
        assert store.stats()["imports_waiting"] == 1
        store.import_updates(blob1)
        assert keys(store) == {"k1", "k2"}


def test_compaction_never_drops_an_import_that_still_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_persistence, "DEFAULT_COMPACT_EVERY", 3)
    blob1, blob2 = two_dependent_blobs()
    path = str(tmp_path / "state.db")
    with SyncedStore(path=path) as store:
        store.import_updates(blob2)
        for i in range(10):  # several compactions' worth of appends
            store.put(("mine",), f"w{i}", {"v": i})
    with SyncedStore(path=path) as store:
        store.import_updates(blob1)
        got = store.get(NS, "k2")
        assert got is not None and got.value == {"v": 2}
        for i in range(10):  # compaction resumes once nothing waits
            store.put(("mine",), f"x{i}", {"v": i})
    assert len(sqlite_rows(Path(path), "agentsync_updates")) < 10
    with SyncedStore(path=path) as store:
        assert keys(store) == {"k1", "k2"}
        assert len(store.search(("mine",), limit=100)) == 20


# -- item 5: a gap in the SQLite log -------------------------------------------------------


def test_a_gap_in_the_sqlite_log_is_an_error_at_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SyncedStore(path=str(path)) as store:
        for i in range(30):
            store.put(NS, f"k{i}", {"v": i})
    sql(path, "DELETE FROM agentsync_updates WHERE seq = 10")
    with pytest.raises(PersistenceError, match=r"gap: 1 of the 30 update rows .* missing"):
        SyncedStore(path=str(path))
    assert len(sqlite_rows(path, "agentsync_updates")) == 29  # nothing compacted away


def test_a_lost_last_row_is_a_gap_too(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SyncedStore(path=str(path)) as store:
        for i in range(3):
            store.put(NS, f"k{i}", {"v": i})
    sql(path, "DELETE FROM agentsync_updates WHERE seq = 3")
    with pytest.raises(PersistenceError, match="gap"):
        SyncedStore(path=str(path))


# -- item 6: SQLite close with unwritten updates --------------------------------------------


def test_sqlite_close_with_unwritten_updates_raises(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SyncedStore(path=str(path))
    store.put(NS, "a", {"v": 1})
    fill_disk(store)
    with pytest.raises(PersistenceError, match="not durable"):
        store.put(NS, "b", {"text": "x" * 20_000})
    with pytest.raises(PersistenceError, match="closed with 1 write"):
        store.close()
    store.close()  # idempotent: closed all the same
    with SyncedStore(path=str(path)) as reopened:
        assert keys(reopened) == {"a"}


def test_sqlite_close_writes_what_a_failed_append_left(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SyncedStore(path=str(path))
    conn = fill_disk(store)
    with pytest.raises(PersistenceError, match="not durable"):
        store.put(NS, "b", {"text": "x" * 20_000})
    free_disk(conn)
    store.close()
    with SyncedStore(path=str(path)) as reopened:
        assert keys(reopened) == {"b"}


# -- item 7: PostgreSQL stores dropped without close() -------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.postgres
def test_a_postgres_store_dropped_without_close_releases_thread_and_connections(
    postgres_dsn: str,
) -> None:
    with SyncedStore(dsn=postgres_dsn) as warm:  # psycopg's own one-time setup
        warm.put(NS, "k", {"v": 0})
    gc.collect()
    fds = open_fds()
    store = SyncedStore(dsn=postgres_dsn)
    store.put(NS, "k", {"v": 1})
    listeners = [t for t in threading.enumerate() if t.name.startswith("agentsync-listen")]
    assert len(listeners) == 1
    del store
    gc.collect()
    listeners[0].join(30)
    assert not listeners[0].is_alive()
    assert open_fds() <= fds


# -- item 8: errors that cannot heal ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("make_dsn", "message"),
    [
        (lambda s: s.dsn("no_such_database"), 'database "no_such_database" does not exist'),
        (
            lambda s: f"postgresql://no_such_role@127.0.0.1:{s.port}/postgres",
            'role "no_such_role" does not exist',
        ),
        (lambda s: f"host=127.0.0.1 port={s.port} sslmode=nonsense", "sslmode"),
    ],
)
def test_errors_that_cannot_heal_are_not_retried(
    postgres_server: PostgresServer, make_dsn: Any, message: str
) -> None:
    with pytest.raises(PersistenceError) as caught:
        # a retry would wait a minute: the test's timeout would stop it first
        PostgresLog(make_dsn(postgres_server), retry_delays=(60.0,))
    assert message in str(caught.value)
    assert "unreachable" not in str(caught.value)


# -- item 9: an idle transaction held by another client ----------------------------------


@pytest.mark.postgres
def test_an_idle_transaction_does_not_make_every_pull_reread_old_rows(postgres_dsn: str) -> None:
    with (
        PostgresLog(postgres_dsn, replica="writer", retry_delays=()) as writer,
        PostgresLog(postgres_dsn, replica="reader", retry_delays=()) as reader,
        psycopg.connect(postgres_dsn) as idle,
    ):
        loaded(reader)
        idle.execute("SELECT pg_current_xact_id()")  # holds an xid, then sits idle
        for ident in range(50):
            writer.append(bytes([ident]), namespace=NS, key="k", agent="w")
        assert len(pulled(reader)) == 50
        before = reader.rows_fetched
        for _ in range(5):
            assert pulled(reader) == []
        assert reader.rows_fetched == before, "idle pulls read no rows"


# -- item 10: lone surrogates --------------------------------------------------------------


@pytest.mark.parametrize("durable", [False, True])
def test_a_lone_surrogate_in_a_label_or_key_is_a_clear_error(tmp_path: Path, durable: bool) -> None:
    with SyncedStore(path=str(tmp_path / "s.db") if durable else None) as store:
        with pytest.raises(InvalidNamespaceError, match=r"'bad\\ud800'.*surrogate"):
            store.put(("ok", "bad\ud800"), "k", {"v": 1})
        with pytest.raises(ValueError, match=r"'k\\udc00'.*surrogate"):
            store.put(NS, "k\udc00", {"v": 1})
        with pytest.raises(ValueError, match="surrogate"):
            store.delete(NS, "k\udc00")
        with pytest.raises(ValueError, match="surrogate"):
            store.batch([_put_op(("x\ud800",), "k")])
        assert store.get(NS, "k\udc00") is None
        assert store.search(("bad\ud800",)) == []
        store.put(NS, "fine", {"v": 1})  # nothing half-applied
        assert keys(store) == {"fine"}


def _put_op(namespace: tuple[str, ...], key: str) -> Any:
    from langgraph.store.base import PutOp

    return PutOp(namespace, key, {"v": 1})


# -- the on-disk format version ------------------------------------------------------------


def test_a_sqlite_log_of_an_unknown_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sql(path, "CREATE TABLE agentsync_updates (seq INTEGER PRIMARY KEY)")
    sql(path, "PRAGMA user_version=1")
    with pytest.raises(PersistenceError, match="format version 1; this agentsync reads only"):
        SyncedStore(path=str(path))


def test_a_sqlite_file_that_is_not_an_agentsync_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    sql(path, "CREATE TABLE users (id INTEGER PRIMARY KEY)")
    with pytest.raises(PersistenceError, match="not an agentsync log"):
        SyncedStore(path=str(path))
    assert sql(path, "SELECT name FROM sqlite_master") == [("users",)]


# -- issue 15 item 10: what a call pulls while it runs is not "seen" by it ----------------


@pytest.mark.postgres
def test_a_put_that_pulls_a_concurrent_write_during_its_call_escalates(
    postgres_dsn: str, stores: list[SyncedStore]
) -> None:
    """Two replicas blind-put one key at the same moment: b's call pulls a's write (the
    listener woke it) before writing, but b's replica had not imported it when the call
    began, so the two writes are concurrent: a conflict, never a silent overwrite."""
    a, b = SyncedStore(dsn=postgres_dsn), SyncedStore(dsn=postgres_dsn)
    stores += [a, b]
    with a.acting_as("alice"):
        a.put(NS, "plan", {"status": "approved"})
    b._durability.woken = True  # the NOTIFY of a's append has arrived, not yet pulled
    with_b = b.put(NS, "plan", {"status": "rejected"})
    assert with_b is None
    item = b.get(NS, "plan")
    assert item is not None and item.value["status"] == "<escalated:status>"
    (esc,) = b.escalations()
    assert sorted(c.value for c in esc.contenders) == ["approved", "rejected"]
    # a later plain put on b has seen both: an overwrite, no new conflict
    b.put(NS, "plan", {"status": "shipped"})
    assert b.get(NS, "plan").value == {"status": "shipped"}  # type: ignore[union-attr]


def test_a_reopened_store_and_a_fresh_replica_search_in_the_writers_order(tmp_path: Path) -> None:
    """Search lists a namespace's keys in the order they were created (InMemoryStore's
    order on one replica): a reopened store and a replica that imported everything at once
    list them so too (they used to follow the key ids' hash order)."""
    from store_support import FakeClock

    from agentsync import SyncedStore

    clock = FakeClock()
    path = str(tmp_path / "order.db")
    writer = SyncedStore(path=path, clock=clock)
    names = [f"key-{i}" for i in (7, 3, 9, 1, 5, 0, 8, 2, 6, 4)]
    for name in names:
        clock.advance(1)
        writer.put(("ns",), name, {"v": name})
    fresh = SyncedStore()
    fresh.import_updates(writer.export_updates(None))
    writer.close()
    reopened = SyncedStore(path=path, clock=clock)
    for store in (reopened, fresh):
        assert [item.key for item in store.search(("ns",), limit=100)] == names
    reopened.close()
