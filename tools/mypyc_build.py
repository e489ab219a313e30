"""Compile agentsync's hot modules with mypyc into src/agentsync/_compiled/.

    .venv/bin/python tools/mypyc_build.py [--jobs 2]

The same sources run as plain Python when no current build is present (see
`agentsync._accel`): this only makes them faster. It needs a C compiler; without one it
says so, leaves no build behind and exits 0, so the package stays pure Python.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "agentsync"
sys.path.insert(0, str(SRC))

from agentsync._accel import (  # noqa: E402 (after the path is set)
    COMPILED_DIR,
    COMPILED_MODULES,
    MANIFEST,
    build_tag,
    source_digest,
)


def build(jobs: int) -> Path:
    from mypyc.build import mypycify
    from setuptools import Distribution

    out = PACKAGE / COMPILED_DIR
    with tempfile.TemporaryDirectory(prefix="agentsync-mypyc-") as tmp:
        work = Path(tmp)
        # digests of the sources as compiled: read before, so an edit during the build
        # leaves a stale (refused) build rather than a wrong one
        digests = {name: source_digest(PACKAGE / f"{name}.py") for name in COMPILED_MODULES}
        cwd = Path.cwd()
        os.chdir(SRC)  # mypyc names modules by their path from here
        try:
            extensions = mypycify(
                [f"agentsync/{name}.py" for name in COMPILED_MODULES],
                opt_level="3",
                separate=True,  # one shared library per module, inside the package
                target_dir=str(work / "c"),
            )
            dist = Distribution({"name": "agentsync-compiled", "ext_modules": extensions})
            cmd = dist.get_command_obj("build_ext")
            cmd.build_lib = str(work / "lib")  # type: ignore[attr-defined]
            cmd.build_temp = str(work / "tmp")  # type: ignore[attr-defined]
            cmd.parallel = jobs  # type: ignore[attr-defined]
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
        built = sorted((work / "lib" / "agentsync").glob("*.so"))
        if not built:
            raise RuntimeError(f"mypyc produced no extension modules in {work / 'lib'}")
        staging = PACKAGE / f".{COMPILED_DIR}.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for lib in built:
            shutil.copy2(lib, staging / lib.name)
        manifest = {"tag": build_tag(), "sources": digests}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        # replace the old build whole: a process importing meanwhile sees one or the other
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        out = build(args.jobs)
    except Exception as exc:  # a missing compiler must not stop `make`: plain Python runs
        shutil.rmtree(PACKAGE / COMPILED_DIR, ignore_errors=True)
        print(f"mypyc build failed ({type(exc).__name__}: {exc}); agentsync runs as plain Python")
        return 0
    took = time.perf_counter() - started
    print(f"compiled {', '.join(COMPILED_MODULES)} into {out} in {took:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
