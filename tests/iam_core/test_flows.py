"""Every token flow end to end over in-process HTTP, as docs/design.md's token table says."""

from __future__ import annotations

import pytest

from agent_iam import token_flows
from iam_core.tokens import ACCESS_TOKEN_TYP
from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit, claims, sign_in

pytestmark = pytest.mark.anyio

OBO_SCOPE = "booking:create booking:read payment:charge concierge:request"


async def test_an_agent_token_names_the_agent_and_carries_only_autonomous_scopes(
    dep: Deployment,
) -> None:
    """client_credentials + private_key_jwt gives sub = agent, aut = AGENT, no act."""
    response = await token_flows.agent_token(dep, "booking-assistant", "availability:read", None)
    c = claims(response)
    assert c["sub"] == c["client_id"] == "booking-assistant"
    assert c["aut"] == "AGENT" and c["sub_profile"] == "ai_agent" and "act" not in c
    assert c["aud"] == dep.resource("availability") and c["scope"] == "availability:read"
    assert response["token_type"] == "Bearer" and response["expires_in"] == 300


async def test_every_token_has_the_rfc9068_claims_and_a_kid_in_the_jwks(dep: Deployment) -> None:
    """iss, sub, aud, client_id, iat, exp, jti, scope and typ at+jwt with a published kid."""
    import jwt

    response = await token_flows.app_token(dep, "booking-backend", "availability:hold", None)
    header = jwt.get_unverified_header(response["access_token"])
    jwks = (await dep.http.get("/jwks.json")).json()
    assert header["typ"] == ACCESS_TOKEN_TYP
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert {"iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope"} <= set(claims(response))


async def test_an_app_token_names_the_client(dep: Deployment) -> None:
    """client_credentials + client_secret_basic gives sub = client_id, aut = APPLICATION."""
    c = claims(await token_flows.app_token(dep, "booking-backend", "availability:hold", None))
    assert c["sub"] == c["client_id"] == "booking-backend"
    assert c["aut"] == "APPLICATION" and c["scope"] == "availability:hold"


async def test_a_user_token_comes_from_login_and_consent(dep: Deployment) -> None:
    """The authorization code flow with PKCE gives sub = user, client_id = the web app."""
    c = claims(await token_flows.user_token(dep, "alice", "hotel-web", "booking:read", None))
    assert (c["sub"], c["client_id"], c["aut"]) == ("alice", "hotel-web", "APPLICATION_USER")
    assert "act" not in c and c["roles"] == ["guest"]
    assert [e.sub for e in audit(dep, "login.succeeded")] == ["alice"]


async def test_an_obo_token_names_the_user_and_the_agent_that_acts(dep: Deployment) -> None:
    """The draft-02 flow: requested_actor at /authorize, actor_token at /token."""
    response = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", OBO_SCOPE, "booking"
    )
    c = claims(response)
    assert c["sub"] == "alice" and c["act"] == {"sub": "booking-assistant"}
    assert c["aut"] == "APPLICATION_USER" and c["client_id"] == "hotel-web"
    assert c["aud"] == dep.resource("booking")
    assert c["scope"] == "booking:create booking:read"  # only the audience's scopes
    consent = audit(dep, "consent.granted")[-1]
    assert consent.sub == "alice" and consent.act == ("booking-assistant",)


async def test_the_consent_page_names_the_client_the_agent_and_the_scopes(
    dep: Deployment,
) -> None:
    """A person sees who will act for them before approving."""
    from agents.oauth import pkce_pair
    from iam_core.seed import DEMO_PASSWORDS, REDIRECT_URIS

    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "hotel-web",
        "scope": "payment:charge",
        "redirect_uri": REDIRECT_URIS["hotel-web"],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "requested_actor": "booking-assistant",
    }
    start = await dep.http.get("/authorize", params=params)
    request_id = start.headers["location"].split("request_id=")[1]
    login = await sign_in(dep.http, "alice", DEMO_PASSWORDS["alice"], request_id)
    page = await dep.http.get(login.headers["location"])
    dep.http.cookies.clear()
    assert page.status_code == 200
    for text in (
        "Hotel web app",
        "hotel-web",
        "Booking assistant",
        "booking-assistant",
        "payment:charge",
        "An AI agent will act for you",
    ):
        assert text in page.text


