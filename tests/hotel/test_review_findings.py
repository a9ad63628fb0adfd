"""Rules added after a security review: each test fails if its rule is removed."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from agent_iam import token_flows
from agents.dpop import DPoPKey
from agents.oauth import OAuthClientError
from hotel.stores.seed import ALICE_BOOKING_ID
from iam_core.clock import ManualClock
from iam_core.seed import REDIRECT_URIS
from scenarios.deployment import Deployment
from tests.hotel.helpers import BA, alice_obo, bearer, iam_of, url, world
from tests.iam_core.helpers import consented_code, open_task, sign_in

pytestmark = pytest.mark.anyio
WEB = REDIRECT_URIS["hotel-web"]


async def bound_obo(dep: Deployment, key: DPoPKey) -> str:
    code, verifier = await consented_code(dep, "booking:read concierge:request", actor=BA)
    response = await dep.oauth.redeem_code(
        dep.app("hotel-web"),
        code,
        verifier,
        redirect_uri=WEB,
        actor_token=await token_flows.actor_token(dep, BA),
        resource=dep.resource("booking"),
        dpop=key,
        task=await open_task(dep, BA),
    )
    return str(response["access_token"])


async def test_an_exchange_cannot_launder_a_bound_token_into_a_bearer_token(
    dep: Deployment,
) -> None:
    """RFC 9449: exchanging a DPoP-bound subject token needs a proof by its key."""
    key = DPoPKey()
    subject = await bound_obo(dep, key)
    for agent in (BA, "staff-assistant"):
        with pytest.raises(OAuthClientError) as info:
            await dep.oauth.exchange(
                dep.agent(agent),
                subject_token=subject,
                actor_token=await token_flows.actor_token(dep, agent),
            )
        assert info.value.error == "invalid_grant" and "DPoP-bound" in info.value.description
    with pytest.raises(OAuthClientError):
        await dep.oauth.exchange(
            dep.agent(BA),
            subject_token=subject,
            actor_token=await token_flows.actor_token(dep, BA),
            dpop=DPoPKey(),
        )
    same = await dep.oauth.exchange(
        dep.agent(BA),
        subject_token=subject,
        actor_token=await token_flows.actor_token(dep, BA),
        scope="concierge:request",
        dpop=key,
    )
    claims = jwt.decode(same["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.jkt} and same["token_type"] == "DPoP"


@pytest.mark.parametrize("jwk", [{"kty": "oct"}, {"kty": "EC", "alg": [1]}, {"kty": "RSA"}])
async def test_a_malformed_dpop_jwk_is_a_clean_refusal(dep: Deployment, jwk: Any) -> None:
    """A proof header with a broken key is invalid_dpop_proof, never a 500."""
    head = jwt.utils.base64url_encode(
        json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).encode()
    ).decode()
    body = jwt.utils.base64url_encode(json.dumps({"jti": "x"}).encode()).decode()
    response = await dep.http.post(
        "/token", headers={"DPoP": f"{head}.{body}.AAAA"}, data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_dpop_proof"


async def test_a_dpop_proof_with_a_nan_iat_is_refused(dep: Deployment) -> None:
    """NaN compares false with everything: it must not slip past freshness and replay."""
    key = DPoPKey()
    proof = key.proof("POST", dep.oauth.token_endpoint)
    head, body, _ = proof.split(".")
    claims = json.loads(jwt.utils.base64url_decode(body))
    claims["iat"] = float("nan")
    forged = jwt.encode(
        claims,
        key._private,
        algorithm="ES256",
        headers=json.loads(jwt.utils.base64url_decode(head)),
    )
    response = await dep.http.post(
        "/token", headers={"DPoP": forged}, data={"grant_type": "client_credentials"}
    )
    # Refused by the bounded JSON parser (NaN is not JSON) before freshness is even checked.
    description = response.json()["error_description"]
    assert response.status_code == 400 and ("fresh" in description or "NaN" in description)


@pytest.mark.parametrize(
    "recipient",
    [
        "thief@evil.example, desk@hotel.example",
        '"thief@evil.example"@hotel.example',
        "thief@evil.example@hotel.example",
        "thief%evil.example@hotel.example",
    ],
)
async def test_only_one_plain_hotel_address_is_a_valid_recipient(
    dep: Deployment, recipient: str
) -> None:
    """Lists, quoting and source routes that end in @hotel.example are still external."""
    token = await alice_obo(dep, "concierge:request", "concierge")
    response = await dep.http.post(
        url(dep, "concierge", "/requests"),
        headers=bearer(token),
        json={"text": "hello", "recipient": recipient},
    )
    assert response.status_code == 403
    ok = await dep.http.post(
        url(dep, "concierge", "/requests"),
        headers=bearer(token),
        json={"text": "hello", "recipient": "desk@hotel.example"},
    )
    assert ok.status_code == 201


async def test_revocation_reaches_a_token_inside_the_expiry_leeway(
    clocked: tuple[Deployment, ManualClock],
) -> None:
    """Verifiers accept until exp + leeway; blocking an agent must revoke such tokens too."""
    dep, clock = clocked
    token = await alice_obo(dep, "booking:read", "booking")
    target = url(dep, "booking", f"/bookings/{ALICE_BOOKING_ID}")
    clock.advance(300 + 5)  # just past exp, inside the 30 s leeway
    assert (await dep.http.get(target, headers=bearer(token))).status_code == 200
    iam_of(dep).block_agent(BA, by="dave")
    assert (await dep.http.get(target, headers=bearer(token))).status_code == 401


async def test_introspection_refuses_a_bare_public_client_id(dep: Deployment) -> None:
    """RFC 7662 §2.1: introspection callers authenticate; client_id=hotel-web is not that."""
    token = await alice_obo(dep, "booking:read", "booking")
    response = await dep.http.post("/introspect", data={"token": token, "client_id": "hotel-web"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_a_wrong_verifier_does_not_burn_the_code(dep: Deployment) -> None:
    """A failed redemption (wrong PKCE verifier) leaves the code for its rightful client."""
    code, verifier = await consented_code(dep, "booking:read")
    with pytest.raises(OAuthClientError):
        await dep.oauth.redeem_code(dep.app("hotel-web"), code, "w" * 50, redirect_uri=WEB)
    ok = await dep.oauth.redeem_code(dep.app("hotel-web"), code, verifier, redirect_uri=WEB)
    assert ok["token_type"] == "Bearer"


async def test_a_booking_grant_books_once(dep: Deployment) -> None:
    """A hijacked agent cannot book the same granted stay again and again."""
    grant = {
        "type": "hotel_booking",
        "hotel_id": "grand-meridian",
        "check_in": "2026-12-10",
        "check_out": "2026-12-12",
    }
    token = await alice_obo(dep, "booking:create", "booking", [grant])
    body = {
        "hotel_id": "grand-meridian",
        "room_type": "double",
        "check_in": "2026-12-10",
        "check_out": "2026-12-12",
    }
    first = await dep.http.post(url(dep, "booking", "/bookings"), json=body, headers=bearer(token))
    assert first.status_code == 201
    again = await dep.http.post(url(dep, "booking", "/bookings"), json=body, headers=bearer(token))
    assert again.status_code == 403 and "used already" in again.json()["error_description"]
    assert len(world(dep).bookings_of("alice")) == 2  # the seeded one and the first


async def test_an_agents_payment_grant_must_name_the_booking(dep: Deployment) -> None:
    """Without booking_id one cap could be spent again on every booking of the guest."""
    token = await alice_obo(
        dep, "payment:charge", "payment", [{"type": "payment", "max_amount_cents": 10_000}]
    )
    response = await dep.http.post(
        url(dep, "payment", "/payments"),
        headers=bearer(token),
        json={
            "booking_id": ALICE_BOOKING_ID,
            "amount_cents": 100,
            "payment_method_id": "pm-alice-1",
        },
    )
    assert (
        response.status_code == 403 and "name the booking" in response.json()["error_description"]
    )


async def test_a_failed_login_never_records_what_was_typed_as_the_user_id(
    dep: Deployment,
) -> None:
    """A password typed into the user field stays out of the audit log."""
    failed = await sign_in(dep.http, "hunter2-secret", "x")
    assert failed.status_code == 401
    assert dep.iam is not None
    entries = dep.iam.audit.query(event="login.failed")
    assert entries and entries[-1].sub is None
    assert "hunter2-secret" not in json.dumps([e.to_dict() for e in dep.iam.audit.query()])


async def test_a_signing_key_the_issuer_dropped_is_dropped_by_the_services(
    clocked: tuple[Deployment, ManualClock],
) -> None:
    """After rotation and the retention window, a token signed with the old key is refused."""
    dep, clock = clocked
    iam = iam_of(dep)
    target = url(dep, "availability", "/hotels")
    warm = await alice_obo(dep, "availability:read", "availability")
    assert (await dep.http.get(target, headers=bearer(warm))).status_code == 200
    old = iam.keys._current()  # the attacker later holds this retired key
    iam.keys.rotate()
    clock.advance(iam.config.lifetimes.longest + iam.config.leeway + 400)
    now = int(clock.now())
    claims = {
        "iss": iam.issuer,
        "sub": "alice",
        "aud": dep.resource("availability"),
        "client_id": "hotel-web",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": f"forged-{time.perf_counter_ns()}",
        "scope": "availability:read",
        "aut": "APPLICATION_USER",
        "act": {"sub": BA},
    }
    forged = jwt.encode(
        claims, old.private, algorithm=old.alg, headers={"kid": old.kid, "typ": "at+jwt"}
    )
    response = await dep.http.get(target, headers=bearer(forged))
    assert response.status_code == 401 and "unknown kid" in response.json()["error_description"]


async def test_the_current_actor_of_a_chain_cannot_widen_it_by_its_own_consent(
    dep: Deployment,
) -> None:
    """alice consented booking:read to staff-assistant directly; the chain SA←BA still
    narrows: SA may not lift it to booking:read at another audience."""
    await token_flows.obo_token(
        dep, "alice", "staff-assistant", "hotel-web", "booking:read concierge:request", "booking"
    )
    first = await alice_obo(dep, "concierge:request", "concierge")
    hop = await token_flows.exchange_token(dep, first, "staff-assistant", None, None)
    with pytest.raises(OAuthClientError) as info:
        await token_flows.exchange_token(
            dep, hop["access_token"], "staff-assistant", "booking:read", "booking"
        )
    assert info.value.error == "invalid_scope"


async def test_a_service_that_cannot_reach_the_jwks_refuses_without_a_5xx(tmp_path: Any) -> None:
    """Fail closed: an unreachable issuer means 401 'signing keys unavailable', audited."""
    import httpx

    from agent_iam.serve import standalone_service
    from iam_core.store import Store

    app = standalone_service(
        "availability",
        issuer="http://127.0.0.1:9",
        base_url=None,
        world_db=tmp_path / "hotel.db",
        baseline=False,
    )
    header = jwt.utils.base64url_encode(
        json.dumps({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}).encode()
    ).decode()
    token = f"{header}.e30.AAAA"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as client:
        response = await client.get("/hotels", headers=bearer(token))
    assert response.status_code == 401
    assert "signing keys unavailable" in response.json()["error_description"]
    rows = Store(tmp_path / "hotel.db").all("SELECT body FROM audit_entries")
    assert any("signing keys unavailable" in r["body"] for r in rows)
