"""SQLite update log: durability under SIGKILL, compaction, reopening, input checks.

Blobs are raw bytes from a tiny codec: an update carries one id, a snapshot carries the
set of every id appended before it, so "what does reopening rebuild" is a set of ids.
"""

from __future__ import annotations

import random
import sqlite3
import textwrap
from pathlib import Path

import pytest
from crash_support import acknowledged_before_sigkill
from persistence_support import loaded, pulled

from agentsync._errors import PersistenceError
from agentsync._persistence import LogEntry, NullLog, SqliteLog, UpdateLog, open_log


def update(ident: int) -> bytes:
    return b"u" + ident.to_bytes(8, "big")


def snapshot_of(idents: set[int]) -> bytes:
    return b"s" + b"".join(i.to_bytes(8, "big") for i in sorted(idents))


def rebuild(blobs: list[bytes]) -> set[int]:
    """Import what load() returned: the snapshot first (if any), updates after it."""
    state: set[int] = set()
    for position, blob in enumerate(blobs):
        kind, body = blob[:1], blob[1:]
        assert len(body) % 8 == 0, f"blob {position} is torn: {blob!r}"
        idents = {int.from_bytes(body[i : i + 8], "big") for i in range(0, len(body), 8)}
        if kind == b"s":
            assert position == 0, "a snapshot may only come first"
            state |= idents
        else:
            assert kind == b"u" and len(idents) == 1, f"blob {position} is not an update"
            state |= idents
    return state


def entry(ident: int) -> LogEntry:
    return LogEntry(update(ident), ("tenant", "notes"), f"k{ident % 7}", "writer")


def append(log: UpdateLog, ident: int) -> None:
    log.append(update(ident), namespace=("tenant", "notes"), key="k", agent="writer")


def test_appends_come_back_in_order_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_log(path=path) as log:
        for ident in (3, 1, 2):
            append(log, ident)
    with open_log(path=path) as log:
        assert loaded(log) == [update(3), update(1), update(2)]


def test_append_many_commits_the_whole_batch(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteLog(path) as log:
        log.append_many([entry(i) for i in range(50)])
        log.append_many([])
    with SqliteLog(path) as log:
        assert loaded(log) == [update(i) for i in range(50)]


def test_bad_entry_in_a_batch_appends_nothing(tmp_path: Path) -> None:
    with SqliteLog(tmp_path / "state.db") as log:
        batch: list[LogEntry] = [entry(1), LogEntry("not bytes", ("ns",), "k", "a")]  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="update blob must be bytes"):
            log.append_many(batch)
        with pytest.raises(TypeError, match="namespace must be a tuple of str"):
            log.append(update(2), namespace=["ns"], key="k", agent="a")  # type: ignore[arg-type]
        assert loaded(log) == []


def test_compaction_keeps_one_snapshot_plus_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state: set[int] = set()
    with SqliteLog(path, compact_every=10) as log:
        for ident in range(25):
            state.add(ident)  # applied before it is appended, as the store does
            append(log, ident)
            log.maybe_compact(lambda: snapshot_of(state))
    with SqliteLog(path, compact_every=10) as log:
        blobs = loaded(log)
    assert blobs[0] == snapshot_of(set(range(20)))
    assert blobs[1:] == [update(i) for i in range(20, 25)]


def test_maybe_compact_waits_for_enough_appends(tmp_path: Path) -> None:
    with SqliteLog(tmp_path / "state.db", compact_every=3) as log:
        append(log, 1)
        append(log, 2)
        assert not log.maybe_compact(lambda: snapshot_of({1, 2}))
        append(log, 3)
        assert log.maybe_compact(lambda: snapshot_of({1, 2, 3}))
        assert not log.maybe_compact(lambda: snapshot_of({1, 2, 3}))
        assert loaded(log) == [snapshot_of({1, 2, 3})]


def test_reopened_log_counts_appends_made_before_it_closed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteLog(path, compact_every=4) as log:
        for ident in range(3):
            append(log, ident)
    with SqliteLog(path, compact_every=4) as log:
        append(log, 3)
        assert log.maybe_compact(lambda: snapshot_of({0, 1, 2, 3}))


