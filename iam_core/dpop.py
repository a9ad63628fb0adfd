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

Server-provided nonces (RFC 9449 §8 at the token endpoint, §9 at resource servers) bound
what the replay cache must hold: a :class:`DPoPNonces` value is an HMAC over a time window,
under a secret created once in the store, so every process and worker issues and accepts
the same nonces without any per-client state. A proof must carry the nonce of the current
or the previous window and an ``iat`` within it, so its ``jti`` needs keeping only until
that nonce expires; and no key may have more than ``max_per_key`` live proofs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
from collections import Counter, OrderedDict
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

NONCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS dpop_nonce_secret (name TEXT PRIMARY KEY, secret TEXT NOT NULL);
"""
MAX_NONCE_LENGTH = 64


class NonceRequired(TokenError):
    """The proof lacks a valid, current server nonce: answer ``use_dpop_nonce`` with a fresh
    ``DPoP-Nonce`` (RFC 9449 §8 at the token endpoint, §9 at a resource server)."""


class DPoPNonces:
    """Stateless DPoP nonces (RFC 9449 §8): ``<window>.<HMAC(secret, window)>``.

    A nonce of window ``i`` (``i = floor(now / window)``) is accepted while the current window
    is ``i`` or ``i + 1``. The secret is the store's (created once, in a transaction, by
    whichever process comes first), so all processes on one store agree; without a store it
    is random per instance.
    """

    def __init__(self, clock: Clock, secret: bytes, *, window: int = 60) -> None:
        self._clock = clock
        self._secret = secret
        self.window = window
        self._issued: tuple[int, str] = (-1, "")  # the current window's nonce, made once

    @classmethod
    def from_store(cls, store: SQLStore, clock: Clock, *, window: int = 60) -> DPoPNonces:
        store.ensure_schema(NONCE_SCHEMA)
        with store.transaction():
            store.execute(
                "INSERT INTO dpop_nonce_secret (name, secret) VALUES ('dpop-nonce', ?)"
                " ON CONFLICT DO NOTHING",
                (secrets.token_hex(32),),
            )
            row = store.one("SELECT secret FROM dpop_nonce_secret WHERE name = 'dpop-nonce'")
        assert row is not None
        return cls(clock, bytes.fromhex(str(row["secret"])), window=window)

    @classmethod
    def ephemeral(cls, clock: Clock, *, window: int = 60) -> DPoPNonces:
        return cls(clock, secrets.token_bytes(32), window=window)

    def reset_state(self) -> None:
        """Forget the nonce made for the current window (a cache of the HMAC, remade on use)."""
        self._issued = (-1, "")

    def _index(self) -> int:
        return math.floor(self._clock.now() / self.window)

    def _mac(self, index: int) -> str:
        digest = hmac.new(self._secret, f"dpop-nonce:{index}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def current(self) -> str:
        """The nonce to hand out now (in every ``DPoP-Nonce`` header)."""
        index = self._index()
        cached = self._issued
        if cached[0] == index:  # one HMAC per window, not one per response
            return cached[1]
        nonce = f"{index:x}.{self._mac(index)}"
        self._issued = (index, nonce)
        return nonce

    def window_of(self, nonce: object) -> tuple[float, float]:
        """``(start, end)`` of the window a valid nonce was issued in and the time it stops
        being accepted; raises :class:`NonceRequired` for a missing, forged or stale nonce."""
        if nonce is None:
            raise NonceRequired("DPoP proof needs the server's nonce")
        if not isinstance(nonce, str) or len(nonce) > MAX_NONCE_LENGTH:
            raise NonceRequired("DPoP proof nonce is invalid")
        head, _, mac = nonce.partition(".")
        try:
            index = int(head, 16) if 0 < len(head) <= 16 and head.isalnum() else None
        except ValueError:
            index = None
        if index is None or not hmac.compare_digest(mac.encode(), self._mac(index).encode()):
            raise NonceRequired("DPoP proof nonce is invalid")
        if index not in (self._index(), self._index() - 1):
            raise NonceRequired("DPoP proof nonce is stale")
        return float(index * self.window), float((index + 2) * self.window)


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
        max_per_key: int = 10_000,
    ) -> None:
        self._clock = clock
        self._capacity = capacity
        self.max_per_key = max_per_key
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._per_key: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._store = store
        self._scope = scope
        if store is not None:
            store.ensure_schema(SCHEMA)

    def reset_state(self) -> None:
        with self._lock:  # stored jtis are restored with the store
            self._seen.clear()
            self._per_key.clear()

    def __len__(self) -> int:
        if self._store is not None:
            row = self._store.one(
                "SELECT COUNT(*) AS n FROM dpop_jtis WHERE scope = ?", (self._scope,)
            )
            return int(row["n"]) if row else 0
        return len(self._seen)

    def first_use(self, key: str, expires_at: float) -> bool:
        """True the first time ``key`` is seen; False on a replay or when full of live jtis."""
        return self.record(key, expires_at) == "new"

    def record(self, key: str, expires_at: float) -> str:
        """Record ``key`` (``<jkt>:<jti>``): ``"new"``, ``"replay"``, or ``"full"`` when its
        ``jkt`` already has ``max_per_key`` live jtis (or the in-memory cache is full)."""
        now = self._clock.now()
        jkt = key.partition(":")[0]
        if self._store is not None:
            # The primary key (scope, jti) orders a key's jtis together: "<jkt>:" to "<jkt>;".
            params = [self._scope, key, expires_at, self._scope, f"{jkt}:", f"{jkt};", now]
            cur = self._store.execute(
                "INSERT INTO dpop_jtis (scope, jti, expires_at) SELECT ?, ?, ?"
                " WHERE (SELECT COUNT(*) FROM dpop_jtis WHERE scope = ? AND jti >= ?"
                " AND jti < ? AND expires_at > ?) < ? ON CONFLICT DO NOTHING",
                (*params, self.max_per_key),
            )
            if cur.rowcount == 1:
                return "new"
            seen = self._store.one(
                "SELECT 1 FROM dpop_jtis WHERE scope = ? AND jti = ?", (self._scope, key)
            )
            return "replay" if seen else "full"
        with self._lock:
            while self._seen:
                oldest, expiry = next(iter(self._seen.items()))
                if expiry > now:
                    break
                del self._seen[oldest]
                self._forget(oldest.partition(":")[0])
            if key in self._seen:
                return "replay"
            if len(self._seen) >= self._capacity or self._per_key[jkt] >= self.max_per_key:
                return "full"
            self._seen[key] = expires_at
            self._per_key[jkt] += 1
            return "new"

    def _forget(self, jkt: str) -> None:
        self._per_key[jkt] -= 1
        if self._per_key[jkt] <= 0:
            del self._per_key[jkt]


@dataclass(frozen=True, slots=True)
class DPoPProof:
    jkt: str  # RFC 7638 thumbprint of the proof's public key
    jti: str
    expires_at: float = 0.0  # until when its jti must be kept (the nonce's last window)


def access_token_hash(token: str) -> str:
    """``ath``: base64url(SHA-256(ASCII(access token))), RFC 9449 §4.2."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def normalise_htu(url: str) -> str:
    """The URL without query and fragment, scheme and host lower-cased (RFC 9449 §4.3 item 9)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


class DPoPVerifier:
    """RFC 9449 §4.3 proof checks; with ``nonces``, a server nonce is required (§8, §9).

    ``leeway``: how far before its nonce's window a proof's ``iat`` may lie (clock skew).
    """

    def __init__(
        self,
        clock: Clock,
        replay: ReplayCache,
        *,
        max_age: int = 60,
        nonces: DPoPNonces | None = None,
        leeway: int = 5,
    ) -> None:
        self._clock = clock
        self._replay = replay
        self.max_age = max_age
        self.nonces = nonces
        self.leeway = leeway

    def verify(
        self,
        proof: str,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        record: bool = True,
    ) -> DPoPProof:
        """Check a proof for this request (RFC 9449 §4.3); raises TokenError with the reason
        (:class:`NonceRequired` when the server nonce is missing or stale).

        ``record=False`` leaves the ``jti`` unrecorded: the caller calls :meth:`record` once
        the request is authenticated (the token endpoint, after client authentication).
        """
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
        expires_at = float(iat) + 2 * self.max_age
        if self.nonces is not None:
            # RFC 9449 §8/§9 (§4.3 item 10): the nonce is the server's; the proof's iat lies
            # within its window, so a jti needs keeping only while the nonce is accepted.
            start, expires_at = self.nonces.window_of(claims.get("nonce"))
            if iat < start - self.leeway:
                raise NonceRequired("DPoP proof iat lies before its nonce's window")
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not hmac.compare_digest(
                ath, access_token_hash(access_token)
            ):
                raise TokenError("DPoP proof ath does not match the access token")
        if not isinstance(claims["jti"], str):
            raise TokenError("DPoP proof jti must be a string")
        verified = DPoPProof(
            jkt=jwk_thumbprint(dict(jwk)), jti=claims["jti"], expires_at=expires_at
        )
        if record:
            self.record(verified)
        return verified

    def record(self, proof: DPoPProof) -> None:
        """Record the proof's ``jti``: refused if seen before, or if its key has too many live
        proofs (the replay store stays bounded per key)."""
        outcome = self._replay.record(f"{proof.jkt}:{proof.jti}", proof.expires_at)
        if outcome == "replay":
            raise TokenError("DPoP proof was used before (jti replay)")
        if outcome == "full":
            raise TokenError("too many DPoP proofs by this key within the nonce window")


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
