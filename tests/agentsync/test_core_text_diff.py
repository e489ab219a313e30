"""`word_edits` turns the old text into the new one, changing whole runs of words."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agentsync._core_text_diff import _MOST_EDITS, word_edits

WORDS = st.sampled_from(["a", "bb", "a.1", "B0", "W0T0", " ", "  ", "\n", "é", "日本"])
TEXTS = st.lists(WORDS, max_size=14).map("".join)


def _apply(old: str, edits: list[tuple[int, int, str]]) -> str:
    out, at = [], 0
    for start, end, text in edits:
        assert at <= start <= end <= len(old), "edits out of order or overlapping"
        out += [old[at:start], text]
        at = end
    return "".join([*out, old[at:]])


@settings(max_examples=500, deadline=None)
@given(old=TEXTS, new=TEXTS)
def test_the_edits_turn_old_into_new(old: str, new: str) -> None:
    edits = word_edits(old, new)
    assert _apply(old, edits) == new
    assert all(end > start or text for start, end, text in edits), "an empty edit"
    assert (edits == []) == (old == new)


def test_a_rewritten_word_is_one_replacement_kept_letters_only_at_its_ends() -> None:
    assert word_edits("B0", "W0T0") == [(0, 1, "W0T")]  # never W|0|T0 around a kept 0
    assert word_edits("alpha beta gamma", "ALPHA beta GAMMA") == [
        (0, 5, "ALPHA"),
        (11, 16, "GAMMA"),
    ]


def test_more_changed_words_than_searched_for_replace_the_changed_middle() -> None:
    old = " ".join(f"w{i}" for i in range(4 * _MOST_EDITS))
    new = " ".join(f"v{i}" for i in range(4 * _MOST_EDITS))
    edits = word_edits(old, new)
    assert len(edits) == 1 and _apply(old, edits) == new
    # a few changed words in a long text are found one by one
    few = old.replace("w7 ", "x7 ").replace("w900 ", "")
    assert len(word_edits(old, few)) == 2
