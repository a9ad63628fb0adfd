"""``agent-iam approvals list|approve|deny``: a person answers approval requests from a
terminal, as on ``/account/approvals`` (OpenID CIBA Core 1.0 §7.1: the authentication
device). It signs in with the person's password, like the browser, and posts the same
CSRF-protected form; nothing here bypasses the IAM's own checks."""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path

import httpx
from rich.console import Console

from iam_core.seed import DEMO_PASSWORDS
from scenarios.deployment import deployment


async def _signed_in(http: httpx.AsyncClient, user: str) -> None:
    page = (await http.get("/login")).text
    token = re.search(r"name=csrf value='([^']+)'", page)
    password = os.environ.get("AGENT_IAM_PASSWORD") or DEMO_PASSWORDS.get(user)
    if password is None:
        password = getpass.getpass(f"password of {user}: ")
    form = {"username": user, "password": password, "request_id": ""}
    response = await http.post("/login", data={**form, "csrf": token.group(1) if token else ""})
    if response.status_code != 303:
        raise SystemExit(f"agent-iam approvals: could not sign in as {user}")


async def approvals(
    console: Console,
    action: str,
    user: str,
    auth_req_id: str | None,
    *,
    server: str | None,
    db: Path | None,
) -> int:
    async with deployment(server=server, db=db) as dep:
        assert dep.transport is not None
        async with httpx.AsyncClient(transport=dep.transport, base_url=dep.issuer) as http:
            await _signed_in(http, user)
            listed = await http.get("/account/approvals", headers={"Accept": "application/json"})
            body = listed.json()
            if action == "list":
                for item in body["pending"]:
                    console.print(
                        f"[bold]{item['auth_req_id']}[/bold]  {item['agent_name']} via "
                        f"{item['app']}: {'; '.join(item['what'])}\n"
                        f"    agent's message: “{item['binding_message']}”  "
                        f"(expires {item['expires_at']})"
                    )
                if not body["pending"]:
                    console.print("no pending approval requests")
                return 0
            if not auth_req_id:
                raise SystemExit(f"agent-iam approvals {action}: name the request id")
            form = {"auth_req_id": auth_req_id, "decision": action, "csrf": body["csrf"]}
            response = await http.post("/account/approvals/decide", data=form)
            if response.status_code != 303:
                console.print(f"[red]refused[/red]: {response.text[:200]}")
                return 2
            console.print(f"{action}d {auth_req_id}")
            return 0
