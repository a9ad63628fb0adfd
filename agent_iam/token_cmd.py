"""``agent-iam token``: run one flow and print the token(s).

A token has one audience (RFC 8707; docs/design.md, "Audiences"). Scopes of several
services therefore get one token per service — each printed with its audience on stderr,
tokens one per line on stdout — so that no scope is ever dropped silently; ``exchange``,
whose subject token has one audience, refuses such scopes and names the services.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agent_iam import token_flows
from agent_iam.errors import UsageError
from agents.oauth import decode_unverified
from iam_core.seed import DEMO_AGENTS, DEMO_PASSWORDS, REDIRECT_URIS, demo_apps
from scenarios.deployment import Deployment, deployment, state_dir

DEFAULT_APP = {"app": "booking-backend", "user": "hotel-web", "obo": "hotel-web"}


def by_service(scope: str | None) -> dict[str, str]:
    """The scopes grouped by the resource that owns them, in the order first named."""
    groups: dict[str, list[str]] = {}
    for s in (scope or "").split():
        service = s.split(":")[0]
        name = "iam" if service in token_flows.IAM_SCOPE_SERVICES else service
        groups.setdefault(name, []).append(s)
    return {name: " ".join(scopes) for name, scopes in groups.items()}


def check(args: argparse.Namespace) -> None:
    """Refuse unknown names before any flow starts."""
    agents = {a.id for a in DEMO_AGENTS}
    folder = state_dir() / "agent-keys"
    if folder.is_dir():
        agents |= {p.stem for p in folder.glob("*.pem")}
    for flag, value in (("--agent", args.agent), ("--to", args.to_agent)):
        if value is not None and value not in agents:
            raise UsageError(
                f"unknown agent {value!r} for {flag} (one of {', '.join(sorted(agents))})"
            )
    if args.kind in ("user", "obo", "exchange") and args.user not in DEMO_PASSWORDS:
        raise UsageError(
            f"unknown user {args.user!r}: the CLI logs in as a demo user "
            f"({', '.join(DEMO_PASSWORDS)})"
        )
    apps = [a.id for a in demo_apps()]
    if args.app is not None and args.app not in apps:
        raise UsageError(f"unknown app {args.app!r} (one of {', '.join(apps)})")
    logs_in = args.kind in ("user", "obo") or (args.kind == "exchange" and not args.subject_token)
    if logs_in and args.app is not None and args.app not in REDIRECT_URIS:
        raise UsageError(
            f"app {args.app!r} has no redirect URI for a user's login "
            f"(one of {', '.join(REDIRECT_URIS)})"
        )
    if logs_in and not args.scope:
        raise UsageError(f"token {args.kind}: --scope is required for this flow")
    if args.kind == "exchange" and not args.resource and len(by_service(args.scope)) > 1:
        raise UsageError(
            "token exchange: the scopes belong to "
            f"{', '.join(by_service(args.scope))}; one audience per token — exchange for one "
            "service at a time (or name it with --resource)"
        )


async def run_token(args: argparse.Namespace) -> int:
    check(args)
    groups = by_service(args.scope)
    requests = [(args.scope, args.resource)]
    if args.resource is None and len(groups) > 1 and args.kind != "exchange":
        requests = [(scope, name) for name, scope in groups.items()]
    responses = []
    async with deployment(server=args.server, db=args.db) as dep:
        for scope, resource in requests:
            response = await _one(dep, args, scope, resource)
            claims = decode_unverified(response["access_token"])
            responses.append(response | {"audience": claims.get("aud")})
    for response in responses if not args.json else []:
        if len(responses) > 1:
            print(f"audience {response['audience']}:", file=sys.stderr)
        print(response["access_token"], flush=True)
        if args.decode:
            claims = decode_unverified(response["access_token"])
            print(json.dumps(claims, indent=2), file=sys.stderr)
    if args.json:
        print(json.dumps(responses[0] if len(responses) == 1 else responses, indent=2))
    return 0


async def _one(
    dep: Deployment, args: argparse.Namespace, scope: str | None, resource: str | None
) -> dict[str, Any]:
    app = args.app or DEFAULT_APP.get(args.kind, "hotel-web")
    if args.kind == "agent":
        return await token_flows.agent_token(dep, args.agent, scope, resource)
    if args.kind == "app":
        return await token_flows.app_token(dep, app, scope, resource)
    if args.kind == "user":
        return await token_flows.user_token(dep, args.user, app, scope or "", resource)
    if args.kind == "obo":
        return await token_flows.obo_token(dep, args.user, args.agent, app, scope or "", resource)
    subject = args.subject_token
    if subject is None:
        first = await token_flows.obo_token(dep, args.user, args.agent, app, scope or "", resource)
        subject = first["access_token"]
    return await token_flows.exchange_token(
        dep, subject, args.to_agent or "staff-assistant", scope, resource
    )
