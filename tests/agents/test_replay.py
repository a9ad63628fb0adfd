"""Record a conversation's model traffic to JSONL, and replay it offline, exactly.

The recording is made against the embedded model; the replay runs in a fresh deployment
with no model at all behind the client (the embedded app is made unavailable), so every
answer comes from the file. Tool output reaches the model and is part of each request, and
it carries ``created_at`` stamps from the IAM's clock: both deployments therefore run on a
:class:`ManualClock` started at the same instant (the current time, so that DPoP proofs and
client assertions, stamped with wall time, stay fresh). With another clock the replay
stops at the first request that carries a different stamp — which is the point of a strict
replay, and is tested too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from agents.llm import client as llm_client
from agents.llm.client import ModelSettings, open_model
from agents.runtime import Conversation
from iam_core.clock import ManualClock
from scenarios.crew import crew, person
from scenarios.deployment import deployment
from tests.hotel.helpers import world

pytestmark = pytest.mark.anyio
REQUEST = "Book a double room at the Grand Meridian from 2026-12-10 to 2026-12-12 and pay for it"
API_KEY = "sk-recorded-run-must-not-keep-this-key"


async def converse(
    settings: ModelSettings, start: float, request: str = REQUEST
) -> tuple[Conversation, int, list[str]]:
    """One conversation in a fresh deployment: (conversation, model calls, alice's bookings)."""
    async with (
        deployment(in_memory=True, clock=ManualClock(start)) as dep,
        open_model(settings) as model,
        crew(dep, model) as agents,
    ):
        convo = await agents["booking-assistant"].run(request, human=person("alice"))
        made = [b.id for b in world(dep).bookings_of("alice") if b.acting_agent is not None]
        return convo, model.calls, made


def tool_calls(convo: Conversation) -> list[tuple[str, str, Any]]:
    return [(e["tool"], e["outcome"], e.get("args")) for e in convo.tool_events()]


def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replays must not reach a model: the embedded one is made unavailable."""

    def unavailable() -> Any:
        raise AssertionError("a replay asked the embedded model")

    monkeypatch.setattr(llm_client, "create_app", unavailable)


@pytest.fixture
def start() -> float:
    return time.time()


@pytest.fixture
async def recorded(tmp_path: Path, start: float) -> tuple[Path, Conversation, int]:
    path = tmp_path / "run.jsonl"
    settings = ModelSettings(api_key=API_KEY, record=path)
    convo, calls, made = await converse(settings, start)
    assert convo.ok, convo.failed
    assert len(made) == 1
    return path, convo, calls


async def test_replay_in_a_fresh_deployment_is_identical(
    recorded: tuple[Path, Conversation, int], start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, original, calls = recorded
    lines = path.read_text().splitlines()
    assert len(lines) == calls == 5  # authorize, search with cards, book, pay, answer
    no_model(monkeypatch)
    replayed, replay_calls, made = await converse(ModelSettings(replay=path), start)
    assert replayed.ok, replayed.failed
    assert replay_calls == calls
    assert tool_calls(replayed) == tool_calls(original)
    assert [t for t, _, _ in tool_calls(replayed)] == [
        "search_availability",
        "list_payment_methods",
        "book_room",
        "pay_booking",
    ]
    assert replayed.answer == original.answer
    assert replayed.messages == original.messages
    assert len(made) == 1  # the replayed run really booked, in its own deployment


async def test_answers_come_from_the_recording(
    recorded: tuple[Path, Conversation, int], start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, original, _ = recorded
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[-1]["response"]["body"]["choices"][0]["message"]["content"] = "From the tape."
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    no_model(monkeypatch)
    replayed, _, _ = await converse(ModelSettings(replay=path), start)
    assert replayed.ok, replayed.failed
    assert replayed.answer == "From the tape." != original.answer


async def test_the_recording_holds_no_key_or_header(
    recorded: tuple[Path, Conversation, int],
) -> None:
    path, _, _ = recorded
    text = path.read_text()
    assert API_KEY not in text
    assert '"authorization":' not in text.lower() and "bearer " not in text.lower()
    assert "no-key-needed" not in text  # nor the placeholder the client sends without a key
    for line in text.splitlines():
        record = json.loads(line)
        assert set(record) == {"request", "response"}
        assert set(record["request"]) == {"method", "path", "body"}
        assert set(record["response"]) == {"status", "body"}


async def test_a_changed_request_is_not_a_replay(
    recorded: tuple[Path, Conversation, int], start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = recorded
    no_model(monkeypatch)
    other = REQUEST.replace("double", "single")
    changed, calls, made = await converse(ModelSettings(replay=path), start, other)
    assert changed.failed is not None and changed.failed.startswith("ReplayDiverged: request 1")
    assert calls == 1 and made == [] and changed.tool_events() == []
    # The same request in a world whose clock differs: the booking the tool returns carries
    # another created_at, so the request after it (the 4th) is not the recorded one.
    later, calls, _ = await converse(ModelSettings(replay=path), start + 1.0)
    assert later.failed is not None and later.failed.startswith("ReplayDiverged: request 4")
    assert calls == 4
    # A recording that ran out is a divergence too.
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))
    short, _, _ = await converse(ModelSettings(replay=path), start)
    assert short.failed is not None and short.failed.startswith("ReplayDiverged: request 3")
