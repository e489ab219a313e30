"""A human in the loop for conflicts, inside a LangGraph graph.

A conflict is a field two agents set concurrently to different values; until someone
decides, it reads back as the placeholder (`"<escalated:FIELD>"`) or, with
`conflict_value="provisional"`, as one contender's value. `review_node()` makes a graph
node that pauses the run with LangGraph's `interrupt()` while conflicts are open under a
namespace, and settles them from the value the run is resumed with:

    builder.add_node("review", review_node(("team",)))
    graph = builder.compile(store=store, checkpointer=InMemorySaver())
    paused = graph.invoke(inputs, config)                # stops at the review node
    [request] = paused["__interrupt__"]                  # request.value: ConflictReview
    choices = {e["id"]: e["contenders"][0]["value"] for e in request.value["escalations"]}
    graph.invoke(Command(resume=choices), config)        # resolved, the run goes on

The resume value maps escalation ids to the chosen values. Each choice is an ordinary
attributed write (`store.resolve`) that has seen every contender. A conflict that
changed while the run was paused (a new contender, an overwrite, a delete) is not
resolved with a stale choice: the node asks again with the conflicts as they are now and
lists the ids it could not apply under `"stale"`. Conflicts the answer does not name stay
open and the run goes on; `Command(resume=LEAVE_OPEN)` leaves them all open (LangGraph
reads an empty resume value as no answer at all, so `{}` would not do).

Do not call `interrupt()` from an `on_escalation` callback: the callback runs inside the
store call that found the conflict, after the write was applied, and callback errors
(an interrupt is one) are logged, not raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypedDict

from langgraph.config import get_store
from langgraph.types import interrupt

from ._errors import StaleEscalationError
from ._store import AsyncSyncedStore, SyncedStore
from ._types import JSON, Escalation, Namespace

__all__ = [
    "LEAVE_OPEN",
    "ConflictReview",
    "ContenderView",
    "EscalationView",
    "areview_node",
    "escalation_view",
    "review_node",
]

_Store = SyncedStore | AsyncSyncedStore

LEAVE_OPEN: Final = "agentsync:leave-open"
"""Resume a review with this to leave every conflict open and let the run continue."""


class ContenderView(TypedDict):
    """One contender of an open conflict, as the reviewer sees it."""

    agent_id: str
    op_id: str
    value: JSON


class EscalationView(TypedDict):
    """An open conflict, as plain JSON (what the interrupt carries to a UI)."""

    id: str
    namespace: list[str]
    key: str
    field: str
    contenders: list[ContenderView]


class ConflictReview(TypedDict):
    """The value of the interrupt a review node raises."""

    namespace: list[str] | None
    escalations: list[EscalationView]
    stale: list[str]
    """Ids chosen on the previous resume that were no longer open as they were shown."""


def escalation_view(escalation: Escalation) -> EscalationView:
    """The JSON view of an escalation (its `id` is the key to answer it by)."""
    return {
        "id": escalation.id,
        "namespace": list(escalation.namespace),
        "key": escalation.key,
        "field": escalation.field,
        "contenders": [
            {"agent_id": c.agent_id, "op_id": c.op_id, "value": c.value}
            for c in escalation.contenders
        ],
    }


def _store(store: _Store | None) -> _Store:
    found = store if store is not None else get_store()
    if not isinstance(found, SyncedStore | AsyncSyncedStore):
        raise TypeError(
            "review_node needs the graph compiled with an agentsync store "
            f"(compile(store=SyncedStore())), got {type(found).__name__}"
        )
    return found


def _request(namespace: Namespace | None, open_: list[Escalation], stale: list[str]) -> Any:
    review: ConflictReview = {
        "namespace": None if namespace is None else list(namespace),
        "escalations": [escalation_view(e) for e in open_],
        "stale": stale,
    }
    return interrupt(review)


def _choices(answer: object) -> Mapping[str, Any]:
    if answer == LEAVE_OPEN:
        return {}
    if not isinstance(answer, Mapping) or not all(isinstance(k, str) for k in answer):
        raise TypeError(
            "resume a review with a mapping of escalation id to the chosen value "
            f"(or LEAVE_OPEN), got {type(answer).__name__}"
        )
    return answer


def review_node(
    namespace: Namespace | None = None, *, store: SyncedStore | None = None
) -> Callable[[Any], dict[str, Any]]:
    """A graph node that interrupts when conflicts are open under `namespace` (all
    namespaces if None) and resolves them with the values it is resumed with; it asks
    again only when a chosen conflict changed meanwhile.

    The node returns `{}` (no state update); it uses the graph's store unless `store`
    is given. For async graphs use `areview_node`.
    """
    prefix = None if namespace is None else tuple(namespace)

    def review(state: Any) -> dict[str, Any]:
        target = _store(store)
        stale: list[str] = []
        while open_ := target.escalations(prefix):
            choices = _choices(_request(prefix, open_, stale))
            if not choices:
                break
            current = {e.id: e for e in open_}
            stale = []
            for esc_id, value in choices.items():
                esc = current.get(esc_id)
                if esc is None:
                    stale.append(esc_id)
                    continue
                try:
                    target.resolve(esc, value)
                except StaleEscalationError:
                    stale.append(esc_id)
            if not stale:
                break  # what the answer left unnamed stays open
        return {}

    return review


def areview_node(
    namespace: Namespace | None = None, *, store: AsyncSyncedStore | SyncedStore | None = None
) -> Callable[[Any], Awaitable[dict[str, Any]]]:
    """`review_node` for async graphs (`await graph.ainvoke(...)`)."""
    prefix = None if namespace is None else tuple(namespace)

    async def review(state: Any) -> dict[str, Any]:
        target = _store(store)
        stale: list[str] = []
        while open_ := target.escalations(prefix):
            choices = _choices(_request(prefix, open_, stale))
            if not choices:
                break
            current = {e.id: e for e in open_}
            stale = []
            for esc_id, value in choices.items():
                esc = current.get(esc_id)
                if esc is None:
                    stale.append(esc_id)
                    continue
                try:
                    await target.aresolve(esc, value)
                except StaleEscalationError:
                    stale.append(esc_id)
            if not stale:
                break  # what the answer left unnamed stays open
        return {}

    return review
