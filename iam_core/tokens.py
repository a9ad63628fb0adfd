"""The four access tokens: minting and strict verification.

Access tokens are JWTs in the RFC 9068 profile (``typ: at+jwt``; claims ``iss, sub, aud,
exp, iat, jti, client_id, scope``) with the delegation claim ``act`` of RFC 8693 §4.1 and
the token-kind claim ``aut`` of draft-oauth-ai-agents-on-behalf-of-user-02 §5.

=========  =============  ==============  ==================
type       ``sub``        ``act``         ``aut``
=========  =============  ==============  ==================
agent      agent id       —               ``AGENT``
obo        user id        ``{sub: agent}``  ``APPLICATION_USER``
user       user id        —               ``APPLICATION_USER``
app        client id      —               ``APPLICATION``
=========  =============  ==============  ==================

The acting agent's roles in the registry travel in the token, so that a resource server can
decide which agents may act at a route from roles assigned over SCIM rather than from a list
of agent ids: an agent token carries the agent's ``roles``; an OBO token carries the *current*
actor's roles in the top-level claim ``actor_roles`` (RFC 8693 §4.1 allows further claims
about the actor; a top-level claim keeps ``act`` exactly the chain of ``sub`` members, and
``roles`` stays the user's). Both are read at minting time, so a role change reaches new
tokens at once and old ones within their lifetime.

Verification follows RFC 8725 §3 and RFC 9068 §4: the algorithm comes from the key that
the ``kid`` names (never from the token), ``none`` and HMAC are never accepted, ``typ``,
``iss``, ``aud`` and the time claims are checked with a small leeway, and an unknown
``kid`` is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jwt.algorithms import get_default_algorithms

from iam_core.clock import Clock
from iam_core.errors import TokenError
from iam_core.keys import SUPPORTED_ALGS, KeyRing, KeySource, VerificationKey
from iam_core.policy import act_chain, format_scope, parse_scope
from iam_core.safe_json import loads as bounded_json

ACCESS_TOKEN_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 8192
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
# Header parameters we never honour: a token must not tell us where to find its key.
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")


_ALGORITHMS = get_default_algorithms()
ACTOR_ROLES_CLAIM = "actor_roles"


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """A parsed compact JWS (RFC 7515 §7.1); nothing in it is trusted until verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    def verify_with(self, key: VerificationKey) -> None:
        """Check the signature with PyJWT's implementation of the key's (pinned) algorithm."""
        if self.header.get("alg") != key.alg:
            raise TokenError(f"alg {str(self.header.get('alg'))[:16]!r} does not match the key's")
        if not _ALGORITHMS[key.alg].verify(self.signing_input, key.key, self.signature):
            raise TokenError("signature invalid")


def _segment(segment: str) -> bytes:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    # Only the canonical encoding is accepted: no alternative spellings of the same bytes.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
        raise ValueError("non-canonical base64url")
    return raw


