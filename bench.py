#!/usr/bin/env python
"""Run gossip scenarios through every merge strategy and compare what each ends with.

    python bench.py --replicas 8 --jitter

Every scenario runs on a simulated network (virtual clock unless --realtime) once per
strategy, with the same seed, agents and schedule. The checker derives ground truth from
the delivery history and scores each run. PASS means the strategy met its expectation
for that scenario; the outcome column says *how*: three PASSes are not the same result.
The default table fits 120 columns; --wide adds the network columns, --json keeps all.
The model behind transactional and crdt+resolver is an offline stand-in with a modelled
latency, or Claude (AnthropicResolver) when ANTHROPIC_API_KEY is set.
Exit status: 0 if every run passed, 1 if any run failed (or crashed), 2 on bad arguments
(output paths are checked before anything runs).
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
from agentsync import AnthropicResolver, _accel
from agentsync._errors import AgentSyncError, ScenarioError
from agentsync._resolvers import Resolver
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

STRATEGY_COLOUR = {
    "lww": "#d62728",
    "transactional": "#9467bd",
    "crdt": "#1f77b4",
    "crdt+resolver": "#2ca02c",
}
"""One colour per strategy, the same in every panel of the plot."""

PLOT_FORMATS = (".png", ".svg", ".pdf")

OUTCOME_MEANING = {
    "auto_merged": "nothing to resolve, nothing lost",
    "escalated": "genuine conflicts flagged for a consumer, nothing lost",
    "resolved": "a model decided the conflicts (model calls counted)",
    "corrupted": "a write was dropped or a conflict silently picked",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description=(
            "Compare lww, transactional, crdt and crdt+resolver on simulated gossip scenarios."
        ),
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
        "--plot",
        type=Path,
        metavar="PATH",
        help="draw lost writes, conflicts, model calls, time to a usable value (.png .svg .pdf)",
    )
    parser.add_argument("--wide", action="store_true", help="every column (needs ~175 columns)")
    parser.add_argument(
        "--markdown", action="store_true", help="print the table as Markdown (the README's)"
    )
    parser.add_argument("--realtime", action="store_true", help="real sleeps, not virtual time")
    parser.add_argument("--log", action="store_true", help="show simulator events")
    args = parser.parse_args(argv)
    if args.replicas is not None and args.replicas < 1:
        parser.error("--replicas must be at least 1")
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        problem = None if path is None else output_problem(path)
        if problem:
            parser.error(f"{flag} {path}: {problem}")
    if args.plot is not None and args.plot.suffix.lower() not in PLOT_FORMATS:
        parser.error(
            f"--plot {args.plot}: the file name must end in {', '.join(PLOT_FORMATS)}"
            " (the format follows the extension)"
        )
    return args


def output_problem(path: Path) -> str | None:
    """Why `path` cannot be written, checked before the run (None: it can)."""
    if path.is_dir():
        return "is a directory"
    parent = path.parent
    if not parent.exists():
        return f"directory {parent} does not exist"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if path.exists() and not os.access(path, os.W_OK):
        return "exists and is not writable"
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        return f"directory {parent} is not writable"
    return None


def model_resolver() -> tuple[Resolver | None, str]:
    """The model behind transactional and crdt+resolver, and how to name it.

    Claude (`AnthropicResolver`, a sync client: the simulation charges the wall time each
    call took) when ANTHROPIC_API_KEY is set, else None: the strategies' offline stand-in
    with the scenario's modelled latency.
    """
    if not os.environ.get("ANTHROPIC_API_KEY", "").strip():
        return None, "offline stand-in, modelled latency"
    resolver = AnthropicResolver()
    return resolver, f"Claude {resolver.model} (AnthropicResolver)"


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


def _usable(r: RunResult, *, markup: bool = True) -> str:
    usable = r.row()["usable_after_ms"]  # rounded as in the JSON, like every time shown
    if usable is not None:
        return _fmt(usable)
    word = "open" if r.converged else "never"
    if not markup:
        return word
    return f"[yellow]{word}[/]" if r.converged else f"[red]{word}[/]"


def results_table(results: list[RunResult], *, wide: bool = False) -> Table:
    """The results, one row per run; `wide` adds the network columns (~175 columns)."""
    table = Table(
        title="agentsync gossip benchmark", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )
    columns: list[tuple[str, JustifyMethod, bool]] = [
        ("scenario", "left", True),
        ("strategy", "left", True),
        ("verdict", "center", True),
        ("outcome", "left", True),
        ("lost", "right", True),
        ("conflicts", "center", True),
        ("calls", "right", True),
        ("usable ms", "right", True),
        ("conv ms", "right", True),
        ("rounds", "right", wide),
        ("msg/w", "right", True),
        ("KB (x min)", "right", wide),
        ("p50/max ms", "right", wide),
        ("attrib", "center", wide),
        ("wall ms", "right", wide),
    ]
    shown = [(name, justify) for name, justify, show in columns if show]
    for name, justify in shown:
        table.add_column(name, justify=justify, no_wrap=True)
    previous = None
    for r in results:
        row = r.row()
        s = r.score
        lat = row["stable_latency_ms"]
        style = OUTCOME_STYLE.get(s.outcome, "")
        lost = f"[red]{s.writes_lost}[/]" if s.writes_lost else "0"
        cells = {
            "scenario": r.scenario if r.scenario != previous else "",
            "strategy": r.strategy,
            "verdict": "[green]PASS[/]" if r.verdict == "PASS" else "[bold red]FAIL[/]",
            "outcome": f"[{style}]{s.outcome}[/]",
            "lost": f"{lost}/{r.writes}",
            "conflicts": (
                f"{s.conflicts_expected}/{s.escalations}/{s.resolved}/"
                f"{s.missed_conflicts}/{s.false_escalations}"
            ),
            "calls": str(r.model_calls),
            "usable ms": _usable(r),
            "conv ms": _fmt(row["convergence_ms"]) if r.converged else "[red]never[/]",
            "rounds": _fmt(row["rounds"], 1),
            "msg/w": _fmt(row["msgs_per_write"], 1),
            "KB (x min)": f"{_fmt(r.bytes / 1024, 1)} ({_fmt(r.bytes_ratio, 2)})",
            "p50/max ms": f"{_fmt(lat['p50'])}/{_fmt(lat['max'])}",
            "attrib": "yes" if s.attribution_complete else "[yellow]no[/]",
            "wall ms": _fmt(r.wall_ms),
        }
        table.add_row(*(cells[name] for name, _ in shown))
        previous = r.scenario
    return table


def markdown_table(results: list[RunResult]) -> str:
    """The README's table: the default columns, outcomes in bold."""
    header = (
        "| scenario | strategy | verdict | outcome | writes lost | conflicts expected / escalated"
        " / resolved / missed / false | model calls | usable after (ms) | converged after (ms)"
        " | msgs/write |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r.score
        row = r.row()
        cells = [
            r.scenario,
            r.strategy,
            r.verdict,
            f"**{s.outcome}**",
            f"{s.writes_lost}/{r.writes}",
            f"{s.conflicts_expected}/{s.escalations}/{s.resolved}/{s.missed_conflicts}"
            f"/{s.false_escalations}",
            str(r.model_calls),
            _usable(r, markup=False),
            _fmt(row["convergence_ms"]) if r.converged else "never",
            _fmt(row["msgs_per_write"], 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def legend(*, realtime: bool = False, wide: bool = False) -> str:
    lines = [
        "PASS: the strategy met its expectation for the scenario. The outcome says how:",
    ]
    for outcome, meaning in OUTCOME_MEANING.items():
        lines.append(f"  [{OUTCOME_STYLE[outcome]}]{outcome}[/]: {meaning}")
    lines += [
        "lost: writes lost / writes. calls: model calls. msg/w: messages per write.",
        "conflicts: expected / escalated / resolved by a model / missed / false escalations.",
        "usable ms: from the last conflicting write until every replica reads the same decided"
        " value in every field",
        "  (open: a conflict still waits for a consumer). conv ms: from the last write until"
        " every replica shows one state.",
    ]
    if wide:
        lines += [
            "rounds: conv ms in gossip intervals. p50/max: time until every replica has a write."
            " attrib: every surviving write attributed to its agent.",
            "x min: bytes sent over the minimum (each write's delta once to every other replica,"
            " plus digests).",
        ]
    if realtime:
        times = "Times are real time (--realtime: real sleeps on the wall clock)."
    else:
        times = "Times are simulated (virtual clock) except wall ms."
    lines.append(times if wide else f"{times} --wide: every column; --json: every figure.")
    return "\n".join(lines)


def plot_title(args: argparse.Namespace, results: list[RunResult]) -> str:
    scenarios = len(dict.fromkeys(r.scenario for r in results))
    strategies = ", ".join(dict.fromkeys(r.strategy for r in results))
    replicas = sorted({r.replicas for r in results})
    count = str(replicas[0]) if len(replicas) == 1 else f"{replicas[0]}-{replicas[-1]}"
    jitter = ", jitter" if args.jitter else ""
    time_kind = "real time" if args.realtime else "simulated time"
    return (
        f"agentsync gossip benchmark: {scenarios} scenarios x ({strategies}),"
        f" {count} replicas, seed {args.seed}{jitter}, {time_kind}"
    )


def plot(results: list[RunResult], path: Path, title: str) -> None:
    """Small multiples: one row per scenario, one bar per strategy, one panel per figure
    of merit (writes lost, conflicts, model calls, time to a usable value). Panels with
    nothing to show in these runs are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    scenarios = list(dict.fromkeys(r.scenario for r in results))
    strategies = list(dict.fromkeys(r.strategy for r in results))
    by_run = {(r.scenario, r.strategy): r for r in results}
    height = 0.8 / len(strategies)

    def y(scenario_index: int, strategy_index: int) -> float:
        # scenarios top to bottom, strategies in legend order inside each group
        return -scenario_index + 0.4 - height * (strategy_index + 0.5)

    panels: list[str] = ["lost"]
    if any(r.score.conflicts_expected or r.score.escalations for r in results):
        panels.append("conflicts")
    if any(r.model_calls for r in results):
        panels.append("calls")
    panels.append("usable")
    titles = {
        "lost": "writes lost (% of writes)",
        "conflicts": "genuine conflicts: resolved / escalated / missed",
        "calls": "model calls",
        "usable": "time to a usable value (ms)",
    }
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(4.2 * len(panels), 1.2 + 0.75 * len(scenarios) * max(1, len(strategies) / 3)),
        sharey=True,
        squeeze=False,
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        ax.set_title(titles[panel], fontsize=11)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        top = 0.0
        for si, scenario in enumerate(scenarios):
            for ki, strategy in enumerate(strategies):
                r = by_run.get((scenario, strategy))
                if r is None:
                    continue
                colour = STRATEGY_COLOUR.get(strategy, "grey")
                at = y(si, ki)
                s = r.score
                if panel == "lost":
                    value = 100 * s.writes_lost / r.writes if r.writes else 0.0
                    ax.barh(at, value, height, color=colour)
                    label = f"{s.writes_lost}/{r.writes}" if s.writes_lost else "0"
                    ax.text(value, at, f" {label}", va="center", fontsize=7)
                    top = max(top, value)
                elif panel == "conflicts":
                    left = 0.0
                    for count, style in (
                        (s.resolved, {"color": colour}),
                        (s.escalations, {"color": "white", "edgecolor": colour, "hatch": "///"}),
                        (s.missed_conflicts, {"color": "black"}),
                    ):
                        if count:
                            ax.barh(at, count, height, left=left, **style)  # type: ignore[arg-type]
                            left += count
                    if not any(
                        o.score.conflicts_expected or o.score.escalations
                        for o in results
                        if o.scenario == scenario
                    ):
                        if ki == 0:
                            ax.text(0, -si, " no conflicts", va="center", fontsize=8, color="grey")
                    elif s.conflicts_expected or left:
                        parts = [
                            f"{n} {what}"
                            for n, what in (
                                (s.resolved, "resolved"),
                                (s.escalations, "escalated"),
                                (s.missed_conflicts, "missed"),
                            )
                            if n
                        ]
                        ax.text(left, at, " " + ", ".join(parts), va="center", fontsize=7)
                    top = max(top, left)
                elif panel == "calls":
                    ax.barh(at, r.model_calls, height, color=colour)
                    ax.text(r.model_calls, at, f" {r.model_calls}", va="center", fontsize=7)
                    top = max(top, r.model_calls)
                else:
                    usable = r.row()["usable_after_ms"]
                    if usable is None:
                        word = "open: waits for a consumer" if r.converged else "never converged"
                        ax.text(0, at, f" {word}", va="center", fontsize=7, color=colour)
                        continue
                    ax.barh(at, usable, height, color=colour)
                    ax.text(usable, at, f" {_fmt(usable)}", va="center", fontsize=7)
                    top = max(top, usable)
        ax.set_xlim(0, 100 if panel == "lost" else (top * 1.45 if top else 1))
        if panel in ("conflicts", "calls"):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    first = axes[0][0]
    first.set_yticks([-i for i in range(len(scenarios))], scenarios)
    first.set_ylim(-len(scenarios) + 0.5, 0.5)
    for i in range(1, len(scenarios)):
        for ax in axes[0]:
            ax.axhline(-i + 0.5, color="grey", lw=0.5, alpha=0.5)
    handles = [Patch(color=STRATEGY_COLOUR.get(name, "grey"), label=name) for name in strategies]
    if "conflicts" in panels:
        handles += [
            Patch(facecolor="white", edgecolor="grey", hatch="///", label="escalated (open)"),
            Patch(color="black", label="missed (silently decided)"),
        ]
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=len(handles),
        frameon=False,
        bbox_to_anchor=(0.5, 0.955),
        fontsize=9,
    )
    fig.suptitle(title, fontsize=12, y=0.995)
    fig.tight_layout(rect=(0, 0, 1, 0.91))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        # piped or captured: as wide as a 120-column terminal, or the whole wide table
        console = Console(width=200 if args.wide else 120)
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
    try:
        resolver, model = model_resolver()
    except AgentSyncError as exc:
        console.print(f"[bold red]model error:[/] {exc}")
        return 2
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
                options={} if resolver is None else {"resolver": resolver},
            )
            try:
                results.append(run_scenario(scenario, config))
            except Exception as exc:  # a strategy blew up: report it, keep benchmarking
                crashed.append(f"{scenario.name} / {strategy}: {type(exc).__name__}: {exc}")
            progress.advance(task)
    elapsed = time.perf_counter() - started
    if results and args.markdown:
        console.print(markdown_table(results), markup=False, highlight=False, soft_wrap=True)
    elif results:
        console.print(results_table(results, wide=args.wide))
        console.print(legend(realtime=args.realtime, wide=args.wide))
    for r in results:
        if r.failures:
            console.print(f"[bold red]FAIL[/] {r.scenario} / {r.strategy}: {'; '.join(r.failures)}")
            for note in r.score.notes[:5]:
                console.print(f"    {note}")
    for line in crashed:
        console.print(f"[bold red]ERROR[/] {line}")
    build = _accel.build_name()
    console.print(
        f"{len(results)} runs in {elapsed:.1f} s wall (agentsync build: {build}; model: {model})"
    )
    if args.json:
        payload = {
            "config": {
                "replicas": args.replicas,
                "jitter": args.jitter,
                "seed": args.seed,
                "scenarios": [s.name for s in scenarios],
                "strategies": strategies,
                "realtime": args.realtime,
                "model": model,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            "results": [r.row() for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    if args.plot and results:
        plot(results, args.plot, plot_title(args, results))
    failed = crashed or any(r.verdict == "FAIL" for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
