"""Client authentication: private_key_jwt (RFC 7523) for agents, Basic for apps."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agents.oauth import ASSERTION_TYPE
from scenarios.deployment import Deployment
from tests.iam_core.helpers import last_refusal, open_task

pytestmark = pytest.mark.anyio
AGENT = "booking-assistant"


def assertion(
    dep: Deployment, key: Any = None, header: dict[str, Any] | None = None, **overrides: Any
) -> str:
    creds = dep.agent(AGENT)
    now = int(time.time())
    claims = {
        "iss": AGENT,
        "sub": AGENT,
        "aud": dep.oauth.token_endpoint,
        "iat": now,
        "exp": now + 60,
        "jti": f"jti-{time.perf_counter_ns()}",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(
        claims,
        key or creds.private_key,
        algorithm="ES256",
        headers=header if header is not None else {"kid": creds.kid},
    )


async def token_request(
    dep: Deployment, client_assertion: str, task: str | None = None, **extra: str
) -> Any:
    """The agent's own token request for availability, within ``task`` (design §3.2): one
    the front door opens now unless given."""
    form = {
        "grant_type": "client_credentials",
        "scope": "availability:read",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
        "task_token": task or await open_task(dep, AGENT),
    }
    form.update(extra)
    return await dep.http.post("/token", data=form)


async def test_a_valid_assertion_gets_an_agent_token(dep: Deployment) -> None:
    """The baseline: the agent's own key, right audience, fresh jti."""
    response = await token_request(dep, assertion(dep))
    assert response.status_code == 200, response.text


async def test_the_issuer_is_accepted_as_audience_too(dep: Deployment) -> None:
    """RFC 7523 §3: aud may name the authorization server (its issuer)."""
    response = await token_request(dep, assertion(dep, aud=dep.issuer))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "https://other.example/token"}, "aud"),
        ({"exp": -120}, "expired"),
        ({"exp": +3700}, "too long"),
        ({"iat": -60, "exp": +3590}, "too long"),
        ({"nbf": +3600, "exp": +3660}, "nbf"),
        ({"iat": +3600, "exp": +3660}, "iat"),
        ({"aud": "http://127.0.0.1:8000/introspect"}, "aud"),
        ({"sub": "staff-assistant"}, "sub"),
        ({"jti": None}, "jti"),
        ({"exp": None}, "exp"),
    ],
)
async def test_a_bad_assertion_is_invalid_client(
    dep: Deployment, overrides: dict[str, Any], reason: str
) -> None:
    """Each RFC 7523 §3 rule refuses on its own, with a 401 and an audit entry.

    Times are offsets from the moment the assertion is made, not from collection: a slow
    run must not turn "an hour and a bit" into "under an hour"."""
    now = int(time.time())
    timed = {
        k: now + v if k in ("exp", "iat", "nbf") and isinstance(v, int) else v
        for k, v in overrides.items()
    }
    response = await token_request(dep, assertion(dep, **timed))
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client" and reason in body["error_description"]
    assert last_refusal(dep).reason.startswith("invalid_client")


async def test_an_assertion_is_accepted_only_once(dep: Deployment) -> None:
    """A replayed assertion (same jti) is refused."""
    once = assertion(dep)
    assert (await token_request(dep, once)).status_code == 200
    replay = await token_request(dep, once)
    assert replay.status_code == 401 and "replay" in replay.json()["error_description"]


async def test_an_assertion_signed_with_another_key_is_refused(dep: Deployment) -> None:
    """A forged assertion for booking-assistant, signed by the attacker's key."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    response = await token_request(dep, assertion(dep, key=attacker))
    assert response.status_code == 401


async def test_an_assertion_with_an_unknown_kid_is_refused(dep: Deployment) -> None:
    """The kid must be one of the agent's registered keys."""
    response = await token_request(dep, assertion(dep, header={"kid": "nope"}))
    assert response.status_code == 401 and "kid" in response.json()["error_description"]


async def test_an_unsigned_assertion_is_refused(dep: Deployment) -> None:
    """alg none never authenticates anyone."""
    now = int(time.time())
    claims = {
        "iss": AGENT,
        "sub": AGENT,
        "aud": dep.oauth.token_endpoint,
        "exp": now + 60,
        "jti": "x",
    }

    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    forged = f"{part({'alg': 'none'})}.{part(claims)}."
    response = await token_request(dep, forged)
    assert response.status_code == 401


