"""The operator's commands: ``agents list|block|unblock``, ``apps list|disable|enable``,
``tokens introspect|revoke``, ``keys rotate`` and ``reset``.

Each one speaks HTTP to the IAM — in-process on the local state folder (``--db``) or to a
running server (``--server URL``) — through the same endpoints an administrator's tool uses:
SCIM 2.0 with the ``iam-admin`` app's ``scim:admin`` token, RFC 7662 introspection and
RFC 7009 revocation. So every action is audited by the IAM exactly as over HTTP
(docs/design.md, "Audit"). Key rotation and the apps commands, which have no endpoint, work
on the local state alone; the IAM audits them as it does every administrative action.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agent_iam.errors import CLIError, UsageError
from agents.oauth import decode_unverified
from iam_core.audit import AuditEvent
from iam_core.audit_witness import witness_path
from iam_core.seed import DEMO_SECRETS
from scenarios.deployment import Deployment, default_db, deployment, state_dir

ADMIN_APP = "iam-admin"
AUDITOR_APP = "auditor"  # introspects: an app with audit:read (README, introspection)
SCIM = "/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def _admin_headers(dep: Deployment) -> dict[str, str]:
    token = await dep.oauth.app_token(dep.app(ADMIN_APP), scope="scim:admin")
    return {"Authorization": f"Bearer {token['access_token']}"}


async def _scim(dep: Deployment, method: str, path: str, body: Any = None) -> dict[str, Any]:
    response = await dep.http.request(
        method,
        SCIM + path,
        headers=await _admin_headers(dep),
        content=None if body is None else json.dumps(body),
    )
    if response.status_code == 404:
        raise UsageError(f"no such agent: {path.rsplit('/', 1)[-1]}")
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise CLIError(f"SCIM {method} {path} refused: {response.status_code} {detail}")
    return dict(response.json()) if response.content else {}


async def agents_list(
    console: Console, *, server: str | None, db: Path | None, as_json: bool
) -> int:
    async with deployment(server=server, db=db) as dep:
        found = await _scim(dep, "GET", "/Agents?count=1000")
    agents = [
        {
            "id": r.get("agentId") or r.get("id"),
            "name": r.get("displayName"),
            "owner": r.get("owner"),
            "type": r.get("agentType"),
            "status": r.get("status"),
        }
        for r in found.get("Resources", [])
    ]
    if as_json:
        print(json.dumps(agents, indent=2))
        return 0
    table = Table("agent", "name", "owner", "type", "status", title=f"{len(agents)} agents")
    for a in agents:
        colour = "green" if a["status"] == "active" else "red"
        owner = a["owner"]  # a SCIM reference (RFC 7643 §2.3.7): {"value", "$ref", "display"}
        owner = owner.get("value") if isinstance(owner, dict) else owner
        table.add_row(a["id"], a["name"], owner, a["type"], f"[{colour}]{a['status']}[/{colour}]")
    console.print(table)
    return 0


async def agents_set_status(
    console: Console, agent: str, status: str, *, server: str | None, db: Path | None
) -> int:
    """Block (every token naming the agent is revoked) or unblock: SCIM PATCH of ``active``
    (``status`` is its read-only mirror)."""
    patch = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": status == "active"}],
    }
    async with deployment(server=server, db=db) as dep:
        result = await _scim(dep, "PATCH", f"/Agents/{agent}", patch)
    console.print(f"{agent}: {result.get('status', status)}")
    return 0


async def tokens_introspect(
    console: Console, token: str, *, server: str | None, db: Path | None
) -> int:
    """RFC 7662, asked by the auditor app (RFC 7662 §4: only the token's client, its
    audience and an ``audit:read`` app see a token as active); exit 1 when it is not."""
    async with deployment(server=server, db=db) as dep:
        answer = await dep.oauth.introspect(token, as_app=dep.app(AUDITOR_APP))
    print(json.dumps(answer, indent=2))
    return 0 if answer.get("active") else 1


async def tokens_revoke(
    console: Console, token: str, *, server: str | None, db: Path | None
) -> int:
    """RFC 7009, by the client the token was issued to (only it may revoke it, §2.1).

    The demo clients' credentials are known here: the apps' secrets and the agents' keys in
    the state folder.
    """
    try:
        claims = decode_unverified(token)
    except Exception:  # noqa: BLE001 — any undecodable text is simply not a token
        raise UsageError("not a JWT access token (three base64url parts)") from None
    client = str(claims.get("client_id") or claims.get("sub") or "")
    async with deployment(server=server, db=db) as dep:
        if client in DEMO_SECRETS:
            await dep.oauth.revoke(token, as_app=dep.app(client))
        else:
            try:
                agent = dep.agent(client)
            except (ValueError, OSError) as exc:
                raise CLIError(f"cannot sign as {client!r}: {exc}") from None
            await dep.oauth.revoke(token, as_agent=agent)
        answer = await dep.oauth.introspect(token, as_app=dep.app(AUDITOR_APP))
    if answer.get("active"):
        raise CLIError(f"the token (client {client}) is still active")
    console.print(f"revoked (or no longer active): token of {claims.get('sub')} via {client}")
    return 0


async def keys_rotate(console: Console, *, server: str | None, db: Path | None) -> int:
    _local("keys rotate", server)
    async with deployment(db=db) as dep:
        iam = dep.iam
        assert iam is not None
        old = [k["kid"] for k in iam.keys.jwks()["keys"]]
        kid = iam.keys.rotate()
        iam.record(
            AuditEvent(
                event="keys.rotated",
                outcome="allowed",
                reason="signing key rotated from the command line",
                sub=ADMIN_APP,
                object_id=kid,
                details={"published_before": old},
            )
        )
    console.print(f"new signing key {kid}; earlier keys stay published until their tokens expire")
    console.print("running servers on this database sign with it within 0.5 s")
    return 0


def _local(command: str, server: str | None) -> None:
    if server is not None:
        raise UsageError(
            f"{command} works on the local state (--db): the IAM has no HTTP endpoint for it"
        )


async def apps_list(console: Console, *, server: str | None, db: Path | None, as_json: bool) -> int:
    """The registered apps (OAuth clients: front doors, service accounts, web apps)."""
    _local("apps list", server)
    async with deployment(db=db) as dep:
        assert dep.iam is not None
        apps: list[dict[str, Any]] = [
            {
                "id": a.id,
                "name": a.name,
                "confidential": a.confidential,
                "grant_types": sorted(a.grant_types),
                "status": "active" if a.active else "disabled",
            }
            for a in dep.iam.registry.apps()
        ]
    if as_json:
        print(json.dumps(apps, indent=2))
        return 0
    table = Table("app", "name", "client", "grant types", "status", title=f"{len(apps)} apps")
    for a in apps:
        colour = "green" if a["status"] == "active" else "red"
        kind = "confidential" if a["confidential"] else "public"
        grants = ", ".join(a["grant_types"])
        table.add_row(a["id"], a["name"], kind, grants, f"[{colour}]{a['status']}[/{colour}]")
    console.print(table)
    return 0


async def apps_set_active(
    console: Console, app: str, active: bool, *, server: str | None, db: Path | None
) -> int:
    """Disable an app — it authenticates nowhere and every live token issued to it or
    naming it is revoked, for good — or enable it again (IAM.set_app_active, audited)."""
    _local("apps disable/enable", server)
    async with deployment(db=db) as dep:
        assert dep.iam is not None
        try:
            revoked = dep.iam.set_app_active(app, active, by=ADMIN_APP)
        except KeyError:
            raise UsageError(f"no such app: {app} (agent-iam apps list)") from None
    said = "active" if active else f"disabled; {revoked} live token(s) revoked"
    console.print(f"{app}: {said}")
    return 0


STATE_FILES = ("audit-key.json", "hotel.db", "hotel-audit-key.json")


def reset_targets(db: Path | None) -> list[Path]:
    """What ``reset`` deletes: the database with its journal files, the audit keys, the
    services' world and the agents' private keys (they are made again on first use)."""
    default = default_db()  # a PostgreSQL store is never dropped by reset: only the files go
    db = db or (default if isinstance(default, Path) else state_dir() / "iam.db")
    found = [Path(f"{db}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
    found += [db.parent / name for name in STATE_FILES]
    found += [Path(f"{db.parent / 'hotel.db'}{s}") for s in ("-wal", "-shm", "-journal")]
    # The audit witnesses go with their logs: a witness left behind would report the fresh
    # log as a rollback of the old one (README, "The audit log").
    found += [witness_path(db), witness_path(db.parent / "hotel.db")]
    keys = state_dir() / "agent-keys"
    if keys.is_dir():
        found += sorted(keys.glob("*.pem"))
    return [p for p in found if p.is_file()]


def reset(console: Console, *, db: Path | None, yes: bool) -> int:
    targets = reset_targets(db)
    if not targets:
        console.print("nothing to reset: the demo world is created afresh on first use")
        return 0
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("reset deletes the demo world's state: confirm with --yes")
        console.print("This deletes:\n  " + "\n  ".join(str(p) for p in targets))
        if input("Delete the demo world's state? [y/N] ").strip().lower() not in ("y", "yes"):
            console.print("nothing deleted")
            return 1
    for path in targets:
        path.unlink()
    console.print(f"deleted {len(targets)} files; the demo world is seeded afresh on next use")
    return 0
