"""The attacker's moves with credentials: steal a token, call with it, forge a client.

With agent IAM the attacker holds what they could really get (a stolen token without its
DPoP key, a forged assertion, the booking backend's App token); in the baseline the same
attacker holds the one shared API key, which is in every agent's configuration, and the
``X-User`` header it trusts (docs/design.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from agents.dpop import DPoPKey, asks_for_nonce
from agents.oauth import ASSERTION_TYPE
from agents.ordinary import SharedKeyIdentity
from hotel.baseline import DEMO_API_KEY
from scenarios.model import AttackerCall, Run, Step


@dataclass
class Steal(Step):
    """The attacker copies a token out of an agent's runtime (not its DPoP key, unless
    ``with_key``); in the baseline what is there to copy is the shared API key."""

    agent: str
    principal: str
    service: str
    name: str = "stolen"
    with_key: bool = False
    attacker: bool = True

    async def run(self, run: Run) -> None:
        identity = run.agents[self.agent].identity
        if isinstance(identity, SharedKeyIdentity):
            run.loot[self.name] = {"api_key": identity.api_key}
            return
        exfiltrate = getattr(identity, "exfiltrate", None)
        found = exfiltrate(self.principal, self.service) if exfiltrate else None
        if found is not None:
            token, key = found
            run.loot[self.name] = {"token": token, "key": key if self.with_key else None}

    def describe(self) -> str:
        key = " and its DPoP key" if self.with_key else ""
        return f"attacker copies {self.agent}'s {self.service} token for {self.principal}{key}"


@dataclass
class Call(Step):
    """The attacker calls a service directly with loot (``use``), proving possession with
    their own key, the stolen key, a replayed proof, or none. In the baseline: the shared
    key, naming ``as_user`` in ``X-User``."""

    label: str
    method: str
    service: str
    path: str
    use: str = "stolen"
    proof: str = "own"  # own | stolen | replayed | none
    body: dict[str, Any] | None = None
    as_user: str = "alice"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        url = f"{run.dep.resource(self.service)}{self.path}"
        loot = None
        if run.baseline:
            headers = {"Authorization": f"Bearer {DEMO_API_KEY}", "X-User": self.as_user}
        else:
            loot = run.loot.get(self.use)
            if loot is None or "token" not in loot:
                run.attacker_calls.append(AttackerCall(self.label, 0, "nothing to use"))
                return
            headers = _presentation(loot, self.method, url, self.proof)
            if run.profile.identity == "service-account":
                headers["X-User"] = self.as_user  # the service trusts whom it names
        response = await run.dep.http.request(self.method, url, headers=headers, json=self.body)
        if loot is not None and self.proof == "own" and asks_for_nonce(response):
            # Nonces are public (RFC 9449 §9): the thief asks for one and tries again, so what
            # refuses the request is the missing key, not the missing nonce.
            headers = _presentation(loot, self.method, url, self.proof, nonce=response)
            response = await run.dep.http.request(self.method, url, headers=headers, json=self.body)
        if self.proof == "replayed" and not run.baseline:
            # The request above stands for the runtime's own, which the attacker captured
            # whole (token and proof, made with the runtime's key: ``with_key`` only lets this
            # step make it); it is not the attacker's call. The attacker sends it again: the
            # replay is the call judged.
            response = await run.dep.http.request(self.method, url, headers=headers, json=self.body)
        error = None if response.status_code < 400 else response.text[:200]
        run.attacker_calls.append(AttackerCall(self.label, response.status_code, error))

    def describe(self) -> str:
        where = f"{self.method} {self.service}{self.path}"
        return f"attacker: {where} with {self.use} ({self.proof} proof)"


def _presentation(
    loot: dict[str, Any],
    method: str,
    url: str,
    proof: str,
    *,
    nonce: httpx.Response | None = None,
) -> dict[str, str]:
    """``nonce``: an answer whose ``DPoP-Nonce`` the thief's own key puts in its proof."""
    token = str(loot["token"])
    bound = "cnf" in jwt.decode(token, options={"verify_signature": False})
    if not bound or proof == "none":
        return {"Authorization": f"{'DPoP' if bound else 'Bearer'} {token}"}
    key: DPoPKey = loot["key"] if proof in ("stolen", "replayed") and loot["key"] else DPoPKey()
    fresh = nonce.headers.get("dpop-nonce") if nonce is not None else None
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, token, nonce=fresh)}


@dataclass
class SpoofAgent(Step):
    """The attacker asks for booking-assistant's token with a forged client assertion, then
    uses whatever it got at ``service``/``path``. ``how``: forged-key | alg-none | hs256 |
    unknown-kid."""

    how: str
    agent: str = "booking-assistant"
    service: str = "availability"
    path: str = "/hotels"
    as_user: str = ""  # the user named in the baseline's X-User (default: the agent)
    attacker: bool = True

    async def run(self, run: Run) -> None:
        url = f"{run.dep.resource(self.service)}{self.path}"
        if run.baseline:
            # No agent identity to spoof: whoever holds the shared key is "the agent".
            user = self.as_user or self.agent
            headers = {"Authorization": f"Bearer {DEMO_API_KEY}", "X-User": user}
            response = await run.dep.http.get(url, headers=headers)
            run.attacker_calls.append(AttackerCall(f"spoof {self.how}", response.status_code))
            return
        assertion = _forged_assertion(run, self.agent, self.how)
        form = {
            "grant_type": "client_credentials",
            "client_id": self.agent,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            "resource": run.dep.resource(self.service),
        }
        answer = await run.dep.http.post("/token", data=form)
        if answer.status_code != 200:
            run.attacker_calls.append(
                AttackerCall(f"spoof {self.how}", answer.status_code, answer.text[:200])
            )
            return
        token = answer.json()["access_token"]
        response = await run.dep.http.get(url, headers={"Authorization": f"Bearer {token}"})
        run.attacker_calls.append(AttackerCall(f"spoof {self.how}", response.status_code))

    def describe(self) -> str:
        where = f"GET {self.service}{self.path}"
        return f"attacker authenticates as {self.agent} with a {self.how} assertion, then {where}"


def _forged_assertion(run: Run, agent: str, how: str) -> str:
    token_url = f"{run.dep.issuer}/token"
    now = int(time.time())
    claims = {
        "iss": agent,
        "sub": agent,
        "aud": token_url,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    kid = run.dep.keystore.kid(agent)
    if how == "alg-none":
        return jwt.encode(claims, cast(Any, None), algorithm="none", headers={"kid": kid})
    if how == "hs256":
        # The public key, used as an HMAC secret (the classic algorithm confusion).
        public = json.dumps(run.dep.keystore.public_jwk(agent), sort_keys=True).encode()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"
    attacker_key = ec.generate_private_key(ec.SECP256R1())
    headers = {"kid": "attacker-key-1" if how == "unknown-kid" else kid}
    return jwt.encode(claims, attacker_key, algorithm="ES256", headers=headers)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class AppToken(Step):
    """The attacker gets the booking backend's App token (its secret is in its config)."""

    service: str
    name: str = "app"
    client: str = "booking-backend"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        if run.baseline:
            return  # the shared key is all there is
        response = await run.dep.oauth.app_token(
            run.dep.app(self.client), resource=run.dep.resource(self.service)
        )
        run.loot[self.name] = {"token": response["access_token"], "key": None}

    def describe(self) -> str:
        return f"attacker obtains {self.client}'s App token for {self.service}"
