"""Tasks (docs/design.md §3.2, iam_core/tasks.py): an agent's own token for a service only
within a live task its front door opened. Each test pins one rule of iam_core/grants/task.py
or iam_core/grants/client_credentials.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agents.front_door import FRONT_DOOR, FrontDoor
from agents.oauth import OAuthClientError
from iam_core.tokens import TokenType
from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit, claims, last_refusal, open_task

pytestmark = pytest.mark.anyio
BA, SA = "booking-assistant", "staff-assistant"
SCOPE = "availability:read"


async def within(dep: Deployment, task: str | None, agent: str = BA) -> dict[str, object]:
    """The agent's own token for availability, within ``task``."""
    return await dep.oauth.agent_token(
        dep.agent(agent), scope=SCOPE, resource=dep.resource("availability"), task=task
    )


async def search(dep: Deployment, token: str) -> int:
    url = f"{dep.resource('availability')}/hotels"
    response = await dep.http.get(url, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_without_a_task_the_agent_gets_no_token_for_a_service(dep: Deployment) -> None:
    with pytest.raises(OAuthClientError) as refused:
        await within(dep, None)
    assert (refused.value.status, refused.value.error) == (400, "invalid_request")
    assert "task_token is required" in refused.value.description
    entry = last_refusal(dep)
    assert entry.sub == BA and "task_token" in entry.reason


async def test_an_ended_task_yields_nothing(dep: Deployment) -> None:
    door = FrontDoor(dep.oauth, dep.app(FRONT_DOOR))
    task = await door.open(BA)
    await door.close(task)
    with pytest.raises(OAuthClientError) as refused:
        await within(dep, task.token)
    assert refused.value.error == "invalid_grant"
    assert "the task is over" in refused.value.description


async def test_a_task_opened_for_another_agent_is_refused(dep: Deployment) -> None:
    with pytest.raises(OAuthClientError) as refused:
        await within(dep, await open_task(dep, SA))
    assert refused.value.error == "invalid_grant"
    assert f"not opened for {BA}" in refused.value.description


async def test_a_token_that_is_no_task_is_refused_as_task_token(dep: Deployment) -> None:
    identity = await dep.oauth.agent_token(dep.agent(BA), resource=dep.resource("iam"))
    app = await dep.oauth.app_token(dep.app("auditor"), resource=dep.resource("iam"))
    for token in (identity["access_token"], app["access_token"]):
        with pytest.raises(OAuthClientError) as refused:
            await within(dep, str(token))
        assert refused.value.error == "invalid_grant"
        assert "not a task token" in refused.value.description


async def test_a_task_yields_at_most_tokens_per_task_tokens(dep: Deployment) -> None:
    assert dep.iam is not None
    limit = dep.iam.config.tokens_per_task
    assert limit == 8
    task = await open_task(dep)
    for _ in range(limit):
        await within(dep, task)
    with pytest.raises(OAuthClientError) as refused:
        await within(dep, task)
    assert refused.value.status == 429 and "tokens_per_task" in refused.value.description
    await within(dep, await open_task(dep))  # a new task, a new allowance


async def test_a_token_carries_its_task_and_never_outlives_it(dep: Deployment) -> None:
    task = await open_task(dep)
    token = claims(await within(dep, task))
    task_claims = claims({"access_token": task})
    assert token["task"] == task_claims["jti"]
    assert token["exp"] <= task_claims["exp"]
    assert task_claims["may_act"] == {"sub": BA}


async def test_a_token_never_outlives_a_task_about_to_end(dep: Deployment) -> None:
    """A task with less time left than an agent token's lifetime caps the token's exp."""
    assert dep.iam is not None
    now = int(dep.iam.clock.now())
    raw, _ = dep.iam.minter.mint(
        TokenType.APP,
        sub=FRONT_DOOR,
        client_id=FRONT_DOOR,
        audience=dep.issuer,
        scopes=frozenset({"tasks:open"}),
        extra={"may_act": {"sub": BA}},
        expires_at=now + 20,
    )
    token = claims(await within(dep, str(raw)))
    assert token["exp"] == now + 20


async def test_ending_the_task_revokes_every_token_issued_within_it(dep: Deployment) -> None:
    door = FrontDoor(dep.oauth, dep.app(FRONT_DOOR))
    task = await door.open(BA)
    tokens = [str((await within(dep, task.token))["access_token"]) for _ in range(3)]
    other = str((await within(dep, await open_task(dep)))["access_token"])
    assert [await search(dep, t) for t in [*tokens, other]] == [200] * 4
    await door.close(task)
    assert [await search(dep, t) for t in tokens] == [401] * 3
    assert await search(dep, other) == 200  # another task's token lives on
    (ended,) = audit(dep, "task.ended")
    assert ended.details["tokens_revoked"] == 3 and ended.act == (BA,)


async def test_blocking_the_agent_revokes_its_open_task(dep: Deployment) -> None:
    assert dep.iam is not None
    task = await open_task(dep)
    dep.iam.block_agent(BA, by="dave")
    dep.iam.unblock_agent(BA, by="dave")
    with pytest.raises(OAuthClientError) as refused:
        await within(dep, task)
    assert refused.value.error == "invalid_grant" and "revoked" in refused.value.description


async def test_only_an_app_holding_tasks_open_may_open_a_task(dep: Deployment) -> None:
    with pytest.raises(OAuthClientError) as refused:
        await FrontDoor(dep.oauth, dep.app("auditor")).open(BA)
    assert refused.value.error == "invalid_scope"


async def test_a_task_is_opened_only_for_an_active_agent(dep: Deployment) -> None:
    assert dep.iam is not None
    door = FrontDoor(dep.oauth, dep.app(FRONT_DOOR))
    for agent in ("", "nobody"):
        with pytest.raises(OAuthClientError) as refused:
            await dep.oauth.app_token(
                dep.app(FRONT_DOOR), scope="tasks:open", requested_actor=agent or None
            )
        assert refused.value.error == "invalid_request"
        assert "requested_actor" in refused.value.description
    dep.iam.block_agent(SA, by="dave")
    with pytest.raises(OAuthClientError) as refused:
        await door.open(SA)
    assert "not an active agent" in refused.value.description


async def test_the_agents_identity_token_for_the_iam_needs_no_task(dep: Deployment) -> None:
    identity = await dep.oauth.agent_token(dep.agent(BA), resource=dep.resource("iam"))
    assert claims(identity)["sub"] == BA and "task" not in claims(identity)


async def test_the_agent_cannot_open_a_task_with_its_own_key(dep: Deployment) -> None:
    with pytest.raises(OAuthClientError) as refused:
        await dep.oauth._post(  # the agent's private_key_jwt, asking tasks:open
            "/token",
            {
                "grant_type": "client_credentials",
                "scope": "tasks:open",
                "requested_actor": BA,
                **dep.oauth._agent_auth(dep.agent(BA)),
            },
        )
    assert refused.value.error in ("invalid_scope", "invalid_request")


async def test_the_off_switch_lets_an_agent_act_without_a_task() -> None:
    """task_scoped_agents=False (the agent-iam-no-task-scope ablation): no task needed."""
    from iam_core.iam import IAMConfig
    from scenarios.deployment import deployment

    config = replace(IAMConfig(), task_scoped_agents=False)
    async with deployment(in_memory=True, config=config) as dep:
        token = claims(await within(dep, None))
        assert token["sub"] == BA and "task" not in token
