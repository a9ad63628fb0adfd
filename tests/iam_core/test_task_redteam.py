"""Red team of tasks (docs/design.md §3.2): a hijacked agent — its key, its cached tokens and
the task token of the request it served, not the front door's secret — or any other client
trying to act outside a live task, outlive one, exceed its budgets, or make the IAM fail.

Each test is an attack over real HTTP against the in-process deployment; the ones that found
a hole say so (and fail without the fix they name)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest

from agent_iam import token_flows
from agents.front_door import FRONT_DOOR, FrontDoor
from agents.oauth import OAuthClientError
from iam_core.clock import ManualClock
from scenarios.deployment import Deployment, deployment
from tests.iam_core.helpers import audit, claims, obo_within

pytestmark = pytest.mark.anyio
BA, SA = "booking-assistant", "staff-assistant"
SCOPE = "booking:create booking:read concierge:request"


def _door(dep: Deployment) -> FrontDoor:
    return FrontDoor(dep.oauth, dep.app(FRONT_DOOR))


async def _own(dep: Deployment, agent: str, task: str | None) -> dict[str, Any]:
    """The agent's own token for availability, asked within ``task``."""
    return await dep.oauth.agent_token(
        dep.agent(agent),
        scope="availability:read",
        resource=dep.resource("availability"),
        task=task,
    )


async def _refused(call: Any) -> OAuthClientError:
    with pytest.raises(OAuthClientError) as refused:
        await call
    return refused.value


async def _hotels(dep: Deployment, token: str) -> httpx.Response:
    return await dep.http.get(
        f"{dep.resource('availability')}/hotels", headers={"Authorization": f"Bearer {token}"}
    )


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- the task token is no authority of its own --------------------------------------------


async def test_the_task_token_is_no_bearer_token_anywhere(dep: Deployment) -> None:
    """Presented as a bearer token: refused by a service (audience) and by the IAM's APIs
    (no audit:read, scim:admin, events:read), and the agent may not introspect or revoke it."""
    task = await _door(dep).open(BA)
    bearer = {"Authorization": f"Bearer {task.token}"}
    assert (await _hotels(dep, task.token)).status_code == 401
    assert (await dep.http.get("/audit", headers=bearer)).status_code == 403
    assert (await dep.http.get("/scim/v2/Users", headers=bearer)).status_code == 403
    assert (await dep.http.post("/events/poll", headers=bearer, json={})).status_code == 403
    assert await dep.oauth.introspect(task.token, as_app=dep.app("booking-backend")) == {
        "active": False
    }
    refused = await _refused(dep.oauth.revoke(task.token, as_agent=dep.agent(BA)))
    assert refused.error == "unauthorized_client"
    other = await _refused(dep.oauth.revoke(task.token, as_app=dep.app("booking-backend")))
    assert other.error == "unauthorized_client"
    assert (await _own(dep, BA, task.token))["access_token"]  # the task is still live


async def test_the_task_token_is_no_actor_or_subject_token(dep: Deployment) -> None:
    task = await _door(dep).open(BA)
    as_actor = await _refused(
        dep.oauth.exchange(
            dep.agent(BA),
            subject_token=task.token,
            actor_token=task.token,
            resource=dep.resource("booking"),
        )
    )
    assert as_actor.error == "invalid_grant"
    identity = await token_flows.actor_token(dep, BA)
    as_subject = await _refused(
        dep.oauth.exchange(
            dep.agent(BA),
            subject_token=task.token,
            actor_token=identity,
            resource=dep.resource("booking"),
        )
    )
    assert as_subject.error == "invalid_grant"


# -- opening a task: only the front door, only for an active agent ------------------------


@pytest.mark.parametrize(
    "actor",
    [
        "Booking-Assistant",
        "booking-assistant\u200b",
        "b\u043e\u043eking-assistant",  # Cyrillic о
        " booking-assistant",
        "hotel-web",
        "hotel-chat",
        "alice",
        "x" * 5000,
        "booking-assistant\x00",
    ],
)
async def test_a_task_is_for_a_registered_active_agent_only(dep: Deployment, actor: str) -> None:
    refused = await _refused(
        dep.oauth.app_token(dep.app(FRONT_DOOR), scope="tasks:open", requested_actor=actor)
    )
    assert refused.error == "invalid_request" and refused.status == 400


async def test_no_task_for_a_blocked_agent_nor_without_requested_actor(dep: Deployment) -> None:
    assert dep.iam is not None
    door = dep.app(FRONT_DOOR)
    empty = await _refused(dep.oauth.app_token(door, scope="tasks:open"))
    assert empty.error == "invalid_request"
    dep.iam.block_agent(BA, by="test")
    blocked = await _refused(dep.oauth.app_token(door, scope="tasks:open", requested_actor=BA))
    assert blocked.error == "invalid_request"


