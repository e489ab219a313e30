"""Write planning: a write's value as a tree of typed fields (`_plan_tree`), and the Loro
operations of one write (`_Ops`), collected before the key's cached state is updated.
"""

from __future__ import annotations

import functools
import json
import math
from typing import TYPE_CHECKING, Any, Final

from ._core_keys import _ABSENT, Visible, _Entry, _KeyState, _stamp_of
from ._core_layout import _DELTA, _KIND_CODE, _SEP, _TAG, _stored_text_ops
from ._core_lists import _PLAIN, _matching, _plain_element, _position_suffix, _positions
from ._core_text import _TextPlan
from ._core_values import _counter_increment, _same
from ._core_views import _alive, _seen_in
from ._errors import SchemaError
from ._types import JSON, FieldKind
from ._values import (
    MAX_DEPTH,
    FieldPath,
    canonical,
    check_text,
    dotted,
    infer_kind,
    names_text,
    plain_copy,
    validate_value,
)

# types a field's value is planned as without a copy (a list is copied for its elements)
_PLAIN_TYPES: Final = frozenset({dict, str, int, float, bool, type(None)})

if TYPE_CHECKING:  # the write's core; _core imports this module
    from ._core import Core


class _Node:
    """One field of a write, typed. A plain class, not a dataclass: mypyc compiles its
    constructor (a dataclass's generated `__init__` runs interpreted), five per put."""

    __slots__ = ("children", "kind", "path", "value")

    def __init__(self, path: FieldPath, kind: FieldKind, value: Any) -> None:
        self.path = path
        self.kind = kind
        self.value = value
        self.children: dict[str, _Node] | None = None


def _plan_tree(path: FieldPath, value: Any, declared: dict[FieldPath, FieldKind]) -> _Node:
    """The write as a tree of typed fields; validates JSON and declared kinds in one pass."""
    if not path:
        if not isinstance(value, dict):
            raise TypeError(f"value must be a dict, got {type(value).__name__}")
        kind: FieldKind = "map"
    else:
        if len(path) > MAX_DEPTH:
            raise ValueError(f"value nested deeper than {MAX_DEPTH} levels at {dotted(path)!r}")
        if type(value) is list or type(value) not in _PLAIN_TYPES:
            # subclasses, here or inside a list, are stored as the JSON they stand for
            value = plain_copy(value)
        kind = infer_kind(path, value, declared)
    node = _Node(path, kind, value)
    if kind == "map":
        if not isinstance(value, dict):
            raise SchemaError(f"field {dotted(path)!r} is a map but got {type(value).__name__}")
        children = {}
        # a child's path is not too deep, nor a path of an element of a child list
        inline = len(path) < MAX_DEPTH
        inline_list = len(path) < MAX_DEPTH - 1
        for k, v in value.items():
            if not isinstance(k, str):
                where = dotted(path) or "<root>"
                raise TypeError(
                    f"field names must be str, got {type(k).__name__} {k!r} under {where!r}"
                )
            if not k.isascii():
                check_text(k, path, what="field name")
            child = (*path, k)
            if inline and (not declared or child not in declared):
                # the common leaves, planned here as `infer_kind` would (a call per field
                # was most of the cost): exact scalar types, and lists of them (nothing
                # in those can fail validation)
                t = type(v)
                if t is str:
                    if not v.isascii():
                        check_text(v, child)
                    children[k] = _Node(child, "text" if _names_text(k) else "register", v)
                    continue
                if t is int or t is bool or v is None or (t is float and math.isfinite(v)):
                    children[k] = _Node(child, "register", v)
                    continue
                if t is list and inline_list and all(_plain_element(x) for x in v):
                    children[k] = _Node(child, "list", v)
                    continue
            children[k] = _plan_tree(child, v, declared)
        node.children = children
    elif type(value) is int or type(value) is bool or value is None:
        pass
    else:
        validate_value(value, path)  # strings too: a lone surrogate is refused
    return node


@functools.lru_cache(maxsize=4096)
def _names_text(name: str) -> bool:
    """Whether a string field of this name is text (`infer_kind`); few names, many puts."""
    return names_text(name)


