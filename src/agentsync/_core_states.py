"""The cached state of every key of one `Core` (`KeyStates`): read from Loro on first use
and after imports (`reload`), the least recently used quiet keys kept as their value only
(`_ColdKey`) and read back when needed, superseded entries buried, and data no agentsync
writer produces skipped and reported.

Contract: a key's state read back from Loro equals the state it was evicted with (only
quiet keys go cold); what is skipped as unreadable is a function of the data alone, so
every replica skips the same.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ._core_keys import (
    _GRAVE_BATCHES_UP_TO,
    _bucket,
    _ColdKey,
    _died_of,
    _Entry,
    _KeyState,
    _parse_entry,
)
from ._core_layout import (
    _hash,
    _intern,
    _is_op,
    _read_record,
    _record_entries,
    _unpack,
)
from ._core_views import Turn, _view_epoch
from ._errors import CorruptUpdateError
from ._logging import get_logger
from ._types import Namespace

if TYPE_CHECKING:  # the owner; _core imports this module
    from ._core import Core

# silent unless the application asks (see _logging)
log = get_logger("agentsync._core")


def _held_at(version: Any, op: str) -> bool:
    """Whether a write's op (`peer:counter`, its first op in the log) is in `version`."""
    peer, _, counter = op.partition(":")
    try:
        last = version.get_last(int(peer))
    except (ValueError, OverflowError):
        return False  # not an op id: reported when its record is read
    return last is not None and int(last) >= int(counter)


