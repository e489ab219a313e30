"""The checker against hand-built histories whose truth is known."""

from __future__ import annotations

from typing import Any

from actors.checker import ReplicaState, expectation_failures, ground_truth, score
from actors.history import History, Intent, WriteEvent
from actors.scenario import ExpectSpec
from agentsync._types import Contender, Escalation

NS = ("t",)
KINDS: dict[tuple[str, ...], str] = {
    ("status",): "register",
    ("tags",): "set",
    ("notes",): "text",
    ("hits",): "counter",
    ("meta", "owner"): "register",
}


class Run:
    """A tiny world: replicas write, deliver to each other, and we say what they end with."""

    def __init__(self, replicas: int = 2) -> None:
        self.h = History(replicas)
        self.n = 0

    def write(
        self, replica: int, agent: str, *intents: Intent, value: dict[str, Any] | None = None
    ) -> WriteEvent:
        self.n += 1
        return self.h.record_write(
            f"{agent}:{self.n}",
            replica=replica,
            agent=agent,
            namespace=NS,
            key="k",
            at=float(self.n),
            held=self.h.snapshot(replica),
            intents=intents,
            value=value if value is not None else {},
        )

    def deliver_all(self) -> None:
        ops = [w.op_id for w in self.h.writes]
        for r in range(self.h.replicas):
            self.h.delivered(r, ops, float(self.n + 1))

    def deliver(self, replica: int, *writes: WriteEvent) -> None:
        self.h.delivered(replica, [w.op_id for w in writes], float(self.n))

    def score(self, *states: ReplicaState, resolutions: int = 0) -> Any:
        truth = ground_truth(self.h, KINDS)
        return score(self.h, truth, list(states), resolutions=resolutions)


def state(
    value: dict[str, Any] | None,
    *,
    escalations: tuple[Escalation, ...] = (),
    attribution: dict[str, list[str]] | None = None,
) -> ReplicaState:
    values = {} if value is None else {(NS, "k"): value}
    attrib = {(NS, "k"): attribution} if attribution is not None else {}
    return ReplicaState(values, escalations, attrib)


def set_(path: str, v: Any) -> Intent:
    return Intent(tuple(path.split(".")), "set", v)


def esc(field: str, *writes: WriteEvent) -> Escalation:
    return Escalation(NS, "k", field, tuple(Contender(w.agent, w.op_id, None) for w in writes))


# -- registers ------------------------------------------------------------------------------


def test_concurrent_different_register_values_are_a_conflict_that_must_be_escalated() -> None:
    run = Run()
    a = run.write(0, "A", set_("status", "open"))
    b = run.write(1, "B", set_("status", "done"))
    run.deliver_all()
    escalated = run.score(
        state({"status": "<escalated:status>"}, escalations=(esc("status", a, b),))
    )
    assert escalated.conflicts_expected == 1
    assert (escalated.escalations, escalated.missed_conflicts, escalated.writes_lost) == (1, 0, 0)
    assert escalated.outcome == "escalated"

    picked = run.score(state({"status": "done"}))
    assert picked.missed_conflicts == 1
    assert picked.lost_ops == [a.op_id]  # the silently dropped contender
    assert picked.outcome == "corrupted"


def test_concurrent_equal_register_values_are_not_a_conflict() -> None:
    run = Run()
    run.write(0, "A", set_("status", "open"))
    run.write(1, "B", set_("status", "open"))
    run.deliver_all()
    result = run.score(state({"status": "open"}))
    assert (result.conflicts_expected, result.writes_lost, result.outcome) == (0, 0, "auto_merged")


