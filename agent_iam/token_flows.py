"""The four token flows end to end, as a client runs them: used by the CLI and the tour."""

from __future__ import annotations

from typing import Any

from agents.front_door import FRONT_DOOR, FrontDoor
from iam_core.seed import DEMO_PASSWORDS, REDIRECT_URIS
from scenarios.deployment import Deployment

IAM_SCOPE_SERVICES = ("audit", "scim", "events", "tasks")


def resource_for(dep: Deployment, resource: str | None, scope: str | None) -> str | None:
    """A resource URL from a name or URL.

    Without one, the server's default applies when every scope belongs to one service;
    scopes of several services go to the service of the first scope (the token's audience
    is always one service, RFC 8707).
    """
    if resource:
        return resource if "://" in resource else dep.resource(resource)
    services = [s.split(":")[0] for s in (scope or "").split()]
    if len(set(services)) <= 1:
        return None
    first = services[0]
    return dep.resource("iam" if first in IAM_SCOPE_SERVICES else first)


async def agent_token(
    dep: Deployment, agent: str, scope: str | None, resource: str | None
) -> dict[str, Any]:
    """An agent's own token. For a service it is asked within a task: here the caller
    stands in for the front door (``hotel-chat``) and opens one (docs/design.md "Tasks");
    the task ends when its token is revoked or expires."""
    target = resource_for(dep, resource, scope)
    task = None
    if target != dep.resource("iam"):
        task = (await FrontDoor(dep.oauth, dep.app(FRONT_DOOR)).open(agent)).token
    return await dep.oauth.agent_token(dep.agent(agent), scope=scope, resource=target, task=task)


async def actor_token(dep: Deployment, agent: str) -> str:
    """An agent's scope-less identity token for the IAM, presented as ``actor_token``."""
    response = await dep.oauth.agent_token(dep.agent(agent), resource=dep.resource("iam"))
    return str(response["access_token"])


async def app_token(
    dep: Deployment, app: str, scope: str | None, resource: str | None
) -> dict[str, Any]:
    return await dep.oauth.app_token(
        dep.app(app), scope=scope, resource=resource_for(dep, resource, scope)
    )


async def user_token(
    dep: Deployment, user: str, app: str, scope: str, resource: str | None
) -> dict[str, Any]:
    """The user logs in and consents through ``app``; no agent acts (code + PKCE)."""
    return await _code_flow(dep, user, app, scope, resource)


async def obo_token(
    dep: Deployment,
    user: str,
    agent: str,
    app: str,
    scope: str,
    resource: str | None,
    authorization_details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The user logs in and consents to ``agent``; the code is redeemed with its actor token."""
    return await _code_flow(dep, user, app, scope, resource, agent, authorization_details)


async def _code_flow(
    dep: Deployment,
    user: str,
    app: str,
    scope: str,
    resource: str | None,
    agent: str | None = None,
    authorization_details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Code + PKCE through ``app`` (RFC 6749 §4.1, RFC 7636); with ``agent``, draft-02's
    ``requested_actor`` and the agent's actor token at redemption."""
    redirect = REDIRECT_URIS[app]
    code, verifier = await dep.oauth.authorize(
        dep.app(app),
        user=user,
        password=DEMO_PASSWORDS[user],
        scope=scope,
        redirect_uri=redirect,
        requested_actor=agent,
        authorization_details=authorization_details,
    )
    # An agent redeems the person's code within a task: the caller stands in for the front
    # door and opens one (docs/design.md §3.2); the delegation ends with it.
    task = (await FrontDoor(dep.oauth, dep.app(FRONT_DOOR)).open(agent)).token if agent else None
    return await dep.oauth.redeem_code(
        dep.app(app),
        code,
        verifier,
        redirect_uri=redirect,
        actor_token=await actor_token(dep, agent) if agent else None,
        task=task,
        resource=resource_for(dep, resource, scope),
    )


async def exchange_token(
    dep: Deployment, subject_token: str, agent: str, scope: str | None, resource: str | None
) -> dict[str, Any]:
    """RFC 8693: ``agent`` exchanges a user or OBO token for an OBO token naming itself."""
    return await dep.oauth.exchange(
        dep.agent(agent),
        subject_token=subject_token,
        actor_token=await actor_token(dep, agent),
        scope=scope,
        resource=resource_for(dep, resource, scope),
    )
