"""The compiled build (mypyc) is used only when current, and computes what plain Python does."""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import agentsync
from agentsync import _accel, _core

PACKAGE = Path(agentsync.__file__).parent
ROOT = PACKAGE.parent.parent


SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _fake_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, tag: str | None = None
) -> tuple[list[str], Path]:
    """An importable package `fakepkg` with a current-looking build of garbage binaries."""
    monkeypatch.delenv(_accel.PURE_ENV, raising=False)
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in (*_accel.COMPILED_MODULES, "_other"):
        (package / f"{name}.py").write_text(f"NAME = {name!r}\n")
    compiled = package / _accel.COMPILED_DIR
    compiled.mkdir()
    for name in _accel.COMPILED_MODULES:
        for part in ("", "__mypyc"):
            (compiled / f"{name}{part}{SUFFIX}").write_bytes(b"not a shared library")
    manifest = {"tag": tag or _accel.build_tag(), "sources": _accel.source_digests(package)}
    (compiled / _accel.MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "fakepkg" or m.startswith("fakepkg.")]:
        monkeypatch.delitem(sys.modules, name)
    import fakepkg  # type: ignore[import-not-found]

    path: list[str] = fakepkg.__path__
    return path, package


def test_a_build_that_does_not_load_is_refused_and_plain_python_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, package = _fake_package(tmp_path, monkeypatch)
    monkeypatch.setattr(_accel, "_enabled", set())
    with pytest.warns(_accel.StaleBuildWarning, match="cannot load the build"):
        assert _accel.enable(path, "fakepkg") is False
    assert path == [str(package)]
    assert not _accel.active()
    assert "fakepkg._values" not in sys.modules
    import fakepkg._values  # type: ignore[import-not-found]

    assert fakepkg._values.NAME == "_values"  # the source, not the broken binary


def test_a_build_of_other_sources_is_refused_with_a_warning_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, package = _fake_package(tmp_path, monkeypatch)
    # a module the compiled ones import changed: its types are baked into the build
    (package / "_other.py").write_text("NAME = 'edited'\n")
    with pytest.warns(_accel.StaleBuildWarning, match=r"stale \(_other\.py changed"):
        assert _accel.enable(path, "fakepkg") is False
    assert path == [str(package)]


def test_an_incomplete_build_is_refused_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, package = _fake_package(tmp_path, monkeypatch)
    (package / _accel.COMPILED_DIR / f"_core__mypyc{SUFFIX}").unlink()
    with pytest.warns(_accel.StaleBuildWarning, match=f"missing _core__mypyc{SUFFIX}"):
        assert _accel.enable(path, "fakepkg") is False
    assert path == [str(package)]


def test_a_build_for_another_interpreter_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, package = _fake_package(tmp_path, monkeypatch, tag="cpython-39-plan9.so")
    assert _accel.enable(path, "fakepkg") is False
    assert path == [str(package)]


def test_an_unreadable_manifest_is_refused_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, package = _fake_package(tmp_path, monkeypatch)
    (package / _accel.COMPILED_DIR / _accel.MANIFEST).write_text("{not json")
    with pytest.warns(_accel.StaleBuildWarning, match="unreadable"):
        assert _accel.enable(path, "fakepkg") is False
    assert path == [str(package)]


@pytest.mark.parametrize(
    ("setting", "forced"),
    [("1", True), ("yes", True), ("true", True), ("0", False), ("false", False), ("", False)],
)
def test_the_environment_forces_plain_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, forced: bool
) -> None:
    path, package = _fake_package(tmp_path, monkeypatch)
    monkeypatch.setenv(_accel.PURE_ENV, setting)
    assert _accel.pure_forced() is forced
    if forced:  # refused before the build is looked at: no warning
        assert _accel.enable(path, "fakepkg") is False
    else:  # the (broken) build is tried
        with pytest.warns(_accel.StaleBuildWarning):
            assert _accel.enable(path, "fakepkg") is False
    assert path == [str(package)]


def _copy_package(tmp_path: Path) -> Path:
    target = tmp_path / "agentsync"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


_WHICH = (
    "import agentsync, agentsync._core as c; "
    "print(agentsync._accel.active(), c.__file__.endswith('.py'))"
)


