"""The client credentials grant (RFC 6749 §4.4): a client's token for itself.

An agent (authenticated with private_key_jwt, RFC 7523) gets an Agent token holding only its
autonomous scopes — for a service, only within a live task its front door opened
(``task_token``, :mod:`iam_core.tasks`); an app (client_secret_basic) gets an App token
holding its scopes, and a front door's task token names the agent (``requested_actor``).
"""

from __future__ import annotations

from collections.abc import Mapping

from iam_core.client_auth import Client
from iam_core.dpop import DPoPProof
from iam_core.errors import InvalidScope
from iam_core.grants.issue import Grant, Issued, mint, requested_scope
from iam_core.grants.task import live_task, task_actor
from iam_core.iam import IAM
from iam_core.tasks import TASK_CLAIM, TASK_SCOPE
from iam_core.tokens import TokenType


def client_credentials(
    iam: IAM, client: Client, form: Mapping[str, str], dpop: DPoPProof | None
) -> Issued:
    requested = requested_scope(form)
    if client.agent is not None:
        allowed, token_type = client.agent.autonomous, TokenType.AGENT
    else:
        assert client.app is not None
        allowed, token_type = client.app.scopes, TokenType.APP
    resource = iam.resource(form.get("resource"), requested or allowed)
    wanted = frozenset(requested or {s for s in allowed if resource.owns(s)})
    if client.agent is not None:
        # An agent on its own: only its autonomous scopes (DESIGN delegation rules).
        held = iam.policy.autonomous_scope(wanted, autonomous=allowed)
    else:
        held = wanted & allowed
    granted = frozenset(s for s in held if resource.owns(s))
    # An agent may hold a scope-less token for the IAM itself: its identity, to present
    # as actor_token (draft-oauth-ai-agents-on-behalf-of-user-02 §5, RFC 8693 §2.1).
    identity_only = token_type is TokenType.AGENT and resource.name == "iam" and not requested
    if not granted and not identity_only:
        raise InvalidScope(
            f"none of the requested scopes may be used by {client.id} at {resource.name}"
        )
    extra: dict[str, object] = {}
    expires_at: int | None = None
    if client.agent is not None and resource.name != "iam" and iam.config.task_scoped_agents:
        task = live_task(iam, form, client.id)
        extra[TASK_CLAIM], expires_at = task.jti, task.exp  # never outlives its task
    elif client.app is not None and TASK_SCOPE in granted:
        extra["may_act"] = {"sub": task_actor(iam, form)}  # RFC 8693 §4.4: who may act
    grant = Grant(token_type, client.id, client.id, resource, granted, requested)
    return mint(iam, grant, dpop, extra=extra or None, expires_at=expires_at)
