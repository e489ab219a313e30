"""Text fields: the character diff a write applies to a Loro text (`_edit_text`), and
`TextFields`, which a `Core` owns: the versions of each text held for writers whose view is
older, an edit applied against exactly the version its writer saw, and whether concurrent
edits conflict (they deleted a character in common and left different texts).

Contract: an edit never deletes what its writer had not seen; what an edit deleted and the
text it left are read from its own ops in Loro's log, so every replica decides alike.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ._core_keys import _TextTrack

_CACHED_TEXT_EDITS: Final = 4_096


# characters of old text versions held per text field while live views may need them
_HELD_TEXT_CHARS: Final = 1 << 18


# a text edit: the field's current content, and the base of the diff (frontiers, text)
# when the writer's view is older (None: the current text)
_TextPlan = tuple[str, tuple[Any, str] | None]


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
    """Apply old -> new to a Loro text as a character diff; whether it may have deleted
    characters of `old` (a pure insertion cannot).

    A pure insertion or deletion is often ambiguous in position (`"ab.1"` -> `"ab.4 ab.1"`
    can insert `"ab.4 "` at 0 or `"4 ab."` at 3). Among the equally minimal positions we
    pick a word boundary, so that merged with a concurrent deletion of a neighbouring word
    the edit stays whole and readable. Anything else goes to Loro's own diff.
    """
    if old == new:
        return False
    n_old, n_new = len(old), len(new)
    limit = min(n_old, n_new)
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    if n_new > n_old and prefix + suffix >= n_old:
        size = n_new - n_old
        at = _word_aligned(old, n_old - suffix, prefix, size=0)
        text.insert(at, new[at : at + size])
        return False
    if n_new < n_old and prefix + suffix >= n_new:
        size = n_old - n_new
        at = _word_aligned(old, n_new - suffix, prefix, size=size)
        text.delete(at, size)
    else:
        text.update(new, use_refined_diff=False)
    return True


def _deleted_spans(exported: Any) -> list[tuple[int, int, int]]:
    """The characters the text ops of a Loro JSON export deleted: (peer, first counter,
    end counter) runs of their ids (a delete op names its first id and a signed length)."""
    changes = json.loads(exported) if isinstance(exported, str) else exported
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


def _spans_overlap(a: list[tuple[int, int, int]], b: list[tuple[int, int, int]]) -> bool:
    """Whether two runs of character ids (`_deleted_spans`) name a character in common."""
    for peer, start, end in a:
        for other_peer, other_start, other_end in b:
            if peer == other_peer and start < other_end and other_start < end:
                return True
    return False


def _word_aligned(s: str, lo: int, hi: int, *, size: int) -> int:
    """The latest position in [lo, hi] where an edit of `size` chars starts (and, for a
    deletion, ends) on a word boundary; `hi` when there is none (e.g. unspaced text)."""
    lo = max(lo, 0)
    for at in range(hi, lo - 1, -1):
        if _at_word_boundary(s, at) and _at_word_boundary(s, at + size):
            return at
    for at in range(hi, lo - 1, -1):
        if _at_word_boundary(s, at):
            return at
    return hi


def _at_word_boundary(s: str, i: int) -> bool:
    return i <= 0 or i >= len(s) or s[i - 1].isspace() != s[i].isspace()
