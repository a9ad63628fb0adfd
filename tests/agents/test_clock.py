"""The runtime's signatures read the injected clock, never the wall clock directly."""

from __future__ import annotations

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agents.dpop import DPoPKey
from agents.identity import AgentIdentity
from agents.oauth import AgentCredentials, OAuthClient

pytestmark = pytest.mark.anyio

LATER = 2_000_000_000.0


class FixedClock:
    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


def _claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_dpop_proofs_are_stamped_with_the_injected_clock() -> None:
    proof = DPoPKey(clock=FixedClock(LATER)).proof("GET", "https://rs.example/x")
    assert _claims(proof)["iat"] == int(LATER)


async def test_client_assertions_and_the_identity_share_the_oauth_clients_clock() -> None:
    clock = FixedClock(LATER)
    credentials = AgentCredentials("agent-x", ec.generate_private_key(ec.SECP256R1()), "k1")
    async with httpx.AsyncClient() as http:
        oauth = OAuthClient(http, "https://iam.example", clock=clock)
        claims = _claims(oauth.client_assertion(credentials))
        assert (claims["iat"], claims["exp"]) == (int(LATER), int(LATER) + 60)
        identity = AgentIdentity(oauth, credentials, lambda service: service)
        assert _claims(identity.dpop.proof("POST", "https://iam.example/token"))["iat"] == int(
            LATER
        )
