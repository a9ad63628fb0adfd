"""``agent-iam demo``: every identity of the demo world, its roles and scopes, and the demo
credentials, so that a person can try the endpoints with curl."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from hotel.app import SERVICES
from hotel.baseline import DEMO_API_KEY
from hotel.world import HotelWorld
from iam_core.iam import IAMConfig
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


def approval_rules(config: IAMConfig | None = None) -> dict[str, list[str]]:
    """What needs a person's approval (OpenID CIBA) and the limits on asking, in words
    (``Policy.approvals`` and ``IAMConfig.approval_limits``)."""
    config = config or IAMConfig()
    return {
        "needs_approval": config.policy.approvals.describe(),
        "limits": config.approval_limits.describe(),
    }


def task_rules(config: IAMConfig | None = None) -> list[str]:
    """How an agent's own authority is bound to a person's request, in words (docs/design.md
    §3.2, ``IAMConfig.task_scoped_agents``, ``tokens_per_task``, ``requests_per_task``)."""
    config = config or IAMConfig()
    if not config.task_scoped_agents:
        return ["off: an agent's own tokens are not bound to a task"]
    per_task = config.requests_per_task
    return [
        "an agent's own token for a service needs task_token: a task the front door "
        "(hotel-chat) opened with client_credentials, scope tasks:open, requested_actor=<agent>",
        "the front door ends the task with the answer (POST /revoke of the task token): every "
        "token issued within it is revoked",
        f"a task yields at most {config.tokens_per_task} tokens"
        + (f" and {per_task.limit} requests at each service" if per_task else ""),
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
        "approvals": approval_rules(),
        "tasks": task_rules(),
        "baseline_api_key": DEMO_API_KEY,
        "note": "demo credentials for this lab only; agents' private keys never reach the IAM",
    }


def print_demo(console: Console, *, as_json: bool) -> int:
    """The world in plain lines: secrets, key paths and redirect URIs are never cut, so
    that they can be copied into curl (a table would shorten them to its width)."""
    world = demo_world()
    if as_json:
        print(json.dumps(world, indent=2))
        return 0
    lines = ["Users (password login at the IAM's /authorize page)"]
    for u in world["users"]:
        lines += [
            f"  {u['id']}  roles {', '.join(u['roles'])}  password {u['password']}",
            f"      may grant: {u['scopes']}",
        ]
    lines.append("Agents (private_key_jwt; the IAM holds only the public key)")
    for a in world["agents"]:
        lines += [
            f"  {a['id']}  ({a['name']}, owner {a['owner']})",
            f"      delegable: {a['delegable_scopes'] or '-'}",
            f"      on its own: {a['autonomous_scopes'] or '-'}",
            f"      private key: {a['private_key']}",
        ]
    lines.append("Apps")
    for app in world["apps"]:
        lines += [
            f"  {app['id']}  {app['type']}, auth {app['auth']}",
            f"      secret: {app['secret'] or '- (public client: PKCE)'}",
            f"      grants: {', '.join(app['grants'])}",
            f"      scopes: {app['scopes'] or '-'}",
        ]
        if app["redirect_uris"]:
            lines.append(f"      redirect URIs: {' '.join(app['redirect_uris'])}")
    lines.append("Hotels (nightly rates in EUR)")
    for h in world["hotels"]:
        rates = ", ".join(f"{k} {v / 100:.0f}" for k, v in h["rooms"].items())
        lines.append(f"  {h['id']}  {h['name']}, {h['city']}: {rates}")
    lines.append("Services")
    lines += [f"  {name}  {url}" for name, url in world["services"].items()]
    lines.append("When an agent acts, the person's approval is needed for (OpenID CIBA)")
    lines += [f"  - {rule}" for rule in world["approvals"]["needs_approval"]]
    lines.append("  Approve on /account/approvals or: agent-iam approvals list|approve|deny")
    lines.append("Limits on asking")
    lines += [f"  - {rule}" for rule in world["approvals"]["limits"]]
    lines.append("Tasks (an agent's own authority ends with the request it serves)")
    lines += [f"  - {rule}" for rule in world["tasks"]]
    lines += [
        f"Baseline (--baseline) shared API key: {world['baseline_api_key']}",
        f"State folder: {world['state_dir']}",
        f"Issuer: {world['issuer']}",
        f"Note: {world['note']}",
    ]
    print("\n".join(lines))
    return 0
