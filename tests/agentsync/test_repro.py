"""`python -m agentsync.repro`: the stock store loses a write, ours merges and escalates."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import pytest
import structlog
from langgraph.store.memory import InMemoryStore

from agentsync import repro
from agentsync._store import AsyncSyncedStore, SyncedStore


def test_stock_inmemorystore_silently_loses_one_finding() -> None:
    final = repro.run_sync(InMemoryStore())
    assert len(repro._lost(final)) == 1
    assert final["status"] in ("approved", "needs-work")


@pytest.mark.parametrize("store_cls", [SyncedStore, AsyncSyncedStore])
def test_synced_stores_keep_both_findings_and_escalate_the_status(store_cls: type) -> None:
    store = store_cls()
    final = repro.run_sync(store)
    assert repro._lost(final) == []
    assert final["status"] == "<escalated:status>"
    [esc] = store.escalations()
    assert {c.agent_id for c in esc.contenders} == {"researcher", "critic"}


def test_async_graph_on_async_synced_store() -> None:
    store = AsyncSyncedStore()
    final = asyncio.run(repro.run_async(store))
    assert repro._lost(final) == []
    assert [e.field for e in store.escalations()] == ["status"]


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """main() quiets structlog when nobody configured it; undo that for later tests."""
    saved = structlog.get_config()
    configured = structlog.is_configured()
    yield
    if configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


@pytest.mark.usefixtures("restore_structlog")
def test_main_prints_the_langgraph_version_and_both_outcomes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert repro.main([]) == 0
    out = capsys.readouterr().out
    assert f"langgraph {version('langgraph')}" in out
    assert "<- no error, no warning" in out
    assert out.count("ESCALATED team:plan field 'status'") == 2
    assert out.count("lost writes: none") == 2
    assert out.strip().endswith("reproduced and fixed")


def test_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentsync.repro"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reproduced and fixed" in result.stdout
