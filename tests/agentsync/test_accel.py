"""The compiled build (mypyc) is used only when current, and computes what plain Python does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import agentsync
from agentsync import _accel, _core

PACKAGE = Path(agentsync.__file__).parent
ROOT = PACKAGE.parent.parent


def _fake_package(tmp_path: Path, *, digests: dict[str, str], tag: str) -> list[str]:
    for name in _accel.COMPILED_MODULES:
        (tmp_path / f"{name}.py").write_text(f"# {name}\n")
    compiled = tmp_path / _accel.COMPILED_DIR
    compiled.mkdir()
    (compiled / _accel.MANIFEST).write_text(json.dumps({"tag": tag, "sources": digests}))
    return [str(tmp_path)]


def _current(tmp_path: Path) -> dict[str, str]:
    return {name: _accel.source_digest(tmp_path / f"{name}.py") for name in _accel.COMPILED_MODULES}


def test_a_current_build_goes_first_on_the_package_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_accel.PURE_ENV, raising=False)
    path = _fake_package(tmp_path, digests={}, tag=_accel.build_tag())
    manifest = tmp_path / _accel.COMPILED_DIR / _accel.MANIFEST
    manifest.write_text(json.dumps({"tag": _accel.build_tag(), "sources": _current(tmp_path)}))
    monkeypatch.setattr(_accel, "_enabled", set())
    assert _accel.enable(path) is True
    assert path == [str(tmp_path / _accel.COMPILED_DIR), str(tmp_path)]


def test_a_build_of_other_sources_is_refused_with_a_warning_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_accel.PURE_ENV, raising=False)
    path = _fake_package(tmp_path, digests={}, tag=_accel.build_tag())
    digests = _current(tmp_path)
    digests["_core"] = "0" * 64  # _core.py edited since the build
    manifest = tmp_path / _accel.COMPILED_DIR / _accel.MANIFEST
    manifest.write_text(json.dumps({"tag": _accel.build_tag(), "sources": digests}))
    with pytest.warns(_accel.StaleBuildWarning, match=r"stale \(_core\.py changed"):
        assert _accel.enable(path) is False
    assert path == [str(tmp_path)]


def test_a_build_for_another_interpreter_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_accel.PURE_ENV, raising=False)
    path = _fake_package(tmp_path, digests={}, tag="cpython-39-plan9")
    manifest = tmp_path / _accel.COMPILED_DIR / _accel.MANIFEST
    manifest.write_text(json.dumps({"tag": "cpython-39-plan9", "sources": _current(tmp_path)}))
    assert _accel.enable(path) is False
    assert path == [str(tmp_path)]


def test_an_unreadable_manifest_is_refused_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_accel.PURE_ENV, raising=False)
    path = _fake_package(tmp_path, digests={}, tag=_accel.build_tag())
    (tmp_path / _accel.COMPILED_DIR / _accel.MANIFEST).write_text("{not json")
    with pytest.warns(_accel.StaleBuildWarning, match="unreadable"):
        assert _accel.enable(path) is False
    assert path == [str(tmp_path)]


def test_the_environment_forces_plain_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _fake_package(tmp_path, digests={}, tag=_accel.build_tag())
    manifest = tmp_path / _accel.COMPILED_DIR / _accel.MANIFEST
    manifest.write_text(json.dumps({"tag": _accel.build_tag(), "sources": _current(tmp_path)}))
    monkeypatch.setenv(_accel.PURE_ENV, "1")
    assert _accel.enable(path) is False
    assert path == [str(tmp_path)]


def test_this_process_runs_the_build_the_repo_holds() -> None:
    """`make test` builds first: a present build must be the one running (a silent fallback
    would hide a broken build), and plain Python runs only without one or when forced."""
    present = (PACKAGE / _accel.COMPILED_DIR / _accel.MANIFEST).is_file()
    forced = bool(os.environ.get(_accel.PURE_ENV))
    compiled = not _core.__file__.endswith(".py")
    assert _accel.active() is compiled
    assert compiled is (present and not forced)
    if os.environ.get("CI") and not forced:
        assert compiled, "CI builds the compiled modules first (make test); none is running"


# A seeded multi-replica history through every write path: the same script under both
# builds must print the same values, conflicts, histories and counters.
_HISTORY = textwrap.dedent(
    """
    import json, logging, random, sys
    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from agentsync import _accel
    from agentsync._core import Core

    rng = random.Random(int(sys.argv[1]))
    cores = [Core(peer_id=p + 1) for p in range(3)]
    turns = [None, None, None]
    ns = ("team",)
    for step in range(400):
        r = rng.randrange(3)
        core = cores[r]
        action = rng.random()
        key = f"k{rng.randrange(3)}"
        if action < 0.15:
            turns[r] = core.begin_turn()  # a writer whose view gets older
        elif action < 0.25:
            other = cores[rng.randrange(3)]
            core.import_updates(other.export_updates(core.version()))
        elif action < 0.30:
            core.delete(ns, key, agent=f"a{r}", turn=turns[r], now=float(step))
        elif action < 0.35:
            open_ = core.escalations()
            if open_:
                core.resolve(open_[0], rng.choice(["x", "y", 3]), agent=f"a{r}", now=float(step))
        else:
            value = {
                "status": rng.choice(["todo", "doing", "done"]),
                "tags": rng.sample(["a", "b", "c", "d"], rng.randrange(4)),
                "meta": {"round": rng.randrange(3), "owner": f"a{r}"},
            }
            turn = turns[r] if rng.random() < 0.5 else None
            if turn is None:  # older views edit text on a fork with a random Loro peer
                value["notes"] = rng.choice(["plan the work", "plan the big work", "work"])
            core.put(ns, key, value, agent=f"a{r}", turn=turn, now=float(step))
    out = []
    for core in cores:
        out.append({
            "items": [
                [list(n), k, v.value, v.created_at, v.updated_at] for n, k, v in core.items()
            ],
            "escalations": [
                [e.key, e.field, sorted(c.op_id for c in e.contenders)] for e in core.escalations()
            ],
            "history": [[r.op_id, r.agent_id, r.action, list(r.fields)]
                        for k in ("k0", "k1", "k2") for r in core.history(ns, k)],
            "stats": core.stats(),
        })
    print(json.dumps({"compiled": _accel.active(), "replicas": out}, sort_keys=True))
    """
)


def _run_history(seed: int, *, pure: bool) -> dict[str, object]:
    env = dict(os.environ)
    env.pop(_accel.PURE_ENV, None)
    if pure:
        env[_accel.PURE_ENV] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _HISTORY, str(seed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_builds_compute_the_same_history(seed: int) -> None:
    pure = _run_history(seed, pure=True)
    current = _run_history(seed, pure=False)
    assert pure["compiled"] is False
    assert current["compiled"] is _accel.active() or bool(os.environ.get(_accel.PURE_ENV))
    assert current["replicas"] == pure["replicas"]
    # the history did reach the paths worth comparing
    replicas = pure["replicas"]
    assert isinstance(replicas, list)
    assert any(r["escalations"] for r in replicas)
    assert any(r["stats"]["resolutions"] for r in replicas)