async def test_an_assertion_hmac_signed_with_the_public_key_is_refused(dep: Deployment) -> None:
    """Algorithm confusion with the agent's public JWK as HMAC secret."""
    import hashlib
    import hmac

    jwk = json.dumps(dep.keystore.public_jwk(AGENT)).encode()
    now = int(time.time())
    claims = {
        "iss": AGENT,
        "sub": AGENT,
        "aud": dep.oauth.token_endpoint,
        "exp": now + 60,
        "jti": "y",
    }

    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'kid': dep.keystore.kid(AGENT)})}.{part(claims)}"
    mac = hmac.new(jwk, signing_input.encode(), hashlib.sha256).digest()
    sig = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    response = await token_request(dep, f"{signing_input}.{sig}")
    assert response.status_code == 401


async def test_a_blocked_agent_cannot_authenticate(dep: Deployment) -> None:
    """Blocking an agent stops its credentials at once."""
    assert dep.iam is not None
    task = await open_task(dep, AGENT)  # a blocked agent gets no task: opened before
    dep.iam.block_agent(AGENT, by="dave")
    response = await token_request(dep, assertion(dep), task)
    assert response.status_code == 401 and "blocked" in response.json()["error_description"]


async def test_a_wrong_app_secret_is_invalid_client_with_a_basic_challenge(
    dep: Deployment,
) -> None:
    """RFC 6749 §5.2: 401 and WWW-Authenticate for failed Basic authentication."""
    bad = base64.b64encode(b"booking-backend:wrong").decode()
    response = await dep.http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {bad}"},
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_two_authentication_methods_at_once_are_refused(dep: Deployment) -> None:
    """RFC 6749 §2.3: one method per request."""
    basic = base64.b64encode(b"booking-backend:x").decode()
    response = await dep.http.post(
        "/token",
        headers={"Authorization": f"Basic {basic}"},
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(dep),
        },
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_a_public_client_cannot_use_client_credentials(dep: Deployment) -> None:
    """hotel-web has no secret: it may only run the code flow."""
    response = await dep.http.post(
        "/token", data={"grant_type": "client_credentials", "client_id": "hotel-web"}
    )
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


async def test_an_unknown_client_is_invalid_client(dep: Deployment) -> None:
    """Unknown ids are refused the same way as wrong secrets."""
    response = await dep.http.post(
        "/token", data={"grant_type": "client_credentials", "client_id": "who"}
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_an_assertion_living_an_hour_is_accepted(dep: Deployment) -> None:
    """RFC 7523 §3: exp - iat up to 3600 s (Authlib's default lifetime) is accepted."""
    now = int(time.time())
    response = await token_request(dep, assertion(dep, iat=now, exp=now + 3600))
    assert response.status_code == 200, response.text


async def test_the_endpoint_called_is_accepted_as_audience(dep: Deployment) -> None:
    """RFC 7523 §3 item 3: at /introspect and /revoke, aud may be that endpoint's URL."""
    token = (await token_request(dep, assertion(dep))).json()["access_token"]
    for path in ("/introspect", "/revoke"):
        form = {
            "token": token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(dep, aud=f"{dep.issuer}{path}"),
        }
        response = await dep.http.post(path, data=form)
        assert response.status_code == 200, response.text
        if path == "/introspect":
            assert response.json()["active"] is True
    wrong = {
        "token": token,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(dep, aud=f"{dep.issuer}/revoke"),
    }
    assert (await dep.http.post("/introspect", data=wrong)).status_code == 401


async def test_a_used_jti_is_remembered_in_the_store_until_exp(dep: Deployment) -> None:
    """RFC 7523 §3 item 7: the jti outlives the process (a fresh authenticator on the same
    store refuses the replay) and is kept until the assertion's exp."""
    from iam_core.client_auth import ClientAuthenticator
    from iam_core.errors import InvalidClient

    assert dep.iam is not None
    now = int(time.time())
    once = assertion(dep, iat=now, exp=now + 3600, jti="jti-durable")
    assert (await token_request(dep, once)).status_code == 200
    row = dep.iam.store.one("SELECT exp FROM assertion_jtis WHERE jti = 'jti-durable'")
    assert row is not None and row["exp"] == now + 3600
    restarted = ClientAuthenticator(dep.iam, dep.oauth.token_endpoint)
    form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": once}
    with pytest.raises(InvalidClient, match="replay"):
        restarted.authenticate(form, None)
