"""The authorization code grant (RFC 6749 §4.1.3, RFC 7636 PKCE): a user's consent redeemed.

A plain code gives a User token. A code bound to a requested actor gives an OBO token, and
only to that actor, who proves itself with its own ``actor_token``
(draft-oauth-ai-agents-on-behalf-of-user-02 §5); the scope is what the user may grant, the
agent may be delegated and the consent covers. Redeemed with ``task_token``, the OBO token
belongs to that task and is revoked when it ends (docs/design.md §3.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iam_core.authorization import AuthorizationFlow
from iam_core.client_auth import Client
from iam_core.consent import Authorization
from iam_core.dpop import DPoPProof
from iam_core.errors import InvalidGrant, InvalidRequest, InvalidScope
from iam_core.grants.issue import (
    Grant,
    Issued,
    UserClaims,
    actor_token,
    mint,
    requested_scope,
    required,
)
from iam_core.grants.task import bound_to_task
from iam_core.iam import IAM
from iam_core.tokens import TokenType


def authorization_code(
    iam: IAM,
    flow: AuthorizationFlow,
    client: Client,
    form: Mapping[str, str],
    dpop: DPoPProof | None,
) -> Issued:
    code = flow.redeem(
        required(form, "code"),
        client_id=client.id,
        redirect_uri=form.get("redirect_uri"),
        verifier=form.get("code_verifier"),
    )
    user = iam.registry.get_user(code.user_id)
    if user is None or not user.active:
        raise InvalidGrant("the user who authorized this code is no longer active")
    requested = requested_scope(form) or code.scopes
    resource = iam.resource(form.get("resource") or code.resource, requested)
    user_scopes = iam.policy.user_scopes(user.roles)
    act: dict[str, Any] | None = None
    task: tuple[dict[str, str], int | None] = ({}, None)
    if code.requested_actor is None:
        if "actor_token" in form:
            raise InvalidRequest("actor_token given, but the code names no requested_actor")
        scopes = requested & code.scopes & user_scopes
        token_type = TokenType.USER
    else:
        actor = actor_token(iam, form, expected=code.requested_actor)
        agent = iam.registry.get_agent(actor.sub)
        consent = iam.consents.get(user.id, client.id, actor.sub)
        if agent is None or consent is None:
            raise InvalidGrant(f"{user.id} has not consented to {actor.sub} for {client.id}")
        scopes = iam.policy.obo_scope(
            requested & code.scopes,
            user_roles=user.roles,
            agent_delegable=agent.delegable,
            consented=consent.scopes,
        )
        act, token_type = {"sub": actor.sub}, TokenType.OBO
        task = bound_to_task(iam, form, actor.sub)  # the request's task, if the agent names it
    # What this authorization grants across audiences: the bound of later exchanges.
    authorization = Authorization(scopes, code.authorization_details)
    scopes = frozenset(s for s in scopes if resource.owns(s))
    if not scopes:
        raise InvalidScope(f"no authorized scope belongs to {resource.name}")
    grant = Grant(
        token_type,
        user.id,
        client.id,
        resource,
        scopes,
        requested,
        act=act,
        user=UserClaims(user.roles, code.authorization_details),
    )
    issued = mint(iam, grant, dpop, extra=task[0] or None, expires_at=task[1])
    flow.note_issued(code, issued.claims.jti)
    iam.consents.record_authorization(issued.claims.jti, issued.claims.exp, authorization)
    return issued