def parse_compact(token: str, max_length: int = MAX_TOKEN_LENGTH) -> CompactJWS:
    """Parse a compact JWS strictly: size, three canonical base64url segments, JSON objects.

    Header and payload go through the bounded parser (:mod:`iam_core.safe_json`): no
    duplicate member names (RFC 7515 §5.2, RFC 7519 §4), a bounded nesting depth."""
    if not isinstance(token, str) or len(token) > max_length:
        raise TokenError(f"token longer than {max_length} characters")
    if not _COMPACT_JWS.fullmatch(token):
        raise TokenError("not a compact JWS (three base64url segments)")
    head, body, sig = token.split(".")
    try:
        header = bounded_json(_segment(head), max_bytes=max_length)
        claims = bounded_json(_segment(body), max_bytes=max_length)
        signature = _segment(sig)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise TokenError(f"malformed token: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("header and payload must be JSON objects")
    return CompactJWS(header, claims, f"{head}.{body}".encode(), signature)


class TokenType(StrEnum):
    AGENT = "agent"
    OBO = "obo"
    USER = "user"
    APP = "app"


AUT: Mapping[TokenType, str] = {
    TokenType.AGENT: "AGENT",
    TokenType.OBO: "APPLICATION_USER",
    TokenType.USER: "APPLICATION_USER",
    TokenType.APP: "APPLICATION",
}


def classify(claims: Mapping[str, Any]) -> TokenType:
    """The token type from ``aut`` and ``act``; inconsistent claims are refused."""
    aut, act = claims.get("aut"), claims.get("act")
    if aut == "AGENT" and act is None and claims.get("sub") == claims.get("client_id"):
        return TokenType.AGENT
    if aut == "APPLICATION" and act is None and claims.get("sub") == claims.get("client_id"):
        return TokenType.APP
    if aut == "APPLICATION_USER":
        return TokenType.OBO if act is not None else TokenType.USER
    raise TokenError("aut, act and sub/client_id do not describe any known token type")


@dataclass(frozen=True, slots=True)
class Token:
    """A minted or verified access token's claims; never holds the encoded string."""

    claims: Mapping[str, Any]
    token_type: TokenType

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.claims.get("scope"))

    @property
    def act(self) -> Mapping[str, Any] | None:
        act = self.claims.get("act")
        return act if isinstance(act, Mapping) else None

    @property
    def actors(self) -> tuple[str, ...]:
        """The delegation chain, current actor first."""
        return act_chain(self.act)

    @property
    def actor_roles(self) -> frozenset[str]:
        """The registry roles of the agent acting: the current actor of an OBO token, or the
        agent of an agent token; empty for user and App tokens."""
        if self.token_type is TokenType.AGENT:
            roles = self.claims.get("roles")
        elif self.token_type is TokenType.OBO:
            roles = self.claims.get(ACTOR_ROLES_CLAIM)
        else:
            return frozenset()
        if not isinstance(roles, list):
            return frozenset()
        return frozenset(r for r in roles if isinstance(r, str))

    @property
    def exp(self) -> int:
        return int(self.claims["exp"])

    @property
    def iat(self) -> int:
        return int(self.claims["iat"])

    @property
    def audience(self) -> str:
        aud = self.claims["aud"]
        return str(aud if isinstance(aud, str) else aud[0])

    def names(self, identity: str) -> bool:
        """Whether ``identity`` is this token's subject or anywhere in its ``act`` chain."""
        return self.sub == identity or identity in self.actors


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """Token lifetimes in seconds; short by design (RFC 9700 §2.2)."""

    agent: int = 300
    obo: int = 300
    user: int = 900
    app: int = 600

    def of(self, token_type: TokenType) -> int:
        return int(getattr(self, token_type.value))

    @property
    def longest(self) -> int:
        return max(self.agent, self.obo, self.user, self.app)


