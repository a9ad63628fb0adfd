"""Agents ask the person: approval_required → OpenID CIBA (poll mode) → the action, once.

The services answer a payment at or above the threshold with ``approval_required`` and the
exact RFC 9396 details; the booking assistant asks the person (CIBA §7.1), polls (§10.1,
§11: ``interval``, ``slow_down``), and pays with the approval-bound token. The transcript
says what it waits for and what became of it; no token reaches the model's context (the
autouse check of conftest.py searches every transcript for any JWT).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agents.approval import seek_approval
from agents.identity import AgentIdentity
from agents.llm.client import ChatModel
from agents.runtime import AgentRuntime, Conversation
from hotel.stores.seed import ALICE_BOOKING_ID
from iam_core.clock import ManualClock
from scenarios.approver import people_of
from scenarios.crew import crew, person
from scenarios.deployment import Deployment, deployment
from tests.agents.served import served

pytestmark = pytest.mark.anyio
BA = "booking-assistant"
TASK = {
    "type": "payment",
    "booking_id": ALICE_BOOKING_ID,
    "amount_cents": 42_000,
    "hotel_id": "alpine-lodge",
}
ASK = f"Pay €420 for booking {ALICE_BOOKING_ID}"
WAITING = f"waiting for alice's approval: pay €420.00 for {ALICE_BOOKING_ID} at Alpine Lodge"


def lines(convo: Conversation) -> list[str]:
    return [str(e["text"]) for e in convo.events if e.get("kind") == "approval"]


def paid(dep: Deployment) -> int:
    assert dep.hotel is not None
    return sum(p.amount_cents for p in dep.hotel.world.payments_of(ALICE_BOOKING_ID))


async def pay_task(agents: dict[str, AgentRuntime], approves: bool) -> Conversation:
    people = people_of(agents)
    assert people is not None
    # Her task as the scenario states it: this payment, or (not approving) nothing at all.
    people.expect("alice", (TASK,) if approves else ())
    return await served(agents[BA], ASK, human=person("alice"), end_task=False)


async def test_the_agent_waits_for_alices_approval_and_then_pays_once(
    dep: Deployment, agents: dict[str, AgentRuntime]
) -> None:
    """Approved: the transcript shows the wait and the approval; €420 is paid, once."""
    convo = await pay_task(agents, approves=True)
    assert lines(convo) == [
        WAITING,
        f"alice approved: pay €420.00 for {ALICE_BOOKING_ID} at Alpine Lodge",
    ]
    assert paid(dep) == 42_000
    (pays,) = [e for e in convo.tool_events() if e["tool"] == "pay_booking"]
    assert pays["outcome"] == "allowed" and pays["approval"].startswith("alice approved")
    assert dep.iam is not None
    used = dep.iam.audit.query(event="approval.used")
    assert len(used) == 1 and used[0].act == ("booking-assistant",)


async def test_a_denied_approval_is_said_plainly_and_nothing_is_paid(
    dep: Deployment, agents: dict[str, AgentRuntime]
) -> None:
    """Denied (not her task): no payment, and the model reads that alice denied it."""
    convo = await pay_task(agents, approves=False)
    assert lines(convo)[-1] == f"alice denied: pay €420.00 for {ALICE_BOOKING_ID} at Alpine Lodge"
    assert paid(dep) == 0
    tool_answers = [m["content"] for m in convo.messages if m.get("role") == "tool"]
    assert any("alice denied" in str(a) for a in tool_answers)


async def test_the_approval_token_never_reaches_the_models_context(
    dep: Deployment, agents: dict[str, AgentRuntime]
) -> None:
    """The approval-bound token stays with the identity component: not in any message."""
    convo = await pay_task(agents, approves=True)
    identity = agents[BA].identity
    assert isinstance(identity, AgentIdentity)
    held = identity.approvals_held("alice")
    assert len(held) == 1
    token = identity._delegations["alice"].approvals[held[0]].token
    assert all(token not in text for text in convo.texts())
    assert all(held[0] not in text for text in convo.texts())  # not even its auth_req_id


@pytest.fixture
async def slow() -> AsyncIterator[tuple[Deployment, ManualClock]]:
    clock = ManualClock()
    async with deployment(in_memory=True, clock=clock) as d:
        yield d, clock


async def test_an_unanswered_request_expires_and_the_agent_says_so(
    slow: tuple[Deployment, ManualClock], model: ChatModel
) -> None:
    """Nobody answers: the agent polls every ``interval`` until ``expires_in``, then stops."""
    dep, clock = slow
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(seconds)

    async with crew(dep, model) as agents:
        agents[BA].notify = None  # her phone is off
        agents[BA].sleep = sleep
        convo = await served(agents[BA], ASK, human=person("alice"))
    assert lines(convo)[-1].startswith("alice did not answer in time")
    assert paid(dep) == 0
    assert waited and set(waited) == {1.0} and sum(waited) <= 300
    assert dep.iam is not None
    assert dep.iam.audit.query(event="approval.expired")


async def test_the_agent_slows_down_when_the_iam_says_slow_down(
    slow: tuple[Deployment, ManualClock], model: ChatModel
) -> None:
    """CIBA §11: after ``slow_down`` the agent waits 5 s longer between polls."""
    dep, clock = slow
    waited: list[float] = []

    async def impatient(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) > 1:  # the first wait is cut short: the next poll comes too soon
            clock.advance(seconds)

    async with crew(dep, model) as agents:
        people = people_of(agents)
        assert people is not None
        agents[BA].notify = None
        agents[BA].sleep = impatient
        await served(agents[BA], ASK, human=person("alice"), end_task=False)
        identity = agents[BA].identity
        assert isinstance(identity, AgentIdentity)
        people.expect("alice", (TASK,))
        # Answered later: the same flow, asked once more, with her phone on.
        answer = await seek_approval(
            identity, "alice", "payment", "payment:charge", [TASK], notify=people
        )
    assert waited[:2] == [1.0, 6.0]
    assert answer.approved
