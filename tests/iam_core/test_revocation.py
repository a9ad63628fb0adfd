"""Revocation: by token, by blocking an agent, disabling a user or withdrawing consent.

Each makes every token that names the identity — as sub or anywhere in act — inactive at
introspection at once.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_iam import token_flows
from agents.oauth import OAuthClientError
from iam_core.seed import DEMO_PASSWORDS
from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit

pytestmark = pytest.mark.anyio
SCOPE = "booking:create booking:read payment:charge concierge:request"


async def active(dep: Deployment, response: dict[str, Any]) -> bool:
    status = await dep.oauth.introspect(response["access_token"], as_app=dep.app("auditor"))
    return bool(status["active"])


async def chain(dep: Deployment) -> dict[str, dict[str, Any]]:
    """alice → booking-assistant (OBO) → staff-assistant (hop), plus unrelated tokens."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", SCOPE, "concierge"
    )
    hop = await token_flows.exchange_token(dep, obo["access_token"], "staff-assistant", None, None)
    return {
        "obo": obo,
        "hop": hop,
        "ba_alone": await token_flows.agent_token(
            dep, "booking-assistant", "availability:read", None
        ),
        "sa_alone": await token_flows.agent_token(
            dep, "staff-assistant", "availability:read", None
        ),
        "bob": await token_flows.user_token(dep, "bob", "hotel-web", "booking:read", None),
        "alice": await token_flows.user_token(dep, "alice", "hotel-web", "booking:read", None),
    }


async def states(dep: Deployment, tokens: dict[str, dict[str, Any]]) -> dict[str, bool]:
    return {name: await active(dep, t) for name, t in tokens.items()}


async def test_blocking_an_agent_revokes_every_token_naming_it_anywhere(dep: Deployment) -> None:
    """staff-assistant appears only deep in act of the hop token: that token dies too."""
    tokens = await chain(dep)
    assert dep.iam is not None
    dep.iam.block_agent("staff-assistant", by="dave")
    assert await states(dep, tokens) == {
        "obo": True,
        "hop": False,
        "ba_alone": True,
        "sa_alone": False,
        "bob": True,
        "alice": True,
    }
    blocked = audit(dep, "agent.blocked")[-1]
    # the hop, its own token, the identity token it presented as actor_token, and the task
    # its own token was asked within (the task's may_act names it, design §3.2)
    assert blocked.object_id == "staff-assistant" and blocked.details["tokens_revoked"] == 4


async def test_blocking_the_first_agent_kills_the_whole_chain_below_it(dep: Deployment) -> None:
    """booking-assistant is the inner act of the hop token."""
    tokens = await chain(dep)
    assert dep.iam is not None
    dep.iam.block_agent("booking-assistant", by="dave")
    result = await states(dep, tokens)
    assert result["obo"] is result["hop"] is result["ba_alone"] is False
    assert result["sa_alone"] is result["bob"] is result["alice"] is True


async def test_unblocking_does_not_revive_old_tokens(dep: Deployment) -> None:
    """Revocation is final for the tokens it hit."""
    tokens = await chain(dep)
    assert dep.iam is not None
    dep.iam.block_agent("booking-assistant", by="dave")
    dep.iam.unblock_agent("booking-assistant", by="dave")
    assert await active(dep, tokens["obo"]) is False
    fresh = await token_flows.agent_token(dep, "booking-assistant", "availability:read", None)
    assert await active(dep, fresh) is True


async def test_disabling_a_user_revokes_their_tokens_and_delegations(dep: Deployment) -> None:
    """alice's user, OBO and hop tokens die; bob and the agents' own tokens live."""
    tokens = await chain(dep)
    assert dep.iam is not None
    dep.iam.set_user_active("alice", False, by="dave")
    assert await states(dep, tokens) == {
        "obo": False,
        "hop": False,
        "ba_alone": True,
        "sa_alone": True,
        "bob": True,
        "alice": False,
    }
    with pytest.raises(OAuthClientError):
        await token_flows.user_token(dep, "alice", "hotel-web", "booking:read", None)


async def test_withdrawing_consent_revokes_the_delegations_it_backed(dep: Deployment) -> None:
    """alice withdraws consent for booking-assistant on her account page (real HTTP)."""
    tokens = await chain(dep)
    await dep.oauth.withdraw_consent(
        user="alice", password=DEMO_PASSWORDS["alice"], actor="booking-assistant"
    )
    assert await states(dep, tokens) == {
        "obo": False,
        "hop": False,
        "ba_alone": True,
        "sa_alone": True,
        "bob": True,
        "alice": True,
    }
    entry = audit(dep, "consent.withdrawn")[-1]
    assert entry.sub == "alice" and entry.act == ("booking-assistant",)
    assert entry.details["tokens_revoked"] == 2
    with pytest.raises(OAuthClientError) as info:
        await token_flows.exchange_token(
            dep, tokens["alice"]["access_token"], "booking-assistant", "booking:read", None
        )
    assert info.value.error == "invalid_grant"


async def test_a_revoked_subject_token_cannot_be_exchanged(dep: Deployment) -> None:
    """Exchange checks the subject token is still active."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", SCOPE, "booking"
    )
    await dep.oauth.revoke(obo["access_token"], as_agent=dep.agent("booking-assistant"))
    with pytest.raises(OAuthClientError) as info:
        await token_flows.exchange_token(
            dep, obo["access_token"], "booking-assistant", "payment:charge", None
        )
    assert info.value.error == "invalid_grant" and "revoked" in info.value.description


async def test_revoking_an_unknown_or_garbage_token_answers_200(dep: Deployment) -> None:
    """RFC 7009 §2.2: the client learns nothing from revoking garbage."""
    for garbage in ("not-a-token", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"):
        await dep.oauth.revoke(garbage, as_app=dep.app("auditor"))


async def test_a_client_cannot_revoke_a_token_issued_to_someone_else(dep: Deployment) -> None:
    """RFC 7009 §2.1: only the client it was issued to (or its actor) may revoke it."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", SCOPE, "booking"
    )
    with pytest.raises(OAuthClientError) as info:
        await dep.oauth.revoke(obo["access_token"], as_agent=dep.agent("staff-assistant"))
    assert info.value.error == "unauthorized_client"
    assert await active(dep, obo) is True


async def test_introspection_needs_an_authenticated_client(dep: Deployment) -> None:
    """RFC 7662 §2.1: anonymous callers get 401."""
    response = await dep.http.post("/introspect", data={"token": "x"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