def test_a_write_that_had_seen_the_earlier_one_overwrites_without_conflict() -> None:
    run = Run()
    first = run.write(0, "A", set_("status", "open"))
    run.deliver(1, first)
    second = run.write(1, "B", set_("status", "done"))
    run.deliver_all()
    assert run.score(state({"status": "done"})).outcome == "auto_merged"
    stale = run.score(state({"status": "open"}))
    assert stale.lost_ops == [second.op_id]
    false_alarm = run.score(
        state({"status": "<escalated:status>"}, escalations=(esc("status", first, second),))
    )
    assert false_alarm.false_escalations == 1
    assert false_alarm.lost_ops == [second.op_id]


def test_a_model_decision_counts_as_resolved_not_missed() -> None:
    run = Run()
    run.write(0, "A", set_("status", "open"))
    run.write(1, "B", set_("status", "done"))
    run.deliver_all()
    by_attribution = run.score(state({"status": "done"}, attribution={"status": ["resolver"]}))
    assert (by_attribution.resolved, by_attribution.missed_conflicts) == (1, 0)
    assert by_attribution.outcome == "resolved"
    by_count = run.score(state({"status": "done"}, attribution={"status": ["B"]}), resolutions=1)
    assert by_count.outcome == "resolved"
    assert run.score(state({"status": "done"}, attribution={"status": ["B"]})).outcome == (
        "corrupted"
    )


def test_a_delete_supersedes_what_the_deleter_saw_but_not_a_concurrent_put() -> None:
    run = Run(3)
    owner = run.write(0, "A", set_("meta.owner", "ana"))
    run.deliver(1, owner)
    run.write(1, "D", Intent((), "delete"), value=None)
    concurrent = run.write(2, "C", set_("status", "open"))  # had not seen the delete
    run.deliver_all()
    assert run.score(state({"status": "open"})).outcome == "auto_merged"
    resurrected = run.score(state({"status": "open", "meta": {"owner": "ana"}}))
    assert resurrected.spurious == 1 and resurrected.outcome == "corrupted"
    dropped = run.score(state(None))
    assert dropped.lost_ops == [concurrent.op_id]


# -- mergeable fields -----------------------------------------------------------------------


def test_concurrent_set_adds_must_all_survive() -> None:
    run = Run()
    a = run.write(0, "A", Intent(("tags",), "add", "x"))
    run.write(1, "B", Intent(("tags",), "add", "y"))
    run.deliver_all()
    merged = run.score(state({"tags": ["x", "y"]}, attribution={"tags": ["A", "B"]}))
    assert merged.outcome == "auto_merged" and merged.attribution_complete
    lww = run.score(state({"tags": ["y"]}, attribution={"tags": ["B"]}))
    assert lww.lost_ops == [a.op_id]
    assert not lww.attribution_complete
    assert lww.outcome == "corrupted"


def test_a_removal_wins_only_over_adds_the_remover_had_seen() -> None:
    run = Run(3)
    x = run.write(0, "A", Intent(("tags",), "add", "x"))
    run.deliver(1, x)
    run.write(1, "B", Intent(("tags",), "discard", "x"))
    again = run.write(2, "C", Intent(("tags",), "add", "x"))  # concurrent re-add survives
    run.deliver_all()
    assert run.score(state({"tags": ["x"]})).writes_lost == 0
    assert run.score(state({"tags": []})).lost_ops == [again.op_id]


def test_content_removed_by_everyone_who_saw_it_must_stay_gone() -> None:
    run = Run()
    x = run.write(0, "A", Intent(("tags",), "add", "x"), value={"tags": ["x"]})
    run.deliver(1, x)
    run.write(1, "B", Intent(("tags",), "discard", "x"), value={"tags": []})
    run.deliver_all()
    back = run.score(state({"tags": ["x"]}))
    assert back.spurious == 1 and back.outcome == "corrupted"


def test_text_tokens_from_concurrent_inserts_must_all_be_present_once() -> None:
    run = Run()
    run.write(0, "A", Intent(("notes",), "insert", "A.1"))
    b = run.write(1, "B", Intent(("notes",), "insert", "B.1"))
    run.deliver_all()
    assert run.score(state({"notes": "B.1 A.1 "})).outcome == "auto_merged"
    assert run.score(state({"notes": "A.1 "})).lost_ops == [b.op_id]
    assert run.score(state({"notes": "A.1 B.1 A.1 "})).spurious == 1


