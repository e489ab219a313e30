"""Shared fixtures. PostgreSQL tests run against a real, throwaway PostgreSQL 15 cluster."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_BINDIR = Path(os.environ.get("AGENTSYNC_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
"""Where initdb/pg_ctl live; CI images put PostgreSQL 15 here."""

PG_OS_USER = "postgres"
"""PostgreSQL refuses to run as root, so as root the cluster runs as this user."""


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """A throwaway cluster in a temporary directory, listening on 127.0.0.1 only.

    `stop()`/`start()`/`restart()` exist so tests can take the server away mid-run;
    the port and data survive a restart, as they would for a real deployment.
    """

    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BINDIR / tool).is_file():
                pytest.fail(
                    f"PostgreSQL tests need {PG_BINDIR / tool} (set AGENTSYNC_PG_BINDIR); "
                    "they must not be skipped",
                    pytrace=False,
                )
        self._as_root = os.geteuid() == 0
        self._owner = pwd.getpwnam(PG_OS_USER) if self._as_root else None
        self.base = Path(tempfile.mkdtemp(prefix="agentsync-pg-"))
        if self._owner is not None:
            os.chown(self.base, self._owner.pw_uid, self._owner.pw_gid)
        self.datadir = self.base / "data"
        self.logfile = self.base / "server.log"
        self.port = _free_loopback_port()
        self.superuser = PG_OS_USER if self._as_root else pwd.getpwuid(os.getuid()).pw_name
        self._dbnames = itertools.count()
        self._pg(
            "initdb",
            "--pgdata",
            str(self.datadir),
            "--username",
            self.superuser,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )

    def _pg(self, tool: str, *args: str) -> None:
        owner = self._owner
        result = subprocess.run(
            [str(PG_BINDIR / tool), *args],
            cwd=self.base,
            user=owner.pw_uid if owner else None,
            group=owner.pw_gid if owner else None,
            extra_groups=[] if owner else None,  # drop root's supplementary groups too
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else "(no server log)"
            pytest.fail(
                f"{tool} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\nserver log:\n{log[-4000:]}",
                pytrace=False,
            )

    def start(self) -> None:
        # fsync=off only drops protection against an OS crash; a killed server process
        # still keeps every committed transaction, which is what these tests exercise.
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories='{self.base}' -c fsync=off"
        )
        self._pg("pg_ctl", "start", "--wait", "--pgdata", str(self.datadir), "--log",
                 str(self.logfile), "--options", options)  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`mode="immediate"` kills the server without a checkpoint, like a crash."""
        self._pg("pg_ctl", "stop", "--wait", "--pgdata", str(self.datadir), "--mode", mode)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A fresh, empty database on this server; returns its DSN."""
        if not self.running:  # an earlier test stopped it and failed before restarting
            self.start()
        name = f"agentsync_test_{next(self._dbnames)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def cleanup(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL 15 server for the session; fails loudly if it cannot start."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A DSN to a database no other test uses, so every test starts from an empty log."""
    return postgres_server.create_database()


def pytest_report_header() -> str:
    from agentsync import _accel

    build = _accel.build_name()
    return f"agentsync build: {build}"
