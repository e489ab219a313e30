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


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    # Upstream runs coroutine tests with pytest-asyncio's auto mode; here anyio's plugin
    # runs them. The mark goes on the function before pytest parametrizes it.
    if name.startswith("test") and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


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
