"""The one guard every hotel route uses: verify the token, check the rule, audit the decision.

Checks, in order (RFC 6750, RFC 9068 §4, RFC 8725, RFC 9449 §7):

1. an access token in ``Authorization`` (``Bearer``, or ``DPoP`` for bound tokens);
2. signature by a key of the issuer's JWKS (cached; refetched on an unknown ``kid``,
   rate-limited), ``typ``, ``iss``, ``aud`` = this service, ``exp``/``nbf``/``iat``;
3. not revoked (Security Event Tokens keep the list current);
4. sender constraint: a ``cnf.jkt``-bound token needs a DPoP proof by that key;
5. token type (e.g. "needs a human subject", "App token only");
6. delegation chain: depth and which agents may act on this route;
7. the user's role, when the route is for staff;
8. scope;
9. object ownership, decided by the route through :meth:`Access.require_owner`.

Denials answer 401 ``invalid_token`` or 403 ``insufficient_scope`` with a
``WWW-Authenticate`` header; every decision, allowed or denied, is one audit entry. A
verified-token cache skips the signature check for a token seen before; revocation and
expiry are still checked on every request, so the cache never lets a revoked token through.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from fastapi import Request

from iam_core.audit import AuditEvent, AuditLog
from iam_core.clock import Clock
from iam_core.dpop import DPoPVerifier, check_binding
from iam_core.errors import TokenError, description_text
from iam_core.events import RevokedTokens
from iam_core.jwks_client import RemoteJWKS
from iam_core.policy import Policy, format_scope
from iam_core.quota import Quota, QuotaSpec
from iam_core.tokens import Token, TokenType, TokenVerifier, audience_matches, parse_compact
from iam_core.trace import current_trace_id, parse_traceparent

HUMAN = frozenset({TokenType.OBO, TokenType.USER})
ANY_TOKEN = frozenset(TokenType)
STAFF_ROLES = frozenset({"front-desk", "manager"})
# Which agents may act on which routes (the current actor of an OBO token).
GUEST_AGENTS = frozenset({"booking-assistant"})
STAFF_AGENTS = frozenset({"staff-assistant"})
ANY_AGENT_OF_THE_HOTEL = GUEST_AGENTS | STAFF_AGENTS


class GuardDenied(Exception):
    """A refused request; becomes a 401/403 with ``WWW-Authenticate`` (RFC 6750 §3)."""

    def __init__(self, status: int, error: str | None, description: str, scope: str | None = None):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope

    def challenge(self, scheme: str = "Bearer") -> str:
        if self.error is None:  # RFC 6750 §3.1: no error code when no credentials were sent
            return f'{scheme} realm="hotel"'
        parts = [
            f'{scheme} error="{self.error}"',
            f'error_description="{description_text(self.description)}"',
        ]
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Rule:
    """What a route requires beyond a valid token."""

    scope: str
    kinds: frozenset[TokenType] = ANY_TOKEN
    roles_any: frozenset[str] = frozenset()  # the user must hold one of these roles
    agents: frozenset[str] | None = None  # agents allowed to act here; None: any
    clients: frozenset[str] | None = None  # for App tokens: which clients
    objects: bool = False  # the route decides per object (Access.require_owner)


class Recorder(Protocol):
    """What an :class:`Access` needs from its guard: a place to record each decision."""

    def _record(
        self,
        request: Request,
        token: Token | None,
        outcome: str,
        reason: str,
        object_id: str | None,
        details: Mapping[str, Any],
    ) -> None: ...


def trace_of(request: Request) -> str | None:
    """The W3C trace id of this request: the IAM's middleware's, or the caller's header."""
    return current_trace_id.get() or parse_traceparent(request.headers.get("traceparent"))


@dataclass
class Access:
    """A verified caller on one request; the route finishes the decision for objects."""

    guard: Recorder
    request: Request
    rule: Rule
    token: Token
    decided: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def sub(self) -> str:
        return self.token.sub

    @property
    def token_type(self) -> TokenType:
        return self.token.token_type

    @property
    def actors(self) -> tuple[str, ...]:
        return self.token.actors

    @property
    def roles(self) -> frozenset[str]:
        roles = self.token.claims.get("roles") or ()
        return frozenset(r for r in roles if isinstance(r, str))

    @property
    def is_staff(self) -> bool:
        return self.token_type in HUMAN and bool(self.roles & STAFF_ROLES)

    def grant(self, detail_type: str) -> Mapping[str, Any] | None:
        """The token's RFC 9396 authorization_details entry of ``detail_type``, if any."""
        for detail in self.token.claims.get("authorization_details") or ():
            if isinstance(detail, Mapping) and detail.get("type") == detail_type:
                return detail
        return None

    def allow(self, reason: str = "allowed", object_id: str | None = None) -> None:
        self.guard._record(self.request, self.token, "allowed", reason, object_id, self.details)
        self.decided = True

    def deny(
        self,
        reason: str,
        *,
        object_id: str | None = None,
        status: int = 403,
        error: str = "insufficient_scope",
    ) -> GuardDenied:
        """Audit a denial and return the exception for the route to raise."""
        self.guard._record(self.request, self.token, "denied", reason, object_id, self.details)
        self.decided = True
        return GuardDenied(status, error, reason, None)

    def require_owner(self, owner: str, object_id: str, *, staff_may: bool = False) -> None:
        """Object ownership: ``sub`` must own the object (or, if allowed, be staff)."""
        if self.sub == owner:
            self.allow("owner", object_id)
        elif staff_may and self.is_staff:
            self.allow("staff access", object_id)
        else:
            raise self.deny(
                f"owner mismatch: {object_id} belongs to another user", object_id=object_id
            )


