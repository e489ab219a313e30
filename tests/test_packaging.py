"""A standard wheel build never fails because mypyc did: it falls back to pure Python and
says so (`pip install .` on a machine without a C compiler, or with a mypy error)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _hook_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_agentsync_hatch_build", ROOT / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _App:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def display_warning(self, message: str) -> None:
        self.warnings.append(message)

    def display_info(self, message: str) -> None:
        self.infos.append(message)


def _hook(app: _App) -> Any:
    hook_class = _hook_module().MypycBuildHook
    return hook_class(str(ROOT), {}, None, None, str(ROOT / "dist"), "wheel", app)


def test_a_mypy_error_falls_back_to_a_pure_python_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    import mypyc.build

    def mypy_failed(*args: object, **kwargs: object) -> object:
        # what mypycify does when mypy reports an error (e.g. on a dependency's types)
        raise SystemExit("src/agentsync/_persistence.py:50: error: ...")

    monkeypatch.setattr(mypyc.build, "mypycify", mypy_failed)
    app = _App()
    hook = _hook(app)
    build_data: dict[str, Any] = {"force_include": {}, "pure_python": True, "infer_tag": False}
    hook.initialize("standard", build_data)
    hook.finalize("standard", build_data, str(ROOT / "dist" / "unused.whl"))
    assert build_data == {"force_include": {}, "pure_python": True, "infer_tag": False}
    [warning] = app.warnings
    assert "mypyc build failed (SystemExit" in warning
    assert "building a pure-Python wheel" in warning


def test_an_editable_build_compiles_nothing() -> None:
    app = _App()
    build_data: dict[str, Any] = {"force_include": {}}
    _hook(app).initialize("editable", build_data)
    assert build_data == {"force_include": {}} and app.warnings == [] and app.infos == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_without_a_c_compiler_the_wheel_is_pure_python(tmp_path: Path) -> None:
    """The real build (hatchling, mypy, setuptools) with a compiler that always fails."""
    code = (
        "import sys\n"
        "from hatchling.builders.wheel import WheelBuilder\n"
        "for wheel in WheelBuilder(sys.argv[1]).build(directory=sys.argv[2],"
        " versions=['standard']):\n"
        "    print(wheel)\n"
    )
    env = {**os.environ, "CC": "false", "AGENTSYNC_PURE_PYTHON": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "agentsync/_core.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd")) or "_compiled" in n]
    assert "mypyc build failed" in done.stdout + done.stderr
