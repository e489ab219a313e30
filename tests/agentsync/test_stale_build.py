"""A stale compiled build never breaks a plain `pytest` run: the package warns and runs as
plain Python under the project's own `filterwarnings = ["error", ...]`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from agentsync import _accel

ROOT = Path(__file__).resolve().parents[2]


def test_pytest_runs_plain_python_when_the_build_is_stale(tmp_path: Path) -> None:
    package = tmp_path / "src" / "agentsync"
    shutil.copytree(
        ROOT / "src" / "agentsync",
        package,
        ignore=shutil.ignore_patterns("_compiled", "__pycache__", "*.so"),
    )
    compiled = package / _accel.COMPILED_DIR
    compiled.mkdir()
    digests = _accel.source_digests(package)
    digests["_store"] = "0" * 64  # _store.py was edited after the build
    manifest = {"tag": _accel.build_tag(), "sources": digests}
    (compiled / _accel.MANIFEST).write_text(json.dumps(manifest))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_uses_the_package.py").write_text(
        "import agentsync\n"
        "from agentsync import _accel\n\n"
        "def test_plain_python() -> None:\n"
        "    assert not _accel.active()\n"
        "    store = agentsync.SyncedStore()\n"
        "    store.put(('ns',), 'k', {'a': 1})\n"
        "    assert store.get(('ns',), 'k').value == {'a': 1}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AGENTSYNC"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "StaleBuildWarning" in done.stdout and "_store.py" in done.stdout
