"""Agent actors: writers that act on their replica on a seeded random schedule.

An agent's turn is read-modify-write, the way LangGraph nodes use a store: it reads the
key from its replica (what it has seen), changes one thing (adds a set element, inserts
a text token, bumps a counter, sets a register, removes a field, deletes the key), and
puts the whole value back, optionally after thinking for a while. It records its
*intent* (what it meant to change) for the checker. Set elements and text tokens are
unique per agent (``r3a0.17``), so the checker can tell exactly whose content survived.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio

from agentsync._strategy import Seen
from agentsync._types import JSON
from agentsync._values import copy_json

from .history import Intent
from .scenario import ACTIONS, FieldSpec, WorkloadSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Agent", "Plan", "Turn", "TurnSink"]

Plan = tuple[dict[str, JSON] | None, tuple[Intent, ...]]
"""The value to put (None: delete the key) and what the agent meant by it."""

_FALLBACK = {
    "set_remove": "set_add",
    "text_delete": "text_insert",
    "remove_field": "register",
}


@dataclass(slots=True, eq=False)
class Turn:
    """One agent turn travelling through its replica's mailbox."""

    agent: Agent
    action: str
    key: str
    phase: Literal["whole", "begin", "commit"] = "whole"
    incarnation: int = -1
    seen: Seen | None = None
    held: int = 0
    read: dict[str, JSON] | None = None


