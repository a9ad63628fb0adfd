"""The guard, one rule at a time: each refusal on the wire and in the audit log, and its twin.

Every negative test asserts the status, the ``WWW-Authenticate`` challenge (RFC 6750 §3,
RFC 9449 §7.1) and the exact audit reason, so that it fails if its rule is taken out of
:mod:`hotel.guard` (the next check down would answer differently, or not at all). Every
refusal has a positive twin: the same call done right succeeds and is audited ``allowed``.
Tokens the token endpoint would never issue are minted with the issuer's real key, so that
the rule under test is the only thing in their way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from agent_iam import token_flows
from agents.dpop import DPoPKey
from agents.oauth import OAuthClientError, decode_unverified
from hotel.stores.seed import ALICE_BOOKING_ID, BOB_BOOKING_ID
from iam_core.clock import ManualClock
from iam_core.seed import DEMO_PASSWORDS
from iam_core.tokens import Token, TokenType
from scenarios.deployment import Deployment
from tests.hotel.helpers import (
    BA,
    SA,
    alice_obo,
    assert_allowed,
    assert_clean_challenge,
    assert_refused,
    bearer,
    iam_of,
    mint,
    staff_obo,
    url,
    world,
)
from tests.iam_core.helpers import open_task

pytestmark = pytest.mark.anyio

ALICE_CHARGE = {
    "booking_id": ALICE_BOOKING_ID,
    "amount_cents": 48_000,
    "payment_method_id": "pm-alice-1",
}
LEEWAY = 30


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def resign(dep: Deployment, token: str, **changes: Any) -> str:
    """``token``'s claims with ``changes`` and a fresh jti, signed by the issuer's real key."""
    claims = {**decode_unverified(token), **changes, "jti": secrets.token_urlsafe(16)}
    iam = iam_of(dep)
    raw = iam.keys.sign(claims, typ="at+jwt")
    iam.revocations.record_issued(Token(claims, TokenType.OBO))
    return raw


# -- no token, audience, time ----------------------------------------------------------


async def test_a_request_without_a_token_gets_a_bare_bearer_challenge(dep: Deployment) -> None:
    """RFC 6750 §3.1: no credentials, so the challenge names the realm and no error code."""
    target = url(dep, "booking", "/bookings")
    response = await dep.http.get(target)
    assert response.headers["www-authenticate"] == 'Bearer realm="hotel"'
    entry = assert_refused(
        dep, response, status=401, error=None, reason="no access token", service="booking"
    )
    assert entry.token_type is None and entry.jti is None and entry.actor_kind == "anonymous"

    token = await alice_obo(dep, "booking:read", "booking")
    twin = await dep.http.get(target, headers=bearer(token))
    assert_allowed(dep, twin, service="booking", sub="alice", act=(BA,))


async def test_a_token_for_availability_is_refused_at_payment(dep: Deployment) -> None:
    """RFC 8707: an availability token is worthless at payment; the audit names both audiences."""
    token = await alice_obo(dep, "availability:read", "availability")
    response = await dep.http.post(
        url(dep, "payment", "/payments"), json=ALICE_CHARGE, headers=bearer(token)
    )
    expected, presented = dep.resource("payment"), dep.resource("availability")
    entry = assert_refused(
        dep,
        response,
        status=401,
        error="invalid_token",
        reason=f"audience mismatch: expected {expected}, presented {presented}",
        service="payment",
        sub="alice",
        act=(BA,),
    )
    assert entry.details == {"expected_audience": expected, "presented_audience": presented}
    assert world(dep).payments_of(ALICE_BOOKING_ID) == []

    twin = await dep.http.get(url(dep, "availability", "/hotels"), headers=bearer(token))
    assert_allowed(dep, twin, service="availability", sub="alice", act=(BA,))


async def test_an_expired_token_the_guard_never_saw_is_refused(
    clocked: tuple[Deployment, ManualClock],
) -> None:
    """exp + leeway has passed: the signature check path refuses it (RFC 9068 §4 item 8)."""
    dep, clock = clocked
    target = url(dep, "availability", "/hotels")
    early = await alice_obo(dep, "availability:read", "availability")
    late = await alice_obo(dep, "availability:read", "availability")
    exp = decode_unverified(late)["exp"]

    clock.advance(exp + LEEWAY - 1 - clock.now())  # still inside the leeway: the twin
    twin = await dep.http.get(target, headers=bearer(early))
    assert_allowed(dep, twin, service="availability", sub="alice", act=(BA,))

    clock.advance(2)
    response = await dep.http.get(target, headers=bearer(late))
    assert_refused(
        dep,
        response,
        status=401,
        error="invalid_token",
        reason="invalid token: token expired",
        description="token expired",
        service="availability",
    )


async def test_an_expired_token_is_refused_even_from_the_verified_token_cache(
    clocked: tuple[Deployment, ManualClock],
) -> None:
    """The cache skips the signature, never the expiry: a warm token is refused once expired."""
    dep, clock = clocked
    target = url(dep, "availability", "/hotels")
    token = await alice_obo(dep, "availability:read", "availability")
    twin = await dep.http.get(target, headers=bearer(token))
    assert_allowed(dep, twin, service="availability", sub="alice", act=(BA,))

    clock.advance(decode_unverified(token)["exp"] + LEEWAY + 1 - clock.now())
    response = await dep.http.get(target, headers=bearer(token))
    assert_refused(
        dep,
        response,
        status=401,
        error="invalid_token",
        reason="token expired",
        service="availability",
        sub="alice",
        act=(BA,),
    )


async def test_a_token_not_yet_valid_is_refused(dep: Deployment) -> None:
    """nbf an hour ahead, well past the leeway: refused though the signature is genuine."""
    base = await alice_obo(dep, "availability:read", "availability")
    now = int(iam_of(dep).clock.now())
    target = url(dep, "availability", "/hotels")
    response = await dep.http.get(target, headers=bearer(resign(dep, base, nbf=now + 3600)))
    assert_refused(
        dep,
        response,
        status=401,
        error="invalid_token",
        reason="invalid token: token not yet valid (nbf)",
        description="token not yet valid (nbf)",
        service="availability",
    )

    twin = await dep.http.get(target, headers=bearer(resign(dep, base, nbf=now)))
    assert_allowed(dep, twin, service="availability", sub="alice", act=(BA,))


# -- revocation ------------------------------------------------------------------------


ALICE_BOOKING = f"/bookings/{ALICE_BOOKING_ID}"


async def twin_before_revocation(dep: Deployment) -> str:
    """alice's token reads her booking (and is cached by the guard) before it is revoked."""
    token = await alice_obo(dep, "booking:read", "booking")
    twin = await dep.http.get(url(dep, "booking", ALICE_BOOKING), headers=bearer(token))
    assert_allowed(dep, twin, service="booking", sub="alice", act=(BA,), object_id=ALICE_BOOKING_ID)
    return token


