"""The Responses API's basics (``POST /v1/responses``) on the embedded model.

A request is translated into the chat conversation it stands for and answered by the same
planner as ``/v1/chat/completions``, so both APIs decide alike:

* ``instructions`` becomes the system message; ``input`` is a string (one user message) or
  a list of items: messages (``role`` + string or ``input_text``/``output_text`` parts),
  ``function_call`` items (the model's earlier calls) and ``function_call_output`` items
  (their results, matched by ``call_id``);
* ``tools`` are function tools (``{"type": "function", "name", "parameters", ...}``);
* the answer's ``output`` holds a ``message`` item (text) or ``function_call`` items.

Not served: ``previous_response_id`` (nothing is stored: send the whole conversation),
built-in tools, and streaming (``stream: true`` is refused with a 400).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from agents.llm.planner import respond
from agents.llm.requests import CREATED, MODELS, answer, invalid, read_json
from agents.llm.requests import error as _error

ROLES = {"user", "system", "developer", "assistant"}


class Refused(ValueError):
    """A request the Responses API cannot take; ``param`` names the offending field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def _text(content: Any) -> str:
    """A message's text: a string, or the text of its ``input_text``/``output_text`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(p, dict)
        and p.get("type") in ("input_text", "output_text", "text")
        and isinstance(p.get("text"), str)
        for p in content
    ):
        return "".join(p["text"] for p in content)
    raise Refused("message content must be a string or a list of text parts", "input")


def messages_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat conversation a Responses request stands for."""
    out: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise Refused("instructions must be a string", "instructions")
        out.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        return [*out, {"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise Refused("input must be a string or a non-empty array of items", "input")
    for item in items:
        if not isinstance(item, dict):
            raise Refused("each input item must be an object", "input")
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in ROLES:
            role = "system" if item["role"] == "developer" else item["role"]
            out.append({"role": role, "content": _text(item.get("content"))})
        elif kind == "function_call" and _strings(item, "call_id", "name", "arguments"):
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = out[-1] if out else None
            if last and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)  # parallel calls: one assistant message
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output" and _strings(item, "call_id"):
            output = item.get("output")
            text = output if isinstance(output, str) else _text(output)
            out.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
        else:
            raise Refused(f"input items of type {str(kind)[:40]!r} are not supported", "input")
    return out


def _strings(item: dict[str, Any], *keys: str) -> bool:
    return all(isinstance(item.get(k), str) for k in keys)


def tools_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's function tools, in the chat API's shape."""
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(
        isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
        for t in tools
    ):
        raise Refused("tools must be an array of function tools", "tools")
    keys = ("name", "description", "parameters", "strict")
    return [{"type": "function", "function": {k: t[k] for k in keys if k in t}} for t in tools]


def output_of(message: dict[str, Any], digest: str) -> list[dict[str, Any]]:
    """The ``output`` items for the planner's chat-format answer."""
    calls = message.get("tool_calls") or []
    if not calls:
        part: dict[str, Any] = {
            "type": "output_text",
            "text": message.get("content") or "",
            "annotations": [],
        }
        item = {"type": "message", "id": f"msg_{digest}", "status": "completed"}
        return [item | {"role": "assistant", "content": [part]}]
    return [
        {
            "type": "function_call",
            "id": f"fc_{digest}_{i}",
            "call_id": call["id"],
            "name": call["function"]["name"],
            "arguments": call["function"]["arguments"],
            "status": "completed",
        }
        for i, call in enumerate(calls)
    ]


async def create_response(request: Request) -> JSONResponse:
    """``POST /v1/responses``."""
    read = await read_json(request)
    if isinstance(read, JSONResponse):
        return read
    raw, body = read
    if body.get("stream"):
        return _error(
            400, "streaming responses are not served; use chat completions", param="stream"
        )
    if body.get("previous_response_id") is not None:
        return _error(
            400, "responses are not stored: send the whole input", param="previous_response_id"
        )
    try:
        messages, tools = messages_of(body), tools_of(body)
    except Refused as refused:
        return _error(400, str(refused), param=refused.param)
    problem = invalid({"model": body.get("model"), "messages": messages, "tools": tools})
    if problem is not None:
        return problem
    model = str(body["model"])
    message = await answer(request, respond, messages, tools, MODELS[model])
    digest = hashlib.sha256(raw).hexdigest()[:24]
    input_tokens = sum(len(json.dumps(m).split()) for m in messages)
    output_tokens = len(json.dumps(message).split())
    return JSONResponse(
        {
            "id": f"resp_{digest}",
            "object": "response",
            "created_at": CREATED,
            "status": "completed",
            "model": model,
            "instructions": body.get("instructions"),
            "output": output_of(message, digest),
            "tools": body.get("tools") or [],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "error": None,
            "incomplete_details": None,
            "metadata": {},
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
        }
    )
