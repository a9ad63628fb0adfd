"""Small helpers for IAM tests: decode without verifying, read audit entries, open a task."""

from __future__ import annotations

import re
from typing import Any

import httpx

from agent_iam import token_flows
from agents.front_door import FRONT_DOOR, FrontDoor, Task
from agents.oauth import decode_unverified
from iam_core.audit import AuditEntry
from iam_core.seed import DEMO_PASSWORDS, REDIRECT_URIS
from scenarios.deployment import Deployment

_FORM_TOKEN = re.compile(r"name=csrf value='([0-9a-f]{64})'")


def form_token(page: httpx.Response) -> str:
    """The anti-CSRF token of the form on an IAM page."""
    found = _FORM_TOKEN.search(page.text)
    assert found is not None, "the page has no form token"
    return found.group(1)


async def sign_in(
    http: httpx.AsyncClient, user: str, password: str, request_id: str = "", **headers: str
) -> httpx.Response:
    """Open the login page (its token, its pre-session cookie) and post it, as a browser."""
    page = await http.get("/login", params={"request_id": request_id} if request_id else None)
    data = {"username": user, "password": password, "csrf": form_token(page)}
    if request_id:
        data["request_id"] = request_id
    return await http.post("/login", data=data, headers=headers)


def claims(response: dict[str, Any]) -> dict[str, Any]:
    return decode_unverified(response["access_token"])


def audit(dep: Deployment, event: str | None = None) -> list[AuditEntry]:
    assert dep.iam is not None
    return dep.iam.audit.query(event=event)


def last_refusal(dep: Deployment) -> AuditEntry:
    refused = audit(dep, "token.refused")
    assert refused, "the refusal was not audited"
    return refused[-1]


async def consented_code(
    dep: Deployment,
    scope: str,
    *,
    user: str = "alice",
    app: str = "hotel-web",
    actor: str | None = None,
    approve: bool = True,
) -> tuple[str, str]:
    """``user`` logs in to ``app`` and answers its consent page (for ``actor``, if named);
    returns the authorization code and its PKCE verifier."""
    return await dep.oauth.authorize(
        dep.app(app),
        user=user,
        password=DEMO_PASSWORDS[user],
        scope=scope,
        redirect_uri=REDIRECT_URIS[app],
        requested_actor=actor,
        approve=approve,
    )


async def open_task(dep: Deployment, agent: str = "booking-assistant") -> str:
    """A task token for ``agent``, opened as its front door (``hotel-chat``) opens one: an
    agent's own token for a service is asked within a task (docs/design.md §3.2)."""
    return (await FrontDoor(dep.oauth, dep.app(FRONT_DOOR)).open(agent)).token


async def obo_within(
    dep: Deployment, task: Task | None, scope: str = "booking:create booking:read concierge:request"
) -> dict[str, Any]:
    """alice consents to the booking assistant at hotel-web; it redeems the code for booking
    within ``task`` (the front door's task of her request; None: without one)."""
    app, redirect = dep.app("hotel-web"), REDIRECT_URIS["hotel-web"]
    code, verifier = await dep.oauth.authorize(
        app,
        user="alice",
        password=DEMO_PASSWORDS["alice"],
        scope=scope,
        redirect_uri=redirect,
        requested_actor="booking-assistant",
    )
    return await dep.oauth.redeem_code(
        app,
        code,
        verifier,
        redirect_uri=redirect,
        actor_token=await token_flows.actor_token(dep, "booking-assistant"),
        resource=dep.resource("booking"),
        task=task.token if task else None,
    )
