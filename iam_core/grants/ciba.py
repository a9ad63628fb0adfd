"""OpenID CIBA Core 1.0, poll mode: the backchannel request and the CIBA grant.

* :func:`backchannel_request` — the backchannel authentication endpoint (§7.1): an agent,
  authenticated with ``private_key_jwt`` (§7.1, RFC 7523), names the person (``login_hint``),
  the action (RFC 9396 ``authorization_details``), a ``scope`` and a ``binding_message``;
  it gets ``auth_req_id``, ``expires_in`` and ``interval`` (§7.3).
* :func:`ciba_grant` — ``urn:openid:params:grant-type:ciba`` at the token endpoint (§10.1):
  ``authorization_pending``, ``slow_down``, ``access_denied``, ``expired_token`` (§11) until
  the person approves; then one on-behalf-of token whose ``act`` names the agent (RFC 8693
  §4.1), whose ``authorization_details`` are exactly the approved ones and whose ``approval``
  claim names the request. The service records its ``jti`` as consumed with the action, so
  the token pays once. Like every token an agent gets for a service, it is redeemed within
  the task of the person's request (``task_token``, iam_core/tasks.py): it carries the task,
  ends with it and counts against its ``tokens_per_task``.

Only an agent the person has consented to may ask her (no consent: ``unknown_user_id``,
§13, the same answer as for a person who does not exist — nobody learns who is a user).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from iam_core.approval_policy import APPROVAL_TYPES
from iam_core.approvals import APPROVED, DENIED, EXPIRED, PENDING, Approval, ApprovalError
from iam_core.approvals import binding_message_problem as _message_problem
from iam_core.client_auth import Client
from iam_core.dpop import DPoPProof
from iam_core.errors import InvalidGrant, InvalidRequest, InvalidScope, OAuthError
from iam_core.grants.issue import Grant, Issued, UserClaims, mint, requested_scope, required
from iam_core.grants.task import bound_to_task
from iam_core.iam import IAM
from iam_core.tokens import TokenType


class CibaError(OAuthError):
    """A CIBA §11/§13 error; ``error`` is the code, ``status`` the HTTP status."""

    def __init__(
        self, error: str, description: str, status: int = 400, event: str = "approval.refused"
    ) -> None:
        super().__init__(description)
        self.error = error
        self.status = status
        self.event = event  # what the backchannel endpoint audits the refusal as


def _details(raw: str | None) -> tuple[dict[str, Any], ...]:
    """RFC 9396 §2 ``authorization_details``: one action of a type that needs approval."""
    if not raw:
        raise InvalidRequest("authorization_details is required: name the action to approve")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise CibaError("invalid_authorization_details", "not a JSON array") from exc
    if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict)):
        raise CibaError("invalid_authorization_details", "name exactly one action (RFC 9396 §2)")
    detail = value[0]
    if detail.get("type") not in APPROVAL_TYPES:
        raise CibaError("invalid_authorization_details", f"type must be one of {APPROVAL_TYPES}")
    booking = detail.get("booking_id")
    if not isinstance(booking, str) or not booking or len(booking) > 64:
        raise CibaError("invalid_authorization_details", "booking_id is required")
    for name in ("amount_cents", "nightly_rate_cents"):
        if name in detail and not (
            isinstance(detail[name], int)
            and not isinstance(detail[name], bool)
            and detail[name] > 0
        ):
            raise CibaError("invalid_authorization_details", f"{name} must be a positive integer")
    if detail["type"] in ("payment", "refund") and "amount_cents" not in detail:
        raise CibaError("invalid_authorization_details", "amount_cents is required")
    for name, item in detail.items():
        if not isinstance(item, (str, int)) or len(str(item)) > 120:
            raise CibaError("invalid_authorization_details", f"{name[:40]} must be short text")
    return (detail,)


def backchannel_request(iam: IAM, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
    """CIBA §7.1 → §7.3: register the request; the person sees it on her approvals page."""
    if client.kind != "agent":
        raise CibaError("unauthorized_client", "only an agent asks a person for approval")
    if any(form.get(h) for h in ("id_token_hint", "login_hint_token")):
        raise InvalidRequest("name the person with login_hint (§7.1: exactly one hint)")
    user_id = required(form, "login_hint")
    scopes = requested_scope(form)
    if not scopes:
        raise InvalidScope("scope is required")
    details = _details(form.get("authorization_details"))
    message = (form.get("binding_message") or "").strip()
    limits = iam.approvals.limits
    if len(message) > limits.binding_message_max:
        raise CibaError("invalid_binding_message", "binding_message is too long")
    problem = _message_problem(message, details)
    if problem is not None:
        raise CibaError("invalid_binding_message", problem)
    user = iam.registry.get_user(user_id)
    consents = [c for c in iam.consents.for_user(user_id) if c.actor == client.id]
    if user is None or not user.active or not consents:
        raise CibaError("unknown_user_id", "no person by that hint has delegated to this agent")
    consent = consents[0]
    agent = iam.registry.get_agent(client.id)
    granted = iam.policy.obo_scope(
        scopes,
        user_roles=user.roles,
        agent_delegable=agent.delegable if agent else frozenset(),
        consented=consent.scopes,
    )
    if granted != scopes:
        raise InvalidScope("the approval may only be for scope the person delegated")
    iam.resource(form.get("resource"), scopes)  # one audience, checked now (RFC 8707)
    try:
        approval = iam.approvals.request(
            agent_id=client.id,
            user_id=user_id,
            client_id=consent.client_id,
            scopes=scopes,
            details=details,
            binding_message=message,
        )
    except ApprovalError as exc:
        raise CibaError(exc.error, exc.description, exc.status, exc.event) from exc
    return {
        "auth_req_id": approval.auth_req_id,
        "expires_in": int(approval.expires_at - approval.created_at),
        "interval": approval.interval,
    }


def ciba_grant(iam: IAM, client: Client, form: Mapping[str, str], dpop: DPoPProof | None) -> Issued:
    """CIBA §10.1: redeem an approved request, once, for the agent that asked."""
    approval = iam.approvals.get(required(form, "auth_req_id"))
    if approval is None or approval.agent_id != client.id:
        raise InvalidGrant("unknown auth_req_id")  # §11: another client's id is unknown too
    try:
        approval = iam.approvals.polled(approval)
    except ApprovalError as exc:
        raise CibaError(exc.error, exc.description) from exc
    if approval.status == PENDING:
        raise CibaError("authorization_pending", f"waiting for {approval.user_id}'s approval")
    if approval.status == DENIED:
        raise CibaError("access_denied", f"{approval.user_id} denied the request")
    if approval.status == EXPIRED:
        raise CibaError("expired_token", "the request expired before it was approved")
    if approval.status != APPROVED:
        raise InvalidGrant("this approval was already used")
    # After the §11 answers: polling needs no task, redeeming the approval does (and an
    # approval refused for want of a live task stays unused, for a retry within one).
    task = bound_to_task(iam, form, client.id)
    return _issue(iam, approval, dpop, task)


def _issue(
    iam: IAM, approval: Approval, dpop: DPoPProof | None, task: tuple[dict[str, str], int | None]
) -> Issued:
    user = iam.registry.get_user(approval.user_id)
    agent = iam.registry.get_agent(approval.agent_id)
    if user is None or not user.active or agent is None or not agent.active:
        raise InvalidGrant("the person or the agent is no longer active")
    resource = iam.resource(None, approval.scopes)
    grant = Grant(
        TokenType.OBO,
        user.id,
        approval.client_id,
        resource,
        approval.scopes,
        approval.scopes,
        act={"sub": agent.id},
        user=UserClaims(user.roles, approval.details),
    )
    extra = {"approval": approval_claim(approval), **task[0]}
    issued = mint(iam, grant, dpop, extra=extra, expires_at=task[1])
    if not iam.approvals.mark_used(approval, issued.claims.jti):
        raise InvalidGrant("this approval was already used")
    return issued


def approval_claim(approval: Approval) -> dict[str, Any]:
    """The ``approval`` claim: which request, decided by whom, for which action."""
    return {
        "auth_req_id": approval.auth_req_id,
        "action": approval.action,
        "approved_by": approval.user_id,
    }