async def assert_revoked(dep: Deployment, token: str, cause_event: str, cause: str) -> None:
    """The same call now: 401 citing the cause, audited after the event that revoked it."""
    response = await dep.http.get(url(dep, "booking", ALICE_BOOKING), headers=bearer(token))
    denial = assert_refused(
        dep,
        response,
        status=401,
        error="invalid_token",
        reason=f"token revoked: {cause}",
        service="booking",
        sub="alice",
        act=(BA,),
    )
    events = iam_of(dep).audit.query(event=cause_event)
    assert events and events[-1].seq < denial.seq  # the revocation before the denial
    assert denial.jti == decode_unverified(token)["jti"]


async def test_a_token_revoked_at_the_revocation_endpoint_is_refused(dep: Deployment) -> None:
    """RFC 7009 revocation reaches the guard before the revoking call returns."""
    token = await twin_before_revocation(dep)
    await dep.oauth.revoke(token, as_agent=dep.agent(BA))
    await assert_revoked(dep, token, "token.revoked", f"revoked by {BA}")


async def test_a_token_of_a_blocked_agent_is_refused(dep: Deployment) -> None:
    """Blocking booking-assistant kills the OBO token that names it in act."""
    token = await twin_before_revocation(dep)
    iam_of(dep).block_agent(BA, by="dave")
    await assert_revoked(dep, token, "agent.blocked", "agent blocked")


