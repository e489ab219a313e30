"""The word-aligned text diff applies exactly the edit it was given."""

from __future__ import annotations

import loro
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsync._core import _edit_text

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
