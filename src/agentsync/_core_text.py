"""Text fields: the edit a write applies to a Loro text (`_edit_text`), and
`TextFields`, which a `Core` owns: the versions of each text held for writers whose view is
older, an edit applied against exactly the version its writer saw, and whether concurrent
edits conflict (they deleted a character in common and left different texts).

Contract: an edit never deletes what its writer had not seen; what an edit deleted and the
text it left are read from its own ops in Loro's log, so every replica decides alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._core_keys import _ABSENT, Visible, _Entry, _KeyState, _TextTrack
from ._core_layout import _hash, _is_loro_failure, _op_sort_key, _text_ops, loro
from ._core_text_diff import _at_word_boundary, common_ends, word_edits
from ._core_views import _NEVER, _alive, _view_epoch
from ._types import Contender
from ._values import FieldPath

_CACHED_TEXT_EDITS: Final = 4_096
# characters of old text versions held per text field while live views may need them
_HELD_TEXT_CHARS: Final = 1 << 18
# a text edit: the field's current content, and the base of the diff (frontiers, text)
# when the writer's view is older (None: the current text)
_TextPlan = tuple[str, tuple[Any, str] | None]
# changes a recent copy holds past its root before it is rooted afresh, at least (its
# checkouts cost time in the history since its root; a new root costs time in the size
# of the document's state: one more change per KiB of it)
_RECENT_COPY_CHANGES: Final = 32
# old-view edits made on the whole document after the recent copy could not take in an
# update (one that depends on history before its root), before a new copy is tried
_RECENT_COPY_BACKOFF: Final = 16


def _drop_held_texts(track: _TextTrack) -> None:
    """Stop holding the oldest versions' texts (they are read back from Loro when
    needed) until half the budget is held; the newest two always stay held."""
    snapshots = track.snapshots
    held = track.held
    for i in range(len(snapshots) - 2):
        if held <= _HELD_TEXT_CHARS // 2:
            break
        e, o, f, text, m = snapshots[i]
        if text is not None:
            snapshots[i] = (e, o, f, None, m)
            held -= len(text)
    track.held = held


def _next_counter(doc: Any, peer: int) -> int:
    last = doc.oplog_vv.get_last(peer)  # (pending ops included)
    return 0 if last is None else int(last) + 1


def _edit_text(text: Any, old: str, new: str) -> bool:
    """Apply old -> new to a Loro text; whether it deleted characters of `old` (a pure
    insertion does not).

    A pure insertion or deletion is often ambiguous in position (`"ab.1"` -> `"ab.4 ab.1"`
    can insert `"ab.4 "` at 0 or `"4 ab."` at 3). Among the equally minimal positions we
    pick a word boundary, so that merged with a concurrent deletion of a neighbouring word
    the edit stays whole and readable. Anything else is a replacement per run of changed
    words (`word_edits`).
    """
    if old == new:
        return False
    n_old, n_new = len(old), len(new)
    prefix, suffix = common_ends(old, new, overlapping=True)
    if n_new > n_old and prefix + suffix >= n_old:
        size = n_new - n_old
        at = _word_aligned(old, n_old - suffix, prefix, size=0)
        text.insert(at, new[at : at + size])
        return False
    if n_new < n_old and prefix + suffix >= n_new:
        size = n_old - n_new
        at = _word_aligned(old, n_new - suffix, prefix, size=size)
        text.delete(at, size)
        return True
    deleting = False
    # from the last edit back, so each one's offsets in the old text still hold; a
    # replacement is inserted after the characters it replaces, then they are deleted: a
    # concurrent insertion before them (a prefix) lands before the whole replacement
    for start, end, inserted in reversed(word_edits(old, new)):
        if inserted:
            text.insert(end, inserted)
        if end > start:
            text.delete(start, end - start)
            deleting = True
    return deleting


def _deleted_spans(changes: list[Any]) -> list[tuple[int, int, int]]:
    """The characters the text ops of a Loro JSON export (parsed) deleted: (peer, first
    counter, end counter) runs of their ids (a delete op names its first id and a signed
    length)."""
    spans: list[tuple[int, int, int]] = []
    for change in changes:
        for op in change.get("ops", ()):
            content = op.get("content")
            if not isinstance(content, dict) or content.get("type") != "delete":
                continue
            counter, _, peer = str(content.get("start_id", "")).partition("@")
            size = content.get("len")
            if counter.isdigit() and peer.isdigit() and type(size) is int:
                start = int(counter)
                spans.append((int(peer), start, start + abs(size)))
    return spans


def _common_spans(
    a: list[tuple[int, int, int]], b: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """The character ids two runs of them (`_deleted_spans`) have in common."""
    common = []
    for peer, start, end in a:
        for other_peer, other_start, other_end in b:
            if peer == other_peer and start < other_end and other_start < end:
                common.append((peer, max(start, other_start), min(end, other_end)))
    return common


def _parsed(exported: Any) -> list[Any]:
    """A Loro JSON export as its list of changes."""
    changes: list[Any] = json.loads(exported) if isinstance(exported, str) else exported
    return changes


def _inserted_text(changes: list[Any]) -> str:
    """The characters the text insertions of a Loro JSON export (parsed) inserted."""
    parts = []
    for change in changes:
        for op in change.get("ops", ()):
            content = op.get("content")
            if isinstance(content, dict) and content.get("type") == "insert":
                text = content.get("text")
                if isinstance(text, str):
                    parts.append(text)
    return "".join(parts)


def _word_aligned(s: str, lo: int, hi: int, *, size: int) -> int:
    """The latest position in [lo, hi] where an edit of `size` chars starts (and, for a
    deletion, ends) on a word boundary; `hi` when there is none (e.g. unspaced text).

    A deleted word takes the space after it, not the one before: a concurrent insertion
    just after that earlier space (a word added in front of the deleted one) would
    otherwise lose the space that separates it from the word before, and the two would
    read as one word nobody wrote."""
    lo = max(lo, 0)
    for at in range(hi, lo - 1, -1):
        if _at_word_boundary(s, at) and _at_word_boundary(s, at + size):
            return at
    for at in range(hi, lo - 1, -1):
        if _at_word_boundary(s, at):
            return at
    return hi


class _RecentCopy:
    """A copy of a document with no history before a recent version (Loro's state-only
    snapshot there, plus what followed), where edits and reads at older versions are made.

    Loro's checkout of a text whose history since its last linear point is long (parallel
    writers rewriting it every superstep) costs time in all of that history: on the
    document itself an old-view edit cost 6 ms in a 480-write LangGraph run, growing with
    every superstep. On the copy it costs time in the history since the copy's root,
    which moves up to the version checked out once that history outgrows what a new root
    costs (the size of the document's state).
    """

    def __init__(self, doc: Any) -> None:
        self._doc = doc
        self._copy: Any = None
        self._root: Any = None
        self._changes_at_root = 0
        self._root_after = 0
        self._backoff = 0

    def drop(self) -> None:
        self._copy = self._root = None

    def checkout(self, frontiers: Any, *, may_root: bool) -> Any | None:
        """The copy, checked out at `frontiers` with detached editing enabled; None when
        it cannot be (`frontiers` is empty, or precedes the root and `may_root` is false,
        or the copy cannot take in the document's history: an update of a peer that had
        not seen the root). Reads do not root the copy: a contender's text read at an old
        version would move it back and forth between edits."""
        if not frontiers:
            return None
        copy = self._copy
        if copy is not None and not self._follows_root(frontiers):
            copy = None
        try:
            if copy is None:
                if not may_root:
                    return None
                if self._backoff:
                    self._backoff -= 1
                    return None
                copy = self._root_at(self._doc, frontiers)
            elif copy.frontiers_to_vv(frontiers) is None:
                self._take_in(copy)
            copy.checkout(frontiers)
            if may_root and copy.len_changes - self._changes_at_root > self._root_after:
                copy = self._root_at(copy, frontiers)
                copy.checkout(frontiers)
        except BaseException as exc:
            if not _is_loro_failure(exc):
                raise
            self.drop()
            self._backoff = _RECENT_COPY_BACKOFF
            return None
        return copy

    def _follows_root(self, frontiers: Any) -> bool:
        order = self._doc.cmp_frontiers(self._root, frontiers)
        return bool(order in (loro.Ordering.Less, loro.Ordering.Equal))

    def _root_at(self, source: Any, frontiers: Any) -> Any:
        source.commit()
        state = source.export(loro.ExportMode.StateOnly(frontiers))
        copy = loro.LoroDoc()
        copy.import_(state)
        copy.set_detached_editing(True)
        self._changes_at_root = copy.len_changes
        self._root_after = max(_RECENT_COPY_CHANGES, len(state) // 1024)
        # everything else the document holds too: an edit peer is reused only where all
        # of its ops are (`TextFields.edit_peer`)
        self._take_in(copy)
        self._copy, self._root = copy, frontiers
        return copy

    def _take_in(self, copy: Any) -> None:
        self._doc.commit()
        copy.import_(self._doc.export(loro.ExportMode.Updates(copy.oplog_vv)))


if TYPE_CHECKING:  # the owner; _core imports this module
    from ._core import Core

T = TypeVar("T")


class TextFields:
    """The text fields of one `Core`: the versions of each text kept for writers whose view
    is older, edits applied against exactly the version their writer saw, and what
    concurrent edits deleted and left (read from their ops in Loro's log once).

    Reads its core's document, epoch and live turns; owns the cache of text edits read
    from the log and the peers that old-view edits are made as.
    """

    def __init__(self, core: Core) -> None:
        self._core = core
        # peers of edits made at an older version (`edit_peer`), reused when they can be
        self._edit_peers: list[int] = []
        self._peers_made = 0  # how far along `_fresh_peer`'s sequence this replica is
        # what each concurrent text edit deleted and the text it left, read from its ops
        # in the log once (`from_log`)
        self._edits: dict[tuple[tuple[int, int, int], str], Any] = {}
        # where edits and reads at older versions are made while live views may need them
        self._recent = _RecentCopy(core._doc)

    def touch(
        self,
        state: _KeyState,
        path: FieldPath,
        *,
        op: str | None,
        frontiers: Any = None,
        text: str | None = None,
    ) -> str:
        """Remember the text after a change: the base for writers whose view is older.
        Returns the text as it reads now.

        For a local write `frontiers`/`text` describe what its writer now believes (its
        own edit on top of its base), which can differ from the merged text.
        """
        track = self.track(state, path)
        # an edit of the current text itself (no older base) reads as written
        merged = text if frontiers is None and text is not None else self.now(track)
        track.known, track.known_at = merged, self._core._loro_changes
        snapshots = track.snapshots
        if text is None and op is None and snapshots and snapshots[-1][3] == merged:
            return merged
        # what every writer that looks from now on sees: the merged text
        believed_here = frontiers is None and text == merged  # its writer saw it all
        owner = op or "" if believed_here else ""
        epoch = self._core._epoch
        snapshots.append((epoch, owner, self._core._doc.oplog_frontiers, merged, epoch))
        track.held += len(merged)
        if frontiers is not None and text is not None:
            # what this op's own writer believes (its edit on its older base): for that
            # writer only, so it is never visible by epoch, and only until that writer
            # has seen the merged text recorded with it
            snapshots.append((_NEVER, op or "", frontiers, text, epoch))
            track.held += len(text)
        if track.held > _HELD_TEXT_CHARS:
            _drop_held_texts(track)
        if not self._core._turns:
            if len(snapshots) > 1:
                self.release_views(state, track)
        elif len(snapshots) >= track.release_at:
            # a live turn whose view stays old (a superstep's base) keeps everything after
            # it: tried again only once the list has doubled, so a long run of writes
            # under it costs amortized O(1) each, not a scan per write
            self.release_views(state, track)
            track.release_at = max(16, 2 * len(track.snapshots))
        return merged

    def release_views(self, state: _KeyState, track: _TextTrack) -> None:
        """Drop the versions of a text that no live writer's view is as old as: with no
        live turn, all but the newest; else those older than the newest one at or before
        the oldest view of this key a live turn may still write from."""
        snapshots = track.snapshots
        live = [t for ref in list(self._core._turns) if (t := ref()) is not None]
        if not live:
            newest = [s for s in snapshots if s[0] != _NEVER][-1:]
            if len(snapshots) > len(newest):
                track.snapshots = newest
                track.held = sum(len(s[3]) for s in newest if s[3] is not None)
            return
        ident = (state.namespace, state.key)
        horizon = min(_view_epoch(t, ident) for t in live)
        base = -1  # the newest version at or before the horizon: the oldest view's base
        for i, snapshot in enumerate(snapshots):
            if snapshot[0] <= horizon:
                base = i
        track.snapshots = [
            s
            for i, s in enumerate(snapshots)
            if i == base or (s[0] > horizon if s[0] != _NEVER else s[4] > horizon)
        ]
        track.held = sum(len(s[3]) for s in track.snapshots if s[3] is not None)

    def edit_peer(self, doc: Any) -> int:
        """The peer an edit at the checked-out older version is made as: one of the
        earlier edit peers whose ops all precede that version (its next op follows them
        causally, as a peer's ops must), else a fresh one derived from this replica's
        peer (`_fresh_peer`), so the same history makes the same ops on every run.

        Reused because Loro's checkout of a text costs time in its number of peers as
        well as its ops: a fresh peer per old-view edit made each next checkout slower
        (quadratic over a LangGraph run whose parallel nodes rewrite one text)."""
        base, log, held = doc.state_vv, doc.oplog_vv, self._core._doc.oplog_vv
        for peer in self._edit_peers:
            last = log.get_last(peer)
            # (and `doc`, the document or its recent copy, holds all of that peer's ops:
            # a counter reused would make an edit Loro takes for one it has)
            if base.get_last(peer) == last and last == held.get_last(peer):
                doc.peer_id = peer
                return peer
        peer = self._fresh_peer(held, log)
        doc.peer_id = peer
        self._edit_peers.append(peer)
        return peer

    def _fresh_peer(self, *logs: Any) -> int:
        """The next peer of this replica's deterministic sequence that no log holds an op
        of (Loro's checkout picks a random one: runs of one history would differ)."""
        own = self._core._peer
        while True:
            self._peers_made += 1
            digest = hashlib.blake2b(f"{own}:{self._peers_made}".encode(), digest_size=8)
            peer = int.from_bytes(digest.digest(), "big") % (2**64 - 1)  # (Loro's bound)
            if peer != own and all(log.get_last(peer) is None for log in logs):
                return peer

    def text_at(self, track: _TextTrack, frontiers: Any) -> str:
        """The text as it read at an older version of the document."""
        return self.read_at(frontiers, lambda doc: str(doc.get_text(track.name).to_string()))

    def read_at(self, frontiers: Any, read: Callable[[Any], T]) -> T:
        """`read` applied to the document as it was at `frontiers`.

        Checked out in place and back: the cost is that of the ops in between. A fork
        (`fork_at`) copies the whole document, which made every old-view read cost as much
        as the history of all keys (19 ms each in a 480-write LangGraph run). While
        imports wait to be settled the state is not the log's, so then a fork it is.
        """
        doc = self._core._doc
        if self._core._unsettled or doc.is_detached():
            return read(doc.fork_at(frontiers))
        copy = self._recent.checkout(frontiers, may_root=False)
        if copy is not None:
            return read(copy)
        doc.commit()  # (a checkout commits pending ops anyway; say so here)
        doc.checkout(frontiers)
        try:
            return read(doc)
        finally:
            doc.checkout_to_latest()

    def track(self, state: _KeyState, path: FieldPath) -> _TextTrack:
        track = state.texts.get(path)
        if track is None:
            name = f"t:{state.kid}:{_hash(self._core._pj(path))[:12]}"
            track = _TextTrack(name, self._core._doc.get_text(name))
            state.texts[path] = track
        return track

    def now(self, track: _TextTrack) -> str:
        """The text as it reads in Loro now."""
        known = track.known
        if known is not None and track.known_at == self._core._loro_changes:
            return known
        current = str(track.handle.to_string())
        track.known, track.known_at = current, self._core._loro_changes
        return current

    def base(
        self, track: _TextTrack, visible: Visible, seen_any: bool, current: str
    ) -> tuple[Any, str] | None:
        """(frontiers, text) the writer's edit is a diff against; None: the current text."""
        if not seen_any:
            # the field is new to this writer, but text may already be there that it never
            # saw (a concurrent creation whose presence has not arrived yet): keep it
            return (loro.Frontiers(), "") if current else None
        if visible is _alive:
            return None
        snapshots = track.snapshots
        if not snapshots:
            return None
        probe = _Entry("", (), "", "", "t", None)
        for i in range(len(snapshots) - 1, -1, -1):
            epoch, op, frontiers, text, made = snapshots[i]
            if epoch == _NEVER:
                probe.born, probe.op = made, ""
                if visible(probe):
                    continue  # its writer has read the merged text since: that is its base
            probe.born, probe.op = epoch, op
            if visible(probe):
                if i == len(snapshots) - 1 and text == current:
                    return None
                return frontiers, self.text_at(track, frontiers) if text is None else text
        # no version as old as this view is kept (released versions are only those no
        # live view is as old as, so this view predates the text here): the oldest
        for epoch, _, frontiers, text, _ in snapshots:
            if epoch != _NEVER:
                return frontiers, self.text_at(track, frontiers) if text is None else text
        return None

    def plan(
        self, state: _KeyState, path: FieldPath, new: str, visible: Visible, seen_any: bool
    ) -> _TextPlan | None:
        """What editing a text field to `new` as a diff against what its writer saw
        involves: its current content and the base of the diff (None: the current text);
        None if the edit changes nothing."""
        track = self.track(state, path)
        current = self.now(track)
        base = self.base(track, visible, seen_any, current)
        if (current if base is None else base[1]) == new:
            return None
        return current, base

    def plan_at(
        self, state: _KeyState, path: FieldPath, new: str, frontiers: Any
    ) -> _TextPlan | None:
        """A text edit to `new` as a diff against the text at `frontiers` (a resolution:
        the version its contenders' edits made, so an edit none of them conflicted with
        stays); None if the edit changes nothing there."""
        track = self.track(state, path)
        base = self.text_at(track, frontiers)
        return None if base == new else (self.now(track), (frontiers, base))

    def contenders_version(
        self, state: _KeyState, path: FieldPath, contenders: set[str]
    ) -> Any | None:
        """The version made by the text edits of these contenders' ops (each with what it
        saw): what resolving their conflict edits. None unless each live presence of the
        field by a contender is a text edit whose ops are in this log."""
        held = self._core._doc.oplog_vv
        ids = []
        for entry in state.regs.get(path, {}).values():
            if entry.died is not None or entry.op not in contenders:
                continue
            ops = _text_ops(entry.value) if entry.kind == "t" else None
            if ops is None:
                return None
            peer, start, end = ops
            last = held.get_last(peer)
            if end <= start or last is None or last < end - 1:
                return None  # (a forged presence naming ops this log lacks)
            ids.append(loro.ID(peer, end - 1))
        return loro.Frontiers.from_ids(ids) if ids else None

    def unrecorded(self, state: _KeyState, path: FieldPath, text: str) -> bool:
        """Whether the field reads `text` now and no version of it is held yet (a text
        written empty: its version is recorded though no edit was made)."""
        track = self.track(state, path)
        return not track.snapshots and self.now(track) == text

    def write(
        self, state: _KeyState, path: FieldPath, new: str, plan: _TextPlan
    ) -> tuple[Any, str, list[int] | None]:
        """Apply a planned text edit. Returns (frontiers, text) of the writer's new view
        (frontiers None: the whole document after commit) and, for an edit that may have
        deleted characters of its base, its ops as `[peer, start, end]` counters: what
        `contenders` reads its deletions and its writer's text from (a pure insertion
        conflicts with nothing, and naming its ops made every concurrent append cost a
        read of its ops from the log)."""
        track = self.track(state, path)
        current, base = plan
        track.known = None  # until the write records what the text reads after it
        if base is None:
            doc, peer = self._core._doc, self._core._peer
            start = _next_counter(doc, peer)
            deleting = _edit_text(track.handle, current, new)
            ops = [peer, start, _next_counter(doc, peer)] if deleting else None
            self.left_by(ops, new)
            return None, new, ops
        frontiers, base_text = base
        # the writer's base is an older version: edit there, as a peer of its own, and
        # bring the edit to the latest version, so edits it had not seen are kept (Loro
        # merges the two like concurrent peers); there on the recent copy when it can be
        self._core._loro_changes += 1
        doc = self._core._doc
        settled = not self._core._unsettled and not doc.is_detached()
        copy = self._recent.checkout(frontiers, may_root=True) if settled else None
        if copy is not None:
            edit = self.edit_checked_out(copy, track, base_text, new)
            doc.import_(copy.export(loro.ExportMode.Updates(doc.oplog_vv)))
        else:  # on the document itself: checked out there and back to the latest version
            doc.commit()
            doc.set_detached_editing(True)
            try:
                doc.checkout(frontiers)  # (a new peer id per checkout, Loro's rule)
                edit = self.edit_checked_out(doc, track, base_text, new)
            finally:
                doc.checkout_to_latest()
                doc.set_detached_editing(False)
                doc.peer_id = self._core._peer  # this replica's writes go on as its own peer
        edited_at, edit_peer, start, end, deleting = edit
        ops = [edit_peer, start, end] if deleting else None
        self.left_by(ops, new)
        return edited_at, new, ops

    def edit_checked_out(
        self, doc: Any, track: _TextTrack, base_text: str, new: str
    ) -> tuple[Any, int, int, int, bool]:
        """Edit the text of `doc` (checked out at the writer's base, detached editing on)
        from `base_text` to `new`, as a reused edit peer: the version after the edit, the
        peer, its first and end counters, and whether it may have deleted characters."""
        edit_peer = self.edit_peer(doc)
        start = _next_counter(doc, edit_peer)
        deleting = _edit_text(doc.get_text(track.name), base_text, new)
        doc.commit()
        return doc.state_frontiers, edit_peer, start, _next_counter(doc, edit_peer), deleting

    def contenders(
        self, state: _KeyState, path: FieldPath, entries: list[_Entry]
    ) -> tuple[Contender, ...] | None:
        """Concurrent edits of one text (live presences none of whose writers saw the
        others): a conflict when two of them deleted a character in common (beyond
        whitespace), at least one also inserted text (a replacement, not a deletion
        only), and they left different texts or merge as neither left them; each such
        writer's whole text is a contender. Edits of
        disjoint parts merge by character (None). What each edit deleted and the text it
        left are read from its own ops in Loro's log, once."""
        edits = []
        for entry in entries:
            ops = _text_ops(entry.value)
            if ops is not None:
                edits.append((entry, ops, self.deletions(ops)))
        involved: dict[str, _Entry] = {}
        texts: dict[str, str] = {}
        for i, (left, left_ops, left_deleted) in enumerate(edits):
            for right, right_ops, right_deleted in edits[i + 1 :]:
                if not self._overlap_in_words(_common_spans(left_deleted, right_deleted)):
                    continue
                if not (self.inserts(left_ops) or self.inserts(right_ops)):
                    # two deletions only: removing the same words twice removes them once
                    # (as an element removed by two writers is), whatever else each saw
                    continue
                for entry, ops in ((left, left_ops), (right, right_ops)):
                    if entry.eid not in texts:
                        texts[entry.eid] = self.left(state, path, ops)
                if texts[left.eid] != texts[right.eid] or self._doubled(
                    state, path, left_ops, right_ops, texts[left.eid]
                ):
                    involved[left.eid], involved[right.eid] = left, right
        if not involved:
            return None
        ordered = sorted(involved.values(), key=lambda e: _op_sort_key(e.op))
        return tuple(Contender(e.agent, e.op, texts[e.eid]) for e in ordered)

    def _overlap_in_words(self, common: list[tuple[int, int, int]]) -> bool:
        """Whether characters two edits both deleted include more than whitespace (two
        neighbouring words deleted each with a space between them is no conflict)."""
        return any(not self._only_whitespace(span) for span in common)

    def _only_whitespace(self, span: tuple[int, int, int]) -> bool:
        """Whether the characters of these ids are all whitespace (read once)."""
        size = span[2] - span[1]

        def read() -> bool:
            text = _inserted_text(_parsed(self.export_ops(span)))
            return len(text) == size and text.isspace()

        return self.from_log(span, "whitespace", read, False)

    def _doubled(
        self,
        state: _KeyState,
        path: FieldPath,
        left: tuple[int, int, int],
        right: tuple[int, int, int],
        text: str,
    ) -> bool:
        """Whether two overlapping edits that each left `text` read otherwise merged (each
        inserted the same replacement: "abc" -> "abX" twice merges as "abXX", a text
        neither wrote); the same deletion by both merges as written."""
        name = self.track(state, path).name
        at = loro.Frontiers.from_ids(
            [loro.ID(left[0], left[2] - 1), loro.ID(right[0], right[2] - 1)]
        )

        def read() -> bool:
            return self.read_at(at, lambda doc: str(doc.get_text(name).to_string())) != text

        return self.from_log(left, f"doubled:{right}", read, True)

    def inserts(self, ops: tuple[int, int, int]) -> bool:
        """Whether a text edit inserted anything (a replacement, not only a deletion)."""
        return self._edit(ops)[1]

    def deletions(self, ops: tuple[int, int, int]) -> list[tuple[int, int, int]]:
        """The characters a text edit deleted, from its ops (`_deleted_spans`)."""
        return self._edit(ops)[0]

    def _edit(self, ops: tuple[int, int, int]) -> tuple[list[tuple[int, int, int]], bool]:
        """What a text edit deleted and whether it inserted, from one read of its ops."""

        def read() -> tuple[list[tuple[int, int, int]], bool]:
            changes = _parsed(self.export_ops(ops))
            return _deleted_spans(changes), bool(_inserted_text(changes))

        absent: tuple[list[tuple[int, int, int]], bool] = ([], True)  # (ops not in this log)
        return self.from_log(ops, "edit", read, absent)

    def left(self, state: _KeyState, path: FieldPath, ops: tuple[int, int, int]) -> str:
        """The text as its writer left it: at its last op (its base and its own edit)."""
        name = self.track(state, path).name
        peer, _, end = ops

        def read() -> str:
            at = loro.Frontiers.from_id(loro.ID(peer, end - 1))
            return self.read_at(at, lambda doc: str(doc.get_text(name).to_string()))

        return self.from_log(ops, "text", read, "")

    def written(self, state: _KeyState, path: FieldPath, entry: _Entry) -> str:
        """The whole text a writer's presence stands for (a contender in a conflict of
        kinds): the text its edit left, read from its ops; for an edit that deleted
        nothing (its ops not recorded), the text as of the write's own commit."""
        ops = _text_ops(entry.value)
        if ops is not None:
            return self.left(state, path, ops)
        peer, _, counter = entry.op.partition(":")
        if not (peer.isdigit() and counter.isdigit()):
            return self.now(self.track(state, path))
        at = (int(peer), int(counter), int(counter))
        name = self.track(state, path).name
        doc = self._core._doc

        def read() -> str:
            change = doc.get_change(loro.ID(at[0], at[1]))
            if change is None:  # (a forged presence naming no op of this log)
                return self.now(self.track(state, path))
            last = loro.ID(at[0], change.id.counter + change.len - 1)
            frontiers = loro.Frontiers.from_id(last)
            return self.read_at(frontiers, lambda d: str(d.get_text(name).to_string()))

        return self.from_log(at, "written", read, self.now(self.track(state, path)))

    def left_by(self, ops: list[int] | None, text: str) -> None:
        """What `_text_left` reads for an edit made here: the text its writer wrote
        (its edit applied to its base), known without reading back through Loro."""
        if ops is not None:
            peer, start, end = ops
            self.cache_edit((peer, start, end), "text", text)

    def export_ops(self, ops: tuple[int, int, int]) -> Any:
        peer, start, end = ops
        span = loro.IdSpan(peer, loro.CounterSpan(start, end))
        return self._core._doc.export_json_in_id_span(span)

    def from_log(self, ops: tuple[int, int, int], what: str, read: Callable[[], T], absent: T) -> T:
        """What `read` finds about a text edit's ops in Loro's log, read once (an edit's
        ops never change); `absent` when the ops are not in this log (a forged presence)."""
        cached = self._edits.get((ops, what), _ABSENT)
        if cached is not _ABSENT:
            return cached  # type: ignore[no-any-return]
        try:
            found = read()
        except BaseException as exc:
            if not _is_loro_failure(exc):
                raise
            found = absent
        self.cache_edit(ops, what, found)
        return found

    def drop_recent_copy(self) -> None:
        """No writer's view is older than the latest version: nothing needs the copy."""
        self._recent.drop()

    def cache_edit(self, ops: tuple[int, int, int], what: str, found: object) -> None:
        if len(self._edits) > _CACHED_TEXT_EDITS:
            self._edits.clear()
        self._edits[(ops, what)] = found
