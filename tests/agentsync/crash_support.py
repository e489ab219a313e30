"""Run a child Python process that acknowledges work on stdout, and kill it with SIGKILL
at a random point: the durability tests of the log and of the store share this."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import agentsync


def acknowledged_before_sigkill(
    code: str, args: list[str], rng: random.Random, most: int
) -> list[str]:
    """Run `code` with `args`, read between 1 and `most` acknowledged lines from its stdout,
    then SIGKILL it. Returns the lines (without newlines)."""
    src = str(Path(agentsync.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None and child.stderr is not None
    lines: list[str] = []
    try:
        for _ in range(rng.randint(1, most)):
            line = child.stdout.readline()
            assert line, f"child died early: {child.stderr.read()}"
            lines.append(line.rstrip("\n"))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    return lines
