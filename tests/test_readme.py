"""The README is the front door: its example runs, and its two commands exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_langgraph_example_in_readme_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    example = next(b for b in blocks if "SyncedStore()" in b)
    exec(compile(example, "README.md", "exec"), {"__name__": "readme_example"})


def test_two_commands_are_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make bench" in README and "make test" in README
    assert re.search(r"^bench:", makefile, flags=re.M)
    assert re.search(r"^test:", makefile, flags=re.M)
    assert "python bench.py --replicas 8 --jitter" in makefile.replace("$(BIN)/", "")
