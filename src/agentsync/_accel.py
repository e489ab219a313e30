"""Which build of the hot modules runs: the mypyc-compiled one, when it matches its source.

`tools/mypyc_build.py` (run by `make`) compiles the modules in `COMPILED_MODULES` with
mypyc into `_compiled/`, next to a manifest of the SHA-256 of every source of the package
as compiled (mypyc also bakes in the types of the modules they import). The package puts
that directory first on its `__path__` only when the manifest matches the sources beside
it and was built for this interpreter, and the compiled modules import; otherwise the
whole package runs as plain Python (and says so with a warning, unless the build is simply
for another interpreter). `AGENTSYNC_PURE_PYTHON=1` forces plain Python (tests use it to
check both builds behave the same).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Final

COMPILED_MODULES: Final = (
    "_values",
    "_core_layout",
    "_core_keys",
    "_core_views",
    "_core_lists",
    "_core_text_diff",
    "_core_text",
    "_core_values",
    "_core_write",
    "_core_states",
    "_core",
)
COMPILED_DIR: Final = "_compiled"
MANIFEST: Final = "manifest.json"
PURE_ENV: Final = "AGENTSYNC_PURE_PYTHON"

_enabled: set[str] = set()  # compiled directories put on a package path


class StaleBuildWarning(UserWarning):
    """A compiled build is present but cannot be used; plain Python runs instead."""


def source_digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def source_digests(package: Path) -> dict[str, str]:
    """The digest of every module of the package, by module name."""
    return {path.stem: source_digest(path) for path in sorted(package.glob("*.py"))}


def build_tag() -> str:
    """The interpreter a build is for (implementation, version, platform, ABI)."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return f"{sys.implementation.cache_tag}-{sys.platform}{suffix}"


def pure_forced() -> bool:
    value = os.environ.get(PURE_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _refuse(message: str) -> bool:
    warnings.warn(f"{message}; running plain Python", StaleBuildWarning, stacklevel=3)
    return False


def enable(package_path: list[str], package_name: str) -> bool:
    """Put the compiled modules ahead of the sources if they are current and load; report
    whether. Call from the package's `__init__` before any other submodule is imported."""
    package = Path(package_path[0])
    compiled = package / COMPILED_DIR
    manifest_file = compiled / MANIFEST
    if pure_forced() or not manifest_file.is_file():
        return False
    try:
        manifest = json.loads(manifest_file.read_text())
        recorded = dict(manifest["sources"])
        tag = manifest["tag"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return _refuse(f"ignoring unreadable {manifest_file} ({exc})")
    if tag != build_tag():
        return False  # built by another interpreter: its binaries would not load here
    current = source_digests(package)
    stale = sorted(n for n in recorded.keys() | current.keys() if recorded.get(n) != current.get(n))
    if stale:
        return _refuse(
            f"compiled agentsync modules are stale ({', '.join(f'{n}.py' for n in stale)} "
            f"changed since {compiled} was built). Rebuild with `make compiled` or delete "
            f"{compiled}"
        )
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    missing = [
        f"{name}{part}{suffix}"
        for name in COMPILED_MODULES
        for part in ("", "__mypyc")
        if not (compiled / f"{name}{part}{suffix}").is_file()
    ]
    if missing:
        return _refuse(f"incomplete build in {compiled} (missing {', '.join(missing)})")
    package_path.insert(0, str(compiled))
    try:
        for name in COMPILED_MODULES:
            module = importlib.import_module(f"{package_name}.{name}")
            if not str(module.__file__).startswith(str(compiled)):
                raise ImportError(f"{name} loaded from {module.__file__}")
    except ImportError as exc:
        package_path.remove(str(compiled))
        for name in COMPILED_MODULES:
            sys.modules.pop(f"{package_name}.{name}", None)
            sys.modules.pop(f"{package_name}.{name}__mypyc", None)
        return _refuse(f"cannot load the build in {compiled} ({exc})")
    _enabled.add(str(compiled))
    return True


def active() -> bool:
    """Whether this process runs the compiled modules."""
    return bool(_enabled)


def build_name() -> str:
    """Which build runs, as benchmarks and the test header print it."""
    return "compiled (mypyc)" if active() else "plain Python"
