#!/usr/bin/env python
"""Run gossip scenarios through every merge strategy and compare what each ends with.

    python bench.py --replicas 8 --jitter

Every scenario runs on a simulated network (virtual clock unless --realtime) once per
strategy, with the same seed, agents and schedule. The checker derives ground truth from
the delivery history and scores each run. PASS means the strategy met its expectation
for that scenario; the outcome column says *how*: three PASSes are not the same result.
Exit status: 0 if every run passed, 1 if any run failed (or crashed), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import structlog
from rich import box
from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from actors.harness import RunConfig, RunResult, run_scenario
from actors.scenario import Scenario, available_scenarios, load_scenario
from agentsync import _accel
from agentsync._errors import ScenarioError
from agentsync._strategies import STRATEGIES

DEFAULT_ORDER = (
    "clean_merge",
    "semantic_conflict",
    "mixed",
    "hot_key",
    "partition_heal",
    "lossy_network",
    "crash_restart",
)

OUTCOME_STYLE = {
    "auto_merged": "green",
    "escalated": "yellow",
    "resolved": "cyan",
    "corrupted": "bold red",
}

OUTCOME_MEANING = {
    "auto_merged": "nothing to resolve, nothing lost",
    "escalated": "genuine conflicts flagged for a consumer, nothing lost",
    "resolved": "a model decided the conflicts (model calls counted)",
    "corrupted": "a write was dropped or a conflict silently picked",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description="Compare lww, transactional and crdt on simulated gossip scenarios.",
    )
    parser.add_argument(
        "--replicas", type=int, metavar="N", help="replicas per scenario (default: its own)"
    )
    parser.add_argument(
        "--jitter", action="store_true", help="random spread on gossip intervals and delays"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed (default 0)")
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME_OR_PATH",
        help="scenario name or TOML path (repeatable; default: the default set)",
    )
    parser.add_argument(
        "--strategy",
        action="append",
        choices=STRATEGIES,
        metavar="NAME",
        help=f"strategy (repeatable; default: all of {', '.join(STRATEGIES)})",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write results as JSON")
    parser.add_argument(
        "--plot", type=Path, metavar="PATH", help="write a PNG of convergence over time"
    )
    parser.add_argument("--realtime", action="store_true", help="real sleeps, not virtual time")
    parser.add_argument("--log", action="store_true", help="show simulator events")
    args = parser.parse_args(argv)
    if args.replicas is not None and args.replicas < 1:
        parser.error("--replicas must be at least 1")
    return args


def configure_logging(show: bool) -> None:
    level = logging.DEBUG if show else logging.WARNING
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S.%f"),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def default_scenarios() -> list[str]:
    names = available_scenarios()
    chosen = [n for n in DEFAULT_ORDER if n in names]
    chosen += [n for n in names if n not in chosen]
    return [n for n in chosen if load_scenario(n).default]


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def results_table(results: list[RunResult]) -> Table:
    table = Table(
        title="agentsync gossip benchmark", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )
    columns: list[tuple[str, JustifyMethod]] = [
        ("scenario", "left"),
        ("strategy", "left"),
        ("verdict", "center"),
        ("outcome", "left"),
        ("conv ms", "right"),
        ("rounds", "right"),
        ("msg/w", "right"),
        ("KB (x min)", "right"),
        ("p50/max ms", "right"),
        ("lost/writes", "right"),
        ("conflicts e/s/r/m/f", "center"),
        ("attrib", "center"),
        ("calls", "right"),
        ("wall ms", "right"),
    ]
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    previous = None
    for r in results:
        row = r.row()
        s = r.score
        lat = row["stable_latency_ms"]
        verdict = "[green]PASS[/]" if r.verdict == "PASS" else "[bold red]FAIL[/]"
        style = OUTCOME_STYLE.get(s.outcome, "")
        lost = f"[red]{s.writes_lost}[/]" if s.writes_lost else "0"
        conflicts = (
            f"{s.conflicts_expected}/{s.escalations}/{s.resolved}/"
            f"{s.missed_conflicts}/{s.false_escalations}"
        )
        table.add_row(
            r.scenario if r.scenario != previous else "",
            r.strategy,
            verdict,
            f"[{style}]{s.outcome}[/]",
            _fmt(row["convergence_ms"]) if r.converged else "[red]never[/]",
            _fmt(row["rounds"], 1),
            _fmt(row["msgs_per_write"], 1),
            f"{_fmt(r.bytes / 1024, 1)} ({_fmt(r.bytes_ratio, 2)})",
            f"{_fmt(lat['p50'])}/{_fmt(lat['max'])}",
            f"{lost}/{r.writes}",
            conflicts,
            "yes" if s.attribution_complete else "[yellow]no[/]",
            str(r.model_calls),
            _fmt(r.wall_ms),
        )
        previous = r.scenario
    return table


def legend() -> str:
    lines = [
        "PASS: the strategy met its expectation for the scenario. The outcome says how:",
    ]
    for outcome, meaning in OUTCOME_MEANING.items():
        lines.append(f"  [{OUTCOME_STYLE[outcome]}]{outcome}[/]: {meaning}")
    lines.append(
        "conflicts e/s/r/m/f: expected / escalated / resolved by a model / missed / false"
        " escalations. attrib: every surviving write attributed to its agent. x min: bytes"
        " sent over the minimum (each write's delta once to every other replica, plus digests)."
    )
    lines.append(
        "Times are simulated (virtual clock) except wall ms; conv ms counts from the last"
        " write; rounds are gossip intervals; p50/max: time until every replica has a write."
    )
    return "\n".join(lines)


def plot(results: list[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(r.scenario for r in results))
    cols = min(3, len(scenarios))
    rows = (len(scenarios) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        for r in results:
            if r.scenario != scenario or not r.timeline:
                continue
            xs = [t for t, _ in r.timeline]
            ys = [c * 100 for _, c in r.timeline]
            ax.plot(xs, ys, label=f"{r.strategy} ({r.score.outcome})")
        ax.set_title(scenario)
        ax.set_xlabel("simulated s")
        ax.set_ylabel("writes delivered %")
        ax.set_ylim(0, 105)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or captured: do not squeeze the table to 80
    saved = structlog.get_config()
    configure_logging(args.log)
    try:
        return _run(args, console)
    finally:
        structlog.configure(**saved)


def _run(args: argparse.Namespace, console: Console) -> int:
    try:
        names = args.scenario or default_scenarios()
        scenarios: list[Scenario] = [load_scenario(n) for n in names]
    except ScenarioError as exc:
        console.print(f"[bold red]scenario error:[/] {exc}")
        return 2
    strategies: list[str] = args.strategy or list(STRATEGIES)
    jobs = [(sc, st) for sc in scenarios for st in strategies]
    results: list[RunResult] = []
    crashed: list[str] = []
    started = time.perf_counter()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("running", total=len(jobs))
        for scenario, strategy in jobs:
            progress.update(task, description=f"{scenario.name} / {strategy}")
            config = RunConfig(
                strategy,
                replicas=args.replicas,
                seed=args.seed,
                jitter=args.jitter,
                realtime=args.realtime,
            )
            try:
                results.append(run_scenario(scenario, config))
            except Exception as exc:  # a strategy blew up: report it, keep benchmarking
                crashed.append(f"{scenario.name} / {strategy}: {type(exc).__name__}: {exc}")
            progress.advance(task)
    elapsed = time.perf_counter() - started
    if results:
        console.print(results_table(results))
        console.print(legend())
    for r in results:
        if r.failures:
            console.print(f"[bold red]FAIL[/] {r.scenario} / {r.strategy}: {'; '.join(r.failures)}")
            for note in r.score.notes[:5]:
                console.print(f"    {note}")
    for line in crashed:
        console.print(f"[bold red]ERROR[/] {line}")
    build = _accel.build_name()
    console.print(f"{len(results)} runs in {elapsed:.1f} s wall (agentsync build: {build})")
    if args.json:
        payload = {
            "config": {
                "replicas": args.replicas,
                "jitter": args.jitter,
                "seed": args.seed,
                "scenarios": [s.name for s in scenarios],
                "strategies": strategies,
                "realtime": args.realtime,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            "results": [r.row() for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot)
    failed = crashed or any(r.verdict == "FAIL" for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
