"""The token exchange grant (RFC 8693 §2): delegation from token to token.

A user or OBO ``subject_token`` and the agent's own ``actor_token`` give an OBO token: the
same delegation for another audience, bounded by the live consent; the current actor of a
chain moving it on; or a further hop, which nests ``act`` (§4.1) and only narrows. With an
``audience``, the exchange is a hand-off (:mod:`iam_core.grants.handoff`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iam_core.client_auth import Client
from iam_core.consent import Authorization
from iam_core.dpop import DPoPProof
from iam_core.errors import InvalidGrant, InvalidRequest, InvalidScope
from iam_core.grants.handoff import handoff
from iam_core.grants.issue import (
    SUBJECT_TOKEN_TYPES,
    AuthorizationDetails,
    Grant,
    Issued,
    UserClaims,
    actor_token,
    carried_details,
    mint,
    requested_scope,
    required,
    verified,
)
from iam_core.grants.task import inherited_task
from iam_core.iam import IAM
from iam_core.policy import nest_act
from iam_core.tokens import TokenType


def token_exchange(
    iam: IAM, client: Client, form: Mapping[str, str], dpop: DPoPProof | None
) -> Issued:
    if form.get("subject_token_type") not in SUBJECT_TOKEN_TYPES:
        raise InvalidRequest(f"subject_token_type must be one of {SUBJECT_TOKEN_TYPES}")
    if form.get("requested_token_type") not in (None, *SUBJECT_TOKEN_TYPES):
        raise InvalidRequest("only access tokens can be requested")
    if "actor_token" not in form:
        raise InvalidRequest("actor_token is required: this server only issues delegation")
    subject = verified(iam, required(form, "subject_token"), "subject_token", None)
    if subject.token_type not in (TokenType.USER, TokenType.OBO):
        raise InvalidGrant("subject_token must be a user or on-behalf-of token")
    bound = subject.claims.get("cnf")
    if isinstance(bound, Mapping) and (dpop is None or dpop.jkt != bound.get("jkt")):
        # RFC 9449 §6: a bound token is only usable with its key — at the token endpoint
        # too, or an exchange would launder it into a bearer token.
        raise InvalidGrant("subject_token is DPoP-bound: the request needs a proof by its key")
    actor = actor_token(iam, form, expected=None)
    if actor.sub != client.id:
        raise InvalidGrant("actor_token must belong to the authenticated client")
    may_act = subject.claims.get("may_act")
    if isinstance(may_act, Mapping) and may_act.get("sub") != actor.sub:
        raise InvalidGrant("subject_token's may_act does not name this actor (RFC 8693, 4.4)")
    user = iam.registry.get_user(subject.sub)
    agent = iam.registry.get_agent(actor.sub)
    if user is None or not user.active or agent is None:
        raise InvalidGrant("the subject or actor is no longer active")
    requested = requested_scope(form)
    if form.get("audience"):
        return handoff(iam, subject, actor.sub, form["audience"], requested)
    current = subject.actors[0] if subject.actors else None
    authorization: Authorization | None = None
    act: dict[str, Any]
    details: AuthorizationDetails
    if subject.actors in ((), (actor.sub,)):
        # The same direct delegation (user → this agent), perhaps for another audience:
        # bounded by the authorization that produced the subject token (its record, or its
        # own scope and details) and by the consent, which must still be live — never by
        # the union of standing consents (RFC 8693 §2.1; docs/design.md, delegation rules).
        consent = iam.consents.get(user.id, subject.client_id, actor.sub)
        if consent is None:
            raise InvalidGrant(
                f"{user.id} has not consented to {actor.sub} acting through {subject.client_id}"
            )
        behind = iam.consents.authorization_of(subject.jti) or Authorization(
            subject.scopes, carried_details(subject)
        )
        ceiling = iam.policy.obo_scope(
            behind.scopes,
            user_roles=user.roles,
            agent_delegable=agent.delegable,
            consented=consent.scopes,
        )
        authorization = Authorization(ceiling, behind.authorization_details)
        wanted = requested or ceiling
        resource = iam.resource(form.get("resource"), wanted)
        scopes = wanted & ceiling
        act = dict(subject.act) if subject.act else {"sub": actor.sub}
        details = behind.authorization_details
    elif current == actor.sub:
        # The current actor of a longer chain moves it to another audience: the chain
        # stays as it is and, like any hop, the scope only narrows.
        wanted = requested or subject.scopes
        resource = iam.resource(form.get("resource"), wanted)
        scopes = iam.policy.hop_scope(
            wanted, subject_scope=subject.scopes, actor_delegable=agent.delegable
        )
        act = dict(subject.act or {})
        details = carried_details(subject)
    else:
        # A further hop: nest act, never widen (RFC 8693 §4.1; DESIGN delegation rules).
        if actor.sub in subject.actors:
            raise InvalidGrant(f"{actor.sub} is already in the delegation chain")
        act = nest_act(subject.act, actor.sub)
        if not iam.policy.depth_allowed(act):
            raise InvalidGrant(f"delegation depth would exceed {iam.policy.max_delegation_depth}")
        wanted = requested or subject.scopes
        resource = iam.resource(form.get("resource"), wanted)
        scopes = iam.policy.hop_scope(
            wanted, subject_scope=subject.scopes, actor_delegable=agent.delegable
        )
        details = carried_details(subject)
    scopes = frozenset(s for s in scopes if resource.owns(s))
    if not scopes:
        raise InvalidScope(
            f"nothing of the requested scope may be delegated to {actor.sub} at {resource.name}"
        )
    grant = Grant(
        TokenType.OBO,
        user.id,
        subject.client_id,
        resource,
        scopes,
        requested,
        act=act,
        user=UserClaims(user.roles, details),
    )
    task, ends = inherited_task(iam, subject)  # a task's tokens stay its own (tasks.py)
    issued = mint(iam, grant, dpop, extra=task or None, expires_at=ends)
    if authorization is not None:
        iam.consents.record_authorization(issued.claims.jti, issued.claims.exp, authorization)
    return issued
