"""Signing keys of the issuer: generation, rotation and the published JWKS.

The private keys never leave this module: callers ask a :class:`KeyRing` to *sign* claims
and read *public* keys from it. Agents' private keys are not here at all; they live with
the agent runtime, and the registry only holds their public JWKs.

Rotation (RFC 7517 §5, RFC 8725 §3.1): :meth:`KeyRing.rotate` makes a new key the signer;
retired keys stay in the JWKS for ``retain_for`` seconds (the longest token lifetime plus
leeway), so every token they signed still verifies until it has expired.

Every process on the store sees a rotation made by another (a worker of ``serve --workers
N``, ``agent-iam admin keys rotate``): a ring compares a fingerprint of the stored key set at
most every ``refresh_every`` seconds (:data:`REFRESH_EVERY`) and at once, at most every
:data:`MISS_REFRESH` seconds, when asked for a ``kid`` it does not hold; it then reloads.
Within that bound every process signs with the new key and stops accepting a key once its
retention has passed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, get_default_algorithms

from iam_core.clock import Clock
from iam_core.store import AnyStore

SUPPORTED_ALGS = ("ES256", "RS256")
REFRESH_EVERY = 0.5  # seconds between checks of the stored key set for another's rotation
MISS_REFRESH = 0.05  # at most this often on an unknown kid: a flood of them costs no queries
_ALGORITHMS = get_default_algorithms()

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    alg TEXT NOT NULL,
    private_pem BLOB NOT NULL,
    created_at REAL NOT NULL,
    retired_at REAL,
    activated_at REAL
);
"""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key as a verifier needs it: the algorithm is pinned by the key, not the token."""

    kid: str
    alg: str
    key: PublicKey


class KeySource(Protocol):
    """Where a verifier finds the public key for a ``kid`` (a local key ring or a remote JWKS)."""

    def get_key(self, kid: str) -> VerificationKey | None: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(value: dict[str, Any]) -> str:
    # orjson: native speed on the signing path; json for what it refuses (an integer beyond
    # 64 bits in authorization_details, say). Both write compact RFC 8259 JSON.
    try:
        data = orjson.dumps(value)
    except TypeError:
        data = json.dumps(value, separators=(",", ":")).encode()
    return _b64(data)


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {SUPPORTED_ALGS}")


def public_jwk(key: PublicKey) -> dict[str, Any]:
    """The public JWK members of ``key`` (RFC 7517 §4, RFC 7518 §6)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return dict(ECAlgorithm.to_jwk(key, as_dict=True))
    return dict(RSAAlgorithm.to_jwk(key, as_dict=True))


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3 thumbprint: SHA-256 over the required members in lexicographic order."""
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }
    members = required.get(str(jwk.get("kty")))
    if members is None or any(m not in jwk for m in members):
        raise ValueError("JWK lacks the members its key type requires")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def alg_for_key(key: PublicKey) -> str:
    return "ES256" if isinstance(key, ec.EllipticCurvePublicKey) else "RS256"


def verification_key_from_jwk(jwk: dict[str, Any]) -> VerificationKey:
    """Parse a public JWK; the ``alg`` is pinned from the key type, never chosen by a token."""
    try:
        key = jwt.PyJWK.from_dict(dict(jwk)).key
    except Exception as exc:
        raise ValueError(f"not a usable public JWK: {type(exc).__name__}") from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise ValueError("only EC P-256 and RSA public keys are accepted")
    if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("only the P-256 curve is accepted for EC keys")
    alg = alg_for_key(key)
    if jwk.get("alg") not in (None, alg):
        raise ValueError(f"JWK alg {jwk.get('alg')!r} does not fit its key type")
    kid = str(jwk.get("kid") or jwk_thumbprint(jwk))
    return VerificationKey(kid=kid, alg=alg, key=key)


@dataclass(slots=True)
class _Key:
    kid: str
    alg: str
    private: PrivateKey
    created_at: float
    retired_at: float | None
    activated_at: float | None  # None: the next key, published but not signing yet
    public: VerificationKey


def _key(
    kid: str,
    alg: str,
    private: PrivateKey,
    created: float,
    retired: float | None,
    activated: float | None,
) -> _Key:
    public = VerificationKey(kid, alg, private.public_key())
    return _Key(kid, alg, private, created, retired, activated, public)


class KeyRing:
    """The issuer's signing keys for one purpose, persisted in the store.

    Besides the signer, the ring always holds the next ``AHEAD`` keys, published in the JWKS
    before they sign anything: a resource server that fetched the JWKS a moment before a
    rotation already knows the key of every token minted after it (RFC 7517 §5), so the rate
    limit on JWKS refetches never locks out fresh tokens — for up to ``AHEAD`` rotations
    within one refetch interval (a third within the same few seconds would cost a refetch).
    """

    AHEAD = 2

    def __init__(
        self,
        store: AnyStore,
        clock: Clock,
        *,
        purpose: str = "access-token",
        alg: str = "ES256",
        retain_for: float = 3600.0,
        refresh_every: float = REFRESH_EVERY,
    ) -> None:
        self._store = store
        self._clock = clock
        self._purpose = purpose
        self._retain_for = retain_for
        self._refresh_every = refresh_every
        store.ensure_schema(SCHEMA)
        self._keys: dict[str, _Key] = {}
        self._fingerprint: tuple[Any, ...] = ()
        self._checked_at = clock.now()
        # One write transaction: processes starting together on a fresh database agree on
        # one signing key instead of each making its own (docs/design.md).
        with store.transaction():
            self._keys = self._load()
            if self._signer() is None:
                self.rotate(alg)
            self._fill_ahead(self._current().alg)
            self._fingerprint = self._stored_fingerprint()

    def reset_state(self) -> None:
        """Hold the keys of the (restored) store (iam_core/state_reset.py); reloaded only when
        they differ from those held (a run rotated or retired one)."""
        rows = self._store.all(
            "SELECT kid, retired_at, activated_at FROM signing_keys WHERE purpose = ?"
            " ORDER BY created_at, rowid",
            (self._purpose,),
        )
        self._checked_at = float("-inf")  # look at the stored key set on first use
        held = [(k.kid, k.retired_at, k.activated_at) for k in self._keys.values()]
        if [tuple(row) for row in rows] == held:
            return
        with self._store.transaction():
            self._keys = self._load()
            self._fingerprint = self._stored_fingerprint()

    def _load(self) -> dict[str, _Key]:
        """The stored keys, reusing the parsed private keys already held."""
        keys: dict[str, _Key] = {}
        for row in self._store.all(
            "SELECT kid, alg, private_pem, created_at, retired_at, activated_at FROM "
            "signing_keys WHERE purpose = ? ORDER BY created_at, rowid",
            (self._purpose,),
        ):
            held = self._keys.get(row["kid"])
            if held is not None:
                private = held.private
            else:
                loaded = serialization.load_pem_private_key(row["private_pem"], password=None)
                assert isinstance(loaded, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
                private = loaded
            keys[row["kid"]] = _key(
                row["kid"],
                row["alg"],
                private,
                row["created_at"],
                row["retired_at"],
                row["activated_at"],
            )
        return keys

    def _stored_fingerprint(self) -> tuple[Any, ...]:
        # Rotation adds a key and sets activated_at and retired_at: any of these changes it.
        row = self._store.one(
            "SELECT COUNT(*), MAX(created_at), MAX(activated_at), MAX(retired_at) "
            "FROM signing_keys WHERE purpose = ?",
            (self._purpose,),
        )
        return tuple(row) if row is not None else ()

    def refresh(self) -> bool:
        """Reload the key set if another process changed it; True if it did."""
        self._checked_at = self._clock.now()
        fingerprint = self._stored_fingerprint()
        if fingerprint == self._fingerprint:
            return False
        # Swapped whole: a reader on another thread sees the old set or the new one.
        self._keys, self._fingerprint = self._load(), fingerprint
        return True

    def _fresh(self, every: float) -> None:
        elapsed = self._clock.now() - self._checked_at
        if elapsed >= every or elapsed < 0:
            self.refresh()

    @property
    def current_kid(self) -> str:
        return self._current().kid

    def _signer(self) -> _Key | None:
        live = [k for k in self._keys.values() if k.retired_at is None and k.activated_at]
        return max(live, key=lambda k: k.activated_at or 0.0) if live else None

    def _current(self) -> _Key:
        self._fresh(self._refresh_every)
        signer = self._signer()
        assert signer is not None  # the constructor always makes one
        return signer

    def _upcoming(self) -> list[_Key]:
        """The published keys that will sign next, oldest first."""
        waiting = [
            k for k in self._keys.values() if k.retired_at is None and k.activated_at is None
        ]
        return sorted(waiting, key=lambda k: k.created_at)

    def _next(self) -> _Key | None:
        upcoming = self._upcoming()
        return upcoming[0] if upcoming else None

    def _fill_ahead(self, alg: str) -> None:
        for _ in range(self.AHEAD - len(self._upcoming())):
            self._add(alg, activated=None)

    def _add(self, alg: str, *, activated: float | None) -> _Key:
        private = generate_private_key(alg)
        kid = jwk_thumbprint(public_jwk(private.public_key()))
        now = self._clock.now()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._store.execute(
            "INSERT INTO signing_keys VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (kid, self._purpose, alg, pem, now, activated),
        )
        self._keys[kid] = _key(kid, alg, private, now, None, activated)
        return self._keys[kid]

    def rotate(self, alg: str | None = None) -> str:
        """Make the next key the signer (or a new one, for another ``alg``), retire the old
        signer, and publish a fresh next key; returns the new signer's ``kid``."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            # Under the write lock, from the stored set: another process may have rotated.
            self._keys = self._load()
            old = self._signer()
            alg = alg or (old.alg if old else "ES256")
            upcoming = self._next()
            if upcoming is not None and upcoming.alg == alg:
                upcoming.activated_at = now
                tx.execute(
                    "UPDATE signing_keys SET activated_at = ? WHERE kid = ?", (now, upcoming.kid)
                )
                signer = upcoming
            else:
                signer = self._add(alg, activated=now)
            if old is not None:
                old.retired_at = now
                tx.execute("UPDATE signing_keys SET retired_at = ? WHERE kid = ?", (now, old.kid))
            self._fill_ahead(alg)
            self._fingerprint = self._stored_fingerprint()
        return signer.kid

    def _published(self, key: _Key) -> bool:
        return key.retired_at is None or key.retired_at + self._retain_for > self._clock.now()

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        """A compact JWS over ``claims`` by the current key, with ``kid`` and ``typ`` headers."""
        key = self._current()
        header = {"alg": key.alg, "kid": key.kid, "typ": typ}
        signing_input = f"{_b64json(header)}.{_b64json(claims)}".encode()
        # PyJWT's algorithm signs (and turns an ECDSA signature into JWS's raw r||s form).
        signature = _ALGORITHMS[key.alg].sign(signing_input, key.private)
        return f"{signing_input.decode()}.{_b64(signature)}"

    def get_key(self, kid: str) -> VerificationKey | None:
        self._fresh(self._refresh_every)
        key = self._keys.get(kid)
        if key is None:
            # Perhaps a key another process just made: look now, but not on every miss.
            self._fresh(MISS_REFRESH)
            key = self._keys.get(kid)
        if key is None or not self._published(key):
            return None
        return key.public

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK Set (RFC 7517 §5): the signer, the next keys, and retired keys still
        within their window."""
        self._fresh(self._refresh_every)
        keys = []
        for key in self._keys.values():
            if self._published(key):
                jwk = public_jwk(key.private.public_key())
                jwk.update(kid=key.kid, alg=key.alg, use="sig")
                keys.append(jwk)
        return {"keys": keys}
