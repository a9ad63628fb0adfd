"""``agent-iam audit verify|show``: read the audit log of a database file directly.

The log is opened with its own key (found by the kid the log records, so ``--db hotel.db``
takes ``hotel-audit-key.json``) and its witness. A missing key is its own answer (exit 2),
never a tamper verdict: without the key nothing can be said either way.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from iam_core.audit import AuditError, AuditLog
from iam_core.audit_files import open_to_verify
from scenarios.deployment import default_db, state_dir


def _open(console: Console, db: Path | str | None) -> AuditLog | None:
    path = db or default_db()
    try:
        return open_to_verify(path, home=state_dir())
    except FileNotFoundError:
        console.print(f"[red]no audit log at {path}")
    except AuditError as exc:  # AuditKeyMissing above all: a lost key is no verdict
        console.print(f"[red]cannot verify[/red]: {exc}")
    return None


def audit_verify(console: Console, db: Path | str | None) -> int:
    log = _open(console, db)
    if log is None:
        return 2
    try:
        result = log.verify()
    finally:
        log.close_store()
    if result.ok:
        console.print(
            f"[green]intact[/green]: {result.entries_checked} entries, "
            f"{result.checkpoints_checked} signed checkpoints"
            + (" (checked against the witness)" if "witnessed" in result.reason else "")
            + f"; {result.entries_per_second:,.0f} entries/s"
        )
        return 0
    if result.first_bad_seq is None:
        console.print(f"[red]NOT VERIFIED[/red]: {result.reason}")
    else:
        console.print(f"[red]TAMPERED[/red] at entry {result.first_bad_seq}: {result.reason}")
    return 1


def audit_show(
    console: Console,
    db: Path | str | None,
    agent: str | None,
    user: str | None,
    limit: int,
    as_json: bool,
) -> int:
    log = _open(console, db)
    if log is None:
        return 2
    try:
        entries = log.query(agent=agent, user=user)[-limit:]
    finally:
        log.close_store()
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
