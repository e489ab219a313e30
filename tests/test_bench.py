"""bench.py end to end, small: flags, table, JSON rows, plot and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench
from actors.harness import ROW_KEYS

SCENARIO = """
name = "tiny"
replicas = 3

[workload]
keys = 1
writes_per_agent = 2
duration_ms = 200

[[workload.fields]]
path = "tags"
kind = "set"

[workload.mix]
set_add = 1

[expect.lww]
{expect}
"""


def tiny(tmp_path: Path, expect: str = "converged = true") -> str:
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO.format(expect=expect))
    return str(path)


def test_a_small_run_prints_the_table_and_writes_json_and_a_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    code = bench.main(
        [
            "--scenario", tiny(tmp_path),
            "--scenario", "semantic_conflict",
            "--strategy", "lww",
            "--replicas", "4",
            "--jitter",
            "--seed", "1",
            "--json", str(out),
            "--plot", str(png),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "outcome" in printed and "corrupted" in printed and "PASS" in printed
    data = json.loads(out.read_text())
    assert data["config"]["replicas"] == 4 and data["config"]["seed"] == 1
    assert data["config"]["strategies"] == ["lww"]
    rows = data["results"]
    assert [(r["scenario"], r["strategy"]) for r in rows] == [
        ("tiny", "lww"),
        ("semantic_conflict", "lww"),
    ]
    for row in rows:
        assert tuple(row) == ROW_KEYS
        assert row["replicas"] == 4
        assert row["verdict"] in ("PASS", "FAIL")
        assert row["outcome"] in ("auto_merged", "corrupted", "resolved", "escalated")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_that_misses_its_expectation_fails_the_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tiny(tmp_path, "outcomes = ['escalated']")
    assert bench.main(["--scenario", scenario, "--strategy", "lww"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_bad_scenarios_and_flags_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--scenario", "no_such_scenario"]) == 2
    assert "no scenario" in capsys.readouterr().out
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[workload]\nwrites_per_agent = "two"\n')
    assert bench.main(["--scenario", str(broken)]) == 2
    assert "$.workload.writes_per_agent" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--strategy", "paxos"])
    assert exit_info.value.code == 2


def test_the_default_set_is_every_bundled_scenario_but_glomers() -> None:
    names = bench.default_scenarios()
    assert names[:2] == ["clean_merge", "semantic_conflict"]
    assert "glomers" not in names
    assert {"mixed", "hot_key", "partition_heal", "lossy_network", "crash_restart"} <= set(names)
