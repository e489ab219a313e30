from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from trio.testing import MockClock


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    """Every async simulator test runs on Trio's virtual clock: time jumps to the next
    deadline whenever all tasks wait, so simulated seconds cost no wall time."""
    return ("trio", {"clock": MockClock(autojump_threshold=0)})


@pytest.fixture(autouse=True)
def quiet_structlog() -> Iterator[None]:
    """Simulator debug events are many; keep test output readable."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**saved)
