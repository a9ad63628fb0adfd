"""Fixtures for the agent tests: the embedded model, the crew, and the secrets check.

Every conversation any agent test runs is collected (the runtimes' own ``run`` and
``receive``), and after the test its transcript, the model's context, the hand-offs and the
captured logs are searched for every token the agents held, anything shaped like a JWT, the
demo passwords and the apps' secrets: none may appear.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agents.front_door import FRONT_DOOR, FrontDoor
from agents.llm.client import ChatModel, ModelSettings, open_model
from agents.runtime import AgentRuntime, Conversation
from iam_core.seed import DEMO_PASSWORDS, DEMO_SECRETS
from scenarios.crew import crew
from scenarios.deployment import Deployment

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.")


@pytest.fixture
async def model() -> AsyncIterator[ChatModel]:
    async with open_model(ModelSettings(model="embedded-obedient")) as m:
        yield m


@pytest.fixture
async def resistant() -> AsyncIterator[ChatModel]:
    async with open_model(ModelSettings(model="embedded-resistant")) as m:
        yield m


@pytest.fixture
def door(dep: Deployment) -> FrontDoor:
    """The front door (``hotel-chat``): hands a request to an agent within a task, as the
    chat does (agents/front_door.py, docs/design.md §3.2)."""
    return FrontDoor(dep.oauth, dep.app(FRONT_DOOR))


@pytest.fixture
async def agents(dep: Deployment, model: ChatModel) -> AsyncIterator[dict[str, AgentRuntime]]:
    async with crew(dep, model) as runtimes:
        yield runtimes


def held_tokens(runtime: AgentRuntime) -> list[str]:
    """Every token the runtime's identity component holds (read for the check only)."""
    identity = runtime.identity
    own = [h.token for h in identity._own.values()]
    delegated = [h.token for d in identity._delegations.values() for h in d.tokens.values()]
    approved = [h.token for d in identity._delegations.values() for h in d.approvals.values()]
    return own + delegated + approved


def leaks(texts: list[str], tokens: list[str]) -> list[str]:
    secrets = [*tokens, *DEMO_PASSWORDS.values(), *DEMO_SECRETS.values()]
    found = [s[:16] + "…" for s in secrets if any(s in t for t in texts)]
    found += [m.group(0)[:16] + "…" for t in texts for m in [JWT_SHAPE.search(t)] if m]
    return found


@pytest.fixture(autouse=True)
def no_secrets_in_any_conversation(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[list[Conversation]]:
    seen: list[Conversation] = []
    runtimes: list[AgentRuntime] = []
    run, receive = AgentRuntime.run, AgentRuntime.receive

    async def recording_run(self: AgentRuntime, *args: Any, **kwargs: Any) -> Conversation:
        runtimes.append(self)
        convo = await run(self, *args, **kwargs)
        seen.append(convo)
        return convo

    async def recording_receive(self: AgentRuntime, *args: Any, **kwargs: Any) -> Conversation:
        runtimes.append(self)
        convo = await receive(self, *args, **kwargs)
        seen.append(convo)
        return convo

    monkeypatch.setattr(AgentRuntime, "run", recording_run)
    monkeypatch.setattr(AgentRuntime, "receive", recording_receive)
    caplog.set_level(logging.DEBUG)
    yield seen
    texts = [t for c in seen for t in c.texts()] + [caplog.text]
    tokens = [t for r in runtimes for t in held_tokens(r)]
    assert not leaks(texts, tokens), "a token or secret reached a transcript or a log"
