"""docs/attacks.md #9 — agent identity spoofing (T9, T13).

Each variant forges booking-assistant's identity in its own way and presents it where that
forgery is the classic attack, so that no two take the same path (issue 14): a client
assertion signed with the attacker's key at the IAM's token endpoint (for the agent's own
token); or, skipping the IAM, a forged access token straight at a service, whose verifier
must pin the algorithm (alg: none; HS256 keyed with the IAM's published public key) and
resolve keys only from the issuer's JWKS (an unknown kid). Each then goes after something
else: the hotel list, a search, the reviews, the guest's bookings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from hotel.baseline import DEMO_API_KEY
from scenarios.catalogue._facts import BA, STAY, accepted, calls
from scenarios.checks import denied
from scenarios.model import AttackerCall, Run, Scenario, Step
from scenarios.steps import Ask, SpoofAgent

TWIN = (Ask(BA, f"Find a double room {STAY}"),)
SEARCH = "/search?hotel_id=grand-meridian&check_in=2026-12-10&check_out=2026-12-12"
REVIEWS = "/hotels/grand-meridian/reviews"
TYP = "at+jwt"  # RFC 9068, as the IAM types its access tokens


@dataclass
class ForgeToken(Step):
    """The attacker skips the IAM: it makes an access token naming booking-assistant (for
    ``as_user``, an on-behalf-of token with booking-assistant as actor) and presents it at
    ``service``/``path``. ``how``: alg-none (unsigned) | hs256 (HMAC keyed with the IAM's
    published public key, the algorithm confusion) | unknown-kid (the attacker's own key,
    under a kid the issuer never published). The baseline has no tokens to forge: whoever
    holds the shared key is the agent."""

    how: str
    service: str
    path: str
    as_user: str = ""
    agent: str = BA
    attacker: bool = True

    async def run(self, run: Run) -> None:
        url = f"{run.dep.resource(self.service)}{self.path}"
        label = f"spoof {self.how}"
        if run.baseline:
            headers = {"Authorization": f"Bearer {DEMO_API_KEY}", "X-User": self.as_user or BA}
            response = await run.dep.http.get(url, headers=headers)
            run.attacker_calls.append(AttackerCall(label, response.status_code))
            return
        token = await _forged_token(run, self.how, self.service, self.agent, self.as_user)
        response = await run.dep.http.get(url, headers={"Authorization": f"Bearer {token}"})
        run.attacker_calls.append(AttackerCall(label, response.status_code, response.text[:200]))

    def describe(self) -> str:
        return f"attacker presents a {self.how} token as {self.agent} at {self.service}{self.path}"


async def _forged_token(run: Run, how: str, service: str, agent: str, user: str) -> str:
    """An access token as the IAM would mint it (claims), forged ``how``."""
    jwk = (await run.dep.http.get("/jwks.json")).json()["keys"][0]
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": run.dep.issuer,
        "aud": run.dep.resource(service),
        "sub": user or agent,
        "client_id": agent,
        "scope": f"{service}:read",
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(12),
    }
    if user:
        claims["act"] = {"sub": agent}
    body = _b64(json.dumps(claims).encode())
    if how == "alg-none":
        # Unsigned, with a leftover signature segment so that a strict parser reads it through
        # and only the pinned algorithm can refuse it.
        header = _b64(json.dumps({"alg": "none", "typ": TYP, "kid": jwk["kid"]}).encode())
        return f"{header}.{body}.{_b64(secrets.token_bytes(64))}"
    if how == "hs256":
        # The issuer's public key, used as an HMAC secret (the classic algorithm confusion).
        public = json.dumps(jwk, sort_keys=True).encode()
        header = _b64(json.dumps({"alg": "HS256", "typ": TYP, "kid": jwk["kid"]}).encode())
        signature = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"
    attacker_key = ec.generate_private_key(ec.SECP256R1())
    headers = {"kid": "attacker-key-1", "typ": TYP}
    return jwt.encode(claims, attacker_key, algorithm="ES256", headers=headers)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _scenario(suffix: str, how: str, words: str, step: Step, where: str, why: str) -> Scenario:
    return Scenario(
        id=f"c09{suffix}-{how}",
        title=f"Posing as booking-assistant with {words}",
        case=9,
        threats=("T9", "T13"),
        steps=(step,),
        twin=TWIN,
        attack=lambda run: accepted(run, "spoof") > 0,
        utility=lambda run: calls(run, "search_availability") == 1,
        checks=(
            denied(event="token.refused", reason=why)
            if where == "iam"
            else denied(event="access.decision", service=where, reason=why),
        ),
    )


SCENARIOS = [
    _scenario(
        "a",
        "forged-key",
        "an assertion signed with the attacker's key",
        SpoofAgent("forged-key", path="/hotels"),
        "iam",
        "signature",
    ),
    _scenario(
        "b",
        "alg-none",
        "an unsigned access token (alg: none)",
        ForgeToken("alg-none", "availability", SEARCH),
        "availability",
        "alg 'none'",
    ),
    _scenario(
        "c",
        "hs256",
        "an HS256 access token keyed with the IAM's public key",
        ForgeToken("hs256", "availability", REVIEWS),
        "availability",
        "alg 'HS256'",
    ),
    _scenario(
        "d",
        "unknown-kid",
        "a guest's token naming an unknown kid",
        ForgeToken("unknown-kid", "booking", "/bookings", as_user="alice"),
        "booking",
        "unknown kid",
    ),
]
