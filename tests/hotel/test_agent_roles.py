"""Which agents may act at a route comes from the registry: roles assigned over SCIM.

A new agent registered over SCIM with the ``guest-assistant`` role and a key of its own
(private_key_jwt) books for alice at once, with no change to the code; the same agent
without the role is refused by the route's rule (docs/attacks.md #7).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_iam import token_flows
from hotel.access import GUEST_AGENT, HUMAN, Rule, holds_role_for
from hotel.guard import rule_violation
from hotel.stores.seed import ALICE_BOOKING_ID
from iam_core.resource_server import ResourcePolicy
from iam_core.tokens import ACTOR_ROLES_CLAIM, Token, TokenType
from scenarios.deployment import Deployment
from tests.hotel.helpers import assert_allowed, assert_refused, bearer, mint, url

pytestmark = pytest.mark.anyio

SCIM_AGENT = "urn:agent-iam-lab:params:scim:schemas:core:2.0:Agent"
NEW_AGENT = "travel-planner"
STAY = {"hotel_id": "grand-meridian", "check_in": "2027-02-10", "check_out": "2027-02-12"}
NEW_BOOKING = {**STAY, "room_type": "double"}
GRANT = {"type": "hotel_booking", **NEW_BOOKING, "max_total_cents": 30_000}


async def register_over_scim(dep: Deployment, agent_id: str, roles: list[str]) -> None:
    """The IAM administrator registers an agent with its public key and ``roles``."""
    admin = await token_flows.app_token(dep, "iam-admin", "scim:admin", "iam")
    body: dict[str, Any] = {
        "schemas": [SCIM_AGENT],
        "agentId": agent_id,
        "owner": "dave",
        "displayName": "Travel planner",
        "agentType": "interactive",
        "delegableScopes": ["availability:read", "booking:create", "booking:read"],
        "autonomousScopes": ["availability:read"],
        "jwks": [dep.keystore.public_jwk(agent_id)],
    }
    if roles:
        body["roles"] = [{"value": role} for role in roles]
    response = await dep.http.post(
        "/scim/v2/Agents",
        json=body,
        headers={**bearer(admin), "Content-Type": "application/scim+json"},
    )
    assert response.status_code == 201, response.text


async def book_for_alice(dep: Deployment, agent_id: str) -> tuple[Any, dict[str, Any]]:
    response = await token_flows.obo_token(
        dep, "alice", agent_id, "hotel-web", "booking:create", "booking", [GRANT]
    )
    booked = await dep.http.post(
        url(dep, "booking", "/bookings"), json=NEW_BOOKING, headers=bearer(response)
    )
    return booked, response


async def test_an_agent_given_the_guest_role_over_scim_books_end_to_end(dep: Deployment) -> None:
    await register_over_scim(dep, NEW_AGENT, ["guest-assistant"])
    booked, issued = await book_for_alice(dep, NEW_AGENT)
    assert booked.status_code == 201, booked.text
    assert booked.json()["acting_agent"] == NEW_AGENT
    assert_allowed(
        dep,
        booked,
        service="booking",
        sub="alice",
        act=(NEW_AGENT,),
        reason="booking within the grant",
    )
    assert dep.iam is not None
    token = dep.iam.verifier.verify(str(issued["access_token"]), audience=None)
    assert token.claims[ACTOR_ROLES_CLAIM] == ["guest-assistant"]
    assert token.claims["roles"] == ["guest"]  # the user's roles stay the user's


async def test_an_agent_without_the_role_is_refused_at_the_booking_route(
    dep: Deployment,
) -> None:
    """Same agent, same scope and grant, no ``guest-assistant`` role: 403 from the rule."""
    await register_over_scim(dep, NEW_AGENT, ["concierge-helper"])
    booked, _ = await book_for_alice(dep, NEW_AGENT)
    assert_refused(
        dep,
        booked,
        status=403,
        error="insufficient_scope",
        reason=f"agent {NEW_AGENT} may not act on this route",
        scope="booking:create",
        service="booking",
        sub="alice",
        act=(NEW_AGENT,),
    )


async def test_the_demo_agents_carry_their_registry_roles(dep: Deployment) -> None:
    """The IAM puts the acting agent's roles in the tokens it mints (iam_core.tokens)."""
    assert dep.iam is not None
    agent = dep.iam.verifier.verify(
        str((await token_flows.agent_token(dep, "booking-assistant", None, "iam"))["access_token"]),
        audience=None,
    )
    assert agent.claims["roles"] == ["guest-assistant"]
    assert agent.actor_roles == {"guest-assistant"}


ROLES = st.frozensets(st.sampled_from(["guest-assistant", "staff-assistant", "x", "y"]))


def obo(actor_roles: frozenset[str], user_roles: frozenset[str]) -> Token:
    claims = {
        "sub": "alice",
        "jti": "j",
        "act": {"sub": "some-agent"},
        "scope": "booking:create",
        "roles": sorted(user_roles),
        ACTOR_ROLES_CLAIM: sorted(actor_roles),
    }
    return Token(claims, TokenType.OBO)


@given(actor_roles=ROLES, user_roles=ROLES, allowed=ROLES)
def test_an_agent_acts_at_a_route_iff_it_holds_one_of_the_rules_roles(
    actor_roles: frozenset[str], user_roles: frozenset[str], allowed: frozenset[str]
) -> None:
    """Only the current actor's registry roles count — never the user's ``roles``."""
    rule = Rule("booking:create", kinds=HUMAN, agent_roles=allowed)
    reason = rule_violation(rule, obo(actor_roles, user_roles), ResourcePolicy())
    if actor_roles & allowed:
        assert reason is None
    else:
        assert reason == "agent some-agent may not act on this route"


def test_a_rule_without_agent_roles_lets_any_agent_act() -> None:
    rule = Rule("booking:create", kinds=HUMAN)
    assert rule_violation(rule, obo(frozenset(), frozenset()), ResourcePolicy()) is None


def test_user_and_app_tokens_have_no_actor_roles() -> None:
    for kind in (TokenType.USER, TokenType.APP):
        assert Token({"roles": ["guest-assistant"]}, kind).actor_roles == frozenset()
    assert {"guest-assistant"} == GUEST_AGENT


def test_only_a_human_subject_counts_as_staff() -> None:
    """A staff role in a non-human token (an App token, say) never makes it staff."""
    policy = ResourcePolicy()
    for kind, expected in ((TokenType.USER, True), (TokenType.APP, False)):
        token = Token({"sub": "carol", "roles": ["front-desk"]}, kind)
        assert holds_role_for(token, "booking:modify", policy) is expected


async def test_staff_may_not_act_on_a_guests_object_where_the_route_does_not_allow_it(
    dep: Deployment,
) -> None:
    """Cancelling is for the owner only: a front-desk token with the scope is still refused."""
    token = mint(
        dep,
        TokenType.USER,
        sub="carol",
        client_id="staff-console",
        service="booking",
        scopes="booking:cancel",
        extra={"roles": ["front-desk"]},
    )
    response = await dep.http.delete(
        url(dep, "booking", f"/bookings/{ALICE_BOOKING_ID}"), headers=bearer(token)
    )
    assert response.status_code == 403, response.text
    assert "owner mismatch" in response.json()["error_description"]
