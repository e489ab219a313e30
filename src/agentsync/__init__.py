"""agentsync: shared memory for parallel agents that never silently loses a write.

`SyncedStore` / `AsyncSyncedStore` are drop-in LangGraph stores whose concurrent writes
merge (Loro CRDT) instead of overwriting, are attributed to the agent that made them, and
escalate genuine conflicts instead of silently picking a winner.
"""

from __future__ import annotations

import inspect

from . import _accel

# before any other submodule is imported: the compiled build, if current, goes first
_accel.enable(__path__, __name__)

from ._core import ConflictValue, Schema
from ._errors import (
    AgentSyncError,
    CorruptUpdateError,
    PersistenceError,
    ResolverError,
    ScenarioError,
    SchemaError,
    StaleEscalationError,
)
from ._persistence import LogEntry, PostgresLog, SqliteLog, UpdateLog, open_log
from ._resolvers import (
    UNDECIDED,
    AnthropicResolver,
    Decision,
    OfflineResolver,
    Resolver,
    aresolve_with,
    chain_resolvers,
    custom_resolver,
    prefer_agents,
    prefer_values,
    resolve_with,
)
from ._store import AsyncSyncedStore, SyncedStore
from ._strategies import STRATEGIES, make_replica
from ._strategy import StrategyCounters, StrategyReplica
from ._types import JSON, Contender, Escalation, FieldKind, Namespace, WriteRecord

__version__ = "0.1.0"

__all__ = [
    # stores
    "SyncedStore",
    "AsyncSyncedStore",
    # values, conflicts, provenance
    "JSON",
    "Namespace",
    "FieldKind",
    "Schema",
    "ConflictValue",
    "Contender",
    "Escalation",
    "WriteRecord",
    # resolvers
    "Resolver",
    "Decision",
    "UNDECIDED",
    "AnthropicResolver",
    "OfflineResolver",
    "prefer_agents",
    "prefer_values",
    "custom_resolver",
    "chain_resolvers",
    "resolve_with",
    "aresolve_with",
    # strategies (the simulator's interface)
    "STRATEGIES",
    "StrategyReplica",
    "StrategyCounters",
    "make_replica",
    # durable logs
    "UpdateLog",
    "LogEntry",
    "SqliteLog",
    "PostgresLog",
    "open_log",
    # errors
    "AgentSyncError",
    "CorruptUpdateError",
    "PersistenceError",
    "ResolverError",
    "ScenarioError",
    "SchemaError",
    "StaleEscalationError",
    "__version__",
]


def _claim_public_names() -> None:
    """Public classes and functions say `agentsync`, not the private module that defines
    them, in reprs, docs, tracebacks and pickles (`agentsync.SyncedStore` is where they
    are meant to be found)."""
    for name in __all__:
        obj = globals()[name]
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__.startswith(
            f"{__name__}._"
        ):
            obj.__module__ = __name__


_claim_public_names()
