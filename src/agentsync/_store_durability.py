"""The store's durability bracket: what a change added to the core goes to the update log.

A store takes `version()` before it changes the core, makes the change (and its local
indexes, so the change is visible to every read of the store), then calls `record(...)`,
which appends what the core gained since that version. An in-memory store has a
`NullLog`: `version()` is None and `record` does nothing, so the store never asks
whether it is durable.

Failure semantics (SPEC section 7): a write whose append fails stays applied and visible
in this store; the error says it is not durable and how many writes are queued locally.
The next successful append carries them (it exports from the last durable version), and
`close()` raises if they could not be written by then.

Imports that wait for a dependency: Loro keeps updates whose causal predecessors are
missing outside its log, so no export would carry them. An import that leaves something
waiting is appended as the blob itself, and compaction is held back while anything
waits (a snapshot would not contain it, and the rows it replaces would be gone).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ._core import Core, ImportResult
from ._errors import PersistenceError
from ._logging import get_logger
from ._persistence import LogEntry, NullLog, UpdateLog
from ._types import Namespace

__all__ = ["Durability", "IMPORT_AGENT", "FLUSH_AGENT"]

log = get_logger(__name__)

IMPORT_AGENT: Final = "import"
FLUSH_AGENT: Final = "flush"
"""Provenance of the append `close()` makes for writes whose own append failed."""


Absorb = Callable[[ImportResult], object]
"""What the store does with an import's result (update its indexes, collect conflicts)."""


class Durability:
    """The store's side of its update log (one per store, used under the store's lock)."""

    def __init__(self, core: Core, updates: UpdateLog) -> None:
        self.log = updates
        self._core = core
        self._durable = not isinstance(updates, NullLog)
        self._unlogged_since: bytes | None = None  # last durable version, after a failure
        self._unlogged_writes = 0
        self._waiting: list[bytes] = []  # imported blobs Loro keeps pending
        self._told_waiting = False
        self.woken = False  # the listener saw another replica's append: pull before reading

    @property
    def blocking(self) -> bool:
        """Whether `record` may block on I/O (async callers move it off the loop)."""
        return self._durable

    def wake(self) -> None:
        """Called on the log's listener thread: flag only, the next store call pulls."""
        self.woken = True

    # -- the bracket -----------------------------------------------------------------
    def version(self) -> bytes | None:
        """The core's version before a change; None when nothing is logged."""
        return self._core.version() if self._durable else None

    def record(self, before: bytes | None, namespace: Namespace, key: str, agent: str) -> None:
        """Append what the core gained since `before` (from `version()`), after the change
        is applied and visible. PersistenceError if it is not durable (see the module)."""
        if before is None:
            return
        self._append(before, None, namespace, key, agent)
        self._maybe_compact()

    def _append(
        self, before: bytes, blob: bytes | None, namespace: Namespace, key: str, agent: str
    ) -> None:
        since = self._unlogged_since if self._unlogged_since is not None else before
        delta = self._core.export_updates(since)
        entries = [LogEntry(b, namespace, key, agent) for b in (delta, blob) if b]
        if not entries:
            return
        try:
            if len(entries) == 1:
                self.log.append(entries[0].blob, namespace=namespace, key=key, agent=agent)
            else:
                self.log.append_many(entries)
        except PersistenceError as exc:
            queued = self.log.queued()  # a log with a queue keeps the entries itself
            if not queued:
                self._unlogged_since = since
                self._unlogged_writes += 1
                queued = self._unlogged_writes
            raise PersistenceError(
                f"{exc} -- not durable: queued locally, {queued} queued (the write is applied "
                "and visible in this store; the next successful append or close() writes it)"
            ) from exc
        except BaseException:
            self._unlogged_since = since
            self._unlogged_writes += 1
            raise
        self._unlogged_since = None
        self._unlogged_writes = 0

    def _maybe_compact(self) -> None:
        if self._waiting:
            if not self._told_waiting:
                self._told_waiting = True
                log.warning(
                    "compaction held back", reason="imports wait for missing updates",
                    waiting=len(self._waiting),
                )  # fmt: skip
            return
        self.log.maybe_compact(self._core.export_snapshot)

    # -- imports -----------------------------------------------------------------------
    def import_(self, blob: bytes, absorb: Absorb) -> None:
        """Import a peer's blob (CorruptUpdateError: nothing changed, nothing logged) and
        log what it brought, or the blob itself if part of it waits for a dependency."""
        before = self.version()
        result = self._core.import_updates(blob)
        absorb(result)
        if before is None:
            return
        waits = not self._holds(blob)
        if waits:
            self._waiting.append(bytes(blob))
        elif self._waiting:
            self._recheck_waiting()
        if waits or self._core.version() != before:
            self._append(before, bytes(blob) if waits else None, (), "", IMPORT_AGENT)
            self._maybe_compact()

    def load(self, absorb: Absorb) -> int:
        """Rebuild the core from the log (rows it cannot import are set aside there)."""
        loaded: list[bytes] = []

        def apply(blob: bytes) -> None:
            absorb(self._core.import_updates(blob))
            loaded.append(blob)

        applied = self.log.load(apply)
        if self._durable and loaded:
            self._waiting.extend(loaded)
            self._recheck_waiting()
        return applied

    def pull(self, absorb: Absorb) -> int:
        """Import what other replicas appended since the last pull."""
        self.woken = False
        pulled: list[bytes] = []

        def apply(blob: bytes) -> None:
            absorb(self._core.import_updates(blob))
            pulled.append(blob)

        applied = self.log.pull(apply)
        if pulled:
            self._waiting.extend(pulled)
            self._recheck_waiting()
        return applied

    def _recheck_waiting(self) -> None:
        holds = self._holder()
        self._waiting = [blob for blob in self._waiting if not holds(blob)]
        if not self._waiting:
            self._told_waiting = False

    def _holds(self, blob: bytes) -> bool:
        return self._holder()(blob)

    def _holder(self) -> Callable[[bytes], bool]:
        """A test of whether the core's log holds every update of a blob (none pending)."""
        return self._core.holder()

    @property
    def waiting(self) -> int:
        """Imported blobs whose updates wait for a missing dependency."""
        return len(self._waiting)

    # -- closing -------------------------------------------------------------------------
    def close(self) -> None:
        """Write what failed appends left unwritten, then close the log. Raises
        PersistenceError (after closing) if some writes were never written."""
        error: PersistenceError | None = None
        if self._unlogged_since is not None:
            count = self._unlogged_writes
            try:
                self._append(self._unlogged_since, None, (), "", FLUSH_AGENT)
            except PersistenceError as exc:
                error = PersistenceError(
                    f"update log closed with {count} write(s) never written: {exc}"
                )
        try:
            self.log.close()
        except PersistenceError as exc:
            error = error or exc
        if error is not None:
            raise error
