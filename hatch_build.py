"""Hatchling build hook: a standard wheel ships the hot modules compiled by mypyc.

`pip install .`, `pip wheel .` and `python -m build` compile the modules listed in
`agentsync._accel.COMPILED_MODULES` with `tools/mypyc_build.py` and ship them as
`agentsync/_compiled/` (extension modules + manifest) in a platform-tagged wheel. The
compiled sources are snapshotted first and the snapshot is what the wheel ships, so the
manifest's digests match the `.py` files beside them even if the tree is edited meanwhile.

Editable builds (`pip install -e .`) do nothing here: `make` compiles in place. Without a
C compiler (or any other compile failure) the wheel is pure Python, with a warning.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = "agentsync"


def _load_builder(root: Path) -> ModuleType:
    path = root / "tools" / "mypyc_build.py"
    spec = importlib.util.spec_from_file_location("_agentsync_mypyc_build", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MypycBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Compile into a temporary directory and force-include the result in the wheel."""

    PLUGIN_NAME = "custom"

    _work: Path | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        self._work = Path(tempfile.mkdtemp(prefix="agentsync-wheel-"))
        try:
            included = self._compile(self._work)
        # no compiler, no mypy, a type error (mypyc reports those by raising SystemExit):
        # plain Python runs the same. KeyboardInterrupt still stops the build.
        except (Exception, SystemExit) as exc:
            self.app.display_warning(
                f"agentsync: mypyc build failed ({type(exc).__name__}: {exc}); "
                "building a pure-Python wheel (same behaviour, slower)"
            )
            return
        build_data["force_include"].update(included)
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def _compile(self, work: Path) -> dict[str, str]:
        """Build from a snapshot of the package; map the files to ship to wheel paths."""
        root = Path(self.root)
        builder = _load_builder(root)
        package = work / "src" / PACKAGE
        shutil.copytree(
            root / "src" / PACKAGE,
            package,
            ignore=shutil.ignore_patterns("_compiled", "._compiled.new", "__pycache__", "*.pyc"),
        )
        # mypy finds its configuration by walking up from the build directory
        if (root / "pyproject.toml").is_file():
            shutil.copy2(root / "pyproject.toml", work / "pyproject.toml")
        accel = builder.load_accel(package)
        out = builder.compile_modules(
            work / accel.COMPILED_DIR, jobs=os.cpu_count() or 1, package=package
        )
        included = {str(lib): f"{PACKAGE}/{accel.COMPILED_DIR}/{lib.name}" for lib in out.iterdir()}
        # the sources the manifest describes, as compiled (they replace the tree's copies)
        for source in sorted(package.glob("*.py")):
            included[str(source)] = f"{PACKAGE}/{source.name}"
        self.app.display_info(
            f"agentsync: compiled {', '.join(accel.COMPILED_MODULES)} with mypyc into the wheel"
        )
        return included
