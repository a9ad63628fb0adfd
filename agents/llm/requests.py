"""The embedded model's requests: reading, bounds and validation, shared by its two APIs.

Chat completions (``embedded.py``) and the Responses API (``responses.py``) read a bounded
JSON body and check the conversation the same way; errors have the OpenAI API's shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from agents.json_limits import JSONRefused
from agents.json_limits import loads as bounded_json
from agents.llm.planner import Susceptibility

MODELS: dict[str, Susceptibility] = {
    "embedded-obedient": "obedient",
    "embedded-resistant": "resistant",
}
DEFAULT_MODEL = "embedded-obedient"
CREATED = 1_764_547_200  # fixed (2025-12-01): a completion must not depend on the clock
# Input bounds (README, "Security limits"). The model's parsing is linear in its input, so
# these bound each call's work; past them the API answers 413/400, never a 500.
MAX_BODY = 512 * 1024  # bytes of one request
MAX_MESSAGES = 256  # messages in one conversation
MAX_MESSAGE_CHARS = 32 * 1024  # characters of one message's text (content or tool arguments)


def error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """An error body as the OpenAI API shapes it."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status_code=status,
    )


async def read_json(request: Request) -> tuple[bytes, dict[str, Any]] | JSONResponse:
    """A request's raw body and its JSON object, or the error to answer with."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return error(413, "request body too large")
    try:  # bounded: depth and duplicate names too (agents/json_limits.py)
        body = bounded_json(raw, max_bytes=MAX_BODY)
    except JSONRefused as exc:
        return error(400, f"the body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return error(400, "the body must be a JSON object")
    return raw, body


def invalid(body: dict[str, Any]) -> JSONResponse | None:
    """The error for a chat request's ``model``, ``messages`` and ``tools``; None if sound."""
    model = body.get("model")
    if not isinstance(model, str):
        return error(400, "model must be a string", param="model")
    if model not in MODELS:
        return error(404, f"model {model!r} does not exist", param="model", code="model_not_found")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error(400, "messages must be a non-empty array", param="messages")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        return error(400, "each message needs a role", param="messages")
    if not all(_well_formed(m) for m in messages):
        return error(400, "tool_calls or tool_call_id do not follow the schema", param="messages")
    if len(messages) > MAX_MESSAGES:
        return error(
            400,
            f"at most {MAX_MESSAGES} messages",
            param="messages",
            code="context_length_exceeded",
        )
    if any(_length(m) > MAX_MESSAGE_CHARS for m in messages):
        return error(
            400,
            f"a message is longer than {MAX_MESSAGE_CHARS} characters",
            param="messages",
            code="context_length_exceeded",
        )
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(_is_function(t) for t in tools):
        return error(400, "tools must be an array of function definitions", param="tools")
    return None


def _is_function(value: Any) -> bool:
    """``{"type": "function", "function": {"name": str, ...}}`` (a tool, or a tool call)."""
    function = value.get("function") if isinstance(value, dict) else None
    return isinstance(function, dict) and isinstance(function.get("name"), str)


def _length(message: dict[str, Any]) -> int:
    """Characters of a message's text: its content (or content parts) and tool arguments."""
    content = message.get("content")
    parts = content if isinstance(content, list) else [content]
    size = sum(len(json.dumps(p)) if not isinstance(p, str) else len(p) for p in parts if p)
    for call in message.get("tool_calls") or ():
        size += len(str(call.get("function", {}).get("arguments", "")))
    return size


def _well_formed(message: dict[str, Any]) -> bool:
    """A message's ``tool_calls`` and ``tool_call_id`` have the shape the API defines."""
    calls = message.get("tool_calls")
    if calls is not None and not (
        isinstance(calls, list)
        and all(
            _is_function(c)
            and isinstance(c.get("id"), str)
            and isinstance(c["function"].get("arguments", ""), str)
            for c in calls
        )
    ):
        return False
    return isinstance(message.get("tool_call_id", ""), str)


async def answer(request: Request, respond: Callable[..., Any], *args: Any) -> Any:
    """The model's answer, ``respond(*args)`` (``agents.llm.planner.respond``). Bounded
    and linear, yet CPU work: served to others (``agent-iam serve``), a worker thread keeps
    the event loop — which the IAM and the services share — answering meanwhile.
    ``inline`` (an in-process client that awaits each answer, as the simulations' is)
    computes it right here, without the two thread hand-offs per answer."""
    if getattr(request.app.state, "inline", False):
        return respond(*args)
    return await run_in_threadpool(respond, *args)