async def test_a_token_of_a_disabled_user_is_refused(dep: Deployment) -> None:
    """Disabling alice kills every token with her as sub."""
    token = await twin_before_revocation(dep)
    iam_of(dep).set_user_active("alice", False, by="dave")
    await assert_revoked(dep, token, "user.disabled", "user disabled")


async def test_a_token_backed_by_withdrawn_consent_is_refused(dep: Deployment) -> None:
    """alice withdraws consent for booking-assistant on her account page."""
    token = await twin_before_revocation(dep)
    await dep.oauth.withdraw_consent(user="alice", password=DEMO_PASSWORDS["alice"], actor=BA)
    await assert_revoked(dep, token, "consent.withdrawn", "consent withdrawn")


# -- scope, token type, delegation, roles ----------------------------------------------


async def test_a_token_without_the_route_scope_is_refused_with_the_scope_named(
    dep: Deployment,
) -> None:
    """RFC 6750 §3.1: insufficient_scope names the scope the route needs."""
    target = url(dep, "booking", "/bookings")
    token = await alice_obo(dep, "booking:cancel", "booking")
    response = await dep.http.get(target, headers=bearer(token))
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason="missing scope booking:read",
        scope="booking:read",
        service="booking",
        sub="alice",
        act=(BA,),
    )

    twin = await dep.http.get(
        target, headers=bearer(await alice_obo(dep, "booking:read", "booking"))
    )
    assert_allowed(dep, twin, service="booking", sub="alice", act=(BA,))


async def test_an_agent_token_is_refused_where_a_human_subject_is_needed(dep: Deployment) -> None:
    """Even carrying booking:read, an agent acting alone may not read bookings."""
    with pytest.raises(OAuthClientError) as refused:
        await token_flows.agent_token(dep, BA, "booking:read", "booking")
    assert refused.value.error == "invalid_scope"  # the IAM would never issue it...

    agent = mint(dep, TokenType.AGENT, sub=BA, service="booking", scopes="booking:read")
    target = url(dep, "booking", "/bookings")
    response = await dep.http.get(target, headers=bearer(agent))
    entry = assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason="needs a human subject (OBO or user token), got a agent token",
        scope="booking:read",
        service="booking",
        sub=BA,
    )
    assert entry.token_type == "agent" and entry.actor_kind == "agent"

    twin = await dep.http.get(
        target, headers=bearer(await alice_obo(dep, "booking:read", "booking"))
    )
    assert_allowed(dep, twin, service="booking", sub="alice", act=(BA,))


async def test_the_booking_backends_app_token_cannot_read_guest_data(dep: Deployment) -> None:
    """docs/attacks.md #18: an App token has no user context, whatever scope it carries."""
    with pytest.raises(OAuthClientError):
        await token_flows.app_token(dep, "booking-backend", "booking:read", "booking")

    app = mint(dep, TokenType.APP, sub="booking-backend", service="booking", scopes="booking:read")
    target = url(dep, "booking", f"/bookings/{BOB_BOOKING_ID}")
    response = await dep.http.get(target, headers=bearer(app))
    entry = assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason="needs a human subject (OBO or user token), got a app token",
        scope="booking:read",
        service="booking",
        sub="booking-backend",
    )
    assert entry.token_type == "app" and entry.client_id == "booking-backend"
    assert "guest" not in response.text

    bob = await token_flows.user_token(dep, "bob", "hotel-web", "booking:read", "booking")
    twin = await dep.http.get(target, headers=bearer(bob))
    assert_allowed(dep, twin, service="booking", sub="bob", object_id=BOB_BOOKING_ID)


