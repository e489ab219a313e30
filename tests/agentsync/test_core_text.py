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
