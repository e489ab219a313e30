"""Scenario files: TOML decoded with msgspec into typed, validated structs.

A scenario says how many replicas run, what their agents write (field kinds, action mix,
rate), what the network does to messages, which partitions and crashes happen when, and
what each strategy is expected to achieve. Unknown or mistyped fields raise
`ScenarioError` naming the file and the path inside it (``$.network.drop``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeAlias

import msgspec
from msgspec import Meta

from agentsync._errors import ScenarioError
from agentsync._strategies import STRATEGIES

__all__ = [
    "ACTIONS",
    "SCENARIO_DIR",
    "CrashSpec",
    "ExpectSpec",
    "FieldSpec",
    "GossipSpec",
    "Mix",
    "NetworkSpec",
    "Outcome",
    "PartitionSpec",
    "Scenario",
    "WorkloadSpec",
    "available_scenarios",
    "decode_scenario",
    "load_scenario",
]

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

Prob = Annotated[float, Meta(ge=0.0, le=1.0)]
Ms = Annotated[float, Meta(ge=0.0)]
PositiveMs = Annotated[float, Meta(gt=0.0)]
Weight = Annotated[float, Meta(ge=0.0)]
Count = Annotated[int, Meta(ge=0)]
PositiveInt = Annotated[int, Meta(ge=1)]
Outcome: TypeAlias = Literal["auto_merged", "corrupted", "resolved", "escalated"]
FieldKindName: TypeAlias = Literal["set", "text", "counter", "register"]
Scalar: TypeAlias = str | int | float | bool | None


class NetworkSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Per-message delay, faults and mailbox size."""

    delay: Literal["constant", "uniform", "exponential"] = "constant"
    delay_ms: Ms = 10.0
    """Constant delay, uniform centre, or exponential mean."""
    spread_ms: Ms = 0.0
    """Uniform delays fall in delay_ms +/- spread_ms."""
    jitter_ms: Ms | None = None
    """With --jitter: extra uniform(0, jitter_ms) per message (default: half of delay_ms)."""
    drop: Prob = 0.0
    duplicate: Prob = 0.0
    reorder: Prob = 0.0
    """Probability a message is held back by an extra reorder_ms, overtaken by later ones."""
    reorder_ms: Ms = 50.0
    mailbox: PositiveInt = 4096
    """Bounded mailbox per replica; a full mailbox drops network messages."""


class GossipSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    interval_ms: PositiveMs = 200.0
    jitter: Annotated[float, Meta(ge=0.0, lt=1.0)] = 0.5
    """With --jitter: each interval is interval_ms * (1 +/- jitter)."""
    fanout: PositiveInt = 1
    eager: bool = True
    """Push fresh local updates along a spanning tree (Plumtree-style)."""
    tree_degree: PositiveInt = 4
    """Children per node of the eager-push tree (N-1: a star)."""
    flush_ms: Ms = 0.0
    """Batch eager pushes per neighbour for this long (0: send at once)."""


class FieldSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    path: Annotated[str, Meta(min_length=1)]
    """Dotted path; a dot makes a nested map (``meta.owner``)."""
    kind: FieldKindName
    values: list[Scalar] = []
    """Register values agents choose from (at least two)."""
    declare: bool = False
    """Declare the kind in the replicas' schema (counters must be declared; sets always
    are, see `Scenario.schema`)."""


