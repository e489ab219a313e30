"""Security checks (issue 8): nothing received is unpickled or evaluated, SQL takes values
only as bound parameters, and the Anthropic API key never reaches a log.

The first two are static scans of the source (AST, not grep), each with a self-test that
shows the scan catches what it claims to. Key handling is covered where the resolver is
tested (tests/agentsync/test_resolvers.py: `test_a_client_is_built_from_the_environment_key`,
`test_without_a_key_in_the_environment_construction_fails_clearly`,
`test_an_api_failure_leaves_the_escalation_open_with_the_cause_chained`); the test here
adds the one path those leave out: a store settling a conflict through the resolver,
success and failure, with every event captured.
"""

from __future__ import annotations

import ast
import contextvars
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from structlog.testing import capture_logs

from agentsync import SyncedStore
from agentsync._persistence import SqliteLog
from agentsync._resolvers import DEFAULT_MODEL, TOOL_NAME, AnthropicResolver

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [ROOT / "src" / "agentsync", ROOT / "actors", ROOT / "bench.py"]
PERSISTENCE = ROOT / "src" / "agentsync" / "_persistence.py"


def source_files() -> list[Path]:
    files: list[Path] = []
    for path in SCANNED:
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


# -- no unpickling or evaluation of anything ---------------------------------------------------

