"""The assistants of a deployment, wired together: runtimes, a shared model, the people.

``crew(dep, model)`` gives booking-assistant and staff-assistant runtimes on the
deployment's transport, with their keys from the agent key store, their apps' credentials,
and booking-assistant able to hand off to staff-assistant. ``person(user)`` is a demo user
who can log in and consent (their demo password stays with them, never with an agent);
each person answers approval requests on her own approvals page (``approver.People``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from agents.assistants import ASSISTANTS
from agents.consent_page import Human
from agents.llm.client import ChatModel
from agents.runtime import AgentRuntime
from hotel.baseline import DEMO_API_KEY
from iam_core.policy import DEFAULT_ROLE_SCOPES
from iam_core.seed import DEMO_PASSWORDS, REDIRECT_URIS
from scenarios.approver import People
from scenarios.deployment import Deployment, service_account


def every_scope(service: str) -> str:
    """What the app asks for in the user-token profile: every scope any user may hold at
    ``service``; the IAM grants the user's own share of it (their full scopes)."""
    held = {s for scopes in DEFAULT_ROLE_SCOPES.values() for s in scopes}
    return " ".join(sorted(s for s in held if s.split(":", 1)[0] == service))


def person(user: str, approve: Callable[[Mapping[str, Any]], bool] | None = None) -> Human:
    if user not in DEMO_PASSWORDS:
        raise KeyError(f"unknown demo user {user!r} (one of {', '.join(DEMO_PASSWORDS)})")
    return Human(user, DEMO_PASSWORDS[user], approve or (lambda page: True))


@asynccontextmanager
async def crew(
    dep: Deployment, model: ChatModel, *, simulated_people: bool = True
) -> AsyncIterator[dict[str, AgentRuntime]]:
    """``simulated_people=False`` (``agent-iam chat``): approval requests wait for the real
    person, on her page or with ``agent-iam approvals``."""
    runtimes = build_crew(dep, model, simulated_people=simulated_people)
    try:
        yield runtimes
    finally:
        for runtime in runtimes.values():
            await runtime.aclose()


def build_crew(
    dep: Deployment, model: ChatModel, *, simulated_people: bool = True
) -> dict[str, AgentRuntime]:
    """The runtimes of :func:`crew`, to ``aclose`` when done (scenarios/stack.py)."""
    transport = dep.transport or httpx.AsyncHTTPTransport()

    def public_key_of(agent_id: str) -> ec.EllipticCurvePublicKey | None:
        # The runtime registered these public keys with the IAM; only known agents resolve.
        return dep.keystore.private_key(agent_id).public_key() if agent_id in ASSISTANTS else None

    runtimes: dict[str, AgentRuntime] = {}
    identity = dep.profile.identity
    people = People(dep)  # the persons' approval devices (CIBA §7.1), reached in process
    for spec in ASSISTANTS.values():
        runtimes[spec.agent_id] = AgentRuntime(
            spec,
            transport=transport,
            issuer=dep.issuer,
            credentials=dep.agent(spec.agent_id),
            model=model,
            app=dep.app(spec.app),
            redirect_uri=REDIRECT_URIS[spec.app],
            public_key_of=public_key_of,
            peers=runtimes,
            # The deployment profile decides how the agent holds authority (profiles.py).
            shared_key=DEMO_API_KEY if identity == "shared-key" else None,
            user_token_scopes=every_scope if identity == "user-token" else None,
            service_account=service_account(spec.agent_id)
            if identity == "service-account"
            else None,
            clock=dep.clock,
            notify=people if simulated_people else None,
        )
    return runtimes
