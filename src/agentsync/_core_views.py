"""Turns and what each writer saw: a `Turn` remembers the epoch at which its writer began,
its own ops and its reads; `_view_epoch` says up to which local epoch it has seen a key,
and `_view` gives the fields of a key a writer saw (`_alive`: everything live here).

Contract: a view is decided locally by epochs (an entry's birth and death here against the
writer's view epoch); a field with live content but no live presence is in every view
that sees the content (add-wins), with a synthetic presence (`_synthetic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from mypy_extensions import mypyc_attr

from ._core_keys import _Entry
from ._types import Namespace

_NEVER: Final = 2**62  # an epoch no turn reaches


@mypyc_attr(native_class=False)  # turns are tracked in a WeakSet
@dataclass(slots=True, weakref_slot=True, eq=False)
class Turn:
    """What one writer has observed: everything committed when the turn began, its own
    writes since, and keys it read during the turn (reads count as seen)."""

    epoch: int
    own_ops: set[str] = field(default_factory=set)
    read_epochs: dict[tuple[Namespace, str], int] = field(default_factory=dict)


def _view_epoch(turn: Turn, ident: tuple[Namespace, str]) -> int:
    """The epoch up to which `turn` has seen the key: its start, or its last read of the
    key (or its own write that saw all of it), whichever is later."""
    return max(turn.epoch, turn.read_epochs.get(ident, -1))


def _alive(entry: _Entry) -> bool:
    return entry.died is None
