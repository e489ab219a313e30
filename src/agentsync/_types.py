"""Public value types: escalations, contenders and attributed write records."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, TypeAlias

JSON: TypeAlias = "dict[str, JSON] | list[JSON] | str | int | float | bool | None"
Namespace: TypeAlias = tuple[str, ...]
FieldKind: TypeAlias = Literal["map", "set", "list", "text", "counter", "register"]
"""`list` is an ordered list (declared only); `set` is the default for lists."""

WriteAction: TypeAlias = Literal["put", "delete", "resolve"]

__all__ = [
    "JSON",
    "Namespace",
    "FieldKind",
    "WriteAction",
    "Contender",
    "Escalation",
    "WriteRecord",
]


@dataclass(frozen=True, slots=True)
class Contender:
    """One of the concurrent writes that disagree on a field."""

    agent_id: str
    op_id: str
    value: JSON


@dataclass(frozen=True, slots=True)
class Escalation:
    """An open semantic conflict: concurrent writes set one field to different values.

    `field` is the dotted path (`"status"`, `"meta.x"`); `path` holds the same path as
    components, which is exact even when a field name itself contains a dot.
    """

    namespace: Namespace
    key: str
    field: str
    contenders: tuple[Contender, ...]
    path: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    @property
    def id(self) -> str:
        """Stable identity: the same conflict has the same id on every replica."""
        ops = ",".join(sorted(c.op_id for c in self.contenders))
        return f"{'/'.join(self.namespace)}|{self.key}|{self.field}|{ops}"


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """An attributed write that touched a key."""

    op_id: str
    agent_id: str
    action: WriteAction
    fields: tuple[str, ...]
    timestamp: float