HOLD = {
    "hotel_id": "grand-meridian",
    "room_type": "single",
    "check_in": "2027-01-04",
    "check_out": "2027-01-05",
    "holder": "alice",
}


async def test_an_agent_token_cannot_place_a_hold(dep: Deployment) -> None:
    """Holds are for the booking backend's App token only, never an agent's."""
    target = url(dep, "availability", "/holds")
    agent = mint(dep, TokenType.AGENT, sub=BA, service="availability", scopes="availability:hold")
    response = await dep.http.post(target, json=HOLD, headers=bearer(agent))
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason="App token only, got a agent token",
        scope="availability:hold",
        service="availability",
        sub=BA,
    )
    assert world(dep).active_holds() == []

    backend = await token_flows.app_token(
        dep, "booking-backend", "availability:hold", "availability"
    )
    twin = await dep.http.post(target, json=HOLD, headers=bearer(backend))
    assert twin.status_code == 201
    assert_allowed(dep, twin, service="availability", sub="booking-backend")


async def test_an_app_token_of_another_client_cannot_place_a_hold(dep: Deployment) -> None:
    """Only the booking backend holds rooms: another client's App token is refused."""
    target = url(dep, "availability", "/holds")
    other = mint(
        dep, TokenType.APP, sub="auditor", service="availability", scopes="availability:hold"
    )
    response = await dep.http.post(target, json=HOLD, headers=bearer(other))
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason="client auditor may not call this route",
        scope="availability:hold",
        service="availability",
        sub="auditor",
    )
    assert world(dep).active_holds() == []


def chain(*actors: str) -> dict[str, Any]:
    """A nested RFC 8693 act claim, current actor first."""
    act: dict[str, Any] = {"sub": actors[-1]}
    for actor in reversed(actors[:-1]):
        act = {"sub": actor, "act": act}
    return act


async def test_a_delegation_chain_deeper_than_the_policy_allows_is_refused(
    dep: Deployment,
) -> None:
    """Four actors when the policy allows three: refused; three is still fine."""
    target = url(dep, "booking", "/bookings")
    deep = (SA, BA, SA, BA)

    def obo(actors: tuple[str, ...]) -> str:
        return mint(
            dep,
            TokenType.OBO,
            sub="alice",
            client_id="hotel-web",
            service="booking",
            scopes="booking:read",
            act=chain(*actors),
            extra={"roles": ["guest"]},
        )

    response = await dep.http.get(target, headers=bearer(obo(deep)))
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason="delegation chain deeper than 3",
        scope="booking:read",
        service="booking",
        sub="alice",
        act=deep,
    )

    twin = await dep.http.get(target, headers=bearer(obo(deep[:3])))
    assert_allowed(dep, twin, service="booking", sub="alice", act=deep[:3])


async def test_an_agent_outside_a_routes_allowed_agents_is_refused(dep: Deployment) -> None:
    """docs/attacks.md #7: staff routes take staff-assistant only; booking-assistant is refused.

    The token is carol's, with her role and the scope: only the agent allow-list is in the way.
    """
    target = url(dep, "concierge", "/staff")
    wrong_agent = mint(
        dep,
        TokenType.OBO,
        sub="carol",
        client_id="staff-console",
        service="concierge",
        scopes="concierge:read",
        act={"sub": BA},
        extra={"roles": ["front-desk"]},
    )
    response = await dep.http.get(target, headers=bearer(wrong_agent))
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason=f"agent {BA} may not act on this route",
        scope="concierge:read",
        service="concierge",
        sub="carol",
        act=(BA,),
    )

    twin = await dep.http.get(
        target, headers=bearer(await staff_obo(dep, "carol", "concierge:read", "concierge"))
    )
    assert_allowed(dep, twin, service="concierge", sub="carol", act=(SA,))


