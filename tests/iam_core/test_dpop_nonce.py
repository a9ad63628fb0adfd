"""Server-provided DPoP nonces (RFC 9449 §8 at /token, §9 at the services).

Nonces are stateless (an HMAC over a time window under the store's secret), so every
process on one store accepts the others'; a proof must carry a current one, and only an
authenticated client's proof is recorded in the replay store, bounded per key.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from agents.dpop import DPoPKey
from iam_core.clock import ManualClock
from iam_core.dpop import DPoPNonces, DPoPVerifier, NonceRequired, ReplayCache
from iam_core.errors import TokenError
from iam_core.seed import DEMO_SECRETS
from iam_core.server import create_app
from iam_core.store import Store
from scenarios.deployment import Deployment, agent_keystore, build_iam
from tests.iam_core.helpers import open_task

URL = "https://hotel.example/hotel/availability/hotels"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def agent_form(dep: Deployment, task: str, agent: str = "booking-assistant") -> dict[str, str]:
    """The agent's own token request for availability, within ``task`` (design §3.2)."""
    return {
        "grant_type": "client_credentials",
        "scope": "availability:read",
        "client_assertion_type": ASSERTION,
        "client_assertion": dep.oauth.client_assertion(dep.agent(agent)),
        "task_token": task,
    }


def jti_rows(store: Any) -> int:
    row = store.one("SELECT COUNT(*) AS n FROM dpop_jtis")
    return int(row["n"]) if row else 0


@pytest.mark.anyio
async def test_a_proof_without_a_nonce_gets_use_dpop_nonce_at_the_token_endpoint(
    dep: Deployment,
) -> None:
    """§8: 400 use_dpop_nonce with a DPoP-Nonce header; the same request (same client
    assertion, unspent) then succeeds with that nonce, and the answer carries a nonce too."""
    key = DPoPKey()
    form = agent_form(dep, await open_task(dep))
    asked = await dep.http.post(
        "/token", data=form, headers={"DPoP": key.proof("POST", dep.oauth.token_endpoint)}
    )
    assert asked.status_code == 400 and asked.json()["error"] == "use_dpop_nonce"
    nonce = asked.headers["DPoP-Nonce"]
    proof = key.proof("POST", dep.oauth.token_endpoint, nonce=nonce)
    ok = await dep.http.post("/token", data=form, headers={"DPoP": proof})
    assert ok.status_code == 200 and ok.json()["token_type"] == "DPoP"
    assert ok.headers["DPoP-Nonce"]


