"""The client side of DPoP (RFC 9449): an agent runtime's proof-of-possession key.

Each proof is a fresh JWT (``typ: dpop+jwt``) with the public key in its header, the
request's method and URL, a unique ``jti`` and, at resource servers, the access token's
hash (``ath``). The key is the runtime's own and never leaves it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

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

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        """A DPoP proof for one request (RFC 9449 §4.2); the URL without query or fragment."""
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
