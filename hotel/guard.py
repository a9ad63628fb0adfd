"""The one guard every hotel route uses: verify the token, check the rule, audit the decision.

Checks, in order (RFC 6750, RFC 9068 §4, RFC 8725, RFC 9449 §7):

1. an access token in ``Authorization`` (``Bearer``, or ``DPoP`` for bound tokens);
2. signature by a key of the issuer's JWKS (cached; refetched on an unknown ``kid``,
   rate-limited), ``typ``, ``iss``, ``aud`` = this service, ``exp``/``nbf``/``iat``;
3. not revoked (Security Event Tokens keep the list current);
4. sender constraint: a ``cnf.jkt``-bound token needs a DPoP proof by that key, with the
   services' current nonce (RFC 9449 §9: else 401 ``use_dpop_nonce``);
5. the per-agent request quota;
6. token type (e.g. "needs a human subject", "App token only");
7. delegation chain: depth, and the acting agent's registry roles (``actor_roles``);
8. the user's role, when the route is for staff (roles the issuer's policy grants the scope);
9. scope;
10. object ownership, decided by the route through :meth:`Access.require_owner`.

Denials are the kit's RFC 6750 errors (401 ``invalid_token``, 403 ``insufficient_scope``),
which build their own ``WWW-Authenticate``; every decision, allowed or denied, is one audit
entry. A verified-token cache skips the signature check for a token seen before; revocation
and expiry are still checked on every request, so the cache never lets a revoked token
through.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import httpx
from fastapi import Request

from hotel.access import HUMAN, Access, Dependency, Guard, Rule, deciding, holds_role_for, trace_of
from iam_core.resource_server import (
    AuditEvent,
    AuditSink,
    BearerError,
    Clock,
    CredentialsRequired,
    DPoPNonceChallenge,
    DPoPVerifier,
    InsufficientScope,
    InvalidToken,
    NonceRequired,
    QuotaStore,
    RemoteJWKS,
    ResourcePolicy,
    RevokedTokens,
    TemporarilyUnavailable,
    Token,
    TokenError,
    TokenType,
    TokenVerifier,
    audience_matches,
    check_binding,
    format_scope,
    parse_compact,
)

REALM = "hotel"


# The audit writes a check has queued with a group-commit sink, awaited before it answers.
_QUEUED: ContextVar[list[Awaitable[object]] | None] = ContextVar("audit_queued", default=None)


class TokenGuard:
    """The :class:`hotel.access.Guard` that trusts the IAM's access tokens.

    With a sink that has ``submit`` (``iam_core.resource_server.GroupCommitAppender``), the
    decisions of :meth:`check` are group-committed: queued, then awaited before the check
    returns or raises, so no answer leaves before its entry is committed. Decisions recorded
    later from sync code (``Access.allow`` in a route body) commit at once.
    """

    def __init__(
        self,
        *,
        service: str,
        audience: str,
        issuer: str,
        keys: RemoteJWKS,
        revoked: RevokedTokens,
        audit: AuditSink,
        clock: Clock,
        dpop: DPoPVerifier,
        policy: ResourcePolicy,
        leeway: int = 30,
        cache_size: int = 10_000,
        quota: QuotaStore | None = None,
        task_quota: QuotaStore | None = None,
        dpop_required: bool = True,
        agent_allow_list: bool = True,
        service_accounts: frozenset[str] = frozenset(),
        roles_of: Callable[[str], tuple[str, ...]] | None = None,
    ) -> None:
        """The deployment's weakenings, each an ablation or an ordinary-OAuth profile
        (docs/design.md): ``dpop_required=False`` accepts bound tokens without a proof;
        ``agent_allow_list=False`` skips the acting agent's roles and the delegation depth;
        ``service_accounts`` are clients whose App tokens may name the user they act for in
        ``X-User`` (whose roles ``roles_of`` gives) — the agent as a service account.
        ``task_quota``: requests per task (a token's ``task`` claim) at this service."""
        self.service = service
        self._dpop_required = dpop_required
        self._allow_list = agent_allow_list
        self._service_accounts = service_accounts
        self._roles_of = roles_of or (lambda user: ("guest",))
        self.audience = audience
        self.policy = policy
        self._quota = quota
        self._task_quota = task_quota
        self._keys = keys
        self._revoked = revoked
        self._audit = audit
        self._clock = clock
        self._dpop = dpop
        self._verifier = TokenVerifier(keys, clock, issuer, leeway=leeway)
        self._leeway = leeway
        self._cache: OrderedDict[str, Token] = OrderedDict()
        self._cache_size = cache_size

    def reset_state(self) -> None:
        self._cache.clear()  # tokens verified in the last run (iam_core/state_reset.py)

    def require(self, rule: Rule) -> Dependency:
        """A FastAPI dependency enforcing ``rule``; gives the caller's :class:`Access`."""
        return deciding(self.check, rule)

    async def check(self, request: Request, rule: Rule) -> Access:
        submit = getattr(self._audit, "submit", None)
        if submit is None:
            return await self._check(request, rule)
        queued: list[Awaitable[object]] = []
        reset = _QUEUED.set(queued)
        try:
            return await self._check(request, rule)
        finally:
            _QUEUED.reset(reset)
            if queued:  # raises the audit failure, if any, instead of answering
                await asyncio.gather(*queued)

    async def _check(self, request: Request, rule: Rule) -> Access:
        scheme, raw = _credentials(request)
        if raw is None:
            self.record(request, None, "denied", "no access token", None, {})
            raise CredentialsRequired("an access token is required", realm=REALM)
        token = await self._verified(request, raw)
        if self._dpop_required:
            try:
                self._sender_constraint(request, scheme, raw, token)
            except NonceRequired as exc:
                # RFC 9449 §9: 401 use_dpop_nonce, the DPoP-Nonce header is on every response.
                # A handshake, not a decision: the same call succeeds with the nonce (no audit
                # entry).
                raise DPoPNonceChallenge(str(exc)) from exc
            except TokenError as exc:
                raise self._refuse(request, token, InvalidToken(str(exc))) from exc
        token = self._named_user(request, token)
        self._check_quota(request, token)
        reason = rule_violation(rule, token, self.policy, allow_list=self._allow_list)
        if reason is not None:
            raise self._refuse(request, token, InsufficientScope(reason, scope=rule.scope))
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
                self.record(request, None, "denied", f"invalid token: {exc}", None, {}, claimed)
                raise InvalidToken(str(exc)) from exc
            except (httpx.HTTPError, ValueError) as exc:
                # The issuer's JWKS could not be fetched: fail closed, never a 500.
                reason = f"signing keys unavailable ({type(exc).__name__})"
                self.record(request, None, "denied", reason, None, {})
                raise InvalidToken(reason) from exc
            if not audience_matches(token.claims["aud"], self.audience):
                presented = token.claims["aud"]
                raise self._refuse(
                    request,
                    token,
                    InvalidToken(
                        f"audience mismatch: expected {self.audience}, presented {presented}"
                    ),
                    {"expected_audience": self.audience, "presented_audience": presented},
                )
            self._cache[key] = token  # only tokens for this audience are ever cached
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        elif token.exp <= self._clock.now() - self._leeway:
            del self._cache[key]
            raise self._refuse(request, token, InvalidToken("token expired"))
        revoked = self._revoked.reason(token.jti)
        if revoked is not None:
            # The denial cites the revocation (docs/attacks.md #10): blocked, disabled, withdrawn.
            raise self._refuse(request, token, InvalidToken(f"token revoked: {revoked}"))
        return token

    def _named_user(self, request: Request, token: Token) -> Token:
        """A service account's App token acts for whichever user its request names."""
        user = request.headers.get("x-user", "").strip()
        if token.token_type is not TokenType.APP or token.sub not in self._service_accounts:
            return token
        if not user:
            # Naming no user, the service account acts as itself: it is the agent's own
            # identity in that deployment (its client id is the subject, ``aut`` AGENT), so
            # routes open to an agent's own work (a search) take it, as they take an agent
            # token; routes for human subjects still refuse it.
            return Token(dict(token.claims) | {"aut": "AGENT"}, TokenType.AGENT)
        claims = dict(token.claims) | {
            "sub": user,
            "client_id": token.sub,
            "roles": list(self._roles_of(user)),
            "aut": "APPLICATION_USER",
        }
        return Token(claims, TokenType.USER)

    def _check_quota(self, request: Request, token: Token) -> None:
        """Per-agent request quota and per-task budget (denial of wallet, docs/attacks.md
        #16; a task: docs/design.md §3.2): 429 past either."""
        task = token.claims.get("task")
        if self._task_quota is not None and isinstance(task, str):
            count = self._task_quota.take(task)
            if count is not None:
                spec = self._task_quota.spec
                reason = (
                    f"task budget exceeded: {token.sub} made {count} requests at "
                    f"{self.service} within one task (limit {spec.limit})"
                )
                details = {"task_jti": task, "count": count, "limit": spec.limit}
                raise self._refuse(request, token, TemporarilyUnavailable(reason), details)
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
            raise self._refuse(request, token, TemporarilyUnavailable(reason), details)

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

    def _refuse(
        self,
        request: Request,
        token: Token,
        error: BearerError,
        details: Mapping[str, Any] | None = None,
    ) -> BearerError:
        self.record(request, token, "denied", error.description, None, details or {})
        return error

    def record(
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
        if token is None and claimed != (None, None):
            details = {**details, "claimed_sub": claimed[0], "claimed_client_id": claimed[1]}
        event = AuditEvent(
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
            trace_id=trace_of(request),
            details=dict(details),
        )
        queued = _QUEUED.get()
        if queued is None:
            self._audit.append(event)
        else:
            queued.append(self._audit.submit(event))  # type: ignore[attr-defined]


def rule_violation(
    rule: Rule, token: Token, policy: ResourcePolicy, *, allow_list: bool = True
) -> str | None:
    """Why ``token`` may not call a route with ``rule`` (a 403), or None (steps 6-9).
    ``allow_list=False`` (an ablation): any agent, at any delegation depth."""
    kind = token.token_type
    if kind not in rule.kinds:
        if rule.kinds <= HUMAN:
            return f"needs a human subject (OBO or user token), got a {kind} token"
        if rule.kinds == frozenset({TokenType.APP}):
            return f"App token only, got a {kind} token"
        return f"{kind} tokens may not call this route"
    if kind is TokenType.APP and rule.clients is not None and token.sub not in rule.clients:
        return f"client {token.sub} may not call this route"
    reason = _agent_violation(rule, token, policy) if allow_list else None
    if reason is not None:
        return reason
    if rule.by_role and not holds_role_for(token, rule.scope, policy):
        needed = ", ".join(sorted(policy.roles_granting(rule.scope)))
        return (
            f"role insufficient: needs one of {needed}"
            f" (user {token.sub}, agent {token.actors[0] if token.actors else '-'})"
        )
    if rule.scope not in token.scopes:
        return f"missing scope {rule.scope}"
    return None


def _agent_violation(rule: Rule, token: Token, policy: ResourcePolicy) -> str | None:
    """The per-agent allow-list and the delegation depth (docs/attacks.md #6, #7)."""
    if len(token.actors) > policy.max_delegation_depth:
        return f"delegation chain deeper than {policy.max_delegation_depth}"
    # Which agents may act here is named by registry roles (docs/attacks.md #7).
    agent_roles = rule.agent_roles
    if token.actors and agent_roles is not None and not token.actor_roles & agent_roles:
        return f"agent {token.actors[0]} may not act on this route"
    return None


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


__all__ = ["HUMAN", "Access", "Guard", "Rule", "TokenGuard", "rule_violation"]