@pytest.mark.anyio
async def test_a_proof_without_a_nonce_gets_use_dpop_nonce_at_a_service(
    dep: Deployment,
) -> None:
    """§9: 401 with ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` and a DPoP-Nonce."""
    key = DPoPKey()
    token = (
        await dep.oauth.agent_token(
            dep.agent("booking-assistant"),
            scope="availability:read",
            resource=dep.resource("availability"),
            dpop=key,
            task=await open_task(dep),
        )
    )["access_token"]
    target = f"{dep.resource('availability')}/hotels"
    key.nonces.clear()  # forget the IAM's nonce: a proof with none
    proof = key.proof("GET", target, token)
    asked = await dep.http.get(target, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert asked.status_code == 401
    assert 'error="use_dpop_nonce"' in asked.headers["WWW-Authenticate"]
    assert asked.headers["WWW-Authenticate"].startswith("DPoP ")
    nonce = asked.headers["DPoP-Nonce"]
    proof = key.proof("GET", target, token, nonce=nonce)
    ok = await dep.http.get(target, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert ok.status_code == 200 and ok.headers["DPoP-Nonce"]


def test_a_nonce_from_an_old_window_is_refused() -> None:
    """Accepted in its window and the next; refused after, or under another secret."""
    clock = ManualClock(1_200_000.0)  # a window boundary
    nonces = DPoPNonces.ephemeral(clock, window=60)
    nonce = nonces.current()
    nonces.window_of(nonce)
    clock.advance(60)
    nonces.window_of(nonce)
    clock.advance(60)
    with pytest.raises(NonceRequired, match="stale"):
        nonces.window_of(nonce)
    with pytest.raises(NonceRequired, match="invalid"):
        DPoPNonces.ephemeral(clock).window_of(nonces.current())
    # A proof carrying the old nonce is refused by the verifier too, as is an iat before it.
    verifier = DPoPVerifier(clock, ReplayCache(clock), nonces=nonces)
    key = DPoPKey(clock=clock)
    with pytest.raises(NonceRequired):
        verifier.verify(key.proof("GET", URL, nonce=nonce), method="GET", url=URL)
    fresh = nonces.current()
    clock.advance(30)
    early = DPoPKey(clock=ManualClock(clock.now() - 60)).proof("GET", URL, nonce=fresh)
    with pytest.raises(NonceRequired, match="window"):
        verifier.verify(early, method="GET", url=URL)
    assert verifier.verify(key.proof("GET", URL, nonce=fresh), method="GET", url=URL).jkt


@pytest.mark.anyio
async def test_nonces_work_across_two_iam_instances_on_one_database(tmp_path: Path) -> None:
    """Two IAMs on one database: a nonce of one is accepted by the other, and a proof used
    at one is a replay at the other."""
    keystore = agent_keystore(in_memory=True)
    iams = [build_iam(tmp_path / "iam.db", keystore=keystore) for _ in range(2)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(i)), base_url=i.issuer)
        for i in iams
    ]
    try:
        from agents.front_door import FRONT_DOOR, FrontDoor
        from agents.oauth import AgentCredentials, AppCredentials, OAuthClient

        one, two = clients
        token_url = f"{iams[0].issuer}/token"
        nonce = (await one.post("/token")).headers["DPoP-Nonce"]
        agent = AgentCredentials(
            "booking-assistant",
            keystore.private_key("booking-assistant"),
            keystore.kid("booking-assistant"),
        )
        oauth = OAuthClient(two, iams[1].issuer)
        door = FrontDoor(oauth, AppCredentials(FRONT_DOOR, DEMO_SECRETS[FRONT_DOOR]))
        form = {
            "grant_type": "client_credentials",
            "scope": "availability:read",
            "client_assertion_type": ASSERTION,
            "client_assertion": oauth.client_assertion(agent),
            "task_token": (await door.open("booking-assistant")).token,
        }
        proof = DPoPKey().proof("POST", token_url, nonce=nonce)
        ok = await two.post("/token", data=form, headers={"DPoP": proof})
        assert ok.status_code == 200, ok.text
        form["client_assertion"] = oauth.client_assertion(agent)
        replay = await one.post("/token", data=form, headers={"DPoP": proof})
        assert replay.status_code == 400 and "replay" in replay.json()["error_description"]
    finally:
        for client in clients:
            await client.aclose()
        for iam in iams:
            iam.store.close()


@pytest.mark.anyio
async def test_an_unauthenticated_flood_of_token_proofs_adds_no_rows(dep: Deployment) -> None:
    """Proofs with valid nonces but no valid client authentication: 0 rows in the replay
    store; the authenticated request's proof is recorded."""
    store = dep.iam.store
    nonce = (await dep.http.post("/token")).headers["DPoP-Nonce"]
    before = jti_rows(store)
    key = DPoPKey()
    task = await open_task(dep)
    for i in range(60):
        form = (
            {"grant_type": "client_credentials", "client_id": "booking-assistant"}
            if i % 2
            else {**agent_form(dep, task), "client_assertion": "not.a.jwt"}
        )
        proof = key.proof("POST", dep.oauth.token_endpoint, nonce=nonce)
        response = await dep.http.post("/token", data=form, headers={"DPoP": proof})
        assert response.status_code in (400, 401)
    assert jti_rows(store) == before
    proof = key.proof("POST", dep.oauth.token_endpoint, nonce=nonce)
    ok = await dep.http.post("/token", data=agent_form(dep, task), headers={"DPoP": proof})
    assert ok.status_code == 200 and jti_rows(store) == before + 1


