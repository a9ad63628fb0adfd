"""What every hotel route depends on: a :class:`Rule`, the :class:`Guard` that enforces it,
and the :class:`Access` the route receives to finish decisions about objects.

Two guards fit the :class:`Guard` Protocol: :class:`hotel.guard.TokenGuard` (the IAM's
tokens) and :class:`hotel.baseline.BaselineGuard` (one shared API key, to compare against).
Which agents may act at a route is named by their registry *roles* (``agent_roles``), which
the IAM puts in the tokens it mints (``Token.actor_roles``) — never by a list of agent ids,
so that an agent registered over SCIM with a role can act at once (docs/design.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import Request

from iam_core.resource_server import (
    InsufficientScope,
    ResourcePolicy,
    Token,
    TokenType,
    current_trace_id,
    parse_traceparent,
)

HUMAN = frozenset({TokenType.OBO, TokenType.USER})
ANY_TOKEN = frozenset(TokenType)
# Agent roles in the registry (assigned over SCIM) that the hotel's route rules name.
GUEST_AGENT = frozenset({"guest-assistant"})
STAFF_AGENT = frozenset({"staff-assistant"})
ANY_HOTEL_AGENT = GUEST_AGENT | STAFF_AGENT


@dataclass(frozen=True, slots=True)
class Rule:
    """What a route requires beyond a valid token."""

    scope: str
    kinds: frozenset[TokenType] = ANY_TOKEN
    # The user must hold a role the issuer's policy grants ``scope`` to (staff routes).
    by_role: bool = False
    # The acting agent must hold one of these registry roles; None: any agent.
    agent_roles: frozenset[str] | None = None
    clients: frozenset[str] | None = None  # for App tokens: which clients
    objects: bool = False  # the route decides per object (Access.require_owner)


Dependency = Callable[[Request], Awaitable["Access"] | AsyncIterator["Access"]]


class Guard(Protocol):
    """What a route depends on: a FastAPI dependency per rule that gives an :class:`Access`."""

    service: str

    def require(self, rule: Rule) -> Dependency: ...


class Recorder(Protocol):
    """What an :class:`Access` needs from its guard: the policy, and a place to record."""

    policy: ResourcePolicy

    def record(
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


def holds_role_for(token: Token, scope: str, policy: ResourcePolicy) -> bool:
    """Whether a human subject holds a role the issuer's policy grants ``scope`` to."""
    roles = token.claims.get("roles") or ()
    granting = policy.roles_granting(scope)
    return token.token_type in HUMAN and any(r in granting for r in roles if isinstance(r, str))


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
    def acting_agent(self) -> str | None:
        """The current actor of a delegation, if an agent acts for the subject."""
        return self.token.actors[0] if self.token.actors else None

    def allow(self, reason: str = "allowed", object_id: str | None = None) -> None:
        self.guard.record(self.request, self.token, "allowed", reason, object_id, self.details)
        self.decided = True

    def deny(self, reason: str, *, object_id: str | None = None) -> InsufficientScope:
        """Audit a denial and return the 403 for the route to raise."""
        self.guard.record(self.request, self.token, "denied", reason, object_id, self.details)
        self.decided = True
        return InsufficientScope(reason)

    def require_owner(self, owner: str, object_id: str, *, staff_scope: str | None = None) -> None:
        """Object ownership: ``sub`` must own the object — or, when ``staff_scope`` is given,
        hold a role the issuer's policy grants that scope to (staff)."""
        if self.sub == owner:
            self.allow("owner", object_id)
        elif staff_scope and holds_role_for(self.token, staff_scope, self.guard.policy):
            self.allow("staff access", object_id)
        else:
            raise self.deny(
                f"owner mismatch: {object_id} belongs to another user", object_id=object_id
            )


def deciding(check: Callable[[Request, Rule], Awaitable[Access]], rule: Rule) -> Dependency:
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


def rule_scopes(rules: Mapping[str, Rule] | tuple[Rule, ...]) -> list[str]:
    """The scopes a service's routes ask for: its RFC 9728 ``scopes_supported``."""
    values = rules.values() if isinstance(rules, Mapping) else rules
    return sorted({rule.scope for rule in values})
