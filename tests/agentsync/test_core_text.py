"""The word-aligned text diff applies exactly the edit it was given."""

from __future__ import annotations

from typing import Any

import loro
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsync._core_text import _edit_text

WORDS = st.sampled_from(["a", "bb", "a.1", "r5a0.", "x", " ", "  ", "\n", "é", "日本"])
TEXTS = st.lists(WORDS, max_size=10).map("".join)


@settings(max_examples=400, deadline=None)
@given(old=TEXTS, new=TEXTS)
def test_edit_text_turns_old_into_new(old: str, new: str) -> None:
    doc = loro.LoroDoc()
    text = doc.get_text("t")
    if old:
        text.insert(0, old)
    doc.commit()
    _edit_text(text, old, new)
    doc.commit()
    assert text.to_string() == new


# -- a writer's edit applies against exactly the version it saw (issue 15 item 1) ----------
from agentsync._core import Core  # noqa: E402
from agentsync._core_layout import _decode_version  # noqa: E402

NS = ("team",)


def _notes(core: Core) -> str:
    stored = core.get(NS, "k")
    assert stored is not None
    return str(stored.value["notes"])


def test_an_edit_from_a_view_100_versions_old_keeps_every_line_written_since() -> None:
    """A slow node reads the notes, a busy one appends 100 lines (100 puts), then the slow
    one appends its line to what it read: every line is kept (the core used to diff the
    slow edit against the oldest of 16 kept versions and delete 85 of busy's lines)."""
    core = Core(peer_id=1)
    core.put(NS, "k", {"notes": "start\n"}, agent="setup", turn=None, now=1.0)
    slow = core.begin_turn()
    core.note_read(slow, NS, "k")
    text = "start\n"
    for i in range(100):
        text += f"busy {i}\n"
        core.put(NS, "k", {"notes": text}, agent="busy", turn=None, now=2.0)
    core.put(NS, "k", {"notes": "start\nslow line\n"}, agent="slow", turn=slow, now=3.0)
    merged = _notes(core)
    assert [f"busy {i}" for i in range(100)] == [
        line for line in merged.splitlines() if line.startswith("busy")
    ]
    assert merged.count("slow line") == 1 and merged.startswith("start\n")
    assert core.escalations() == []


def test_an_edit_from_another_replica_many_versions_behind_keeps_every_line() -> None:
    """Two replicas: the reader's view is 40 versions behind when it writes."""
    for behind in (16, 20, 40):
        writer, reader = Core(peer_id=1), Core(peer_id=2)
        writer.put(NS, "k", {"notes": "base\n"}, agent="w", turn=None, now=1.0)
        reader.import_updates(writer.export_updates())
        turn = reader.begin_turn()
        reader.note_read(turn, NS, "k")
        text = "base\n"
        for i in range(behind):
            text += f"w{i}\n"
            writer.put(NS, "k", {"notes": text}, agent="w", turn=None, now=2.0)
            reader.import_updates(writer.export_updates(reader.version()))
        reader.put(NS, "k", {"notes": "base\nreader\n"}, agent="r", turn=turn, now=3.0)
        writer.import_updates(reader.export_updates(writer.version()))
        for core in (writer, reader):
            lines = _notes(core).splitlines()
            assert [f"w{i}" for i in range(behind)] == [x for x in lines if x.startswith("w")]
            assert lines.count("reader") == 1


def test_old_views_are_released_once_no_writer_holds_them() -> None:
    core = Core(peer_id=1)
    core.put(NS, "k", {"notes": ""}, agent="a", turn=None, now=1.0)
    turn = core.begin_turn()
    core.note_read(turn, NS, "k")
    for i in range(200):
        core.put(NS, "k", {"notes": f"line {i}\n" * (i % 3)}, agent="a", turn=None, now=1.0)
    state = core._keys[core._kid(NS, "k")]
    (track,) = state.texts.values()
    assert len(track.snapshots) > 100  # the open turn may still write from its view
    del turn
    core.put(NS, "k", {"notes": "done"}, agent="a", turn=None, now=1.0)
    assert len(track.snapshots) <= 2


