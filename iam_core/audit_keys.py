"""What the audit log seals and with which keys: canonical bytes, the chain hash, the
checkpoint key and the head seal (the verification walk is in :mod:`iam_core.audit_verify`).

The keys are an ES256 key that signs checkpoints and an HMAC key that seals the head. Both live
outside the audit database (one JSON file, mode 0600), so that whoever can rewrite the database
file still cannot produce a checkpoint or a head seal that verifies. They serve the audit log
only and are never the keys that sign access tokens: those sign on every request and rotate
first, while the audit key must keep verifying old checkpoints.

A checkpoint is a compact JWS (RFC 7515) over ``{"seq", "hash", "iat"}`` with header
``{"alg": "ES256", "kid": <RFC 7638 thumbprint>, "typ": "audit-checkpoint+jwt"}``; the explicit
``typ`` keeps a checkpoint from being taken for any other JWT (RFC 8725 §3.11).

Canonical bytes are RFC 8785 (JSON Canonicalization Scheme). The ``rfc8785`` package needs
~34 µs per entry, so :func:`canonical_bytes` and the verification walk use ``orjson`` (sorted
keys, compact, UTF-8, native code) for every value in the *fast domain*, where the two provably
agree (:func:`agrees_with_jcs`; tests/property/test_canonical_json.py checks it against
``rfc8785`` over generated entries): strings (escaping is identical, control characters
included), booleans, null, integers within ±(2**53 - 1), floats that are finite, not integral and
within 1e-4 <= |x| < 1e16 (there both print the shortest round-trip digits without an exponent),
lists, and objects whose member names are ASCII (so code-point and UTF-16 order coincide). Any
other value (an integral or huge float, a big integer, a non-ASCII member name) is serialised
by ``rfc8785`` itself, at append and at verification alike, so every stored body is RFC 8785
whichever path wrote it, and ``AuditLog.verify`` rejects a body that is not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import orjson
import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec

from iam_core.errors import IAMError

CHECKPOINT_TYP = "audit-checkpoint+jwt"
GENESIS_HASH = "0" * 64
_ALG = "ES256"
_MAC_KEY_BYTES = 32
_COORD_BYTES = 32  # P-256 coordinates and private scalar
_SAFE_INT = 2**53 - 1  # RFC 8785 §3.2.2.3: the integers an IEEE 754 double holds exactly
# The members of an entry's canonical form: every AuditEntry field but its hash.
ENTRY_FIELDS = frozenset(
    {"seq", "time", "event", "outcome", "reason", "sub", "act", "client_id", "token_type", "jti"}
    | {"scope", "service", "method", "path", "object_id", "trace_id", "actor_kind", "details"}
    | {"prev_hash"}
)
_SORTED = orjson.OPT_SORT_KEYS


class AuditError(IAMError):
    """The audit log cannot record an event, or an audit key file is unusable."""


class AuditKeyMissing(AuditError):
    """The key a log was sealed with is not there: never a verdict on the log itself.

    A log whose key is lost can no longer be verified or extended; creating a fresh key would
    make every later check report tampering (docs/design.md, the audit trust model).
    """


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def agrees_with_jcs(value: Any) -> bool:
    """Whether ``value`` lies in the fast domain, where ``orjson`` writes it byte for byte as
    RFC 8785 does (module doc)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            kind = type(v)
            if kind is not str and v is not None and not agrees_with_jcs(v):
                return False
        return True
    if kind is list:
        return all(agrees_with_jcs(item) for item in value)
    if kind is float:
        return 1e-4 <= abs(value) < 1e16 and not value.is_integer()
    return False


def canonical_bytes(doc: dict[str, Any], *, agrees: bool) -> bytes:
    """The RFC 8785 serialisation of ``doc``; ``agrees`` selects the fast path (module doc)."""
    if agrees:
        return orjson.dumps(doc, option=_SORTED)
    try:
        return rfc8785.dumps(doc)
    except rfc8785.CanonicalizationError as exc:
        raise AuditError(f"audit entry is not representable as RFC 8785 JSON: {exc}") from exc