UNSAFE_MODULES = frozenset(
    {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle"}
)
UNSAFE_BUILTINS = frozenset({"eval", "exec", "compile", "__import__"})
UNSAFE_ATTRIBUTES = frozenset({"unsafe_load", "full_load"})  # yaml's object-building loaders


def unsafe_constructs(source: str, filename: str = "<source>") -> list[str]:
    """Imports of object-deserializing modules and calls that execute code from data."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNSAFE_MODULES:
                    found.append(f"{where}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in UNSAFE_MODULES:
                found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in UNSAFE_BUILTINS:
                found.append(f"{where}: {func.id}()")
            elif isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                if func.attr in UNSAFE_ATTRIBUTES or (
                    owner in ("builtins", "__builtins__") and func.attr in UNSAFE_BUILTINS
                ):
                    found.append(f"{where}: {owner}.{func.attr}()")
                if owner == "yaml" and func.attr == "load":
                    found.append(f"{where}: yaml.load()")
    return found


def test_no_source_file_unpickles_or_evaluates_anything() -> None:
    files = source_files()
    assert len(files) > 20  # the scan really covers the library and the simulator
    found = [hit for f in files for hit in unsafe_constructs(f.read_text(), str(f))]
    assert found == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "import pickle as p",
        "from pickle import loads",
        "import marshal",
        "from _pickle import loads",
        "import shelve",
        "eval(data)",
        "exec(data)",
        "compile(data, 'x', 'exec')",
        "__import__(name)",
        "builtins.eval(data)",
        "yaml.load(data)",
        "yaml.unsafe_load(data)",
    ],
)
def test_the_scan_catches_each_unsafe_construct(snippet: str) -> None:
    assert unsafe_constructs(snippet) != []


def test_the_scan_leaves_lookalikes_alone() -> None:
    benign = "re.compile(p)\nmodel.eval()\nmsgspec.msgpack.decode(b)\njson.loads(s)\n"
    assert unsafe_constructs(benign) == []


# -- SQL only with bound parameters -------------------------------------------------------------

SQL_SINKS = frozenset({"execute", "executemany", "executescript"})

REVIEWED_EXCEPTIONS = {
    "f'PRAGMA synchronous={synchronous.upper()}'": (
        "PRAGMA takes no bound parameters; SqliteLog refuses any synchronous other than "
        "'full' or 'normal' before it opens the file "
        "(test_a_hostile_pragma_value_is_refused_before_any_sql_runs)"
    ),
}
"""SQL built from a value, each reviewed: unparsed expression -> why it is safe."""


@dataclass
class SqlFinding:
    where: str
    sql: str


class _SqlScan:
    """Every SQL string reaching a database call must be built from constants only.

    Constant means: a string literal; a module-level name bound once to a constant; a loop
    variable over a constant; an f-string, `+` or implicit concatenation of constants;
    psycopg's `sql.SQL(constant)` composed with `sql.Identifier`/`sql.Literal`/`.format`.
    A function that passes one of its parameters on as SQL becomes a sink itself, and its
    callers are checked in turn.
    """

    def __init__(self, source: str, filename: str) -> None:
        self.tree = ast.parse(source, filename)
        self.filename = filename
        self.constants: set[str] = set()
        self.findings: list[SqlFinding] = []
        self.checked = 0
        self._module_constants()

    def _module_constants(self) -> None:
        bound: dict[str, list[ast.expr]] = {}
        for node in self.tree.body:
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    bound.setdefault(target.id, []).append(value)
        changed = True
        while changed:  # constants built from constants
            changed = False
            for name, values in bound.items():
                if name in self.constants or len(values) != 1:
                    continue
                if self._is_constant(values[0], set()):
                    self.constants.add(name)
                    changed = True

    def _is_constant(self, node: ast.expr, safe_names: set[str]) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str | int | float | bool | bytes) or node.value is None
        if isinstance(node, ast.Name):
            return node.id in self.constants or node.id in safe_names
        if isinstance(node, ast.Tuple | ast.List):
            return all(self._is_constant(e, safe_names) for e in node.elts)
        if isinstance(node, ast.JoinedStr):
            return all(
                self._is_constant(v.value, safe_names)
                for v in node.values
                if isinstance(v, ast.FormattedValue)
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._is_constant(node.left, safe_names) and self._is_constant(
                node.right, safe_names
            )
        if isinstance(node, ast.Call):
            return self._is_composed_sql(node, safe_names)
        return False

    def _is_composed_sql(self, call: ast.Call, safe_names: set[str]) -> bool:
        func = call.func
        if not isinstance(func, ast.Attribute):
            return False
        if isinstance(func.value, ast.Name) and func.value.id == "sql":
            if func.attr == "SQL":
                return all(self._is_constant(a, safe_names) for a in call.args)
            return func.attr in ("Identifier", "Literal", "Placeholder")  # quoted by psycopg
        if func.attr in ("format", "join") and isinstance(func.value, ast.Call | ast.Attribute):
            base = func.value
            return isinstance(base, ast.Call) and self._is_composed_sql(base, safe_names)
        return False

    def run(self) -> None:
        sinks: dict[str, int] = {}  # function name -> index of its SQL parameter
        for _ in range(5):  # until no new sink functions appear
            before = dict(sinks)
            self.findings, self.checked = [], 0
            for fn in ast.walk(self.tree):
                if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    self._check_function(fn, sinks)
            if sinks == before:
                return

    def _check_function(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, sinks: dict[str, int]
    ) -> None:
        params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
        safe_names: set[str] = set()
        for node in ast.walk(fn):  # loop variables over constants are constants
            if isinstance(node, ast.For) and self._is_constant(node.iter, safe_names):
                safe_names.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in SQL_SINKS:
                index = 0
            elif name in sinks:
                index = sinks[name]
            else:
                continue
            if len(node.args) <= index:
                continue
            sql = node.args[index]
            self.checked += 1
            if self._is_constant(sql, safe_names):
                continue
            if isinstance(sql, ast.Name) and sql.id in params:
                sinks[fn.name] = params.index(sql.id) - (1 if params[:1] == ["self"] else 0)
                continue
            text = ast.unparse(sql)
            if text not in REVIEWED_EXCEPTIONS:
                self.findings.append(SqlFinding(f"{self.filename}:{node.lineno}", text))


def sql_findings(source: str, filename: str = "<source>") -> tuple[list[SqlFinding], int]:
    scan = _SqlScan(source, filename)
    scan.run()
    return scan.findings, scan.checked


def test_persistence_sql_takes_values_only_as_bound_parameters() -> None:
    findings, checked = sql_findings(PERSISTENCE.read_text(), PERSISTENCE.name)
    assert checked > 30  # every execute in the module was looked at
    assert findings == []


def test_every_reviewed_exception_still_exists() -> None:
    """A stale exception would silently allow the next value-built SQL with that text."""
    tree = ast.parse(PERSISTENCE.read_text())
    expressions = {ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)}
    assert set(REVIEWED_EXCEPTIONS) <= expressions


def test_a_hostile_pragma_value_is_refused_before_any_sql_runs(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with pytest.raises(ValueError, match="synchronous must be 'full' or 'normal'"):
        SqliteLog(db, synchronous="off; DROP TABLE agentsync_updates")  # type: ignore[arg-type]
    assert not db.exists()


@pytest.mark.parametrize(
    "body",
    [
        "conn.execute(f'SELECT * FROM t WHERE k = {key}')",
        "conn.execute('SELECT * FROM t WHERE k = %s' % key)",
        "conn.execute('SELECT * FROM t WHERE k = {}'.format(key))",
        "conn.execute('SELECT * FROM t WHERE k = ' + key)",
        "cur.executemany(QUERY + key, rows)",
        "helper(conn, f'DELETE FROM t WHERE k = {key}')",
        "conn.execute(sql.SQL('SELECT * FROM ' + key))",
    ],
)
def test_the_sql_scan_catches_values_built_into_sql(body: str) -> None:
    source = (
        "QUERY = 'SELECT 1'\n"
        "def helper(conn, query):\n    return conn.execute(query, ())\n"
        f"def f(conn, cur, key, rows):\n    {body}\n"
    )
    findings, _ = sql_findings(source)
    assert findings != []


def test_the_sql_scan_accepts_constants_parameters_and_psycopg_composition() -> None:
    source = (
        "TABLE = 'agentsync_updates'\n"
        "QUERY = 'SELECT * FROM ' + TABLE + ' WHERE k = %s'\n"
        "SCHEMA = ('CREATE TABLE a (x int)', 'CREATE TABLE b (y int)')\n"
        "def helper(conn, query, params):\n    return conn.execute(query, params)\n"
        "def f(conn, key, name):\n"
        "    conn.execute('SELECT * FROM t WHERE k = ?', (key,))\n"
        "    conn.execute(QUERY, (key,))\n"
        "    conn.execute(f'LISTEN {TABLE}')\n"
        "    for statement in SCHEMA:\n        conn.execute(statement)\n"
        "    helper(conn, 'SELECT %s', (key,))\n"
        "    conn.execute(sql.SQL('SELECT * FROM {} WHERE k = %s').format(sql.Identifier(name)),"
        " (key,))\n"
    )
    findings, checked = sql_findings(source)
    assert findings == []
    assert checked == 7


# -- the API key never reaches a log ------------------------------------------------------------

SECRET = "sk-ant-security-test-key-0123456789"


def tool_answer(tool_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_sec",
        "type": "message",
        "role": "assistant",
        "model": DEFAULT_MODEL,
        "content": [{"type": "tool_use", "id": "toolu_1", "name": TOOL_NAME, "input": tool_input}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def conflict(store: SyncedStore, key: str) -> None:
    """Two agents whose turns both began before either wrote set one field differently."""
    store.put(("proj",), key, {"status": "draft"})
    agents = {name: contextvars.copy_context() for name in ("alice", "bob")}
    blocks = {name: store.acting_as(name) for name in agents}
    for name, ctx in agents.items():
        ctx.run(blocks[name].__enter__)
    for name, ctx in agents.items():
        ctx.run(store.put, ("proj",), key, {"status": f"by {name}"})
    for name, ctx in agents.items():
        ctx.run(blocks[name].__exit__, None, None, None)


def test_a_store_resolving_through_anthropic_never_logs_the_key() -> None:
    transport_log: list[httpx2.Request] = []
    answers = iter(
        [
            httpx2.Response(200, json=tool_answer({"choice": 1, "reason": "bob owns it"})),
            httpx2.Response(
                401,
                json={"type": "error", "error": {"type": "authentication_error",
                                                  "message": "invalid x-api-key"}},
            ),
        ]
    )  # fmt: skip

    def handler(request: httpx2.Request) -> httpx2.Response:
        transport_log.append(request)
        return next(answers)

    with (
        httpx2.Client(transport=httpx2.MockTransport(handler)) as http,
        capture_logs() as events,
    ):
        client = anthropic.Anthropic(api_key=SECRET, http_client=http, max_retries=0)
        store = SyncedStore(resolver=AnthropicResolver(client))
        conflict(store, "settled")  # the model answers: settled
        conflict(store, "refused")  # the API refuses the key: stays escalated
        item = store.get(("proj",), "settled")
        assert item is not None and item.value["status"] == "by bob"
        (open_conflict,) = store.escalations()
        seen = json.dumps(
            [repr(events), repr(store.escalations()), store.stats(), repr(store.history(
                ("proj",), "settled")), repr(store.attribution()), str(open_conflict)],
            default=repr,
        )  # fmt: skip

    # the key did go out, to the API only
    assert len(transport_log) == 2
    assert all(any(SECRET in v for v in r.headers.values()) for r in transport_log)
    assert {e["event"] for e in events} >= {"resolver decided", "resolver call failed"}
    assert SECRET not in seen
    assert SECRET[-12:] not in seen  # not even a tail of it
