"""The embedded model, served as an OpenAI-compatible chat-completions API.

``POST /v1/chat/completions`` (messages, ``tools``, answers with ``tool_calls`` or text;
``stream: true`` streams it as chunks, ``streaming.py``), ``GET /v1/models`` and
``/v1/models/{id}``, and the Responses API's basics (``responses.py``), as OpenAI defines
them, so that the real ``openai`` client — or any other OpenAI client — talks to it
unchanged: in-process through ``httpx.ASGITransport``, or over a socket when
``agent-iam serve`` mounts it at ``/llm``.

Two models, one per susceptibility (``planner.py``): ``embedded-obedient`` follows
instructions found in tool output, ``embedded-resistant`` does not. Answers are a pure
function of the request: the same request always gets the same completion.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.llm.planner import respond
from agents.llm.requests import (
    CREATED,
    DEFAULT_MODEL,
    MAX_BODY,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    MODELS,
    answer,
    invalid,
    read_json,
)
from agents.llm.requests import error as _error
from agents.llm.responses import create_response
from agents.llm.streaming import include_usage, streamed

__all__ = [
    "CREATED",
    "DEFAULT_MODEL",
    "MAX_BODY",
    "MAX_MESSAGES",
    "MAX_MESSAGE_CHARS",
    "MODELS",
    "create_app",
]


async def models(request: Request) -> JSONResponse:
    data = [_model(name) for name in MODELS]
    return JSONResponse({"object": "list", "data": data})


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": "agent-iam-lab"}


async def retrieve_model(request: Request) -> JSONResponse:
    """``GET /v1/models/{model}``: one model, or the API's 404 for an unknown id."""
    name = request.path_params["model"]
    if name not in MODELS:
        return _error(404, f"model {name!r} does not exist", param="model", code="model_not_found")
    return JSONResponse(_model(name))


async def chat_completions(request: Request) -> Response:
    read = await read_json(request)
    if isinstance(read, JSONResponse):
        return read
    raw, body = read
    problem = invalid(body)
    if problem is not None:
        return problem
    model, messages, tools = body["model"], body["messages"], body.get("tools") or []
    stream = body.get("stream") or False
    usage = include_usage(body)
    if not isinstance(stream, bool) or usage is None:
        return _error(400, "stream must be a boolean, stream_options an object", param="stream")
    message = await answer(request, respond, messages, tools, MODELS[model])
    prompt_tokens = sum(len(json.dumps(m).split()) for m in messages)
    completion_tokens = len(json.dumps(message).split())
    digest = hashlib.sha256(raw).hexdigest()[:24]
    completion = {
        "id": f"chatcmpl-{digest}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return streamed(completion, include_usage=usage) if stream else JSONResponse(completion)


def create_app(*, inline: bool = False) -> Starlette:
    """The embedded model's API; mount it anywhere (its routes start with ``/v1``).
    ``inline``: answer on the event loop (:func:`answer`)."""
    app = Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/responses", create_response, methods=["POST"]),
        ]
    )
    app.state.inline = inline
    return app
