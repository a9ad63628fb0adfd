"""Interoperability with code we did not write.

* joserfc verifies our access tokens against the published JWKS;
* Authlib's OAuth 2 client obtains an agent token with private_key_jwt, unmodified (every
  flow with Authlib's defaults: test_authlib_interop.py).
"""

from __future__ import annotations

import importlib

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from agent_iam import token_flows
from iam_core.server import create_app
from scenarios.deployment import Deployment
from tests.iam_core.helpers import open_task

pytestmark = pytest.mark.anyio


async def test_joserfc_verifies_every_token_type_against_the_published_jwks(
    dep: Deployment,
) -> None:
    """An independent JOSE library accepts our signatures, kid and algorithm."""
    keys = KeySet.import_key_set((await dep.http.get("/jwks.json")).json())
    tokens = [
        await token_flows.agent_token(dep, "booking-assistant", "availability:read", None),
        await token_flows.app_token(dep, "booking-backend", "availability:hold", None),
        await token_flows.user_token(dep, "alice", "hotel-web", "booking:read", None),
        await token_flows.obo_token(
            dep, "alice", "booking-assistant", "hotel-web", "booking:create", None
        ),
    ]
    auts = []
    for response in tokens:
        decoded = jose_jwt.decode(response["access_token"], keys, algorithms=["ES256"])
        assert decoded.header["typ"] == "at+jwt"
        auts.append(decoded.claims["aut"])
    assert auts == ["AGENT", "APPLICATION", "APPLICATION_USER", "APPLICATION_USER"]


async def test_joserfc_rejects_a_token_after_a_byte_of_it_changes(dep: Deployment) -> None:
    """The interop check can fail: a tampered payload does not verify."""
    from joserfc.errors import BadSignatureError

    keys = KeySet.import_key_set((await dep.http.get("/jwks.json")).json())
    token = (await token_flows.agent_token(dep, "booking-assistant", "availability:read", None))[
        "access_token"
    ]
    head, body, sig = token.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    with pytest.raises((BadSignatureError, ValueError)):
        jose_jwt.decode(tampered, keys, algorithms=["ES256"])


async def test_authlib_obtains_an_agent_token_with_private_key_jwt(dep: Deployment) -> None:
    """Authlib's stock AsyncOAuth2Client + PrivateKeyJWT, against our token endpoint."""
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from joserfc.jwk import ECKey

    assert dep.iam is not None
    pem = dep.keystore.private_key("booking-assistant").private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    task = await open_task(dep, "booking-assistant")
    key = ECKey.import_key(pem)  # Authlib takes joserfc keys for EC (its default is RSA)
    # Authlib's client may be built on httpx or its fork httpx2: use that library's transport.
    base = next(c for c in AsyncOAuth2Client.__mro__ if c.__name__ == "AsyncClient")
    library = importlib.import_module(base.__module__.split(".")[0])
    transport = library.ASGITransport(app=create_app(dep.iam))
    async with AsyncOAuth2Client(
        client_id="booking-assistant",
        client_secret=key,
        # Authlib's default lifetime (an hour) and audience (the URL posted to) are
        # accepted as they are; only the algorithm follows the agent's EC key.
        token_endpoint_auth_method=PrivateKeyJWT(alg="ES256"),
        transport=transport,
    ) as client:
        token = await client.fetch_token(
            dep.oauth.token_endpoint,
            grant_type="client_credentials",
            scope="availability:read",
            resource=dep.resource("availability"),
            task_token=task,  # an extra parameter of the token request (design §3.2)
        )
    verified = dep.iam.verifier.verify(token["access_token"], audience=dep.resource("availability"))
    assert verified.sub == "booking-assistant" and verified.claims["aut"] == "AGENT"