class Mix(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Relative weights of what an agent does on its turn."""

    set_add: Weight = 0.0
    set_remove: Weight = 0.0
    text_insert: Weight = 0.0
    text_delete: Weight = 0.0
    counter: Weight = 0.0
    register: Weight = 0.0
    remove_field: Weight = 0.0
    delete: Weight = 0.0
    read: Weight = 0.0


ACTIONS: tuple[str, ...] = tuple(Mix.__struct_fields__)

_ACTION_KIND: dict[str, str] = {
    "set_add": "set",
    "set_remove": "set",
    "text_insert": "text",
    "text_delete": "text",
    "counter": "counter",
    "register": "register",
    "remove_field": "register",
}


class WorkloadSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    namespace: list[str] = msgspec.field(default_factory=lambda: ["shared"])
    keys: PositiveInt = 4
    agents_per_replica: PositiveInt = 1
    writes_per_agent: Count | None = None
    """Each agent writes this many times at uniform random moments of the write window."""
    total_rate: Annotated[float, Meta(gt=0.0)] | None = None
    """Or: writes per second across all agents (Poisson)."""
    duration_ms: PositiveMs = 2000.0
    """Length of the write window."""
    think_ms: Ms = 0.0
    """Time between an agent's read (what it has seen) and its write."""
    fields: list[FieldSpec] = []
    mix: Mix = Mix()


class PartitionSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    start_ms: Ms
    heal_ms: Ms
    groups: Annotated[int, Meta(ge=2)] = 2
    """Replicas split into this many contiguous blocks that cannot talk to each other."""


class CrashSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    replica: Count
    """Replica index (taken modulo the replica count)."""
    at_ms: Ms
    restart_ms: Ms | None = None
    durable: bool = True
    """Restart with the state it had (its store survived) or empty."""


class ExpectSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """What one strategy must achieve for a PASS; unset bounds are not checked."""

    converged: bool = True
    outcomes: list[Outcome] = []
    """Allowed outcomes (empty: any)."""
    max_writes_lost: Count | None = None
    min_writes_lost: Count | None = None
    max_missed_conflicts: Count | None = None
    max_false_escalations: Count | None = None
    min_model_calls: Count | None = None
    max_model_calls: Count | None = None


class Scenario(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    name: Annotated[str, Meta(min_length=1)]
    description: str = ""
    replicas: PositiveInt = 8
    default: bool = True
    """Part of the default `bench.py` set."""
    max_ms: PositiveMs = 60_000.0
    """Simulated-time budget; not converged by then is a failure."""
    model_latency_ms: Ms = 300.0
    """Modelled latency of one model call (strategies that call a model)."""
    workload: WorkloadSpec
    network: NetworkSpec = NetworkSpec()
    gossip: GossipSpec = GossipSpec()
    partitions: list[PartitionSpec] = []
    crashes: list[CrashSpec] = []
    expect: dict[str, ExpectSpec] = {}

    def field_kinds(self) -> dict[tuple[str, ...], str]:
        """Leaf field path -> kind."""
        return {tuple(f.path.split(".")): f.kind for f in self.workload.fields}

    def schema(self) -> dict[tuple[str, ...], dict[str, str]]:
        """The declared kinds, in the shape `make_replica(schema=...)` takes.

        A `set` field is always declared: SPEC 3 never infers a set (an undeclared list is
        an ordered sequence: duplicates kept, order meaningful), and the checker scores a
        `set` field as an add-wins set, so the replicas must hold one.
        """
        declared: dict[str, str] = {
            f.path: f.kind for f in self.workload.fields if f.declare or f.kind == "set"
        }
        return {tuple(self.workload.namespace): declared} if declared else {}


def _fail(where: str, message: str) -> ScenarioError:
    return ScenarioError(f"{where}: {message}")


def _validate(scenario: Scenario, where: str) -> None:
    w = scenario.workload
    if (w.writes_per_agent is None) == (w.total_rate is None):
        raise _fail(where, "$.workload: set exactly one of writes_per_agent and total_rate")
    if not w.namespace or any(not part for part in w.namespace):
        raise _fail(where, "$.workload.namespace: needs non-empty labels")
    paths: set[tuple[str, ...]] = set()
    for i, f in enumerate(w.fields):
        path = tuple(f.path.split("."))
        at = f"$.workload.fields[{i}]"
        if any(not part for part in path):
            raise _fail(where, f"{at}.path: empty component in {f.path!r}")
        if path in paths:
            raise _fail(where, f"{at}.path: {f.path!r} declared twice")
        for other in paths:
            shorter, longer = sorted((path, other), key=len)
            if longer[: len(shorter)] == shorter:
                raise _fail(where, f"{at}.path: {f.path!r} overlaps {'.'.join(other)!r}")
        paths.add(path)
        if f.kind == "register" and len(set(map(repr, f.values))) < 2:
            raise _fail(where, f"{at}.values: a register needs at least two distinct values")
        if f.kind != "register" and f.values:
            raise _fail(where, f"{at}.values: only registers take values")
        if f.kind == "counter" and not f.declare:
            raise _fail(where, f"{at}.declare: counters are declared-only (SPEC 3)")
    kinds = {f.kind for f in w.fields}
    total = 0.0
    for action in ACTIONS:
        weight = getattr(w.mix, action)
        total += weight
        kind = _ACTION_KIND.get(action)
        if weight > 0 and kind is not None and kind not in kinds:
            raise _fail(where, f"$.workload.mix.{action}: no field of kind {kind!r} to act on")
    if total <= 0:
        raise _fail(where, "$.workload.mix: every weight is zero")
    writes = total - w.mix.read - w.mix.delete
    if writes <= 0:
        raise _fail(where, "$.workload.mix: needs at least one action that writes a field")
    for i, p in enumerate(scenario.partitions):
        if p.heal_ms <= p.start_ms:
            raise _fail(where, f"$.partitions[{i}].heal_ms: must be after start_ms")
    for i, c in enumerate(scenario.crashes):
        if c.restart_ms is not None and c.restart_ms <= c.at_ms:
            raise _fail(where, f"$.crashes[{i}].restart_ms: must be after at_ms")
    for name, expect in scenario.expect.items():
        if name not in STRATEGIES:
            known = ", ".join(STRATEGIES)
            raise _fail(where, f"$.expect.{name}: unknown strategy (known: {known})")
        if (
            expect.min_writes_lost is not None
            and expect.max_writes_lost is not None
            and expect.min_writes_lost > expect.max_writes_lost
        ):
            raise _fail(where, f"$.expect.{name}: min_writes_lost > max_writes_lost")


def decode_scenario(data: bytes | str, *, source: str = "<scenario>") -> Scenario:
    """Decode and validate TOML text; `ScenarioError` names `source` and the field path."""
    try:
        scenario = msgspec.toml.decode(data, type=Scenario)
    except msgspec.ValidationError as exc:
        raise _fail(source, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise _fail(source, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise _fail(source, f"not UTF-8 text: {exc}") from None
    _validate(scenario, source)
    return scenario


def available_scenarios() -> list[str]:
    """Names of the bundled scenario files."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A bundled scenario by name (``clean_merge``) or a TOML file by path."""
    path = Path(name_or_path)
    if not path.is_file():
        bundled = SCENARIO_DIR / f"{name_or_path}.toml"
        if not bundled.is_file():
            known = ", ".join(available_scenarios())
            raise ScenarioError(f"no scenario {str(name_or_path)!r} (bundled: {known})")
        path = bundled
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from exc
    return decode_scenario(data, source=str(path))
