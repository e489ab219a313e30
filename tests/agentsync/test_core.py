"""Unit tests of the value core: one per row of the SPEC 3 table, plus the traps."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_support import sync_all

from agentsync import CorruptUpdateError, SchemaError
from agentsync._core import Core

NS = ("team",)


def pair(**kwargs: Any) -> tuple[Core, Core]:
    a, b = Core(peer_id=1, **kwargs), Core(peer_id=2, **kwargs)
    return a, b


def put(core: Core, value: dict[str, Any], *, agent: str = "a", key: str = "k", turn: Any = None):
    return core.put(NS, key, value, agent=agent, turn=turn, now=1.0)


def value(core: Core, key: str = "k") -> dict[str, Any] | None:
    stored = core.get(NS, key)
    return None if stored is None else stored.value


def concurrent(base: dict[str, Any], left: dict[str, Any], right: dict[str, Any], **kw: Any):
    """Two replicas start from `base`, write `left` / `right` concurrently, then sync."""
    a, b = pair(**kw)
    put(a, base)
    sync_all(a, b)
    put(a, left, agent="alice")
    put(b, right, agent="bob")
    sync_all(a, b)
    assert value(a) == value(b)
    assert a.escalations() == b.escalations()
    return a, b


# -- map ---------------------------------------------------------------------------------
def test_map_concurrent_writes_deep_merge() -> None:
    a, _ = concurrent(
        {"meta": {"x": 1}},
        {"meta": {"x": 1, "y": {"deep": 1}}},
        {"meta": {"x": 1, "z": 3}},
    )
    assert value(a) == {"meta": {"x": 1, "y": {"deep": 1}, "z": 3}}
    assert a.escalations() == []


def test_map_sequential_write_removes_omitted_fields() -> None:
    a = Core(peer_id=1)
    put(a, {"meta": {"x": 1, "y": 2}, "other": 1})
    put(a, {"meta": {"x": 1}})
    assert value(a) == {"meta": {"x": 1}}


def test_concurrently_created_sub_dict_merges_instead_of_one_winning() -> None:
    """The Loro trap: both replicas create the absent `meta` container at once."""
    a, _ = concurrent({}, {"meta": {"from_a": 1}}, {"meta": {"from_b": 2}})
    assert value(a) == {"meta": {"from_a": 1, "from_b": 2}}


# -- set ---------------------------------------------------------------------------------
def test_set_concurrent_adds_union() -> None:
    a, _ = concurrent({"tags": ["x"]}, {"tags": ["x", "a"]}, {"tags": ["x", "b"]})
    assert sorted(value(a)["tags"]) == ["a", "b", "x"]


def test_set_removal_wins_only_over_elements_remover_had_seen() -> None:
    a, b = pair()
    put(a, {"tags": ["x", "y"]})
    sync_all(a, b)
    put(a, {"tags": ["y"]}, agent="remover")  # removes x, which it saw
    put(b, {"tags": ["x", "y", "z"]}, agent="adder")  # keeps x, adds z
    sync_all(a, b)
    assert value(a)["tags"] == ["y", "z"]


def test_set_concurrent_readd_survives_removal() -> None:
    a, b = pair()
    put(a, {"tags": ["x"]})
    sync_all(a, b)
    put(a, {"tags": []}, agent="remover")
    put(b, {"tags": []}, agent="b")
    put(b, {"tags": ["x"]}, agent="b")  # a fresh add of x the remover never saw
    sync_all(a, b)
    assert value(a)["tags"] == ["x"]


def test_list_reads_back_exactly_as_written_duplicates_included() -> None:
    """Issue 15 item 2: lists are sequences by default, as on InMemoryStore."""
    a = Core(peer_id=1)
    put(a, {"scores": [1, 1, 2, 2, 2], "chat": ["hi", "hi"], "nested": [[1], [1], {"a": 1}]})
    assert value(a) == {
        "scores": [1, 1, 2, 2, 2],
        "chat": ["hi", "hi"],
        "nested": [[1], [1], {"a": 1}],
    }
    embedding = [round(((i * 7919) % 1000) / 1000.0, 3) for i in range(1536)]
    put(a, {"embedding": embedding})
    assert value(a) == {"embedding": embedding}
    put(a, {"embedding": [*embedding, 0.5, 0.5]})
    assert value(a) == {"embedding": [*embedding, 0.5, 0.5]}
    put(a, {"embedding": embedding[100:] + embedding[:100]})  # a rotation: a real diff
    assert value(a) == {"embedding": embedding[100:] + embedding[:100]}


def test_list_sequential_edits_keep_order_and_duplicates() -> None:
    a = Core(peer_id=1)
    for written in (["a", "b", "a"], ["a", "b", "a", "a"], ["b", "a"], [], ["x", "x", "x"]):
        put(a, {"steps": written})
        assert value(a)["steps"] == written


def test_list_concurrent_duplicate_appends_are_both_kept() -> None:
    a, _ = concurrent({"chat": ["hi"]}, {"chat": ["hi", "ok"]}, {"chat": ["hi", "ok"]})
    assert value(a)["chat"] == ["hi", "ok", "ok"]  # two agents each said "ok"
    assert a.escalations() == []


def test_declared_set_collapses_duplicates_and_unions() -> None:
    schema = {NS: {"tags": "set"}}
    a = Core(peer_id=1, schema=schema)
    put(a, {"tags": ["b", "a", "b", "c"]})
    assert value(a)["tags"] == ["b", "a", "c"]
    a, _ = concurrent({"tags": ["x"]}, {"tags": ["x", "a"]}, {"tags": ["x", "a"]}, schema=schema)
    assert value(a)["tags"] == ["x", "a"]


def test_set_reads_back_in_written_order() -> None:
    a = Core(peer_id=1)
    put(a, {"tags": ["b", "a", "c"]})
    assert value(a)["tags"] == ["b", "a", "c"]
    put(a, {"tags": ["b", "z", "a", "c"]})  # insert in the middle
    assert value(a)["tags"] == ["b", "z", "a", "c"]
    put(a, {"tags": ["c", "a", "b"]})  # reorder
    assert value(a)["tags"] == ["c", "a", "b"]


def test_set_elements_may_be_any_json() -> None:
    a = Core(peer_id=1)
    put(a, {"items": [{"id": 1}, [1, 2], None, 1.5]})
    assert value(a)["items"] == [{"id": 1}, [1, 2], None, 1.5]


def test_declared_ordered_list_keeps_duplicates() -> None:
    a = Core(peer_id=1, schema={NS: {"steps": "list"}})
    put(a, {"steps": ["a", "b", "a"]})
    assert value(a)["steps"] == ["a", "b", "a"]
    put(a, {"steps": ["a", "b", "a", "c"]})
    assert value(a)["steps"] == ["a", "b", "a", "c"]


# -- text --------------------------------------------------------------------------------
def test_text_concurrent_edits_keep_both_and_share_prefix_once() -> None:
    a, _ = concurrent(
        {"notes": "The plan:"},
        {"notes": "The plan: research"},
        {"notes": "Plan: The plan:"[6:] + " write"},
    )
    text = value(a)["notes"]
    assert text.count("The plan:") == 1
    assert "research" in text and "write" in text


def test_text_sequential_write_is_a_diff() -> None:
    a = Core(peer_id=1)
    put(a, {"findings": "alpha beta"})
    put(a, {"findings": "alpha gamma"})
    assert value(a)["findings"] == "alpha gamma"


@pytest.mark.parametrize("deferred", [False, True])
def test_a_text_write_after_an_import_diffs_against_the_imported_text(deferred: bool) -> None:
    # the core remembers what a text read after its own last write; an import (applied
    # at once or on the next read) changes it behind that memory
    a, b = pair()
    put(a, {"notes": "hello world"})
    sync_all(a, b)
    put(b, {"notes": "hello there world"})
    blob = b.export_updates(a.version())
    if deferred:
        a.import_updates_deferred(blob)
    else:
        a.import_updates(blob)
    put(a, {"notes": "hello there world!"})  # a writer that read the merged text
    assert value(a)["notes"] == "hello there world!"
    sync_all(a, b)
    assert value(b)["notes"] == "hello there world!"


def test_a_text_write_from_an_older_view_leaves_the_text_as_merged() -> None:
    # a writer whose base is older edits a fork merged back: the text it leaves is not
    # what that writer wrote, and the next writer that saw everything diffs against it
    a = Core(peer_id=1)
    put(a, {"notes": "one two"})
    stale = a.begin_turn()
    put(a, {"notes": "one two three"})
    put(a, {"notes": "zero one two"}, turn=stale)  # from "one two": keeps "three"
    merged = value(a)["notes"]
    assert merged == "zero one two three"
    put(a, {"notes": merged + " four"})
    assert value(a)["notes"] == "zero one two three four"


def test_text_inference_only_for_marked_names() -> None:
    a, _ = concurrent(
        {"title": "x", "log": "x"}, {"title": "y", "log": "xy"}, {"title": "z", "log": "xz"}
    )
    assert value(a)["title"] == "<escalated:title>"  # a register: a conflict
    assert sorted(value(a)["log"]) == sorted("xyz")  # text: merged


@pytest.mark.parametrize("name", ["login", "logo_url", "context", "catalog", "blog", "dialog"])
def test_a_name_that_only_contains_a_marker_is_a_register(name: str) -> None:
    """Issue 15 item 3: `login` is not text; parallel edits of it are a conflict, never a
    character merge such as "asmith.smith"."""
    a, _ = concurrent({name: "smith"}, {name: "asmith"}, {name: "smith.j"})
    assert value(a)[name] == f"<escalated:{name}>"
    (esc,) = a.escalations()
    assert sorted(c.value for c in esc.contenders) == ["asmith", "smith.j"]


@pytest.mark.parametrize(
    "name", ["notes", "research_notes", "buildLog", "text", "findings", "log", "Text", "run-log"]
)
def test_whole_marker_words_make_text(name: str) -> None:
    a, _ = concurrent({name: "ab"}, {name: "abX"}, {name: "Yab"})
    assert value(a)[name] == "YabX"
    assert a.escalations() == []


# -- counter -----------------------------------------------------------------------------
def test_counter_increments_add_up() -> None:
    schema = {NS: {"visits": "counter"}}
    a, _ = concurrent({"visits": 10}, {"visits": 13}, {"visits": 15}, schema=schema)
    assert value(a)["visits"] == 18  # 10 + 3 + 5


def test_counter_sequential_write_sets_value() -> None:
    a = Core(peer_id=1, schema={NS: {"n": "counter"}})
    put(a, {"n": 5})
    put(a, {"n": 2})
    assert value(a)["n"] == 2


# -- register ----------------------------------------------------------------------------
def test_register_equal_concurrent_values_are_no_conflict() -> None:
    a, _ = concurrent({"status": "todo"}, {"status": "done"}, {"status": "done"})
    assert value(a)["status"] == "done"
    assert a.escalations() == []


def test_register_different_concurrent_values_escalate_with_both_contenders() -> None:
    a, b = concurrent({"status": "todo"}, {"status": "done"}, {"status": "blocked"})
    assert value(a)["status"] == "<escalated:status>"
    [esc] = a.escalations()
    assert esc.field == "status" and esc.key == "k" and esc.namespace == NS
    assert {(c.agent_id, c.value) for c in esc.contenders} == {
        ("alice", "done"),
        ("bob", "blocked"),
    }
    assert b.escalations()[0].id == esc.id


def test_register_sequential_overwrite_is_not_a_conflict() -> None:
    a, b = pair()
    put(a, {"status": "todo"})
    sync_all(a, b)
    put(b, {"status": "doing"}, agent="bob")
    sync_all(a, b)
    put(a, {"status": "done"}, agent="alice")  # alice has seen bob's write
    sync_all(a, b)
    assert value(b)["status"] == "done"
    assert a.escalations() == b.escalations() == []


def test_nested_register_conflict_has_dotted_path() -> None:
    a, _ = concurrent({"meta": {"x": 1}}, {"meta": {"x": 2}}, {"meta": {"x": 3}})
    [esc] = a.escalations()
    assert esc.field == "meta.x" and esc.path == ("meta", "x")
    assert value(a) == {"meta": {"x": "<escalated:meta.x>"}}


def test_provisional_conflict_value_is_a_deterministic_contender() -> None:
    a, b = concurrent({"s": "a"}, {"s": "left"}, {"s": "right"}, conflict_value="provisional")
    assert value(a)["s"] in ("left", "right")
    assert value(a) == value(b)
    assert len(a.escalations()) == 1


def test_writing_back_a_conflicted_read_does_not_settle_it() -> None:
    a, _ = concurrent({"s": "a", "n": 1}, {"s": "b", "n": 1}, {"s": "c", "n": 1})
    current = value(a)
    current["n"] = 2
    put(a, current)  # read-modify-write of another field
    assert value(a) == {"s": "<escalated:s>", "n": 2}
    assert len(a.escalations()) == 1


def test_resolve_settles_everywhere_and_is_attributed() -> None:
    a, b = concurrent({"s": "a"}, {"s": "b"}, {"s": "c"})
    [esc] = a.escalations()
    result = a.resolve(esc, "c", agent="judge", now=2.0)
    assert result.op_id and not result.new_escalations
    sync_all(a, b)
    assert value(a) == value(b) == {"s": "c"}
    assert a.escalations() == b.escalations() == []
    assert b.attribution()[(NS, "k")]["s"] == ["judge"]
    assert b.history(NS, "k")[-1].action == "resolve"


def test_resolve_does_not_supersede_a_contender_it_never_saw() -> None:
    a, b = concurrent({"s": "a"}, {"s": "b"}, {"s": "c"})
    c = Core(peer_id=3)
    sync_all(a, c)
    [esc] = a.escalations()
    put(c, {"s": "late"}, agent="carol")  # carol saw the conflict and overwrote it
    a.resolve(esc, "b", agent="judge", now=2.0)
    sync_all(a, b, c)
    [again] = a.escalations()  # judge and carol both settled it, concurrently, differently
    assert {c.value for c in again.contenders} == {"b", "late"}


# -- type mismatch -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("left", "right"),
    [(["x"], "scalar"), ({"d": 1}, "text"), ({"d": 1}, ["x"]), (3, {"d": 1})],
)
def test_concurrent_type_mismatch_escalates(left: Any, right: Any) -> None:
    a, _ = concurrent({"f": None}, {"f": left}, {"f": right})
    [esc] = a.escalations()
    assert esc.field == "f"
    assert sorted(c.agent_id for c in esc.contenders) == ["alice", "bob"]
    assert {repr(c.value) for c in esc.contenders} == {repr(left), repr(right)}
    assert value(a)["f"] == "<escalated:f>"


# -- delete ------------------------------------------------------------------------------
def test_delete_removes_what_deleter_saw_and_later_put_does_not_resurrect() -> None:
    a = Core(peer_id=1)
    put(a, {"tags": ["x"], "notes": "old", "s": 1})
    a.delete(NS, "k", agent="a", turn=None, now=1.0)
    assert value(a) is None
    put(a, {"fresh": True})
    assert value(a) == {"fresh": True}


def test_put_concurrent_with_delete_survives() -> None:
    a, b = pair()
    put(a, {"tags": ["x"], "s": 1})
    sync_all(a, b)
    a.delete(NS, "k", agent="deleter", turn=None, now=1.0)
    put(b, {"tags": ["x", "y"], "s": 1}, agent="adder")
    sync_all(a, b)
    assert value(a) == value(b) == {"tags": ["y"]}


def test_delete_of_unseen_key_is_a_noop() -> None:
    a = Core(peer_id=1)
    assert a.delete(NS, "missing", agent="a", turn=None, now=1.0).op_id is None


# -- in-process turns --------------------------------------------------------------------
def test_parallel_turns_on_one_replica_conflict_and_merge() -> None:
    a = Core(peer_id=1)
    put(a, {"s": "todo", "tags": ["x"]})
    t1, t2 = a.begin_turn(), a.begin_turn()
    put(a, {"s": "done", "tags": ["x", "a"]}, agent="n1", turn=t1)
    put(a, {"s": "blocked", "tags": ["x", "b"]}, agent="n2", turn=t2)
    assert sorted(value(a)["tags"]) == ["a", "b", "x"]
    assert {c.agent_id for c in a.escalations()[0].contenders} == {"n1", "n2"}


def test_a_later_turn_has_seen_earlier_writes() -> None:
    a = Core(peer_id=1)
    t1 = a.begin_turn()
    put(a, {"s": "one"}, turn=t1)
    t2 = a.begin_turn()
    put(a, {"s": "two"}, turn=t2)
    assert value(a) == {"s": "two"} and a.escalations() == []


def test_a_read_counts_as_seen() -> None:
    a = Core(peer_id=1)
    t1, t2 = a.begin_turn(), a.begin_turn()
    put(a, {"s": "one"}, turn=t1)
    a.note_read(t2, NS, "k")
    put(a, {"s": "two"}, turn=t2)
    assert a.escalations() == []


def test_a_turn_that_wrote_a_key_sees_it_whole_until_another_change_lands() -> None:
    """After its own write a turn has seen the key as it left it, so its next write takes
    the full view (issue 7: a graph node's repeated writes were 3x slower than writes
    outside a graph); a write it had not seen still makes its next write concurrent."""
    from agentsync._core_views import _alive

    a = Core(peer_id=1)
    put(a, {"s": "todo", "tags": ["x"]})
    t1, t2 = a.begin_turn(), a.begin_turn()
    put(a, {"s": "one", "tags": ["x", "a"]}, agent="n1", turn=t1)
    assert a._visibility(t1, NS, "k") is _alive
    put(a, {"s": "two", "tags": ["a"]}, agent="n1", turn=t1)  # sequential: no conflict
    assert value(a) == {"s": "two", "tags": ["a"]} and a.escalations() == []
    put(a, {"s": "three", "tags": ["a", "b"]}, agent="n2", turn=t2)  # had seen neither
    assert a._visibility(t1, NS, "k") is not _alive
    put(a, {"s": "four", "tags": ["a"]}, agent="n1", turn=t1)
    (esc,) = a.escalations()
    assert {(c.agent_id, c.value) for c in esc.contenders} == {("n1", "four"), ("n2", "three")}
    # n1 never saw "b": its write does not remove it; each inserted its own "a"
    assert sorted(value(a)["tags"]) == ["a", "a", "b"]


def test_an_open_turn_keeps_what_it_may_still_write_against_and_no_more() -> None:
    """Superseded entries are kept while a live turn's view of their key is older than
    their death, trimmed in batches; a turn that has read the key since holds nothing
    back."""
    a = Core(peer_id=1)
    put(a, {"s": "s0"})
    stale, writer = a.begin_turn(), a.begin_turn()
    for i in range(1, 400):
        put(a, {"s": f"s{i}"}, agent="w", turn=writer)
    state = a._keys[a._kid(NS, "k")]
    assert len(state.graveyard[("s",)]) == 399  # every one died after the stale view
    put(a, {"s": "late"}, agent="stale", turn=stale)  # it saw only s0: a conflict
    (esc,) = a.escalations()
    assert {(c.agent_id, c.value) for c in esc.contenders} == {("w", "s399"), ("stale", "late")}
    # once no turn is open, the next write of the key lets go of what they needed
    del stale, writer
    put(a, {"s": "after"}, agent="w")
    assert state.graveyard == {}
    # once the old turn has read the key, its view no longer holds dead entries back
    b = Core(peer_id=2)
    put(b, {"s": "s0"})
    reader, writer = b.begin_turn(), b.begin_turn()
    b.note_read(reader, NS, "k")
    for i in range(1, 200):
        put(b, {"s": f"s{i}"}, agent="w", turn=writer)
        if i % 50 == 0:
            b.note_read(reader, NS, "k")
    # kept: the 49 entries that died since its last read (plus at most a trim batch), not
    # the 199 it would need had it never read the key again
    assert 49 <= len(b._keys[b._kid(NS, "k")].graveyard[("s",)]) <= 49 + 8


def test_a_stale_turn_never_re_adds_what_a_big_concurrent_delete_removed() -> None:
    """One delete can bury thousands of entries of one field (a counter's increments, a
    set's elements); a turn that began before it must still see every one of them dead,
    or its next write would count or add them again (review: 35 of 300 came back)."""
    a = Core(peer_id=1, schema={NS: {"n": "counter"}})
    for i in range(300):
        a.put(NS, "k", {"n": i + 1}, agent="inc", turn=None, now=1.0)
    turn = a.begin_turn()  # has seen n = 300
    a.delete(NS, "k", agent="del", turn=None, now=1.0)  # concurrent with the turn
    a.put(NS, "k", {"n": 301}, agent="t", turn=turn, now=1.0)  # its +1
    assert value(a) == {"n": 1}
    b = Core(peer_id=2)
    tags = [f"e{i}" for i in range(600)]
    b.put(NS, "k", {"tags": tags}, agent="w", turn=None, now=1.0)
    turn = b.begin_turn()
    b.delete(NS, "k", agent="del", turn=None, now=1.0)
    b.put(NS, "k", {"tags": tags, "s": "x"}, agent="t", turn=turn, now=1.0)  # adds only s
    assert value(b) == {"s": "x"}


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"ok": 1, "meta": {"when": object()}}, "meta.when"),
        ({"s": {1, 2}}, "s"),
        ({"f": float("nan")}, "f"),
        ({"l": [1, b"raw"]}, "l.1"),
        ({"s": "ok \ud800"}, "s"),  # a lone surrogate is no UTF-8: Loro cannot store it
        ({"notes": "\udfff"}, "notes"),
        ({"tags": ["fine", "\ud800"]}, "tags.1"),
        ({"m": {"\ud800": 1}}, "m"),
    ],
)
def test_non_json_value_names_the_field_and_applies_nothing(bad: Any, where: str) -> None:
    a = Core(peer_id=1)
    put(a, {"ok": 0})
    before = a.version()
    with pytest.raises(TypeError, match=rf"'{where}'"):
        put(a, bad)
    assert a.version() == before and value(a) == {"ok": 0}
    # nothing half-written waits in Loro to ride along with the next write
    put(a, {"ok": 1})
    b = Core(peer_id=2)
    b.import_updates(a.export_updates())
    assert value(b) == {"ok": 1}
    assert [r.fields for r in b.history(NS, "k")] == [("ok",), ("ok",)]
    assert sum(1 for _ in b.items()) == 1


def test_non_str_field_name_and_non_dict_value_are_type_errors() -> None:
    a = Core(peer_id=1)
    with pytest.raises(TypeError, match="field names must be str"):
        put(a, {"m": {1: "x"}})
    with pytest.raises(TypeError, match="must be a dict"):
        a.put(NS, "k", ["not", "a", "dict"], agent="a", turn=None, now=1.0)  # type: ignore[arg-type]


def test_declared_kind_is_checked() -> None:
    a = Core(peer_id=1, schema={NS: {"n": "counter", "notes": "text"}})
    with pytest.raises(SchemaError, match="'n' is declared counter"):
        put(a, {"n": "many"})
    with pytest.raises(SchemaError, match="'notes' is declared text"):
        put(a, {"notes": 3})
    assert value(a) is None


def test_malformed_schema_is_refused() -> None:
    with pytest.raises(SchemaError, match="unknown kind"):
        Core(schema={NS: {"n": "tally"}})  # type: ignore[dict-item]


# -- replica sync ------------------------------------------------------------------------
def test_corrupt_update_raises_and_leaves_state_unchanged() -> None:
    a, b = pair()
    put(a, {"s": 1, "tags": ["x"]})
    good = a.export_updates(None)
    put(b, {"mine": True})
    before_version, before_value = b.version(), value(b)
    for bad in (good[: len(good) // 2], b"\x00" * 40, good[:-3] + b"xyz", b"not loro"):
        with pytest.raises(CorruptUpdateError):
            b.import_updates(bad)
        assert b.version() == before_version and value(b) == before_value
    with pytest.raises(CorruptUpdateError):
        a.export_updates(b"\xff\x00garbage")


def test_missing_dependency_stays_pending_until_gap_arrives() -> None:
    a, b = pair()
    put(a, {"n": 1})
    first = a.export_updates(None)
    v1 = a.version()
    put(a, {"n": 2, "tags": ["x"]})
    second = a.export_updates(v1)
    assert b.import_updates(second).new_ops == []
    assert value(b) is None
    result = b.import_updates(first)
    assert len(result.new_ops) == 2
    assert value(b) == {"n": 2, "tags": ["x"]}


def test_deferred_import_reports_exact_ops_and_applies_on_next_read() -> None:
    a, b = pair()
    put(a, {"tags": ["x"], "n": 1})
    put(a, {"tags": ["x", "y"], "n": 2, "notes": "first words"})
    blob = a.export_updates(None)
    ops = b.import_updates_deferred(blob)
    assert ops == [record.op_id for record in a.history(NS, "k")]
    assert b.import_updates_deferred(blob) == []  # a duplicate brings nothing new
    assert value(b) == value(a)
    # an eager import after a deferred one does not report those writes again
    put(a, {"tags": ["x", "y"], "n": 3, "notes": "first words"})
    later = b.import_updates_deferred(a.export_updates(b.version()))
    assert b.import_updates(a.export_updates(None)).new_ops == []
    assert later == [a.history(NS, "k")[-1].op_id]
    assert value(b) == value(a)


def test_deferred_import_is_seen_only_by_turns_that_begin_after_it() -> None:
    a, b = pair()
    put(a, {"s": "base"})
    b.import_updates(a.export_updates(None))
    early = b.begin_turn()
    put(a, {"s": "alice"}, agent="alice")
    b.import_updates_deferred(a.export_updates(b.version()))
    late = b.begin_turn()
    put(b, {"s": "bob"}, agent="bob", turn=late)  # had seen alice's write: overwrite
    assert b.escalations() == []
    put(b, {"s": "carol"}, agent="carol", turn=early)  # had seen neither
    [esc] = b.escalations()
    assert {c.agent_id for c in esc.contenders} == {"bob", "carol"}


def test_deferred_import_of_a_snapshot_into_an_empty_core_reports_every_write() -> None:
    a, _ = concurrent({"s": 1}, {"s": 2, "tags": ["a"]}, {"s": 3, "tags": ["b"]})
    put(a, {"notes": "kept"}, key="other")
    fresh = Core(peer_id=9)
    ops = fresh.import_updates_deferred(a.export_snapshot())
    expected = [r.op_id for key in ("k", "other") for r in a.history(NS, key)]
    assert sorted(ops) == sorted(expected)
    assert value(fresh) == value(a) and value(fresh, "other") == {"notes": "kept"}
    assert fresh.escalations() == a.escalations()


def test_deferred_imports_reach_only_the_log_until_a_read() -> None:
    """The point of deferring: Loro's state (costly to advance with many concurrent
    heads) moves once per read, not once per import, the first import included."""
    a, b = pair()
    put(a, {"tags": ["x"]})
    b.import_updates_deferred(a.export_updates(None))
    for n in range(2):
        before = b.version()
        put(a, {"tags": ["x", f"y{n}"]})
        b.import_updates_deferred(a.export_updates(before))
        assert b._doc.state_vv != b._doc.oplog_vv  # the log moved, the state did not
    assert value(b) == value(a)
    assert b._doc.state_vv == b._doc.oplog_vv


def test_corrupt_deferred_import_raises_and_leaves_state_unchanged() -> None:
    a, b = pair()
    put(a, {"s": 1})
    good = a.export_updates(None)
    put(b, {"mine": True})
    before_version, before_value = b.version(), value(b)
    with pytest.raises(CorruptUpdateError):
        b.import_updates_deferred(good[:-3] + b"xyz")
    assert b.version() == before_version and value(b) == before_value
    assert b.import_updates_deferred(good) != []


def test_export_is_empty_when_peer_lacks_nothing_and_version_is_canonical() -> None:
    a, b = pair()
    put(a, {"n": 1})
    put(b, {"m": 1}, key="other")
    sync_all(a, b)
    assert a.version() == b.version()
    assert a.export_updates(b.version()) == b""
    assert a.import_updates(b"").new_ops == []


def test_duplicate_delivery_is_idempotent() -> None:
    a, b = pair()
    put(a, {"tags": ["x"], "n": 1})
    blob = a.export_updates(None)
    assert len(b.import_updates(blob).new_ops) == 1
    assert b.import_updates(blob).new_ops == []
    assert value(b) == value(a)


def test_snapshot_round_trip() -> None:
    a, _ = concurrent({"s": 1}, {"s": 2, "tags": ["a"]}, {"s": 3, "tags": ["b"]})
    fresh = Core(peer_id=9)
    fresh.import_updates(a.export_snapshot())
    assert value(fresh) == value(a)
    assert fresh.escalations() == a.escalations()
    assert fresh.history(NS, "k") == a.history(NS, "k")


# -- attribution and history ---------------------------------------------------------------
def test_history_and_attribution_name_the_writers() -> None:
    a, _ = concurrent({"tags": []}, {"tags": ["a"], "x": 1}, {"tags": ["b"]})
    attribution = a.attribution()[(NS, "k")]
    assert attribution["tags"] == ["alice", "bob"]
    assert attribution["x"] == ["alice"]
    agents = [r.agent_id for r in a.history(NS, "k")]
    assert sorted(agents) == ["a", "alice", "bob"]


def test_timestamps_follow_the_later_write_not_the_later_clock() -> None:
    """A key's timestamps are its latest write's, as a last-writer-wins register: a write
    made after another was seen wins even if its clock reads earlier (skew)."""
    a, b = pair()

    def timestamps() -> list[tuple[float, float] | None]:
        stored = [core.get(NS, "k") for core in (a, b)]
        return [None if s is None else (s.created_at, s.updated_at) for s in stored]

    a.put(NS, "k", {"v": 1}, agent="a", turn=None, now=100.0)
    sync_all(a, b)
    b.put(NS, "k", {"v": 2}, agent="b", turn=None, now=50.0)
    sync_all(a, b)
    assert timestamps() == [(100.0, 50.0)] * 2
    # deleted, then created again elsewhere: created at the new creation
    a.delete(NS, "k", agent="a", turn=None, now=110.0)
    sync_all(a, b)
    b.put(NS, "k", {"v": 3}, agent="b", turn=None, now=60.0)
    sync_all(a, b)
    assert timestamps() == [(60.0, 60.0)] * 2


def test_concurrent_writes_agree_on_timestamps_whatever_the_delivery() -> None:
    base = Core(peer_id=1)
    base.put(NS, "k", {"v": 0}, agent="a", turn=None, now=1.0)
    writers = [Core(peer_id=p) for p in (2, 3, 4)]
    for i, core in enumerate(writers):
        core.import_updates(base.export_updates())
        core.put(NS, "k", {"v": i + 1}, agent=f"w{i}", turn=None, now=10.0 - i)
    blobs = [base.export_updates(), *(w.export_updates() for w in writers)]
    seen = set()
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        for read_between in (True, False):  # incremental reloads, or one at the end
            reader = Core(peer_id=9)
            for i in order:
                reader.import_updates(blobs[i])
                if read_between:
                    reader.get(NS, "k")
            stored = reader.get(NS, "k")
            assert stored is not None
            seen.add((stored.created_at, stored.updated_at))
    assert len(seen) == 1
    assert seen.pop() in {(1.0, 10.0), (1.0, 9.0), (1.0, 8.0)}  # one of the writes'
    # a write made after seeing them all wins everywhere, whatever its clock
    writers[0].import_updates(blobs[2])
    writers[0].import_updates(blobs[3])
    writers[0].put(NS, "k", {"v": 7}, agent="w0", turn=None, now=2.0)
    for core in writers[1:]:
        core.import_updates(writers[0].export_updates(core.version()))
    for core in writers:
        stored = core.get(NS, "k")
        assert stored is not None and (stored.created_at, stored.updated_at) == (1.0, 2.0)


def test_a_write_inserts_one_record_and_nothing_else() -> None:
    """Timestamps travel in the write's record: no other map entry per write (issue 7:
    each Loro insert costs about a microsecond and a half)."""
    a = Core(peer_id=1)
    for i in range(3):
        a.put(NS, "k", {"v": i, "tags": [i]}, agent="a", turn=None, now=float(i))
    kid = a._kid(NS, "k")
    assert a._doc.get_map(f"k:{kid}").get_value() == {}
    assert len(a._doc.get_map(f"h:{kid}").get_value()) == 3


def test_timestamps_follow_in_memory_store() -> None:
    a = Core(peer_id=1)
    a.put(NS, "k", {"v": 1}, agent="a", turn=None, now=10.0)
    a.put(NS, "k", {"v": 2}, agent="a", turn=None, now=20.0)
    stored = a.get(NS, "k")
    assert stored is not None and (stored.created_at, stored.updated_at) == (10.0, 20.0)
    a.delete(NS, "k", agent="a", turn=None, now=30.0)
    a.put(NS, "k", {"v": 3}, agent="a", turn=None, now=40.0)
    stored = a.get(NS, "k")
    assert stored is not None and stored.created_at == 40.0


# -- text edge cases found by the simulator -----------------------------------------------
def test_text_insert_next_to_a_concurrently_deleted_word_stays_readable() -> None:
    """A char-minimal diff would anchor "r5a0.4 " inside the word "r5a0.1", which the
    other writer deletes: the insertion would read as garble."""
    a, b = pair()
    put(a, {"notes": "r5a0.1 r1a0.1 "})
    sync_all(a, b)
    put(a, {"notes": "r5a0.4 r5a0.1 r1a0.1 "}, agent="alice")
    put(b, {"notes": "r1a0.1 "}, agent="bob")
    sync_all(a, b)
    assert value(a)["notes"] == value(b)["notes"] == "r5a0.4 r1a0.1 "


def test_a_writers_own_text_view_does_not_leak_into_later_turns() -> None:
    a, b = pair()
    put(a, {"findings": "one two "})
    sync_all(a, b)
    t1 = b.begin_turn()
    put(a, {"findings": "zero one two "}, agent="alice")
    sync_all(a, b)
    put(b, {"findings": "one two three ", "n": 1}, agent="bob", turn=t1)
    sync_all(a, b)
    put(a, {**value(a), "m": 1}, agent="alice")
    sync_all(a, b)
    t2 = b.begin_turn()
    seen = value(b)
    put(a, {**value(a), "m": 2}, agent="alice")  # the key changes after t2 began
    sync_all(a, b)
    put(b, {**seen, "n": 2}, agent="bob", turn=t2)  # text unchanged: must stay as it is
    assert value(b)["findings"] == "zero one two three "


def test_a_writer_that_read_the_merged_text_edits_from_what_it_read() -> None:
    """After a concurrent edit its writer believes its own version; once it has read the
    merged text, that is its base (review: text it had read was inserted again, and text
    removed by a later delete came back when it wrote another field)."""
    schema: Any = {NS: {"notes": "text"}}
    a = Core(peer_id=1, schema=schema)
    put(a, {"notes": "A"}, agent="x")
    turn = a.begin_turn()
    put(a, {"notes": "AB"}, agent="x")  # unseen by the turn
    put(a, {"notes": "AX"}, agent="t", turn=turn)  # concurrent: merged "ABX"
    a.note_read(turn, NS, "k")
    seen = value(a)
    assert seen == {"notes": "ABX"}
    put(a, {**seen, "s": "z"}, agent="x")  # lands after the turn's read
    put(a, {**seen, "notes": "ABXY"}, agent="t", turn=turn)
    assert value(a) == {"notes": "ABXY", "s": "z"}
    b = Core(peer_id=2, schema=schema)
    put(b, {"notes": "A"}, agent="x")
    turn = b.begin_turn()
    put(b, {"notes": "AB"}, agent="x")
    put(b, {"notes": "AX"}, agent="t", turn=turn)
    b.note_read(turn, NS, "k")
    seen = value(b)
    b.delete(NS, "k", agent="x", turn=None, now=1.0)  # after the read, unseen
    put(b, {**seen, "s": "new"}, agent="t", turn=turn)  # leaves the text as it read it
    assert value(b) == {"s": "new"}


def test_op_ids_stay_unique_after_a_write_that_changed_nothing() -> None:
    """A put equal to the stored value records a single op (counter 0 for a fresh peer);
    the next write must not reuse its id."""
    a, b = pair()
    put(a, {"s": "x"})
    sync_all(a, b)
    first = put(b, {"s": "x"}, agent="b").op_id  # no change
    second = put(b, {"s": "y"}, agent="b").op_id
    assert first != second
    assert [r.op_id for r in b.history(NS, "k")].count(second) == 1


def test_text_that_arrived_before_its_field_is_kept_by_a_writer_creating_the_field() -> None:
    """A text edit made on a fork travels as ops of their own; a replica can apply them
    while the rest of that write still waits for a missing dependency. A writer there
    that creates the field has not seen that text and must not overwrite it (sweep seed
    304 of sweep_lossy)."""
    a, b = pair()
    put(a, {"n": 0})
    sync_all(a, b)
    turn = a.begin_turn()
    put(a, {"n": 1, "findings": "z "}, agent="zed")  # b will miss this write at first
    after = a.version()
    # alice began before zed's write: her new text goes via a fork of the empty text
    put(a, {"n": 0, "findings": "x "}, agent="alice", turn=turn)
    b.import_updates(a.export_updates(after))  # the fork's ops apply, the rest waits
    assert "findings" not in value(b)
    put(b, {**value(b), "findings": "y "}, agent="bob")
    sync_all(a, b)
    assert value(a) == value(b)
    assert sorted(value(a)["findings"].split()) == ["x", "y", "z"]


def test_a_counter_far_past_float_range_takes_a_float_write_exactly() -> None:
    """Increments are exact: 2.5 written over 10**400 is the increment 2.5 - 10**400
    (no float holds it; summed as floats it overflowed), and reads back 2.5 everywhere."""
    a = Core(peer_id=1, schema={NS: {"n": "counter"}})
    a.put(NS, "k", {"n": 10**400}, agent="a", turn=None, now=1.0)
    a.put(NS, "k", {"notes": "a whole write", "n": 2.5}, agent="a", turn=None, now=2.0)
    b = Core(peer_id=2, schema={NS: {"n": "counter"}})
    b.import_updates(a.export_updates())
    for core in (a, b):
        stored = core.get(NS, "k")
        assert stored is not None
        assert stored.value == {"notes": "a whole write", "n": 2.5}
        assert type(stored.value["n"]) is float


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.integers(-(2**80), 2**80), st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=6,
    )
)
def test_a_counter_reads_back_each_sequential_write_exactly(values: list[int | float]) -> None:
    """SPEC §3: with no concurrency a value reads back as written, a counter too: its
    increments are exact, and it reads as the type last written."""
    a = Core(peer_id=1, schema={NS: {"n": "counter"}})
    for value in values:
        a.put(NS, "k", {"n": value}, agent="a", turn=None, now=1.0)
        stored = a.get(NS, "k")
        assert stored is not None
        got = stored.value["n"]
        assert got == value and type(got) is type(value)


def test_a_writes_time_is_float_seconds_and_other_clocks_are_refused_before_writing() -> None:
    a = Core(peer_id=1)
    a.put(NS, "k", {"x": 1}, agent="a", turn=None, now=5)
    stored = a.get(NS, "k")
    assert stored is not None
    assert type(stored.created_at) is float and stored.created_at == 5.0
    before = a.version()
    for bad in ("5", None, True, float("nan"), 10**400):
        with pytest.raises((TypeError, ValueError), match="time must be"):
            a.put(NS, "k", {"x": 2}, agent="a", turn=None, now=bad)
    assert a.version() == before


@pytest.mark.parametrize("action", ["put", "delete"])
def test_a_write_refused_for_its_agent_id_leaves_nothing_to_leak(action: str) -> None:
    """The agent id is stored in the write's record, encoded after its text edit was
    planned: a lone surrogate must stop the write before Loro sees any of it."""
    a = Core(peer_id=1)
    a.put(NS, "k", {"notes": "hello world", "x": 1}, agent="a", turn=None, now=1.0)
    before = a.version()
    with pytest.raises(ValueError, match="agent id"):
        if action == "put":
            a.put(NS, "k", {"notes": "hello there", "x": 1}, agent="\ud800", turn=None, now=2.0)
        else:
            a.delete(NS, "k", agent="\ud800", turn=None, now=2.0)
    assert a.version() == before
    a.put(NS, "other", {"y": 2}, agent="a", turn=None, now=3.0)  # the next commit
    b = Core(peer_id=2)
    b.import_updates(a.export_updates())
    reopened = Core(peer_id=1)
    reopened.import_updates(a.export_snapshot())
    for core in (a, b, reopened):
        stored = core.get(NS, "k")
        assert stored is not None
        assert stored.value == {"notes": "hello world", "x": 1}
        assert stored.updated_at == 1.0


def test_a_declared_register_holding_a_dict_or_list_replicates() -> None:
    schema: Any = {NS: {"cfg": "register", "arr": "register"}}
    a, b = Core(peer_id=1, schema=schema), Core(peer_id=2, schema=schema)
    a.put(NS, "k", {"cfg": {"x": 1}, "arr": [1, 2], "n": 3}, agent="a", turn=None, now=1.0)
    b.import_updates(a.export_updates())
    reopened = Core(peer_id=1, schema=schema)
    reopened.import_updates(a.export_snapshot())
    for core in (a, b, reopened):
        stored = core.get(NS, "k")
        assert stored is not None
        assert stored.value == {"cfg": {"x": 1}, "arr": [1, 2], "n": 3}
        assert core.stats()["unreadable_records"] == 0


def test_stored_records_read_back_exactly_on_another_replica() -> None:
    """Records store each inserted entry without its op and writer (both the record's)
    and each ended one by op; another replica reads back the same entries, value,
    attribution, timestamps and history, whatever the kinds and ops (peers of full width,
    text edits that delete, old-view writes, deletes of nested fields)."""
    schema = {NS: {"tags": "set", "n": "counter", "doc": "text"}}
    a = Core(peer_id=2**64 - 2, schema=schema)
    b = Core(peer_id=12345678901234567, schema=schema)
    a.put(NS, "k", {"x": 1, "deep": {"y": [1, "two"]}}, agent="ann", turn=None, now=-0.0)
    a.put(
        NS,
        "k",
        {"x": 2, "tags": ["p", "q"], "n": 5, "doc": "hello world"},
        agent="ann",
        turn=None,
        now=2.5,
    )
    turn = a.begin_turn()
    a.put(NS, "k", {"x": 3, "tags": ["q"], "n": 7, "doc": "hello"}, agent="bob", turn=None, now=3.0)
    a.put(
        NS, "k", {"x": 4, "tags": ["p", "r"], "n": 2, "doc": "help"}, agent="cy", turn=turn, now=4.0
    )  # an old view: concurrent with bob's
    a.put(NS, "other", {"\n": "\n", "a\x1fb": [{"z": None}]}, agent="dee", turn=None, now=0.0)
    a.delete(NS, "other", agent="dee", turn=None, now=5.0)
    a.put(NS, "other", {"again": True}, agent="dee", turn=None, now=6.0)
    b.import_updates(a.export_updates())
    fresh = Core(peer_id=3, schema=schema)
    fresh.import_updates(a.export_snapshot())
    for key in ("k", "other"):
        mine = a.get(NS, key)
        assert mine is not None
        for other in (b, fresh):
            theirs = other.get(NS, key)
            assert theirs is not None
            assert (theirs.value, theirs.created_at, theirs.updated_at) == (
                mine.value,
                mine.created_at,
                mine.updated_at,
            )
            assert other.history(NS, key) == a.history(NS, key)
    for other in (b, fresh):
        assert other.attribution() == a.attribution()
        assert other.escalations() == a.escalations()
        assert other.stats()["unreadable_records"] == 0
    # the state each replica holds is entry for entry the writer's
    for other in (b, fresh):
        for key in ("k", "other"):
            mine_state = a._states.state(NS, key, create=False)
            theirs_state = other._states.state(NS, key, create=False)
            assert mine_state is not None and theirs_state is not None
            for bucket in ("regs", "tags", "deltas"):
                ours = {
                    e.eid: (e.op, e.agent, e.kind, e.value, e.stamp)
                    for entries in getattr(mine_state, bucket).values()
                    for e in entries.values()
                }
                assert ours == {
                    e.eid: (e.op, e.agent, e.kind, e.value, e.stamp)
                    for entries in getattr(theirs_state, bucket).values()
                    for e in entries.values()
                }
    # a key's first write keeps its creation time's sign
    first = fresh.history(NS, "k")[0]
    assert first.timestamp == 0.0
    created = Core(peer_id=4)
    created.put(NS, "z", {"v": 1}, agent="a", turn=None, now=-0.0)
    mirror = Core(peer_id=5)
    mirror.import_updates(created.export_updates())
    got = mirror.get(NS, "z")
    assert got is not None and str(got.created_at) == "-0.0"


def test_a_writes_ttl_travels_in_its_record_and_a_resolution_keeps_it() -> None:
    """An item's TTL is part of the write that gave it: a replica (or a reopened store)
    reads it from the record; a delete ends it, a put without one clears it, and a
    resolution, not a put, keeps it."""
    a = Core(peer_id=1)
    a.put(NS, "k", {"x": 1}, agent="a", turn=None, now=10.0, ttl=2.5)
    b = Core(peer_id=2)
    b.import_updates(a.export_updates())
    for core in (a, b):
        stored = core.get(NS, "k")
        assert stored is not None and (stored.updated_at, stored.ttl_minutes) == (10.0, 2.5)
    with pytest.raises(ValueError, match="ttl"):
        a.put(NS, "k", {"x": 2}, agent="a", turn=None, now=11.0, ttl=float("inf"))
    a.put(NS, "k", {"x": 3}, agent="a", turn=None, now=12.0)
    b.import_updates(a.export_updates(b.version()))
    stored = b.get(NS, "k")
    assert stored is not None and (stored.value, stored.ttl_minutes) == ({"x": 3}, None)
    # concurrent writes of one field conflict; their resolution keeps the TTL of the
    # write the key's timestamps come from
    b.put(NS, "k", {"x": 4}, agent="b", turn=None, now=13.0, ttl=7.0)
    a.put(NS, "k", {"x": 5}, agent="a", turn=None, now=13.0, ttl=7.0)
    sync_all(a, b)
    (esc,) = a.escalations()
    a.resolve(esc, 6, agent="human", now=14.0)
    stored = a.get(NS, "k")
    assert stored is not None and (stored.value, stored.ttl_minutes) == ({"x": 6}, 7.0)