def fast_canonical(doc: dict[str, Any]) -> bytes | None:
    """The RFC 8785 bytes of an object whose member names are ASCII (an entry's are) when its
    values lie in the fast domain, else None (use ``rfc8785``)."""
    for value in doc.values():
        kind = type(value)
        if kind is str or value is None:
            continue
        if kind is int:
            if -_SAFE_INT <= value <= _SAFE_INT:
                continue
            return None
        if kind is float:
            if 1e-4 <= abs(value) < 1e16 and not value.is_integer():
                continue
            return None
        if kind is list and all(type(item) is str for item in value):
            continue
        if not agrees_with_jcs(value):
            return None
    return orjson.dumps(doc, option=_SORTED)


def chain_hash(prev_hash: str, body: bytes) -> str:
    """``hex(SHA-256(bytes.fromhex(prev_hash) || body))``: one link of the chain."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def _parse_int(text: str) -> int | float:
    # RFC 8785 prints an integral float such as 2.0**53 as "9007199254740992", beyond the
    # integers it accepts; read it back as the float it was, so it re-serialises identically.
    value = int(text)
    return value if -_SAFE_INT <= value <= _SAFE_INT else float(value)


def loads(body: str | bytes) -> Any:
    """Parse a stored body so that ``rfc8785.dumps`` gives back the same bytes."""
    return json.loads(body, parse_int=_parse_int)


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The verdict of ``AuditLog.verify``: the first seq it cannot vouch for, and why."""

    ok: bool
    entries_checked: int
    checkpoints_checked: int
    first_bad_seq: int | None
    reason: str
    seconds: float = 0.0  # how long the walk took (``AuditLog.verify`` fills it in)

    @property
    def entries_per_second(self) -> float:
        """Entries checked per second of the walk (0 when it was not timed)."""
        return self.entries_checked / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class CheckpointClaim:
    """What a verified checkpoint vouches for: the chain hash after entry ``seq``."""

    seq: int
    hash: str


