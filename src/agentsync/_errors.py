"""One exception hierarchy for everything agentsync raises on purpose."""

from __future__ import annotations

__all__ = [
    "AgentSyncError",
    "CorruptUpdateError",
    "SchemaError",
    "ResolverError",
    "PersistenceError",
    "ScenarioError",
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
