"""The chat model the agents use, always through the ``openai`` package (``AsyncOpenAI``).

Settings come from the environment, so that a real model is a setting, not a code change:
``OPENAI_BASE_URL`` (unset: the embedded model, in-process), ``OPENAI_API_KEY``, and
``AGENT_IAM_MODEL`` (or ``OPENAI_MODEL``) for the model name, ``AGENT_IAM_STREAM=1`` for
streamed completions (``stream=True``, the deltas joined by the SDK's stream helper).
``record``/``replay`` add the recorder or the offline replayer of ``replay.py`` under the
same client (one file; ``open_model(tape=…)`` takes a tape that ``run`` switches per run).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx2
from openai import AsyncOpenAI

from agents.llm.embedded import DEFAULT_MODEL, create_app
from agents.llm.recording import public_endpoint
from agents.llm.replay import Player, Recorder, RecordingTransport, ReplayTransport, base_path

Tape = Recorder | Player

EMBEDDED_BASE_URL = "http://embedded-llm.local/v1"


@dataclass(frozen=True, slots=True)
class ModelSettings:
    model: str = DEFAULT_MODEL
    base_url: str | None = None  # None: the embedded model, in-process
    api_key: str | None = None
    record: Path | None = None
    replay: Path | None = None
    stream: bool = False  # ask for streamed completions (chunks), assembled by the client

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ModelSettings:
        env = os.environ if env is None else env
        base_url = env.get("OPENAI_BASE_URL") or None
        named = env.get("AGENT_IAM_MODEL") or (env.get("OPENAI_MODEL") if base_url else None)
        settings = cls(model=named or DEFAULT_MODEL, base_url=base_url)
        stream = env.get("AGENT_IAM_STREAM", "").strip().lower() in ("1", "true", "yes", "on")
        settings = replace(settings, api_key=env.get("OPENAI_API_KEY") or None, stream=stream)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def embedded(self) -> bool:
        return self.base_url is None

    def describe(self) -> str:
        where = "embedded, in-process" if self.embedded else self.base_url
        mode = " (replayed)" if self.replay else " (recording)" if self.record else ""
        return f"{self.model} @ {where}{mode}{', streamed' if self.stream else ''}"


class ChatModel:
    """One model endpoint; counts calls and the time spent waiting for answers."""

    def __init__(
        self, client: AsyncOpenAI, model: str, *, stream: bool = False, tape: Tape | None = None
    ) -> None:
        self.client = client
        self.model = model
        self.stream = stream
        self.tape = tape  # the recorder or player under the client, if any
        self.calls = 0
        self.seconds = 0.0

    async def complete(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """The assistant's next message, as a plain chat-format dict."""
        started = time.perf_counter()
        request: dict[str, Any] = {"model": self.model, "messages": list(messages)}
        if tools:
            request["tools"] = list(tools)
        try:
            if self.stream:  # the SDK's stream helper parses the events and joins the deltas
                async with self.client.chat.completions.stream(**request) as stream:
                    response = await stream.get_final_completion()
            else:
                response = await self.client.chat.completions.create(**request)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started
        message = response.choices[0].message
        out: dict[str, Any] = {"role": "assistant", "content": message.content}
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.function.name,
                        "arguments": call.function.arguments,
                    },
                }
                for call in message.tool_calls
            ]
        return out


def recorder(settings: ModelSettings) -> Recorder:
    """A recording tape for the model ``settings`` name (its header says which)."""
    return Recorder(
        settings.model, stream=settings.stream, endpoint=public_endpoint(settings.base_url)
    )


@asynccontextmanager
async def open_model(
    settings: ModelSettings | None = None, *, tape: Tape | None = None
) -> AsyncIterator[ChatModel]:
    """A :class:`ChatModel` for ``settings`` (default: from the environment).

    ``tape``: a :class:`Recorder` (every exchange written to its current file) or a
    :class:`Player` (every answer from its recording: no model, no connection). Without
    one, ``settings.record``/``settings.replay`` name a single file."""
    settings = settings or ModelSettings.from_env()
    if tape is None and settings.replay is not None:
        tape = Player()
        tape.load(settings.replay)
    elif tape is None and settings.record is not None:
        tape = recorder(settings)
        tape.start(settings.record, {})
    base_url = settings.base_url or EMBEDDED_BASE_URL
    transport: httpx2.AsyncBaseTransport
    if isinstance(tape, Player):
        transport = ReplayTransport(tape, base_path(base_url))
    else:
        inner: httpx2.AsyncBaseTransport = (
            httpx2.ASGITransport(app=create_app(inline=True))
            if settings.embedded
            else httpx2.AsyncHTTPTransport()
        )
        transport = inner if tape is None else RecordingTransport(inner, tape, base_path(base_url))
    async with httpx2.AsyncClient(transport=transport, timeout=120.0) as http:
        client = AsyncOpenAI(
            base_url=base_url,
            # The embedded model needs no key; the client insists on one being set.
            api_key=settings.api_key or "no-key-needed",
            http_client=http,
            # A retry would ask a replay (or the embedded model) the same request twice.
            max_retries=0 if settings.embedded or isinstance(tape, Player) else 2,
        )
        # A replay asks as the recording did: streamed or not, whatever the settings say.
        stream = tape.recording.stream if isinstance(tape, Player) and tape.recording else None
        yield ChatModel(
            client, settings.model, stream=settings.stream if stream is None else stream, tape=tape
        )