class TokenMinter:
    """Signs access tokens with the issuer's current key."""

    def __init__(
        self,
        keys: KeyRing,
        clock: Clock,
        issuer: str,
        lifetimes: Lifetimes,
        *,
        agent_roles: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self.issuer = issuer
        self.lifetimes = lifetimes
        # The registry's roles of an agent, read at each minting (see the module docstring).
        self._agent_roles = agent_roles or (lambda _agent: ())

    def mint(
        self,
        token_type: TokenType,
        *,
        sub: str,
        client_id: str,
        audience: str,
        scopes: frozenset[str],
        act: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        expires_at: int | None = None,
    ) -> tuple[str, Token]:
        """Encode and sign a token; returns the compact JWT and its claims. ``expires_at``
        shortens its lifetime (never lengthens it)."""
        if (token_type is TokenType.OBO) != (act is not None):
            raise ValueError("exactly the OBO token type carries act")
        now = int(self._clock.now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "client_id": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetimes.of(token_type),
            "jti": secrets.token_urlsafe(16),
            "scope": format_scope(scopes),
            "aut": AUT[token_type],
        }
        if expires_at is not None:
            claims["exp"] = min(claims["exp"], expires_at)
        if act is not None:
            claims["act"] = dict(act)
            claims[ACTOR_ROLES_CLAIM] = sorted(self._agent_roles(str(act.get("sub"))))
        if token_type is TokenType.AGENT:
            claims["sub_profile"] = "ai_agent"
            claims["roles"] = sorted(self._agent_roles(sub))
        if extra:
            claims.update({k: v for k, v in extra.items() if k not in claims})
        return self._keys.sign(claims, typ=ACCESS_TOKEN_TYP), Token(claims, token_type)


class TokenVerifier:
    """Strict access-token verification (RFC 8725 §3, RFC 9068 §4)."""

    def __init__(
        self,
        keys: KeySource,
        clock: Clock,
        issuer: str,
        *,
        leeway: int = 30,
        max_length: int = MAX_TOKEN_LENGTH,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self.issuer = issuer
        self.leeway = leeway
        self.max_length = max_length

    def verify(self, token: str, *, audience: str | None) -> Token:
        """Verify signature and claims; ``audience=None`` skips only the audience check."""
        return self.verify_parsed(parse_compact(token, self.max_length), audience=audience)

    def verify_parsed(self, jws: CompactJWS, *, audience: str | None) -> Token:
        """:meth:`verify` for a token already parsed (e.g. to look at its ``kid`` first)."""
        self._check_header(jws.header)
        key = self._keys.get_key(str(jws.header["kid"]))
        if key is None:
            raise TokenError(f"unknown kid {str(jws.header['kid'])[:64]!r}")
        jws.verify_with(key)
        claims = jws.claims
        for name in _REQUIRED:
            if name not in claims:
                raise TokenError(f"missing claim {name}")
        if claims["iss"] != self.issuer:
            raise TokenError("issuer mismatch")
        if audience is not None and not audience_matches(claims["aud"], audience):
            raise TokenError(f"audience mismatch: expected {audience}")
        for name in ("sub", "jti", "client_id"):
            if not isinstance(claims[name], str) or not claims[name]:
                raise TokenError(f"{name} must be a non-empty string")
        self._check_times(claims)
        if not isinstance(claims.get("scope", ""), str):
            raise TokenError("scope must be a string")
        try:
            parse_scope(claims.get("scope"))
        except ValueError as exc:
            raise TokenError(str(exc)) from exc
        act = claims.get("act")
        if act is not None and not _valid_act(act):
            raise TokenError("act must be an object with a string sub, nested the same way")
        return Token(claims, classify(claims))

    def _check_header(self, header: Mapping[str, Any]) -> None:
        typ = str(header.get("typ", "")).lower()
        if typ not in (ACCESS_TOKEN_TYP, "application/" + ACCESS_TOKEN_TYP):
            raise TokenError(f"typ must be {ACCESS_TOKEN_TYP}")
        if header.get("alg") not in SUPPORTED_ALGS:
            raise TokenError(f"alg {str(header.get('alg'))[:16]!r} is not accepted")
        if not isinstance(header.get("kid"), str):
            raise TokenError("kid header missing")
        for name in _FORBIDDEN_HEADERS:
            if name in header:
                raise TokenError(f"header parameter {name!r} is not accepted")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock.now()
        for name in ("exp", "iat", "nbf"):
            if name in claims and not isinstance(claims[name], (int, float)):
                raise TokenError(f"{name} must be a NumericDate")
        if claims["exp"] <= now - self.leeway:
            raise TokenError("token expired")
        if claims.get("nbf", 0) > now + self.leeway:
            raise TokenError("token not yet valid (nbf)")
        if claims["iat"] > now + self.leeway:
            raise TokenError("token issued in the future (iat)")


def audience_matches(aud: Any, expected: str) -> bool:
    """RFC 7519 §4.1.3: ``aud`` is a string or an array of strings naming the audience."""
    if isinstance(aud, str):
        return aud == expected
    return isinstance(aud, list) and all(isinstance(a, str) for a in aud) and expected in aud


def _valid_act(act: Any, depth: int = 0) -> bool:
    if not isinstance(act, Mapping) or not isinstance(act.get("sub"), str) or depth > 16:
        return False
    inner = act.get("act")
    return inner is None or _valid_act(inner, depth + 1)
