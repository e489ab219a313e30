"""Compile agentsync's hot modules with mypyc into src/agentsync/_compiled/.

    .venv/bin/python tools/mypyc_build.py [--jobs 2]

The same sources run as plain Python when no current build is present (see
`agentsync._accel`): this only makes them faster. It needs a C compiler; without one it
says so, leaves no build behind and exits 0, so the package stays pure Python.

`compile_modules` is also what the wheel build hook (`hatch_build.py`) calls, with an
output directory outside the source tree.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "agentsync"


def load_accel(package: Path = PACKAGE) -> ModuleType:
    """`agentsync._accel` on its own (it imports only the standard library).

    Importing it through the package would import the package's dependencies, which a
    wheel build environment may not provide to this process, and maybe the very build
    being replaced.
    """
    spec = importlib.util.spec_from_file_location(
        f"_{package.name}_accel_for_build", package / "_accel.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {package / '_accel.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_modules(out: Path, jobs: int = 1, package: Path = PACKAGE) -> Path:
    """Compile the modules `package`'s `_accel` lists into `out`, replacing it whole.

    `out` holds the extension modules and the manifest of the digests of the sources as
    compiled; it is built next to itself (`.<name>.new`) and renamed into place.
    """
    from mypyc.build import mypycify
    from setuptools import Distribution

    accel = load_accel(package)
    modules: tuple[str, ...] = accel.COMPILED_MODULES
    with tempfile.TemporaryDirectory(prefix="agentsync-mypyc-") as tmp:
        work = Path(tmp)
        # digests of every source as compiled: read before, so an edit during the build
        # leaves a stale (refused) build rather than a wrong one
        digests = accel.source_digests(package)
        cwd = Path.cwd()
        os.chdir(package.parent)  # mypyc names modules by their path from here
        try:
            extensions = mypycify(
                [f"{package.name}/{name}.py" for name in modules],
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
        built = sorted((work / "lib" / package.name).glob("*.so"))
        if not built:
            raise RuntimeError(f"mypyc produced no extension modules in {work / 'lib'}")
        staging = out.parent / f".{out.name}.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for lib in built:
            shutil.copy2(lib, staging / lib.name)
        manifest = {"tag": accel.build_tag(), "sources": digests}
        (staging / accel.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        # replace the old build whole: a process importing meanwhile sees one or the other
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    accel = load_accel()
    out = PACKAGE / accel.COMPILED_DIR
    started = time.perf_counter()
    try:
        compile_modules(out, args.jobs)
    # a missing compiler or a type error (mypyc raises SystemExit for those) must not stop
    # `make`: plain Python runs
    except (Exception, SystemExit) as exc:
        shutil.rmtree(out, ignore_errors=True)
        print(f"mypyc build failed ({type(exc).__name__}: {exc}); agentsync runs as plain Python")
        return 0
    took = time.perf_counter() - started
    print(f"compiled {', '.join(accel.COMPILED_MODULES)} into {out} in {took:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
