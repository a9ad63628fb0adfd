"""Streamed chat completions: one finished answer, cut into ``chat.completion.chunk`` events.

What ``stream: true`` gets from the embedded model, as the OpenAI API streams it
(``text/event-stream``, one ``data: {chunk}`` event each, then ``data: [DONE]``):

1. a first chunk whose delta carries the role (``assistant``) and an empty content (null
   when the answer is tool calls);
2. the content, in pieces of a few words;
3. per tool call, a chunk with its ``index``, ``id``, ``type`` and function ``name`` (empty
   arguments), then the arguments in pieces, each tagged with the same ``index``;
4. a chunk with an empty delta and the ``finish_reason``;
5. with ``stream_options.include_usage``: a chunk with no choices and the ``usage`` (every
   earlier chunk then carries ``"usage": null``).

The answer is computed whole before the first byte (the model is deterministic and fast), so
the stream is a pure function of the request, like the non-streamed completion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from starlette.responses import StreamingResponse

PIECE = 24  # characters of content or arguments per delta


def pieces(text: str, size: int = PIECE) -> list[str]:
    """``text`` cut into consecutive pieces of at most ``size`` characters (none if empty)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def chunks(completion: dict[str, Any], *, include_usage: bool = False) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects that stream ``completion`` (a whole completion)."""
    choice = completion["choices"][0]
    message = choice["message"]
    head = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "system_fingerprint": None,
    }
    if include_usage:
        head["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        entry = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return head | {"choices": [entry]}

    # As OpenAI streams: an empty content for a text answer, a null one for tool calls.
    yield chunk({"role": "assistant", "content": "" if message.get("content") else None})
    for piece in pieces(message.get("content") or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call["function"]
        opening = {"name": function["name"], "arguments": ""}
        yield chunk(
            {
                "tool_calls": [
                    {"index": index, "id": call["id"], "type": "function", "function": opening}
                ]
            }
        )
        for piece in pieces(function.get("arguments") or ""):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, choice["finish_reason"])
    if include_usage:
        yield head | {"choices": [], "usage": completion["usage"]}


def event_stream(objects: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events: ``data: <json>`` per object, then ``data: [DONE]``."""
    for obj in objects:
        yield f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"
    yield "data: [DONE]\n\n"


def streamed(completion: dict[str, Any], *, include_usage: bool = False) -> StreamingResponse:
    """The response to a ``stream: true`` request whose answer is ``completion``."""
    return StreamingResponse(
        event_stream(chunks(completion, include_usage=include_usage)),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


def include_usage(body: dict[str, Any]) -> bool | None:
    """``stream_options.include_usage`` of a request; None if ``stream_options`` is malformed."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        return None
    return bool(options.get("include_usage", False))
