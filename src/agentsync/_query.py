"""The read side of LangGraph's store API, with `InMemoryStore`'s exact semantics.

Pure functions over plain values: search filters (`$eq $ne $gt $gte $lt $lte`, nested
dicts, lists), namespace matching with `*` wildcards, `list_namespaces` paging and
`max_depth`, the texts an item contributes to a semantic index, and the ranking of a
semantic search (each item scored by its best vector, unscored items filling the page).

Scores follow PostgresStore's `distance_type`: `"cosine"` is cosine similarity (what
InMemoryStore and SqliteStore report), `"inner_product"` the dot product and `"l2"` the
negated Euclidean distance, so a higher score is always a closer match.

Deliberate differences from `InMemoryStore` 1.x, all where it crashes or misreports:
an order comparison on a missing or non-numeric field is simply no match (InMemoryStore
raises TypeError from `float(None)`); a filter key `"a.b"` that is not itself a field
addresses the nested field, as the SQL stores and newer InMemoryStores do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypeVar

from langgraph.store.base import (
    ListNamespacesOp,
    MatchCondition,
    get_text_at_path,
    tokenize_path,
)

from ._types import Namespace

__all__ = [
    "IndexPaths",
    "matches_filter",
    "compare_values",
    "apply_operator",
    "namespace_matches",
    "select_namespaces",
    "index_paths",
    "texts_to_embed",
    "DistanceType",
    "DISTANCE_TYPES",
    "cosine_similarity",
    "inner_product",
    "negative_l2_distance",
    "similarity",
    "rank_by_similarity",
]

T = TypeVar("T")

IndexPaths = list[tuple[str, "str | list[str]"]]
"""(path as written, tokenized path or `"$"`) pairs, as InMemoryStore keeps them."""

DistanceType = Literal["cosine", "inner_product", "l2"]
"""How a semantic search scores a match, as PostgresStore's index `distance_type`."""

DISTANCE_TYPES: Final[tuple[DistanceType, ...]] = ("cosine", "inner_product", "l2")

_MISSING = object()