def test_the_replay_store_is_bounded_per_key(tmp_path: Path) -> None:
    """No more than max_per_key live jtis per key: beyond, refused (not a replay)."""
    clock = ManualClock(time.time())
    store = Store(tmp_path / "s.db")
    nonces = DPoPNonces.from_store(store, clock)
    replay = ReplayCache(clock, store=store, scope="t", max_per_key=2)
    verifier = DPoPVerifier(clock, replay, nonces=nonces)
    key, other = DPoPKey(clock=clock), DPoPKey(clock=clock)
    for _ in range(2):
        verifier.verify(key.proof("GET", URL, nonce=nonces.current()), method="GET", url=URL)
    with pytest.raises(TokenError, match="too many"):
        verifier.verify(key.proof("GET", URL, nonce=nonces.current()), method="GET", url=URL)
    verifier.verify(other.proof("GET", URL, nonce=nonces.current()), method="GET", url=URL)
    clock.advance(3 * nonces.window)  # the window passed: the key may prove again
    verifier.verify(key.proof("GET", URL, nonce=nonces.current()), method="GET", url=URL)
    assert DPoPNonces.from_store(store, clock).current() == nonces.current()  # one secret
    store.close()


@pytest.mark.anyio
async def test_the_client_retries_on_use_dpop_nonce_transparently(dep: Deployment) -> None:
    """agents/: a key with no nonce, or a stale one, still gets its token and its call."""
    key = DPoPKey()
    key.nonces["http://127.0.0.1:8000"] = "0.stale"
    token = (
        await dep.oauth.agent_token(
            dep.agent("booking-assistant"),
            scope="availability:read",
            resource=dep.resource("availability"),
            dpop=key,
            task=await open_task(dep),
        )
    )["access_token"]
    assert key.nonces and "0.stale" not in key.nonces.values()
    target = f"{dep.resource('availability')}/hotels"
    for origin in key.nonces:
        key.nonces[origin] = "0.stale"
    response = await dep.http.get(
        target, headers={"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", target, token)}
    )
    assert key.observe(target, response)  # use_dpop_nonce: retry once, with the new nonce
    retried = await dep.http.get(
        target, headers={"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", target, token)}
    )
    assert retried.status_code == 200 and not key.observe(target, retried)


_KEY = ec.generate_private_key(ec.SECP256R1())


@given(
    nonce=st.one_of(
        st.none(),
        st.text(max_size=80),
        st.integers(),
        st.booleans(),
        st.lists(st.text(max_size=5), max_size=2),
        st.sampled_from(["stale", "other-secret", "tampered", "old-index"]),
    ),
    extra=st.dictionaries(
        st.sampled_from(["htm", "htu", "iat", "ath", "jti", "exp", "nbf"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.floats()),
        max_size=3,
    ),
)
def test_no_proof_without_a_valid_nonce_is_ever_accepted(nonce: Any, extra: dict[str, Any]) -> None:
    """Whatever else a proof's claims say, without a current nonce it is refused."""
    from joserfc.jwk import ECKey

    clock = ManualClock(2_000_000.0)
    nonces = DPoPNonces(clock, b"k" * 32, window=60)
    verifier = DPoPVerifier(clock, ReplayCache(clock), nonces=nonces)
    current = nonces.current()
    if nonce == "stale":
        nonce = DPoPNonces(ManualClock(clock.now() - 120), b"k" * 32, window=60).current()
    elif nonce == "other-secret":
        nonce = DPoPNonces(clock, b"x" * 32).current()
    elif nonce == "tampered":
        nonce = current[:-2] + ("AA" if not current.endswith("AA") else "BB")
    elif nonce == "old-index":
        nonce = f"{int(current.split('.')[0], 16) - 2:x}." + current.split(".", 1)[1]
    assert nonce != current
    claims = {"jti": "j", "htm": "GET", "htu": URL, "iat": int(clock.now())}
    claims.update({k: v for k, v in extra.items() if v is not None})
    if nonce is not None:
        claims["nonce"] = nonce
    header = {"typ": "dpop+jwt", "jwk": dict(ECKey.import_key(_KEY.public_key()).as_dict())}
    try:
        proof = jwt.encode(claims, _KEY, algorithm="ES256", headers=header)
    except (TypeError, ValueError):
        return  # not even encodable
    with pytest.raises(TokenError):
        verifier.verify(proof, method="GET", url=URL)
