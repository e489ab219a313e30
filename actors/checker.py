"""Ground truth from the delivery history, and a score for what the replicas ended with.

Truth follows SPEC 3. A write supersedes exactly what its writer had seen; each write
carries the intents of its agent (what it changed relative to what it read), so:

- register: the live writes of a field are its setters no later writer of that field (or
  deleter of the key) had seen. No live setter: the field is absent. Live setters that
  agree: that value. Live setters that disagree: a conflict that must be escalated (or
  settled by a model), never silently picked.
- set: an element added by a write survives unless a write that had seen that write
  removed it (add-wins); text tokens the same way; a counter is the sum of the increments
  no deleter had seen.

The outcome is derived here, never reported by a strategy: ``corrupted`` if any replica
lost a write, shows content that must be gone, or a conflict went unnoticed and unsettled;
else ``escalated`` if conflicts are open; else ``resolved`` if a model settled some; else
``auto_merged``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from agentsync._strategy import StrategyReplica
from agentsync._types import JSON, Escalation, Namespace

from .history import History, Intent, WriteEvent
from .scenario import ExpectSpec, Outcome

__all__ = [
    "FieldTruth",
    "ReplicaState",
    "Score",
    "Truth",
    "expectation_failures",
    "ground_truth",
    "score",
]

_ABSENT: Final = object()
_MAX_NOTES: Final = 20


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """What one replica ends with: every key's value, open escalations, attribution."""

    values: dict[tuple[Namespace, str], dict[str, JSON]]
    escalations: tuple[Escalation, ...]
    attribution: dict[tuple[Namespace, str], dict[str, list[str]]]

    @classmethod
    def capture(cls, replica: StrategyReplica, *, attribution: bool = True) -> ReplicaState:
        values: dict[tuple[Namespace, str], dict[str, JSON]] = {}
        for namespace, key in replica.keys():  # noqa: SIM118 (a replica, not a dict)
            value = replica.read(namespace, key)
            if value is not None:
                values[(tuple(namespace), key)] = value
        attributed = replica.attribution() if attribution else {}
        return cls(values, tuple(replica.escalations()), attributed)

    def fingerprint(self) -> bytes:
        """Equal on two replicas exactly when they show the same state."""
        return msgspec.json.encode(
            [
                sorted((list(k), v) for k, v in self.values.items()),
                sorted(e.id for e in self.escalations),
            ],
            order="sorted",
        )


@dataclass(slots=True)
class FieldTruth:
    namespace: Namespace
    key: str
    path: tuple[str, ...]
    kind: str
    value: Any = _ABSENT
    """register: the value it must hold (`_ABSENT`: must be absent)."""
    contenders: list[WriteEvent] = field(default_factory=list)
    """register: live setters that disagree (a conflict), else empty."""
    live: list[WriteEvent] = field(default_factory=list)
    """register: live setters."""
    allowed_values: set[str] = field(default_factory=set)
    """register: canonical values it may show when it must be absent (stale but harmless)."""
    required: dict[str, list[WriteEvent]] = field(default_factory=dict)
    """set/text: canonical element or token -> the writes whose surviving add put it there."""
    allowed: set[str] = field(default_factory=set)
    """set/text: what may be present (required, plus content of puts nobody superseded)."""
    total: float = 0.0
    """counter: the sum of surviving increments."""
    increments: list[WriteEvent] = field(default_factory=list)

    @property
    def conflicted(self) -> bool:
        return bool(self.contenders)

    def contributors(self) -> set[str]:
        """Agents whose writes must show in this field's attribution."""
        if self.kind == "register":
            return {w.agent for w in (self.contenders or self.live)}
        if self.kind == "counter":
            return {w.agent for w in self.increments}
        return {w.agent for ws in self.required.values() for w in ws}


@dataclass(slots=True)
class Truth:
    fields: list[FieldTruth]

    def conflicts(self) -> dict[tuple[Namespace, str, tuple[str, ...]], FieldTruth]:
        return {(f.namespace, f.key, f.path): f for f in self.fields if f.conflicted}


def _path_value(value: Mapping[str, JSON] | None, path: tuple[str, ...]) -> Any:
    node: Any = value
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _tokens(text: Any) -> list[str]:
    return text.split() if isinstance(text, str) else []


