"""The gossip simulator: replica and agent actors, network model, harness and checker."""

from __future__ import annotations

from .harness import ROW_KEYS, RunConfig, RunResult, run_scenario, simulate
from .scenario import Scenario, available_scenarios, decode_scenario, load_scenario

__all__ = [
    "ROW_KEYS",
    "RunConfig",
    "RunResult",
    "Scenario",
    "available_scenarios",
    "decode_scenario",
    "load_scenario",
    "run_scenario",
    "simulate",
]