async def test_a_token_exchange_moves_the_same_delegation_to_another_audience(
    dep: Deployment,
) -> None:
    """RFC 8693 with the same actor: bounded by the live consent, act unchanged."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", OBO_SCOPE, "booking"
    )
    pay = await token_flows.exchange_token(
        dep, obo["access_token"], "booking-assistant", "payment:charge", None
    )
    c = claims(pay)
    assert c["aud"] == dep.resource("payment") and c["scope"] == "payment:charge"
    assert c["act"] == {"sub": "booking-assistant"} and c["sub"] == "alice"
    assert pay["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


async def test_a_further_hop_nests_act_and_narrows(dep: Deployment) -> None:
    """A second agent's exchange nests act (RFC 8693 §4.1) with scope ⊆ the subject's."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", OBO_SCOPE, "concierge"
    )
    hop = await token_flows.exchange_token(
        dep, obo["access_token"], "staff-assistant", "concierge:request", None
    )
    c = claims(hop)
    assert c["act"] == {"sub": "staff-assistant", "act": {"sub": "booking-assistant"}}
    assert c["scope"] == "concierge:request" and c["sub"] == "alice"
    issued = audit(dep, "token.issued")[-1]
    assert issued.act == ("staff-assistant", "booking-assistant")


async def test_a_user_token_can_be_exchanged_for_an_obo_token_after_consent(
    dep: Deployment,
) -> None:
    """RFC 8693 from a user token: needs the user's consent for that agent."""
    user = await token_flows.user_token(dep, "alice", "hotel-web", "booking:read", None)
    await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", OBO_SCOPE, "booking"
    )
    obo = await token_flows.exchange_token(
        dep, user["access_token"], "booking-assistant", "booking:read", None
    )
    assert claims(obo)["act"] == {"sub": "booking-assistant"}


async def test_introspection_returns_act_and_aut_then_revocation_makes_it_inactive(
    dep: Deployment,
) -> None:
    """RFC 7662 shows the delegation; RFC 7009 revocation by the acting agent ends it."""
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", OBO_SCOPE, "booking"
    )
    auditor = dep.app("auditor")
    before = await dep.oauth.introspect(obo["access_token"], as_app=auditor)
    assert before["active"] is True and before["act"] == {"sub": "booking-assistant"}
    assert before["aut"] == "APPLICATION_USER" and before["client_id"] == "hotel-web"
    await dep.oauth.revoke(obo["access_token"], as_agent=dep.agent("booking-assistant"))
    after = await dep.oauth.introspect(obo["access_token"], as_app=auditor)
    assert after == {"active": False}
    revoked = audit(dep, "token.revoked")[-1]
    assert revoked.jti == before["jti"] and revoked.act == ("booking-assistant",)


async def test_metadata_lists_the_endpoints_and_pkce_s256(dep: Deployment) -> None:
    """RFC 8414 metadata describes what the server does."""
    meta = (await dep.http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == dep.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in meta["grant_types_supported"]
    for key in ("jwks_uri", "introspection_endpoint", "revocation_endpoint", "token_endpoint"):
        assert meta[key].startswith(dep.issuer)


async def test_no_token_string_is_ever_written_to_the_audit_log(dep: Deployment) -> None:
    """After every flow, neither token strings nor secrets appear in any audit entry."""
    issued = [
        await token_flows.agent_token(dep, "booking-assistant", "availability:read", None),
        await token_flows.app_token(dep, "booking-backend", "availability:hold", None),
        await token_flows.obo_token(
            dep, "alice", "booking-assistant", "hotel-web", OBO_SCOPE, "booking"
        ),
    ]
    assert dep.iam is not None
    rows = dep.iam.store.all("SELECT body FROM audit_entries")
    text = "\n".join(r["body"] for r in rows)
    from iam_core.seed import DEMO_PASSWORDS, DEMO_SECRETS

    for response in issued:
        token = response["access_token"]
        assert token not in text and token.split(".")[2] not in text
    for secret in (*DEMO_PASSWORDS.values(), *DEMO_SECRETS.values()):
        assert secret not in text
    assert "eyJ" not in text