def test_a_copy_of_the_package_runs_its_build_or_falls_back_when_a_library_is_missing(
    tmp_path: Path,
) -> None:
    copy = _copy_package(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != _accel.PURE_ENV}
    env["PYTHONPATH"] = str(tmp_path)

    def which() -> tuple[str, str]:
        done = subprocess.run(
            [sys.executable, "-c", _WHICH], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip(), done.stderr

    manifest = copy / _accel.COMPILED_DIR / _accel.MANIFEST
    built = manifest.is_file() and json.loads(manifest.read_text()) == {
        "tag": _accel.build_tag(),
        "sources": _accel.source_digests(copy),
    }  # a current build (a stale one is refused, tested above)
    assert which()[0] == ("True False" if built else "False True")
    if built:
        (copy / _accel.COMPILED_DIR / f"_core__mypyc{SUFFIX}").unlink()
        out, err = which()
        assert out == "False True"
        assert "StaleBuildWarning" in err and "missing _core__mypyc" in err


def test_this_process_runs_the_build_the_repo_holds() -> None:
    """`make test` builds first: a present build must be the one running (a silent fallback
    would hide a broken build), and plain Python runs only without one or when forced."""
    present = (PACKAGE / _accel.COMPILED_DIR / _accel.MANIFEST).is_file()
    forced = _accel.pure_forced()
    compiled = not str(_core.__file__).endswith(".py")
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
    return _run_script(_HISTORY.replace("int(sys.argv[1])", str(seed)), pure=pure)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_builds_compute_the_same_history(seed: int) -> None:
    pure = _run_history(seed, pure=True)
    current = _run_history(seed, pure=False)
    assert pure["compiled"] is False
    assert current["compiled"] is _accel.active() or _accel.pure_forced()
    assert current["replicas"] == pure["replicas"]
    # the history did reach the paths worth comparing
    replicas = pure["replicas"]
    assert isinstance(replicas, list)
    assert any(r["escalations"] for r in replicas)
    assert any(r["stats"]["resolutions"] for r in replicas)


# Bad input through the public API (and the core's byte entry points, which take what the
# network and the logs deliver): the compiled build checks argument types itself, so any
# annotation narrower than what callers may pass would change the error they get.
_BAD_INPUT = textwrap.dedent(
    """
    import json, logging
    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from agentsync import SyncedStore, _accel
    from agentsync._core import Core

    out = {"compiled": _accel.active()}

    def probe(name, fn):
        try:
            out[name] = ["ok", repr(fn())[:120]]
        except Exception as exc:
            out[name] = [type(exc).__name__, str(exc)[:300]]

    def store(**kw):
        return SyncedStore(peer_id=7, clock=lambda: 1.0, **kw)

    probe("peer_id str", lambda: SyncedStore(peer_id="x"))
    probe("peer_id float", lambda: SyncedStore(peer_id=1.5))
    probe("peer_id negative", lambda: SyncedStore(peer_id=-1))
    probe("conflict_value int", lambda: store(conflict_value=3))
    probe("conflict_value other", lambda: store(conflict_value="newest"))
    probe("path int", lambda: store(path=5))
    probe("schema list", lambda: store(schema=[1]))
    probe("resolver_timeout str", lambda: store(resolver_timeout="x"))
    s = store()
    s.put(("a",), "k", {"x": 1, "tags": ["t"], "notes": "hello"})
    probe("acting_as int", lambda: s.acting_as(5))
    probe("escalations str", lambda: s.escalations("a"))
    probe("escalations int", lambda: s.escalations(5))
    probe("history int namespace", lambda: s.history(5, "k"))
    probe("history int key", lambda: s.history(("a",), 5))
    probe("history list namespace", lambda: len(s.history(["a"], "k")))
    probe("import str", lambda: s.import_updates("x"))
    probe("import None", lambda: s.import_updates(None))
    probe("import bytearray", lambda: s.import_updates(bytearray(b"xx")))
    probe("import memoryview", lambda: s.import_updates(memoryview(b"xx")))
    probe("export int", lambda: s.export_updates(5))
    probe("export str", lambda: s.export_updates("x"))
    probe("export bad digest", lambda: s.export_updates(b"\\x01\\x02"))
    probe("export bytearray digest", lambda: len(s.export_updates(bytearray(s.version()))))
    probe("resolve str", lambda: s.resolve("x", 1))
    probe("get int key", lambda: s.get(("a",), 5))
    probe("get list namespace", lambda: s.get(["a"], "k").value)
    probe("put int key", lambda: s.put(("a",), 5, {"x": 1}))
    probe("put list value", lambda: s.put(("a",), "k", [1]))
    probe("put int field", lambda: s.put(("a",), "k", {1: 2}))
    probe("put set value", lambda: s.put(("a",), "k", {"x": {1, 2}}))
    probe("put nan", lambda: s.put(("a",), "k", {"x": float("nan")}))
    probe("put surrogate", lambda: s.put(("a",), "k", {"x": "\\ud800"}))
    probe("put ttl str", lambda: s.put(("a",), "k", {"x": 1}, ttl="x"))
    probe("put empty label", lambda: s.put(("",), "k", {"x": 1}))
    probe("delete int key", lambda: s.delete(("a",), 5))
    probe("search int", lambda: s.search(5))
    probe("batch int", lambda: s.batch([5]))
    probe("batch None", lambda: s.batch(None))
    core = Core(peer_id=1)
    probe("core import str", lambda: core.import_updates("x"))
    probe("core import bytearray", lambda: core.import_updates(bytearray(b"xx")))
    probe("core deferred memoryview", lambda: core.import_updates_deferred(memoryview(b"xx")))
    probe("core export str", lambda: core.export_updates("x"))
    probe("core peer str", lambda: Core(peer_id="x"))
    probe("schema str prefix", lambda: store(schema={"team": {"n": "counter"}}))
    probe("schema None prefix", lambda: store(schema={None: {}}))
    probe("schema int kind", lambda: store(schema={("t",): {"n": 3}}))
    probe("schema int field", lambda: type(store(schema={("t",): {5: "counter"}})).__name__)
    probe("schema fields list", lambda: store(schema={("t",): ["n"]}))
    counters = store(schema={("c",): {"n": "counter"}})
    counters.put(("c",), "k", {"n": 2**53})
    probe("counter past 2**53", lambda: (
        counters.put(("c",), "k", {"n": 2**53 + 1}), counters.get(("c",), "k").value)[1])
    probe("counter 10**400", lambda: (
        counters.put(("c",), "k", {"n": 10**400, "x": 2}), counters.get(("c",), "k").value)[1])
    probe("counter float", lambda: (
        counters.put(("c",), "k", {"n": 2.5}), counters.get(("c",), "k").value)[1])
    int_clock = SyncedStore(peer_id=8, clock=lambda: 1000)
    probe("int clock", lambda: (
        int_clock.put(("a",), "k", {"x": 1}), repr(int_clock.get(("a",), "k")),
        len(int_clock.export_updates()))[1:])
    from decimal import Decimal
    decimal_clock = SyncedStore(peer_id=9, clock=lambda: Decimal(1))
    probe("decimal clock", lambda: decimal_clock.put(("a",), "k", {"x": 1}))
    probe("decimal clock left nothing", lambda: decimal_clock.get(("a",), "k"))
    import dataclasses
    dispute = SyncedStore(peer_id=10, clock=lambda: 1.0)
    other = SyncedStore(peer_id=11, clock=lambda: 1.0)
    dispute.put(("a",), "k", {"x": 1})
    other.put(("a",), "k", {"x": 2})
    dispute.import_updates(other.export_updates())
    (esc,) = dispute.escalations()
    rebuilt = dataclasses.replace(
        esc, namespace=list(esc.namespace), contenders=list(esc.contenders), path=list(esc.path)
    )
    probe("resolve rebuilt from json", lambda: (
        dispute.resolve(rebuilt, 3), dispute.get(("a",), "k").value)[1])
    probe("value after all", lambda: s.get(("a",), "k").value)
    print(json.dumps(out, sort_keys=True))
    """
)


def _run_script(script: str, *, pure: bool) -> dict[str, object]:
    env = dict(os.environ)
    env.pop(_accel.PURE_ENV, None)
    if pure:
        env[_accel.PURE_ENV] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_both_builds_refuse_bad_input_with_the_same_errors() -> None:
    pure = _run_script(_BAD_INPUT, pure=True)
    current = _run_script(_BAD_INPUT, pure=False)
    assert pure.pop("compiled") is False
    current.pop("compiled")
    differing = {k: (pure[k], current.get(k)) for k in pure if current.get(k) != pure[k]}
    assert not differing
    # the probes did reach the checks they are about
    assert pure["peer_id str"][0] == "ValueError"  # type: ignore[index]
    assert pure["import bytearray"][0] == "CorruptUpdateError"  # type: ignore[index]
    assert pure["value after all"] == ["ok", "{'notes': 'hello', 'tags': ['t'], 'x': 1}"]
    assert pure["counter past 2**53"] == ["ok", "{'n': 9007199254740993}"]
    assert pure["resolve rebuilt from json"] == ["ok", "{'x': 3}"]
    assert pure["schema str prefix"][0] == "SchemaError"  # type: ignore[index]
    assert pure["decimal clock"][0] == "TypeError"  # type: ignore[index]
    assert pure["decimal clock left nothing"] == ["ok", "None"]


def test_every_core_module_is_compiled() -> None:
    """The core is compiled end to end: a `_core*` module left out of the compiled set
    would run interpreted under a compiled build (and its callers through slow calls)."""
    core_modules = {path.stem for path in PACKAGE.glob("_core*.py")}
    assert "_core" in core_modules
    assert core_modules <= set(_accel.COMPILED_MODULES), sorted(
        core_modules - set(_accel.COMPILED_MODULES)
    )