# -- concurrent text edits: merge disjoint, escalate overlapping (issue 15 item 4) ---------
def _concurrent_notes(base: str, left: str, right: str, **kwargs: object) -> tuple[Core, Core]:
    a, b = Core(peer_id=1, **kwargs), Core(peer_id=2, **kwargs)  # type: ignore[arg-type]
    a.put(NS, "k", {"notes": base}, agent="setup", turn=None, now=1.0)
    b.import_updates(a.export_updates())
    a.put(NS, "k", {"notes": left}, agent="alice", turn=None, now=2.0)
    b.put(NS, "k", {"notes": right}, agent="bob", turn=None, now=2.0)
    a.import_updates(b.export_updates(a.version()))
    b.import_updates(a.export_updates(b.version()))
    assert a.get(NS, "k") == b.get(NS, "k") and a.escalations() == b.escalations()
    return a, b


def test_two_full_rewrites_are_a_conflict_not_an_interleave() -> None:
    a, _ = _concurrent_notes("status: prod", "staging", "dev")
    assert _notes(a) == "<escalated:notes>"
    (esc,) = a.escalations()
    assert esc.field == "notes"
    assert sorted((c.agent_id, c.value) for c in esc.contenders) == [
        ("alice", "staging"),
        ("bob", "dev"),
    ]


def test_overlapping_replacements_conflict_and_provisional_reads_a_contender() -> None:
    a, b = _concurrent_notes(
        "the plan is to ship on monday",
        "the plan is to ship on friday",
        "the plan is to ship on tuesday",
        conflict_value="provisional",
    )
    assert _notes(a) in ("the plan is to ship on friday", "the plan is to ship on tuesday")
    assert _notes(a) == _notes(b)
    assert len(a.escalations()) == 1


def test_edits_of_disjoint_parts_merge_by_character() -> None:
    a, _ = _concurrent_notes("alpha beta gamma", "ALPHA beta gamma", "alpha beta GAMMA")
    assert _notes(a) == "ALPHA beta GAMMA"
    assert a.escalations() == []
    a, _ = _concurrent_notes("log\n", "log\none\n", "log\ntwo\n")  # two appends
    assert sorted(_notes(a).splitlines()) == ["log", "one", "two"]
    assert a.escalations() == []


def test_the_same_deletion_by_both_writers_is_no_conflict() -> None:
    a, _ = _concurrent_notes("keep drop keep", "keep keep", "keep keep")
    assert _notes(a) == "keep keep"
    assert a.escalations() == []


def test_deleting_neighbouring_words_merges_whichever_two() -> None:
    """Deleting a word takes a space with it; two neighbouring words deleted concurrently
    may both take the space between them, and a conflict over whitespace alone is none:
    every word either writer kept is kept, every word either deleted is gone."""
    words = "alpha beta gamma delta"
    for left, right in [("alpha", "beta"), ("beta", "gamma"), ("gamma", "delta")]:
        a, _ = _concurrent_notes(
            words,
            " ".join(w for w in words.split() if w != left),
            " ".join(w for w in words.split() if w != right),
        )
        assert a.escalations() == []
        assert _notes(a).split() == [w for w in words.split() if w not in (left, right)]


def test_a_word_inserted_in_front_of_a_concurrently_deleted_word_stays_a_word() -> None:
    """Agents write words each followed by a space. One inserts "new " in front of "b",
    another deletes "b ": the merge keeps "new" as a word of its own (a deletion that
    took the space before "b" fused it with "a" as "anew": the benchmark's mixed
    scenario lost two writes that way)."""
    a, _ = _concurrent_notes("a b c ", "a new b c ", "a c ")
    assert a.escalations() == []
    assert sorted(_notes(a).split()) == ["a", "c", "new"]


def test_the_same_replacement_by_both_writers_is_a_conflict_not_a_doubled_text() -> None:
    """Both turn "abc" into "abX": merged by character that reads "abXX", which neither
    wrote, so it escalates (SPEC §3: both replaced an overlapping character), and a
    resolution to their common text reads it back."""
    a, b = _concurrent_notes("abc", "abX", "abX")
    (esc,) = a.escalations()
    assert [c.value for c in esc.contenders] == ["abX", "abX"]
    a.resolve(esc, "abX", agent="human", now=3.0)
    b.import_updates(a.export_updates(b.version()))
    assert _notes(a) == _notes(b) == "abX"
    assert a.escalations() == b.escalations() == []