class KeyStates:
    """The key states of one `Core`: the hot ones whole (least recently used first), the
    cold ones as their value, loaded, evicted, restored and buried here.

    Reads its core's document, directory, epoch, live turns and the records its imports
    brought; owns the key caches and the ids of directory entries reported unreadable.
    """

    def __init__(self, core: Core, hot_keys: int) -> None:
        self._core = core
        self.keys: OrderedDict[str, _KeyState] = OrderedDict()  # least recent first
        self.cold: dict[str, _ColdKey] = {}
        self._hot_keys = hot_keys
        self._evict_above = hot_keys + hot_keys // 4
        self._bad_kids: set[str] = set()  # directory entries reported unreadable

    def trim(self) -> None:
        """Evict down to the hot keys once more than a quarter over."""
        if len(self.keys) > self._evict_above:
            self.evict()

    def history(self, state: _KeyState) -> Any:
        """The key's history map, looked up once (as the directory is)."""
        history = state.history
        if history is None:
            history = state.history = self._core._doc.get_map(f"h:{state.kid}")
        return history

    def state(
        self, namespace: Namespace, key: str, *, create: bool, kid: str | None = None
    ) -> _KeyState | None:
        """The key's state (None: not a key here, unless `create`); `kid` if known."""
        if kid is None:
            kid = self._core._kid(namespace, key)
        state = self.keys.get(kid)
        if state is not None:
            self.keys.move_to_end(kid)
        elif kid in self.cold:
            return self.restore(kid)
        else:
            listed = self._core._dir.get(kid) is not None
            if listed:
                state = self.rebuild(kid)
                if state is not None:
                    return state
            if not create:
                return None
            if listed:
                # listed in a shape no agentsync writer makes: this write lists it again,
                # over the writes already in its history
                loaded = self.reload(kid, (namespace, key))
                assert loaded is not None
                return loaded[0]
            state = self.new_state(kid, namespace, key)
        return state

    def new_state(self, kid: str, namespace: Namespace, key: str) -> _KeyState:
        state = _KeyState(kid, namespace, key)
        self.keys[kid] = state
        self.trim()
        return state

    def evict(self) -> None:
        """Drop the states of the least recently used quiet keys down to `hot_keys`, each
        kept as its value (`_ColdKey`). A key's state holds several times its value
        (its entries, their ids, the view and the indexes a write uses): 100,000 small
        keys held whole took 12x `InMemoryStore`'s memory."""
        if self._core._unsettled or self._core._settling:
            return  # (key states lag the log)
        live = [t for ref in list(self._core._turns) if (t := ref()) is not None]
        version = self._core._doc.oplog_vv
        keys, cold = self.keys, self.cold
        hot = self._hot_keys
        for _ in range(len(keys)):
            if len(keys) <= hot:
                break
            kid, state = next(iter(keys.items()))
            if not self.quiet(state, live):
                keys.move_to_end(kid)
                continue
            del keys[kid]
            cold[kid] = _ColdKey(
                state.namespace, state.key, state.value, state.meta, state.changed_epoch, version
            )
        # pinned keys (not quiet) are not scanned again until as many more have arrived
        self._evict_above = max(len(keys), hot) + hot // 4

    def quiet(self, state: _KeyState, live: list[Turn]) -> bool:
        """Whether reading the key's state back from Loro later gives the same state: the
        value is current and has no open conflict, no live turn's view is older than
        its last change (so restored entries are born then for every view), and it holds
        nothing besides what Loro has (dead entries for older views, text versions,
        skipped data)."""
        if not state.value_valid or state.conflicts or state.graveyard or state.texts:
            return False
        if state.skipped:
            return False
        ident = (state.namespace, state.key)
        return all(_view_epoch(t, ident) >= state.changed_epoch for t in live)

    def restore(self, kid: str) -> _KeyState | None:
        """A cold key's state read back (`restore_held`), with any write that arrived
        after it went cold (born now)."""
        ident = self.restore_held(kid)
        loaded = self.reload(kid, ident)
        return None if loaded is None else loaded[0]

    def restore_held(self, kid: str) -> tuple[Namespace, str]:
        """Read back the writes a cold key held when it went cold, born at its last
        change then (every view since has seen them)."""
        cold = self.cold.pop(kid)
        self.new_state(kid, cold.namespace, cold.key)
        ident = (cold.namespace, cold.key)
        self.reload(kid, ident, upto=cold.version, born_at=cold.changed_epoch)
        return ident

    def refresh_dirty(self) -> None:
        """Cache every key Loro knows (keys arrive through imports and snapshots)."""
        for kid in self._core._dir.keys():  # noqa: SIM118 (a Loro map, not a dict)
            if kid not in self.keys and kid not in self.cold:
                self.rebuild(kid)

    def rebuild(self, kid: str) -> _KeyState | None:
        loaded = self.reload(kid)
        return None if loaded is None else loaded[0]

    def reload(
        self,
        kid: str,
        ident: tuple[Namespace, str] | None = None,
        *,
        upto: Any = None,
        born_at: int | None = None,
    ) -> tuple[_KeyState, set[str]] | None:
        """Bring the cached state of one key in line with Loro (after an import, or on its
        first use here); returns it with the ops of the writes it had not seen. `ident`:
        the key as a writer names it (else as the directory does).

        Entries that appeared are born now; entries that were killed died now (an imported
        op superseded them, which no writer that began earlier had seen). A key whose
        directory entry became unreadable leaves the cache: every replica reads it as
        absent until a writer lists it again.

        `upto`/`born_at` (a cold key read back, `_restore_held`): only the writes held at
        that version of the log, their entries born at epoch `born_at`.
        """
        if ident is None:
            ident = self.ident(kid)
        if ident is None:
            self.keys.pop(kid, None)
            self.cold.pop(kid, None)
            return None
        if upto is None and kid in self.cold:
            self.restore_held(kid)  # (what arrived since is read below)
        namespace, key = ident
        state = self.keys.get(kid)
        arrived = None if upto is not None else self._core._records_arrived.pop(kid, None)
        if state is not None and arrived is not None and not arrived.isdisjoint(state.history_ops):
            # a record this replica had read was changed or deleted: no agentsync writer
            # does that, so the key is read afresh, as a replica that never held the old
            # record reads it (what was skipped stays reported once)
            skipped = state.skipped
            del self.keys[kid]
            state = None
        else:
            skipped = None
        first_read = state is None
        if state is None:
            state = self.new_state(kid, namespace, key)
            if skipped is not None:
                state.skipped = skipped
        history = self.history(state)
        if upto is not None:
            ops = {op for op in map(_intern, history.keys()) if _held_at(upto, op)}
            fresh = ops - state.history_ops
        elif first_read or arrived is None:
            ops = set(map(_intern, history.keys()))
            fresh = ops - state.history_ops
        else:  # only what the import's events named: a long history is not listed again
            ops = state.history_ops
            fresh = {_intern(op) for op in arrived if op not in ops}
            ops.update(fresh)
        # read and parse everything before the cache changes. Data no agentsync writer
        # produces (a record of the wrong shape, an entry that does not parse) is skipped,
        # and reported: a function of the data alone, so every replica skips the same
        born: dict[str, Any] = {}
        killed: set[str] = set()
        rank, meta = state.meta_rank, state.meta
        if fresh:
            # many records: one read of the whole map beats a lookup per record
            records: dict[str, Any] | None = history.get_value() if len(fresh) > 32 else None
            # a key read for the first time (a reopen, a snapshot) reads each record once:
            # the cache, made for replicas in one process importing the same updates,
            # would only churn
            bulk = first_read or len(fresh) > 1024
            for op in list(fresh):
                if not _is_op(op):
                    fresh.discard(op)
                    self.unreadable(state, op, "write record", "not an op id")
                    continue
                if records is not None:
                    packed = records[op]
                else:  # a container where a record belongs has no `value`: unreadable
                    packed = getattr(history.get(op), "value", None)
                peer, _, counter = op.partition(":")
                try:
                    if type(packed) is not str:
                        raise CorruptUpdateError(f"write record of type {type(packed).__name__}")
                    if history.get_last_editor(op) != int(peer):
                        # a writer stores its records under its own op ids only
                        raise CorruptUpdateError("write record stored by another peer")
                    if bulk:
                        stamp = _read_record(_unpack(packed), op, born, killed)
                    else:
                        inserts, kills, stamp = _record_entries(op, packed)
                        born.update(inserts)
                        killed.update(kills)
                except CorruptUpdateError as exc:
                    fresh.discard(op)
                    self.unreadable(state, op, "write record", exc)
                    continue
                candidate = (stamp[0], int(peer), int(counter))
                if rank is None or candidate > rank:
                    rank, meta = candidate, (stamp[1], stamp[2], stamp[3])
        current: dict[str, _Entry] = {}
        for bucket in (state.regs, state.tags, state.deltas):
            for entries in bucket.values():
                current.update(entries)
        appeared: list[_Entry] = []
        for eid, payload in born.items():
            if eid in current or eid in killed:
                continue  # (most of a long history: parsed only if still live)
            try:
                appeared.append(_parse_entry(eid, payload))
            except CorruptUpdateError as exc:
                self.unreadable(state, eid, "entry", exc)
        epoch = self._core._epoch if born_at is None else born_at
        state.history_ops = ops
        state.meta, state.meta_rank = meta, rank
        for eid in killed:
            entry = current.get(eid)
            if entry is not None:
                self.bury(state, entry, epoch, None)
        for entry in appeared:
            entry.born = epoch
            _bucket(state, entry).setdefault(entry.path, {})[entry.eid] = entry
        for path, entries in state.regs.items():
            if any(e.kind == "t" for e in entries.values()):
                self._core._texts.touch(state, path, op=None)
        state.value_valid = False
        state.changed_epoch = epoch
        return state, fresh

    def ident(self, kid: str) -> tuple[Namespace, str] | None:
        """The (namespace, key) the directory names for `kid`; None when it names none, or
        names it in a shape no agentsync writer produces (skipped, counted and logged once
        alike on every replica: a forged entry never breaks a read)."""
        found = self._core._dir.get(kid)
        if found is None:
            return None
        ident = getattr(found, "value", found)
        if (
            type(ident) is list
            and len(ident) == 2
            and type(ident[0]) is list
            and all(type(label) is str for label in ident[0])
            and type(ident[1]) is str
            and _hash(*ident[0], "", ident[1]) == kid
        ):
            return tuple(ident[0]), ident[1]
        if kid not in self._bad_kids:
            self._bad_kids.add(kid)
            self.report_unreadable(
                f"directory entry {kid!r:.80}",
                f"not [namespace, key] of this key id: {ident!r:.200}",
            )
        return None

    def unreadable(self, state: _KeyState, ident: str, what: str, error: object) -> None:
        """Data no agentsync writer produces (a forged or damaged update that Loro took):
        left out of the value, alike on every replica, and reported once here."""
        if ident in state.skipped:
            return
        state.skipped.add(ident)
        self.report_unreadable(f"{what} {ident!r:.80}", error, state.namespace, state.key)

    def report_unreadable(
        self, what: str, error: object, namespace: Namespace | None = None, key: str | None = None
    ) -> None:
        self._core._counts["unreadable_records"] += 1
        log.error(
            "unreadable data skipped", namespace=namespace, key=key, what=what, error=str(error)
        )

    def bury(self, state: _KeyState, entry: _Entry, epoch: int, by: str | None) -> None:
        bucket = _bucket(state, entry)
        entries = bucket.get(entry.path)
        if entries is not None:
            entries.pop(entry.eid, None)
            if not entries:
                del bucket[entry.path]
        entry.died = epoch
        if by is not None:
            entry.killers = (*entry.killers, by)
        if not self._core._turns:
            # the graveyard serves writers whose view is older than the entry's death;
            # with no live turn there are none, and any turn that begins later has seen
            # the death: what the key kept for turns that have ended goes too
            if state.graveyard:
                state.graveyard.clear()
            return
        grave = state.graveyard.setdefault(entry.path, [])
        grave.append(entry)
        size = len(grave)
        # Trimmed in batches: a dead entry kept longer only costs memory (views filter
        # it); a trim per death cost a graph node's writes microseconds each while its
        # superstep's base view stays open. Never below what a live view may still see:
        # a view missing a dead element or increment would add it again (no size cap:
        # one delete of a key can bury thousands of entries of one path).
        if size > 8 and (size % 8 == 1 if size <= _GRAVE_BATCHES_UP_TO else size & (size - 1) == 0):
            # the oldest view of this key a live turn may still write from
            ident = (state.namespace, state.key)
            live = [t for ref in list(self._core._turns) if (t := ref()) is not None]
            horizon = min((_view_epoch(t, ident) for t in live), default=epoch)
            # a grave is in order of death (epochs only grow): what every live view has
            # seen die is a prefix
            del grave[: bisect.bisect_right(grave, horizon, key=_died_of)]
