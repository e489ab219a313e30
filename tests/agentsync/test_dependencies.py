"""agentsync uses only the public API of its dependencies, at versions pyproject.toml asks
for (tools/check_floors.sh installs exactly those floors and runs the store suites)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "agentsync"

# optional, guarded lookups that only bound a search: their absence changes nothing
ALLOWED_PRIVATE = {("_context.py", "langgraph.pregel._retry")}


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top not in ("langgraph", "langchain_core"):
                continue
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_no_private_langgraph_or_langchain_names_are_imported() -> None:
    offenders = []
    for path in sorted(SRC.glob("*.py")):
        for name in _private_imports(path):
            if (path.name, name) not in ALLOWED_PRIVATE:
                offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_the_floors_script_installs_the_declared_floors() -> None:
    """tools/check_floors.sh pins every `>=` floor of the runtime dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)>=([0-9.]+)(,<[0-9.]+)?", requirement)
        assert match, f"{requirement!r} has no plain >= floor"
        floors[match[1].split("[")[0].lower()] = match[2]
    script = (ROOT / "tools" / "check_floors.sh").read_text(encoding="utf-8")
    pinned = dict(re.findall(r"([A-Za-z0-9_.\-]+)==([0-9.]+)", script))
    pinned = {name.lower(): version for name, version in pinned.items()}
    for name, version in floors.items():
        assert name in pinned, f"{name}: floor {version} is not pinned by the script"
        assert Version(pinned[name]) == Version(version), f"{name}: {version} != {pinned[name]}"


def test_only_the_core_modules_touch_loro() -> None:
    """Loro is wrapped by the value core: its API, its errors (bare BaseException on bad
    input) and its version vectors stay behind `Core`."""
    offenders = []
    for path in sorted(SRC.glob("*.py")):
        if path.name.startswith("_core"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "loro"]
    assert offenders == []