def test_text_added_around_a_conflicts_placeholder_keeps_the_conflict_and_the_text() -> None:
    """An agent reads a conflicted text as its placeholder, adds a line in front and
    writes it back (what an agent appending to its notes does): the line is kept, the
    contenders are not replaced by the placeholder, the conflict stays open, and its
    resolution keeps the line."""
    a, b = _concurrent_notes("status: prod", "staging", "dev")
    placeholder = _notes(a)
    assert placeholder == "<escalated:notes>"
    a.put(NS, "k", {"notes": "note: " + placeholder}, agent="x", turn=None, now=3.0)
    (esc,) = a.escalations()
    assert sorted(c.value for c in esc.contenders) == ["dev", "staging"]
    assert _notes(a) == placeholder
    a.resolve(esc, "staging", agent="human", now=4.0)
    b.import_updates(a.export_updates(b.version()))
    assert _notes(a) == _notes(b) == "note: staging"


def test_a_text_conflict_is_settled_by_a_write_that_saw_both() -> None:
    a, b = _concurrent_notes("status: prod", "staging", "dev")
    (esc,) = a.escalations()
    a.resolve(esc, "staging", agent="human", now=3.0)
    assert _notes(a) == "staging" and a.escalations() == []
    b.import_updates(a.export_updates(b.version()))
    assert _notes(b) == "staging" and b.escalations() == []
    a.put(NS, "k", {"notes": "staging, then prod"}, agent="x", turn=None, now=4.0)
    assert _notes(a) == "staging, then prod" and a.escalations() == []


def test_concurrent_rewrites_by_parallel_writers_of_one_replica_conflict() -> None:
    core = Core(peer_id=1)
    core.put(NS, "k", {"notes": "draft one"}, agent="setup", turn=None, now=1.0)
    left, right = core.begin_turn(), core.begin_turn()
    core.put(NS, "k", {"notes": "final A"}, agent="left", turn=left, now=2.0)
    core.put(NS, "k", {"notes": "final B"}, agent="right", turn=right, now=2.0)
    (esc,) = core.escalations()
    assert sorted(c.value for c in esc.contenders) == ["final A", "final B"]
    assert _notes(core) == "<escalated:notes>"


def test_rounds_of_parallel_rewrites_add_no_peer_per_edit() -> None:
    """Each old-view edit is made as a peer of its own in Loro; those peers are reused
    once a later view holds their edits, so the version vector every sync exchanges
    grows with the parallel writers, not with the edits (Loro's checkout of a text also
    slows with its peers: a fresh one per edit made a LangGraph run quadratic)."""
    core = Core(peer_id=1)
    core.put(NS, "k", {"notes": "start"}, agent="setup", turn=None, now=1.0)
    for round_ in range(12):
        turns = [core.begin_turn() for _ in range(4)]
        for turn in turns:
            core.note_read(turn, NS, "k")
        for n, turn in enumerate(turns):
            core.put(NS, "k", {"notes": f"w{n} round {round_}"}, agent=f"w{n}", turn=turn, now=2.0)
        (esc,) = core.escalations()
        assert sorted(c.value for c in esc.contenders) == [f"w{n} round {round_}" for n in range(4)]
        del turns, turn
        core.put(NS, "k", {"notes": f"settled {round_}"}, agent="setup", turn=None, now=3.0)
        assert core.escalations() == []
    # this replica's own peer and three edit peers (the first writer of a round edits
    # the current text); a fresh peer per edit made 37
    assert len(_decode_version(core.version()).to_spans().inner()) == 4
    replica = Core(peer_id=2)
    replica.import_updates(core.export_updates())
    assert _notes(replica) == _notes(core) == "settled 11"


def test_old_versions_past_the_held_budget_are_read_back_and_keep_every_line() -> None:
    """Versions a live view may still write from are kept; past the held budget their
    texts are read back from Loro, and an edit from the oldest view still keeps every
    line written since."""
    core = Core(peer_id=1)
    head = "x" * 20_000 + "\n"
    core.put(NS, "k", {"notes": head}, agent="setup", turn=None, now=1.0)
    slow = core.begin_turn()
    core.note_read(slow, NS, "k")
    text = head
    for i in range(40):
        text += f"line {i}\n"
        core.put(NS, "k", {"notes": text}, agent="busy", turn=None, now=2.0)
    (track,) = core._keys[core._kid(NS, "k")].texts.values()
    assert len(track.snapshots) > 40  # all kept: the slow view may write from its version
    assert sum(s[3] is None for s in track.snapshots) > 10  # their texts not all held
    assert track.held == sum(len(s[3]) for s in track.snapshots if s[3] is not None)
    core.put(NS, "k", {"notes": head + "slow\n"}, agent="slow", turn=slow, now=3.0)
    merged = _notes(core)
    assert all(f"line {i}\n" in merged for i in range(40)) and "slow\n" in merged


