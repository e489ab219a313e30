"""sweep.py, the quick CI subset of the fault sweep (issue 8); the full sweep is
`python sweep.py` (500 seeds per scenario).

Every seed is a real simulator run judged by the checker. The subset must keep the same
promise as the full sweep, the faults must really happen, and a failing seed must come
with a command that replays exactly that run.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

import bench
import sweep

QUICK_SEEDS = 20


def sweep_json(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "sweep.json"
    code = sweep.main([*args, "--json", str(out)])
    return code, json.loads(out.read_text())


@pytest.mark.parametrize("scenario", sweep.DEFAULT_SCENARIOS)
def test_the_quick_sweep_converges_with_nothing_lost_and_no_conflict_misjudged(
    tmp_path: Path, scenario: str
) -> None:
    code, data = sweep_json(
        tmp_path, "--scenario", scenario, "--seeds", str(QUICK_SEEDS), "--jobs", "1"
    )
    assert code == 0, data["failures"]
    runs = data["runs"]
    assert [r["seed"] for r in runs] == list(range(QUICK_SEEDS))
    for run in runs:
        row = run["row"]
        assert run["passed"] and run["problems"] == []
        assert row["strategy"] == "crdt" and row["replicas"] == 8
        assert row["converged"] is True
        assert row["writes"] > 0
        assert row["writes_lost"] == 0 and run["spurious"] == 0
        assert row["missed_conflicts"] == 0 and row["false_escalations"] == 0
        assert row["escalations"] == row["conflicts_expected"]
    (summary,) = data["summary"]
    assert summary["converged"] == summary["runs"] == QUICK_SEEDS


def test_the_sweep_scenarios_really_inject_their_faults(tmp_path: Path) -> None:
    """A sweep that passes because nothing went wrong on the network proves nothing."""
    code, data = sweep_json(tmp_path, "--seeds", "4", "--jobs", "1")
    assert code == 0, data["failures"]
    summary = {s["scenario"]: s for s in data["summary"]}
    assert list(summary) == list(sweep.DEFAULT_SCENARIOS)
    lossy = summary["sweep_lossy"]
    assert lossy["dropped"] > 0.2 * lossy["messages"]  # 30% drop rate
    assert lossy["duplicated"] > 0 and lossy["reordered"] > 0
    assert lossy["conflicts_expected"] > 0  # so "no missed conflicts" is not vacuous
    assert summary["partition_heal"]["dropped"] > 0  # cut by the partition
    assert summary["crash_restart"]["undeliverable"] > 0  # sent to a crashed replica


def test_the_lossy_sweep_scenario_has_the_issue_8_fault_rates() -> None:
    from actors.scenario import load_scenario

    net = load_scenario("sweep_lossy").network
    assert (net.drop, net.duplicate) == (0.3, 0.1)
    assert net.reorder > 0
    assert not load_scenario("sweep_lossy").default  # not part of bench.py's default set


def test_a_failing_seed_is_reported_with_a_command_that_replays_that_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # lww drops concurrent writes for real: a genuine failure, judged by the checker
    code, data = sweep_json(
        tmp_path, "--scenario", "sweep_lossy", "--strategy", "lww", "--seeds", "2",
        "--first-seed", "5", "--jobs", "1",
    )  # fmt: skip
    assert code == 1
    printed = capsys.readouterr().out
    assert not data["passed"]
    failures = data["failures"]
    assert [f["seed"] for f in failures] == [5, 6]
    for failure in failures:
        command = failure["command"]
        assert command == (
            f"python bench.py --scenario sweep_lossy --strategy lww --seed {failure['seed']}"
            " --replicas 8 --jitter"
        )
        assert f"reproduce: {command}" in printed
        assert any(re.match(r"\d+ of \d+ writes lost", p) for p in failure["problems"])
    assert "2 of 2 seeds FAILED" in printed

    # the printed command, run through bench.py, is the same run
    failure = failures[0]
    argv = shlex.split(failure["command"])
    assert argv[:2] == ["python", "bench.py"]
    replay = tmp_path / "replay.json"
    bench.main([*argv[2:], "--json", str(replay)])
    (row,) = json.loads(replay.read_text())["results"]
    swept = failure["row"]
    for key in ("writes", "writes_lost", "messages", "bytes", "convergence_ms", "outcome"):
        assert row[key] == swept[key], key


def test_worker_processes_give_the_same_results_as_one_process(tmp_path: Path) -> None:
    args = ("--scenario", "crash_restart", "--seeds", "3", "--first-seed", "40")
    _, alone = sweep_json(tmp_path, *args, "--jobs", "1")
    _, pooled = sweep_json(tmp_path, *args, "--jobs", "2")
    assert pooled["config"]["jobs"] == 2

    def comparable(data: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [dict(r["row"]) for r in data["runs"]]
        for row in rows:
            del row["wall_ms"], row["peak_mem_kb"]  # the only machine-dependent keys
        return rows

    assert comparable(pooled) == comparable(alone)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--first-seed", "-1"], "--first-seed must be >= 0"),
    ],
)
def test_bad_arguments_exit_2_naming_the_flag(
    args: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        sweep.main(args)
    assert info.value.code == 2
    assert problem in capsys.readouterr().err


def test_an_unknown_scenario_exits_2_and_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert sweep.main(["--scenario", "no_such_scenario", "--seeds", "1"]) == 2
    assert "no scenario 'no_such_scenario'" in capsys.readouterr().out
