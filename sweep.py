#!/usr/bin/env python
"""Fault sweep (issue 8): many seeds of the fault scenarios, every run held to the promise.

    python sweep.py                     # 500 seeds x sweep_lossy, partition_heal, crash_restart
    python sweep.py --seeds 20 --jobs 2 --json sweep.json

Each seed is one full simulator run (virtual clock) scored by the checker against the
ground truth from the delivery history. A run passes only if, once every fault has
healed, every replica shows the same state, no write is lost, no content is resurrected,
every true conflict is escalated and nothing else is. A failing seed prints the
`bench.py` command that replays exactly that run. Exit status: 0 if every seed passed,
1 if any failed (or crashed), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import structlog
from rich import box
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from actors.harness import RunConfig, RunResult, run_scenario
from actors.scenario import Scenario, load_scenario
from agentsync._errors import ScenarioError
from agentsync._strategies import STRATEGIES
from bench import configure_logging

__all__ = [
    "DEFAULT_SCENARIOS",
    "SeedResult",
    "SweepCase",
    "main",
    "make_cases",
    "run_case",
    "run_sweep",
    "summarize",
    "violations",
]

DEFAULT_SCENARIOS = ("sweep_lossy", "partition_heal", "crash_restart")
"""30% drop / 10% duplicate / 20% reorder; a two-way partition that heals; two replicas
crashing and restarting from durable state."""


@dataclass(frozen=True, slots=True)
class SweepCase:
    """One seed of one scenario: everything `bench.py` needs to replay it."""

    scenario: str
    """Scenario name or TOML path, exactly as given on the command line."""
    strategy: str
    seed: int
    replicas: int | None
    jitter: bool

    def command(self) -> str:
        """The shell command that replays this run bit for bit."""
        argv = ["python", "bench.py", "--scenario", self.scenario, "--strategy", self.strategy]
        argv += ["--seed", str(self.seed)]
        if self.replicas is not None:
            argv += ["--replicas", str(self.replicas)]
        if self.jitter:
            argv.append("--jitter")
        return shlex.join(argv)


@dataclass(slots=True)
class SeedResult:
    """What one seed's run came to; small enough to ship back from a worker process."""

    case: SweepCase
    scenario: str
    """The scenario's own name (the case may name it by path)."""
    problems: list[str]
    """Why the run fails the sweep (empty: it passed)."""
    notes: list[str] = field(default_factory=list)
    """The checker's notes on what it found wrong, if anything."""
    row: dict[str, Any] | None = None
    """The benchmark row (`RunResult.row()`); None if the run raised."""
    faults: dict[str, int] = field(default_factory=dict)
    """What the network did: dropped, duplicated, reordered, overflowed, undeliverable."""
    spurious: int = 0

    @property
    def passed(self) -> bool:
        return not self.problems

    def record(self) -> dict[str, Any]:
        """One JSON record: the benchmark row plus the seed, faults and verdict."""
        return {
            "scenario": self.scenario,
            "seed": self.case.seed,
            "passed": self.passed,
            "problems": self.problems,
            "notes": self.notes,
            "command": self.case.command(),
            "spurious": self.spurious,
            "faults": self.faults,
            "row": self.row,
        }


def violations(result: RunResult) -> list[str]:
    """Where a run breaks the promise; empty when it keeps it.

    The checks are the sweep's own, not the scenario's `expect` table, so a strategy
    that is *expected* to corrupt (lww) still fails here. Expectation failures are
    reported as well when the promise itself held.
    """
    s = result.score
    problems: list[str] = []
    if not result.converged:
        problems.append("replicas did not converge after the faults healed")
    if s.writes_lost:
        shown = ", ".join(s.lost_ops[:3]) + (", ..." if len(s.lost_ops) > 3 else "")
        problems.append(f"{s.writes_lost} of {s.writes} writes lost ({shown})")
    if s.spurious:
        problems.append(f"{s.spurious} removed or unwritten items shown")
    if s.missed_conflicts:
        problems.append(f"{s.missed_conflicts} conflicts silently decided")
    if s.false_escalations:
        problems.append(f"{s.false_escalations} false escalations")
    if not problems:
        problems.extend(f"expectation: {failure}" for failure in result.failures)
    return problems


@cache
def _scenario(name_or_path: str) -> Scenario:
    return load_scenario(name_or_path)


def run_case(case: SweepCase) -> SeedResult:
    """Run one seed and judge it; a run that raises is a failure, not a crashed sweep."""
    try:
        scenario = _scenario(case.scenario)
        result = run_scenario(
            scenario,
            RunConfig(case.strategy, replicas=case.replicas, seed=case.seed, jitter=case.jitter),
        )
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return SeedResult(
            case,
            case.scenario,
            [f"raised {type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"],
        )
    net = result.network
    return SeedResult(
        case,
        result.scenario,
        violations(result),
        notes=list(result.score.notes),
        row=result.row(),
        faults={
            "dropped": net.dropped,
            "duplicated": net.duplicated,
            "reordered": net.reordered,
            "overflowed": net.overflowed,
            "undeliverable": net.undeliverable,
        },
        spurious=result.score.spurious,
    )


