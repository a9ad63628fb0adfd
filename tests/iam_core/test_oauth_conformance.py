"""OAuth conformance findings, each as a class: redirect_uri at redemption (RFC 6749 §4.1.3),
who may introspect (RFC 7662 §4), hand-off grants and blocks, and exchanges bounded by the
authorization behind the subject token (RFC 8693 §2.1)."""

from __future__ import annotations

from typing import Any

import pytest

from agent_iam import token_flows
from agents.oauth import ACCESS_TOKEN_TYPE, OAuthClientError, decode_unverified
from iam_core.seed import REDIRECT_URIS
from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit, consented_code, last_refusal

pytestmark = pytest.mark.anyio
WEB = REDIRECT_URIS["hotel-web"]
BA, SA = "booking-assistant", "staff-assistant"


async def _redeem_without_redirect_uri(
    dep: Deployment, code: str, verifier: str, **extra: str
) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": "hotel-web",
        **extra,
    }
    return await dep.http.post("/token", data=form)


# -- redirect_uri (RFC 6749 §4.1.3) -----------------------------------------------------------
async def test_a_code_is_not_redeemed_without_the_redirect_uri_of_its_request(
    dep: Deployment,
) -> None:
    """The authorization request named redirect_uri: the redemption must name it too."""
    code, verifier = await consented_code(dep, "booking:read")
    response = await _redeem_without_redirect_uri(dep, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "redirect_uri" in last_refusal(dep).reason
    # The refusal did not burn the code: the legitimate redemption still works.
    ok = await dep.oauth.redeem_code(dep.app("hotel-web"), code, verifier, redirect_uri=WEB)
    assert "access_token" in ok


async def test_an_obo_code_is_not_redeemed_without_the_redirect_uri_of_its_request(
    dep: Deployment,
) -> None:
    """The same rule for the draft-02 on-behalf-of code, redeemed with the actor token."""
    code, verifier = await consented_code(dep, "booking:read", actor=BA)
    actor = await token_flows.actor_token(dep, BA)
    response = await _redeem_without_redirect_uri(
        dep, code, verifier, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE
    )
    assert response.status_code == 400 and "redirect_uri" in response.json()["error_description"]
    wrong = await dep.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": "hotel-web",
            "redirect_uri": WEB + "/other",
            "actor_token": actor,
        },
    )
    assert wrong.status_code == 400 and "redirect_uri" in wrong.json()["error_description"]


