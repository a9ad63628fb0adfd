"""The real client path over sockets: an agent against a separate OpenAI-compatible server.

A small fake of the OpenAI chat-completions API, written here and served by uvicorn on
loopback in a background thread, answers with a script: first a ``search_availability``
tool call, then — once it has read the tool's result — a final text. The agent is pointed
at it only through ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and ``AGENT_IAM_MODEL``
(``ModelSettings.from_env()``), so this is the very path a real model would take: the
``openai`` package, its HTTP client, a TCP socket, the API key in ``Authorization``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agents.front_door import FRONT_DOOR, FrontDoor, ask
from agents.llm.client import ModelSettings, open_model
from agents.llm.recording import read_recording
from agents.llm.replay import Player
from scenarios.crew import crew
from scenarios.deployment import Deployment, deployment
from tests.agents.served import served
from tests.hotel.helpers import iam_of

pytestmark = pytest.mark.anyio
API_KEY = "sk-fake-test-0123456789abcdef"
MODEL = "fake-gpt-test"
SEARCH = {"hotel_id": "grand-meridian", "check_in": "2026-12-10", "check_out": "2026-12-12"}


@dataclass
class FakeOpenAI:
    """Scripted answers; keeps every request body and the Authorization header it came with."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> JSONResponse:
        self.authorizations.append(request.headers.get("authorization"))
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            error = {
                "message": "bad key",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return JSONResponse({"error": error | {"param": None}}, status_code=401)
        body = await request.json()
        self.requests.append(body)
        results = [m for m in body["messages"] if m.get("role") == "tool"]
        if not results:
            call = {
                "name": "search_availability",
                "arguments": json.dumps(SEARCH | {"room_type": "double"}),
            }
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_fake_1", "type": "function", "function": call}],
            }
        else:
            offers = json.loads(results[-1]["content"])["data"]["offers"]
            cheapest = min(o["total_cents"] for o in offers)
            message = {"role": "assistant", "content": f"A double room costs {cheapest} cents."}
        return JSONResponse(
            {
                "id": f"chatcmpl-fake-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


@pytest.fixture
def fake_openai() -> Iterator[tuple[FakeOpenAI, str]]:
    """The fake, served by uvicorn on a free loopback port; yields it and its base URL."""
    fake = FakeOpenAI()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(fake.app(), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "the fake OpenAI server did not start"
        yield fake, f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def front_door(dep: Deployment) -> FrontDoor:
    """The chat's front door: the search is asked within a task it opens (design §3.2)."""
    return FrontDoor(dep.oauth, dep.app(FRONT_DOOR))


async def test_agent_runs_against_an_openai_compatible_server_over_a_socket(
    dep: Deployment,
    fake_openai: tuple[FakeOpenAI, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, base_url = fake_openai
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("AGENT_IAM_MODEL", MODEL)
    settings = ModelSettings.from_env()
    assert (settings.base_url, settings.model, settings.embedded) == (base_url, MODEL, False)

    async with open_model(settings) as model, crew(dep, model) as agents:
        convo, _ = await ask(
            front_door(dep),
            agents["booking-assistant"],
            "Find a double room at the Grand Meridian from 2026-12-10 to 2026-12-12",
        )
    assert convo.ok, convo.failed

    # The key arrived, on every request, as a bearer token; and the model named is the one set.
    assert fake.authorizations == [f"Bearer {API_KEY}"] * 2
    assert [r["model"] for r in fake.requests] == [MODEL, MODEL]
    # The fake got the agent's tool definitions, in OpenAI's function-calling shape.
    first, second = fake.requests
    tools = {t["function"]["name"]: t for t in first["tools"]}
    assert {"search_availability", "book_room", "pay_booking"} <= set(tools)
    assert tools["search_availability"]["type"] == "function"
    assert set(tools["search_availability"]["function"]["parameters"]["required"]) == set(SEARCH)
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    # The second request carries the tool call and its result: the service's real answer.
    call, result = second["messages"][-2:]
    assert call["tool_calls"][0]["id"] == "call_fake_1"
    assert result == {"role": "tool", "tool_call_id": "call_fake_1", "content": result["content"]}
    offers = json.loads(result["content"])["data"]["offers"]
    assert offers and all(o["hotel_id"] == "grand-meridian" for o in offers)
    assert convo.answer == f"A double room costs {min(o['total_cents'] for o in offers)} cents."

    # The search was made with the agent's own token, allowed and audited by the service.
    (event,) = convo.tool_events()
    assert (event["tool"], event["outcome"], event["token_type"]) == (
        "search_availability",
        "allowed",
        "agent",
    )
    audited = iam_of(dep).audit.query(trace_id=convo.trace_id, event="access.decision")
    assert [(e.service, e.outcome, e.sub, e.act) for e in audited] == [
        ("availability", "allowed", "booking-assistant", ())
    ]
    # The key is the model client's, never the conversation's.
    assert not any(API_KEY in text for text in convo.texts())
    assert not any(API_KEY in json.dumps(r) for r in fake.requests)


async def test_a_wrong_key_fails_the_run_cleanly(
    dep: Deployment, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, base_url = fake_openai
    settings = ModelSettings(model=MODEL, base_url=base_url, api_key="sk-wrong")
    async with open_model(settings) as model, crew(dep, model) as agents:
        convo = await served(
            agents["booking-assistant"], "Find a double room at the Grand Meridian"
        )
    assert convo.failed is not None and "401" in convo.failed
    assert "sk-wrong" not in convo.failed
    assert fake.requests == [] and fake.authorizations == ["Bearer sk-wrong"]
    assert convo.tool_events() == []


async def test_a_run_recorded_against_a_server_replays_without_it(
    fake_openai: tuple[FakeOpenAI, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded over a socket with a key; replayed with no key, no server, no network."""
    fake, base_url = fake_openai
    path = tmp_path / "real.jsonl"
    asked = "Find a double room at the Grand Meridian from 2026-12-10 to 2026-12-12"
    settings = ModelSettings(model=MODEL, base_url=base_url, api_key=API_KEY, record=path)
    async with (
        deployment(in_memory=True) as dep,
        open_model(settings) as model,
        crew(dep, model) as agents,
    ):
        original, _ = await ask(front_door(dep), agents["booking-assistant"], asked)
    assert original.ok, original.failed
    assert len(fake.requests) == 2
    recording = read_recording(path)
    assert (recording.model, recording.header["endpoint"]) == (MODEL, base_url)
    assert API_KEY not in path.read_text()

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a replay opened a connection")

    monkeypatch.setattr(httpx2.AsyncHTTPTransport, "handle_async_request", no_network)
    replay = ModelSettings(model=MODEL, replay=path)  # no base URL, no key: as offline
    async with (
        deployment(in_memory=True) as dep,
        open_model(replay) as model,
        crew(dep, model) as agents,
    ):
        replayed, _ = await ask(front_door(dep), agents["booking-assistant"], asked)
    assert replayed.ok, replayed.failed
    assert isinstance(model.tape, Player) and model.tape.finish() is None
    assert replayed.answer == original.answer and len(fake.requests) == 2
