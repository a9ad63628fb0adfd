"""``agent-iam tour``: each of the four tokens through the real flows, decoded side by side.

Runs an in-memory deployment (nothing to set up), then: an Agent token, an App token, a
User token, an OBO token by the draft-02 flow, an RFC 8693 re-audience and a further hop
that nests ``act``; introspection before and after revocation; the guest withdrawing
consent; and the audit log verified at the end, agent activity apart from human.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from agent_iam import token_flows
from agents.oauth import OAuthClientError, decode_unverified
from iam_core.seed import DEMO_PASSWORDS
from scenarios.deployment import Deployment, deployment


def _row(label: str, response: dict[str, Any]) -> dict[str, Any]:
    claims = decode_unverified(response["access_token"])
    return {"step": label, "claims": claims}


async def _steps(dep: Deployment) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    rows.append(
        _row(
            "Agent token (client_credentials + private_key_jwt)",
            await token_flows.agent_token(dep, "booking-assistant", "availability:read", None),
        )
    )
    rows.append(
        _row(
            "App token (client_credentials + client_secret_basic)",
            await token_flows.app_token(dep, "booking-backend", "availability:hold", None),
        )
    )
    rows.append(
        _row(
            "User token (authorization code + PKCE, alice logs in)",
            await token_flows.user_token(dep, "alice", "hotel-web", "booking:read", None),
        )
    )
    obo = await token_flows.obo_token(
        dep,
        "alice",
        "booking-assistant",
        "hotel-web",
        "booking:create booking:read payment:charge concierge:request",
        "booking",
    )
    rows.append(_row("OBO token (code + requested_actor, redeemed with actor_token)", obo))
    payment = await token_flows.exchange_token(
        dep, obo["access_token"], "booking-assistant", "payment:charge", None
    )
    rows.append(_row("OBO token for payment (RFC 8693 exchange, same delegation)", payment))
    concierge = await token_flows.exchange_token(
        dep, obo["access_token"], "booking-assistant", "concierge:request", None
    )
    hop = await token_flows.exchange_token(
        dep, concierge["access_token"], "staff-assistant", "concierge:request", None
    )
    rows.append(_row("OBO hop to staff-assistant (RFC 8693, nested act)", hop))

    auditor = dep.app("auditor")
    before = await dep.oauth.introspect(obo["access_token"], as_app=auditor)
    await dep.oauth.revoke(obo["access_token"], as_agent=dep.agent("booking-assistant"))
    after = await dep.oauth.introspect(obo["access_token"], as_app=auditor)
    notes.append(
        f"introspection of the OBO token: active={before['active']}, "
        f"act={json.dumps(before.get('act'))}; after /revoke: active={after['active']}"
    )

    await dep.oauth.withdraw_consent(
        user="alice", password=DEMO_PASSWORDS["alice"], actor="booking-assistant"
    )
    status = await dep.oauth.introspect(payment["access_token"], as_app=auditor)
    notes.append(
        f"alice withdrew consent for booking-assistant: its payment token is now "
        f"active={status['active']}"
    )
    try:
        await token_flows.exchange_token(
            dep, hop["access_token"], "booking-assistant", "concierge:request", None
        )
        notes.append("UNEXPECTED: an exchange after withdrawal succeeded")
    except OAuthClientError as exc:
        notes.append(f"exchange after withdrawal refused: {exc.error}")
    return rows, notes


async def run_tour(console: Console, *, as_json: bool = False) -> int:
    async with deployment(in_memory=True) as dep:
        rows, notes = await _steps(dep)
        assert dep.iam is not None
        verification = dep.iam.audit.verify()
        agent_entries = len(dep.iam.audit.query(actor_kind="agent"))
        human_entries = len(dep.iam.audit.query(actor_kind="human"))
        total = len(dep.iam.audit)
    failed = any(n.startswith("UNEXPECTED") for n in notes) or not verification.ok
    if as_json:
        print(
            json.dumps(
                {
                    "tokens": rows,
                    "notes": notes,
                    "audit": {
                        "ok": verification.ok,
                        "entries": total,
                        "agent_entries": agent_entries,
                        "human_entries": human_entries,
                    },
                },
                indent=2,
            )
        )
        return 1 if failed else 0
    table = Table(title="The four tokens, through the real flows", show_lines=True)
    table.add_column("token · how it was obtained", max_width=30)
    table.add_column("claims (decoded)", no_wrap=True)
    for row in rows:
        c = row["claims"]
        name, _, how = row["step"].partition(" (")
        claims = "\n".join(
            [
                f"sub       {c['sub']}",
                f"act       {_chain(c.get('act'))}",
                f"aut       {c['aut']}",
                f"aud       {c['aud']}",
                f"scope     {c['scope']}",
                f"client_id {c['client_id']}",
            ]
        )
        table.add_row(f"[bold]{name}[/bold]\n{how.rstrip(')')}", claims)
    console.print(table)
    for note in notes:
        console.print(f"• {note}")
    colour = "green" if verification.ok else "red"
    console.print(
        f"[{colour}]audit log: {verification.reason}[/{colour}] — {total} entries "
        f"({agent_entries} agent activity, {human_entries} human activity)"
    )
    return 1 if failed else 0


def _chain(act: dict[str, Any] | None) -> str:
    names = []
    while act:
        names.append(str(act["sub"]))
        act = act.get("act")
    return " ← ".join(names) or "—"