def make_cases(
    scenarios: Sequence[str],
    *,
    strategy: str = "crdt",
    seeds: int = 500,
    first_seed: int = 0,
    replicas: int | None = 8,
    jitter: bool = True,
) -> list[SweepCase]:
    """Every seed of every scenario, scenario by scenario."""
    return [
        SweepCase(scenario, strategy, seed, replicas, jitter)
        for scenario in scenarios
        for seed in range(first_seed, first_seed + seeds)
    ]


def _worker_init() -> None:
    # a worker is a fresh interpreter: quiet the simulator's events as the parent did
    configure_logging(show=False)


def run_sweep(
    cases: Sequence[SweepCase],
    *,
    jobs: int = 1,
    on_result: Callable[[SeedResult], None] | None = None,
) -> list[SeedResult]:
    """Run every case (in `jobs` worker processes if > 1); results in case order.

    A seed reproduces the same run in any process (the virtual clock, the Trio scheduler
    and every random choice are seeded from it), so the worker count changes nothing but
    the wall time.
    """
    results: dict[SweepCase, SeedResult] = {}

    def done(result: SeedResult) -> None:
        results[result.case] = result
        if on_result is not None:
            on_result(result)

    if jobs <= 1 or len(cases) <= 1:
        for case in cases:
            done(run_case(case))
    else:
        # spawn, not fork: the parent runs rich's refresh thread, and forking a threaded
        # process can deadlock the child
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init) as pool:
            futures: list[Future[SeedResult]] = [pool.submit(run_case, c) for c in cases]
            try:
                for future in as_completed(futures):
                    done(future.result())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return [results[case] for case in cases]


# -- report ------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(results: Iterable[SeedResult]) -> list[dict[str, Any]]:
    """Per scenario (in first-seen order): runs, failures and what the runs add up to."""
    groups: dict[str, list[SeedResult]] = {}
    for r in results:
        groups.setdefault(r.scenario, []).append(r)
    out: list[dict[str, Any]] = []
    for scenario, runs in groups.items():
        rows = [r.row for r in runs if r.row is not None]
        conv = [row["convergence_ms"] for row in rows if row["convergence_ms"] is not None]

        def total(key: str, rows: list[dict[str, Any]] = rows) -> int:
            return sum(int(row[key]) for row in rows)

        def faults(key: str, runs: list[SeedResult] = runs) -> int:
            return sum(r.faults.get(key, 0) for r in runs)

        out.append(
            {
                "scenario": scenario,
                "runs": len(runs),
                "passed": sum(r.passed for r in runs),
                "failed": sum(not r.passed for r in runs),
                "raised": sum(r.row is None for r in runs),
                "converged": sum(bool(row["converged"]) for row in rows),
                "writes": total("writes"),
                "writes_lost": total("writes_lost"),
                "spurious": sum(r.spurious for r in runs),
                "conflicts_expected": total("conflicts_expected"),
                "escalations": total("escalations"),
                "missed_conflicts": total("missed_conflicts"),
                "false_escalations": total("false_escalations"),
                "convergence_ms": {
                    "p50": _percentile(conv, 0.50),
                    "p99": _percentile(conv, 0.99),
                    "max": max(conv, default=None),
                },
                "messages": total("messages"),
                "dropped": faults("dropped"),
                "duplicated": faults("duplicated"),
                "reordered": faults("reordered"),
                "overflowed": faults("overflowed"),
                "undeliverable": faults("undeliverable"),
                "run_wall_s": round(sum(float(row["wall_ms"]) for row in rows) / 1000, 2),
            }
        )
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def summary_table(summary: list[dict[str, Any]], *, strategy: str) -> Table:
    table = Table(
        title=f"fault sweep: {strategy}", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )
    columns: list[tuple[str, JustifyMethod]] = [
        ("scenario", "left"),
        ("seeds", "right"),
        ("failed", "right"),
        ("converged", "right"),
        ("lost/writes", "right"),
        ("spurious", "right"),
        ("conflicts e/s/m/f", "center"),
        ("conv ms p50/p99/max", "right"),
        ("dropped/dup/reord", "right"),
        ("overflow/down", "right"),
        ("run s", "right"),
    ]
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for s in summary:
        failed = f"[bold red]{s['failed']}[/]" if s["failed"] else "[green]0[/]"
        lost = f"[red]{s['writes_lost']}[/]" if s["writes_lost"] else "0"
        conv = s["convergence_ms"]
        table.add_row(
            s["scenario"],
            str(s["runs"]),
            failed,
            f"{s['converged']}/{s['runs']}",
            f"{lost}/{s['writes']:,}",
            str(s["spurious"]),
            f"{s['conflicts_expected']}/{s['escalations']}/"
            f"{s['missed_conflicts']}/{s['false_escalations']}",
            f"{_fmt(conv['p50'])}/{_fmt(conv['p99'])}/{_fmt(conv['max'])}",
            f"{s['dropped']:,}/{s['duplicated']:,}/{s['reordered']:,}",
            f"{s['overflowed']:,}/{s['undeliverable']:,}",
            f"{s['run_wall_s']:.1f}",
        )
    return table


