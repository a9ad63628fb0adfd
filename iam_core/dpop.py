"""DPoP proofs (RFC 9449): sender-constrained tokens.

A client proves possession of a key with a fresh, single-use JWT (``typ: dpop+jwt``) that
names the HTTP method and URL of the request and, at a resource server, the hash of the
access token (``ath``). The token endpoint binds the tokens it issues to that key's
thumbprint (``cnf.jkt``, RFC 9449 §6); a resource server then accepts a bound token only
with a valid proof by the same key, so a stolen token is useless without the key.

Verification follows RFC 9449 §4.3 step by step. The ``jti`` replay cache lives in the
store when given one (table ``dpop_jtis``), so that a proof used at one process or worker,
or before a restart, is refused everywhere after (docs/design.md); in memory it is bounded
and fails closed when full of live entries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt

from iam_core.clock import Clock
from iam_core.errors import TokenError
from iam_core.keys import jwk_thumbprint, verification_key_from_jwk
from iam_core.store import SQLStore
from iam_core.tokens import parse_compact

DPOP_TYP = "dpop+jwt"
MAX_PROOF_LENGTH = 4096
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

SCHEMA = """
CREATE TABLE IF NOT EXISTS dpop_jtis (
    scope TEXT NOT NULL, jti TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (scope, jti)
);
CREATE INDEX IF NOT EXISTS dpop_jtis_exp ON dpop_jtis (expires_at);
"""


class ReplayCache:
    """Seen proof ``jti`` values until they can no longer be fresh; bounded, fails closed.

    ``store``: keep them in the database, shared by every process using it; ``scope`` names
    the verifier (the token endpoint, a service), since a proof names one URL anyway.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        capacity: int = 200_000,
        store: SQLStore | None = None,
        scope: str = "dpop",
    ) -> None:
        self._clock = clock
        self._capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._store = store
        self._scope = scope
        if store is not None:
            store.ensure_schema(SCHEMA)

    def __len__(self) -> int:
        if self._store is not None:
            row = self._store.one(
                "SELECT COUNT(*) AS n FROM dpop_jtis WHERE scope = ?", (self._scope,)
            )
            return int(row["n"]) if row else 0
        return len(self._seen)

    def first_use(self, key: str, expires_at: float) -> bool:
        """True the first time ``key`` is seen; False on a replay or when full of live jtis."""
        now = self._clock.now()
        if self._store is not None:
            cur = self._store.execute(
                "INSERT INTO dpop_jtis (scope, jti, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (self._scope, key, expires_at),
            )
            return cur.rowcount == 1
        with self._lock:
            while self._seen:
                oldest, expiry = next(iter(self._seen.items()))
                if expiry > now:
                    break
                del self._seen[oldest]
            if key in self._seen or len(self._seen) >= self._capacity:
                return False
            self._seen[key] = expires_at
            return True


@dataclass(frozen=True, slots=True)
class DPoPProof:
    jkt: str  # RFC 7638 thumbprint of the proof's public key
    jti: str


def access_token_hash(token: str) -> str:
    """``ath``: base64url(SHA-256(ASCII(access token))), RFC 9449 §4.2."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def normalise_htu(url: str) -> str:
    """The URL without query and fragment, scheme and host lower-cased (RFC 9449 §4.3 item 9)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


class DPoPVerifier:
    def __init__(self, clock: Clock, replay: ReplayCache, *, max_age: int = 60) -> None:
        self._clock = clock
        self._replay = replay
        self.max_age = max_age

    def verify(
        self, proof: str, *, method: str, url: str, access_token: str | None = None
    ) -> DPoPProof:
        """Check a proof for this request (RFC 9449 §4.3); raises TokenError with the reason."""
        if len(proof) > MAX_PROOF_LENGTH or proof.count(".") != 2:
            raise TokenError("DPoP proof is not a compact JWS")
        try:
            # The bounded parser (iam_core.safe_json) reads header and claims; PyJWT is
            # never handed the unparsed proof.
            jws = parse_compact(proof, MAX_PROOF_LENGTH)
        except TokenError as exc:
            raise TokenError(f"DPoP proof is malformed: {exc}") from exc
        header, claims = jws.header, jws.claims
        if header.get("typ") != DPOP_TYP:
            raise TokenError(f"DPoP proof typ must be {DPOP_TYP}")
        jwk = header.get("jwk")
        if not isinstance(jwk, Mapping) or any(m in jwk for m in _PRIVATE_MEMBERS):
            raise TokenError("DPoP proof must carry a public jwk header")
        try:
            key = verification_key_from_jwk(dict(jwk))
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise TokenError("DPoP proof jwk is not an accepted public key") from exc
        if header.get("alg") != key.alg:
            raise TokenError("DPoP proof alg does not match its key")
        try:
            jws.verify_with(key)
        except TokenError as exc:
            raise TokenError(f"DPoP proof rejected: {exc}") from exc
        for name in ("jti", "htm", "htu", "iat"):
            if name not in claims:
                raise TokenError(f"DPoP proof rejected: MissingRequiredClaimError ({name})")
        if claims["htm"] != method.upper():
            raise TokenError("DPoP proof htm does not match the request method")
        if not isinstance(claims["htu"], str) or normalise_htu(claims["htu"]) != normalise_htu(url):
            raise TokenError("DPoP proof htu does not match the request URL")
        iat = claims["iat"]
        now = self._clock.now()
        if (
            not isinstance(iat, (int, float))
            or isinstance(iat, bool)
            or not math.isfinite(iat)
            or abs(now - iat) > self.max_age
        ):
            raise TokenError("DPoP proof is not fresh (iat)")
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not hmac.compare_digest(
                ath, access_token_hash(access_token)
            ):
                raise TokenError("DPoP proof ath does not match the access token")
        jkt = jwk_thumbprint(dict(jwk))
        if not isinstance(claims["jti"], str) or not self._replay.first_use(
            f"{jkt}:{claims['jti']}", float(iat) + 2 * self.max_age
        ):
            raise TokenError("DPoP proof was used before (jti replay)")
        return DPoPProof(jkt=jkt, jti=claims["jti"])


def check_binding(token_claims: Mapping[str, Any], proof: DPoPProof | None) -> None:
    """A token bound with ``cnf.jkt`` needs a proof by that key (RFC 9449 §7.1)."""
    cnf = token_claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    if jkt is None:
        return
    if proof is None:
        raise TokenError("the token is DPoP-bound: a DPoP proof is required")
    if not hmac.compare_digest(str(jkt), proof.jkt):
        raise TokenError("DPoP key thumbprint does not match the token's cnf.jkt")


def prune_dpop_jtis(store: SQLStore, now: float) -> int:
    """Forget proofs that can no longer be fresh (retention, docs/design.md)."""
    store.ensure_schema(SCHEMA)
    return int(store.execute("DELETE FROM dpop_jtis WHERE expires_at <= ?", (now,)).rowcount)
