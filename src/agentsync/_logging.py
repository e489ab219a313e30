"""Where agentsync's events go: silent unless the application asks.

Every module logs through `get_logger(__name__)`. An event goes to the application's
structlog pipeline when the application has configured structlog
(`structlog.is_configured()`); otherwise it goes to the standard `logging` logger
`agentsync` or one of its children (`agentsync.store`, `agentsync.core`, ...), so
`logging.basicConfig(level=logging.DEBUG)` shows the events and
`logging.getLogger("agentsync").setLevel(logging.ERROR)` silences them, as with any
library. The `agentsync` logger carries a `NullHandler`, so an application that configures
nothing sees nothing (not even warnings through logging's last-resort handler).

The choice is made per event, so configuring structlog after importing agentsync takes
effect at once. A hot path asks `debug_enabled()` before building a debug event.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import structlog

__all__ = ["ROOT_LOGGER", "Logger", "get_logger", "logger_name"]

ROOT_LOGGER: Final = "agentsync"

# A library adds a NullHandler to its top logger and nothing else (logging HOWTO)
logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())

# what a filtering bound logger set above DEBUG has for `debug`: a method that drops it
_DROPPED_DEBUG: Final = structlog.make_filtering_bound_logger(logging.INFO).debug

# structlog's live configuration object: reading one attribute of it is ~20x cheaper than
# `get_config()`, which builds a dict per call (private, so only if it is still there)
_STRUCTLOG_CONFIG: Final[Any] = getattr(getattr(structlog, "_config", None), "_CONFIG", None)


def logger_name(module: str) -> str:
    """The `logging` name for a module: `agentsync._store` logs as `agentsync.store`."""
    return ".".join(part.lstrip("_") or part for part in module.split("."))


def _structlog_drops_debug() -> bool:
    """Whether the configured structlog wrapper drops debug events (a filtering bound
    logger set above DEBUG, as deployments and benchmarks configure)."""
    wrapper = getattr(_STRUCTLOG_CONFIG, "default_wrapper_class", _DROPPED_DEBUG)
    if wrapper is _DROPPED_DEBUG:  # not the structlog this was written against
        wrapper = structlog.get_config()["wrapper_class"]
    return getattr(wrapper, "debug", None) is _DROPPED_DEBUG


def _render(event: str, fields: dict[str, Any]) -> str:
    if not fields:
        return event
    return event + ": " + " ".join(f"{name}={value!r}" for name, value in fields.items())


class Logger:
    """One module's events, sent where the application asked for them."""

    __slots__ = ("_stdlib", "name")

    def __init__(self, module: str) -> None:
        self.name = logger_name(module)
        # loggers live as long as the process, so holding one is safe and saves a lookup
        self._stdlib = logging.getLogger(self.name)

    def debug_enabled(self) -> bool:
        """Whether a debug event would go anywhere: ask before building a hot-path event."""
        if structlog.is_configured():
            return not _structlog_drops_debug()
        return self._stdlib.isEnabledFor(logging.DEBUG)

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, "error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error event with the exception being handled."""
        fields.setdefault("exc_info", True)
        self._emit(logging.ERROR, "error", event, fields)

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(structlog.get_logger(self.name), method)(event, **fields)
            return
        if not self._stdlib.isEnabledFor(level):
            return
        exc_info = fields.pop("exc_info", None)
        self._stdlib.log(
            level,
            "%s",
            _render(event, fields),
            exc_info=exc_info,
            # the caller of debug()/info()/...: the module that logged, not this one
            stacklevel=3,
            extra={"agentsync_event": event, "agentsync_fields": fields},
        )


def get_logger(module: str) -> Logger:
    """The logger for a module of agentsync (`get_logger(__name__)`)."""
    return Logger(module)
