"""Authlib's OAuth 2 client, with its defaults, against the IAM: one test per flow.

No claim, lifetime or audience is overridden: Authlib's ``private_key_jwt`` assertions live
an hour and name the URL they are posted to as ``aud`` (RFC 7523 §3 allows both), and its
code flow sends the ``redirect_uri`` of its request at redemption (RFC 6749 §4.1.3).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent_iam import token_flows
from agents.oauth import _CSRF_FIELD, ACCESS_TOKEN_TYPE, SESSION_COOKIE
from iam_core.iam import IAM
from iam_core.seed import DEMO_PASSWORDS, DEMO_SECRETS, REDIRECT_URIS
from iam_core.server import create_app
from scenarios.deployment import Deployment
from tests.iam_core.helpers import open_task, sign_in

pytestmark = pytest.mark.anyio
BA = "booking-assistant"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def transport(iam: IAM) -> Any:
    """An ASGI transport into the IAM, from the httpx (or fork) Authlib's client is built on."""
    base = next(c for c in AsyncOAuth2Client.__mro__ if c.__name__ == "AsyncClient")
    library = importlib.import_module(base.__module__.split(".")[0])
    return library.ASGITransport(app=create_app(iam))


def iam_of(dep: Deployment) -> IAM:
    assert dep.iam is not None
    return dep.iam


def rsa_agent_key(dep: Deployment, agent_id: str = BA) -> bytes:
    """Register an RSA key for ``agent_id`` (Authlib signs RS256 by default); its PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    iam = iam_of(dep)
    agent = iam.registry.get_agent(agent_id)
    assert agent is not None
    iam.registry.save_agent(replace(agent, jwks=(*agent.jwks, {**public, "kid": "rsa-1"})))
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
async def agent_client(dep: Deployment) -> AsyncIterator[AsyncOAuth2Client]:
    """booking-assistant as an Authlib client: ``PrivateKeyJWT()`` with nothing set."""
    async with AsyncOAuth2Client(
        client_id=BA,
        client_secret=rsa_agent_key(dep),
        token_endpoint_auth_method=PrivateKeyJWT(),
        revocation_endpoint_auth_method=PrivateKeyJWT(),
        transport=transport(iam_of(dep)),
    ) as client:
        yield client


async def test_private_key_jwt_client_credentials(
    dep: Deployment, agent_client: AsyncOAuth2Client
) -> None:
    token = await agent_client.fetch_token(
        dep.oauth.token_endpoint,
        grant_type="client_credentials",
        scope="availability:read",
        resource=dep.resource("availability"),
        task_token=await open_task(dep, BA),  # an extra parameter (design §3.2)
    )
    verified = iam_of(dep).verifier.verify(
        token["access_token"], audience=dep.resource("availability")
    )
    assert verified.sub == BA and verified.claims["aut"] == "AGENT"


async def test_client_secret_basic_client_credentials(dep: Deployment) -> None:
    async with AsyncOAuth2Client(
        client_id="booking-backend",
        client_secret=DEMO_SECRETS["booking-backend"],
        transport=transport(iam_of(dep)),
    ) as client:
        token = await client.fetch_token(
            dep.oauth.token_endpoint, grant_type="client_credentials", scope="availability:hold"
        )
    assert token["scope"] == "availability:hold" and token["token_type"] == "Bearer"


async def browser_consent(dep: Deployment, url: str, user: str) -> str:
    """Drive the login and consent pages as the user; returns the redirect with the code."""
    http = dep.http
    http.cookies.clear()
    landing = await http.get(url)
    request_id = parse_qs(urlsplit(landing.headers["location"]).query)["request_id"][0]
    login = await sign_in(http, user, DEMO_PASSWORDS[user], request_id)
    cookie = {"Cookie": f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE]}"}
    http.cookies.clear()
    page = await http.get(f"/consent?request_id={request_id}", headers=cookie)
    found = _CSRF_FIELD.search(page.text)
    assert found is not None, page.text[:300]
    decision = await http.post(
        "/consent",
        headers=cookie,
        data={"request_id": request_id, "csrf": found.group(1), "decision": "approve"},
    )
    return str(decision.headers["location"])


async def test_authorization_code_with_pkce(dep: Deployment) -> None:
    async with AsyncOAuth2Client(
        client_id="hotel-web",
        redirect_uri=REDIRECT_URIS["hotel-web"],
        scope="booking:read",
        code_challenge_method="S256",
        transport=transport(iam_of(dep)),
    ) as client:
        verifier = generate_token(48)
        url, _state = client.create_authorization_url(
            f"{dep.issuer}/authorize", code_verifier=verifier
        )
        callback = await browser_consent(dep, url, "alice")
        token = await client.fetch_token(
            dep.oauth.token_endpoint, authorization_response=callback, code_verifier=verifier
        )
    claims = iam_of(dep).verifier.verify(token["access_token"], audience=None).claims
    assert claims["sub"] == "alice" and claims["scope"] == "booking:read"


async def test_token_exchange(dep: Deployment, agent_client: AsyncOAuth2Client) -> None:
    obo = await token_flows.obo_token(dep, "alice", BA, "hotel-web", "booking:read", None)
    identity = await agent_client.fetch_token(
        dep.oauth.token_endpoint, grant_type="client_credentials", resource=dep.issuer
    )
    token = await agent_client.fetch_token(
        dep.oauth.token_endpoint,
        grant_type=TOKEN_EXCHANGE,
        subject_token=obo["access_token"],
        subject_token_type=ACCESS_TOKEN_TYPE,
        actor_token=identity["access_token"],
        actor_token_type=ACCESS_TOKEN_TYPE,
    )
    assert token["issued_token_type"] == ACCESS_TOKEN_TYPE
    claims = iam_of(dep).verifier.verify(token["access_token"], audience=None).claims
    assert claims["sub"] == "alice" and claims["act"] == {"sub": BA}


async def test_introspection(dep: Deployment, agent_client: AsyncOAuth2Client) -> None:
    token = await agent_client.fetch_token(
        dep.oauth.token_endpoint,
        grant_type="client_credentials",
        scope="availability:read",
        task_token=await open_task(dep, BA),
    )
    response = await agent_client.introspect_token(
        f"{dep.issuer}/introspect", token=token["access_token"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True and response.json()["sub"] == BA


async def test_revocation(dep: Deployment, agent_client: AsyncOAuth2Client) -> None:
    token = await agent_client.fetch_token(
        dep.oauth.token_endpoint,
        grant_type="client_credentials",
        scope="availability:read",
        task_token=await open_task(dep, BA),
    )
    response = await agent_client.revoke_token(f"{dep.issuer}/revoke", token=token["access_token"])
    assert response.status_code == 200, response.text
    status = await dep.oauth.introspect(token["access_token"], as_app=dep.app("auditor"))
    assert status == {"active": False}
