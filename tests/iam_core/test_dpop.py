"""DPoP (RFC 9449) at the token endpoint, and the proof verifier's rules one by one."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agents.dpop import DPoPKey
from iam_core.clock import ManualClock
from iam_core.dpop import DPoPProof, DPoPVerifier, ReplayCache, check_binding
from iam_core.errors import TokenError
from scenarios.deployment import Deployment
from tests.iam_core.helpers import claims, consented_code, open_task

URL = "https://hotel.example/hotel/booking/bookings"


@pytest.mark.anyio
async def test_a_proof_at_the_token_endpoint_binds_the_token_to_the_key(dep: Deployment) -> None:
    """cnf.jkt is the key's RFC 7638 thumbprint; token_type is DPoP."""
    key = DPoPKey()
    response = await dep.oauth.agent_token(
        dep.agent("booking-assistant"),
        scope="availability:read",
        dpop=key,
        task=await open_task(dep),
    )
    assert response["token_type"] == "DPoP"
    assert claims(response)["cnf"] == {"jkt": key.jkt}


@pytest.mark.anyio
async def test_a_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof(dep: Deployment) -> None:
    """A proof for another URL is refused with invalid_dpop_proof, and no token."""
    key = DPoPKey()
    proof = key.proof("POST", "https://elsewhere.example/token")
    response = await dep.http.post(
        "/token",
        headers={"DPoP": proof},
        data={"grant_type": "client_credentials", "client_id": "hotel-web"},
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_dpop_proof"


@pytest.mark.anyio
async def test_a_replayed_proof_at_the_token_endpoint_is_refused(dep: Deployment) -> None:
    """The same proof twice: the second is a replay."""
    key = DPoPKey()
    key.observe(dep.oauth.token_endpoint, await dep.http.post("/token"))  # the nonce (§8)
    proof = key.proof("POST", dep.oauth.token_endpoint)
    agent = dep.agent("booking-assistant")
    task = await open_task(dep)
    ok = await dep.http.post(
        "/token",
        headers={"DPoP": proof},
        data={
            "grant_type": "client_credentials",
            "scope": "availability:read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": dep.oauth.client_assertion(agent),
            "task_token": task,
        },
    )
    assert ok.status_code == 200, ok.text
    # The replay store is consulted only once the client is authenticated (RFC 9449 §11.1).
    replay = await dep.http.post(
        "/token",
        headers={"DPoP": proof},
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": dep.oauth.client_assertion(agent),
        },
    )
    assert replay.status_code == 400 and "replay" in replay.json()["error_description"]


@pytest.mark.anyio
async def test_obo_and_exchanged_tokens_are_bound_too(dep: Deployment) -> None:
    """The OBO token redeemed with a proof, and its exchange, carry the runtime's jkt."""
    from agent_iam.token_flows import actor_token
    from iam_core.seed import REDIRECT_URIS

    key = DPoPKey()
    web = REDIRECT_URIS["hotel-web"]
    code, verifier = await consented_code(
        dep, "booking:create payment:charge", actor="booking-assistant"
    )
    obo = await dep.oauth.redeem_code(
        dep.app("hotel-web"),
        code,
        verifier,
        redirect_uri=web,
        actor_token=await actor_token(dep, "booking-assistant"),
        resource=dep.resource("booking"),
        dpop=key,
        task=await open_task(dep, "booking-assistant"),
    )
    pay = await dep.oauth.exchange(
        dep.agent("booking-assistant"),
        subject_token=obo["access_token"],
        actor_token=await actor_token(dep, "booking-assistant"),
        scope="payment:charge",
        dpop=key,
    )
    assert claims(obo)["cnf"] == claims(pay)["cnf"] == {"jkt": key.jkt}


@pytest.fixture
def verifier() -> DPoPVerifier:
    clock = ManualClock(time.time())
    return DPoPVerifier(clock, ReplayCache(clock, capacity=3))


def forged(key: ec.EllipticCurvePrivateKey, header: dict[str, Any], **claims: Any) -> str:
    base = {"jti": str(time.perf_counter_ns()), "htm": "GET", "htu": URL, "iat": int(time.time())}
    base.update(claims)
    return jwt.encode(
        {k: v for k, v in base.items() if v is not None}, key, algorithm="ES256", headers=header
    )


def jwk_of(key: ec.EllipticCurvePrivateKey, private: bool = False) -> dict[str, Any]:
    from joserfc.jwk import ECKey

    return dict(ECKey.import_key(key).as_dict(private=private))


def test_a_valid_proof_yields_the_key_thumbprint(verifier: DPoPVerifier) -> None:
    """The happy path: method, URL (query ignored), ath, fresh iat."""
    key = DPoPKey()
    proof = key.proof("GET", URL + "?x=1", access_token="tok")
    assert verifier.verify(proof, method="GET", url=URL, access_token="tok").jkt == key.jkt


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"htm": "POST"}, "htm"),
        ({"htu": "https://hotel.example/other"}, "htu"),
        ({"iat": int(time.time()) - 3600}, "fresh"),
        ({"iat": int(time.time()) + 3600}, "fresh"),
        ({"ath": "wrong"}, "ath"),
        ({"jti": None}, "rejected"),
    ],
)
def test_each_proof_claim_is_checked(
    verifier: DPoPVerifier, change: dict[str, Any], reason: str
) -> None:
    """RFC 9449 §4.3 items 8-12, each on its own."""
    key = ec.generate_private_key(ec.SECP256R1())
    header = {"typ": "dpop+jwt", "jwk": jwk_of(key)}
    proof = forged(key, header, **change)
    with pytest.raises(TokenError, match=reason):
        verifier.verify(
            proof, method="GET", url=URL, access_token="tok" if "ath" in change else None
        )


def test_the_proof_header_must_be_typed_public_and_consistent(verifier: DPoPVerifier) -> None:
    """typ dpop+jwt, a public jwk only, and a signature by that jwk."""
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    cases = [
        ({"typ": "jwt", "jwk": jwk_of(key)}, "typ"),
        ({"typ": "dpop+jwt"}, "jwk"),
        ({"typ": "dpop+jwt", "jwk": jwk_of(key, private=True)}, "jwk"),
        ({"typ": "dpop+jwt", "jwk": jwk_of(other)}, "rejected"),
    ]
    for header, reason in cases:
        with pytest.raises(TokenError, match=reason):
            verifier.verify(forged(key, header), method="GET", url=URL)


def test_a_proof_is_accepted_once_and_the_cache_fails_closed_when_full(
    verifier: DPoPVerifier,
) -> None:
    """jti replay is refused; a full cache of live jtis refuses new proofs."""
    key = DPoPKey()
    proof = key.proof("GET", URL)
    verifier.verify(proof, method="GET", url=URL)
    with pytest.raises(TokenError, match="replay"):
        verifier.verify(proof, method="GET", url=URL)
    verifier.verify(key.proof("GET", URL), method="GET", url=URL)
    verifier.verify(key.proof("GET", URL), method="GET", url=URL)
    with pytest.raises(TokenError, match="too many"):
        verifier.verify(key.proof("GET", URL), method="GET", url=URL)


def test_a_bound_token_needs_a_proof_by_the_same_key() -> None:
    """cnf.jkt must match the proof's key; unbound tokens need none."""
    bound = {"cnf": {"jkt": "abc"}}
    check_binding({}, None)
    check_binding(bound, DPoPProof(jkt="abc", jti="1"))
    with pytest.raises(TokenError, match="required"):
        check_binding(bound, None)
    with pytest.raises(TokenError, match="thumbprint"):
        check_binding(bound, DPoPProof(jkt="xyz", jti="1"))
