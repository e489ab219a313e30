"""PostgreSQL update log against a real PostgreSQL 15 server (see tests/conftest.py).

Several `PostgresLog`s on one database play replicas in different processes. Blobs are
raw bytes: an update carries one id, a snapshot every id it covers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import psycopg
import pytest
from persistence_support import loaded, pulled

from agentsync._errors import PersistenceError
from agentsync._persistence import LogEntry, PostgresLog, open_log

if TYPE_CHECKING:
    from tests.conftest import PostgresServer

pytestmark = pytest.mark.postgres

WAIT = 30.0
"""Upper bound for a background wake-up to arrive; only reached if the test fails."""


def update(ident: int) -> bytes:
    return b"u" + ident.to_bytes(8, "big")


def snapshot_of(idents: set[int]) -> bytes:
    return b"s" + b"".join(i.to_bytes(8, "big") for i in sorted(idents))


def ids(blobs: list[bytes]) -> set[int]:
    return {int.from_bytes(b[i : i + 8], "big") for b in blobs for i in range(1, len(b), 8)}


@pytest.fixture
def make_log(postgres_dsn: str) -> Iterator[Callable[..., PostgresLog]]:
    """Opens logs on this test's database and closes them after the test."""
    opened: list[PostgresLog] = []

    def make(replica: str, **options: object) -> PostgresLog:
        options.setdefault("retry_delays", ())
        options.setdefault("listen_backoff", (0.02, 0.1))
        log = PostgresLog(postgres_dsn, replica=replica, **options)  # type: ignore[arg-type]
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def put(log: PostgresLog, ident: int) -> None:
    log.append(update(ident), namespace=("team", "plan"), key=f"k{ident}", agent="writer")


def test_two_replicas_read_each_others_appends_exactly_once(
    make_log: Callable[..., PostgresLog],
) -> None:
    a, b = make_log("a"), make_log("b")
    assert loaded(a) == [] and loaded(b) == []
    put(a, 1)
    put(b, 2)
    a.append_many([LogEntry(update(i), ("team",), "k", "planner") for i in (3, 4)])
    assert pulled(b) == [update(1), update(3), update(4)]
    assert pulled(a) == [update(2)]
    assert pulled(a) == [] and pulled(b) == []
    put(b, 5)
    assert pulled(a) == [update(5)]


def test_a_row_committed_late_with_a_lower_seq_is_not_missed(
    make_log: Callable[..., PostgresLog], postgres_dsn: str
) -> None:
    # A cursor on "highest seq seen" would skip the slow writer's row forever: its seq
    # is lower than the fast writer's, but it becomes visible after the reader moved on.
    a, b = make_log("fast"), make_log("reader")
    loaded(b)
    with psycopg.connect(postgres_dsn) as slow:
        slow.execute(
            "INSERT INTO agentsync_updates (namespace, key, replica, agent, update_blob)"
            " VALUES (%s, %s, %s, %s, %s)",
            (["team"], "k", "slow", "writer", update(1)),
        )
        put(a, 2)
        assert pulled(b) == [update(2)]
        slow.commit()
    assert pulled(b) == [update(1)]
    assert pulled(b) == []


def test_a_new_replica_loads_everything_through_a_snapshot(
    make_log: Callable[..., PostgresLog],
) -> None:
    a, b = make_log("a", compact_every=5), make_log("b")
    state: set[int] = set()
    for ident in range(12):
        if ident % 3 == 0:
            put(b, 100 + ident)
        state.update(ids(pulled(a)))  # the store imports what it fetched
        state.add(ident)
        put(a, ident)
        a.maybe_compact(lambda: snapshot_of(state))
    put(b, 999)  # after every snapshot
    blobs = loaded(make_log("c"))
    assert blobs[0][:1] == b"s", "a compacted log loads from its snapshot"
    assert ids(blobs) == set(range(12)) | {100, 103, 106, 109, 999}
    assert len(blobs) < 1 + 12 + 5


def test_snapshot_of_a_pure_writer_covers_all_its_rows(
    make_log: Callable[..., PostgresLog],
) -> None:
    a = make_log("writer", compact_every=10)
    state: set[int] = set()
    for ident in range(25):
        state.add(ident)
        put(a, ident)
        a.maybe_compact(lambda: snapshot_of(state))
    blobs = loaded(make_log("reader"))
    assert blobs[0] == snapshot_of(set(range(20)))
    assert blobs[1:] == [update(i) for i in range(20, 25)]


def test_listener_wakes_on_other_replicas_appends_only(
    make_log: Callable[..., PostgresLog],
) -> None:
    a, b = make_log("a"), make_log("b")
    woken = threading.Event()
    wakes: list[int] = []

    def wake() -> None:
        wakes.append(1)
        woken.set()

    a.start_listener(wake)
    assert woken.wait(WAIT), "the listener wakes once when it starts listening"
    woken.clear()
    wakes.clear()
    put(a, 1)  # its own append: no wake-up
    put(b, 2)
    assert woken.wait(WAIT)
    assert pulled(a) == [update(2)]
    assert len(wakes) == 1
    with pytest.raises(RuntimeError, match="already has a listener"):
        a.start_listener(wake)


