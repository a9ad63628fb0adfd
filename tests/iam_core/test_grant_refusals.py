"""Each refusal path of the token endpoint: the right RFC 6749 §5.2 error, and audited."""

from __future__ import annotations

import pytest

from agent_iam import token_flows
from agents.oauth import OAuthClientError
from iam_core.seed import REDIRECT_URIS
from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit, consented_code, last_refusal

pytestmark = pytest.mark.anyio

WEB = REDIRECT_URIS["hotel-web"]


async def _refused(awaitable: object) -> OAuthClientError:
    with pytest.raises(OAuthClientError) as info:
        await awaitable  # type: ignore[misc]
    return info.value


async def test_an_agent_alone_cannot_get_booking_or_payment_scopes(dep: Deployment) -> None:
    """An agent token carries only autonomous scopes: booking:create is invalid_scope."""
    error = await _refused(
        token_flows.agent_token(dep, "booking-assistant", "booking:create", None)
    )
    assert (error.status, error.error) == (400, "invalid_scope")
    entry = last_refusal(dep)
    assert entry.outcome == "denied" and entry.client_id == "booking-assistant"
    assert entry.details["scope_requested"] == "booking:create"


async def test_an_app_cannot_ask_for_scopes_it_was_not_given(dep: Deployment) -> None:
    """booking-backend may hold rooms, not charge cards."""
    error = await _refused(token_flows.app_token(dep, "booking-backend", "payment:charge", None))
    assert error.error == "invalid_scope"


async def test_scopes_of_several_services_without_a_resource_are_invalid_target(
    dep: Deployment,
) -> None:
    """One audience per token (RFC 8707): the request must name which."""
    error = await _refused(
        dep.oauth.app_token(dep.app("booking-backend"), scope="availability:hold audit:read")
    )
    assert error.error == "invalid_target"
    error = await _refused(
        dep.oauth.agent_token(dep.agent("booking-assistant"), resource="https://elsewhere.example/")
    )
    assert error.error == "invalid_target"


async def test_obo_code_redemption_without_an_actor_token_is_invalid_grant(
    dep: Deployment,
) -> None:
    """A code bound to requested_actor needs that actor's agent token."""
    code, verifier = await consented_code(dep, "booking:create", actor="booking-assistant")
    error = await _refused(
        dep.oauth.redeem_code(dep.app("hotel-web"), code, verifier, redirect_uri=WEB)
    )
    assert error.error == "invalid_grant" and "actor_token" in error.description


async def test_obo_code_redemption_with_another_agents_token_is_invalid_grant(
    dep: Deployment,
) -> None:
    """The actor token's sub must equal the requested actor."""
    code, verifier = await consented_code(dep, "booking:create", actor="booking-assistant")
    other = await token_flows.actor_token(dep, "staff-assistant")
    error = await _refused(
        dep.oauth.redeem_code(
            dep.app("hotel-web"), code, verifier, redirect_uri=WEB, actor_token=other
        )
    )
    assert error.error == "invalid_grant" and "staff-assistant" in error.description


async def test_an_actor_token_must_be_an_agent_token(dep: Deployment) -> None:
    """A user's own token is no actor token."""
    code, verifier = await consented_code(dep, "booking:create", actor="booking-assistant")
    user = await token_flows.user_token(dep, "bob", "hotel-web", "booking:read", None)
    error = await _refused(
        dep.oauth.redeem_code(
            dep.app("hotel-web"), code, verifier, redirect_uri=WEB, actor_token=user["access_token"]
        )
    )
    assert error.error == "invalid_grant" and "actor_token" in error.description


async def test_a_code_is_single_use_and_its_replay_revokes_the_first_token(
    dep: Deployment,
) -> None:
    """RFC 6749 §4.1.2: a second redemption fails and revokes what the first produced."""
    code, verifier = await consented_code(dep, "booking:read")
    first = await dep.oauth.redeem_code(dep.app("hotel-web"), code, verifier, redirect_uri=WEB)
    error = await _refused(
        dep.oauth.redeem_code(dep.app("hotel-web"), code, verifier, redirect_uri=WEB)
    )
    assert error.error == "invalid_grant"
    status = await dep.oauth.introspect(first["access_token"], as_app=dep.app("auditor"))
    assert status["active"] is False


async def test_a_wrong_pkce_verifier_is_invalid_grant(dep: Deployment) -> None:
    """RFC 7636 §4.6: the verifier must hash to the challenge."""
    code, _ = await consented_code(dep, "booking:read")
    error = await _refused(
        dep.oauth.redeem_code(dep.app("hotel-web"), code, "x" * 50, redirect_uri=WEB)
    )
    assert error.error == "invalid_grant" and "code_verifier" in error.description


async def test_a_code_redeemed_by_another_client_is_invalid_grant(dep: Deployment) -> None:
    """Codes are bound to the client they were issued to."""
    code, verifier = await consented_code(dep, "booking:read", user="carol", app="staff-console")
    error = await _refused(
        dep.oauth.redeem_code(dep.app("hotel-web"), code, verifier, redirect_uri=WEB)
    )
    assert error.error == "invalid_grant"


