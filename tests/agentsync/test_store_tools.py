"""Writes made inside a prebuilt `ToolNode` tool call are attributed to the tool
(`tools:TOOL_NAME`), not to the node that runs every tool call of a message."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.config import get_store
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent
from langgraph.warnings import LangGraphDeprecatedSinceV10

from agentsync import AsyncSyncedStore, SyncedStore

NS = ("prefs",)


@tool
def set_tone(tone: str) -> str:
    """Remember the tone the user prefers."""
    get_store().put(NS, "user", {"tone": tone})
    return "ok"


@tool
def set_language(language: str) -> str:
    """Remember the user's language."""
    get_store().put(NS, "user", {"language": language})
    return "ok"


@tool
async def aset_tone(tone: str) -> str:
    """Remember the tone the user prefers (async)."""
    await get_store().aput(NS, "user", {"tone": tone})
    return "ok"


class _ToolCallingModel(GenericFakeChatModel):
    """A fake chat model that accepts tools (what create_react_agent binds)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _model(calls: list[tuple[str, dict[str, Any]]]) -> GenericFakeChatModel:
    """A chat model whose first answer asks for these tool calls at once, then stops."""
    message = AIMessage(
        content="",
        tool_calls=[
            {"name": name, "args": args, "id": f"call-{i}", "type": "tool_call"}
            for i, (name, args) in enumerate(calls)
        ],
    )
    replies: Iterator[BaseMessage] = iter([message, AIMessage("done")])
    return _ToolCallingModel(messages=replies)


def _react_agent(model: GenericFakeChatModel, tools: list[Any], store: Any) -> Any:
    """LangGraph's prebuilt agent: each tool call of a message is its own task (Send)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangGraphDeprecatedSinceV10)  # moved to langchain
        return create_react_agent(model, tools, store=store)


def _tool_node_graph(model: GenericFakeChatModel, tools: list[Any]) -> StateGraph[Any]:
    """A hand-built graph: one ToolNode task runs every tool call of the message."""

    def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    builder: StateGraph[Any] = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tools")
    builder.add_edge("tools", END)
    return builder


def test_parallel_calls_of_one_tool_are_concurrent_and_name_the_tool() -> None:
    store = SyncedStore()
    model = _model([("set_tone", {"tone": "neutral"}), ("set_tone", {"tone": "formal"})])
    graph = _react_agent(model, [set_tone], store)
    graph.invoke({"messages": [HumanMessage("be formal, no, neutral")]})

    [conflict] = store.escalations()
    assert conflict.field == "tone"
    assert sorted((c.agent_id, c.value) for c in conflict.contenders) == [
        ("tools:set_tone", "formal"),
        ("tools:set_tone", "neutral"),
    ]


def test_different_tools_are_told_apart_in_history_and_attribution() -> None:
    store = SyncedStore()
    model = _model([("set_tone", {"tone": "formal"}), ("set_language", {"language": "fr"})])
    graph = _react_agent(model, [set_tone, set_language], store)
    graph.invoke({"messages": [HumanMessage("formal French please")]})

    assert store.get(NS, "user").value == {"tone": "formal", "language": "fr"}
    assert sorted(r.agent_id for r in store.history(NS, "user")) == [
        "tools:set_language",
        "tools:set_tone",
    ]
    fields = store.attribution()[(NS, "user")]
    assert fields["tone"] == ["tools:set_tone"] and fields["language"] == ["tools:set_language"]


def test_a_tool_node_running_both_calls_in_one_task_names_each_tool() -> None:
    store = SyncedStore()
    model = _model([("set_tone", {"tone": "formal"}), ("set_language", {"language": "fr"})])
    graph = _tool_node_graph(model, [set_tone, set_language]).compile(store=store)
    graph.invoke({"messages": [HumanMessage("formal French please")]})
    assert sorted(r.agent_id for r in store.history(NS, "user")) == [
        "tools:set_language",
        "tools:set_tone",
    ]


def test_a_write_in_the_node_itself_still_names_the_node() -> None:
    store = SyncedStore()

    def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        get_store().put(NS, "user", {"seen": True})
        return {"messages": [AIMessage("done")]}

    builder: StateGraph[Any] = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.compile(store=store).invoke({"messages": [HumanMessage("hi")]})
    assert [r.agent_id for r in store.history(NS, "user")] == ["agent"]


@pytest.mark.parametrize("tone_tool", [set_tone, aset_tone], ids=["sync tool", "async tool"])
def test_async_graph_names_sync_and_async_tools(tone_tool: Any) -> None:
    store = AsyncSyncedStore()
    model = _model([(tone_tool.name, {"tone": "formal"}), ("set_language", {"language": "fr"})])
    graph = _react_agent(model, [tone_tool, set_language], store)

    async def main() -> None:
        await graph.ainvoke({"messages": [HumanMessage("formal French please")]})

    anyio.run(main)
    assert store.get(NS, "user").value == {"tone": "formal", "language": "fr"}
    assert sorted(r.agent_id for r in store.history(NS, "user")) == sorted(
        [f"tools:{tone_tool.name}", "tools:set_language"]
    )


@pytest.mark.parametrize("tone_tool", [set_tone, aset_tone], ids=["sync tool", "async tool"])
def test_parallel_calls_in_one_tool_node_task_are_concurrent(tone_tool: Any) -> None:
    """A hand-built ToolNode runs both calls of a message in one task, in parallel: each
    call is a writer of its own, so two tones set at once are a conflict, not a silent
    overwrite by whichever call happened to write second."""
    store = AsyncSyncedStore() if tone_tool is aset_tone else SyncedStore()
    model = _model([(tone_tool.name, {"tone": "neutral"}), (tone_tool.name, {"tone": "formal"})])
    graph = _tool_node_graph(model, [tone_tool]).compile(store=store)
    message = {"messages": [HumanMessage("be formal, no, neutral")]}
    if tone_tool is aset_tone:
        anyio.run(graph.ainvoke, message)
    else:
        graph.invoke(message)

    [conflict] = store.escalations()
    assert conflict.field == "tone"
    assert sorted((c.agent_id, c.value) for c in conflict.contenders) == [
        (f"tools:{tone_tool.name}", "formal"),
        (f"tools:{tone_tool.name}", "neutral"),
    ]


def test_a_tool_call_sees_what_its_node_wrote_before_and_its_node_sees_it() -> None:
    """The calls of one ToolNode task start from the task's view, and what a call wrote
    counts as seen by the task afterwards (a later write of the task is sequential)."""
    store = SyncedStore()

    @tool
    def bump(step: str) -> str:
        """Add one to the counter field `n` as a read-modify-write."""
        item = get_store().get(NS, "count")
        get_store().put(NS, "count", {"n": (item.value["n"] if item else 0) + 1, "by": step})
        return "ok"

    model = _model([("bump", {"step": "first"})])
    graph = _tool_node_graph(model, [bump]).compile(store=store)
    store.put(NS, "count", {"n": 10, "by": "setup"})
    graph.invoke({"messages": [HumanMessage("bump")]})
    assert store.get(NS, "count").value == {"n": 11, "by": "first"}
    assert store.escalations() == []
