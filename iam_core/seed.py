"""The demo world of docs/design.md, plus faker-made extras from a seed.

Demo credentials are fixed and printed by ``agent-iam demo`` so that anyone can try the
endpoints with curl; they are for this lab only. Agents' public keys come from the agent
runtime (the caller): their private keys never pass through the IAM.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faker import Faker

from iam_core.audit import AuditEvent
from iam_core.iam import IAM
from iam_core.registry import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    Agent,
    App,
    User,
)

DEMO_USERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("alice", "Alice Martin", ("guest",)),
    ("bob", "Bob Okafor", ("guest",)),
    ("carol", "Carol Jensen", ("front-desk",)),
    ("dave", "Dave Romero", ("manager",)),
)
DEMO_PASSWORDS: Mapping[str, str] = {uid: f"{uid}-demo-password" for uid, _, _ in DEMO_USERS}
DEMO_SECRETS: Mapping[str, str] = {
    "staff-console": "staff-console-demo-secret-0123456789abcdef",
    "booking-backend": "booking-backend-demo-secret-0123456789abcdef",
    "hotel-chat": "hotel-chat-demo-secret-0123456789abcdef",
    "auditor": "auditor-demo-secret-0123456789abcdef",
    "iam-admin": "iam-admin-demo-secret-0123456789abcdef",
    "hotel-services": "hotel-services-demo-secret-0123456789abcdef",
    **{
        f"hotel-{name}": f"hotel-{name}-demo-secret-0123456789abcdef"
        for name in ("availability", "booking", "payment", "concierge")
    },
}
REDIRECT_URIS: Mapping[str, str] = {
    "hotel-web": "http://127.0.0.1:8400/callback",
    "staff-console": "http://127.0.0.1:8401/callback",
}


@dataclass(frozen=True, slots=True)
class AgentSpec:
    id: str
    display_name: str
    owner: str
    delegable: frozenset[str]
    autonomous: frozenset[str]
    kind: str = "interactive"
    # Registry roles; the hotel's route rules name these (which agents may act where).
    roles: tuple[str, ...] = ()


DEMO_AGENTS: tuple[AgentSpec, ...] = (
    AgentSpec(
        "booking-assistant",
        "Booking assistant",
        "dave",
        delegable=frozenset(
            {
                "availability:read",
                "booking:create",
                "booking:read",
                "booking:cancel",
                "payment:charge",
                "concierge:request",
            }
        ),
        autonomous=frozenset({"availability:read"}),
        roles=("guest-assistant",),
    ),
    AgentSpec(
        "staff-assistant",
        "Staff assistant",
        "dave",
        delegable=frozenset(
            {
                "availability:read",
                "booking:read",
                "booking:modify",
                "booking:rate-override",
                "payment:refund",
                "concierge:read",
                "concierge:assign",
                "concierge:request",
            }
        ),
        autonomous=frozenset({"availability:read"}),
        roles=("staff-assistant",),
    ),
)


def demo_apps() -> tuple[App, ...]:
    return (
        App(
            "hotel-web",
            "Hotel web app",
            confidential=False,
            auth_method="none",
            grant_types=frozenset({GRANT_AUTHORIZATION_CODE}),
            redirect_uris=(REDIRECT_URIS["hotel-web"],),
        ),
        App(
            "staff-console",
            "Staff console",
            confidential=True,
            auth_method="client_secret_basic",
            grant_types=frozenset({GRANT_AUTHORIZATION_CODE}),
            redirect_uris=(REDIRECT_URIS["staff-console"],),
        ),
        App(
            "booking-backend",
            "Booking backend",
            confidential=True,
            auth_method="client_secret_basic",
            grant_types=frozenset({GRANT_CLIENT_CREDENTIALS}),
            scopes=frozenset({"availability:hold", "availability:read"}),
        ),
        # The front door: hands a person's request to an agent within a task, ends the task
        # with the answer (iam_core/tasks.py).
        App(
            "hotel-chat",
            "Hotel chat (the assistants' front door)",
            confidential=True,
            auth_method="client_secret_basic",
            grant_types=frozenset({GRANT_CLIENT_CREDENTIALS}),
            scopes=frozenset({"tasks:open"}),
        ),
        App(
            "auditor",
            "Auditor",
            confidential=True,
            auth_method="client_secret_basic",
            grant_types=frozenset({GRANT_CLIENT_CREDENTIALS}),
            scopes=frozenset({"audit:read"}),
        ),
        App(
            "iam-admin",
            "IAM administration",
            confidential=True,
            auth_method="client_secret_basic",
            grant_types=frozenset({GRANT_CLIENT_CREDENTIALS}),
            scopes=frozenset({"scim:admin"}),
        ),
        App(
            "hotel-services",
            "Hotel resource servers",
            confidential=True,
            auth_method="client_secret_basic",
            grant_types=frozenset({GRANT_CLIENT_CREDENTIALS}),
            scopes=frozenset({"events:read"}),
        ),
        # One revocation-event receiver per service (RFC 8936): its own identity and cursor.
        *(
            App(
                f"hotel-{name}",
                f"Hotel {name} service (revocation events)",
                confidential=True,
                auth_method="client_secret_basic",
                grant_types=frozenset({GRANT_CLIENT_CREDENTIALS}),
                scopes=frozenset({"events:read"}),
            )
            for name in ("availability", "booking", "payment", "concierge")
        ),
    )


def seed_demo_world(
    iam: IAM, agent_jwks: Mapping[str, dict[str, Any]], *, seed: int = 0, extra_guests: int = 3
) -> None:
    """Register the fixed demo identities and ``extra_guests`` faker guests (idempotent).

    One write transaction: of several processes starting together on a fresh database, the
    first registers the world and the others find it there (no ``DuplicateIdentity``).
    """
    with iam.store.transaction():
        if iam.registry.get_user("alice") is None:
            _seed(iam, agent_jwks, seed, extra_guests)
        # A database seeded by an earlier version gets the apps added since.
        for app in demo_apps():
            if iam.registry.get_app(app.id) is None:
                iam.registry.add_app(app, DEMO_SECRETS.get(app.id))


def _seed(iam: IAM, agent_jwks: Mapping[str, dict[str, Any]], seed: int, extra_guests: int) -> None:
    for uid, name, roles in DEMO_USERS:
        iam.registry.add_user(
            User(uid, name, roles, email=f"{uid}@hotel.example"), DEMO_PASSWORDS[uid]
        )
    for spec in DEMO_AGENTS:
        iam.registry.add_agent(
            Agent(
                spec.id,
                spec.display_name,
                spec.owner,
                kind="interactive",
                roles=spec.roles,
                jwks=(dict(agent_jwks[spec.id]),),
                delegable=spec.delegable,
                autonomous=spec.autonomous,
            )
        )
    iam.record(
        AuditEvent(
            event="registry.seeded",
            outcome="allowed",
            reason="demo world registered",
            details={
                "users": len(DEMO_USERS) + extra_guests,
                "agents": len(DEMO_AGENTS),
                "apps": len(demo_apps()),
                "seed": seed,
            },
        )
    )
    fake = Faker()
    fake.seed_instance(seed)
    for n in range(extra_guests):
        first, last = fake.first_name(), fake.last_name()
        uid = f"{first.lower()}.{last.lower()}.{n}"
        iam.registry.add_user(
            User(uid, f"{first} {last}", ("guest",), email=f"{uid}@{fake.free_email_domain()}"),
            fake.password(length=16),
        )
