"""Record a conversation's model exchanges, and replay them offline, exactly.

The recording is made against the embedded model; the replay runs in a fresh deployment
with no model at all behind the client (the embedded app is made unavailable), so every
answer comes from the file. Tool output reaches the model inside each request, and it
carries ``created_at`` stamps from the IAM's clock: the replay runs an hour later on its
clock, and normalisation (``agents/llm/normalise.py``) is what keeps that from diverging —
shown by removing it. A request that differs in anything else stops the replay, naming the
request, the field and both values.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agents.llm import client as llm_client
from agents.llm import normalise
from agents.llm.client import ModelSettings, open_model
from agents.llm.recording import FORMAT, VERSION, read_recording
from agents.llm.replay import Player
from agents.runtime import Conversation
from iam_core.clock import ManualClock
from scenarios.crew import crew, person
from scenarios.deployment import deployment
from tests.agents.served import served
from tests.hotel.helpers import world

pytestmark = pytest.mark.anyio
REQUEST = "Book a double room at the Grand Meridian from 2026-12-10 to 2026-12-12 and pay for it"
API_KEY = "sk-recorded-run-must-not-keep-this-key"
HOUR = 3600.0


async def converse(
    settings: ModelSettings, start: float, request: str = REQUEST
) -> tuple[Conversation, int, list[Any], Player | None]:
    """One conversation in a fresh deployment: (conversation, model calls, alice's new
    bookings, the player when replaying)."""
    async with (
        deployment(in_memory=True, clock=ManualClock(start)) as dep,
        open_model(settings) as model,
        crew(dep, model) as agents,
    ):
        convo = await served(agents["booking-assistant"], request, human=person("alice"))
        made = [b for b in world(dep).bookings_of("alice") if b.acting_agent is not None]
        tape = model.tape if isinstance(model.tape, Player) else None
        return convo, model.calls, made, tape


def tool_calls(convo: Conversation) -> list[tuple[str, str, Any]]:
    return [(e["tool"], e["outcome"], e.get("args")) for e in convo.tool_events()]


def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replays must not reach a model: the embedded one and the network are unavailable."""

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a replay asked a model")

    monkeypatch.setattr(llm_client, "create_app", unavailable)
    monkeypatch.setattr(httpx2.AsyncHTTPTransport, "handle_async_request", unavailable)


@pytest.fixture
def start() -> float:
    return time.time()


@pytest.fixture
async def recorded(tmp_path: Path, start: float) -> tuple[Path, Conversation, int, str]:
    path = tmp_path / "run.jsonl"
    settings = ModelSettings(api_key=API_KEY, record=path)
    convo, calls, made, _ = await converse(settings, start)
    assert convo.ok, convo.failed
    assert len(made) == 1
    return path, convo, calls, made[0].created_at


def rewrite(path: Path, edit: Any) -> None:
    """Apply ``edit`` to the recording's lines (header first) and write it back."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    edit(lines)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


async def test_a_replay_an_hour_later_in_a_fresh_deployment_is_identical(
    recorded: tuple[Path, Conversation, int, str],
    start: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Time moved between record and replay; the requests differ only in time fields."""
    path, original, calls, stamp = recorded
    assert len(read_recording(path).exchanges) == calls == 5  # authorize, search, book, pay, answer
    no_model(monkeypatch)
    replayed, replay_calls, made, player = await converse(ModelSettings(replay=path), start + HOUR)
    assert replayed.ok, replayed.failed
    assert player is not None and player.finish() is None
    assert replay_calls == calls
    assert tool_calls(replayed) == tool_calls(original)
    assert [t for t, _, _ in tool_calls(replayed)] == [
        "search_availability",
        "list_payment_methods",
        "book_room",
        "pay_booking",
    ]
    assert replayed.answer == original.answer
    # The replayed run really booked, in its own world, an hour later: the stamp the agent
    # sent its model differs from the recorded one, and normalisation let it through.
    assert len(made) == 1 and made[0].created_at != stamp
    assert stamp in path.read_text() and made[0].created_at in json.dumps(replayed.messages)


