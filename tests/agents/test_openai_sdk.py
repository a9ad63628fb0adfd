"""The embedded model through the real ``openai`` package: retrieve, streaming, Responses.

Every request goes through ``AsyncOpenAI`` (its HTTP client on an in-process ASGI transport),
so the SDK's own parsing — its SSE decoder, its stream helpers that join deltas, its
Responses types — is what reads the answers. Also: an agent with a streaming client has the
same conversation as with a plain one.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai import AsyncOpenAI

from agents.llm.client import EMBEDDED_BASE_URL, ModelSettings, open_model
from agents.llm.embedded import create_app
from agents.tools import TOOLS
from scenarios.crew import crew, person
from scenarios.deployment import deployment
from tests.agents.served import served

pytestmark = pytest.mark.anyio
MODEL = "embedded-obedient"
STAY = "at the Grand Meridian from 2026-12-10 to 2026-12-12"
TOOL_DEFS = [t.definition() for t in TOOLS.values()]
SYSTEM = "You are the hotel's booking assistant."


@pytest.fixture
async def client() -> AsyncIterator[AsyncOpenAI]:
    transport = httpx2.ASGITransport(app=create_app())
    async with httpx2.AsyncClient(transport=transport) as http:
        yield AsyncOpenAI(
            base_url=EMBEDDED_BASE_URL, api_key="no-key-needed", http_client=http, max_retries=0
        )


def conversation(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


async def test_models_retrieve(client: AsyncOpenAI) -> None:
    model = await client.models.retrieve("embedded-resistant")
    assert (model.id, model.object, model.owned_by) == (
        "embedded-resistant",
        "model",
        "agent-iam-lab",
    )
    with pytest.raises(openai.NotFoundError) as refused:
        await client.models.retrieve("gpt-nonexistent")
    assert refused.value.code == "model_not_found"


async def test_streamed_text_is_the_completion_in_chunks(client: AsyncOpenAI) -> None:
    messages: Any = conversation("Hello, who are you?")
    whole = await client.chat.completions.create(model=MODEL, messages=messages)
    assert whole.choices[0].message.content and not whole.choices[0].message.tool_calls
    stream = await client.chat.completions.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(texts) == whole.choices[0].message.content
    assert len([t for t in texts if t]) > 1  # really in pieces
    finished = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finished[-1] == "stop" and set(finished[:-1]) == {None}
    # include_usage: a last chunk without choices carries the usage; the others carry none.
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.id for c in chunks} == {chunks[0].id}


async def test_streamed_tool_calls_are_joined_by_the_sdk_helper(client: AsyncOpenAI) -> None:
    messages: Any = conversation(f"Book a double room {STAY} and pay for it")
    tools: Any = TOOL_DEFS
    whole = await client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    expected = whole.choices[0].message.tool_calls
    assert expected and len(expected) >= 2  # search and payment methods, in parallel
    argument_deltas: dict[int, int] = {}
    async with client.chat.completions.stream(
        model=MODEL, messages=messages, tools=tools
    ) as stream:
        async for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                argument_deltas[event.index] = argument_deltas.get(event.index, 0) + 1
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    joined = [
        (c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []
    ]
    assert joined == [(c.id, c.function.name, c.function.arguments) for c in expected]
    # Each call's arguments arrived in several pieces, tagged with the call's index.
    assert set(argument_deltas) == set(range(len(expected)))
    assert all(n > 1 for n in argument_deltas.values())


async def test_responses_function_tool_round_trip(client: AsyncOpenAI) -> None:
    tools: Any = [{"type": "function", **t["function"]} for t in TOOL_DEFS]
    tools_chat: Any = TOOL_DEFS
    asked = f"Find a double room {STAY}"
    first = await client.responses.create(
        model=MODEL, instructions=SYSTEM, input=asked, tools=tools
    )
    assert first.status == "completed"
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "search_availability"
    assert json.loads(call.arguments)["hotel_id"] == "grand-meridian"
    # The same conversation through chat completions gets the same call.
    chat = await client.chat.completions.create(
        model=MODEL,
        messages=conversation(asked),
        tools=TOOL_DEFS,  # type: ignore[arg-type]
    )
    (chat_call,) = chat.choices[0].message.tool_calls or []
    assert (chat_call.id, chat_call.function.arguments) == (call.call_id, call.arguments)

    offer = {"hotel_id": "grand-meridian", "room_type": "double", "available": 3}
    result = {"ok": True, "data": {"offers": [offer | {"total_cents": 29_000}]}}
    turn: Any = [
        {"role": "user", "content": asked},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps(result)},
    ]
    second = await client.responses.create(
        model=MODEL, instructions=SYSTEM, tools=tools, input=turn
    )
    assert [item.type for item in second.output] == ["message"]
    assert "search: done" in second.output_text
    assert second.usage and second.usage.total_tokens > 0
    # The chat API, given the same turn, says the same.
    chat_turn: Any = [
        *conversation(asked),
        chat.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.call_id, "content": json.dumps(result)},
    ]
    again = await client.chat.completions.create(model=MODEL, messages=chat_turn, tools=tools_chat)
    assert again.choices[0].message.content == second.output_text


async def test_responses_refusals_are_openai_errors(client: AsyncOpenAI) -> None:
    unknown: Any = [{"type": "web_search_call"}]
    with pytest.raises(openai.BadRequestError) as refused:
        await client.responses.create(model=MODEL, input=unknown)
    assert refused.value.param == "input"
    with pytest.raises(openai.BadRequestError):
        await client.responses.create(model=MODEL, input="hi", previous_response_id="resp_x")
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="gpt-nonexistent", input="hi")


async def test_an_agent_with_a_streaming_client_has_the_same_conversation() -> None:
    runs = []
    for stream in (False, True):
        settings = ModelSettings(model=MODEL, stream=stream)
        async with (
            deployment(in_memory=True) as dep,
            open_model(settings) as model,
            crew(dep, model) as agents,
        ):
            convo = await served(
                agents["booking-assistant"],
                f"Book a double room {STAY} and pay for it",
                human=person("alice"),
            )
        assert convo.ok, convo.failed
        calls = [(e["tool"], e["outcome"]) for e in convo.tool_events()]
        runs.append((_ids_and_times_out(json.dumps(convo.messages, indent=1)), calls))
    (plain_messages, plain_calls), (streamed_messages, streamed_calls) = runs
    assert streamed_calls == plain_calls and len(plain_calls) == 4
    assert streamed_messages.splitlines() == plain_messages.splitlines()


def _ids_and_times_out(text: str) -> str:
    """The transcript without what differs between two worlds: fresh ids, the clock."""
    text = re.sub(r"\b([a-z]+)-[A-Z0-9]{6}\b", r"\1-ID", text)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(\+00:00|Z)?", "TIME", text)


def test_the_stream_setting_comes_from_the_environment() -> None:
    assert ModelSettings.from_env({"AGENT_IAM_STREAM": "1"}).stream
    assert not ModelSettings.from_env({}).stream
    assert "streamed" in ModelSettings(stream=True).describe()


async def test_a_streamed_run_is_recorded_and_replayed(tmp_path: Path) -> None:
    recording = tmp_path / "model.jsonl"
    transcripts = []
    for settings in (
        ModelSettings(model=MODEL, stream=True, record=recording),
        ModelSettings(model=MODEL, stream=True, replay=recording),
    ):
        async with (
            deployment(in_memory=True) as dep,
            open_model(settings) as model,
            crew(dep, model) as agents,
        ):
            convo = await served(agents["booking-assistant"], f"Find a double room {STAY}")
        assert convo.ok, convo.failed
        transcripts.append(_ids_and_times_out(json.dumps(convo.messages)))
    assert transcripts[0] == transcripts[1]
    assert '"body": "data: ' in recording.read_text()  # the events, as they came
