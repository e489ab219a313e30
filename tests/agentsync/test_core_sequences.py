"""Property tests of the sequence rules (SPEC 3, lists and text), against ground truth
from explicit causality.

Lists: every element a writer inserted survives exactly once unless a writer that had
seen it removed it; nothing appears that nobody inserted; with no concurrency a list
reads back exactly as written (order and duplicates). Text: two concurrent edits of a
common base merge by character when they delete disjoint characters, and are a conflict
with both whole texts as contenders when they delete a character in common.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_support import sync_all

from agentsync._core import Core

NS = ("seq",)
UNIQUE = [chr(0x4E00 + i) for i in range(2000)]  # distinct characters: diffs are exact


def _read(core: Core, name: str = "steps") -> Any:
    stored = core.get(NS, "k")
    return None if stored is None else stored.value.get(name)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", "b", "c", 1, 1.5, None, True]), max_size=8),
        min_size=1,
        max_size=8,
    )
)
def test_a_list_reads_back_exactly_as_written_when_nothing_is_concurrent(
    writes: list[list[Any]],
) -> None:
    core = Core(peer_id=1)
    for written in writes:
        core.put(NS, "k", {"steps": written}, agent="a", turn=None, now=1.0)
        assert _read(core) == written


@dataclass
class _ListWorld:
    replicas: list[Core]
    known: list[set[str]]  # ops each replica holds
    inserted_by: dict[str, str] = field(default_factory=dict)  # element -> op
    removed_by: dict[str, set[str]] = field(default_factory=dict)  # element -> ops
    past: dict[str, frozenset[str]] = field(default_factory=dict)  # op -> ops it had seen
    moved: set[str] = field(default_factory=set)
    next_token: int = 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 4), steps=st.integers(1, 14), data=st.data())
def test_concurrent_list_edits_keep_every_insert_and_remove_only_what_was_seen(
    n: int, steps: int, data: st.DataObject
) -> None:
    world = _ListWorld([Core(peer_id=i + 1) for i in range(n)], [set() for _ in range(n)])
    for _ in range(steps):
        r = data.draw(st.integers(0, n - 1))
        if data.draw(st.booleans()):  # deliver one replica's state to another
            to = data.draw(st.integers(0, n - 1))
            if to != r:
                source, target = world.replicas[r], world.replicas[to]
                target.import_updates(source.export_updates(target.version()))
                world.known[to] |= world.known[r]
            continue
        core = world.replicas[r]
        seen = list(_read(core) or [])
        written = list(seen)
        action = data.draw(st.sampled_from(["insert", "insert", "remove", "move"]))
        if action == "remove" and written:
            written.pop(data.draw(st.integers(0, len(written) - 1)))
        elif action == "move" and len(written) > 1:
            element = written.pop(data.draw(st.integers(0, len(written) - 1)))
            written.insert(data.draw(st.integers(0, len(written))), element)
            world.moved.add(element)
        else:
            token = UNIQUE[world.next_token]
            world.next_token += 1
            written.insert(data.draw(st.integers(0, len(written))), token)
        result = core.put(NS, "k", {"steps": written}, agent=f"r{r}", turn=None, now=1.0)
        if result.op_id is None:
            continue
        op = result.op_id
        world.past[op] = frozenset(world.known[r])
        world.known[r].add(op)
        for element in written:
            if element not in seen:
                world.inserted_by[element] = op
        for element in seen:
            if element not in written:
                world.removed_by.setdefault(element, set()).add(op)
        assert _read(core) == written  # the writer saw everything its replica held
    sync_all(*world.replicas)
    values = [_read(core) or [] for core in world.replicas]
    assert all(v == values[0] for v in values), "replicas diverged"
    final = values[0]
    # a move is a removal and an insert: two concurrent moves of one element insert it
    # twice (both kept, as concurrent inserts are); nothing else appears twice
    unmoved = [e for e in final if e not in world.moved]
    assert len(unmoved) == len(set(unmoved)), f"an element appears twice: {final}"
    survivors = {e for e in world.inserted_by if not world.removed_by.get(e)}
    # a move re-inserts the element: the move's insert survives unless removed later
    assert set(final) <= set(world.inserted_by), "an element nobody inserted"
    for element in survivors:
        assert element in final, f"{element!r} was never removed but is lost"
    for core in world.replicas:
        assert core.escalations() == []


_EDIT = st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 3))


@settings(max_examples=300, deadline=None)
@given(base_size=st.integers(0, 12), left=_EDIT, right=_EDIT)
def test_concurrent_text_edits_merge_when_disjoint_and_conflict_when_overlapping(
    base_size: int, left: tuple[int, int, int], right: tuple[int, int, int]
) -> None:
    base = "".join(UNIQUE[:base_size])
    fresh = iter(UNIQUE[100:])

    def edit(spec: tuple[int, int, int]) -> tuple[int, int, str, str]:
        a, b, inserted = spec
        start, end = sorted((min(a, base_size), min(b, base_size)))
        insertion = "".join(next(fresh) for _ in range(inserted))
        return start, end, insertion, base[:start] + insertion + base[end:]

    l_start, l_end, l_ins, l_text = edit(left)
    r_start, r_end, r_ins, r_text = edit(right)
    a, b = Core(peer_id=1), Core(peer_id=2)
    a.put(NS, "k", {"notes": base}, agent="setup", turn=None, now=1.0)
    sync_all(a, b)
    a.put(NS, "k", {"notes": l_text}, agent="left", turn=None, now=2.0)
    b.put(NS, "k", {"notes": r_text}, agent="right", turn=None, now=2.0)
    sync_all(a, b)
    merged = _read(a, "notes")
    assert merged == _read(b, "notes") and a.escalations() == b.escalations()
    overlapping = max(l_start, r_start) < min(l_end, r_end)
    # a replacement contests what it replaced; two deletions only remove it once
    if overlapping and l_text != r_text and (l_ins or r_ins):
        assert merged == "<escalated:notes>"
        (esc,) = a.escalations()
        assert sorted(c.value for c in esc.contenders) == sorted([l_text, r_text])
        assert sorted(c.agent_id for c in esc.contenders) == ["left", "right"]
        return
    assert a.escalations() == []
    assert isinstance(merged, str)
    deleted = set(base[l_start:l_end]) | set(base[r_start:r_end])
    kept = [c for c in base if c not in deleted]
    assert [c for c in merged if c in base] == kept  # every base char kept, in order
    for insertion in (l_ins, r_ins):
        if insertion and not (overlapping and l_text == r_text):
            assert insertion in merged  # whole, never interleaved
    if l_text == r_text:
        assert merged == l_text
    else:
        assert len(merged) == len(kept) + len(l_ins) + len(r_ins)


# -- list positions ----------------------------------------------------------------------
from agentsync._core_lists import _position_suffix, _positions  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(
    bounds=st.lists(st.integers(0, 3), min_size=0, max_size=3),
    count=st.integers(1, 300),
    upper_open=st.booleans(),
    counter=st.integers(0, 10**6),
)
def test_positions_are_ordered_strictly_between_their_bounds_and_short(
    bounds: list[int], count: int, upper_open: bool, counter: int
) -> None:
    """A run of new elements gets `count` distinct positions in order, strictly between
    its neighbours, of a length that grows with log(count), not count."""
    suffix = _position_suffix(f"7:{counter}")
    made = [""]
    for step in bounds:  # neighbours made by earlier runs, some close together
        made.append(_positions(made[-1], None, step + 1, suffix)[-1])
    lower = made[-2] if len(made) > 1 else ""
    upper = None if upper_open else made[-1]
    if upper == lower:
        upper = None
    got = _positions(lower, upper, count, suffix)
    assert len(got) == count == len(set(got))
    assert got == sorted(got)
    assert all(lower < p and (upper is None or p < upper) for p in got)
    # (one after another, 300 between two neighbours reached 73 characters; halved, 19)
    longest = max(len(lower), len(upper or "")) + len(suffix)
    assert max(map(len, got)) <= longest + 2 * count.bit_length()
