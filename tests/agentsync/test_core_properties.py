"""Property tests of the value core against ground truth computed from explicit causality.

Replicas write by read-modify-write (the writer has seen what its replica holds), ship
deltas that are delivered late, out of order and duplicated, then sync fully. The test
keeps, for every write, the set of writes its replica held (its causal past) and derives
from that alone what the merged value must be and which register conflicts must exist.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentsync._core import Core, Turn

NS = ("proj",)
KEYS = ("k1", "k2")
SCHEMA = {NS: {"count": "counter", "tags": "set"}}
REGISTERS = (("status",), ("meta", "x"))
TOKENS = [chr(0x4E00 + i) for i in range(500)]  # unique characters: text diffs are exact


@dataclass
class Op:
    op_id: str
    key: str
    past: frozenset[str]
    kind: str  # register | add | remove | inc | text | delete
    path: tuple[str, ...] = ()
    value: Any = None


@dataclass
class Writer:
    """An in-process writer: began its turn at some point and has seen only that, plus
    its own writes (as parallel LangGraph nodes of one superstep do)."""

    replica: int
    turn: Turn
    past: set[str]
    snapshot: dict[str, dict[str, Any]]


@dataclass
class World:
    replicas: list[Core]
    known: list[set[str]]
    ops: list[Op] = field(default_factory=list)
    queue: list[tuple[int, bytes]] = field(default_factory=list)
    writers: list[Writer] = field(default_factory=list)
    token: int = 0

    def deliver(self, to: int, blob: bytes) -> None:
        # odd replicas defer applying imports to their next read, as simulated replicas
        # do: what they report and what their writers see must not differ
        if to % 2:
            self.known[to].update(self.replicas[to].import_updates_deferred(blob))
        else:
            self.known[to].update(self.replicas[to].import_updates(blob).new_ops)


def _get_path(value: dict[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = value
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _begin(world: World, r: int) -> Writer:
    core = world.replicas[r]
    snapshot = {}
    for key in KEYS:
        stored = core.get(NS, key)
        snapshot[key] = dict(stored.value) if stored else {}
    writer = Writer(r, core.begin_turn(), set(world.known[r]), snapshot)
    world.writers.append(writer)
    return writer


def _write(
    world: World,
    r: int,
    key: str,
    action: str,
    choice: int,
    data: st.DataObject,
    writer: Writer | None = None,
) -> None:
    core = world.replicas[r]
    if writer is None:
        stored = core.get(NS, key)
        current: dict[str, Any] = dict(stored.value) if stored else {}
        past = frozenset(world.known[r])
    else:
        current = dict(writer.snapshot[key])
        past = frozenset(writer.past)
    turn = writer.turn if writer else None

    def record(op_id: str | None) -> None:
        if op_id is None:
            return
        world.known[r].add(op_id)
        if writer is not None:
            writer.past.add(op_id)

    if action == "delete":
        result = core.delete(NS, key, agent=f"r{r}", turn=turn, now=1.0)
        if result.op_id:
            world.ops.append(Op(result.op_id, key, past, "delete"))
        record(result.op_id)
        if writer is not None:
            writer.snapshot[key] = {}
        return
    new = {k: v for k, v in current.items()}
    op: Op | None = None
    if action == "register":
        path = REGISTERS[choice % len(REGISTERS)]
        value = data.draw(st.sampled_from(["a", "b", "c"]))
        if path == ("status",):
            new["status"] = value
        else:
            meta = dict(new.get("meta") or {}) if isinstance(new.get("meta"), dict) else {}
            meta["x"] = value
            new["meta"] = meta
        if _get_path(current, path) != value:
            op = Op("", key, past, "register", path, value)
    elif action == "set":
        tags = list(current.get("tags") or []) if isinstance(current.get("tags"), list) else []
        elem = f"t{choice % 6}"
        if elem in tags:
            tags.remove(elem)
            op = Op("", key, past, "remove", ("tags",), elem)
        else:
            tags.append(elem)
            op = Op("", key, past, "add", ("tags",), elem)
        new["tags"] = tags
    elif action == "counter":
        delta = data.draw(st.integers(-3, 5).filter(lambda d: d != 0))
        base = current.get("count", 0)
        new["count"] = base + delta
        op = Op("", key, past, "inc", ("count",), delta)
    elif action == "text":
        text = current.get("notes", "") if isinstance(current.get("notes"), str) else ""
        pos = data.draw(st.integers(0, len(text)))
        token = TOKENS[world.token]
        world.token += 1
        new["notes"] = text[:pos] + token + text[pos:]
        op = Op("", key, past, "text", ("notes",), token)
    result = core.put(NS, key, new, agent=f"r{r}", turn=turn, now=1.0)
    assert result.op_id is not None
    record(result.op_id)
    if writer is not None:
        writer.snapshot[key] = new
    if op is not None:
        op.op_id = result.op_id
        world.ops.append(op)


def _sync_all(world: World) -> None:
    n = len(world.replicas)
    for _ in range(3):
        for a in range(n):
            for b in range(n):
                if a != b:
                    world.deliver(b, world.replicas[a].export_updates(world.replicas[b].version()))


def _superseded(op: Op, ops: list[Op], kinds: tuple[str, ...]) -> bool:
    return any(
        other.key == op.key
        and other.kind in kinds
        and op.op_id in other.past
        and (other.kind == "delete" or other.path == op.path)
        for other in ops
    )


def _check_ground_truth(world: World) -> None:
    core = world.replicas[0]
    # honest writers only: every change is accounted for by a write record
    assert [r.stats()["unreadable_records"] for r in world.replicas] == [0] * len(world.replicas)
    expected_conflicts: set[tuple[str, tuple[str, ...], frozenset[str]]] = set()
    for key in KEYS:
        stored = core.get(NS, key)
        value: dict[str, Any] = stored.value if stored else {}
        ops = [o for o in world.ops if o.key == key]
        for path in REGISTERS:
            live = [
                o
                for o in ops
                if o.kind == "register"
                and o.path == path
                and not _superseded(o, ops, ("register", "delete"))
            ]
            got = _get_path(value, path)
            values = {o.value for o in live}
            if not live:
                assert got is None, (key, path, got)
            elif len(values) == 1:
                assert got == live[0].value, (key, path, got, live)
            else:
                assert got == f"<escalated:{'.'.join(path)}>", (key, path, got)
                expected_conflicts.add((key, path, frozenset(o.op_id for o in live)))
        adds = [o for o in ops if o.kind == "add"]
        removes = [o for o in ops if o.kind in ("remove", "delete")]
        present = {
            a.value
            for a in adds
            if not any(
                a.op_id in r.past and (r.kind == "delete" or r.value == a.value) for r in removes
            )
        }
        assert set(value.get("tags") or []) == present, (key, value.get("tags"), present)
        assert len(value.get("tags") or []) == len(set(value.get("tags") or []))
        incs = [o for o in ops if o.kind == "inc" and not _superseded(o, ops, ("delete",))]
        assert (value.get("count") or 0) == sum(o.value for o in incs), key
        tokens = {o.value for o in ops if o.kind == "text" and not _superseded(o, ops, ("delete",))}
        text = value.get("notes") or ""
        assert set(text) == tokens, (key, text, tokens)
    got_conflicts = {
        (e.key, e.path, frozenset(c.op_id for c in e.contenders)) for e in core.escalations()
    }
    assert got_conflicts == expected_conflicts


ACTIONS = ("register", "set", "counter", "text", "delete", "send", "send", "deliver", "deliver")
TURN_ACTIONS = ("begin", "end", "register", "register", "set", "counter", "text", "delete")


def _histories(examples: int) -> settings:
    """Settings for the simulated-history tests: long, slow examples."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@_histories(200)
