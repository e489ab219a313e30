"""The CRDT value core: SPEC section 3 on Loro. `Core` is its façade: the public methods,
the commit sequence of a write, import and settle, and the counters. Only the `_core*`
modules touch Loro's API; the rest of the core lives in `_core_layout` (the stored format
and its codecs), `_core_keys` (cached per-key state), `_core_states` (`KeyStates`: loading
keys, cold keys, burials), `_core_views` (turns and what a writer saw), `_core_text`
(`TextFields`), `_core_lists` (list positions), `_core_values` (`Values`: materialization
and conflicts) and `_core_write` (write planning, `_Ops`).

Representation. Each (namespace, key) owns one flat root map of *entries* and one root
text per text field; nothing is a nested container, so two replicas that create the same
sub-dict concurrently can never end up with two competing containers (the Loro trap).

- presence/register entry  ``r path|op``        -> ``[kind, scalar, agent]``
- set/list element tag     ``s path|elem|i|op`` -> ``[agent, position]``
- counter increment        ``c path|op``        -> ``[delta, agent]``

(``|`` is `_SEP`.) Each write is one record in the key's history map, ``op -> [FORMAT,
agent, action, timestamp, fields, inserts, kills, created_at, seq]``: the entries it
inserts and the entries it supersedes travel inside it, so a write costs Loro one map
insert however many fields it changes (an entry id is unique to its op, so "killed by any
record" is final). Inserted entries are stored without the record's op and agent, killed
ones grouped by op (`_core_layout._read_record` has the shape). ``FORMAT`` is the
layout's version number: a record of another version is refused (skipped, counted and
logged alike on every replica), never guessed at.
The key's timestamps are those of the record with the highest ``(seq, peer, counter)``;
``seq`` is one more than the highest of the key's records its writer's replica held, so a
later write (one whose replica had the earlier) always wins, as in a last-writer-wins
register. The directory map ``dir`` names each key: ``kid -> [namespace, key]``.

A write inserts fresh entries and kills exactly the entries its writer had *seen*; an
entry nobody had seen when it was superseded stays live. So concurrent register writes
leave two live entries (a conflict), concurrent set adds leave both tags (a union), and a
removal never beats an add it had not seen (add-wins). Whether a writer had seen an entry
is decided locally with epochs: every local write and every import advances the replica's
epoch, each cached entry remembers when it appeared and disappeared here, and a `Turn`
remembers the epoch at which its writer began (plus its own ops and its reads).
"""

from __future__ import annotations

import bisect
import gc
import json
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from mypy_extensions import mypyc_attr

from ._core_keys import (
    _ABSENT,
    Visible,
    _bucket,
    _ColdKey,
    _Entry,
    _KeyState,
)
from ._core_layout import (
    _COUNTER_OF,
    _PRESENCE,
    _SEQ_MAX,
    _VERSION_ENCODER,
    _decode_version,
    _hash,
    _is_loro_failure,
    _is_op,
    _op_sort_key,
    _read_record,
    _stored_record,
    _unpack,
    loro,
)
from ._core_states import KeyStates
from ._core_text import TextFields
from ._core_values import ConflictValue, Values, _copy, _lookup
from ._core_views import Turn, _alive, _view, _view_epoch
from ._core_write import _Node, _Ops, _plan_tree
from ._errors import CorruptUpdateError
from ._logging import get_logger
from ._types import JSON, Escalation, Namespace, WriteAction, WriteRecord
from ._values import (
    FieldPath,
    Schema,
    declared_kind,
    dotted,
    lone_surrogate_at,
    normalize_schema,
    validate_value,
)

__all__ = [
    "ConflictValue",
    "Core",
    "ImportResult",
    "PutResult",
    "Schema",
    "StoredValue",
    "Turn",
]

# silent unless the application asks (see _logging)
log = get_logger(__name__)


_PAUSE_COLLECTOR_ABOVE: Final = 1_000  # keys read at once past which gc is paused
# key states held whole (most recently used first kept); quiet ones beyond are kept as
# their value only (`_ColdKey`) and read back from Loro when next written or changed
_HOT_KEYS: Final = 4_096
_CACHED_KEY_IDS: Final = 16_384


