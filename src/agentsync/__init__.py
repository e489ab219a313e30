"""agentsync: shared memory for parallel agents that never silently loses a write."""

from __future__ import annotations

from ._errors import (
    AgentSyncError,
    CorruptUpdateError,
    PersistenceError,
    ResolverError,
    ScenarioError,
    SchemaError,
)
from ._strategy import StrategyCounters, StrategyReplica
from ._types import JSON, Contender, Escalation, FieldKind, Namespace, WriteRecord

__version__ = "0.1.0"

__all__ = [
    "AgentSyncError",
    "CorruptUpdateError",
    "PersistenceError",
    "ResolverError",
    "ScenarioError",
    "SchemaError",
    "StrategyCounters",
    "StrategyReplica",
    "JSON",
    "Contender",
    "Escalation",
    "FieldKind",
    "Namespace",
    "WriteRecord",
    "__version__",
]