async def test_without_normalisation_the_later_replay_diverges_at_the_stamp(
    recorded: tuple[Path, Conversation, int, str],
    start: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's defect, named: with no time fields, request 4 differs at created_at."""
    path, _, _, stamp = recorded
    no_model(monkeypatch)
    monkeypatch.setattr(normalise, "TIME_FIELDS", frozenset())
    later, calls, made, player = await converse(ModelSettings(replay=path), start + HOUR)
    assert player is not None and player.diverged is not None
    assert calls == 4 and later.failed is not None
    message = str(player.diverged)
    assert message.startswith("request 4 (POST /chat/completions, 9 messages, after the result ")
    assert "of book_room) differs at $.messages[8].content{json}.data.created_at: " in message
    assert f'recorded "{stamp}", this run "{made[0].created_at}"' in message


async def test_answers_come_from_the_recording(
    recorded: tuple[Path, Conversation, int, str], start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, original, _, _ = recorded

    def edit(lines: list[dict[str, Any]]) -> None:
        lines[-1]["response"]["body"]["choices"][0]["message"]["content"] = "From the tape."

    rewrite(path, edit)
    no_model(monkeypatch)
    replayed, _, _, _ = await converse(ModelSettings(replay=path), start)
    assert replayed.ok, replayed.failed
    assert replayed.answer == "From the tape." != original.answer


async def test_the_recording_is_versioned_and_holds_no_key_or_header(
    recorded: tuple[Path, Conversation, int, str],
) -> None:
    path, _, _, _ = recorded
    text = path.read_text()
    assert API_KEY not in text
    assert '"authorization":' not in text.lower() and "bearer " not in text.lower()
    assert "no-key-needed" not in text  # nor the placeholder the client sends without a key
    head, *exchanges = [json.loads(line) for line in text.splitlines()]
    assert head == {
        "format": FORMAT,
        "version": VERSION,
        "model": "embedded-obedient",
        "stream": False,
        "endpoint": "embedded",
        "run": {},
    }
    for n, record in enumerate(exchanges, 1):
        assert set(record) == {"n", "request", "response"} and record["n"] == n
        assert set(record["request"]) == {"method", "path", "body"}
        assert record["request"]["path"] == "/chat/completions"  # relative to the endpoint
        assert set(record["response"]) == {"status", "body"}


async def test_an_edited_request_names_the_request_the_field_and_both_values(
    recorded: tuple[Path, Conversation, int, str], start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-time field of a tool result inside request 3, changed in the file."""
    path, _, _, _ = recorded

    def edit(lines: list[dict[str, Any]]) -> None:
        messages = lines[3]["request"]["body"]["messages"]
        result = json.loads(messages[-2]["content"])  # the search's, before the cards'
        result["data"]["offers"][0]["total_cents"] = 1
        messages[-2]["content"] = json.dumps(result)

    rewrite(path, edit)
    no_model(monkeypatch)
    replayed, calls, made, player = await converse(ModelSettings(replay=path), start)
    assert player is not None and player.diverged is not None
    assert calls == 3 and made == [] and replayed.failed is not None
    assert player.diverged.request == 3
    difference = player.diverged.difference
    assert difference is not None
    assert difference.path == "$.messages[5].content{json}.data.offers[0].total_cents"
    assert (difference.recorded, difference.asked) == (1, 29000)
    assert f"differs at {difference.path}: recorded 1, this run 29000" in str(player.diverged)
    assert str(player.diverged).startswith("request 3 (POST /chat/completions, 7 messages, after")


async def test_other_requests_a_short_or_a_long_recording_are_not_a_replay(
    recorded: tuple[Path, Conversation, int, str], start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _, _ = recorded
    no_model(monkeypatch)
    other = REQUEST.replace("double", "single")
    changed, calls, made, player = await converse(ModelSettings(replay=path), start, other)
    assert player is not None and player.diverged is not None
    assert calls == 1 and made == [] and changed.tool_events() == []
    assert str(player.diverged).startswith(
        "request 1 (POST /chat/completions, 2 messages, the request itself) differs at "
        '$.messages[1].content: recorded "Book a double room'
    )
    assert 'this run "Book a single room' in str(player.diverged)
    # A recording that ran out is a divergence too …
    whole = path.read_text()
    path.write_text("".join(whole.splitlines(keepends=True)[:3]))
    short, _, _, player = await converse(ModelSettings(replay=path), start)
    assert player is not None and short.failed is not None
    assert "request 3 (POST /chat/completions, 7 messages" in str(player.diverged)
    assert "is beyond the 2 recorded" in str(player.diverged)
    # … and so is a run that ends before the recording does.
    lines = whole.splitlines(keepends=True)
    path.write_text("".join([*lines, lines[-1].replace('"n": 5', '"n": 6')]))
    long, _, _, player = await converse(ModelSettings(replay=path), start)
    assert long.ok and player is not None
    ended = player.finish()
    assert ended is not None and str(ended).startswith("request 6 (")
    assert "was recorded but never asked: the run ended after 5 of 6 requests" in str(ended)


async def test_a_replay_needs_no_endpoint_and_no_network(
    recorded: tuple[Path, Conversation, int, str], start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pointed at an endpoint nothing listens on, with every transport refused: it runs."""
    path, original, _, _ = recorded
    no_model(monkeypatch)
    settings = ModelSettings(base_url="http://127.0.0.1:9/v1", api_key="sk-x", replay=path)
    replayed, _, made, player = await converse(settings, start)
    assert replayed.ok, replayed.failed
    assert player is not None and player.finish() is None
    assert replayed.answer == original.answer and len(made) == 1


async def test_a_streamed_recording_replays_streamed_whatever_the_settings(
    tmp_path: Path, start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "streamed.jsonl"
    original, _, _, _ = await converse(ModelSettings(stream=True, record=path), start)
    assert original.ok, original.failed
    recording = read_recording(path)
    assert recording.stream and recording.header["stream"] is True
    assert all(str(e.answer).startswith("data:") for e in recording.exchanges)
    no_model(monkeypatch)
    replayed, _, made, player = await converse(ModelSettings(replay=path), start + HOUR)
    assert replayed.ok, replayed.failed
    assert player is not None and player.finish() is None
    assert replayed.answer == original.answer and len(made) == 1
