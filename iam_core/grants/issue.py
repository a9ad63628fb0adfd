"""What every grant shares: the typed result of a grant, minting it, and reading the form.

A grant type (RFC 6749 §4, RFC 8693 §2) decides a :class:`Grant`; :func:`mint` signs it.
The claims a token about a user carries beyond the standard ones travel as
:class:`UserClaims`, not as loose dicts, so that each grant states exactly what it adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iam_core.dpop import DPoPProof
from iam_core.errors import InvalidGrant, InvalidRequest, InvalidScope, InvalidToken
from iam_core.iam import IAM, Resource
from iam_core.policy import parse_scope
from iam_core.tokens import Token, TokenType

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE)

AuthorizationDetails = tuple[dict[str, Any], ...]
"""RFC 9396 ``authorization_details``, as consented and carried from token to token."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A grant's result before encoding: the token and what the request asked for."""

    token: str
    claims: Token
    requested: frozenset[str]


@dataclass(frozen=True, slots=True)
class UserClaims:
    """What a user's token (user or on-behalf-of) says beyond ``sub`` and ``scope``.

    ``roles`` lets the services apply the user's role; ``authorization_details`` (RFC 9396)
    the limits the user consented to; ``may_act`` (RFC 8693 §4.4) names the only agent that
    may exchange the token, for a hand-off.
    """

    roles: tuple[str, ...]
    authorization_details: AuthorizationDetails = ()
    may_act: str | None = None

    def as_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {"roles": list(self.roles)}
        if self.authorization_details:
            claims["authorization_details"] = list(self.authorization_details)
        if self.may_act is not None:
            claims["may_act"] = {"sub": self.may_act}
        return claims


@dataclass(frozen=True, slots=True)
class Grant:
    """The token a grant decided to issue (RFC 6749 §5.1), before it is signed.

    ``act`` is the RFC 8693 §4.1 claim, nested current actor first; only OBO tokens have one.
    """

    token_type: TokenType
    sub: str
    client_id: str
    resource: Resource
    scopes: frozenset[str]
    requested: frozenset[str]
    act: Mapping[str, Any] | None = None
    user: UserClaims | None = None


def mint(
    iam: IAM,
    grant: Grant,
    dpop: DPoPProof | None,
    *,
    extra: Mapping[str, Any] | None = None,
    expires_at: int | None = None,
) -> Issued:
    """Sign ``grant``; with a DPoP proof, bind the token to its key (``cnf.jkt``, RFC 9449 §6).

    ``extra``: further claims a grant adds (the CIBA grant's ``approval``, a task's
    ``task``). ``expires_at``: the token ends no later (a task's end)."""
    added: dict[str, Any] = dict(extra or {})
    if grant.user:
        added.update(grant.user.as_claims())
    if dpop is not None:
        added["cnf"] = {"jkt": dpop.jkt}
    token, claims = iam.minter.mint(
        grant.token_type,
        sub=grant.sub,
        client_id=grant.client_id,
        audience=grant.resource.uri,
        scopes=grant.scopes,
        act=grant.act,
        extra=added or None,
        expires_at=expires_at,
    )
    return Issued(token, claims, grant.requested)


def carried_details(token: Token) -> AuthorizationDetails:
    """The ``authorization_details`` a token carries on to the tokens exchanged from it."""
    return tuple(token.claims.get("authorization_details") or ())


def required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequest(f"{name} is required")
    return value


def requested_scope(form: Mapping[str, str]) -> frozenset[str]:
    """The ``scope`` parameter (RFC 6749 §3.3); malformed is ``invalid_scope``."""
    try:
        return parse_scope(form.get("scope"))
    except ValueError as exc:
        raise InvalidScope(str(exc)) from exc


def verified(iam: IAM, token: str, name: str, audience: str | None) -> Token:
    """A token from the form, verified and still active; otherwise ``invalid_grant``."""
    try:
        return iam.verify_active(token, audience=audience)
    except InvalidToken as exc:
        raise InvalidGrant(f"{name} is not valid: {exc.description}") from exc


def actor_token(iam: IAM, form: Mapping[str, str], *, expected: str | None) -> Token:
    """The agent token given as ``actor_token`` (RFC 8693 §2.1), naming ``expected`` if set."""
    raw = form.get("actor_token")
    if not raw:
        raise InvalidGrant("actor_token is required for a code bound to requested_actor")
    if form.get("actor_token_type", ACCESS_TOKEN_TYPE) not in SUBJECT_TOKEN_TYPES:
        raise InvalidRequest("actor_token_type must be an access token type")
    actor = verified(iam, raw, "actor_token", iam.issuer)
    if actor.token_type is not TokenType.AGENT:
        raise InvalidGrant("actor_token must be an agent token")
    if expected is not None and actor.sub != expected:
        raise InvalidGrant(f"actor_token names {actor.sub}, the code was for {expected}")
    return actor