def test_close_stops_the_listener_thread(make_log: Callable[..., PostgresLog]) -> None:
    a = make_log("a")
    woken = threading.Event()
    a.start_listener(woken.set)
    assert woken.wait(WAIT)
    listener = a._resources.listener
    a.close()
    assert listener is not None and not listener.is_alive()


def test_server_restart_mid_run_loses_nothing(
    make_log: Callable[..., PostgresLog], postgres_server: PostgresServer
) -> None:
    a, b = make_log("a"), make_log("b")
    woken = threading.Event()
    b.start_listener(woken.set)
    assert woken.wait(WAIT)
    put(a, 1)
    assert pulled(b) == [update(1)]
    woken.clear()

    postgres_server.stop(mode="immediate")  # a crash: no shutdown checkpoint
    try:
        with pytest.raises(PersistenceError, match=r"unreachable .*1 update\(s\) queued"):
            put(a, 2)
        assert [e.blob for e in a.pending()] == [update(2)]
        with pytest.raises(PersistenceError, match="unreachable"):
            pulled(b)
    finally:
        postgres_server.start()

    put(a, 3)  # flushes the queued append first, in order
    assert a.pending() == []
    assert woken.wait(WAIT), "the listener reconnects and wakes to catch up"
    assert pulled(b) == [update(2), update(3)]
    assert ids(loaded(make_log("c"))) == {1, 2, 3}


def test_queued_appends_flush_on_fetch_after_the_server_returns(
    make_log: Callable[..., PostgresLog], postgres_server: PostgresServer
) -> None:
    a, b = make_log("a"), make_log("b")
    put(a, 1)
    postgres_server.stop()
    try:
        for ident in (2, 3):
            with pytest.raises(PersistenceError):
                put(a, ident)
    finally:
        postgres_server.start()
    assert pulled(a) == []  # pushes the queue, then pulls
    assert a.pending() == []
    assert pulled(b) == [update(1), update(2), update(3)]


def test_close_reports_appends_it_could_not_write(
    make_log: Callable[..., PostgresLog], postgres_server: PostgresServer
) -> None:
    a = make_log("a")
    postgres_server.stop()
    try:
        with pytest.raises(PersistenceError):
            put(a, 1)
        with pytest.raises(PersistenceError, match=r"1 update\(s\) never written"):
            a.close()
    finally:
        postgres_server.start()


def test_unreachable_server_is_a_clear_error() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PersistenceError, match=rf"PostgreSQL at 127\.0\.0\.1:{port}/x unreachable"):
        open_log(dsn=f"postgresql://u:secret@127.0.0.1:{port}/x", retry_delays=())
    with pytest.raises(PersistenceError) as info:
        open_log(dsn=f"postgresql://u:secret@127.0.0.1:{port}/x", retry_delays=(0.0,))
    assert "secret" not in str(info.value)
    assert "2 attempts" in str(info.value)


def test_schema_is_created_once_with_a_version(
    make_log: Callable[..., PostgresLog], postgres_dsn: str
) -> None:
    opened: list[PostgresLog] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def first_use(replica: str) -> None:
        start.wait()
        try:
            opened.append(make_log(replica))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 4
    with psycopg.connect(postgres_dsn) as conn:
        versions = conn.execute("SELECT version FROM agentsync_schema_version").fetchall()
        assert versions == [(1,)]
        conn.execute("INSERT INTO agentsync_schema_version (version) VALUES (99)")
    with pytest.raises(PersistenceError, match="format version 99"):
        make_log("from-the-past")


def test_open_log_with_a_dsn_shares_the_log(postgres_dsn: str) -> None:
    with open_log(dsn=postgres_dsn, replica="x") as x, open_log(dsn=postgres_dsn) as y:
        assert isinstance(y, PostgresLog) and y.replica != "x"
        x.append(update(7), namespace=("n",), key="k", agent="a")
        assert pulled(y) == [update(7)]


def test_nul_in_provenance_cannot_block_later_appends(
    make_log: Callable[..., PostgresLog],
) -> None:
    a, b = make_log("a"), make_log("b")
    a.append(update(1), namespace=("team\x00",), key="k\x00", agent="who\x00")
    put(a, 2)
    assert a.pending() == []
    assert pulled(b) == [update(1), update(2)]


def test_replica_names_fit_in_a_notification() -> None:
    for bad in ("", "x" * 201, "a\x00b"):
        with pytest.raises(ValueError, match="replica must be"):
            PostgresLog("postgresql://127.0.0.1:1/none", replica=bad)
