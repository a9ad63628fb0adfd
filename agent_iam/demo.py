"""``agent-iam demo``: every identity of the demo world, its roles and scopes, and the demo
credentials, so that a person can try the endpoints with curl."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from hotel.app import SERVICES
from hotel.baseline import DEMO_API_KEY
from hotel.world import HotelWorld
from iam_core.policy import DEFAULT_ROLE_SCOPES, format_scope
from iam_core.seed import DEMO_AGENTS, DEMO_PASSWORDS, DEMO_SECRETS, DEMO_USERS, demo_apps
from iam_core.store import Store
from scenarios.deployment import DEFAULT_ISSUER, hotel_people, state_dir


def demo_hotels(seed: int = 0) -> list[dict[str, Any]]:
    """The hotels of a seeded world, fixed names first."""
    world = HotelWorld.seeded(Store(), people=hotel_people(), seed=seed)
    return [
        {
            "id": h.id,
            "name": h.name,
            "city": h.city,
            "rooms": {r.room_type: r.nightly_rate_cents for r in h.room_types},
        }
        for h in world.hotels()
    ]


def demo_world() -> dict[str, Any]:
    folder = state_dir() / "agent-keys"
    return {
        "issuer": DEFAULT_ISSUER,
        "state_dir": str(state_dir()),
        "users": [
            {
                "id": uid,
                "name": name,
                "roles": list(roles),
                "password": DEMO_PASSWORDS[uid],
                "scopes": format_scope(frozenset().union(*(DEFAULT_ROLE_SCOPES[r] for r in roles))),
            }
            for uid, name, roles in DEMO_USERS
        ],
        "agents": [
            {
                "id": a.id,
                "name": a.display_name,
                "owner": a.owner,
                "kind": a.kind,
                "delegable_scopes": format_scope(a.delegable),
                "autonomous_scopes": format_scope(a.autonomous),
                "private_key": str(folder / f"{a.id}.pem"),
                "auth": "private_key_jwt",
            }
            for a in DEMO_AGENTS
        ],
        "apps": [
            {
                "id": app.id,
                "name": app.name,
                "type": "confidential" if app.confidential else "public",
                "auth": app.auth_method,
                "secret": DEMO_SECRETS.get(app.id),
                "grants": sorted(app.grant_types),
                "scopes": format_scope(app.scopes),
                "redirect_uris": list(app.redirect_uris),
            }
            for app in demo_apps()
        ],
        "hotels": demo_hotels(),
        "services": {name: f"{DEFAULT_ISSUER}/hotel/{name}" for name in SERVICES},
        "baseline_api_key": DEMO_API_KEY,
        "note": "demo credentials for this lab only; agents' private keys never reach the IAM",
    }


def print_demo(console: Console, *, as_json: bool) -> int:
    world = demo_world()
    if as_json:
        print(json.dumps(world, indent=2))
        return 0
    users = Table("user", "roles", "password", "may do", title="Users")
    for u in world["users"]:
        users.add_row(u["id"], ", ".join(u["roles"]), u["password"], u["scopes"])
    agents = Table(
        "agent", "owner", "delegable", "on its own", "private key", title="Agents (private_key_jwt)"
    )
    for a in world["agents"]:
        agents.add_row(
            a["id"], a["owner"], a["delegable_scopes"], a["autonomous_scopes"], a["private_key"]
        )
    apps = Table("app", "type", "auth", "secret", "grants / scopes", title="Apps")
    for app in world["apps"]:
        apps.add_row(
            app["id"],
            app["type"],
            app["auth"],
            app["secret"] or "—",
            f"{', '.join(app['grants'])}\n{app['scopes']}",
        )
    hotels = Table("hotel", "name", "city", "nightly rates (EUR)", title="Hotels")
    for h in world["hotels"]:
        rates = ", ".join(f"{k} {v / 100:.0f}" for k, v in h["rooms"].items())
        hotels.add_row(h["id"], h["name"], h["city"], rates)
    for table in (users, agents, apps, hotels):
        console.print(table)
    console.print("Services: " + "  ".join(world["services"].values()))
    console.print(f"Baseline (--baseline) shared API key: {world['baseline_api_key']}")
    console.print(f"State folder: {world['state_dir']}  ·  issuer {world['issuer']}")
    return 0