class _Ops:
    """The Loro operations of one write, collected before the cache is updated."""

    __slots__ = (
        "_asserted",
        "_child_index",
        "agent",
        "changed_fields",
        "cleared",
        "concurrent",
        "core",
        "current",
        "entry_log",
        "inserted",
        "kills",
        "op",
        "own",
        "removed",
        "state",
        "text_bases",
        "text_calls",
        "text_paths",
        "text_presence",
        "touched",
        "visible",
    )

    def __init__(self, core: Core, state: _KeyState, op: str, agent: str, visible: Visible) -> None:
        self.core = core
        self.state = state
        self.op = op
        self.own = _SEP + op  # what ends the id of each entry it inserts
        self.agent = agent
        self.visible = visible
        self.inserted: list[_Entry] = []
        self.removed: list[_Entry] = []
        # what the write's history record carries (`_read_record`): the entries it
        # inserts in their stored shape, and the short ids of the entries it ends per op
        self.entry_log: list[Any] = []
        self.kills: dict[str, list[str]] = {}
        self.changed_fields: set[FieldPath] = set()
        self.text_paths: dict[FieldPath, tuple[Any, str]] = {}
        # the presence entry each text edit inserts, and where `entry_log` holds its scalar
        self.text_presence: dict[FieldPath, tuple[_Entry, int]] = {}
        # text edits planned, in order: (path, new text, seen any, plan)
        self.text_calls: list[tuple[FieldPath, str, bool, _TextPlan]] = []
        # text ops of edits no presence names, [peer, start, end, ...] (texts cleared)
        self.cleared: list[int] = []
        # texts a resolution writes as a diff against the version its contenders made
        self.text_bases: dict[FieldPath, Any] = {}
        self.touched = False
        self.concurrent = False
        self._asserted: set[FieldPath] = set()
        self._child_index: dict[FieldPath, list[str]] | None = None
        # the value as it reads now, when the writer has seen all of it (else None)
        self.current: dict[str, JSON] | None = None
        if visible is _alive:
            self.current = state.value
            # its view is the live one, whose child index is kept with it
            self._child_index = state.live_children

    # presence entries ---------------------------------------------------------------
    def _insert_presence(
        self, path: FieldPath, code: str, scalar: Any, seen: list[_Entry]
    ) -> tuple[_Entry, int]:
        short = self.core._reg_short(path)
        self.entry_log += (short, code, scalar)
        entry = _Entry(short + self.own, path, self.op, self.agent, code, scalar)
        self.inserted.append(entry)
        self._drop(seen)
        if self.visible is not _alive:  # (a view that is the live one saw every entry)
            live_unseen = [e for e in self.state.regs.get(path, {}).values() if e not in seen]
            if live_unseen:
                self.concurrent = True
        return entry, len(self.entry_log) - 1

    def _drop(self, entries: list[_Entry]) -> None:
        for e in entries:
            if not e.eid:
                continue  # a synthetic presence: nothing stored to remove
            if e.died is None:
                # its id without the op that ends it: the record names the op once
                self.kills.setdefault(e.op, []).append(e.eid[: len(e.eid) - len(e.op) - 1])
                self.removed.append(e)
            else:
                e.killers = (*e.killers, self.op)

    def assert_map(self, path: FieldPath, seen: list[_Entry]) -> None:
        """Re-assert that `path` exists as a map, so a concurrent delete cannot hide what
        this write put beneath it (add-wins)."""
        if path in self._asserted:
            return
        self._asserted.add(path)
        self._insert_presence(path, "m", None, seen)
        self.touched = True

    def apply(
        self, node: _Node, view: dict[FieldPath, list[_Entry]], shown: Any, built: bool
    ) -> bool:
        """Write `node` relative to the writer's view. True if anything under it changed.

        `shown`: what the field reads as now if the writer has seen all of the key (else,
        or if it is absent, `_ABSENT`): an equal field is untouched. `built`: every map
        above is a plain one of the view (one kind, no contest), so `shown` is what this
        view materializes to here.
        """
        path = node.path
        kind = node.kind
        seen = view.get(path, [])
        code = _KIND_CODE[kind]
        if len(seen) == 1:
            same_kind = seen[0].kind == code
        else:
            same_kind = bool(seen) and all(e.kind == code for e in seen)
        # a plain map of the view equal to the written one writes nothing field by field
        # too, so it is compared through its fields rather than encoded whole per level
        plain_map = built and same_kind and kind == "map"
        if not plain_map and shown is not _ABSENT and _same(shown, node.value):
            return False
        if len(seen) > 1:
            values = self.core._values
            contenders = values.contenders(self.state, path, seen)
            if contenders is not None:
                shown_as = values.shown(path, contenders)
                if canonical(node.value) == canonical(shown_as):
                    return False  # written back as read: an open conflict is not a new value
                if (
                    node.kind == "text"
                    and same_kind
                    and values.conflict_value == "placeholder"
                    and isinstance(shown_as, str)
                    and node.value.count(shown_as) == 1
                ):
                    before, _, after = node.value.partition(shown_as)
                    return self._write_around_conflict(path, before, after)
        changed = False
        if not same_kind and seen:
            # a change of kind supersedes what the field held (elements, increments, text),
            # or a later write of the old kind would diff against it
            self._clear_content(path, seen)
        if kind == "map":
            assert node.children is not None
            inner = shown if isinstance(shown, dict) else None
            for name, child in node.children.items():
                sub = _ABSENT if inner is None else inner.get(name, _ABSENT)
                if self.apply(child, view, sub, plain_map):
                    changed = True
            for name in self._children(view).get(path, ()):
                if name not in node.children:
                    self._remove_subtree((*path, name), view)
                    changed = True
            if not same_kind:
                self.assert_map(path, seen)
                changed = True
            return changed
        if not same_kind:
            # the field is new to this writer, or changes kind: supersede what it saw
            for name in self._children(view).get(path, ()):
                self._remove_subtree((*path, name), view)
        if node.kind == "register":
            # one register entry in a built view is what `shown` was: compared above
            compared = built and len(seen) == 1 and shown is not _ABSENT
            if same_kind and not compared and all(_same(e.value, node.value) for e in seen):
                return False
            self._insert_presence(path, "r", node.value, seen)
            self.changed_fields.add(path)
            return True
        if node.kind in ("set", "list"):
            changed = self._write_elements(path, node.value, ordered=node.kind == "list")
        elif node.kind == "text":
            changed = self._plan_text(path, node.value, same_kind)
        elif node.kind == "counter":
            changed = self._write_counter(path, node.value)
        if not same_kind or (node.kind == "text" and (changed or path in self.text_bases)):
            # text has no per-op content entries, so an edit re-asserts the field: a
            # concurrent removal of the field must not hide it (add-wins)
            presence = self._insert_presence(path, code, None, seen)
            if node.kind == "text":
                self.text_presence[path] = presence
            self.touched = True
        if changed or not same_kind:
            self.changed_fields.add(path)
            return True
        return False

    def _write_around_conflict(self, path: FieldPath, before: str, after: str) -> bool:
        """A text read as its conflict's placeholder and written back with text added
        around it (an agent appending to what it read): the added text goes around the
        contested text, and the conflict stays open. Written as a diff against the
        placeholder, the write would replace every contender's text with the placeholder.
        """
        texts = self.core._texts
        current = texts.now(texts.track(self.state, path))
        new = before + current + after
        if new == current:
            return False
        # no presence: the contenders' stay live (the edit's ops go in the record, as a
        # text edit no presence names)
        self.text_calls.append((path, new, True, (current, None)))
        self.changed_fields.add(path)
        self.touched = True
        return True

    def _children(self, view: dict[FieldPath, list[_Entry]]) -> dict[FieldPath, list[str]]:
        if self._child_index is None:
            index: dict[FieldPath, list[str]] = {}
            for p in view:
                if p:
                    index.setdefault(p[:-1], []).append(p[-1])
            self._child_index = index
        return self._child_index

    def _remove_subtree(self, path: FieldPath, view: dict[FieldPath, list[_Entry]]) -> None:
        for name in self._children(view).get(path, ()):
            self._remove_subtree((*path, name), view)
        self.remove_field(path, view.get(path, []))

    def remove_field(self, path: FieldPath, seen: list[_Entry]) -> None:
        """Remove what the writer had seen of a field (its presence and its content)."""
        self._clear_content(path, seen)
        self._drop(seen)
        if seen:
            self.changed_fields.add(path)
            self.touched = True

    def _clear_content(self, path: FieldPath, seen: list[_Entry]) -> None:
        state, visible = self.state, self.visible
        self._drop(_seen_in(state.tags, state, path, visible))
        self._drop(_seen_in(state.deltas, state, path, visible))
        if any(e.kind == "t" for e in seen):
            self._plan_text(path, "", True)

    def _plan_text(self, path: FieldPath, new: str, seen_any: bool) -> bool:
        """Whether writing `new` changes the text; the edit itself waits for `edit_texts`.

        Only a clear followed by a write of the same field (a change of kind) edits one
        text twice in a write; the write then starts from nothing (`seen_any` False), so
        whether it changes anything does not depend on the clear before it (its plan is
        made again once the clear is applied)."""
        texts = self.core._texts
        plan = self._text_plan(path, new, seen_any)
        if plan is None:
            if texts.unrecorded(self.state, path, new):
                # a text created empty makes no Loro op, yet a writer whose view is this
                # version must diff against it, not against a later writer's text
                self.text_paths[path] = (None, new)
            return False
        self.text_calls.append((path, new, seen_any, plan))
        return True

    def _text_plan(self, path: FieldPath, new: str, seen_any: bool) -> _TextPlan | None:
        frontiers = self.text_bases.get(path)
        if frontiers is not None:
            return self.core._texts.plan_at(self.state, path, new, frontiers)
        return self.core._texts.plan(self.state, path, new, self.visible, seen_any)

    def edit_texts(self) -> None:
        """Apply the planned text edits to Loro, in the order they were planned. An edit
        that may have deleted characters of its base records its Loro ops in the field's
        presence entry: what a concurrent edit that deleted any of the same characters is
        a conflict with (`_text_contenders`)."""
        edited: set[FieldPath] = set()
        for path, new, seen_any, planned in self.text_calls:
            plan: _TextPlan | None = planned
            if path in edited:
                plan = self._text_plan(path, new, seen_any)
            edited.add(path)
            if plan is None:
                continue
            frontiers, text, ops = self.core._texts.write(self.state, path, new, plan)
            self.text_paths[path] = (frontiers, text)
            presence = self.text_presence.get(path)
            if ops is not None and presence is not None:
                entry, at = presence
                if type(entry.value) is list:  # a second edit: its last, on the first
                    self.cleared += entry.value
                entry.value = ops
                self.entry_log[at] = _stored_text_ops(ops, self.core._peer)
            elif ops is not None:
                self.cleared += ops  # (a text cleared: no presence of it names the edit)

    # mergeable content ------------------------------------------------------------------
    def _write_elements(self, path: FieldPath, items: list[Any], *, ordered: bool) -> bool:
        """Diff the written list against the elements the writer saw, by element.

        Elements kept in the same relative order keep their tags (so a concurrent removal
        by another writer still wins over them); new or moved elements get fresh tags
        positioned between their neighbours.
        """
        state = self.state
        seen_tags = _seen_in(state.tags, state, path, self.visible)
        seen_tags.sort(key=_stamp_of)
        wanted = [canonical(v) for v in items]
        # an element's cached value is its canonical JSON read back; for a plain scalar
        # that is the written item itself (equal canonical text, equal value and type)
        given: dict[str, Any] = {}
        for j in range(len(items)):  # as dict(zip(...)), without its generic call
            given[wanted[j]] = items[j]
        if ordered:
            sequence = seen_tags
        else:
            wanted = list(given)  # first occurrences, in order
            first: dict[str, _Entry] = {}
            for e in seen_tags:
                first.setdefault(e.elem, e)
            sequence = list(first.values())
        kept_at: dict[int, _Entry] = {}
        kept_tags = [e for e in sequence if e.elem in given]
        if not ordered and [e.elem for e in kept_tags] == wanted[: len(kept_tags)]:
            # removals and appends only (the common case): no sequence diff needed
            kept_at = dict(enumerate(kept_tags))
        else:
            kept_at = _matching(sequence, wanted)
        if ordered:
            kept_ids = {id(e) for e in kept_at.values()}
            drop = [e for e in seen_tags if id(e) not in kept_ids]
        else:
            kept_elems = {e.elem for e in kept_at.values()}
            drop = [e for e in seen_tags if e.elem not in kept_elems]
        if not drop and len(kept_at) == len(wanted):
            return False
        self._drop(drop)
        pj = self.core._pj(path)
        # the position of the next kept element after each index (None: none after it),
        # from one backward pass: a scan per inserted element was quadratic for appends
        upper_at: list[str | None] = [None] * len(wanted)
        upper: str | None = None
        for j in range(len(wanted) - 1, -1, -1):
            upper_at[j] = upper
            kept = kept_at.get(j)
            if kept is not None:
                upper = kept.stamp[0]
        lower = ""
        suffix = _position_suffix(self.op)
        # positions of the run of new elements the current one is in, made per run
        run: list[str] = []
        at_in_run = 0
        for j, elem in enumerate(wanted):
            kept = kept_at.get(j)
            if kept is not None:
                lower = kept.stamp[0]
                continue
            if at_in_run == len(run):
                size = 1
                while j + size < len(wanted) and (j + size) not in kept_at:
                    size += 1
                # ended by the op's own digits: positions of concurrent writers differ
                # even when both insert at one spot, so a later insert between has room
                run, at_in_run = _positions(lower, upper_at[j], size, suffix), 0
            pos = run[at_in_run]
            at_in_run += 1
            lower = pos
            short = f"s{pj}{_SEP}{elem}{_SEP}{j}"
            self.entry_log += (short, pos)
            item = given[elem]
            self.inserted.append(
                _Entry(
                    short + self.own,
                    path,
                    self.op,
                    self.agent,
                    _TAG,
                    item if type(item) in _PLAIN else json.loads(elem),
                    elem=elem,
                    stamp=(pos, self.op, j),
                )
            )
        return True

    def _write_counter(self, path: FieldPath, target: int | float) -> bool:
        state = self.state
        seen = _seen_in(state.deltas, state, path, self.visible)
        delta = _counter_increment(target, seen)
        if delta is None:
            return False
        short = "c" + self.core._pj(path)
        self.entry_log += (short, delta)
        self.inserted.append(_Entry(short + self.own, path, self.op, self.agent, _DELTA, delta))
        return True