def _elements(items: Any) -> list[str]:
    return [_canon(v) for v in items] if isinstance(items, list) else []


def ground_truth(history: History, kinds: Mapping[tuple[str, ...], str]) -> Truth:
    """Derive what every field of every written key must contain."""
    by_key: dict[tuple[Namespace, str], list[WriteEvent]] = {}
    for w in history.writes:
        if history.holders[w.index] == 0:
            continue  # only a replica that crashed without its store ever held it
        by_key.setdefault((w.namespace, w.key), []).append(w)
    fields: list[FieldTruth] = []
    for (namespace, key), writes in by_key.items():
        deleters = [w for w in writes if any(i.action == "delete" for i in w.intents)]
        paths = set(kinds)
        for w in writes:
            paths.update(i.path for i in w.intents if i.path)
        for path in sorted(paths):
            kind = kinds.get(path, "register")
            truth = FieldTruth(namespace, key, path, kind)
            if kind == "register":
                _register_truth(truth, writes, deleters)
            elif kind == "counter":
                _counter_truth(truth, writes, deleters)
            else:
                _content_truth(truth, writes, deleters)
            fields.append(truth)
    return Truth(fields)


def _superseded(w: WriteEvent, by: Iterable[WriteEvent]) -> bool:
    return any(other.index > w.index and other.saw(w) for other in by)


def _register_truth(
    truth: FieldTruth, writes: list[WriteEvent], deleters: list[WriteEvent]
) -> None:
    path = truth.path
    touchers = [
        w
        for w in writes
        if any(i.path == path and i.action in ("set", "remove") for i in w.intents)
    ]
    overwriters = sorted({*touchers, *deleters}, key=lambda w: w.index)
    live: list[WriteEvent] = []
    for w in touchers:
        if not any(i.path == path and i.action == "set" for i in w.intents):
            continue
        if not _superseded(w, overwriters):
            live.append(w)
    truth.live = live
    values = {_canon(_setter_value(w, path)) for w in live}
    if len(values) == 1:
        truth.value = _setter_value(live[0], path)
    elif len(values) > 1:
        truth.contenders = live
    for w in writes:
        shown = _path_value(w.value, path)
        if shown is not _ABSENT and not _superseded(w, overwriters):
            truth.allowed_values.add(_canon(shown))


def _overwrites(intent: Intent, path: tuple[str, ...]) -> bool:
    return intent.path == path and intent.action in ("set", "remove")


def _setter_value(w: WriteEvent, path: tuple[str, ...]) -> Any:
    for i in w.intents:
        if i.path == path and i.action == "set":
            return i.value
    raise AssertionError("not a setter")


def _content_truth(truth: FieldTruth, writes: list[WriteEvent], deleters: list[WriteEvent]) -> None:
    path = truth.path
    add, drop = ("add", "discard") if truth.kind == "set" else ("insert", "erase")
    removers: dict[str, list[WriteEvent]] = {}
    for w in writes:
        for i in w.intents:
            if i.path == path and i.action == drop:
                removers.setdefault(_item(truth.kind, i.value), []).append(w)

    def survives(w: WriteEvent, item: str) -> bool:
        return not _superseded(w, removers.get(item, ())) and not _superseded(w, deleters)

    for w in writes:
        for i in w.intents:
            if i.path == path and i.action == add:
                item = _item(truth.kind, i.value)
                if survives(w, item):
                    truth.required.setdefault(item, []).append(w)
        shown = _path_value(w.value, path)
        items = _elements(shown) if truth.kind == "set" else _tokens(shown)
        truth.allowed.update(item for item in items if survives(w, item))
    truth.allowed.update(truth.required)


def _item(kind: str, value: Any) -> str:
    return _canon(value) if kind == "set" else str(value)


def _counter_truth(truth: FieldTruth, writes: list[WriteEvent], deleters: list[WriteEvent]) -> None:
    for w in writes:
        for i in w.intents:
            if i.path == truth.path and i.action == "incr" and not _superseded(w, deleters):
                truth.total += i.value
                truth.increments.append(w)


# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Score:
    writes: int = 0
    writes_lost: int = 0
    spurious: int = 0
    """Content a replica shows that every writer who saw it had removed (resurrection)."""
    conflicts_expected: int = 0
    escalations: int = 0
    resolved: int = 0
    missed_conflicts: int = 0
    false_escalations: int = 0
    attribution_complete: bool = True
    outcome: Outcome = "auto_merged"
    lost_to_crash: int = 0
    """Writes only a replica that then crashed without durable state ever held."""
    lost_ops: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        if len(self.notes) < _MAX_NOTES and message not in self.notes:
            self.notes.append(message)


def _escalation_path(esc: Escalation) -> tuple[str, ...]:
    return esc.path or tuple(esc.field.split("."))


def score(
    history: History,
    truth: Truth,
    states: list[ReplicaState],
    *,
    resolutions: int = 0,
) -> Score:
    """Score final replica states against the truth.

    Lost writes and resurrected content are counted on every replica (a write missing on
    any replica is lost); conflicts and attribution are read off the first replica.
    `resolutions` is how many conflicts the replicas report having settled with a model.
    """
    result = Score(writes=len(history.writes))
    result.lost_to_crash = sum(1 for h in history.holders if h == 0)
    if not states:
        return result
    lost: dict[int, WriteEvent] = {}
    agents = {w.agent for w in history.writes}
    reference = states[0]
    expected_conflicts = truth.conflicts()
    result.conflicts_expected = len(expected_conflicts)
    open_paths = {(e.namespace, e.key, _escalation_path(e)) for e in reference.escalations}
    result.escalations = len(open_paths)
    result.false_escalations = len(open_paths - expected_conflicts.keys())
    budget = resolutions
    for where, conflict in sorted(expected_conflicts.items(), key=lambda kv: repr(kv[0])):
        if where in open_paths:
            continue
        namespace, key, path = where
        attributed = _attributed(reference, namespace, key, path)
        if attributed - agents or budget > 0:
            if not attributed - agents:
                budget -= 1
            result.resolved += 1
            continue
        result.missed_conflicts += 1
        value = _path_value(reference.values.get((namespace, key)), path)
        shown = None if value is _ABSENT else _canon(value)
        for w in conflict.contenders:
            if _canon(_setter_value(w, path)) != shown:
                lost[w.index] = w
        result.note(f"conflict on {key}.{'.'.join(path)} silently decided: {_show(value)}")
    settled = _settled_by_model(truth, reference, agents) if resolutions else {}
    result.resolved += len(settled)
    for state in states:
        for f in truth.fields:
            _check_field(f, state, result, lost, settled)
    result.writes_lost = len(lost)
    result.lost_ops = [lost[i].op_id for i in sorted(lost)]
    result.attribution_complete = all(
        f.contributors() <= _attributed(reference, f.namespace, f.key, f.path)
        for f in truth.fields
        if not (f.conflicted and (f.namespace, f.key, f.path) not in open_paths)
        and (f.namespace, f.key, f.path) not in settled
    )
    if result.writes_lost or result.missed_conflicts or result.spurious:
        result.outcome = "corrupted"
    elif result.escalations:
        result.outcome = "escalated"
    elif result.resolved:
        result.outcome = "resolved"
    else:
        result.outcome = "auto_merged"
    return result


def _settled_by_model(
    truth: Truth, reference: ReplicaState, agents: set[str]
) -> dict[tuple[Namespace, str, tuple[str, ...]], str]:
    """Registers where a model's decision stands against an agent's write it had not seen.

    A resolver's decision is itself a write; an agent that overwrote the conflict
    meanwhile (having seen the contenders, not the decision) is concurrent with it, and a
    strategy that settles that new conflict with a model has resolved it, not lost it.
    The truth knows only agents' writes, so such a field shows a value attributed to a
    non-agent. Returns field -> the canonical value the model chose.
    """
    out: dict[tuple[Namespace, str, tuple[str, ...]], str] = {}
    for f in truth.fields:
        if f.kind != "register" or f.conflicted or f.value is _ABSENT:
            continue
        value = _path_value(reference.values.get((f.namespace, f.key)), f.path)
        if value is _ABSENT or _canon(value) == _canon(f.value):
            continue
        if _attributed(reference, f.namespace, f.key, f.path) - agents:
            out[(f.namespace, f.key, f.path)] = _canon(value)
    return out


