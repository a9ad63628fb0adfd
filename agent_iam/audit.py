"""``agent-iam audit verify|show``: read the audit log of a database file directly."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from iam_core.audit import AuditKey, AuditLog
from iam_core.clock import SystemClock
from iam_core.store import Store
from scenarios.deployment import default_db


def _open(db: Path | None) -> AuditLog | None:
    path = db or default_db()
    key_file = path.parent / "audit-key.json"
    if not path.exists() or not key_file.exists():
        return None
    return AuditLog(Store(path), AuditKey.load_or_create(key_file), SystemClock())


def audit_verify(console: Console, db: Path | None) -> int:
    log = _open(db)
    if log is None:
        console.print(f"[red]no audit log at {db or default_db()} (with audit-key.json beside it)")
        return 2
    result = log.verify()
    if result.ok:
        console.print(
            f"[green]intact[/green]: {result.entries_checked} entries, "
            f"{result.checkpoints_checked} signed checkpoints"
        )
        return 0
    console.print(f"[red]TAMPERED[/red] at entry {result.first_bad_seq}: {result.reason}")
    return 1


def audit_show(
    console: Console,
    db: Path | None,
    agent: str | None,
    user: str | None,
    limit: int,
    as_json: bool,
) -> int:
    log = _open(db)
    if log is None:
        console.print(f"[red]no audit log at {db or default_db()}")
        return 2
    entries = log.query(agent=agent, user=user)[-limit:]
    if as_json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return 0
    table = Table("seq", "event", "outcome", "sub", "act", "client", "type", "reason")
    for e in entries:
        colour = "green" if e.outcome == "allowed" else "red"
        table.add_row(
            str(e.seq),
            e.event,
            f"[{colour}]{e.outcome}[/{colour}]",
            e.sub or "",
            " → ".join(e.act),
            e.client_id or "",
            e.token_type or "",
            e.reason,
        )
    console.print(table)
    return 0