# -- objects, roles, grants ------------------------------------------------------------


async def test_alice_cannot_read_or_cancel_bobs_booking(dep: Deployment) -> None:
    """docs/attacks.md #12: object owner = sub; the id is audited, bob's booking stays as it was."""
    token = await alice_obo(dep, "booking:read booking:cancel", "booking")
    target = url(dep, "booking", f"/bookings/{BOB_BOOKING_ID}")
    reason = f"owner mismatch: {BOB_BOOKING_ID} belongs to another user"
    for method in ("GET", "DELETE"):
        response = await dep.http.request(method, target, headers=bearer(token))
        assert_refused(
            dep,
            response,
            status=403,
            error="insufficient_scope",
            reason=reason,
            service="booking",
            sub="alice",
            act=(BA,),
            object_id=BOB_BOOKING_ID,
        )
        assert "Bob" not in response.text
    assert world(dep).booking(BOB_BOOKING_ID).status == "confirmed"

    own = url(dep, "booking", f"/bookings/{ALICE_BOOKING_ID}")
    for method in ("GET", "DELETE"):
        twin = await dep.http.request(method, own, headers=bearer(token))
        assert_allowed(
            dep,
            twin,
            service="booking",
            sub="alice",
            act=(BA,),
            reason="owner",
            object_id=ALICE_BOOKING_ID,
        )
    assert world(dep).booking(ALICE_BOOKING_ID).status == "cancelled"


async def test_a_front_desk_user_cannot_override_a_rate_through_the_staff_agent(
    dep: Deployment,
) -> None:
    """docs/attacks.md #22: the role travels in the OBO token; front-desk is not manager."""
    target = url(dep, "booking", f"/bookings/{BOB_BOOKING_ID}/rate")
    before = world(dep).booking(BOB_BOOKING_ID).nightly_rate_cents
    carol = await staff_obo(dep, "carol", "booking:read booking:modify", "booking")
    response = await dep.http.patch(
        target, json={"nightly_rate_cents": 5_000}, headers=bearer(carol)
    )
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason=f"role insufficient: needs one of manager (user carol, agent {SA})",
        scope="booking:rate-override",
        service="booking",
        sub="carol",
        act=(SA,),
    )
    assert world(dep).booking(BOB_BOOKING_ID).nightly_rate_cents == before

    # dave is a manager: past the role check, his agent is asked for his approval (issue 15;
    # tests/hotel/test_approval_actions.py approves it).
    dave = await staff_obo(dep, "dave", "booking:rate-override", "booking")
    twin = await dep.http.patch(target, json={"nightly_rate_cents": 5_000}, headers=bearer(dave))
    assert twin.status_code == 403 and twin.json()["error"] == "approval_required"


def payment_grant(cap: int) -> list[dict[str, Any]]:
    return [{"type": "payment", "max_amount_cents": cap, "booking_id": ALICE_BOOKING_ID}]


async def test_a_charge_above_the_granted_amount_is_refused(dep: Deployment) -> None:
    """docs/attacks.md #11: the RAR payment grant caps the amount; both amounts audited."""
    target = url(dep, "payment", "/payments")
    small = await alice_obo(dep, "payment:charge", "payment", payment_grant(10_000))
    response = await dep.http.post(target, json=ALICE_CHARGE, headers=bearer(small))
    entry = assert_refused(
        dep,
        response,
        status=403,
        error="approval_required",  # the agent may ask alice to approve exactly this
        reason="amount above grant: 48000 > 10000",
        description="approval required: amount above grant: 48000 > 10000",
        service="payment",
        sub="alice",
        act=(BA,),
        object_id=ALICE_BOOKING_ID,
    )
    assert entry.details == {
        "authorised_cents": 10_000,
        "attempted_cents": 48_000,
        "challenge": "approval_required",  # the person is asked: judging tells it apart
    }
    assert world(dep).payments_of(ALICE_BOOKING_ID) == []

    # Within the grant and under the approval threshold (€400): paid without asking.
    enough = await alice_obo(dep, "payment:charge", "payment", payment_grant(50_000))
    below = ALICE_CHARGE | {"amount_cents": 39_000}
    twin = await dep.http.post(target, json=below, headers=bearer(enough))
    assert twin.status_code == 201
    assert_allowed(
        dep,
        twin,
        service="payment",
        sub="alice",
        act=(BA,),
        reason="charge within the grant",
        object_id=ALICE_BOOKING_ID,
    )
    assert [p.amount_cents for p in world(dep).payments_of(ALICE_BOOKING_ID)] == [39_000]