# -- old-view edits are made on a recent copy of the document (issue 15 item 11) -----------
def _parallel_rounds(core: Core, rounds: int) -> list[object]:
    """Rounds of four parallel writers that read the notes, then each append a line or
    rewrite the first line while other keys change too: what was read back per round."""
    core.put(NS, "k", {"notes": "head\n"}, agent="setup", turn=None, now=1.0)
    seen: list[object] = []
    for round_ in range(rounds):
        turns = [core.begin_turn() for _ in range(4)]
        for turn in turns:
            core.note_read(turn, NS, "k")
        base = _notes(core) if core.escalations() == [] else "head\n"
        for n, turn in enumerate(turns):
            core.put(
                NS, f"own{n}", {"notes": f"r{round_} by w{n}"}, agent=f"w{n}", turn=turn, now=2.0
            )
            if (round_ + n) % 3:
                new = base + f"r{round_} w{n}\n"
            else:
                new = f"rewritten r{round_} w{n}\n" + base.partition("\n")[2]
            core.put(NS, "k", {"notes": new}, agent=f"w{n}", turn=turn, now=2.0)
        seen.append(
            (
                _notes(core),
                core.escalations(),
            )
        )
        del turns, turn
        settled = _notes(core) if core.escalations() == [] else f"settled {round_}\n"
        core.put(NS, "k", {"notes": settled}, agent="setup", turn=None, now=3.0)
    return seen


def test_edits_on_the_recent_copy_read_back_as_edits_on_the_document_do() -> None:
    """The same rounds of parallel edits made on the recent copy (rooted afresh several
    times: more than 32 changes) and on the document itself (the copy turned off) read
    back alike, round by round: the copy changes what an edit costs, never what it does."""
    on_copy, on_document = Core(peer_id=1), Core(peer_id=1)
    # (what an update the copy cannot take in does: no copy for the next old-view edits)
    on_document._texts._recent._backoff = 10**9
    assert _parallel_rounds(on_copy, 12) == _parallel_rounds(on_document, 12)
    assert on_document._texts._recent._copy is None
    # the same ops, down to their peers: old-view edits are made as a replica's own
    # deterministic sequence of edit peers, not as the random one of Loro's checkout
    assert on_copy.version() == on_document.version()
    turn = on_copy.begin_turn()
    on_copy.note_read(turn, NS, "k")
    on_copy.put(NS, "k", {"notes": "later\n"}, agent="setup", turn=None, now=4.0)
    on_copy.put(NS, "k", {"notes": "from the turn\n"}, agent="t", turn=turn, now=4.0)
    assert on_copy._texts._recent._copy is not None  # the edit was made there
    del turn
    on_copy.put(NS, "other", {"n": 1}, agent="setup", turn=None, now=5.0)
    assert on_copy._texts._recent._copy is None  # no live view: its memory is freed
    replica = Core(peer_id=2)
    replica.import_updates(on_copy.export_updates())
    assert replica.get(NS, "k") == on_copy.get(NS, "k")


def test_rounds_on_the_recent_copy_keep_every_appended_line() -> None:
    """Eight parallel writers append a line each from their round's view, for 20 rounds
    (the copy is rooted afresh many times, and its edit peers reused): no line is lost."""
    core = Core(peer_id=1)
    core.put(NS, "k", {"notes": "head\n"}, agent="setup", turn=None, now=1.0)
    for round_ in range(20):
        turns = [core.begin_turn() for _ in range(8)]
        for turn in turns:
            core.note_read(turn, NS, "k")
        base = _notes(core)
        for n, turn in enumerate(turns):
            core.put(
                NS, "k", {"notes": base + f"r{round_} w{n}\n"}, agent=f"w{n}", turn=turn, now=2.0
            )
        del turns, turn
    lines = _notes(core).splitlines()
    assert sorted(lines[1:]) == sorted(f"r{r} w{n}" for r in range(20) for n in range(8))
    assert core.escalations() == []
    # this replica's peer and the seven edit peers of a round, reused round after round
    assert len(_decode_version(core.version()).to_spans().inner()) == 8


