"""The client side of DPoP (RFC 9449): an agent runtime's proof-of-possession key.

Each proof is a fresh JWT (``typ: dpop+jwt``) with the public key in its header, the
request's method and URL, a unique ``jti`` and, at resource servers, the access token's
hash (``ath``). The key is the runtime's own and never leaves it.

Servers require a nonce of theirs in each proof (RFC 9449 §8, §9): the key remembers the
latest ``DPoP-Nonce`` each server (origin) sent (:meth:`DPoPKey.observe`) and puts it in
the next proof; on a ``use_dpop_nonce`` answer the caller retries once with the new one.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from agents.clock import WALL_CLOCK, Clock


class DPoPKey:
    def __init__(
        self, private_key: ec.EllipticCurvePrivateKey | None = None, *, clock: Clock = WALL_CLOCK
    ) -> None:
        self._clock = clock  # stamps each proof's iat
        self._private = private_key or ec.generate_private_key(ec.SECP256R1())
        public = ECKey.import_key(self._private.public_key())
        self._jwk: dict[str, Any] = dict(public.as_dict(private=False))
        self.jkt = public.thumbprint()  # RFC 7638, what the server puts in cnf.jkt
        self.nonces: dict[str, str] = {}  # the latest DPoP-Nonce of each origin (§8.1)

    def reset_state(self) -> None:
        """Forget the servers' nonces; the key pair stays (a client keeps its key)."""
        self.nonces.clear()

    def proof(
        self, method: str, url: str, access_token: str | None = None, *, nonce: str | None = None
    ) -> str:
        """A DPoP proof for one request (RFC 9449 §4.2); the URL without query or fragment,
        with ``nonce`` or else the latest one the URL's server gave (§8.1, §9)."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": url.split("?", 1)[0].split("#", 1)[0],
            "iat": int(self._clock.now()),
        }
        nonce = nonce if nonce is not None else self.nonces.get(_origin(url))
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        header = {"typ": "dpop+jwt", "jwk": self._jwk}
        return jwt.encode(claims, self._private, algorithm="ES256", headers=header)

    def observe(self, url: str, response: httpx.Response) -> bool:
        """Remember the ``DPoP-Nonce`` of ``response`` (from ``url``'s server); True when the
        server asked for it (``use_dpop_nonce``, RFC 9449 §8: 400 at the token endpoint, §9:
        a 401 challenge at a resource server) and a retry with a new proof may succeed."""
        nonce = response.headers.get("dpop-nonce")
        if nonce is None:
            return False
        self.nonces[_origin(url)] = nonce
        return asks_for_nonce(response)


def asks_for_nonce(response: httpx.Response) -> bool:
    """Whether ``response`` is a ``use_dpop_nonce`` error (RFC 9449 §8, §9)."""
    if response.status_code == 401:
        return 'error="use_dpop_nonce"' in response.headers.get("www-authenticate", "")
    if response.status_code == 400:
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"
    return False


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
