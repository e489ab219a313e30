"""agentsync is silent unless the application asks: stdlib logging by default, structlog
when the application configured it, one summary per reopen."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from agentsync import SyncedStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """An application that never touched structlog (other tests configure it)."""
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


@pytest.fixture
def agentsync_level() -> Iterator[None]:
    logger = logging.getLogger("agentsync")
    level = logger.level
    try:
        yield
    finally:
        logger.setLevel(level)


def test_readme_quick_start_prints_only_its_own_output() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(b for b in blocks if "SyncedStore()" in b)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["AGENTSYNC_PURE_PYTHON"] = "1"  # a stale compiled build's warning is not a log event
    done = subprocess.run(
        [sys.executable, "-c", example],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    assert done.stderr == ""
    # the example's own print, and not one event line
    [line] = done.stdout.splitlines()
    assert line.startswith("status [")


def test_basic_config_shows_events_and_set_level_silences_them(
    unconfigured_structlog: None, agentsync_level: None, caplog: pytest.LogCaptureFixture
) -> None:
    store = SyncedStore()
    with caplog.at_level(logging.DEBUG, logger="agentsync"):
        store.put(("ns",), "k", {"a": 1})
    merged = [r for r in caplog.records if r.getMessage().startswith("put merged")]
    assert len(merged) == 1
    assert merged[0].name == "agentsync.core"
    assert merged[0].levelno == logging.DEBUG
    assert "key='k'" in merged[0].getMessage()
    assert merged[0].agentsync_event == "put merged"  # type: ignore[attr-defined]

    caplog.clear()
    with caplog.at_level(logging.DEBUG):  # the root logger lets everything through
        logging.getLogger("agentsync").setLevel(logging.ERROR)
        store.put(("ns",), "k", {"a": 2})
        store.delete(("ns",), "k")
    assert [r for r in caplog.records if r.name.startswith("agentsync")] == []


def test_basic_config_in_a_fresh_process_prints_events_to_stderr() -> None:
    code = (
        "import logging\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "from agentsync import SyncedStore\n"
        "SyncedStore().put(('ns',), 'k', {'a': 1})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["AGENTSYNC_PURE_PYTHON"] = "1"  # a stale compiled build's warning is not a log event
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "DEBUG:agentsync.core:put merged: namespace=('ns',) key='k'" in done.stderr


def test_a_structlog_configured_app_gets_the_events(unconfigured_structlog: None) -> None:
    store = SyncedStore()
    with capture_logs() as events:  # configures structlog: the app's own pipeline
        store.put(("ns",), "k", {"a": 1})
    assert [e["event"] for e in events] == ["put merged"]
    assert events[0]["key"] == "k" and events[0]["log_level"] == "debug"


def test_a_filtered_debug_event_is_never_built(
    unconfigured_structlog: None, agentsync_level: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentsync._logging import Logger

    built: list[str] = []

    def record(self: Logger, event: str, **fields: object) -> None:
        built.append(event)

    monkeypatch.setattr(Logger, "debug", record)
    logging.getLogger("agentsync").setLevel(logging.INFO)
    store = SyncedStore()
    store.put(("ns",), "k", {"a": 1})
    assert built == []
    logging.getLogger("agentsync").setLevel(logging.DEBUG)
    store.put(("ns",), "k", {"a": 2})
    assert built == ["put merged"]


def test_reopening_a_durable_store_logs_one_summary(
    tmp_path: Path, unconfigured_structlog: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    with SyncedStore(path=str(path)) as store:
        for i in range(30):
            store.put(("ns",), f"k{i % 7}", {"n": i})
    with caplog.at_level(logging.DEBUG, logger="agentsync"):
        reopened = SyncedStore(path=str(path))
    reopened.close()
    imported = [r for r in caplog.records if r.getMessage().startswith("updates imported")]
    assert len(imported) == 1, [r.getMessage() for r in imported]
    assert imported[0].agentsync_fields == {  # type: ignore[attr-defined]
        "source": "open",
        "writes": 30,
        "keys": 7,
    }
