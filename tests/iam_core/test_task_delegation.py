"""Delegated tokens within a task end with it, whoever holds them (docs/design.md §3.2).

An OBO token redeemed with ``task_token`` belongs to that task; a token exchanged from it, or
handed off, inherits the task (its holder cannot drop the binding) and never outlives it.
When the front door ends the task, all of them are refused — without the agent revoking
anything (a hijacked runtime would not).
"""

from __future__ import annotations

import pytest

from agent_iam import token_flows
from agents.front_door import FRONT_DOOR, FrontDoor
from agents.oauth import OAuthClientError
from iam_core.clock import ManualClock
from iam_core.iam import IAMConfig
from scenarios.deployment import Deployment, deployment
from tests.iam_core.helpers import audit, claims, obo_within

pytestmark = pytest.mark.anyio
BA, SA = "booking-assistant", "staff-assistant"
SCOPE = "booking:create booking:read concierge:request"


async def _active(dep: Deployment, token: str) -> bool:
    status = await dep.oauth.introspect(token, as_app=dep.app("auditor"))
    return bool(status["active"])


async def test_ending_the_task_revokes_the_delegation_got_within_it(dep: Deployment) -> None:
    door = FrontDoor(dep.oauth, dep.app(FRONT_DOOR))
    task = await door.open(BA)
    obo = await obo_within(dep, task)
    hop = await token_flows.exchange_token(dep, obo["access_token"], SA, "booking:read", "booking")
    task_jti = claims({"access_token": task.token})["jti"]
    # The binding is carried on: the exchanged token names the same task, ends no later.
    assert claims(obo)["task"] == claims(hop)["task"] == task_jti
    assert claims(hop)["exp"] <= claims({"access_token": task.token})["exp"]
    assert await _active(dep, obo["access_token"]) and await _active(dep, hop["access_token"])

    await door.close(task)  # the agents revoke nothing themselves

    assert not await _active(dep, obo["access_token"])
    assert not await _active(dep, hop["access_token"])
    ended = audit(dep, "task.ended")
    assert ended and ended[-1].details["tokens_revoked"] == 2
    with pytest.raises(OAuthClientError) as refused:  # nor can the chain grow from it
        await token_flows.exchange_token(dep, obo["access_token"], SA, "booking:read", "booking")
    assert refused.value.error == "invalid_grant"


async def test_an_agent_cannot_redeem_a_persons_code_outside_a_task(dep: Deployment) -> None:
    """Deny by default: a runtime that leaves the task out (a hijacked one would) gets no
    delegation that no task ends."""
    with pytest.raises(OAuthClientError) as refused:
        await obo_within(dep, None)
    assert refused.value.error == "invalid_request"
    assert "task_token is required" in refused.value.description


async def test_with_tasks_off_a_delegation_is_redeemed_and_belongs_to_none() -> None:
    """The ablation (``task_scoped_agents=False``): the OBO token carries no task — and an
    exchange from it still never outlives it."""
    clock, config = ManualClock(), IAMConfig(task_scoped_agents=False)
    async with deployment(in_memory=True, config=config, clock=clock) as dep:
        obo = await obo_within(dep, None)
        assert "task" not in claims(obo)
        clock.advance(120)
        again = await token_flows.exchange_token(
            dep, obo["access_token"], BA, "booking:read", "booking"
        )
        assert claims(again)["exp"] <= claims(obo)["exp"]


async def test_a_code_cannot_be_redeemed_within_another_agents_or_an_ended_task(
    dep: Deployment,
) -> None:
    door = FrontDoor(dep.oauth, dep.app(FRONT_DOOR))
    for task in (await door.open(SA), await door.open(BA)):
        if task.agent == BA:
            await door.close(task)
        with pytest.raises(OAuthClientError) as refused:
            await obo_within(dep, task)
        assert refused.value.error == "invalid_grant", refused.value.description


async def test_an_exchange_never_outlives_its_subject_token() -> None:
    """Re-exchanging before expiry cannot renew a delegation: each hop ends no later than
    the token it came from (outside any task too)."""
    clock = ManualClock()
    async with deployment(in_memory=True, clock=clock) as dep:
        obo = await obo_within(dep, await FrontDoor(dep.oauth, dep.app(FRONT_DOOR)).open(BA))
        first, token = claims(obo)["exp"], obo["access_token"]
        for _ in range(3):
            clock.advance(60)
            again = await token_flows.exchange_token(dep, token, BA, "booking:read", "booking")
            assert claims(again)["exp"] <= first
            token = again["access_token"]
