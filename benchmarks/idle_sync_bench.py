"""Cost of an idle `sync()` on a PostgreSQL-backed store while another client holds a
transaction open (issue 16 item 9).

Replica a writes ROWS puts (one log row each); replica b catches up, then runs idle
`sync()` calls: nothing new to read. Measured with and without a third connection
sitting idle inside a transaction that holds a transaction id (a forgotten `BEGIN` in
some other application), which used to pin the catch-up cursor at its start.

    .venv/bin/python benchmarks/idle_sync_bench.py [--rows 5000] [--dsn postgresql://...]

Without --dsn it starts a throwaway cluster (PostgreSQL 15 binaries, see tests/conftest.py).
Compare two checkouts by pointing PYTHONPATH at the other one's src/.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import structlog

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def throwaway_server() -> Iterator[str]:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield server.dsn()
    finally:
        server.cleanup()


def fresh_database(dsn: str, name: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(dsn, dbname=name)


def idle_sync_ms(dsn: str, rows: int, *, idle_transaction: bool, repeats: int) -> float:
    from agentsync import SyncedStore

    with SyncedStore(dsn=dsn) as a, SyncedStore(dsn=dsn) as b, psycopg.connect(dsn) as idle:
        if idle_transaction:
            idle.execute("SELECT pg_current_xact_id()")  # BEGIN + an xid, then nothing
        for i in range(rows):
            a.put(("bench",), f"k{i}", {"v": i})
        b.sync()  # catch up once
        assert len(b.search(("bench",), limit=rows + 1)) == rows
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            b.sync()
            samples.append((time.perf_counter() - start) * 1e3)
        idle.rollback()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--dsn", help="an existing server (a scratch database is created)")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with throwaway_server() if args.dsn is None else _given(args.dsn) as dsn:
        for idle_transaction in (False, True):
            db = fresh_database(dsn, f"idle_bench_{int(idle_transaction)}")
            ms = idle_sync_ms(
                db, args.rows, idle_transaction=idle_transaction, repeats=args.repeats
            )
            label = "with an idle transaction" if idle_transaction else "no idle transaction"
            print(f"idle sync() after {args.rows} rows, {label}: {ms:.2f} ms (median)")


@contextmanager
def _given(dsn: str) -> Iterator[str]:
    yield dsn


if __name__ == "__main__":
    main()
