"""The attacker who holds the database file edits the audit log (docs/attacks.md, case 14).

They hold the file, not the audit keys: the hash chain can be rewritten, but only the
signed checkpoints and the head seal can tell (docs/design.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import rfc8785

from iam_core.audit_keys import GENESIS_HASH, chain_hash
from iam_core.store import AnyStore
from scenarios.model import Run, Step


@dataclass
class TamperAudit(Step):
    """The attacker who holds the database file (not the audit keys) edits the log:
    ``edit`` one entry, ``delete`` one, or ``rewrite`` it and re-chain every later hash."""

    how: str
    path: str = ""  # the decision to hide: the first allowed one at a path ending so
    attacker: bool = True
    breaks_audit = True  # the chain must not verify afterwards: that is the point

    async def run(self, run: Run) -> None:
        rows = run.iam.store.all("SELECT seq, body FROM audit_entries ORDER BY seq")

        def wanted(seq: int, body: str) -> bool:
            entry = json.loads(body)
            return (
                seq > run.first_seq
                and entry.get("outcome") == "allowed"
                and str(entry.get("path") or "").endswith(self.path)
                and (not self.path or bool(entry.get("path")))
            )

        target = next((r for r in rows if wanted(r[0], r[1])), rows[-1])
        seq = target[0]
        tamper_audit_log(run.iam.store, seq, self.how)
        run.loot["tampered_seq"] = seq

    def describe(self) -> str:
        what = f" (the decision at …{self.path})" if self.path else ""
        return f"attacker {self.how}s the audit log in the database{what}"


def tamper_audit_log(store: AnyStore, seq: int, how: str) -> None:
    """What someone holding the database file (not the audit keys) can do to entry ``seq``.

    ``edit``: its outcome "allowed" now reads "denied"; ``delete``: it is gone; ``rewrite``:
    the edit, then every later entry re-linked and every hash recomputed, so that the chain
    itself is consistent again — only the signed checkpoints and the head seal can tell.
    The append-only triggers are dropped first, as the file's holder can.
    """
    if how not in ("edit", "delete", "rewrite"):
        raise ValueError(f"how must be edit, delete or rewrite, not {how!r}")
    store.drop_triggers()
    row = store.one("SELECT body FROM audit_entries WHERE seq = ?", (seq,))
    if row is None:
        raise KeyError(f"no audit entry {seq}")
    body = row[0].replace('"outcome":"allowed"', '"outcome":"denied"', 1)
    if how == "delete":
        store.execute("DELETE FROM audit_entries WHERE seq = ?", (seq,))
        return
    # The queried outcome column too: verify re-derives it from the body (docs/attacks.md).
    outcome = json.loads(body)["outcome"]
    store.execute(
        "UPDATE audit_entries SET body = ?, outcome = ? WHERE seq = ?", (body, outcome, seq)
    )
    if how == "rewrite":
        # Re-link every entry from the edited one on: bodies name their predecessor's
        # hash, so each is rewritten too. Only the keys the attacker lacks can tell.
        prev = GENESIS_HASH
        rows = store.all("SELECT seq, body FROM audit_entries ORDER BY seq")
        for row_seq, row_body in rows:
            if row_seq >= seq:
                doc = json.loads(row_body)
                doc["prev_hash"] = prev
                row_body = rfc8785.dumps(doc).decode()
                store.execute(
                    "UPDATE audit_entries SET body = ? WHERE seq = ?", (row_body, row_seq)
                )
            prev = chain_hash(prev, row_body.encode())
            store.execute("UPDATE audit_entries SET hash = ? WHERE seq = ?", (prev, row_seq))