class AuditKey:
    """The checkpoint-signing key pair and the head-sealing MAC key of one audit log."""

    __slots__ = ("_mac", "_mac_key", "_private", "_public", "kid")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, mac_key: bytes) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise AuditError("the audit checkpoint key must be on P-256 (ES256)")
        if len(mac_key) != _MAC_KEY_BYTES:
            raise AuditError(f"the audit MAC key must be {_MAC_KEY_BYTES} bytes")
        self._private = private_key
        self._public = private_key.public_key()
        self._mac_key = mac_key
        # Copying a keyed HMAC is the cheapest seal (OpenSSL 3 re-fetches the digest on each
        # hmac.new/hmac.digest), and sealing is on the append path.
        self._mac = hmac.new(mac_key, digestmod=hashlib.sha256)
        self.kid = self._thumbprint()

    @classmethod
    def generate(cls) -> AuditKey:
        """A fresh P-256 key and a fresh 32-byte MAC key."""
        return cls(ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(_MAC_KEY_BYTES))

    @classmethod
    def load(cls, path: Path) -> AuditKey:
        """The key in the file at ``path``; :class:`AuditKeyMissing` when there is none."""
        path = Path(path)
        if not path.exists():
            raise AuditKeyMissing(f"audit key file {path} is missing")
        return cls._from_file(path)

    @classmethod
    def load_or_create(cls, path: Path) -> AuditKey:
        """Load the key file at ``path``, creating it (mode 0600) if it does not exist yet.

        Creation writes a private temporary file and hard-links it into place, so that two
        processes starting together agree on one key and never read a half-written file.
        """
        path = Path(path)
        if not path.exists():
            key = cls.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(key._to_file(), out)
                    out.flush()
                    os.fsync(out.fileno())
                try:
                    os.link(tmp, path)
                    return key
                except FileExistsError:
                    pass  # another process won the race; use its key
            finally:
                tmp.unlink(missing_ok=True)
        return cls._from_file(path)

    def public_jwk(self) -> dict[str, Any]:
        """The public checkpoint key as a JWK (RFC 7517), for verifiers outside this process."""
        return {**self._jwk_members(), "kid": self.kid, "alg": _ALG, "use": "sig"}

    def sign_checkpoint(self, seq: int, chain_hash: str, iat: int) -> str:
        """A compact JWS binding the chain hash at ``seq``; called by ``AuditLog``."""
        return jwt.encode(
            {"seq": seq, "hash": chain_hash, "iat": iat},
            self._private,
            algorithm=_ALG,
            headers={"kid": self.kid, "typ": CHECKPOINT_TYP},
        )

    def read_checkpoint(self, token: str) -> CheckpointClaim:
        """The (seq, hash) a checkpoint vouches for; raises :class:`AuditError` naming the flaw.

        The algorithm is pinned to ES256 and the key to this one, so neither ``alg: none`` nor a
        checkpoint signed by some other key is accepted (RFC 8725 §3.1).
        """
        try:
            decoded = jwt.PyJWS().decode_complete(token, self._public, algorithms=[_ALG])
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuditError(f"signature invalid ({exc})") from exc
        header = decoded["header"]
        if header.get("typ") != CHECKPOINT_TYP:
            raise AuditError(f"typ is {header.get('typ')!r}, not {CHECKPOINT_TYP!r}")
        if header.get("kid") != self.kid:
            raise AuditError(f"signed under kid {header.get('kid')!r}, not the audit key")
        try:
            claims = json.loads(decoded["payload"])
        except ValueError as exc:
            raise AuditError("payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise AuditError("payload is not a JSON object")
        seq, chain_hash = claims.get("seq"), claims.get("hash")
        if type(seq) is not int or not isinstance(chain_hash, str):
            raise AuditError("payload lacks an integer seq and a string hash")
        return CheckpointClaim(seq, chain_hash)

    def seal_head(self, seq: int, chain_hash: str) -> str:
        """HMAC-SHA256 over ``f"{seq}:{hash}"``: proves the head was written by the key holder."""
        mac = self._mac.copy()
        mac.update(f"{seq}:{chain_hash}".encode("utf-8", "surrogatepass"))
        return mac.hexdigest()

    def head_seal_valid(self, seq: object, chain_hash: object, seal: object) -> bool:
        """Whether ``seal`` is this key's seal of (seq, hash), compared in constant time.

        Takes whatever the head row holds, since a tampered row may hold any type.
        """
        if type(seq) is not int or not isinstance(chain_hash, str) or not isinstance(seal, str):
            return False
        expected = self.seal_head(seq, chain_hash).encode("ascii")
        return hmac.compare_digest(expected, seal.encode("utf-8", "surrogatepass"))

    def _thumbprint(self) -> str:
        # RFC 7638 §3.2: the required members only, lexicographic order, no whitespace.
        jwk = self._jwk_members()
        canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
        return _b64u(hashlib.sha256(canonical.encode("ascii")).digest())

    def _jwk_members(self) -> dict[str, str]:
        # The RFC 7638 required members of an EC public JWK.
        numbers = self._public.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64u(numbers.x.to_bytes(_COORD_BYTES, "big")),
            "y": _b64u(numbers.y.to_bytes(_COORD_BYTES, "big")),
        }

    def _to_file(self) -> dict[str, Any]:
        private_value = self._private.private_numbers().private_value
        jwk = {**self.public_jwk(), "d": _b64u(private_value.to_bytes(_COORD_BYTES, "big"))}
        return {"jwk": jwk, "mac_key": _b64u(self._mac_key)}

    @classmethod
    def _from_file(cls, path: Path) -> AuditKey:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            jwk = data["jwk"]
            if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
                raise ValueError("not a P-256 EC key")
            d = int.from_bytes(_unb64u(jwk["d"]), "big")
            private_key = ec.derive_private_key(d, ec.SECP256R1())
            key = cls(private_key, _unb64u(data["mac_key"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AuditError(f"{path} is not a usable audit key file: {exc}") from exc
        # The stored public half must be the one derived from d, or the file was altered.
        if key._jwk_members() != {k: jwk.get(k) for k in ("crv", "kty", "x", "y")}:
            raise AuditError(f"{path}: the public key does not match the private key")
        return key
