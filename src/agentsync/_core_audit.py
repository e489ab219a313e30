"""Which imported changes no write record accounts for: `ChangeAudit`, which a `Core` owns.

Contract: every change an agentsync writer makes is either a write's record commit (its
message is the op's counter) or text ops a record names (a text presence's `[peer,
start, end]`: an edit made at an older version, as a peer of its own, or text ops that a
checkout committed ahead of their write's record). Any other imported change that edits
a text (a peer editing a text container directly, with no record) is reported as
unreadable, once, on every replica that imports it (records and directory entries no
writer made are skipped and reported where they are read). What it changed still
reads: Loro's state cannot leave out one change, so the report is what says the value
holds text no writer recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._core_layout import loro


class ChangeAudit:
    """The op ranges imports brought that are not audited yet, and the text op spans
    the records they brought named, per peer."""

    def __init__(self) -> None:
        self._pending: dict[int, list[tuple[int, int]]] = {}
        self._spans: dict[int, list[tuple[int, int]]] = {}

    def imported(self, grown: dict[int, tuple[int, int]]) -> None:
        """Op ranges that entered the log (audited at the next `audit`)."""
        for peer, span in grown.items():
            self._pending.setdefault(peer, []).append(span)

    def text_ops(self, peer: int, start: int, end: int) -> None:
        """A record names text ops `start..end` of `peer` as its write's."""
        self._spans.setdefault(peer, []).append((start, end))

    def audit(self, doc: Any, report: Callable[[str, str], None]) -> None:
        """Report each change of the pending ranges that is neither a record commit nor
        text ops a record named (records of the same imports were read first)."""
        pending, self._pending = self._pending, {}
        for peer, spans in pending.items():
            for start, end in spans:
                at = start
                while at < end:
                    change = doc.get_change(loro.ID(peer, at))
                    if change is None:
                        break
                    first = int(change.id.counter)
                    last = first + int(change.len)
                    message = change.message
                    if not (message and message.isascii() and message.isdigit()):
                        low, high = max(first, start), min(last, end)
                        if not self._covered(peer, low, high) and _edits_text(doc, peer, low, high):
                            report(
                                f"change {low}..{high} of peer {peer}",
                                "ops no write record accounts for",
                            )
                    at = max(at + 1, last)
        # a record arrives with the changes it names (they are its dependencies), so
        # spans are kept only until the imports that brought them are audited
        self._spans = {}

    def _covered(self, peer: int, low: int, high: int) -> bool:
        """Whether named text op spans of `peer` cover `low..high` together."""
        reached = low
        for start, end in sorted(self._spans.get(peer, ())):
            if start > reached:
                break
            reached = max(reached, end)
            if reached >= high:
                return True
        return reached >= high


def _edits_text(doc: Any, peer: int, low: int, high: int) -> bool:
    """Whether ops `low..high` of `peer` edit a text container (a record or directory
    entry no writer made is skipped and reported where it is read)."""
    exported = doc.export_json_in_id_span(loro.IdSpan(peer, loro.CounterSpan(low, high)))
    changes = json.loads(exported) if isinstance(exported, str) else exported
    for change in changes:
        for op in change.get("ops", ()):
            if str(op.get("container", "")).startswith("cid:root-t:"):
                return True
    return False