class Guard:
    def __init__(
        self,
        *,
        service: str,
        audience: str,
        issuer: str,
        keys: RemoteJWKS,
        revoked: RevokedTokens,
        audit: AuditLog,
        clock: Clock,
        dpop: DPoPVerifier,
        policy: Policy | None = None,
        leeway: int = 30,
        cache_size: int = 10_000,
        agent_quota: QuotaSpec | None = None,
    ) -> None:
        self.service = service
        self._quota = Quota(agent_quota, clock) if agent_quota else None
        self.audience = audience
        self._keys = keys
        self._revoked = revoked
        self._audit = audit
        self._clock = clock
        self._dpop = dpop
        self._policy = policy or Policy()
        self._verifier = TokenVerifier(keys, clock, issuer, leeway=leeway)
        self._leeway = leeway
        self._cache: OrderedDict[str, Token] = OrderedDict()
        self._cache_size = cache_size

    def require(self, rule: Rule) -> Callable[[Request], Any]:
        """A FastAPI dependency enforcing ``rule``; gives the caller's :class:`Access`."""
        return deciding(self.check, rule)

    async def check(self, request: Request, rule: Rule) -> Access:
        scheme, raw = _credentials(request)
        if raw is None:
            self._record(request, None, "denied", "no access token", None, {})
            raise GuardDenied(401, None, "an access token is required")
        token = await self._verified(request, raw)
        try:
            self._sender_constraint(request, scheme, raw, token)
        except TokenError as exc:
            raise self._refuse(request, token, 401, "invalid_token", str(exc)) from exc
        self._check_quota(request, token)
        reason = self._rule_violation(rule, token)
        if reason is not None:
            status, message = reason
            error = "insufficient_scope" if status == 403 else "invalid_token"
            raise self._refuse(request, token, status, error, message, rule.scope)
        access = Access(self, request, rule, token)
        if not rule.objects:
            access.allow(f"{rule.scope} granted")
        return access

    async def _verified(self, request: Request, raw: str) -> Token:
        key = hashlib.sha256(raw.encode()).hexdigest()  # never keep the token string itself
        token = self._cache.get(key)
        if token is None:
            try:
                jws = parse_compact(raw)
                kid = jws.header.get("kid")
                if self._keys.stale():
                    await self._keys.refresh(force=True)
                if isinstance(kid, str) and self._keys.get_key(kid) is None:
                    await self._keys.key_for(kid)
                # Audience is checked below, once the signature is known good, so that the
                # audit can name who presented a token minted for another service.
                token = self._verifier.verify_parsed(jws, audience=None)
            except TokenError as exc:
                claimed = _claimed(raw)  # whom the refusal concerned, as the request says
                self._record(request, None, "denied", f"invalid token: {exc}", None, {}, claimed)
                raise GuardDenied(401, "invalid_token", str(exc)) from exc
            except (httpx.HTTPError, ValueError) as exc:
                # The issuer's JWKS could not be fetched: fail closed, never a 500.
                reason = f"signing keys unavailable ({type(exc).__name__})"
                self._record(request, None, "denied", reason, None, {})
                raise GuardDenied(401, "invalid_token", reason) from exc
            if not audience_matches(token.claims["aud"], self.audience):
                presented = token.claims["aud"]
                raise self._refuse(
                    request,
                    token,
                    401,
                    "invalid_token",
                    f"audience mismatch: expected {self.audience}, presented {presented}",
                    details={"expected_audience": self.audience, "presented_audience": presented},
                )
            self._cache[key] = token  # only tokens for this audience are ever cached
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        elif token.exp <= self._clock.now() - self._leeway:
            del self._cache[key]
            raise self._refuse(request, token, 401, "invalid_token", "token expired")
        revoked = self._revoked.reason(token.jti)
        if revoked is not None:
            # The denial cites the revocation (ATTACKS.md #10): blocked, disabled, withdrawn.
            raise self._refuse(request, token, 401, "invalid_token", f"token revoked: {revoked}")
        return token

    def _check_quota(self, request: Request, token: Token) -> None:
        """Per-agent request quota (denial of wallet, ATTACKS.md #16): 429 past the limit."""
        agent = token.actors[0] if token.actors else None
        if agent is None and token.token_type is TokenType.AGENT:
            agent = token.sub
        if self._quota is None or agent is None:
            return
        count = self._quota.take(agent)
        if count is not None:
            spec = self._quota.spec
            reason = (
                f"quota exceeded: {agent} made {count} requests within {spec.window} s "
                f"(limit {spec.limit})"
            )
            details = {"agent": agent, "count": count, "limit": spec.limit}
            raise self._refuse(
                request, token, 429, "temporarily_unavailable", reason, None, details
            )

    def _sender_constraint(self, request: Request, scheme: str, raw: str, token: Token) -> None:
        bound = "cnf" in token.claims
        if bound and scheme != "dpop":
            raise TokenError("a DPoP-bound token must be sent with the DPoP scheme")
        if not bound and scheme == "dpop":
            raise TokenError("the DPoP scheme needs a DPoP-bound token")
        proof = None
        if bound:
            proofs = request.headers.getlist("dpop")
            if len(proofs) != 1:
                raise TokenError("exactly one DPoP proof is required")
            proof = self._dpop.verify(
                proofs[0], method=request.method, url=str(request.url), access_token=raw
            )
        check_binding(token.claims, proof)

    def _rule_violation(self, rule: Rule, token: Token) -> tuple[int, str] | None:
        kind = token.token_type
        if kind not in rule.kinds:
            if rule.kinds <= HUMAN:
                return 403, f"needs a human subject (OBO or user token), got a {kind} token"
            if rule.kinds == frozenset({TokenType.APP}):
                return 403, f"App token only, got a {kind} token"
            return 403, f"{kind} tokens may not call this route"
        if kind is TokenType.APP and rule.clients is not None and token.sub not in rule.clients:
            return 403, f"client {token.sub} may not call this route"
        if len(token.actors) > self._policy.max_delegation_depth:
            return 403, f"delegation chain deeper than {self._policy.max_delegation_depth}"
        if token.actors and rule.agents is not None and token.actors[0] not in rule.agents:
            return 403, f"agent {token.actors[0]} may not act on this route"
        if rule.roles_any:
            roles = token.claims.get("roles") or ()
            if kind not in HUMAN or not rule.roles_any & set(roles):
                return 403, (
                    f"role insufficient: needs one of {', '.join(sorted(rule.roles_any))}"
                    f" (user {token.sub}, agent {token.actors[0] if token.actors else '-'})"
                )
        if rule.scope not in token.scopes:
            return 403, f"missing scope {rule.scope}"
        return None

    def _refuse(
        self,
        request: Request,
        token: Token,
        status: int,
        error: str,
        reason: str,
        scope: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> GuardDenied:
        self._record(request, token, "denied", reason, None, details or {})
        return GuardDenied(status, error, reason, scope)

    def _record(
        self,
        request: Request,
        token: Token | None,
        outcome: str,
        reason: str,
        object_id: str | None,
        details: Mapping[str, Any],
        claimed: tuple[str | None, str | None] = (None, None),
    ) -> None:
        """``claimed``: the (sub, client_id) a token that failed verification claims; named in
        ``details`` only, since ``sub`` and ``client_id`` hold verified identities."""
        trace = trace_of(request)
        if token is None and claimed != (None, None):
            details = {**details, "claimed_sub": claimed[0], "claimed_client_id": claimed[1]}
        self._audit.append(
            AuditEvent(
                event="access.decision",
                outcome="allowed" if outcome == "allowed" else "denied",
                reason=reason,
                sub=token.sub if token else None,
                act=token.actors if token else (),
                client_id=token.client_id if token else None,
                token_type=token.token_type.value if token else None,
                jti=token.jti if token else None,
                scope=format_scope(token.scopes) if token else None,
                service=self.service,
                method=request.method,
                path=request.url.path,
                object_id=object_id,
                trace_id=trace,
                details=dict(details),
            )
        )


def deciding(
    check: Callable[[Request, Rule], Awaitable[Access]], rule: Rule
) -> Callable[[Request], Any]:
    """The dependency around a guard's ``check``: every request ends in exactly one decision.

    A rule without object decisions is decided inside ``check``: a plain dependency does.
    Otherwise a yield dependency records a route that failed or forgot to decide.
    """
    if not rule.objects:

        async def decided(request: Request) -> Access:
            return await check(request, rule)

        return decided

    async def dependency(request: Request) -> AsyncIterator[Access]:
        access = await check(request, rule)
        try:
            yield access
        except Exception as exc:
            # The route failed before deciding (e.g. an unknown object): record it.
            if not access.decided:
                access.deny(f"request failed: {str(exc)[:200]}")
            raise
        if not access.decided:
            # A route that forgot to decide still leaves a trace of what it allowed.
            access.allow("allowed (no object decision recorded)")

    return dependency


def _claimed(raw: str) -> tuple[str | None, str | None]:
    """The ``sub`` and ``client_id`` a token claims, unverified, for a refusal's audit entry."""
    try:
        claims = parse_compact(raw).claims
    except TokenError:
        return None, None
    sub, client = claims.get("sub"), claims.get("client_id")
    return (
        sub[:64] if isinstance(sub, str) else None,
        client[:64] if isinstance(client, str) else None,
    )


def _credentials(request: Request) -> tuple[str, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme in ("bearer", "dpop") and value.strip():
        return scheme, value.strip()
    return scheme, None


__all__ = ["ANY_TOKEN", "HUMAN", "Access", "Guard", "GuardDenied", "Recorder", "Rule"]