class TurnSink(Protocol):
    down: bool

    async def submit(self, turn: Turn) -> None: ...


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _get(value: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = value
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _has(value: dict[str, Any], path: tuple[str, ...]) -> bool:
    parent = _get(value, path[:-1]) if len(path) > 1 else value
    return isinstance(parent, dict) and path[-1] in parent


def _put(value: dict[str, Any], path: tuple[str, ...], item: Any) -> None:
    node = value
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = item


def _drop(value: dict[str, Any], path: tuple[str, ...]) -> None:
    parent = _get(value, path[:-1]) if len(path) > 1 else value
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _token_spans(text: str, token: str) -> list[int]:
    """Start offsets of `token` as a whole word followed by a space."""
    out: list[int] = []
    needle = token + " "
    start = text.find(needle)
    while start >= 0:
        if start == 0 or text[start - 1] == " ":
            out.append(start)
        start = text.find(needle, start + 1)
    return out


def _crashed_meanwhile(replica: TurnSink) -> bool:
    return replica.down


class Agent:
    """Writes to one replica per the workload; `plan` turns an action and a read into a put."""

    def __init__(
        self,
        name: str,
        *,
        workload: WorkloadSpec,
        rng: random.Random,
        agents: int,
    ) -> None:
        self.name = name
        self.workload = workload
        self.rng = rng
        self.counter = 0
        self.turns = 0
        self.skipped = 0
        self.keys = [f"k{i}" for i in range(workload.keys)]
        self._fields: dict[str, list[FieldSpec]] = {}
        for f in workload.fields:
            self._fields.setdefault(f.kind, []).append(f)
        mix = workload.mix
        self._actions = [a for a in ACTIONS if getattr(mix, a) > 0]
        self._weights = [getattr(mix, a) for a in self._actions]
        writing = [
            a for a in ("set_add", "text_insert", "counter", "register") if a in self._actions
        ]
        self._primary = writing or [
            a for a in ("set_add", "text_insert", "counter", "register") if self._kind_of(a)
        ]
        self.schedule = self._schedule(agents)

    def _kind_of(self, action: str) -> list[FieldSpec]:
        kind = {
            "set_add": "set",
            "set_remove": "set",
            "text_insert": "text",
            "text_delete": "text",
            "counter": "counter",
            "register": "register",
            "remove_field": "register",
        }.get(action)
        return self._fields.get(kind, []) if kind else []

    def _schedule(self, agents: int) -> list[tuple[float, str, str]]:
        """(seconds after start, action, key) for every turn, in time order."""
        w, rng = self.workload, self.rng
        window = w.duration_ms / 1000
        times: list[float] = []
        if w.writes_per_agent is not None:
            times = sorted(rng.uniform(0.0, window) for _ in range(w.writes_per_agent))
        else:
            assert w.total_rate is not None
            rate = w.total_rate / agents
            t = rng.expovariate(rate)
            while t < window:
                times.append(t)
                t += rng.expovariate(rate)
        return [
            (t, rng.choices(self._actions, self._weights)[0], rng.choice(self.keys)) for t in times
        ]

    async def run(self, replica: TurnSink) -> None:
        """Play the schedule against `replica`; turns while it is down are skipped."""
        start = anyio.current_time()
        think = self.workload.think_ms / 1000
        for at, action, key in self.schedule:
            delay = start + at - anyio.current_time()
            if delay > 0:
                await anyio.sleep(delay)
            if replica.down:
                self.skipped += 1
                continue
            self.turns += 1
            if think <= 0:
                await replica.submit(Turn(self, action, key))
                continue
            turn = Turn(self, action, key, phase="begin")
            await replica.submit(turn)
            await anyio.sleep(think)
            if _crashed_meanwhile(replica):
                self.skipped += 1
                continue
            turn.phase = "commit"
            await replica.submit(turn)

    # -- building the write ----------------------------------------------------------------------
    def _fresh(self) -> str:
        self.counter += 1
        return f"{self.name}.{self.counter}"

    def plan(self, action: str, read: dict[str, JSON] | None) -> Plan | None:
        """The put this action makes on top of `read` (None: nothing to write)."""
        if action == "read":
            return None
        value: dict[str, Any] = copy_json(read) if read else {}
        for _ in range(3):
            if action == "delete":
                if read is not None:
                    return None, (Intent((), "delete"),)
                action = self.rng.choice(self._primary)
                continue
            intents = self._edit(action, value)
            if intents is not None:
                return value, intents
            action = _FALLBACK.get(action, self.rng.choice(self._primary))
        return None

    def _edit(self, action: str, value: dict[str, Any]) -> tuple[Intent, ...] | None:
        rng = self.rng
        candidates = self._kind_of(action)
        if not candidates:
            return None
        spec = rng.choice(candidates)
        path = tuple(spec.path.split("."))
        current = _get(value, path)
        if action == "set_add":
            items = list(current) if isinstance(current, list) else []
            element = self._fresh()
            _put(value, path, [*items, element])
            return (Intent(path, "add", element),)
        if action == "set_remove":
            present = self._present(action, value)
            if not present:
                return None
            path, items = rng.choice(present)
            element = rng.choice(items)
            _put(value, path, [v for v in items if _canon(v) != _canon(element)])
            return (Intent(path, "discard", element),)
        if action == "text_insert":
            text = current if isinstance(current, str) else ""
            bounds = [0] + [i + 1 for i, ch in enumerate(text) if ch == " "]
            at = rng.choice(bounds)
            token = self._fresh()
            _put(value, path, f"{text[:at]}{token} {text[at:]}")
            return (Intent(path, "insert", token),)
        if action == "text_delete":
            present = self._present(action, value)
            if not present:
                return None
            path, tokens = rng.choice(present)
            text = _get(value, path)
            assert isinstance(text, str)
            token = rng.choice(tokens)
            at = _token_spans(text, token)[0]
            _put(value, path, text[:at] + text[at + len(token) + 1 :])
            return (Intent(path, "erase", token),)
        if action == "counter":
            base = current if isinstance(current, int) and not isinstance(current, bool) else 0
            delta = rng.randint(1, 5)
            _put(value, path, base + delta)
            return (Intent(path, "incr", delta),)
        if action == "register":
            exists = _has(value, path)
            choices = [v for v in spec.values if not exists or _canon(v) != _canon(current)]
            chosen = rng.choice(choices)
            _put(value, path, chosen)
            return (Intent(path, "set", chosen),)
        if action == "remove_field":
            present = self._present(action, value)
            if not present:
                return None
            path, _ = rng.choice(present)
            _drop(value, path)
            return (Intent(path, "remove"),)
        raise ValueError(f"unknown action {action!r}")

    def _present(
        self, action: str, value: dict[str, Any]
    ) -> Sequence[tuple[tuple[str, ...], list[Any]]]:
        """Fields of the action's kind that hold something to remove."""
        out: list[tuple[tuple[str, ...], list[Any]]] = []
        for spec in self._kind_of(action):
            path = tuple(spec.path.split("."))
            current = _get(value, path)
            if action == "set_remove" and isinstance(current, list) and current:
                out.append((path, current))
            elif action == "text_delete" and isinstance(current, str):
                tokens = [t for t in current.split() if _token_spans(current, t)]
                if tokens:
                    out.append((path, tokens))
            elif action == "remove_field" and _has(value, path):
                out.append((path, []))
        return out