async def test_only_the_front_door_opens_a_task(dep: Deployment) -> None:
    """Another app asking tasks:open gets no such scope; its own token naming an agent as
    requested_actor is no task; an agent cannot ask tasks:open for itself."""
    backend = dep.app("booking-backend")
    refused = await _refused(dep.oauth.app_token(backend, scope="tasks:open", requested_actor=BA))
    assert refused.error == "invalid_scope"
    own = await dep.oauth.app_token(backend, requested_actor=BA)
    assert "may_act" not in claims(own)
    not_a_task = await _refused(_own(dep, BA, own["access_token"]))
    assert not_a_task.error == "invalid_grant"
    for resource in (dep.resource("iam"), None):
        agent = await _refused(
            dep.oauth.agent_token(dep.agent(BA), scope="tasks:open", resource=resource)
        )
        assert agent.error == "invalid_scope"


# -- acting: a live task, of this agent ---------------------------------------------------


async def test_malformed_task_tokens_are_refused_never_a_500(dep: Deployment) -> None:
    assert dep.iam is not None
    now = int(dep.iam.clock.now())
    body = {
        "iss": dep.issuer,
        "sub": FRONT_DOOR,
        "aud": dep.issuer,
        "client_id": FRONT_DOOR,
        "scope": "tasks:open",
        "may_act": {"sub": BA},
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "forged",
    }
    forged = [
        "garbage",
        "a.b.c",
        "." * 5000,
        "x" * 200_000,
        f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(body)}.",
        f"{_b64({'alg': 'HS256', 'kid': 'k'})}.{_b64(body)}.{_b64(b'sig')}",
        f"{_b64({'alg': 'ES256', 'kid': '../../x'})}.{_b64(body)}.{_b64(b'0' * 64)}",
        await token_flows.actor_token(dep, BA),  # a real token, not a task
    ]
    for raw in forged:
        refused = await _refused(_own(dep, BA, raw))
        assert refused.status < 500, refused
        assert refused.error in ("invalid_grant", "invalid_request", "payload_too_large"), refused


async def test_another_agents_task_is_refused(dep: Deployment) -> None:
    task = await _door(dep).open(SA)
    refused = await _refused(_own(dep, BA, task.token))
    assert refused.error == "invalid_grant"


async def test_tokens_per_task_holds_under_concurrent_requests(dep: Deployment) -> None:
    """Many token requests at once within one task: the count does not race."""
    task = await _door(dep).open(BA)
    results = await asyncio.gather(
        *(_own(dep, BA, task.token) for _ in range(16)), return_exceptions=True
    )
    issued = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, OAuthClientError)]
    assert len(issued) == 8 and len(refused) == 8
    assert all(r.status == 429 for r in refused)


async def test_exchanges_within_a_task_count_against_tokens_per_task(dep: Deployment) -> None:
    """Found: an OBO token redeemed within a task could be exchanged (or handed off) without
    end — each exchange inherits the task but none was counted against ``tokens_per_task``,
    so a hijacked agent minted as many tokens as it liked inside the task. Fails without
    the cap in ``inherited_task``."""
    task = await _door(dep).open(BA)
    obo = await obo_within(dep, task)  # 1 token within the task
    got, refusal = 1, None
    for _ in range(12):
        try:
            await token_flows.exchange_token(
                dep, obo["access_token"], BA, "booking:read", "booking"
            )
        except OAuthClientError as exc:
            refusal = exc
            break
        got += 1
    assert got == 8, f"{got} tokens within one task"
    assert refusal is not None and refusal.status == 429
    # A hand-off from it is a token within the task too: refused as well.
    handed = await _refused(
        dep.oauth.exchange(
            dep.agent(BA),
            subject_token=obo["access_token"],
            actor_token=await token_flows.actor_token(dep, BA),
            audience=SA,
            scope="booking:read",
        )
    )
    assert handed.status == 429


# -- the end: for good, at every service --------------------------------------------------


async def test_after_the_task_ends_its_tokens_are_refused_even_cached(dep: Deployment) -> None:
    door = _door(dep)
    task = await door.open(BA)
    own = (await _own(dep, BA, task.token))["access_token"]
    assert (await _hotels(dep, own)).status_code == 200  # verified, now in the cache
    await door.close(task)
    assert (await _hotels(dep, own)).status_code == 401
    refused = await _refused(_own(dep, BA, task.token))
    assert refused.error == "invalid_grant"
    assert audit(dep, "task.ended")[-1].details["tokens_revoked"] == 1