def _field(value: Mapping[str, Any], key: str) -> Any:
    """`value[key]`, else the nested field a dotted `key` names, else None."""
    found = value.get(key, _MISSING)
    if found is not _MISSING:
        return found
    if "." not in key:
        return None
    current: Any = value
    for part in key.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def matches_filter(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether a stored value passes a search filter (every condition must hold)."""
    if not filter:
        return True
    return all(compare_values(_field(value, key), wanted) for key, wanted in filter.items())


def compare_values(item_value: Any, filter_value: Any) -> bool:
    """JSONB-like comparison: operator dicts, nested dicts, element-wise lists."""
    if isinstance(filter_value, dict):
        if any(k.startswith("$") for k in filter_value):
            return all(apply_operator(item_value, op, arg) for op, arg in filter_value.items())
        if not isinstance(item_value, dict):
            return False
        return all(compare_values(item_value.get(k), v) for k, v in filter_value.items())
    if isinstance(filter_value, list | tuple):
        return (
            isinstance(item_value, list | tuple)
            and len(item_value) == len(filter_value)
            and all(compare_values(i, f) for i, f in zip(item_value, filter_value, strict=True))
        )
    return bool(item_value == filter_value)


def _ordered(value: Any, arg: Any, test: Callable[[float, float], bool]) -> bool:
    try:
        return test(float(value), float(arg))
    except (TypeError, ValueError):
        return False


def apply_operator(value: Any, operator: str, arg: Any) -> bool:
    """One `$op` comparison; ValueError for an operator InMemoryStore does not know."""
    if operator == "$eq":
        return bool(value == arg)
    if operator == "$ne":
        return bool(value != arg)
    if operator == "$gt":
        return _ordered(value, arg, lambda a, b: a > b)
    if operator == "$gte":
        return _ordered(value, arg, lambda a, b: a >= b)
    if operator == "$lt":
        return _ordered(value, arg, lambda a, b: a < b)
    if operator == "$lte":
        return _ordered(value, arg, lambda a, b: a <= b)
    raise ValueError(f"Unsupported operator: {operator}")


def namespace_matches(condition: MatchCondition, namespace: Namespace) -> bool:
    """Prefix or suffix match where a `"*"` label matches any one label."""
    path = condition.path
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValueError(f"Unsupported match type: {condition.match_type}")
    return all(want in ("*", have) for have, want in pairs)


def select_namespaces(namespaces: Iterable[Namespace], op: ListNamespacesOp) -> list[Namespace]:
    """`list_namespaces`: filter, truncate to `max_depth`, sort, then page."""
    selected = list(namespaces)
    if op.match_conditions:
        selected = [
            ns
            for ns in selected
            if all(namespace_matches(cond, ns) for cond in op.match_conditions)
        ]
    if op.max_depth is not None:
        selected = sorted({ns[: op.max_depth] for ns in selected})
    else:
        selected = sorted(selected)
    return selected[op.offset : op.offset + op.limit]


def index_paths(fields: Sequence[str] | None) -> IndexPaths:
    """Tokenize index field paths once; `None` means the whole value (`"$"`)."""
    return [(p, p if p == "$" else tokenize_path(p)) for p in (fields or ["$"])]


def texts_to_embed(value: Mapping[str, Any], paths: IndexPaths) -> list[tuple[str, str]]:
    """(vector name, text) pairs: one per path, or `path.i` per element of a multi-match."""
    out: list[tuple[str, str]] = []
    for path, tokens in paths:
        texts = get_text_at_path(value, tokens)
        if len(texts) > 1:
            out.extend((f"{path}.{i}", text) for i, text in enumerate(texts))
        elif texts:
            out.append((path, texts[0]))
    return out


def cosine_similarity(query: Sequence[float], vectors: Sequence[Sequence[float]]) -> list[float]:
    """Cosine similarity of `query` to each vector; 0.0 where either norm is zero."""
    qnorm = math.sqrt(math.fsum(x * x for x in query))
    scores: list[float] = []
    for vec in vectors:
        vnorm = math.sqrt(math.fsum(x * x for x in vec))
        if qnorm == 0.0 or vnorm == 0.0:
            scores.append(0.0)
        else:
            dot = math.fsum(a * b for a, b in zip(query, vec, strict=False))
            scores.append(dot / (qnorm * vnorm))
    return scores


def inner_product(query: Sequence[float], vectors: Sequence[Sequence[float]]) -> list[float]:
    """The dot product of `query` with each vector (PostgresStore's `inner_product` score)."""
    return [math.fsum(a * b for a, b in zip(query, vec, strict=False)) for vec in vectors]


def negative_l2_distance(query: Sequence[float], vectors: Sequence[Sequence[float]]) -> list[float]:
    """Minus the Euclidean distance from `query` to each vector (PostgresStore's `l2`)."""
    return [
        -math.sqrt(math.fsum((a - b) ** 2 for a, b in zip(query, vec, strict=False)))
        for vec in vectors
    ]


_SCORERS: Final[dict[str, Callable[[Sequence[float], Sequence[Sequence[float]]], list[float]]]] = {
    "cosine": cosine_similarity,
    "inner_product": inner_product,
    "l2": negative_l2_distance,
}


def similarity(
    query: Sequence[float], vectors: Sequence[Sequence[float]], distance: DistanceType
) -> list[float]:
    """Each vector's score against `query` under `distance`; higher is closer."""
    return _SCORERS[distance](query, vectors)


def rank_by_similarity(
    candidates: Sequence[tuple[T, Sequence[Sequence[float]]]],
    query: Sequence[float],
    *,
    key: Callable[[T], object],
    offset: int,
    limit: int,
    distance: DistanceType = "cosine",
) -> list[tuple[float | None, T]]:
    """InMemoryStore's semantic ranking, scored as PostgresStore scores `distance`.

    Each candidate scores its best vector (max pooling, as PostgresStore keeps each item's
    closest vector); candidates are ordered by score (stable, so ties keep candidate order)
    and paged; candidates without vectors then fill a short page, unscored.
    """
    flat: list[tuple[T, Sequence[float]]] = []
    scoreless: list[T] = []
    for item, vectors in candidates:
        flat.extend((item, vec) for vec in vectors)
        if not vectors:
            scoreless.append(item)
    scores = similarity(query, [vec for _, vec in flat], distance)
    ordered = sorted(zip(scores, (item for item, _ in flat), strict=True), key=lambda p: p[0],
                     reverse=True)  # fmt: skip
    seen: set[object] = set()
    kept: list[tuple[float | None, T]] = []
    for score, item in ordered:
        ident = key(item)
        if ident in seen:
            continue
        position = len(seen)
        seen.add(ident)
        if position >= offset + limit:
            break
        if position < offset:
            continue
        kept.append((score, item))
    if scoreless and len(kept) < limit:
        kept.extend((None, item) for item in scoreless[: limit - len(kept)])
    return kept