async def test_a_request_without_redirect_uri_redeems_without_one(dep: Deployment) -> None:
    """With a single registered redirect URI the request may omit it, and then so may the
    redemption (RFC 6749 §4.1.3: required only if it was included)."""
    assert dep.iam is not None
    from iam_core.authorization import AuthorizationFlow, s256

    flow = AuthorizationFlow(dep.iam)
    verifier = "v" * 43
    request = flow.start(
        {
            "response_type": "code",
            "client_id": "hotel-web",
            "scope": "booking:read",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
    )
    code = flow.issue_code(request, "alice", frozenset({"booking:read"}))
    response = await _redeem_without_redirect_uri(dep, code, verifier)
    assert response.status_code == 200, response.text


# -- introspection (RFC 7662 §4) --------------------------------------------------------------
async def _introspect_as(
    dep: Deployment, token: str, *, agent: str | None = None, app: str = ""
) -> Any:
    if agent is not None:
        form = {"token": token, **dep.oauth._agent_auth(dep.agent(agent))}
        return (await dep.http.post("/introspect", data=form)).json()
    return await dep.oauth.introspect(token, as_app=dep.app(app))


async def test_only_the_audience_the_client_or_an_auditor_may_introspect(dep: Deployment) -> None:
    """Anyone else gets {"active": false}, and the refusal is audited."""
    app_token = (await token_flows.app_token(dep, "booking-backend", "availability:hold", None))[
        "access_token"
    ]
    obo = (await token_flows.obo_token(dep, "alice", BA, "hotel-web", "booking:read", None))[
        "access_token"
    ]
    agent_id_token = await token_flows.actor_token(dep, SA)
    # Agents: another client's token, or a user's token they do not act under.
    assert await _introspect_as(dep, app_token, agent=BA) == {"active": False}
    assert await _introspect_as(dep, obo, agent=SA) == {"active": False}
    refused = [e for e in audit(dep, "token.introspected") if e.outcome == "denied"]
    assert refused and refused[-1].client_id == SA and "RFC 7662" in refused[-1].reason
    # An app: a token neither its own nor of its audience.
    assert await _introspect_as(dep, obo, app="booking-backend") == {"active": False}
    # The resource servers' client: tokens of the hotel audiences, not the IAM's own.
    assert (await _introspect_as(dep, obo, app="hotel-services"))["active"] is True
    assert await _introspect_as(dep, agent_id_token, app="hotel-services") == {"active": False}
    # The token's own client, its current actor, and the auditor.
    assert (await _introspect_as(dep, app_token, app="booking-backend"))["active"] is True
    assert (await _introspect_as(dep, obo, agent=BA))["active"] is True
    assert (await _introspect_as(dep, obo, app="auditor"))["sub"] == "alice"


# -- hand-off grants and blocks ---------------------------------------------------------------
async def _handoff(dep: Deployment) -> str:
    obo = (await token_flows.obo_token(dep, "alice", BA, "hotel-web", "booking:read", None))[
        "access_token"
    ]
    actor = await token_flows.actor_token(dep, BA)
    grant = await dep.oauth.exchange(
        dep.agent(BA), subject_token=obo, actor_token=actor, audience=SA, scope="booking:read"
    )
    return str(grant["access_token"])


async def _receive(dep: Deployment, grant: str) -> dict[str, Any]:
    return await token_flows.exchange_token(dep, grant, SA, "booking:read", None)


@pytest.mark.parametrize("blocked", ["target", "sender", "user"], ids=["target", "sender", "user"])
async def test_a_block_revokes_hand_off_grants_for_good(dep: Deployment, blocked: str) -> None:
    """Blocking the target, the sender or the user revokes the grant; unblocking revives none."""
    assert dep.iam is not None
    iam = dep.iam
    grant = await _handoff(dep)
    jti = decode_unverified(grant)["jti"]
    if blocked == "user":
        iam.set_user_active("alice", False, by="dave")
        iam.set_user_active("alice", True, by="dave")
    else:
        agent = SA if blocked == "target" else BA
        iam.block_agent(agent, by="dave")
        iam.unblock_agent(agent, by="dave")
    assert iam.revocations.reason_revoked(jti) is not None
    with pytest.raises(OAuthClientError) as info:
        await _receive(dep, grant)
    assert info.value.error == "invalid_grant"
    assert (await dep.oauth.introspect(grant, as_app=dep.app("auditor")))["active"] is False


async def test_a_hand_off_grant_works_when_nobody_was_blocked(dep: Deployment) -> None:
    """The baseline of the test above: the same grant, untouched, is exchanged."""
    received = await _receive(dep, await _handoff(dep))
    assert decode_unverified(received["access_token"])["act"]["sub"] == SA


# -- exchanges bounded by the authorization behind the subject token --------------------------
async def test_an_exchange_is_bounded_by_its_own_task_not_by_standing_consents(
    dep: Deployment,
) -> None:
    """alice approved booking:cancel in an earlier task and booking:read in this one: the
    exchange of this task's token stays within booking:read."""
    await token_flows.obo_token(
        dep, "alice", BA, "hotel-web", "booking:cancel booking:create", None
    )
    current = await token_flows.obo_token(dep, "alice", BA, "hotel-web", "booking:read", None)
    exchanged = await token_flows.exchange_token(dep, current["access_token"], BA, None, None)
    assert exchanged["scope"] == "booking:read"
    with pytest.raises(OAuthClientError) as info:
        await token_flows.exchange_token(dep, current["access_token"], BA, "booking:cancel", None)
    assert info.value.error == "invalid_scope"


async def test_an_exchange_may_move_a_task_to_another_audience_it_authorized(
    dep: Deployment,
) -> None:
    """The authorization (booking:create payment:charge) still bounds a move to payment."""
    obo = await token_flows.obo_token(
        dep, "alice", BA, "hotel-web", "booking:create payment:charge", "booking"
    )
    assert obo["scope"] == "booking:create"
    moved = await token_flows.exchange_token(dep, obo["access_token"], BA, "payment:charge", None)
    assert moved["scope"] == "payment:charge"
