"""LangGraph's store argument checks, reproduced here because LangGraph keeps them private.

`InMemoryStore` validates namespaces and resolves a put's TTL with helpers of
`langgraph.store.base` whose names start with an underscore (and `validate_op_namespace`,
which only recent `langgraph-checkpoint` releases have); they are missing from some
releases inside the range `pyproject.toml` allows. These are the same checks with the
same messages (the compatibility suite compares them with `InMemoryStore`'s).
"""

from __future__ import annotations

from langgraph.store.base import (
    NOT_PROVIDED,
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    NotProvided,
    Op,
    PutOp,
    SearchOp,
    TTLConfig,
)

__all__ = ["ensure_ttl", "validate_namespace", "validate_namespace_labels", "validate_op_namespace"]


def validate_namespace_labels(namespace: tuple[str, ...]) -> None:
    """Every label is a non-empty str without '.' or NUL (what a read or list accepts)."""
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"Invalid namespace label '{label}' found in {namespace}. Namespace labels"
                f" must be strings, but got {type(label).__name__}."
            )
        if "." in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label '{label}' found in {namespace}. Namespace labels "
                "cannot contain periods ('.')."
            )
        if "\x00" in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label '{label}' found in {namespace}. Namespace labels "
                "cannot contain NUL bytes ('\\x00')."
            )
        if not label:
            raise InvalidNamespaceError(
                f"Namespace labels cannot be empty strings. Got {label} in {namespace}"
            )


def validate_namespace(namespace: tuple[str, ...]) -> None:
    """What a put accepts: a non-empty namespace of valid labels not rooted at 'langgraph'."""
    if not namespace:
        raise InvalidNamespaceError("Namespace cannot be empty.")
    validate_namespace_labels(namespace)
    if namespace[0] == "langgraph":
        raise InvalidNamespaceError(
            f'Root label for namespace cannot be "langgraph". Got: {namespace}'
        )


def validate_op_namespace(op: Op) -> None:
    """The labels an op passed straight to `batch` carries (no store method checked them)."""
    if isinstance(op, GetOp | PutOp):
        validate_namespace_labels(op.namespace)
    elif isinstance(op, SearchOp):
        validate_namespace_labels(op.namespace_prefix)
    elif isinstance(op, ListNamespacesOp):
        for condition in op.match_conditions or ():
            validate_namespace_labels(condition.path)


def ensure_ttl(
    ttl_config: TTLConfig | None, ttl: float | NotProvided | None = NOT_PROVIDED
) -> float | None:
    """A put's TTL in minutes: the one given, else the store's default (None: forever)."""
    if isinstance(ttl, NotProvided):
        return ttl_config.get("default_ttl") if ttl_config else None
    return ttl
