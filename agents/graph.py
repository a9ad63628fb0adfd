"""The agent loop as a langgraph ``StateGraph``: authorize, then model ⇄ tools.

* ``authorize`` — the model sees only the system prompt and the user's request, with one
  tool, ``request_authorization``; the runtime turns its answer into a consent request the
  user approves (or not). Authority is settled from the user's own words, before any tool
  output — which may carry someone else's words — is read.
* ``model`` — the chat model, with the agent's tools.
* ``tools`` — the tool calls, each through the :class:`~agents.tools.ToolBox`.

The state is the chat transcript the model reads: messages only, and no token ever enters
it (tools hold none; tool output is scrubbed).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from agents.json_limits import loads as bounded_json
from agents.llm.client import ChatModel
from agents.tools import ToolBox

AUTHORIZE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "request_authorization",
        "description": "Ask the user to delegate exactly what their request needs: OAuth "
        "scopes, the stay to book, whether to pay (and up to how much).",
        "parameters": {
            "type": "object",
            "properties": {
                "scopes": {"type": "array", "items": {"type": "string"}},
                "booking": {
                    "type": "object",
                    "properties": {
                        "hotel_id": {"type": "string"},
                        "room_type": {"type": "string"},
                        "check_in": {"type": "string", "format": "date"},
                        "check_out": {"type": "string", "format": "date"},
                    },
                },
                "pay": {"type": "boolean"},
                "booking_id": {"type": "string"},
                "max_amount_cents": {"type": "integer"},
            },
            "required": ["scopes"],
        },
    },
}

Authorizer = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
RECURSION_LIMIT = 40


class ChatState(TypedDict):
    messages: Annotated[list[dict[str, Any]], operator.add]


@dataclass(frozen=True, slots=True)
class Turn:
    """What one conversation brings to the graph: compiled once per runtime, the graph reads
    the model, tools, authorizer and transcript of the conversation it serves from here."""

    model: ChatModel
    tools: ToolBox
    authorize: Authorizer | None
    events: list[dict[str, Any]]

    def config(self) -> RunnableConfig:
        return {"recursion_limit": RECURSION_LIMIT, "configurable": {"turn": self}}


def _turn(config: RunnableConfig) -> Turn:
    turn = (config.get("configurable") or {}).get("turn")
    if not isinstance(turn, Turn):
        raise TypeError("the graph runs with a Turn in its config (Turn.config())")
    return turn


def build_graph(authorize: bool) -> Any:
    """The compiled graph; without ``authorize`` it skips the delegation step (autonomous
    run). Each invocation passes its :class:`Turn` (``config=turn.config()``); every model
    answer goes to the turn's ``events``, in order, for the transcript."""

    async def ask_authorization(state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        turn = _turn(config)
        assert turn.authorize is not None
        message = await turn.model.complete(state["messages"], [AUTHORIZE_TOOL])
        _note(turn.events, message)
        out: list[dict[str, Any]] = [message]
        for call in message.get("tool_calls") or ():
            try:
                args = bounded_json(call["function"]["arguments"] or "{}", max_bytes=1024 * 1024)
            except ValueError:
                args = {}
            if call["function"]["name"] == "request_authorization" and isinstance(args, dict):
                result = await turn.authorize(args)
            else:
                result = {"ok": False, "error": "only request_authorization is available now"}
            out.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
        return {"messages": out}

    async def call_model(state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        turn = _turn(config)
        message = await turn.model.complete(state["messages"], turn.tools.definitions())
        _note(turn.events, message)
        return {"messages": [message]}

    async def call_tools(state: ChatState, config: RunnableConfig) -> dict[str, Any]:
        tools = _turn(config).tools
        out = []
        for call in state["messages"][-1].get("tool_calls") or ():
            content = await tools.run(call["function"]["name"], call["function"]["arguments"])
            out.append({"role": "tool", "tool_call_id": call["id"], "content": content})
        return {"messages": out}

    def route(state: ChatState) -> str:
        return "tools" if state["messages"][-1].get("tool_calls") else END

    graph = StateGraph(ChatState)
    graph.add_node("model", call_model)
    graph.add_node("tools", call_tools)
    if authorize:
        graph.add_node("authorize", ask_authorization)
        graph.add_edge(START, "authorize")
        graph.add_edge("authorize", "model")
    else:
        graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    return graph.compile()


def _note(events: list[dict[str, Any]], message: Mapping[str, Any]) -> None:
    calls = [
        {"tool": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in message.get("tool_calls") or ()
    ]
    events.append({"kind": "model", "content": message.get("content"), "calls": calls})