@given(n=st.integers(2, 5), steps=st.integers(5, 40), data=st.data())
def test_replicas_converge_to_ground_truth(n: int, steps: int, data: st.DataObject) -> None:
    _run(n, steps, data, ACTIONS)


@_histories(200)
@given(n=st.integers(1, 3), steps=st.integers(5, 40), data=st.data())
def test_concurrent_turns_on_one_replica_match_ground_truth(
    n: int, steps: int, data: st.DataObject
) -> None:
    """Parallel writers in one process: each saw only what was committed when its turn
    began, so their writes are concurrent though they share one replica."""
    _run(n, steps, data, ACTIONS + TURN_ACTIONS * 2)


READ_ACTIONS = ("read", "read", "fork", "fork")


@_histories(300)
@given(n=st.integers(1, 3), steps=st.integers(5, 60), data=st.data())
def test_turns_that_read_and_fork_match_ground_truth(
    n: int, steps: int, data: st.DataObject
) -> None:
    """Parallel writers that also read keys mid-turn (a read counts as seen) and fork
    (a task's turn starts from its superstep's view, as TaskTurns makes them). Found a
    writer's own text belief outliving its read of the merged text (text inserted twice)."""
    _run(n, steps, data, ACTIONS + TURN_ACTIONS * 2 + READ_ACTIONS * 2)


