"""Token status endpoints: introspection (RFC 7662) and revocation (RFC 7009).

Both need an authenticated client. Introspection answers ``{"active": false}`` for anything
that is not a live token this issuer minted — it never says why, so it leaks nothing
(RFC 7662 §2.2) — and for a live token returns its claims including ``act`` and ``aut``.

Who may introspect what (RFC 7662 §4, §2.1): a protected resource the tokens of its own
audience (the ``resource_clients`` of the IAM's config: ``hotel-services`` for the four
hotel services); the token's own client, and its current actor; and an audit client
(registered with ``audit:read``) any token. Anyone else learns ``{"active": false}``, and the
refusal is audited.

Revocation answers 200 for unknown or invalid tokens (RFC 7009 §2.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iam_core.audit import AuditEvent
from iam_core.client_auth import Client
from iam_core.errors import InvalidRequest, InvalidToken, TokenError, UnauthorizedClient
from iam_core.iam import IAM
from iam_core.policy import format_scope
from iam_core.tokens import Token

# An app registered with this scope reads the whole audit trail, and may introspect any token.
AUDIT_AUTHORITY = "audit:read"

_CLAIMS = (
    "scope",
    "client_id",
    "sub",
    "aud",
    "iss",
    "exp",
    "iat",
    "nbf",
    "jti",
    "act",
    "aut",
    "may_act",
    "roles",
    "authorization_details",
    "sub_profile",
    "cnf",
)


def introspect(iam: IAM, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
    """RFC 7662 §2.2 response for ``form['token']``."""
    raw = form.get("token")
    if not raw:
        raise InvalidRequest("token is required")
    try:
        token = iam.verify_active(raw, audience=None)
    except InvalidToken as exc:
        iam.record(
            AuditEvent(
                event="token.introspected",
                outcome="allowed",
                reason=f"inactive: {exc}",
                client_id=client.id,
                details={"active": False},
            )
        )
        return {"active": False}
    allowed = introspector_role(iam, client, token)
    if allowed is None:
        iam.record(
            AuditEvent(
                event="token.introspected",
                outcome="denied",
                reason=f"{client.id} is neither a resource of the token's audience, "
                "nor its client, nor an auditor (RFC 7662 §4)",
                sub=token.sub,
                act=token.actors,
                client_id=client.id,
                token_type=token.token_type.value,
                jti=token.jti,
                object_id=token.audience,
                details={"active": False},
            )
        )
        return {"active": False}
    iam.record(
        AuditEvent(
            event="token.introspected",
            outcome="allowed",
            reason=f"active; asked by {allowed}",
            sub=token.sub,
            act=token.actors,
            client_id=client.id,
            token_type=token.token_type.value,
            jti=token.jti,
            scope=format_scope(token.scopes),
            details={"active": True},
        )
    )
    response: dict[str, Any] = {"active": True, "token_type": "Bearer"}
    response.update({k: token.claims[k] for k in _CLAIMS if k in token.claims})
    response["token_kind"] = token.token_type.value
    return response


def introspector_role(iam: IAM, client: Client, token: Token) -> str | None:
    """Why ``client`` may learn about ``token`` (RFC 7662 §4), or None when it may not."""
    if client.id == token.client_id:
        return "the token's client"
    if token.actors[:1] == (client.id,):
        return "the token's current actor"
    owned = iam.config.resource_clients.get(client.id, ())
    if any(iam.resources[name].uri == token.audience for name in owned if name in iam.resources):
        return "a resource of the token's audience"
    if client.app is not None and AUDIT_AUTHORITY in client.app.scopes:
        return "an auditor"
    return None


def revoke(iam: IAM, client: Client, form: Mapping[str, str]) -> None:
    """RFC 7009 §2.1: revoke a token issued to the client (or that the client acts under)."""
    raw = form.get("token")
    if not raw:
        raise InvalidRequest("token is required")
    try:
        token = iam.verifier.verify(raw, audience=None)
    except TokenError:
        return  # RFC 7009 §2.2: an invalid token needs no revocation, and gets a 200
    if client.id not in (token.client_id, token.sub, *token.actors[:1]):
        iam.record(
            AuditEvent(
                event="token.revoke_refused",
                outcome="denied",
                reason=f"{client.id} may not revoke a token issued to {token.client_id}",
                sub=token.sub,
                act=token.actors,
                client_id=client.id,
                jti=token.jti,
            )
        )
        raise UnauthorizedClient("the token was not issued to this client")
    iam.revoke_token(token, by=client.id)
