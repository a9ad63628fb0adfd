"""``agent-iam audit verify`` on a database file catches every tampering, and says where.

test_audit_tampering.py checks :meth:`AuditLog.verify` on in-memory logs, one tampering at a
time. This file plays the attacker who holds the *file* (triggers dropped, no audit key) and
asks the command an auditor runs: edits (with and without a fresh hash), deletions,
insertions (appended with a valid chain hash, or spliced into the middle with everything
after it renumbered and re-hashed), reorders, truncation, and a consistent rewrite of the
whole chain — which only the signed checkpoints and the head seal can catch.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from agent_iam.audit import audit_verify
from iam_core.audit import AuditEvent, AuditKey, AuditLog, AuditWitness
from iam_core.audit_verify import indexed_columns
from iam_core.audit_witness import witness_path
from iam_core.clock import ManualClock
from iam_core.store import Store
from tests.property.test_audit_tampering import _events, _jcs_number

_VERDICT = re.compile(r"TAMPERED at entry (\d+)")
_logs = st.tuples(st.lists(_events, min_size=2, max_size=16), st.integers(1, 8))
# Each example writes a database file (on tmpfs where there is one): a quarter of the profile.
FILES = settings(max_examples=max(10, settings.default.max_examples // 4))
_TMP = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - a private temp dir in it
Rows = list[tuple[int, bytes, str]]


@contextmanager
def _file_log(events: list[AuditEvent], every: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=_TMP) as folder:
        db = Path(folder) / "iam.db"
        store, clock = Store(db), ManualClock(1_700_000_000.0)
        log = AuditLog(store, AuditKey.load_or_create(db.parent / "audit-key.json"), clock,
                       checkpoint_every=every, witness=AuditWitness(witness_path(db)))  # fmt: skip
        for event in events:
            log.append(event)
            clock.advance(1.5)
        store.close()
        assert verify(db) == (0, None)
        yield db


def verify(db: Path) -> tuple[int, int | None]:
    """``agent-iam audit verify --db``: its exit code and the entry it names."""
    out = io.StringIO()
    code = audit_verify(Console(file=out, width=400), db)
    found = _VERDICT.search(out.getvalue())
    return code, int(found.group(1)) if found else None


def _tamper(db: Path, work: Callable[[Store, Rows], None]) -> None:
    store = Store(db)
    try:
        for (name,) in store.all("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            store.execute(f'DROP TRIGGER "{name}"')
        rows = [
            (int(seq), bytes(body), str(digest))
            for seq, body, digest in store.all(
                "SELECT seq, CAST(body AS BLOB), hash FROM audit_entries ORDER BY seq"
            )
        ]
        work(store, rows)
    finally:
        store.close()


def _doc(body: bytes) -> dict[str, object]:
    return dict(json.loads(body, parse_int=_jcs_number))


def _chain(prev: str, docs: list[dict[str, object]]) -> list[tuple[str, str]]:
    """Bodies and hashes of ``docs`` re-linked after ``prev``: what the attacker can compute."""
    out = []
    for doc in docs:
        doc["prev_hash"] = prev
        body = rfc8785.dumps(doc)
        prev = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
        out.append((body.decode(), prev))
    return out


def _rewrite_from(store: Store, rows: Rows, start: int, docs: list[dict[str, object]]) -> None:
    """Replace entries ``start``.. with ``docs`` (renumbered, re-chained), hashes and all."""
    prev = rows[start - 2][2] if start > 1 else "0" * 64
    store.execute("DELETE FROM audit_entries WHERE seq >= ?", (start,))
    for offset, (body, digest) in enumerate(_chain(prev, docs)):
        seq = start + offset
        # The queried columns as the log derives them: the attacker knows the schema.
        store.execute(
            "INSERT INTO audit_entries (seq, sub, client_id, event, outcome, actor_kind,"
            " trace_id, agent_ids, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, *indexed_columns(docs[offset]), body, digest),
        )


@FILES
@given(_logs, st.data())
def test_an_edit_is_named_at_its_entry_with_or_without_a_fresh_hash(
    spec: tuple[list[AuditEvent], int], data: st.DataObject
) -> None:
    with _file_log(*spec) as db:
        target = data.draw(st.integers(1, len(spec[0])), label="target")
        rehash = data.draw(st.booleans(), label="rehash")

        def edit(store: Store, rows: Rows) -> None:
            seq, body, _ = rows[target - 1]
            doc = _doc(body)
            doc["outcome"] = "allowed" if doc["outcome"] == "denied" else "denied"
            if rehash:  # a fresh hash for the entry, the rest of the chain left as it was
                ((new, digest),) = _chain(str(doc["prev_hash"]), [doc])
            else:
                new, digest = rfc8785.dumps(doc).decode(), rows[target - 1][2]
            store.execute(
                "UPDATE audit_entries SET body = ?, hash = ? WHERE seq = ?", (new, digest, seq)
            )

        _tamper(db, edit)
        code, at = verify(db)
        assert code == 1 and at is not None
        assert at <= target + (1 if rehash else 0)


@FILES
@given(_logs, st.data())
def test_a_deletion_is_named_at_the_missing_entry(
    spec: tuple[list[AuditEvent], int], data: st.DataObject
) -> None:
    with _file_log(*spec) as db:
        target = data.draw(st.integers(1, len(spec[0])), label="target")
        _tamper(db, lambda s, _: s.execute("DELETE FROM audit_entries WHERE seq = ?", (target,)))
        assert verify(db) == (1, target)


@FILES
@given(_logs, st.data())
def test_an_insertion_is_caught_appended_or_spliced_in(
    spec: tuple[list[AuditEvent], int], data: st.DataObject
) -> None:
    """A forged entry with a genuine-looking chain hash: at the tail, the head seal has not
    moved; in the middle (everything after renumbered and re-hashed), a checkpoint or the
    seal no longer matches."""
    with _file_log(*spec) as db:
        n = len(spec[0])
        where = data.draw(st.integers(1, n + 1), label="insert before seq")

        def insert(store: Store, rows: Rows) -> None:
            docs = [_doc(body) for _, body, _ in rows[where - 1 :]]
            forged = {**_doc(rows[0][1]), "reason": "forged", "event": "token.issued"}
            for seq, doc in enumerate([forged, *docs], start=where):
                doc["seq"] = seq
            _rewrite_from(store, rows, where, [forged, *docs])

        _tamper(db, insert)
        code, at = verify(db)
        # Where it is named: see test_a_spliced_in_entry_is_named_where_it_was_spliced.
        assert code == 1 and at is not None


def test_a_spliced_in_entry_is_named_where_it_was_spliced() -> None:
    """Two entries, no checkpoint yet; a forged entry spliced in as entry 1 (the two genuine
    ones renumbered 2 and 3, everything re-hashed). Entries 1..2 no longer match the sealed
    head (seq 2), yet verify names entry 3, "appended without the audit key"."""
    events = [AuditEvent("token.issued", "allowed", f"n{i}") for i in range(2)]
    with _file_log(events, 10) as db:

        def splice(store: Store, rows: Rows) -> None:
            docs = [_doc(body) for _, body, _ in rows]
            forged = {**docs[0], "reason": "forged"}
            for seq, doc in enumerate([forged, *docs], start=1):
                doc["seq"] = seq
            _rewrite_from(store, rows, 1, [forged, *docs])

        _tamper(db, splice)
        assert verify(db) == (1, 1)


@FILES
@given(_logs, st.data())
def test_a_reorder_is_named_at_the_earlier_entry(
    spec: tuple[list[AuditEvent], int], data: st.DataObject
) -> None:
    with _file_log(*spec) as db:
        n = len(spec[0])
        first = data.draw(st.integers(1, n - 1), label="first")
        second = data.draw(st.integers(first + 1, n), label="second")

        def swap(store: Store, rows: Rows) -> None:
            a, b = rows[first - 1], rows[second - 1]
            update = "UPDATE audit_entries SET body = ?, hash = ? WHERE seq = ?"
            store.execute(update, (b[1].decode(), b[2], first))
            store.execute(update, (a[1].decode(), a[2], second))

        _tamper(db, swap)
        assert verify(db) == (1, first)


@FILES
@given(_logs, st.data())
def test_truncation_is_named_at_the_first_missing_entry(
    spec: tuple[list[AuditEvent], int], data: st.DataObject
) -> None:
    with _file_log(*spec) as db:
        n = len(spec[0])
        k = data.draw(st.integers(1, n), label="cut")
        _tamper(db, lambda s, _: s.execute("DELETE FROM audit_entries WHERE seq > ?", (n - k,)))
        assert verify(db) == (1, n - k + 1)


@FILES
@given(_logs, st.data(), st.booleans())
def test_a_consistent_rewrite_of_the_whole_chain_is_caught_by_checkpoints_or_seal(
    spec: tuple[list[AuditEvent], int], data: st.DataObject, forge_seal: bool
) -> None:
    """Every hash recomputed from entry 1 on; the head seal left alone or forged with a key
    of the attacker's own: only what the audit key signed can tell."""
    with _file_log(*spec) as db:
        target = data.draw(st.integers(1, len(spec[0])), label="target")

        def rewrite(store: Store, rows: Rows) -> None:
            docs = [_doc(body) for _, body, _ in rows]
            docs[target - 1]["reason"] = f"{docs[target - 1]['reason']} (rewritten)"
            _rewrite_from(store, rows, 1, docs)
            if forge_seal:
                seq, digest = store.one("SELECT seq, hash FROM audit_entries ORDER BY seq DESC")  # type: ignore[misc]
                mac = AuditKey.generate().seal_head(seq, digest)
                store.execute(
                    "UPDATE audit_head SET seq = ?, hash = ?, mac = ?", (seq, digest, mac)
                )

        _tamper(db, rewrite)
        code, at = verify(db)
        assert code == 1 and at is not None and at <= target


def test_the_agent_iam_command_exits_1_on_a_tampered_file() -> None:
    """The console script itself, as an auditor runs it: 0 when intact, 1 when tampered."""
    events = [AuditEvent("token.issued", "allowed", f"n{i}") for i in range(5)]
    with _file_log(events, 2) as db:
        script = [sys.executable, "-m", "agent_iam.cli", "audit", "verify", "--db", str(db)]
        env = {**os.environ, "COLUMNS": "200"}
        intact = subprocess.run(script, capture_output=True, text=True, env=env, check=False)
        assert intact.returncode == 0, intact.stdout + intact.stderr
        _tamper(db, lambda s, _: s.execute("DELETE FROM audit_entries WHERE seq = 3"))
        broken = subprocess.run(script, capture_output=True, text=True, env=env, check=False)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "TAMPERED at entry 3" in broken.stdout