async def test_an_exchange_never_widens_a_further_hop(dep: Deployment) -> None:
    """The second agent cannot ask for a scope the subject token does not carry."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", "concierge:request", "concierge"
    )
    error = await _refused(
        token_flows.exchange_token(
            dep, obo["access_token"], "staff-assistant", "concierge:assign", None
        )
    )
    assert error.error == "invalid_scope"
    assert "concierge:assign" in last_refusal(dep).details["scope_requested"]


async def test_an_exchange_cannot_exceed_the_consent_even_for_the_same_agent(
    dep: Deployment,
) -> None:
    """Scope inflation at exchange: payment:charge that alice never consented to."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", "booking:create", "booking"
    )
    error = await _refused(
        token_flows.exchange_token(
            dep, obo["access_token"], "booking-assistant", "payment:charge", None
        )
    )
    assert error.error == "invalid_scope"


async def test_an_exchange_without_consent_for_that_agent_is_invalid_grant(
    dep: Deployment,
) -> None:
    """A user token alone does not let an agent act: the user must have consented."""
    user = await token_flows.user_token(dep, "alice", "hotel-web", "booking:read", None)
    error = await _refused(
        token_flows.exchange_token(
            dep, user["access_token"], "booking-assistant", "booking:read", None
        )
    )
    assert error.error == "invalid_grant" and "consented" in error.description


async def test_a_delegation_chain_stops_at_the_maximum_depth() -> None:
    """With a maximum depth of 1, no further hop is possible."""
    from iam_core.iam import IAMConfig
    from iam_core.policy import Policy
    from scenarios.deployment import deployment

    config = IAMConfig(policy=Policy(max_delegation_depth=1))
    async with deployment(in_memory=True, config=config) as dep:
        obo = await token_flows.obo_token(
            dep, "alice", "booking-assistant", "hotel-web", "concierge:request", "concierge"
        )
        error = await _refused(
            token_flows.exchange_token(dep, obo["access_token"], "staff-assistant", None, None)
        )
        assert error.error == "invalid_grant" and "depth" in error.description


async def test_an_agent_cannot_rejoin_its_own_delegation_chain(dep: Deployment) -> None:
    """A cycle (A → B → A) is refused."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", "concierge:request", "concierge"
    )
    hop = await token_flows.exchange_token(dep, obo["access_token"], "staff-assistant", None, None)
    error = await _refused(
        token_flows.exchange_token(dep, hop["access_token"], "booking-assistant", None, None)
    )
    assert error.error == "invalid_grant" and "already in the delegation chain" in (
        error.description
    )


async def test_the_actor_token_must_belong_to_the_client_that_asks(dep: Deployment) -> None:
    """An agent cannot present another agent's identity as its actor token."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", "concierge:request", "concierge"
    )
    stolen = await token_flows.actor_token(dep, "booking-assistant")
    error = await _refused(
        dep.oauth.exchange(
            dep.agent("staff-assistant"), subject_token=obo["access_token"], actor_token=stolen
        )
    )
    assert error.error == "invalid_grant"


async def test_may_act_in_a_subject_token_is_honoured(dep: Deployment) -> None:
    """RFC 8693 §4.4: only the actor named by may_act may exchange the subject token."""
    from iam_core.tokens import TokenType

    assert dep.iam is not None
    await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", "booking:read", "booking"
    )
    subject, token = dep.iam.minter.mint(
        TokenType.USER,
        sub="alice",
        client_id="hotel-web",
        audience=dep.resource("booking"),
        scopes=frozenset({"booking:read"}),
        extra={"may_act": {"sub": "staff-assistant"}},
    )
    dep.iam.revocations.record_issued(token)
    error = await _refused(
        token_flows.exchange_token(dep, subject, "booking-assistant", "booking:read", None)
    )
    assert error.error == "invalid_grant" and "may_act" in error.description


async def test_a_subject_token_of_an_agent_alone_cannot_be_exchanged(dep: Deployment) -> None:
    """An agent token names no human: it is no subject to act for."""
    agent = await token_flows.agent_token(dep, "booking-assistant", "availability:read", None)
    error = await _refused(
        token_flows.exchange_token(dep, agent["access_token"], "booking-assistant", None, None)
    )
    assert error.error == "invalid_grant"


async def test_refusals_are_audited_with_their_reason(dep: Deployment) -> None:
    """Every refused token request becomes an audit entry with outcome denied."""
    await _refused(token_flows.agent_token(dep, "booking-assistant", "payment:charge", None))
    await _refused(token_flows.app_token(dep, "auditor", "scim:admin", None))
    refused = audit(dep, "token.refused")
    assert len(refused) == 2
    assert [(e.outcome, e.reason.split(":")[0]) for e in refused] == [
        ("denied", "invalid_scope")
    ] * 2
