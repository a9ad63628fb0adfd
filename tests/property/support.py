"""What the property tests share: a deployment on a hand-moved clock, driven from sync code.

The client side stamps its RFC 7523 assertions and RFC 9449 proofs with wall time; on a
:class:`ManualClock` that has been moved forward, the IAM would rightly call them expired.
:class:`ClockedOAuthClient` and :class:`ClockedDPoPKey` read the deployment's clock instead,
so a test can move time past every token lifetime and keep issuing fresh tokens.

The deployment runs on an event loop of its own (an anyio blocking portal): hypothesis draws
happen in plain synchronous code, and a draw that ends an example (``StopTest``) must never
cross an asyncio task (see tests/hotel/test_fuzz.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import jwt
from anyio.from_thread import BlockingPortal, start_blocking_portal

from agents.dpop import DPoPKey
from agents.oauth import AgentCredentials, OAuthClient
from iam_core.clock import ManualClock
from iam_core.iam import IAMConfig
from scenarios.deployment import Deployment, deployment

# A fixed start keeps examples reproducible: 2026-09-21T...Z, well inside the hotel's inventory.
START = 1_790_000_000.0


class ClockedOAuthClient(OAuthClient):
    """The real OAuth client, but its client assertions read the deployment's clock."""

    def __init__(self, dep: Deployment, clock: ManualClock) -> None:
        super().__init__(dep.http, dep.issuer)
        self._clock = clock

    def client_assertion(self, agent: AgentCredentials, lifetime: int = 60) -> str:
        now = int(self._clock.now())
        claims = {
            "iss": agent.agent_id,
            "sub": agent.agent_id,
            "aud": self.token_endpoint,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, agent.private_key, algorithm="ES256", headers={"kid": agent.kid})


class ClockedDPoPKey(DPoPKey):
    """A DPoP key whose proofs carry the deployment's time in ``iat``."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self._clock = clock

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": url.split("?", 1)[0].split("#", 1)[0],
            "iat": int(self._clock.now()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        header = {"typ": "dpop+jwt", "jwk": self._jwk}
        return jwt.encode(claims, self._private, algorithm="ES256", headers=header)


@contextmanager
def served(
    clock: ManualClock, config: IAMConfig | None = None
) -> Iterator[tuple[BlockingPortal, Deployment]]:
    """An in-memory deployment on ``clock``, on its own event loop, with a clocked client."""
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        dep = stack.enter_context(
            portal.wrap_async_context_manager(
                deployment(in_memory=True, clock=clock, config=config)
            )
        )
        dep.oauth = ClockedOAuthClient(dep, clock)
        yield portal, dep


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A compact JWS's header, claims and raw signature segment (nothing verified)."""
    head, body, sig = token.split(".")
    return json.loads(unb64(head)), json.loads(unb64(body)), sig


def join(header: dict[str, Any], claims: dict[str, Any], sig: str) -> str:
    return f"{b64json(header)}.{b64json(claims)}.{sig}"
