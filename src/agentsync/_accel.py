"""Which build of the hot modules runs: the mypyc-compiled one, when it matches its source.

`tools/mypyc_build.py` (run by `make`) compiles the modules in `COMPILED_MODULES` with
mypyc into `_compiled/`, next to a manifest of the SHA-256 of each source it compiled.
The package puts that directory first on its `__path__` only when every compiled module
matches the source beside it, so an edited module never runs as a stale binary: the whole
package then runs as plain Python (and says so with a warning). `AGENTSYNC_PURE_PYTHON=1`
forces plain Python (tests use it to check both builds behave the same).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Final

COMPILED_MODULES: Final = ("_values", "_core")
COMPILED_DIR: Final = "_compiled"
MANIFEST: Final = "manifest.json"
PURE_ENV: Final = "AGENTSYNC_PURE_PYTHON"

_enabled: set[str] = set()  # compiled directories put on a package path


class StaleBuildWarning(UserWarning):
    """The compiled modules were built from different sources than the ones present."""


def source_digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def build_tag() -> str:
    """The interpreter a build is for: a build for another one is never loaded."""
    return f"{sys.implementation.cache_tag}-{sys.platform}"


def enable(package_path: list[str]) -> bool:
    """Put the compiled modules ahead of the sources if they are current; report whether."""
    package = Path(package_path[0])
    compiled = package / COMPILED_DIR
    manifest_file = compiled / MANIFEST
    if os.environ.get(PURE_ENV) or not manifest_file.is_file():
        return False
    try:
        manifest = json.loads(manifest_file.read_text())
        recorded = dict(manifest["sources"])
        tag = manifest["tag"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(
            f"ignoring unreadable {manifest_file} ({exc}); running plain Python",
            StaleBuildWarning,
            stacklevel=2,
        )
        return False
    if tag != build_tag():
        return False  # built by another interpreter: its binaries would not load here
    stale = sorted(
        name
        for name in COMPILED_MODULES
        if recorded.get(name) != source_digest(package / f"{name}.py")
    )
    if stale:
        warnings.warn(
            f"compiled agentsync modules are stale ({', '.join(stale)}.py changed since "
            f"{compiled} was built); running plain Python. Rebuild with `make compiled` "
            f"or delete {compiled}.",
            StaleBuildWarning,
            stacklevel=2,
        )
        return False
    package_path.insert(0, str(compiled))
    _enabled.add(str(compiled))
    return True


def active() -> bool:
    """Whether this process runs the compiled modules."""
    return bool(_enabled)