async def test_a_handoff_dies_with_the_senders_task(dep: Deployment) -> None:
    door = _door(dep)
    task = await door.open(BA)
    obo = await obo_within(dep, task)
    handoff = await dep.oauth.exchange(
        dep.agent(BA),
        subject_token=obo["access_token"],
        actor_token=await token_flows.actor_token(dep, BA),
        audience=SA,
        scope="booking:read",
    )
    assert claims(handoff)["task"] == claims({"access_token": task.token})["jti"]
    await door.close(task)
    refused = await _refused(
        token_flows.exchange_token(dep, handoff["access_token"], SA, "booking:read", "booking")
    )
    assert refused.error == "invalid_grant"


async def test_a_task_revoked_by_blocking_stays_revoked_after_unblocking(dep: Deployment) -> None:
    assert dep.iam is not None
    task = await _door(dep).open(BA)
    own = (await _own(dep, BA, task.token))["access_token"]
    dep.iam.block_agent(BA, by="test")
    dep.iam.unblock_agent(BA, by="test")
    refused = await _refused(_own(dep, BA, task.token))
    assert refused.error == "invalid_grant"
    assert (await _hotels(dep, own)).status_code == 401


async def test_a_task_about_to_expire_yields_nothing_beyond_its_end() -> None:
    """Tokens asked at the last second end with the task. Found: past its end, within the
    verification leeway (30 s), the task still yielded tokens — born expired, honoured by
    the services until the leeway ran out, and counted against a cap whose rows the
    retention prune may already have dropped. The IAM reads its own clock: a task is over
    at its ``exp``, for its own tokens and for exchanges from a delegation within it. Fails
    without either check (``live_task``, ``inherited_task``)."""
    clock = ManualClock()
    async with deployment(in_memory=True, clock=clock) as dep:
        task = await _door(dep).open(BA)
        ends = claims({"access_token": task.token})["exp"]
        clock.advance(ends - clock.now() - 1)
        last = await _own(dep, BA, task.token)
        obo = await obo_within(dep, task)
        assert claims(last)["exp"] <= ends and claims(obo)["exp"] <= ends
        clock.advance(11)  # past the task's end, within the leeway
        refused = await _refused(_own(dep, BA, task.token))
        assert refused.error == "invalid_grant"
        exchanged = await _refused(
            token_flows.exchange_token(dep, obo["access_token"], BA, "booking:read", "booking")
        )
        assert exchanged.error == "invalid_grant"
        clock.advance(30)  # and the services' leeway is over too
        assert (await _hotels(dep, last["access_token"])).status_code == 401


async def test_the_request_budget_covers_the_whole_task() -> None:
    """Found: the per-task request budget was a sliding window of 600 s, the task token's
    lifetime — but a task's last token is honoured until the task's end plus the services'
    leeway, so requests made at the task's start dropped out of the window before its end
    and the agent got a second budget (40 requests, not 20). Fails without a window that
    covers the task's life and the leeway."""
    clock = ManualClock()
    async with deployment(in_memory=True, clock=clock) as dep:
        assert dep.iam is not None
        task = await _door(dep).open(BA)
        ends = claims({"access_token": task.token})["exp"]
        first = (await _own(dep, BA, task.token))["access_token"]
        statuses = [(await _hotels(dep, first)).status_code for _ in range(21)]
        assert statuses.count(200) == 20 and statuses[-1] == 429
        clock.advance(ends - clock.now() - 5)
        last = (await _own(dep, BA, task.token))["access_token"]
        clock.advance(20)  # past the task's end, within the services' leeway (30 s)
        assert (await _hotels(dep, last)).status_code == 429


async def test_forgetting_expired_tokens_gives_a_live_task_no_new_allowance() -> None:
    """Found: ``tokens_per_task`` counts the task's rows in ``token_actors``, which the
    retention prune dropped with each expired token. With agent tokens living shorter than
    the task (an operator shortening them, as RFC 9700 §2.2 advises), a task that had used
    its allowance got it back after a prune. Fails without the prune keeping a live task's
    rows (``Revocations.prune``); once the task is over its rows go too."""
    from dataclasses import replace

    from iam_core.iam import IAMConfig
    from iam_core.retention import prune_iam
    from iam_core.tokens import Lifetimes

    clock = ManualClock()
    config = replace(IAMConfig(), lifetimes=Lifetimes(agent=60))
    async with deployment(in_memory=True, clock=clock, config=config) as dep:
        assert dep.iam is not None
        limit = dep.iam.config.tokens_per_task
        assert limit is not None
        task = await _door(dep).open(BA)
        for _ in range(limit):
            await _own(dep, BA, task.token)
        clock.advance(400)  # every token expired 340 s ago; the task lives 200 s more
        assert prune_iam(dep.iam).tokens == limit
        refused = await _refused(_own(dep, BA, task.token))
        assert refused.status == 429 and "tokens_per_task" in refused.description
        clock.advance(600)  # the task is over and forgotten: so are its rows
        prune_iam(dep.iam)
        left = dep.iam.store.one("SELECT COUNT(*) AS n FROM token_actors")
        assert left is not None and int(left["n"]) == 0