def _run(n: int, steps: int, data: st.DataObject, actions: tuple[str, ...]) -> None:
    # one key state held whole: every other key is cold and read back from Loro on use
    hot = data.draw(st.sampled_from([1, 4096]), label="hot_keys")
    world = World(
        [Core(peer_id=i + 1, schema=SCHEMA, hot_keys=hot) for i in range(n)],
        [set() for _ in range(n)],
    )
    for _ in range(steps):
        action = data.draw(st.sampled_from(actions))
        r = data.draw(st.integers(0, n - 1))
        if action == "begin":
            _begin(world, r)
        elif action == "end":
            if world.writers:
                world.writers.pop(data.draw(st.integers(0, len(world.writers) - 1)))
        elif action == "send" and n > 1:
            to = data.draw(st.sampled_from([x for x in range(n) if x != r]))
            since = world.replicas[to].version() if data.draw(st.booleans()) else None
            world.queue.append((to, world.replicas[r].export_updates(since)))
        elif action == "read":
            _read(world, r, data)
        elif action == "fork":
            _fork(world, r, data)
        elif action == "deliver":
            if world.queue:
                i = data.draw(st.integers(0, len(world.queue) - 1))
                to, blob = world.queue[i]
                if data.draw(st.booleans()):  # otherwise the message is duplicated later
                    world.queue.pop(i)
                world.deliver(to, blob)
        elif action not in ("send", "deliver"):
            key = data.draw(st.sampled_from(KEYS))
            mine = [w for w in world.writers if w.replica == r]
            writer = data.draw(st.sampled_from([None, *mine]))
            _write(world, r, key, action, data.draw(st.integers(0, 11)), data, writer)
    for to, blob in data.draw(st.permutations(world.queue)):
        world.deliver(to, blob)
    _sync_all(world)

    first = world.replicas[0]
    snapshot = [(ns, k, v.value) for ns, k, v in first.items()]
    for other in world.replicas[1:]:
        assert [(ns, k, v.value) for ns, k, v in other.items()] == snapshot
        assert other.escalations() == first.escalations()
    # digests are kept up to date incrementally, each replica along its own path
    assert len({replica.version() for replica in world.replicas}) == 1
    all_ops = {o.op_id for o in world.ops}
    for known in world.known:
        assert all_ops <= known  # import_updates reported every write it applied
    _check_ground_truth(world)


def _read(world: World, r: int, data: st.DataObject) -> None:
    """A writer reads a key: it has now seen everything its replica holds of it."""
    mine = [w for w in world.writers if w.replica == r]
    if not mine:
        return
    writer = data.draw(st.sampled_from(mine))
    key = data.draw(st.sampled_from(KEYS))
    core = world.replicas[r]
    core.note_read(writer.turn, NS, key)
    stored = core.get(NS, key)
    writer.snapshot[key] = dict(stored.value) if stored else {}
    writer.past |= {o.op_id for o in world.ops if o.key == key and o.op_id in world.known[r]}


def _fork(world: World, r: int, data: st.DataObject) -> None:
    """A new writer that starts from another's view (TaskTurns._fork)."""
    mine = [w for w in world.writers if w.replica == r]
    if not mine:
        return
    parent = data.draw(st.sampled_from(mine))
    turn = world.replicas[r].begin_turn()
    turn.epoch = parent.turn.epoch
    turn.own_ops = set(parent.turn.own_ops)
    turn.read_epochs = dict(parent.turn.read_epochs)
    snapshot = {key: copy.deepcopy(value) for key, value in parent.snapshot.items()}
    world.writers.append(Writer(r, turn, set(parent.past), snapshot))
