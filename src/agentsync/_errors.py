"""One exception hierarchy for everything agentsync raises on purpose."""

from __future__ import annotations

from ._types import Escalation

__all__ = [
    "AgentSyncError",
    "CorruptUpdateError",
    "SchemaError",
    "ResolverError",
    "PersistenceError",
    "ScenarioError",
    "StaleEscalationError",
]


class AgentSyncError(Exception):
    """Base class of every error agentsync raises deliberately."""


class CorruptUpdateError(AgentSyncError):
    """An update blob or version digest could not be decoded; the replica is unchanged."""


class SchemaError(AgentSyncError, ValueError):
    """A value does not fit the kind declared for its field, or a schema is malformed."""


class ResolverError(AgentSyncError):
    """A resolver failed, timed out, or returned an answer that names no valid value."""


class PersistenceError(AgentSyncError):
    """The durable log (SQLite or PostgreSQL) could not be read or written."""


class ScenarioError(AgentSyncError, ValueError):
    """A scenario file is malformed; the message names the offending path."""


class StaleEscalationError(AgentSyncError):
    """`resolve()` was given an escalation whose contenders are no longer the open ones
    for its field (a new concurrent write joined, the field was overwritten or resolved,
    or the key was deleted). Nothing was written.

    `current` holds the open escalations of that field now (empty when it is no longer in
    conflict): resolve one of those, or read `store.escalations()` again.
    """

    def __init__(
        self, message: str, escalation: Escalation, current: tuple[Escalation, ...]
    ) -> None:
        super().__init__(message)
        self.escalation = escalation
        self.current = current

    def __reduce__(self) -> tuple[object, ...]:
        # rebuilt from all three arguments (the default would pass only the message)
        return (type(self), (self.args[0], self.escalation, self.current))