def test_counter_increments_add_up_and_a_delete_drops_only_what_it_saw() -> None:
    run = Run(3)
    one = run.write(0, "A", Intent(("hits",), "incr", 2))
    run.write(1, "B", Intent(("hits",), "incr", 3))
    run.deliver(2, one)
    run.write(2, "D", Intent((), "delete"), value=None)
    run.deliver_all()
    assert run.score(state({"hits": 3})).outcome == "auto_merged"
    resurrected = run.score(state({"hits": 5}))
    assert (resurrected.spurious, resurrected.writes_lost) == (1, 0)
    assert run.score(state({"hits": 0})).writes_lost == 1


def test_a_write_missing_on_any_replica_is_lost() -> None:
    run = Run()
    run.write(0, "A", Intent(("tags",), "add", "x"))
    run.deliver_all()
    result = run.score(state({"tags": ["x"]}), state(None))
    assert result.writes_lost == 1


def test_writes_only_a_replica_that_crashed_without_its_store_held_are_not_judged() -> None:
    run = Run()
    gone = run.write(1, "B", Intent(("tags",), "add", "y"))
    run.h.forget(1)
    kept = run.write(0, "A", Intent(("tags",), "add", "x"))
    run.deliver(1, kept)
    result = run.score(state({"tags": ["x"]}))
    assert result.writes_lost == 0 and result.lost_to_crash == 1
    assert run.h.holders[gone.index] == 0


# -- expectations ----------------------------------------------------------------------------


def test_expectations_list_every_unmet_bound() -> None:
    run = Run()
    run.write(0, "A", Intent(("tags",), "add", "x"))
    run.deliver_all()
    lost = run.score(state({"tags": []}))
    failures = expectation_failures(
        ExpectSpec(outcomes=["auto_merged"], max_writes_lost=0, min_model_calls=1),
        converged=False,
        result=lost,
        model_calls=0,
    )
    assert failures == [
        "did not converge",
        "outcome corrupted, expected auto_merged",
        "writes lost 1 > 0",
        "model calls 0 < 1",
    ]
    assert expectation_failures(ExpectSpec(), converged=True, result=lost, model_calls=0) == []


def test_fingerprints_match_exactly_when_states_match() -> None:
    a = state({"tags": ["x"], "n": {"b": 1, "a": 2}})
    b = state({"n": {"a": 2, "b": 1}, "tags": ["x"]})
    c = state({"tags": ["x"], "n": {"a": 2, "b": 2}})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_a_conflict_whose_field_vanished_is_missed_and_both_contenders_lost() -> None:
    run = Run()
    a = run.write(0, "A", set_("status", "open"))
    b = run.write(1, "B", set_("status", "done"))
    run.deliver_all()
    result = run.score(state({"other": 1}))
    assert result.missed_conflicts == 1
    assert result.lost_ops == [a.op_id, b.op_id]
    assert "silently decided: nothing" in result.notes[0]


def test_a_model_decision_against_a_later_overwrite_is_resolved_only_when_a_model_acted() -> None:
    run = Run()
    run.write(0, "A", set_("status", "open"))
    run.write(1, "B", set_("status", "done"))
    run.deliver_all()
    # B saw both contenders and settled it itself; the arbiter's decision crossed with it
    run.write(1, "B", set_("status", "review"))
    run.deliver_all()
    decided = state({"status": "done"}, attribution={"status": ["resolver:offline"]})
    by_model = run.score(decided, resolutions=2)
    assert (by_model.writes_lost, by_model.resolved, by_model.outcome) == (0, 1, "resolved")
    assert by_model.attribution_complete
    no_model = run.score(decided)
    assert no_model.writes_lost == 1 and no_model.outcome == "corrupted"