def test_an_update_the_recent_copy_cannot_take_in_falls_back_to_the_document() -> None:
    """A peer's edit made before the copy's root (it had not seen the root) cannot enter
    the copy; the next old-view edit is made on the document and every line is kept."""
    a, b = Core(peer_id=1), Core(peer_id=2)
    a.put(NS, "k", {"notes": "base\n"}, agent="setup", turn=None, now=1.0)
    b.import_updates(a.export_updates())
    a.put(NS, "k", {"notes": "base\nmore\n"}, agent="setup", turn=None, now=1.0)
    first = a.begin_turn()
    a.note_read(first, NS, "k")
    a.put(NS, "k", {"notes": "base\nmore\na1\n"}, agent="a", turn=None, now=2.0)
    a.put(NS, "k", {"notes": "base\nmore\nfirst\n"}, agent="first", turn=first, now=2.0)
    assert a._texts._recent._copy is not None  # rooted after "more"
    b.put(NS, "k", {"notes": "base\nfrom b\n"}, agent="b", turn=None, now=2.0)
    a.import_updates(b.export_updates(a.version()))
    second = a.begin_turn()
    a.note_read(second, NS, "k")
    seen = _notes(a)
    a.put(NS, "k", {"notes": seen + "a2\n"}, agent="a", turn=None, now=3.0)
    a.put(NS, "k", {"notes": seen + "second\n"}, agent="second", turn=second, now=3.0)
    assert a._texts._recent._copy is None  # dropped: b's edit precedes its root
    b.import_updates(a.export_updates(b.version()))
    assert a.get(NS, "k") == b.get(NS, "k")
    lines = _notes(a).splitlines()
    for line in ("base", "more", "a1", "first", "from b", "a2", "second"):
        assert lines.count(line) == 1, (line, lines)


LINES = [chr(0x4E00 + i) + "\n" for i in range(200)]  # unique characters: exact diffs


def _edited(text: str, how: str, line: str, new: str) -> str:
    """`text` with `line` rewritten to `new` or deleted, or `new` appended."""
    lines = text.splitlines(keepends=True)
    if how == "append" or line not in lines:
        return text + new
    at = lines.index(line)
    lines[at : at + 1] = [new] if how == "rewrite" else []
    return "".join(lines)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_history_of_old_view_edits_reads_alike_on_the_copy_and_the_document(
    data: st.DataObject,
) -> None:
    """Random interleavings of writers that read the notes, wait while others write,
    then append, rewrite or delete a line of what they read: made on the recent copy and
    on the document itself (edit peers are the same sequence on both), every step reads
    back the same value and escalations."""
    cores = [Core(peer_id=1), Core(peer_id=1)]
    cores[1]._texts._recent._backoff = 10**9  # the document itself
    for core in cores:
        core.put(NS, "k", {"notes": "".join(LINES[:3])}, agent="setup", turn=None, now=1.0)
    writers: list[list[tuple[Any, str]]] = [[], []]  # per core: (turn, what it read)
    for step in range(3, data.draw(st.integers(4, 40))):
        action = data.draw(st.sampled_from(["begin", "write", "write", "other", "end"]))
        pick = data.draw(st.integers(0, 50))
        if action == "begin" or not writers[0]:
            for core, open_ in zip(cores, writers, strict=True):
                turn = core.begin_turn()
                core.note_read(turn, NS, "k")
                open_.append((turn, "" if core.escalations() else _notes(core)))
            continue
        i = pick % len(writers[0])
        if action == "other":
            for core in cores:
                core.put(NS, f"o{step}", {"notes": LINES[step]}, agent="x", turn=None, now=2.0)
        elif action == "end":
            for open_ in writers:
                open_.pop(i)
        else:
            how = data.draw(st.sampled_from(["append", "rewrite", "delete"]))
            read = sorted(set(writers[0][i][1].splitlines(keepends=True)))
            line = read[pick % len(read)] if read else ""
            for core, open_ in zip(cores, writers, strict=True):
                turn, text = open_[i]
                new = _edited(text, how, line, LINES[step])
                core.put(NS, "k", {"notes": new}, agent=f"w{i}", turn=turn, now=3.0)
        reads = [(core.get(NS, "k"), core.escalations()) for core in cores]
        assert reads[0] == reads[1], (step, reads)
