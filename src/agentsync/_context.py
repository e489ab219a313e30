"""Who is writing, and what had they seen: agents and turns for the store (SPEC 3).

Three sources, most specific first:

- Inside a LangGraph run, the writer is the Pregel *task*. LangGraph sets the task's
  `RunnableConfig` in a context variable for node code (threads and asyncio tasks alike),
  so the store reads it in `batch`/`abatch`. All tasks of one superstep share one view:
  the view when the first of them touched the store. A later superstep begins a new
  view, so it has seen every earlier one. A subgraph's superstep starts from its parent
  task's view (not the whole store: the parent's siblings are still concurrent with it),
  and every write or read a task makes also counts as seen by its enclosing tasks.
- Outside a graph, a `store.acting_as(agent)` block is one turn, begun when the block
  is entered. Nested blocks start their own turn; what they write counts as seen by
  the blocks around them.
- Otherwise the call is its own turn and has seen everything (`turn=None`).

Superstep identity comes from the task's checkpoint namespace and `checkpoint_map`: the
map holds, for every level of (sub)graph nesting, the id of the checkpoint its current
superstep started from, which is unique per run and step with or without a checkpointer.

Memory stays bounded: a task's view is dropped when LangGraph frees the task (a weak
reference to the task's write buffer), a superstep's shared view when its last task is
dropped, and in any case the least recently used views beyond a cap are forgotten.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import sys
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any, Final, NamedTuple

from langchain_core.runnables.config import var_child_runnable_config

from ._core import Turn
from ._logging import get_logger

__all__ = [
    "ANONYMOUS",
    "GraphTask",
    "ActingFrame",
    "TaskTurns",
    "graph_task",
    "current_frame",
    "push_frame",
    "pop_frame",
    "new_store_token",
]

log = get_logger(__name__)

ANONYMOUS: Final = "anonymous"
"""Agent id of writes made outside a graph node and outside `acting_as`."""

_NS_SEP: Final = "|"
_NS_END: Final = ":"
_TASK_ID: Final = "__pregel_task_id"
_SEND: Final = "__pregel_send"
_CHECKPOINT_NS: Final = "checkpoint_ns"
_CHECKPOINT_MAP: Final = "checkpoint_map"
_CALL: Final = "__pregel_call"
_READ: Final = "__pregel_read"


# --------------------------------------------------------------------------------------
# LangGraph task detection


class GraphTask(NamedTuple):
    """The LangGraph task a store call runs in (read on every store call inside a graph
    node: a NamedTuple builds in a fraction of a frozen dataclass's time)."""

    key: str
    """Unique per task: its checkpoint namespace (`node:task_id`, nested with `|`); inside
    a tool call, a level below the task's (`|node:TOOL:call`): one call's view."""
    node: str
    """Who writes: the node name, or `node:TOOL` inside a tool call (a prebuilt `ToolNode`
    runs every tool call of a message in one task, so the node alone says nothing)."""
    step: int
    checkpoint_map: Mapping[str, str]
    anchor: object | None
    """An object that lives exactly as long as the task (its write buffer), if any."""
    run: int | None = None
    """Identity of the Pregel loop running the task (one per invocation of a graph or
    subgraph): a resumed run re-creates tasks with the same ids in a new loop."""


def graph_task() -> GraphTask | None:
    """The LangGraph task of the current context, or None outside a graph run."""
    config = var_child_runnable_config.get()
    if not config:
        return None
    configurable = config.get("configurable")
    if not configurable:
        return None
    task_id = configurable.get(_TASK_ID)
    if not isinstance(task_id, str):
        return None
    metadata = config.get("metadata") or {}
    ns = configurable.get(_CHECKPOINT_NS)
    key = ns if isinstance(ns, str) and ns else task_id
    node = metadata.get("langgraph_node")
    if not isinstance(node, str):
        node = _segment_node(key.rpartition(_NS_SEP)[2])
    tool = _tool_call(config)
    if tool is not None:
        name, call = tool
        node = f"{node}:{name}"
        if call is not None:
            # a prebuilt ToolNode runs every tool call of a message in one task, in
            # parallel: each call is a writer of its own, concurrent with its siblings
            # and seen by the task (as a subgraph's tasks are)
            key = f"{key}{_NS_SEP}{node}{_NS_END}{call}"
    step = metadata.get("langgraph_step")
    cmap = configurable.get(_CHECKPOINT_MAP)
    send = configurable.get(_SEND)
    return GraphTask(  # positional: a NamedTuple built from keywords costs more
        key,
        node,
        step if isinstance(step, int) else -1,
        cmap if type(cmap) is dict or isinstance(cmap, Mapping) else {},
        getattr(send, "__self__", None),
        _run_identity(configurable),
    )


_MAX_FRAMES: Final = 200


class _Codes(NamedTuple):
    tool: frozenset[CodeType]  # where a LangChain tool call runs
    task: frozenset[CodeType]  # where a LangGraph task starts: the search stops there


@functools.cache
def _codes() -> _Codes:
    from langchain_core.tools import BaseTool, StructuredTool, Tool

    tools = {BaseTool.run, BaseTool.arun, StructuredTool._run, StructuredTool._arun}
    tools |= {Tool._run, Tool._arun}
    try:
        from langgraph.pregel import _retry  # private: only a bound on the search below

        task = frozenset({_retry.run_with_retry.__code__, _retry.arun_with_retry.__code__})
    except (ImportError, AttributeError):
        task = frozenset()
    return _Codes(frozenset(f.__code__ for f in tools), task)


class _ToolCall(NamedTuple):
    name: str
    call: str | None
    """Unique per call of the tool (its callback run id), if it has one."""


# The config a store call last looked up and the tool it runs in. LangGraph and LangChain
# run every node and tool call in a copy of the context with its own config, so this
# lives exactly as long as that call, and a node's many store calls search the stack once.
_tool_of_config: contextvars.ContextVar[tuple[object, _ToolCall | None] | None] = (
    contextvars.ContextVar("agentsync_tool_call", default=None)
)


def _tool_call(config: object) -> _ToolCall | None:
    cached = _tool_of_config.get()
    if cached is not None and cached[0] is config:
        return cached[1]
    tool = _running_tool()
    _tool_of_config.set((config, tool))
    return tool


def _running_tool() -> _ToolCall | None:
    """The LangChain tool call this store call is made in, if any.

    A tool call carries no trace of its tool in the config LangGraph and LangChain hand
    to the tool's code, so look for the tool's own `run`/`arun` (or `StructuredTool`'s
    `_run`/`_arun`, which is what a sync tool runs in a worker thread of an async graph)
    on the call stack, up to the frame that started the LangGraph task. (A few
    microseconds: `_tool_call` asks once per node or tool call.)
    """
    codes = _codes()
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None
        code = frame.f_code
        if code in codes.tool:
            local = frame.f_locals
            name = getattr(local.get("self"), "name", None)
            if not isinstance(name, str) or not name:
                return None
            run_id = getattr(local.get("run_manager"), "run_id", None)
            return _ToolCall(name, None if run_id is None else str(run_id))
        if code in codes.task:
            return None
        frame = frame.f_back
    return None


def _run_identity(configurable: Mapping[str, Any]) -> int | None:
    """id() of the Pregel loop (kept alive by the task's config while the task lives)."""
    keywords = getattr(configurable.get(_CALL), "keywords", None)
    if type(keywords) is dict or isinstance(keywords, Mapping):  # (the ABC check is slow)
        loop = getattr(keywords.get("schedule_task"), "__self__", None)
        if loop is not None:
            return id(loop)
    args = getattr(configurable.get(_READ), "args", ())
    if isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], dict):
        return id(args[1])  # the loop's channels
    return None