def _attributed(
    state: ReplicaState, namespace: Namespace, key: str, path: tuple[str, ...]
) -> set[str]:
    per_field = state.attribution.get((namespace, key), {})
    out: set[str] = set()
    for depth in range(1, len(path) + 1):
        out.update(per_field.get(".".join(path[:depth]), ()))
    return out


def _check_field(
    f: FieldTruth,
    state: ReplicaState,
    result: Score,
    lost: dict[int, WriteEvent],
    settled: Mapping[tuple[Namespace, str, tuple[str, ...]], str],
) -> None:
    actual = _path_value(state.values.get((f.namespace, f.key)), f.path)
    where = f"{f.key}.{'.'.join(f.path)}"
    if f.kind == "register":
        if f.conflicted:
            return  # judged by escalation, not by the value shown
        decided = settled.get((f.namespace, f.key, f.path))
        if decided is not None and actual is not _ABSENT and _canon(actual) == decided:
            return
        if f.value is not _ABSENT:
            if actual is _ABSENT or _canon(actual) != _canon(f.value):
                for w in f.live:
                    lost[w.index] = w
                result.note(f"{where}: expected {f.value!r}, found {_show(actual)}")
        elif actual is not _ABSENT and _canon(actual) not in f.allowed_values:
            result.spurious += 1
            result.note(f"{where}: expected absent, found {actual!r}")
        return
    if f.kind == "counter":
        shown = actual if isinstance(actual, int | float) and not isinstance(actual, bool) else 0
        if math.isclose(shown, f.total, abs_tol=1e-9):
            return
        result.note(f"{where}: counter {shown!r}, expected {f.total!r}")
        if shown > f.total:
            result.spurious += 1  # increments a delete had removed came back
            return
        # which increments vanished is not observable from a sum: charge as many of the
        # latest as the deficit needs at the mean increment size
        deltas = [abs(i.value) for w in f.increments for i in w.intents if i.path == f.path]
        mean = sum(deltas) / len(deltas) if deltas else 1.0
        missing = max(1, round((f.total - shown) / mean)) if mean else 1
        for w in f.increments[-missing:]:
            lost[w.index] = w
        return
    items = _elements(actual) if f.kind == "set" else _tokens(actual)
    present = set(items)
    for item, writers in f.required.items():
        if item not in present:
            for w in writers:
                lost[w.index] = w
            result.note(f"{where}: lost {item}")
    extra = [item for item in present if item not in f.allowed]
    if f.kind == "text":
        extra.extend(t for t in present if items.count(t) > 1)
    if extra:
        result.spurious += len(extra)
        result.note(f"{where}: unexpected {sorted(extra)[:3]}")


def _show(value: Any) -> str:
    return "nothing" if value is _ABSENT else repr(value)


def expectation_failures(
    expect: ExpectSpec,
    *,
    converged: bool,
    result: Score,
    model_calls: int,
) -> list[str]:
    """Why a run misses its expectation (empty: PASS)."""
    failures: list[str] = []
    if expect.converged and not converged:
        failures.append("did not converge")
    if expect.outcomes and result.outcome not in expect.outcomes:
        failures.append(f"outcome {result.outcome}, expected {' or '.join(expect.outcomes)}")
    checks: list[tuple[int | None, int, str, bool]] = [
        (expect.max_writes_lost, result.writes_lost, "writes lost", True),
        (expect.min_writes_lost, result.writes_lost, "writes lost", False),
        (expect.max_missed_conflicts, result.missed_conflicts, "missed conflicts", True),
        (expect.max_false_escalations, result.false_escalations, "false escalations", True),
        (expect.max_model_calls, model_calls, "model calls", True),
        (expect.min_model_calls, model_calls, "model calls", False),
    ]
    for bound, actual, what, is_max in checks:
        if bound is None:
            continue
        if is_max and actual > bound:
            failures.append(f"{what} {actual} > {bound}")
        if not is_max and actual < bound:
            failures.append(f"{what} {actual} < {bound}")
    return failures