LEGEND = (
    "A seed passes when, after every fault healed, all replicas show the same state, no"
    " write is lost, nothing removed comes back, and escalations match the true conflicts"
    " exactly. conflicts e/s/m/f: expected / escalated / missed / false. conv ms: simulated"
    " time from the last write until every replica agreed. dropped/dup/reord and"
    " overflow/down: messages the network dropped (loss or partition), duplicated, held"
    " back, refused at a full mailbox, or sent to a crashed replica. run s: wall time of the"
    " runs themselves, summed over workers."
)


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sweep.py",
        description="Run many seeds of the fault scenarios and check every run (issue 8).",
    )
    parser.add_argument(
        "--seeds", type=int, default=500, metavar="N", help="seeds per scenario (default 500)"
    )
    parser.add_argument(
        "--first-seed", type=int, default=0, metavar="N", help="first seed (default 0)"
    )
    parser.add_argument(
        "--replicas", type=int, default=8, metavar="N", help="replicas per run (default 8)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: one per CPU)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME_OR_PATH",
        help=f"scenario (repeatable; default: {', '.join(DEFAULT_SCENARIOS)})",
    )
    parser.add_argument(
        "--strategy",
        default="crdt",
        choices=STRATEGIES,
        help="strategy under test (default crdt; lww shows what failing looks like)",
    )
    parser.add_argument(
        "--no-jitter",
        dest="jitter",
        action="store_false",
        help="no random spread on gossip intervals and delays (default: jitter on)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every run as JSON")
    args = parser.parse_args(argv)
    for name in ("seeds", "replicas", "jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.first_seed < 0:
        parser.error("--first-seed must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or captured: keep the table and commands whole
    saved = structlog.get_config()
    configure_logging(show=False)
    try:
        return _run(args, console)
    finally:
        structlog.configure(**saved)


def _run(args: argparse.Namespace, console: Console) -> int:
    names: list[str] = list(dict.fromkeys(args.scenario or DEFAULT_SCENARIOS))
    try:
        for name in names:
            _scenario(name)
    except ScenarioError as exc:
        console.print(f"[bold red]scenario error:[/] {escape(str(exc))}")
        return 2
    cases = make_cases(
        names,
        strategy=args.strategy,
        seeds=args.seeds,
        first_seed=args.first_seed,
        replicas=args.replicas,
        jitter=args.jitter,
    )
    jobs = min(args.jobs, len(cases))
    console.print(
        f"sweeping {len(names)} scenarios x {args.seeds} seeds ({len(cases)} runs) with"
        f" {args.strategy}, {args.replicas} replicas, {jobs} jobs"
    )
    failures: list[SeedResult] = []
    started = time.perf_counter()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("sweep", total=len(cases), failed=0)

        def report(result: SeedResult) -> None:
            if not result.passed:
                failures.append(result)
                _print_failure(progress.console, result)
            progress.update(task, advance=1, failed=len(failures))

        results = run_sweep(cases, jobs=jobs, on_result=report)
    elapsed = time.perf_counter() - started
    summary = summarize(results)
    console.print(summary_table(summary, strategy=args.strategy))
    console.print(LEGEND)
    if failures:
        console.print(f"[bold red]{len(failures)} of {len(results)} seeds FAILED[/]; reproduce:")
        for r in sorted(failures, key=lambda r: (r.scenario, r.case.seed)):
            console.print(f"  {escape(r.case.command())}", soft_wrap=True)
    else:
        console.print(f"[green]all {len(results)} seeds passed[/]")
    console.print(f"{len(results)} runs in {elapsed:.1f} s wall ({jobs} jobs)")
    if args.json:
        payload = {
            "config": {
                "strategy": args.strategy,
                "scenarios": names,
                "seeds": args.seeds,
                "first_seed": args.first_seed,
                "replicas": args.replicas,
                "jitter": args.jitter,
                "jobs": jobs,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            "elapsed_s": round(elapsed, 2),
            "passed": not failures,
            "summary": summary,
            "failures": [r.record() for r in failures],
            "runs": [r.record() for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if failures else 0


def _print_failure(console: Console, result: SeedResult) -> None:
    console.print(
        f"[bold red]FAIL[/] {escape(result.scenario)} seed {result.case.seed}:"
        f" {escape('; '.join(result.problems))}",
        soft_wrap=True,
    )
    for note in result.notes[:3]:
        console.print(f"    {escape(note)}", soft_wrap=True)
    console.print(f"    reproduce: {escape(result.case.command())}", soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())
