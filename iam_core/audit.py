"""Tamper-evident, append-only audit log: a SHA-256 hash chain with signed checkpoints.

Canonical form. An entry is the JSON object with exactly the members ``seq``, ``time``,
``event``, ``outcome``, ``reason``, ``sub``, ``act``, ``client_id``, ``token_type``, ``jti``,
``scope``, ``service``, ``method``, ``path``, ``object_id``, ``trace_id``, ``actor_kind``,
``details`` and ``prev_hash``: every :class:`AuditEntry` field but ``hash``. Absent values are
``null``, ``act`` an array (current actor first), ``details`` an object. The bytes are its RFC
8785 JSON Canonicalization Scheme form: members sorted by UTF-16 code units (so their order here
is irrelevant), no whitespace, numbers as ECMAScript prints them. ``time`` is rounded to
microseconds so that it survives the JSON round trip exactly (a whole second prints without
``.0``). Those bytes are stored verbatim in ``audit_entries.body`` and chained::

    hash = hex(SHA-256(bytes.fromhex(prev_hash) || body))      first prev_hash: 64 zeros

What catches what: the chain, an edited, deleted or reordered entry (at its seq); checkpoints,
ES256 JWS over ``{"seq", "hash", "iat"}`` every ``checkpoint_every`` entries and on demand, a
rewrite of the whole chain; the head seal, an HMAC of the last (seq, hash) renewed by every
append, entries cut off the tail after the last checkpoint; the queried columns, re-derived
from each body, an entry re-filed so that queries miss it; the witness, a second file that
every committed head is also written to, a rollback to an older genuine state (which the file
alone cannot show, since its seal was genuine once); triggers refusing UPDATE and DELETE,
mistakes and injected SQL (not someone holding the file). The keys and the fast path to the
canonical bytes are in :mod:`iam_core.audit_keys`, the walk in :mod:`iam_core.audit_verify`,
the witness in :mod:`iam_core.audit_witness`; the README states the trust model.

Secrets are never written: every string of an event passes through :func:`scrub` first.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iam_core.audit_entries import AuditEntry, AuditEvent, Outcome, fields_of, scrub
from iam_core.audit_keys import (
    GENESIS_HASH,
    AuditError,
    AuditKey,
    AuditKeyMissing,
    AuditVerification,
    agrees_with_jcs,
    canonical_bytes,
    chain_hash,
    loads,
)
from iam_core.audit_verify import SELECT_ENTRIES, agent_token, indexed_columns, verify_log
from iam_core.audit_witness import AuditWitness
from iam_core.clock import Clock
from iam_core.store import DATABASE_ERRORS, AnyStore, Cursor, Tx

__all__ = ["AuditEntry", "AuditError", "AuditEvent", "AuditKey", "AuditKeyMissing", "AuditLog"]
__all__ += ["AuditVerification", "AuditWitness", "Outcome", "scrub"]

_log = logging.getLogger(__name__)

# Indexes serve query() by user (sub) and by event/outcome. Each one costs a 4 KiB WAL page
# per append (~10 µs measured), so trace_id, client_id and actor_kind are scanned instead.
_DDL = """
CREATE TABLE IF NOT EXISTS audit_entries (
    seq INTEGER PRIMARY KEY, sub TEXT, client_id TEXT, event TEXT NOT NULL,
    outcome TEXT NOT NULL, actor_kind TEXT NOT NULL, trace_id TEXT, agent_ids TEXT NOT NULL,
    body TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_sub ON audit_entries(sub) WHERE sub IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_entries_event ON audit_entries(event, outcome);
CREATE TABLE IF NOT EXISTS audit_checkpoints (seq INTEGER PRIMARY KEY, token TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_meta (id INTEGER PRIMARY KEY CHECK (id = 1), kid TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'the audit head cannot be deleted'); END;
"""
_SELECT_HEAD = "SELECT seq, hash, mac FROM audit_head WHERE id = 1"
# verify() reads every column as a BLOB, so that tampered, non-UTF-8 text cannot make it raise.
_SELECT_HEAD_BLOBS = (
    "SELECT seq, CAST(hash AS BLOB), CAST(mac AS BLOB) FROM audit_head WHERE id = 1"
)
_SELECT_CHECKPOINTS = "SELECT seq, CAST(token AS BLOB) FROM audit_checkpoints"
_INSERT_ENTRY = (
    "INSERT INTO audit_entries (seq, sub, client_id, event, outcome, actor_kind, trace_id, "
    "agent_ids, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_HEAD = (
    "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac"
)


def _matches(doc: dict[str, Any], agent: str | None, wanted: dict[str, str]) -> bool:
    """Whether an entry's body matches a query's filters (see ``AuditLog.query``)."""
    try:
        if any(doc[column] != value for column, value in wanted.items()):
            return False
        agents = indexed_columns(doc)[-1]
    except (KeyError, TypeError):
        return False
    return agent is None or doc["sub"] == agent or agent_token(agent) in str(agents).split(" ")


def _batches(cursor: Cursor, size: int = 4096) -> Iterable[tuple[Any, ...]]:
    """The cursor's rows, fetched ``size`` at a time: streamed, never the whole table at once."""
    while rows := cursor.fetchmany(size):
        yield from rows


def _entry(doc: dict[str, Any], digest: str) -> AuditEntry:
    return AuditEntry(**{**doc, "time": float(doc["time"]), "act": tuple(doc["act"])}, hash=digest)


class AuditLog:
    """The audit log of one :class:`Store`, sealed and checkpointed with one :class:`AuditKey`."""

    def __init__(
        self,
        store: AnyStore,
        key: AuditKey,
        clock: Clock,
        *,
        checkpoint_every: int = 1000,
        witness: AuditWitness | None = None,
    ) -> None:
        """Refuses (:class:`AuditKeyMissing`) a key other than the one the log was sealed
        with, and a missing witness of a log that has entries: both would otherwise turn into
        a false tamper alarm, or hide a real one, later."""
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self._store = store
        self._key = key
        self._clock = clock
        self._every = checkpoint_every
        self._witness = witness
        self._subscribers: tuple[tuple[object, Callable[[AuditEntry], None]], ...] = ()
        self._subscribers_lock = threading.Lock()
        self._sealed: tuple[int, str, str] | None = None
        self._kid_recorded = False
        # Resolved now: a later chdir must not point verify() at another file.
        file = not store.is_memory and store.dialect == "sqlite"
        self._ro_uri = Path(store.path).resolve().as_uri() + "?mode=ro" if file else None
        store.ensure_schema(_DDL)
        kid = self.sealed_with()
        if kid is not None and kid != key.kid:
            raise AuditKeyMissing(
                f"the audit log in {store.path} is sealed with key {kid}, not {key.kid}: "
                "its own audit key file is missing or was replaced"
            )
        if witness is not None and not witness.exists() and self._has_entries():
            raise AuditError(
                f"the audit witness {witness.path} is missing while the log in {store.path} "
                "has entries: a rollback cannot be ruled out (see `agent-iam audit verify`)"
            )

    def _has_entries(self) -> bool:
        # Under the write lock: another process that just committed its first entries
        # publishes their witness before it lets the next writer in (PGStore.transaction).
        with self._store.transaction() as conn:
            return conn.execute("SELECT 1 FROM audit_entries LIMIT 1").fetchone() is not None

    def close_store(self) -> None:
        """Close the store; for a log that owns it (``audit_files.open_to_verify``)."""
        self._store.close()

    def reset_state(self) -> None:
        """Forget the head this object sealed: the table was restored (iam_core/state_reset)."""
        self._sealed = None
        self._kid_recorded = False

    def attach_witness(self, witness: AuditWitness) -> None:
        """Check ``verify()`` against ``witness`` from now on; for a verifier, which must
        report a missing witness rather than refuse to open the log."""
        self._witness = witness

    def sealed_with(self) -> str | None:
        """The kid of the key this log is sealed with, as recorded at its first append."""
        row = self._store.one("SELECT kid FROM audit_meta WHERE id = 1")
        return None if row is None else str(row[0])

    def append(self, event: AuditEvent) -> AuditEntry:
        """Record ``event`` as the next entry; notify subscribers once it is committed."""
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Record ``events`` as the next entries, in order, in one transaction (group commit:
        :mod:`iam_core.audit_group`); notify subscribers once they are committed.

        The head is read inside the write transaction, never cached, because other processes
        may append to the same file. Its seal is checked first (unless it is the very row this
        object last sealed): extending a head an attacker rewrote would seal their rewrite.
        An event that cannot be recorded fails the whole batch, which is then rolled back.
        """
        prepared = []
        for event in events:
            fields = fields_of(event)
            prepared.append((fields, agrees_with_jcs(fields["details"]), indexed_columns(fields)))
        done: list[tuple[dict[str, Any], str]] = []
        with self._store.transaction() as conn:
            head = conn.execute(_SELECT_HEAD).fetchone()
            if head is None:
                seq, prev = 0, GENESIS_HASH
            elif tuple(head) == self._sealed or self._key.head_seal_valid(*head):
                seq, prev = head[0], head[1]
            else:
                raise AuditError("audit head seal invalid: refusing to extend a tampered log")
            if not self._kid_recorded:
                conn.execute(
                    "INSERT OR IGNORE INTO audit_meta (id, kid) VALUES (1, ?)", (self._key.kid,)
                )
            rows = []
            for fields, agrees, row in prepared:
                seq += 1
                now = round(self._clock.now(), 6)
                when: float | int = int(now) if now.is_integer() else now
                # Python and ECMAScript print floats alike only in this range (see audit_keys).
                fast = agrees and (type(when) is int or 1e-4 <= abs(now) < 1e16)
                doc = {"seq": seq, "time": when, **fields, "prev_hash": prev}
                body = canonical_bytes(doc, agrees=fast)
                prev = chain_hash(prev, body)
                rows.append((seq, *row, body.decode(), prev))
                done.append((doc, prev))
            conn.executemany(_INSERT_ENTRY, rows)
            sealed = (seq, prev, self._key.seal_head(seq, prev))
            conn.execute(_UPSERT_HEAD, sealed)
            token = None
            for doc, digest in done:
                at = doc["seq"]
                if at % self._every == 0:
                    token = self._write_checkpoint(conn, at, digest)
                    if at != seq:  # the last one goes with the head below
                        head_at = (at, digest, self._key.seal_head(at, digest))
                        self._witness_after_commit(head_at, token)
                        token = None
            self._witness_after_commit(sealed, token)
            self._sealed = sealed
        self._kid_recorded = True
        entries = [_entry(doc, digest) for doc, digest in done]
        for entry in entries:
            for _, callback in self._subscribers:
                try:
                    callback(entry)
                except Exception:  # noqa: BLE001 -- a failing subscriber must not fail the append
                    _log.exception("audit subscriber %r failed on entry %d", callback, entry.seq)
        return entries

    def checkpoint(self) -> int:
        """Sign the current head now; returns the seq it covers (0 for an empty log)."""
        with self._store.transaction() as conn:
            head = conn.execute(_SELECT_HEAD).fetchone()
            if head is None:
                return 0
            if not self._key.head_seal_valid(*head):
                raise AuditError("audit head seal invalid: refusing to sign a tampered head")
            seq, digest = int(head[0]), str(head[1])
            if not conn.execute("SELECT 1 FROM audit_checkpoints WHERE seq = ?", (seq,)).fetchone():
                token = self._write_checkpoint(conn, seq, digest)
                self._witness_after_commit((seq, digest, str(head[2])), token)
            return seq

    def _write_checkpoint(self, conn: Tx, seq: int, digest: str) -> str:
        token = self._key.sign_checkpoint(seq, digest, int(self._clock.now()))
        conn.execute("INSERT INTO audit_checkpoints (seq, token) VALUES (?, ?)", (seq, token))
        return token

    def _witness_after_commit(self, sealed: tuple[int, str, str], token: str | None) -> None:
        # Only once committed: the witness must never claim an entry the log may not hold,
        # e.g. when append joins an outer transaction that later rolls back.
        witness = self._witness
        if witness is not None:
            self._store.after_commit(lambda: witness.publish(*sealed, checkpoint=token))

    def verify(self) -> AuditVerification:
        """Check the chain, every checkpoint and the head seal; report the first failure.

        ``first_bad_seq`` is the lowest seq verification can no longer vouch for: the entry
        that fails, or for a rewrite caught by a checkpoint or the head seal, the first entry
        after the last checkpoint that held. Tampered data is reported, never raised.
        """
        # The witness first: each line follows its commit, so the snapshot taken after it holds
        # every head it names, even while appends go on.
        started = time.perf_counter()
        seen = None if self._witness is None else self._witness.read(self._key)
        try:
            with self._snapshot() as conn:
                # The walk reads the table; queries may read its indexes: they must agree.
                damaged = [r[0] for r in conn.execute("PRAGMA integrity_check(audit_entries)")]
                if damaged != ["ok"]:
                    why = "; ".join(str(d) for d in damaged[:3])
                    return AuditVerification(False, 0, 0, None, f"audit table damaged: {why}")
                checkpoints = dict(conn.execute(_SELECT_CHECKPOINTS).fetchall())
                head = conn.execute(_SELECT_HEAD_BLOBS).fetchone()
                entries = _batches(conn.execute(SELECT_ENTRIES))
                result = verify_log(self._key, entries, checkpoints, head, seen)
                return dataclasses.replace(result, seconds=time.perf_counter() - started)
        except DATABASE_ERRORS as exc:
            return AuditVerification(False, 0, 0, None, f"audit tables unreadable: {exc}")

    @contextmanager
    def _snapshot(self) -> Iterator[Tx]:
        # One consistent read. On a file that is a separate read-only connection, which WAL lets
        # read while appends go on: verifying a long log must not stall the token endpoint.
        # On PostgreSQL, a REPEATABLE READ transaction on a connection of its own.
        snapshot = getattr(self._store, "snapshot", None)
        if snapshot is not None:
            with snapshot() as conn:
                yield conn
            return
        if self._ro_uri is None:
            with self._store.transaction() as conn:
                yield conn
            return
        conn = sqlite3.connect(self._ro_uri, uri=True, timeout=30.0)
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    def query(
        self,
        *,
        agent: str | None = None,
        user: str | None = None,
        actor_kind: str | None = None,
        event: str | None = None,
        outcome: str | None = None,
        trace_id: str | None = None,
        since_seq: int = 0,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries after ``since_seq`` in seq order, matching every filter given.

        ``agent=X``: X is the subject or anywhere in the delegation chain ``act``. ``user=X``: X
        is the subject, whoever acted; with ``actor_kind="human"`` that is what the user did
        themselves, with ``actor_kind="agent"`` what agents did on their behalf.
        """
        where: list[str] = ["seq > ?"]
        params: list[Any] = [since_seq]
        if agent is not None:
            where.append("(sub = ? OR instr(' ' || agent_ids || ' ', ?) > 0)")
            params += [agent, f" {agent_token(agent)} "]
        columns = {"sub": user, "actor_kind": actor_kind, "event": event, "outcome": outcome}
        columns["trace_id"] = trace_id
        wanted = {column: value for column, value in columns.items() if value is not None}
        for column, value in wanted.items():
            where.append(f"{column} = ?")
            params.append(value)
        # Only fixed column names are interpolated; every value is a bound parameter.
        sql = f"SELECT body, hash FROM audit_entries WHERE {' AND '.join(where)} ORDER BY seq"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(limit, 0))
        found = []
        for body, digest in self._store.all(sql, params):
            doc = loads(body)
            # The columns only find candidates; what is returned must match by its hashed body
            # (a re-filed row is dropped here and reported by verify()).
            if _matches(doc, agent, wanted):
                found.append(_entry(doc, digest))
            else:
                _log.warning("audit entry %s: its columns do not match its body", doc.get("seq"))
        return found

    def __len__(self) -> int:
        row = self._store.one("SELECT COALESCE(MAX(seq), 0) FROM audit_entries")
        return int(row[0]) if row is not None else 0

    def subscribe(self, callback: Callable[[AuditEntry], None]) -> Callable[[], None]:
        """Call ``callback`` after each committed append; returns a function that unsubscribes.

        A failing subscriber is logged and skipped: the audit trail must not depend on a
        dashboard. When ``append`` joins an outer transaction, the call comes as ``append``
        returns, before that outer transaction commits.
        """
        handle = object()
        with self._subscribers_lock:
            self._subscribers = (*self._subscribers, (handle, callback))

        def unsubscribe() -> None:
            with self._subscribers_lock:
                self._subscribers = tuple(s for s in self._subscribers if s[0] is not handle)

        return unsubscribe