def _other_run(known: int | None, current: int | None) -> bool:
    return known is not None and current is not None and known != current


def _segment_node(segment: str) -> str:
    """Node name from one checkpoint-namespace segment (`name:task_id`)."""
    return segment.rpartition(_NS_END)[0] or segment


# --------------------------------------------------------------------------------------
# acting_as frames


@dataclass(slots=True, eq=False)
class ActingFrame:
    """One `acting_as` block on one store: its agent and (outside a graph) its turn."""

    agent: str
    turn: Turn | None
    outer: tuple[Turn, ...]
    """Turns of the enclosing blocks on the same store: they see this block's writes."""
    task_key: str | None = None
    """The LangGraph task the block was entered in (None: outside a graph). A block
    names the agent only in its own task: a graph run inside an `acting_as` block still
    attributes each node's writes to the node."""


_frames: contextvars.ContextVar[Mapping[int, tuple[ActingFrame, ...]] | None] = (
    contextvars.ContextVar("agentsync_acting_as", default=None)
)
_store_tokens = itertools.count(1)


def new_store_token() -> int:
    """A process-unique id for one store, so blocks on one store do not leak to another."""
    return next(_store_tokens)


def current_frame(store: int) -> ActingFrame | None:
    frames = _frames.get()
    if not frames:
        return None
    stack = frames.get(store)
    return stack[-1] if stack else None


def push_frame(store: int, frame: ActingFrame) -> contextvars.Token[Any]:
    frames = dict(_frames.get() or {})
    frames[store] = (*frames.get(store, ()), frame)
    return _frames.set(frames)


def pop_frame(token: contextvars.Token[Any]) -> None:
    _frames.reset(token)


# --------------------------------------------------------------------------------------
# superstep views


@dataclass(slots=True, eq=False)
class _Group:
    """One superstep of one (sub)graph level of one run: the view its tasks share."""

    key: tuple[str, str]
    base: Turn
    members: int = 0
    run: int | None = None


@dataclass(slots=True, eq=False)
class _TaskView:
    key: str
    group: _Group
    turn: Turn
    ancestors: tuple[Turn, ...]
    anchored: bool
    node: str = ""
    run: int | None = None
    finalizer: weakref.finalize[Any, Any] | None = field(default=None, repr=False)