def test_rows_appended_while_the_snapshot_is_taken_stay_in_the_log(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteLog(path, compact_every=2) as log:
        append(log, 1)
        append(log, 2)

        def snapshot_racing_a_writer() -> bytes:
            taken = snapshot_of({1, 2})
            append(log, 3)  # another thread's put lands while the snapshot is built
            return taken

        assert log.maybe_compact(snapshot_racing_a_writer)
    with SqliteLog(path) as log:
        assert loaded(log) == [snapshot_of({1, 2}), update(3)]


def test_appends_after_a_compaction_that_emptied_the_log_survive_reopen(
    tmp_path: Path,
) -> None:
    # Without AUTOINCREMENT, SQLite reuses rowids after deleting every row, and the new
    # rows would hide behind the snapshot's `upto`.
    path = tmp_path / "state.db"
    with SqliteLog(path, compact_every=2) as log:
        append(log, 1)
        append(log, 2)
        assert log.maybe_compact(lambda: snapshot_of({1, 2}))
        append(log, 3)
    with SqliteLog(path) as log:
        assert rebuild(loaded(log)) == {1, 2, 3}


def test_failing_snapshot_leaves_the_log_untouched(tmp_path: Path) -> None:
    with SqliteLog(tmp_path / "state.db", compact_every=2) as log:
        append(log, 1)
        append(log, 2)

        def broken() -> bytes:
            raise RuntimeError("export failed")

        with pytest.raises(RuntimeError, match="export failed"):
            log.maybe_compact(broken)
        assert loaded(log) == [update(1), update(2)]
        assert log.maybe_compact(lambda: snapshot_of({1, 2}))


def test_reopening_100k_writes_reads_a_snapshot_and_a_short_tail(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state: set[int] = set()
    with SqliteLog(path, compact_every=1000, synchronous="normal") as log:
        for start in range(0, 100_000, 250):
            batch = [entry(i) for i in range(start, start + 250)]
            state.update(range(start, start + 250))
            log.append_many(batch)
            log.maybe_compact(lambda: snapshot_of(state))
        for ident in range(100_000, 100_010):
            state.add(ident)
            append(log, ident)
    with SqliteLog(path) as log:
        blobs = loaded(log)
        assert log.integrity_check() == "ok"
    assert len(blobs) == 1 + 10
    assert rebuild(blobs) == set(range(100_010))


CHILD = textwrap.dedent(
    """
    import random, sys
    import structlog
    from agentsync._persistence import LogEntry, SqliteLog

    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # stdout is for acks

    path, start, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    log = SqliteLog(path, compact_every=25)
    state = set()

    def apply(blob):
        body = blob[1:]
        state.update(int.from_bytes(body[i:i + 8], "big") for i in range(0, len(body), 8))

    log.load(apply)

    def update(i):
        return b"u" + i.to_bytes(8, "big")

    ident = start
    while True:
        size = rng.choice([1, 1, 1, 5, 40])
        batch = list(range(ident, ident + size))
        ident += size
        state.update(batch)
        if size == 1:
            log.append(update(batch[0]), namespace=("ns",), key="k", agent="child")
        else:
            log.append_many([LogEntry(update(i), ("ns",), "k", "child") for i in batch])
        sys.stdout.write("".join(f"{i}\\n" for i in batch))  # acknowledged: durable now
        sys.stdout.flush()
        log.maybe_compact(lambda: b"s" + b"".join(i.to_bytes(8, "big") for i in sorted(state)))
    """
)


def test_sigkill_at_random_points_loses_no_acknowledged_append(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    rng = random.Random(6)
    acknowledged: set[int] = set()
    next_ident = 0
    for round_ in range(10):
        lines = acknowledged_before_sigkill(
            CHILD, [str(path), str(next_ident), str(round_)], rng, 250
        )
        acknowledged.update(int(line) for line in lines)
        with SqliteLog(path) as log:
            assert log.integrity_check() == "ok"
            reopened = rebuild(loaded(log))
        assert acknowledged <= reopened, f"lost: {sorted(acknowledged - reopened)[:10]}"
        # Commits are atomic and sequential, so what survived is a gapless prefix of
        # every id ever written: nothing torn, nothing reordered, no phantoms.
        assert reopened == set(range(max(reopened) + 1))
        next_ident = max(reopened) + 1
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_second_writer_is_refused_while_the_log_is_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteLog(path), pytest.raises(PersistenceError, match="open in another process"):
        SqliteLog(path, lock_timeout=0.0)
    with SqliteLog(path) as log:  # closing released the lock
        assert loaded(log) == []


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(PersistenceError, match=r"cannot open SQLite log .*state\.db"):
        SqliteLog(path)


def test_a_log_from_a_newer_agentsync_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version=99")
    with pytest.raises(PersistenceError, match="format version 99"):
        SqliteLog(path)


def test_a_closed_log_refuses_appends(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "state.db")
    log.close()
    log.close()  # idempotent
    with pytest.raises(PersistenceError, match="closed"):
        append(log, 1)


def test_single_writer_log_never_has_news_from_elsewhere(tmp_path: Path) -> None:
    with SqliteLog(tmp_path / "state.db") as log:
        woken: list[bool] = []
        log.start_listener(lambda: woken.append(True))
        append(log, 1)
        assert pulled(log) == []
        assert woken == []


def test_open_log_picks_the_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        open_log(path=tmp_path / "a.db", dsn="postgresql://localhost/x")
    memory = open_log()
    assert isinstance(memory, NullLog)
    memory.append(update(1), namespace=("ns",), key="k", agent="a")
    assert loaded(memory) == []
    durable = open_log(path=tmp_path / "a.db")
    assert isinstance(durable, SqliteLog)
    durable.close()


def test_invalid_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="compact_every"):
        SqliteLog(tmp_path / "a.db", compact_every=0)
    with pytest.raises(ValueError, match="synchronous"):
        SqliteLog(tmp_path / "a.db", synchronous="off")  # type: ignore[arg-type]
