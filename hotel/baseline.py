"""The baseline: the hotel services as many agent deployments run them today.

One shared API key for every caller, the acting user named in a header (``X-User``) and
trusted, roles looked up for that name, no scopes, no audiences, no delegation, no
revocation — and an audit trail of what such a system records: the request and the user it
was told about. Agent actions are indistinguishable from the user's own. The scenario
harness runs every case against this too, to show what agent IAM changes.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request

from hotel.access import Access, Dependency, Rule, deciding, holds_role_for, trace_of
from iam_core.resource_server import (
    AuditEvent,
    AuditSink,
    CredentialsRequired,
    InvalidToken,
    ResourcePolicy,
    Token,
    TokenType,
)

DEMO_API_KEY = "hotel-shared-api-key-demo-0123456789"
USER_HEADER = "x-user"


class BaselineGuard:
    """A :class:`hotel.access.Guard`, with what a shared key can check."""

    def __init__(
        self,
        *,
        service: str,
        audit: AuditSink,
        roles_of: Callable[[str], tuple[str, ...]],
        policy: ResourcePolicy,
        api_key: str = DEMO_API_KEY,
    ) -> None:
        self.service = service
        self.policy = policy
        self._audit = audit
        self._roles_of = roles_of
        self._api_key = api_key

    def require(self, rule: Rule) -> Dependency:
        return deciding(self.check, rule)

    async def check(self, request: Request, rule: Rule) -> Access:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip(), self._api_key):
            raise InvalidToken("the shared API key is required")
        user = request.headers.get(USER_HEADER, "").strip()
        if not user:
            raise CredentialsRequired("name the user in the X-User header", realm="hotel")
        roles = self._roles_of(user)
        token = Token(_claims(user, roles), TokenType.USER)
        access = Access(self, request, rule, token)
        if rule.by_role and not holds_role_for(token, rule.scope, self.policy):
            raise access.deny(f"role insufficient for {user}")
        if not rule.objects:
            access.allow("api key accepted")
        return access

    def record(
        self,
        request: Request,
        token: Token | None,
        outcome: str,
        reason: str,
        object_id: str | None,
        details: Mapping[str, Any],
    ) -> None:
        trace = trace_of(request)
        self._audit.append(
            AuditEvent(
                event="api.request",
                outcome="allowed" if outcome == "allowed" else "denied",
                reason=reason,
                sub=token.sub if token else None,
                client_id="shared-api-key",
                service=self.service,
                method=request.method,
                path=request.url.path,
                object_id=object_id,
                trace_id=trace,
            )
        )


def _claims(user: str, roles: tuple[str, ...]) -> dict[str, Any]:
    return {
        "sub": user,
        "client_id": "shared-api-key",
        "jti": "-",
        "roles": list(roles),
        "scope": "",
        "aut": "APPLICATION_USER",
        "exp": 2**31,
        "iat": 0,
        "aud": "*",
    }
