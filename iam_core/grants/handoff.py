"""The hand-off grant: the current actor passes part of its delegation to another agent.

A token exchange (RFC 8693 §2.1) whose ``audience`` names the agent the work goes to. The
result is an OBO token whose audience is this token endpoint only (no service accepts it),
whose ``may_act`` (§4.4) names that agent, and whose scope only narrows. It is not bound to
the sender's DPoP key, so that the receiver can present it; the receiver's own exchange then
nests ``act`` and binds the result to the receiver's key.
"""

from __future__ import annotations

from iam_core.errors import InvalidGrant, InvalidScope, InvalidTarget
from iam_core.grants.issue import Grant, Issued, UserClaims, carried_details, mint
from iam_core.grants.task import inherited_task
from iam_core.iam import IAM
from iam_core.policy import nest_act
from iam_core.tokens import Token, TokenType


def handoff(
    iam: IAM, subject: Token, actor: str, target_id: str, requested: frozenset[str]
) -> Issued:
    if not subject.actors or subject.actors[0] != actor:
        raise InvalidGrant("only the current actor of a delegation can hand it off")
    target = iam.registry.get_agent(target_id)
    if target is None or not target.active or target_id == actor:
        raise InvalidTarget(f"audience {target_id[:64]!r} is not another active agent")
    if target_id in subject.actors:
        raise InvalidGrant(f"{target_id} is already in the delegation chain")
    if not iam.policy.depth_allowed(nest_act(subject.act, target_id)):
        raise InvalidGrant(f"delegation depth would exceed {iam.policy.max_delegation_depth}")
    scopes = iam.policy.hop_scope(
        requested or subject.scopes,
        subject_scope=subject.scopes,
        actor_delegable=target.delegable,
    )
    if not scopes:
        raise InvalidScope(f"nothing of the requested scope may be handed to {target_id}")
    user = iam.registry.get_user(subject.sub)
    assert user is not None  # checked active by the caller
    grant = Grant(
        TokenType.OBO,
        subject.sub,
        subject.client_id,
        iam.resources["iam"],
        scopes,
        requested,
        act=dict(subject.act or {}),
        user=UserClaims(user.roles, carried_details(subject), may_act=target_id),
    )
    task, ends = inherited_task(iam, subject)  # the hand-off ends with the sender's task
    return mint(iam, grant, None, extra=task or None, expires_at=ends)