# --------------------------------------------------------------------------------------
# public records


@mypyc_attr(native_class=False)  # callers may copy or pickle what they read (frozen)
@dataclass(frozen=True, slots=True)
class StoredValue:
    value: dict[str, JSON]
    created_at: float
    updated_at: float
    ttl_minutes: float | None = None
    """The TTL the key's latest write gave it (None: it does not expire)."""


@mypyc_attr(native_class=False)
@dataclass(frozen=True, slots=True)
class PutResult:
    op_id: str | None
    """None when the write changed nothing (no op was recorded)."""
    new_escalations: list[Escalation]


@mypyc_attr(native_class=False)
@dataclass(frozen=True, slots=True)
class ImportResult:
    new_ops: list[str]
    changed_keys: list[tuple[Namespace, str]]
    new_escalations: list[Escalation]


# --------------------------------------------------------------------------------------
# cached per-key state


# --------------------------------------------------------------------------------------
# Loro error translation


# --------------------------------------------------------------------------------------


class Core:
    """One replica's state: a JSON object per (namespace, key), merged per field kind.

    Not thread-safe: the store serializes calls with its own lock.
    """

    def __init__(
        self,
        *,
        # typed as what callers may pass, not what is valid: checked here, so the compiled
        # build refuses bad values with the same errors as plain Python
        peer_id: object = None,
        schema: Schema | None = None,
        conflict_value: object = "placeholder",
        hot_keys: object = _HOT_KEYS,
    ) -> None:
        if type(hot_keys) is not int or hot_keys < 1:
            raise ValueError(f"hot_keys must be a positive int, got {hot_keys!r}")
        if conflict_value == "placeholder" or conflict_value == "provisional":  # noqa: PLR1714
            conflict: ConflictValue = conflict_value
        else:
            raise ValueError(
                f"conflict_value must be 'placeholder' or 'provisional', got {conflict_value!r}"
            )
        self._schema = normalize_schema(schema)
        self._doc: Any = loro.LoroDoc()
        if peer_id is not None:
            if not isinstance(peer_id, int) or not 0 <= peer_id < 2**64 - 1:
                raise ValueError(f"peer_id must be an int in [0, 2**64 - 1), got {peer_id!r}")
            self._doc.peer_id = peer_id
        self._peer = int(self._doc.peer_id)
        self._dir = self._doc.get_map("dir")
        # what imports changed, from Loro's events while an import is being settled:
        # key ids whose directory entry changed, and the history records that arrived
        # per key id (so a key's records are not all listed again per import); None
        # when not listening (local writes raise no events we need)
        self._dir_changed: set[str] = set()
        self._records_arrived: dict[str, set[str]] = {}
        self._import_subscription: Any = None
        self._epoch = 0
        # bumped whenever Loro's state may change other than by a local edit of one text
        # (an import, a checkout, a fork merged back): what `_TextTrack.known` is checked by
        self._loro_changes = 0
        # imports land in Loro's log at once but reach its state (and this cache) only
        # when something reads (`_settle`): whether one is waiting
        self._unsettled = False
        self._version: bytes | None = None  # digest of the log, until it next changes
        # the log's end counter per peer, kept up to date by imports (a thousand peers:
        # re-reading and sorting them for every digest was the cost of a digest)
        self._ends: dict[int, int] | None = None
        self._peer_order: list[int] = []
        self._settling = False  # an import's keys are being read (`_settle`)
        self._kids: dict[tuple[Namespace, str], str] = {}
        # the live turns, by weak reference (a dead turn's reference drops itself): a
        # plain set, as a WeakSet's `len()` runs interpreted and `_bury` asks per write
        self._turns: set[weakref.ref[Turn]] = set()
        self._pathjson: dict[FieldPath, str] = {}
        self._regids: dict[FieldPath, str] = {}
        self._states = KeyStates(self, hot_keys)
        # (the same dicts: read on every call)
        self._keys: OrderedDict[str, _KeyState] = self._states.keys
        self._cold: dict[str, _ColdKey] = self._states.cold
        self._texts = TextFields(self)
        self._values = Values(self, self._texts, conflict)
        self._counts = {
            "writes": 0,
            "deletes": 0,
            "resolutions": 0,
            "imports": 0,
            "imported_writes": 0,
            "mergeable_concurrent": 0,
            "semantic_conflicts": 0,
            "unreadable_records": 0,
        }

    @property
    def peer_id(self) -> int:
        return self._peer

    def _on_import_event(self, event: Any) -> None:
        for change in event.events:
            name = getattr(change.target, "name", None)
            if type(name) is not str:
                continue
            if name[:2] == "t:":
                self._dir_changed.add(name[2:22])  # a text of that key changed
                continue
            updated = getattr(change.diff.diff, "updated", None)
            if updated is None:
                continue
            if name == "dir":
                self._dir_changed.update(updated.keys())
            elif name[:2] == "h:":
                self._records_arrived.setdefault(name[2:], set()).update(updated.keys())

    # -- turns (causality) ---------------------------------------------------------
    def begin_turn(self) -> Turn:
        """A writer that starts now has seen everything committed so far."""
        self._catch_up()
        turn = Turn(epoch=self._epoch)
        self._turns.add(weakref.ref(turn, self._turns.discard))
        return turn

    def note_read(self, turn: Turn, namespace: Namespace, key: str) -> None:
        """The writer of `turn` read this key: it has seen its current state."""
        self._catch_up()
        turn.read_epochs[(namespace, key)] = self._epoch

    # -- writes --------------------------------------------------------------------
    def put(
        self,
        namespace: Namespace,
        key: str,
        value: Mapping[str, Any],
        *,
        agent: str,
        turn: Turn | None,
        now: object,
        ttl: float | None = None,
    ) -> PutResult:
        """Replace the value relative to what `turn` had seen (`None`: seen everything).
        `ttl`: minutes the item lives after this write (None: it does not expire), kept in
        the write's record, so it survives a restart and reaches every replica.

        Raises TypeError naming the field path for non-JSON input and SchemaError for a
        value of the wrong shape for a declared kind; nothing is applied then.
        """
        seconds = _seconds(now)
        if ttl is not None and (type(ttl) not in (int, float) or not math.isfinite(ttl)):
            raise ValueError(f"ttl must be None or a finite number of minutes, got {ttl!r}")
        _check_agent(agent)
        if not isinstance(value, Mapping):
            raise TypeError(f"value must be a dict, got {type(value).__name__}")
        declared = declared_kind(self._schema, namespace)
        value = dict(value)
        plan = _plan_tree((), value, declared)  # raises SchemaError before any op
        self._catch_up()
        state = self._states.state(namespace, key, create=True)
        assert state is not None  # create=True always yields a state
        visible = self._visibility(turn, namespace, key)
        return self._write(
            state,
            plan,
            visible,
            turn,
            agent,
            "put",
            seconds,
            root=(),
            ttl=None if ttl is None else float(ttl),
        )

    def _kid(self, namespace: Namespace, key: str) -> str:
        ident = (namespace, key)
        kid = self._kids.get(ident)
        if kid is None:
            if len(self._kids) >= _CACHED_KEY_IDS:
                self._kids.clear()  # (a hash is a microsecond; a cache of every key is not free)
            kid = self._kids[ident] = _hash(*namespace, "", key)
        return kid

    def check(self, namespace: Namespace, value: Mapping[str, Any]) -> None:
        """Raise what `put` would raise for this value (non-JSON, wrong declared kind)
        without writing anything: a batch checks every put before applying any."""
        if not isinstance(value, Mapping):
            raise TypeError(f"value must be a dict, got {type(value).__name__}")
        _plan_tree((), dict(value), declared_kind(self._schema, namespace))

    def delete(
        self, namespace: Namespace, key: str, *, agent: str, turn: Turn | None, now: object
    ) -> PutResult:
        """Remove everything `turn` had seen of the key (concurrent puts survive)."""
        seconds = _seconds(now)
        _check_agent(agent)
        self._catch_up()
        state = self._states.state(namespace, key, create=False)
        if state is None:
            return PutResult(None, [])
        visible = self._visibility(turn, namespace, key)
        return self._write(state, None, visible, turn, agent, "delete", seconds, root=())

    def resolve(self, escalation: Escalation, value: Any, *, agent: str, now: object) -> PutResult:
        """Write `value` to the escalated field as a write that has seen every contender."""
        seconds = _seconds(now)
        _check_agent(agent)
        validate_value(value, escalation.path)
        self._catch_up()
        state = self._states.state(escalation.namespace, escalation.key, create=False)
        if state is None:
            raise KeyError(f"no key {escalation.key!r} in namespace {escalation.namespace!r}")
        path = escalation.path or tuple(escalation.field.split("."))
        declared = declared_kind(self._schema, escalation.namespace)
        plan = _plan_tree(path, value, declared)
        contenders = {c.op_id for c in escalation.contenders}

        def visible(entry: _Entry) -> bool:
            if entry.died is not None:
                return False
            if entry.path[: len(path)] != path:
                return True  # ancestors: the resolver had seen the key as it is now
            return entry.kind not in _PRESENCE or entry.op in contenders or entry.path != path

        text_bases = {}
        if plan.kind == "text":
            frontiers = self._texts.contenders_version(state, path, contenders)
            if frontiers is not None:
                text_bases[path] = frontiers
        ttl = state.meta[2] if state.meta else None  # a resolution keeps the item's TTL
        return self._write(
            state,
            plan,
            visible,
            None,
            agent,
            "resolve",
            seconds,
            root=path,
            text_bases=text_bases,
            ttl=ttl,
        )

    # -- reads ---------------------------------------------------------------------
    def get(self, namespace: Namespace, key: str) -> StoredValue | None:
        """The merged value; conflicted fields read as the placeholder or provisional."""
        self._catch_up()
        kid = self._kid(namespace, key)
        cold = self._cold.get(kid)
        if cold is not None:
            value, meta = cold.value, cold.meta
        else:
            state = self._states.state(namespace, key, create=False, kid=kid)
            if state is None:
                return None
            value, meta = self._values.materialize(state), state.meta
        if value is None:
            return None
        created, updated, ttl = meta or (0.0, 0.0, None)
        # a private copy: callers may mutate what they read without touching the cache
        return StoredValue(_copy(value), created, updated, ttl)

    def items(self) -> Iterator[tuple[Namespace, str, StoredValue]]:
        """Every live key, in a deterministic order."""
        self._catch_up()
        self._states.refresh_dirty()
        names = [(s.namespace, s.key) for s in self._keys.values()]
        names.extend((c.namespace, c.key) for c in self._cold.values())
        for namespace, key in sorted(names):
            stored = self.get(namespace, key)
            if stored is not None:
                yield namespace, key, stored

    def escalations(self, namespace: Namespace | None = None) -> list[Escalation]:
        """Open conflicts, optionally only under a namespace prefix."""
        self._catch_up()
        self._states.refresh_dirty()
        out: list[Escalation] = []
        for state in list(self._keys.values()):  # (a cold key has no open conflict)
            if namespace is not None and state.namespace[: len(namespace)] != namespace:
                continue
            self._values.materialize(state)
            out.extend(state.conflicts.values())
        out.sort(key=lambda e: (e.namespace, e.key, e.path))
        return out

    def history(self, namespace: Namespace, key: str) -> list[WriteRecord]:
        self._catch_up()
        kid = self._kid(namespace, key)
        history = self._doc.get_map(f"h:{kid}")
        raw = history.get_value()
        records = []
        for op, packed in raw.items():
            try:
                if not _is_op(op):
                    raise CorruptUpdateError("not an op id")
                if history.get_last_editor(op) != int(op.partition(":")[0]):
                    raise CorruptUpdateError("write record stored by another peer")
                record = _unpack(packed)
                _read_record(record, op, {}, set())  # out of the value: out of history
            except CorruptUpdateError:
                continue  # reported (once) when the key was read
            agent, action, timestamp, fields = record[1:5]
            records.append(
                WriteRecord(
                    op_id=op,
                    agent_id=str(agent),
                    action=action,
                    fields=tuple(fields),
                    timestamp=float(timestamp),
                )
            )
        records.sort(key=lambda r: (r.timestamp, _op_sort_key(r.op_id)))
        return records

    def attribution(self) -> dict[tuple[Namespace, str], dict[str, list[str]]]:
        """Per key and dotted leaf field: the agents whose writes survive in the value."""
        self._catch_up()
        self._states.refresh_dirty()
        out: dict[tuple[Namespace, str], dict[str, list[str]]] = {}
        for kid in [*self._keys, *self._cold]:
            # which entries survive is in a key's state alone: a cold one is read back
            state = self._keys.get(kid) or self._states.restore(kid)
            if state is None or self._values.materialize(state) is None:
                continue
            per_field: dict[str, set[str]] = {}
            text_writers: dict[str, set[str]] = {}
            for rec in self.history(state.namespace, state.key):
                for f in rec.fields:
                    text_writers.setdefault(f, set()).add(rec.agent_id)
            for path, entries in state.regs.items():
                if not path:
                    continue
                agents = per_field.setdefault(dotted(path), set())
                for e in entries.values():
                    if e.kind == "r":
                        agents.add(e.agent)
                    if e.kind == "t":
                        agents.update(text_writers.get(dotted(path), ()))
            for bucket in (state.tags, state.deltas):
                for path, entries in bucket.items():
                    agents = per_field.setdefault(dotted(path), set())
                    agents.update(e.agent for e in entries.values())
            out[(state.namespace, state.key)] = {
                f: sorted(a) for f, a in sorted(per_field.items()) if a
            }
        return out

    def stats(self) -> dict[str, float]:
        self._catch_up()
        counts: dict[str, float] = dict(self._counts)
        counts["open_escalations"] = len(self.escalations())
        concurrent = counts["mergeable_concurrent"] + counts["semantic_conflicts"]
        counts["semantic_ratio"] = counts["semantic_conflicts"] / concurrent if concurrent else 0.0
        return counts

    # -- replica sync --------------------------------------------------------------
    def version(self) -> bytes:
        """Opaque digest of what this replica holds: equal holdings, equal bytes."""
        if self._version is None:
            ends = self._ends
            if ends is None:
                spans = self._doc.oplog_vv.to_spans().inner()
                ends = self._ends = {peer: end for peer, (_, end) in spans.items()}
                self._peer_order = sorted(ends)
            self._version = _VERSION_ENCODER.encode([(p, ends[p]) for p in self._peer_order])
        return self._version

    def export_updates(self, since: object = None) -> bytes:
        """A delta with everything a replica at digest `since` lacks (None: everything);
        `b""` when it lacks nothing.

        Raises CorruptUpdateError if `since` is not a digest.
        """
        if since is not None and since == self.version():
            return b""  # digests are canonical: the peer holds exactly what we hold
        vv = loro.VersionVector() if since is None else _decode_version(since)
        if since is not None and vv.includes_vv(self._doc.oplog_vv):
            return b""
        return bytes(self._doc.export(loro.ExportMode.Updates(vv)))

    def import_updates(self, blob: object) -> ImportResult:
        """Apply a peer's delta. CorruptUpdateError on bad bytes, state unchanged.

        Updates whose dependencies are missing stay pending and apply when the gap arrives.
        """
        self._catch_up()  # deferred imports first: they reported their writes already
        self._load(blob, defer=False)
        return self._settle()

    def import_updates_deferred(self, blob: object) -> list[str]:
        """Take a peer's delta into the log now; merge it into the values on the next read.

        Returns the op ids of the writes it newly brought (exact, like `import_updates`),
        but reports no changed keys or escalations: those surface on the next read (the
        conflicts through `escalations()`). Any read or write catches up first, so what a
        writer sees is the same as if every import had applied at once.

        Why: applying an update to Loro's state costs time that grows with the number of
        concurrent heads in the document (every replica writing at once), while appending
        it to the log does not; a replica that only relays updates never pays it.
        Raises CorruptUpdateError on bad bytes, state unchanged.
        """
        return self._ops_in(self._load(blob, defer=True))

    def _load(self, blob: object, *, defer: bool) -> dict[int, tuple[int, int]]:
        """Import into Loro; returns the op ranges per peer that entered the log.

        With `defer`, into the log only (`_settle` applies it to the state), except into
        an empty document: Loro takes a snapshot whole only while attached. Without, as
        Loro does by default, unless earlier deferred imports are still pending.
        """
        if not isinstance(blob, bytes | bytearray | memoryview):
            raise TypeError(f"update blob must be bytes, got {type(blob).__name__}")
        if not blob:
            return {}
        doc = self._doc
        before = doc.oplog_vv
        self._unsettled = True
        if self._import_subscription is None:
            self._import_subscription = doc.subscribe_root(self._on_import_event)
        if defer and doc.len_changes and not doc.is_detached():
            doc.detach()
        self._version = None
        self._loro_changes += 1
        try:
            doc.import_(bytes(blob))
        except BaseException as exc:
            self._ends = None  # recount from the log: a failed import may keep a prefix
            if not _is_loro_failure(exc):
                raise
            raise CorruptUpdateError(f"cannot import update blob ({len(blob)} bytes): {exc}") from (
                exc if isinstance(exc, Exception) else None
            )
        self._counts["imports"] += 1
        grown: dict[int, tuple[int, int]] = before.diff(doc.oplog_vv).forward.inner()
        ends = self._ends
        if ends is not None:
            for peer, (_, end) in grown.items():
                if peer not in ends:
                    bisect.insort(self._peer_order, peer)
                ends[peer] = end
        return grown

    def _ops_in(self, grown: dict[int, tuple[int, int]]) -> list[str]:
        """Write op ids whose commits are in these new op ranges: each write's last
        commit (the one with its history entry) carries its op's counter as the commit
        message."""
        doc = self._doc
        ops: set[str] = set()
        for peer, (start, end) in grown.items():
            at = start
            while at < end:
                change = doc.get_change(loro.ID(peer, at))
                message = change.message
                if message and message.isascii() and message.isdigit():
                    ops.add(f"{peer}:{message}")
                at = max(at + 1, change.id.counter + change.len)
        return sorted(ops, key=_op_sort_key)

    def _catch_up(self) -> None:
        """`_settle` when an import is pending (most calls: none is, and nothing to build)."""
        if self._unsettled:
            self._settle()

    def _settle(self) -> ImportResult:
        """Bring Loro's state and the cached values up to the log (imports since the last
        read). Every import in between lands at one epoch: no turn began meanwhile."""
        if not self._unsettled:
            return ImportResult([], [], [])
        self._unsettled = False
        doc = self._doc
        doc.checkout_to_latest()
        self._loro_changes += 1
        # what Loro keeps to make the next checkout incremental is as large as the
        # history and buys nothing measurable here (-15% memory at 500 replicas)
        doc.free_diff_calculator()
        doc.free_history_cache()
        self._epoch += 1
        subscription, self._import_subscription = self._import_subscription, None
        if subscription is not None:
            subscription.unsubscribe()
        # the keys Loro's events named (a directory entry, a history record or a text of
        # theirs changed); a snapshot into an empty replica revisits every key
        kids = self._dir_changed
        self._dir_changed = set()
        kids.update(self._records_arrived)
        if not self._keys and not self._cold:
            kids.update(self._dir.keys())
            self._records_arrived.clear()
        new_ops: list[str] = []
        changed: list[tuple[Namespace, str]] = []
        new_escalations: list[Escalation] = []
        # Reading many keys at once (a reopen, a snapshot, a long catch-up) allocates
        # objects that all live on; the cyclic collector would rescan every one of them
        # again and again (a 40,000-key reopen took twice as long per key as 10,000), and
        # none of them is garbage, so it is paused for the bulk read
        paused = len(kids) > _PAUSE_COLLECTOR_ABOVE and gc.isenabled()
        if paused:
            gc.disable()
        # no key goes cold until every key the import changed is read: one not yet read
        # lags the log, which a cold key's version would claim it holds
        self._settling = True
        try:
            for kid in sorted(kids):
                held = self._keys.get(kid) or self._cold.get(kid)
                loaded = self._states.reload(kid)
                if loaded is None:
                    if held is not None:  # its listing became unreadable: it reads absent
                        changed.append((held.namespace, held.key))
                    continue
                state, fresh = loaded
                changed.append((state.namespace, state.key))
                new_ops.extend(sorted(fresh, key=_op_sort_key))
                new_escalations.extend(self._values.refresh_conflicts(state))
        finally:
            self._settling = False
            self._records_arrived.clear()  # (a key left unread lists its records anew)
            if paused:
                gc.enable()
        self._states.trim()
        self._counts["imported_writes"] += len(new_ops)
        for esc in new_escalations:
            log.info(
                "conflict escalated",
                namespace=esc.namespace,
                key=esc.key,
                field=esc.field,
                contenders=[c.agent_id for c in esc.contenders],
            )
        return ImportResult(new_ops, changed, new_escalations)

    def holder(self) -> Callable[[bytes], bool]:
        """A test of whether this replica's log holds every update of a blob, as of now
        (an update Loro keeps pending for a missing dependency is not held); a blob that
        is not an update holds nothing that could wait, so it counts as held."""
        held = self._doc.oplog_vv

        def holds(blob: bytes) -> bool:
            try:
                meta = loro.LoroDoc.decode_import_blob_meta(blob, False)
            except BaseException as exc:
                if not _is_loro_failure(exc):
                    raise
                return True
            return bool(held.includes_vv(meta.partial_end_vv))

        return holds

    def export_snapshot(self) -> bytes:
        """Everything, compacted, for persistence (`import_updates` accepts it)."""
        self._catch_up()
        return bytes(self._doc.export(loro.ExportMode.Snapshot()))

    # ==================================================================================
    # internals

    def _pj(self, path: FieldPath) -> str:
        pj = self._pathjson.get(path)
        if pj is None:
            pj = json.dumps(list(path), separators=(",", ":"), ensure_ascii=False)
            self._pathjson[path] = pj
        return pj

    def _reg_short(self, path: FieldPath) -> str:
        """A presence entry's id at `path` without its op (`_read_fields`)."""
        short = self._regids.get(path)
        if short is None:
            short = self._regids[path] = "r" + self._pj(path)
        return short

    def _visibility(self, turn: Turn | None, namespace: Namespace, key: str) -> Visible:
        if turn is None:
            return _alive
        seen = _view_epoch(turn, (namespace, key))
        state = self._keys.get(self._kid(namespace, key))
        if state is None or state.changed_epoch <= seen:
            return _alive  # nothing of this key changed since the writer looked
        own = turn.own_ops

        def visible(entry: _Entry) -> bool:
            if entry.born > seen and entry.op not in own:
                return False
            if entry.died is None:
                return True
            return entry.died > seen and not any(k in own for k in entry.killers)

        return visible

    # -- the write path ------------------------------------------------------------
    def _write(
        self,
        state: _KeyState,
        plan: _Node | None,
        visible: Visible,
        turn: Turn | None,
        agent: str,
        action: WriteAction,
        now: float,
        *,
        root: FieldPath,
        text_bases: dict[FieldPath, Any] | None = None,
        ttl: float | None = None,
    ) -> PutResult:
        doc = self._doc
        self._version = self._ends = None  # the log changes below
        kid = state.kid
        last = doc.oplog_vv.get_last(self._peer)  # inclusive; None before our first op
        counter = 0 if last is None else last + 1
        op = f"{self._peer}:{counter}"
        if visible is _alive:
            self._values.materialize(state)
            view = state.live_view
        else:
            view = _view(state, visible, self._schema)
        ops = _Ops(self, state, op, agent, visible)
        if text_bases:
            ops.text_bases = text_bases
        if plan is None:
            if () in view:
                ops._remove_subtree((), view)
        else:
            shown = _ABSENT if ops.current is None else _lookup(ops.current, plan.path)
            ops.apply(plan, view, shown, True)
        if plan is None and not ops.touched:
            return PutResult(None, [])  # deleting what this writer never saw: no op
        existed = bool(view.get(())) or plan is None
        created = state.meta[0] if (state.meta and existed) else now
        fields = sorted(dotted(p) for p in ops.changed_fields if p) or (
            [dotted(root)] if root else []
        )
        seq = 1 if state.meta_rank is None else min(state.meta_rank[0] + 1, _SEQ_MAX)
        rank = (seq, self._peer, counter)
        # the first change to Loro: everything that could fail ran before it (planning,
        # validation), so a write that raises leaves no uncommitted op for the next
        # commit; the record is packed after the text edits, whose op spans it carries
        # (encoding lists of checked JSON does not fail)
        ops.edit_texts()
        record = _stored_record(
            agent, action, now, fields, ops.entry_log, ops.kills, created, seq, ttl, ops.cleared
        )
        if not state.listed and self._states.ident(kid) is None:
            # (also over an entry no agentsync writer made: the honest one replaces it)
            self._dir.insert(kid, [list(state.namespace), state.key])
        state.listed = True  # nothing removes a key from the directory
        history = self._states.history(state)
        history.insert(op, record)
        # the commit that holds the history entry names the op (by its counter: the
        # commit's peer is the op's): a replica learns which writes an update brings
        # from the log alone (`import_updates_deferred`)
        doc.set_next_commit_message(op.partition(":")[2])
        doc.commit()
        self._dir_changed.discard(kid)  # its own listing: nothing to revisit
        self._epoch += 1
        if not self._turns:
            self._texts.drop_recent_copy()
        epoch = self._epoch
        for entry in ops.inserted:
            entry.born = epoch
            _bucket(state, entry).setdefault(entry.path, {})[entry.eid] = entry
        for entry in ops.removed:
            if entry.died is None:
                self._states.bury(state, entry, epoch, op)
        merged: dict[FieldPath, str] = {}  # the texts as they read now
        for path, (frontiers, text) in ops.text_paths.items():
            merged[path] = self._texts.touch(state, path, op=op, frontiers=frontiers, text=text)
        if state.meta_rank is None or rank > state.meta_rank:  # (not so only at _SEQ_MAX)
            state.meta, state.meta_rank = (created, now, ttl), rank
        state.history_ops.add(op)
        state.value_valid = False
        state.changed_epoch = epoch
        if turn is not None:
            turn.own_ops.add(op)
            if visible is _alive:
                # it had seen all of the key, so it has seen the key as its write left it:
                # its next write sees everything too, unless another change lands first
                turn.read_epochs[(state.namespace, state.key)] = epoch
        self._counts[_COUNTER_OF[action]] += 1
        if visible is _alive and self._values.refresh_written(state, ops, merged):
            new = []
        else:
            new = self._values.refresh_conflicts(state)
        if ops.concurrent:
            self._counts["semantic_conflicts" if new else "mergeable_concurrent"] += 1
        if log.debug_enabled():  # a write must not pay for an event nobody reads
            log.debug(
                "put merged",
                namespace=state.namespace,
                key=state.key,
                agent=agent,
                op=op,
                action=action,
                fields=fields,
            )
        for esc in new:
            log.info(
                "conflict escalated",
                namespace=esc.namespace,
                key=esc.key,
                field=esc.field,
                contenders=[c.agent_id for c in esc.contenders],
            )
        if action == "resolve":
            log.info(
                "conflict resolved",
                namespace=state.namespace,
                key=state.key,
                field=dotted(root),
                agent=agent,
                op=op,
            )
        return PutResult(op, new)


# --------------------------------------------------------------------------------------
# write planning


def _seconds(now: object) -> float:
    """A write's timestamp as float seconds (an int clock too, so both builds store the
    same bytes); anything else is refused before the write begins."""
    if type(now) is float and math.isfinite(now):
        return now  # a wall clock's time.time(): the common case
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise TypeError(f"a write's time must be seconds (int or float), got {now!r}")
    try:
        seconds = float(now)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"a write's time must be finite, got {now!r}")
    return seconds


def _check_agent(agent: object) -> None:
    """An agent id is stored with every write it makes: a str that is valid Unicode."""
    if type(agent) is not str:
        raise TypeError(f"agent id must be str, got {type(agent).__name__} {agent!r}")
    at = lone_surrogate_at(agent)
    if at is not None:
        raise ValueError(f"agent id {agent!r} is not valid Unicode (lone surrogate at {at})")
