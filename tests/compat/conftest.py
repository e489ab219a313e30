"""Fixtures for LangGraph's own store suites, run against agentsync's stores.

The copied files keep upstream's test bodies; what changes is where their stores and
their time come from (see `langgraph_stand_ins` and README.md in this directory).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from tests.compat import langgraph_stand_ins


def pytest_configure(config: pytest.Config) -> None:
    # upstream's markers: `asyncio` (pytest-asyncio; here anyio runs the coroutines) and
    # `flaky` (pytest-retry; here nothing is retried, the clock is exact)
    config.addinivalue_line("markers", "asyncio: upstream's pytest-asyncio marker (anyio here)")
    config.addinivalue_line("markers", "flaky(retries): upstream's retry marker (no retries)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # upstream runs coroutine tests with pytest-asyncio's auto mode; anyio's plugin runs them
    for item in items:
        function = getattr(item, "function", None)
        if (
            "tests/compat/" in item.nodeid
            and function is not None
            and inspect.iscoroutinefunction(function)
        ):
            item.add_marker(pytest.mark.anyio)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def fake_time(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[langgraph_stand_ins.FakeClock]:
    """Upstream's `time.sleep`/`asyncio.sleep` advance the stores' clock instead of waiting."""
    clock = langgraph_stand_ins.FakeClock()
    module = request.module
    if hasattr(module, "time"):
        monkeypatch.setattr(module, "time", langgraph_stand_ins.FakeTimeModule(clock))
    if hasattr(module, "asyncio"):
        monkeypatch.setattr(module, "asyncio", langgraph_stand_ins.FakeAsyncioModule(clock))
    monkeypatch.setattr(langgraph_stand_ins, "CLOCK", clock)
    yield clock
