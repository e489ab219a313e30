from __future__ import annotations

from pathlib import Path

import pytest

from actors.scenario import available_scenarios, decode_scenario, load_scenario
from agentsync._errors import ScenarioError

REQUIRED = {
    "clean_merge",
    "semantic_conflict",
    "mixed",
    "hot_key",
    "partition_heal",
    "lossy_network",
    "crash_restart",
    "glomers",
}

MINIMAL = """
name = "t"
[workload]
writes_per_agent = 1
[[workload.fields]]
path = "tags"
kind = "set"
[workload.mix]
set_add = 1
"""


def test_every_required_scenario_is_bundled_and_valid() -> None:
    assert set(available_scenarios()) >= REQUIRED
    for name in available_scenarios():
        scenario = load_scenario(name)
        assert scenario.name == name


def test_glomers_matches_the_gossip_glomers_broadcast_setup() -> None:
    g = load_scenario("glomers")
    assert g.replicas == 25
    assert g.network.delay == "constant" and g.network.delay_ms == 100
    assert g.workload.total_rate == 100 and g.workload.duration_ms == 20_000
    assert not g.default  # too big for the default bench set


def test_a_minimal_scenario_takes_defaults() -> None:
    s = decode_scenario(MINIMAL)
    assert s.replicas == 8 and s.network.drop == 0.0 and s.gossip.fanout == 1
    assert s.field_kinds() == {("tags",): "set"}
    assert s.schema() == {("shared",): {"tags": "set"}}  # a set is never inferred from a list


def test_declared_fields_become_the_replicas_schema() -> None:
    s = load_scenario("clean_merge")
    assert s.schema() == {("team",): {"tags": "set", "meta.sources": "set", "visits": "counter"}}
    assert s.field_kinds()[("meta", "sources")] == "set"


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("[network]\ndorp = 0.1", r"unknown field `dorp`.*\$\.network"),
        ("[network]\ndrop = 'lots'", r"\$\.network\.drop"),
        ("[network]\ndrop = 1.5", r"\$\.network\.drop"),
        ("[gossip]\nfanout = 0", r"\$\.gossip\.fanout"),
        ("[network]\ndelay = 'gaussian'", r"\$\.network\.delay"),
        ("[[crashes]]\nreplica = 1", r"at_ms.*\$\.crashes\[0\]"),
        ("[expect.crdt]\noutcomes = ['fine']", r"'fine'.*\$\.expect\[\.\.\.\]\.outcomes\[0\]"),
    ],
)
def test_unknown_or_mistyped_fields_name_the_source_and_the_path(extra: str, where: str) -> None:
    with pytest.raises(ScenarioError, match=where) as info:
        decode_scenario(MINIMAL + extra, source="my.toml")
    assert str(info.value).startswith("my.toml: ")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            MINIMAL.replace("writes_per_agent = 1", "total_rate = 5.0\nwrites_per_agent = 1"),
            r"\$\.workload: set exactly one",
        ),
        (MINIMAL.replace("writes_per_agent = 1", ""), r"\$\.workload: set exactly one"),
        (MINIMAL.replace("set_add = 1", "register = 1"), r"\$\.workload\.mix\.register"),
        (MINIMAL.replace("set_add = 1", "set_add = 0"), r"\$\.workload\.mix: every weight"),
        (MINIMAL.replace("set_add = 1", "read = 1"), r"at least one action that writes"),
        (
            MINIMAL.replace('kind = "set"', 'kind = "register"\nvalues = ["a"]'),
            r"fields\[0\]\.values",
        ),
        (MINIMAL.replace('kind = "set"', 'kind = "counter"'), r"fields\[0\]\.declare"),
        (MINIMAL + "[[workload.fields]]\npath = 'tags.x'\nkind = 'set'", r"overlaps"),
        (MINIMAL + "[[partitions]]\nstart_ms = 5\nheal_ms = 5", r"partitions\[0\]\.heal_ms"),
        (
            MINIMAL + "[[crashes]]\nreplica = 0\nat_ms = 9\nrestart_ms = 1",
            r"crashes\[0\]\.restart_ms",
        ),
        (MINIMAL + "[expect.crdtt]\nconverged = true", r"\$\.expect\.crdtt: unknown strategy"),
        (MINIMAL + "[expect.lww]\nmin_writes_lost = 3\nmax_writes_lost = 1", r"min_writes_lost"),
    ],
)
def test_inconsistent_scenarios_are_refused_with_the_path(text: str, where: str) -> None:
    with pytest.raises(ScenarioError, match=where):
        decode_scenario(text)


def test_broken_toml_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="not valid TOML"):
        decode_scenario("name = [unclosed", source="x.toml")


def test_scenarios_load_by_path_and_unknown_names_list_the_bundled_ones(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text(MINIMAL.replace('name = "t"', 'name = "custom"'))
    assert load_scenario(path).name == "custom"
    assert load_scenario(str(path)).name == "custom"
    with pytest.raises(ScenarioError, match="clean_merge"):
        load_scenario("no_such_scenario")
