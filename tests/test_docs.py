"""The README is self-contained: what it links to is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_points_only_inside_the_repository() -> None:
    assert "../shared" not in README and "SPEC" not in README
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_semantics_doc_covers_every_kind_and_says_what_undeclared_fields_do() -> None:
    doc = (ROOT / "docs" / "semantics.md").read_text(encoding="utf-8")
    for kind in ("map", "list", "set", "text", "counter", "register"):
        assert f"| {kind} |" in doc, kind
    assert "visits += 1" in doc and "visits += 1" in README