# -- DPoP ------------------------------------------------------------------------------


async def bound_agent_token(dep: Deployment, key: DPoPKey) -> str:
    response = await dep.oauth.agent_token(
        dep.agent(BA),
        scope="availability:read",
        resource=dep.resource("availability"),
        dpop=key,
        task=await open_task(dep, BA),
    )
    assert response["token_type"] == "DPoP"
    return str(response["access_token"])


async def test_a_dpop_bound_token_without_a_valid_proof_is_refused(dep: Deployment) -> None:
    """RFC 9449 §7.1: a bound token needs the DPoP scheme and a proof by the bound key."""
    key = DPoPKey()
    token = await bound_agent_token(dep, key)
    target = url(dep, "availability", "/hotels")
    thief = DPoPKey()
    thief.nonces = dict(key.nonces)  # nonces are public: the key is what is missing
    attempts = (
        ({"Authorization": f"DPoP {token}"}, "exactly one DPoP proof is required", "DPoP"),
        (bearer(token), "a DPoP-bound token must be sent with the DPoP scheme", "Bearer"),
        (
            {"Authorization": f"DPoP {token}", "DPoP": thief.proof("GET", target, token)},
            "DPoP key thumbprint does not match the token's cnf.jkt",
            "DPoP",
        ),
    )
    for headers, reason, scheme in attempts:
        response = await dep.http.get(target, headers=headers)
        entry = assert_refused(
            dep,
            response,
            status=401,
            error="invalid_token",
            reason=reason,
            service="availability",
            sub=BA,
            scheme=scheme,
        )
        assert entry.token_type == "agent"

    proof = key.proof("GET", target, token)
    twin = await dep.http.get(target, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert_allowed(dep, twin, service="availability", sub=BA)


async def test_a_replayed_dpop_proof_is_refused(dep: Deployment) -> None:
    """docs/attacks.md #3: the proof's jti is single-use; the first use is the twin."""
    key = DPoPKey()
    token = await bound_agent_token(dep, key)
    target = url(dep, "availability", "/hotels")
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", target, token)}
    first = await dep.http.get(target, headers=headers)
    assert_allowed(dep, first, service="availability", sub=BA)

    replay = await dep.http.get(target, headers=headers)
    assert_refused(
        dep,
        replay,
        status=401,
        error="invalid_token",
        reason="DPoP proof was used before (jti replay)",
        service="availability",
        sub=BA,
        scheme="DPoP",
    )


# -- forged tokens (docs/attacks.md #9) -----------------------------------------------------


async def forged_refused(dep: Deployment, forged: str, problem: str) -> None:
    response = await dep.http.get(url(dep, "availability", "/hotels"), headers=bearer(forged))
    entry = assert_refused(
        dep,
        response,
        status=401,
        error="invalid_token",
        reason=f"invalid token: {problem}",
        description=problem,
        service="availability",
    )
    assert entry.jti is None and entry.token_type is None  # nothing of it was trusted


async def genuine(dep: Deployment) -> tuple[str, str, str]:
    """A real token's three segments, after the twin call shows it works."""
    token = await alice_obo(dep, "availability:read", "availability")
    twin = await dep.http.get(url(dep, "availability", "/hotels"), headers=bearer(token))
    assert_allowed(dep, twin, service="availability", sub="alice", act=(BA,))
    header, payload, signature = token.split(".")
    return header, payload, signature


async def test_a_token_with_a_tampered_payload_or_signature_is_refused(dep: Deployment) -> None:
    """A widened scope breaks the signature; so does one flipped bit of the signature."""
    header, payload, signature = await genuine(dep)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "availability:read availability:hold"
    await forged_refused(dep, f"{header}.{segment(claims)}.{signature}", "signature invalid")

    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[-1] ^= 0x01
    await forged_refused(dep, f"{header}.{payload}.{b64(bytes(raw))}", "signature invalid")


async def test_a_token_with_alg_none_is_refused(dep: Deployment) -> None:
    """RFC 8725 §3.1: alg none is never accepted, with or without a signature segment."""
    header, payload, _ = await genuine(dep)
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    none = segment({"alg": "none", "typ": "at+jwt", "kid": kid})
    await forged_refused(dep, f"{none}.{payload}.AAAA", "alg 'none' is not accepted")
    await forged_refused(dep, f"{none}.{payload}.", "not a compact JWS (three base64url segments)")


async def test_a_token_whose_alg_is_not_its_keys_is_refused(dep: Deployment) -> None:
    """Algorithm confusion: HS256 keyed with the JWKS public key's PEM, RS256 on an EC kid."""
    _, payload, _ = await genuine(dep)
    jwk = (await dep.http.get("/jwks.json")).json()["keys"][0]
    public = jwt.PyJWK.from_dict(jwk).key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = segment({"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]})
    mac = hmac.new(pem, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    await forged_refused(dep, f"{head}.{payload}.{b64(mac)}", "alg 'HS256' is not accepted")

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    rsa_signed = jwt.encode(
        claims,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": jwk["kid"], "typ": "at+jwt"},
    )
    await forged_refused(dep, rsa_signed, "alg 'RS256' does not match the key's")


async def test_a_token_signed_by_an_unknown_key_is_refused(dep: Deployment) -> None:
    """A well-formed ES256 token whose kid is in no JWKS the issuer publishes."""
    _, payload, _ = await genuine(dep)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = jwt.encode(
        claims,
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "kid-of-an-attacker", "typ": "at+jwt"},
    )
    await forged_refused(dep, forged, "unknown kid 'kid-of-an-attacker'")


@pytest.mark.parametrize("kid", ["kid-\u0101", "kid-\u00e9"])
async def test_text_from_a_forged_token_header_never_breaks_the_challenge(
    dep: Deployment, kid: str
) -> None:
    """An anonymous caller controls the kid: the 401 stays a clean RFC 6750 challenge."""
    head = segment({"alg": "ES256", "typ": "at+jwt", "kid": kid})
    forged = f"{head}.{segment({'sub': 'x'})}.AAAA"
    response = await dep.http.get(url(dep, "availability", "/hotels"), headers=bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert_clean_challenge(response)


async def test_a_token_from_another_issuer_or_of_another_type_is_refused(
    dep: Deployment,
) -> None:
    """iss must be the issuer, typ must be at+jwt (RFC 9068 §4), even when signed by its key."""
    token = await alice_obo(dep, "availability:read", "availability")
    await forged_refused(dep, resign(dep, token, iss="https://evil.example"), "issuer mismatch")
    claims = {**decode_unverified(token), "jti": secrets.token_urlsafe(16)}
    await forged_refused(dep, iam_of(dep).keys.sign(claims, typ="JWT"), "typ must be at+jwt")

    twin = await dep.http.get(
        url(dep, "availability", "/hotels"), headers=bearer(resign(dep, token))
    )
    assert_allowed(dep, twin, service="availability", sub="alice", act=(BA,))