class TaskTurns:
    """Maps LangGraph tasks to turns. Not thread-safe: call under the store's lock."""

    def __init__(
        self,
        begin_turn: Callable[[], Turn],
        *,
        max_tasks: int = 65_536,
        max_unanchored: int = 4_096,
    ) -> None:
        self._begin_turn = begin_turn
        self._max_tasks = max_tasks
        self._max_unanchored = max_unanchored
        self._tasks: OrderedDict[str, _TaskView] = OrderedDict()
        self._unanchored: OrderedDict[str, None] = OrderedDict()
        self._groups: dict[tuple[str, str], _Group] = {}
        # Finalizers run in whatever thread drops the last reference, possibly while this
        # thread holds the store lock: they only append here, and we purge under the lock.
        self._dead: deque[tuple[str, int]] = deque()

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def group_count(self) -> int:
        return len(self._groups)

    @property
    def pending(self) -> bool:
        """Whether freed tasks wait to be purged."""
        return bool(self._dead)

    def turn_for(self, task: GraphTask) -> tuple[Turn, tuple[Turn, ...]]:
        """The task's turn and the turns of its enclosing tasks (outermost first)."""
        self.purge()
        view = self._tasks.get(task.key)
        if view is not None and _other_run(view.run, task.run):
            # the same task id in a new loop: a run resumed after an interrupt or error
            self._drop(task.key, reason="finished")
            view = None
        if view is None:
            view = self._create(task.key, task.node, task.checkpoint_map, task.anchor, run=task.run)
        else:
            self._tasks.move_to_end(task.key)
            self._touch_ancestors(task.key)
            if not view.anchored and task.anchor is not None:
                self._anchor(view, task.anchor)
        return view.turn, view.ancestors

    # -- internals ---------------------------------------------------------------------
    def _create(
        self,
        key: str,
        node: str,
        cmap: Mapping[str, str],
        anchor: object | None,
        *,
        run: int | None = None,
    ) -> _TaskView:
        parent_key = key.rpartition(_NS_SEP)[0]
        parent: _TaskView | None = None
        if parent_key:
            parent = self._tasks.get(parent_key)
            if parent is None:
                parent = self._create(parent_key, _segment_node(parent_key), cmap, None)
            else:
                self._tasks.move_to_end(parent_key)
        group_key = (parent_key, str(cmap.get(parent_key, "")))
        group = self._groups.get(group_key)
        if group is not None and _other_run(group.run, run):
            del self._groups[group_key]  # its tasks keep their views until LangGraph frees them
            group = None
        if group is None:
            base = self._begin_turn() if parent is None else self._fork(parent.turn)
            group = _Group(group_key, base, run=run)
            self._groups[group_key] = group
        elif group.run is None:
            group.run = run
        group.members += 1
        ancestors = () if parent is None else (*parent.ancestors, parent.turn)
        view = _TaskView(
            key, group, self._fork(group.base), ancestors, anchored=False, node=node, run=run
        )
        self._tasks[key] = view
        self._unanchored[key] = None
        if anchor is not None:
            self._anchor(view, anchor)
        self._enforce_caps()
        return view

    def _anchor(self, view: _TaskView, anchor: object) -> None:
        try:
            view.finalizer = weakref.finalize(anchor, self._dead.append, (view.key, id(view)))
        except TypeError:  # not weak-referenceable: the LRU cap bounds it instead
            return
        view.anchored = True
        self._unanchored.pop(view.key, None)

    def _fork(self, turn: Turn) -> Turn:
        # A Turn from begin_turn is registered with the core (which keeps superseded
        # entries while some turn may still need them); we then narrow it to `turn`'s view.
        fork = self._begin_turn()
        fork.epoch = turn.epoch
        fork.own_ops = set(turn.own_ops)
        fork.read_epochs = dict(turn.read_epochs)
        return fork

    def _touch_ancestors(self, key: str) -> None:
        parent = key.rpartition(_NS_SEP)[0]
        while parent:
            if parent in self._tasks:
                self._tasks.move_to_end(parent)
                if parent in self._unanchored:
                    self._unanchored.move_to_end(parent)
            parent = parent.rpartition(_NS_SEP)[0]

    def _drop(self, key: str, *, reason: str) -> None:
        view = self._tasks.pop(key, None)
        if view is None:
            return
        self._unanchored.pop(key, None)
        if view.finalizer is not None:
            view.finalizer.detach()
        group = view.group
        group.members -= 1
        if group.members <= 0 and self._groups.get(group.key) is group:
            del self._groups[group.key]
        if reason != "finished":
            log.warning("task view evicted", task=key, reason=reason, live_tasks=len(self._tasks))

    def purge(self) -> None:
        """Forget the views of tasks LangGraph has freed since the last call."""
        while self._dead:
            key, ident = self._dead.popleft()
            view = self._tasks.get(key)
            if view is not None and id(view) == ident:
                view.finalizer = None
                self._drop(key, reason="finished")

    def _enforce_caps(self) -> None:
        while len(self._unanchored) > self._max_unanchored:
            key = next(iter(self._unanchored))
            self._drop(key, reason="cap on views of tasks LangGraph does not expose")
        while len(self._tasks) > self._max_tasks:
            key = next(iter(self._tasks))
            self._drop(key, reason="cap on live task views")
