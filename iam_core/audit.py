"""Tamper-evident, append-only audit log: a SHA-256 hash chain with signed checkpoints.

Canonical form. An entry is the JSON object with exactly the members ``seq``, ``time``,
``event``, ``outcome``, ``reason``, ``sub``, ``act``, ``client_id``, ``token_type``, ``jti``,
``scope``, ``service``, ``method``, ``path``, ``object_id``, ``trace_id``, ``actor_kind``,
``details`` and ``prev_hash``: every :class:`AuditEntry` field but ``hash``. Absent values are
``null``, ``act`` an array (current actor first), ``details`` an object. The bytes are its RFC 8785
JSON Canonicalization Scheme form: members sorted by UTF-16 code units (so their order above is
irrelevant), no whitespace, numbers as ECMAScript prints them. ``time`` is rounded to microseconds
so that it survives the JSON round trip exactly (a whole second prints without ``.0``). Those
bytes are stored verbatim in ``audit_entries.body`` and chained::

    hash = hex(SHA-256(bytes.fromhex(prev_hash) || body))      first prev_hash: 64 zeros

The ``rfc8785`` package needs ~34 µs per entry, over half the append budget, so append uses
``json.dumps`` (sorted keys, no whitespace, no ASCII escaping) whenever every value lies where the
two provably agree: ASCII member names, no float but a non-integral ``time`` in [1e-4, 1e16),
integers within ±(2**53 - 1); anything else goes through ``rfc8785``. :meth:`AuditLog.verify`
re-serialises each body with ``rfc8785`` and rejects any difference, so the paths cannot drift.

What catches what: the chain, an edited, deleted or reordered entry (at its seq); checkpoints,
ES256 JWS over ``{"seq", "hash", "iat"}`` every ``checkpoint_every`` entries and on demand, a
rewrite of the whole chain; the head seal, an HMAC of the last (seq, hash) renewed by every append,
entries cut off the tail after the last checkpoint; triggers refusing UPDATE and DELETE, mistakes
and injected SQL (not someone holding the file). The keys live outside the database
(:mod:`iam_core.audit_keys`). Restoring an older copy of the whole file is not detectable from the
file alone, since its seal was genuine once; checkpoints published elsewhere close that gap.

Secrets are never written: every string of an event passes through :func:`scrub` first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import rfc8785

from iam_core.audit_keys import AuditError, AuditKey
from iam_core.clock import Clock
from iam_core.store import Store

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditEvent",
    "AuditKey",
    "AuditLog",
    "AuditVerification",
    "Outcome",
    "scrub",
]

Outcome = Literal["allowed", "denied"]

REDACTED = "[redacted-token]"
GENESIS_HASH = "0" * 64
_log = logging.getLogger(__name__)

# A JWS/JWT: a base64url JSON header (always "eyJ" = '{"') and one or more dot-separated
# base64url segments; this also catches two-segment fragments and five-segment JWEs.
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)+")
# W3C Trace Context §3.2.2.3: 32 lowercase hex digits, not all zero.
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_OUTCOMES = frozenset({"allowed", "denied"})
_ACTOR_KINDS = frozenset({"agent", "human", "app", "anonymous"})
_BODY_FIELDS = frozenset(
    {
        *("seq", "time", "event", "outcome", "reason", "sub", "act", "client_id", "token_type"),
        *("jti", "scope", "service", "method", "path", "object_id", "trace_id", "actor_kind"),
        *("details", "prev_hash"),
    }
)
_SAFE_INT = 2**53 - 1

_DDL = """
CREATE TABLE IF NOT EXISTS audit_entries (
    seq INTEGER PRIMARY KEY,
    sub TEXT,
    client_id TEXT,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    trace_id TEXT,
    agent_ids TEXT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_sub ON audit_entries(sub) WHERE sub IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_entries_client ON audit_entries(client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_entries_event ON audit_entries(event, outcome);
CREATE INDEX IF NOT EXISTS audit_entries_kind ON audit_entries(actor_kind);
CREATE INDEX IF NOT EXISTS audit_entries_trace ON audit_entries(trace_id)
    WHERE trace_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_checkpoints (seq INTEGER PRIMARY KEY, token TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
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
CREATE TRIGGER IF NOT EXISTS audit_head_forward_only BEFORE UPDATE ON audit_head
WHEN NEW.seq <= OLD.seq BEGIN SELECT RAISE(ABORT, 'the audit head only moves forward'); END;
CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'the audit head cannot be deleted'); END;
"""
_SELECT_HEAD = "SELECT seq, hash, mac FROM audit_head WHERE id = 1"
_INSERT_ENTRY = (
    "INSERT INTO audit_entries (seq, sub, client_id, event, outcome, actor_kind, trace_id, "
    "agent_ids, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_HEAD = (
    "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac"
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What a caller reports; ``actor_kind`` is derived from ``act``/``token_type`` when None."""

    event: str
    outcome: Outcome
    reason: str
    sub: str | None = None
    act: tuple[str, ...] = ()
    client_id: str | None = None
    token_type: str | None = None
    jti: str | None = None
    scope: str | None = None
    service: str = "iam"
    method: str | None = None
    path: str | None = None
    object_id: str | None = None
    trace_id: str | None = None
    actor_kind: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry, exactly as hashed (plus its ``hash``)."""

    seq: int
    time: float
    event: str
    outcome: str
    reason: str
    sub: str | None
    act: tuple[str, ...]
    client_id: str | None
    token_type: str | None
    jti: str | None
    scope: str | None
    service: str
    method: str | None
    path: str | None
    object_id: str | None
    trace_id: str | None
    actor_kind: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON-able data (``act`` as a list)."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["act"] = list(self.act)
        data["details"] = dict(self.details)
        return data


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The verdict of :meth:`AuditLog.verify`: the first seq it cannot vouch for, and why."""

    ok: bool
    entries_checked: int
    checkpoints_checked: int
    first_bad_seq: int | None
    reason: str


def scrub(value: Any) -> Any:
    """``value`` with every token-looking substring of every string replaced by a marker.

    Mappings become dicts and lists/tuples lists, recursively. Lone surrogates, which have no
    UTF-8 form and would make the entry unwritable, become U+FFFD.
    """
    if isinstance(value, str):
        return _scrub_str(value)
    if isinstance(value, Mapping):
        return {(_scrub_str(k) if isinstance(k, str) else k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _scrub_str(text: str) -> str:
    if "eyJ" in text:
        text = _TOKEN.sub(REDACTED, text)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _scrub_opt(text: str | None) -> str | None:
    return None if text is None else _scrub_str(text)


def _derive_actor_kind(act: tuple[str, ...], token_type: str | None) -> str:
    if act or token_type == "agent":
        return "agent"
    return {"user": "human", "app": "app"}.get(token_type or "", "anonymous")


def _agent_token(agent_id: str) -> str:
    # agent_ids is space-separated; escaping keeps an id containing a space one token.
    return agent_id.replace("%", "%25").replace(" ", "%20")


def _agent_ids(fields: dict[str, Any]) -> str:
    """The ``agent_ids`` column: the subject when it is an agent, then every member of act."""
    sub, act = fields["sub"], fields["act"]
    sub_is_agent = fields["token_type"] == "agent" or (fields["actor_kind"] == "agent" and not act)
    ids = [sub, *act] if sub_is_agent and sub is not None else act
    return " ".join(_agent_token(agent_id) for agent_id in ids)


def _json_agrees_with_jcs(value: Any) -> bool:
    """Whether ``json.dumps`` and RFC 8785 serialise ``value`` identically (see module doc)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    if kind is list:
        return all(_json_agrees_with_jcs(item) for item in value)
    if kind is dict:
        return all(
            type(k) is str and k.isascii() and _json_agrees_with_jcs(v) for k, v in value.items()
        )
    return False


def _canonical(doc: dict[str, Any], fast: bool) -> bytes:
    if fast:
        return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    try:
        return rfc8785.dumps(doc)
    except rfc8785.CanonicalizationError as exc:
        raise AuditError(f"audit event is not representable as RFC 8785 JSON: {exc}") from exc


def _entry(doc: dict[str, Any], digest: str) -> AuditEntry:
    return AuditEntry(
        seq=doc["seq"],
        time=float(doc["time"]),
        event=doc["event"],
        outcome=doc["outcome"],
        reason=doc["reason"],
        sub=doc["sub"],
        act=tuple(doc["act"]),
        client_id=doc["client_id"],
        token_type=doc["token_type"],
        jti=doc["jti"],
        scope=doc["scope"],
        service=doc["service"],
        method=doc["method"],
        path=doc["path"],
        object_id=doc["object_id"],
        trace_id=doc["trace_id"],
        actor_kind=doc["actor_kind"],
        details=doc["details"],
        prev_hash=doc["prev_hash"],
        hash=digest,
    )


def _fields_of(event: AuditEvent) -> dict[str, Any]:
    """The scrubbed, validated members of an entry that do not depend on its place in the log."""
    if event.outcome not in _OUTCOMES:
        raise AuditError(f"audit outcome must be 'allowed' or 'denied', not {event.outcome!r}")
    act = [_scrub_str(actor) for actor in event.act]
    kind = event.actor_kind or _derive_actor_kind(event.act, event.token_type)
    if kind not in _ACTOR_KINDS:
        raise AuditError(f"audit actor_kind must be one of {sorted(_ACTOR_KINDS)}, not {kind!r}")
    trace_id = event.trace_id
    # W3C Trace Context: an invalid trace-id is ignored rather than propagated.
    if trace_id is not None and (not _TRACE_ID.fullmatch(trace_id) or trace_id == "0" * 32):
        trace_id = None
    return {
        "event": _scrub_str(event.event),
        "outcome": event.outcome,
        "reason": _scrub_str(event.reason),
        "sub": _scrub_opt(event.sub),
        "act": act,
        "client_id": _scrub_opt(event.client_id),
        "token_type": _scrub_opt(event.token_type),
        "jti": _scrub_opt(event.jti),
        "scope": _scrub_opt(event.scope),
        "service": _scrub_str(event.service),
        "method": _scrub_opt(event.method),
        "path": _scrub_opt(event.path),
        "object_id": _scrub_opt(event.object_id),
        "trace_id": trace_id,
        "actor_kind": kind,
        "details": scrub(event.details),
    }


def _body_problem(seq: int, body: bytes, prev_hash: str) -> str | None:
    """Why a stored body is not a genuine entry ``seq`` following ``prev_hash``, or None."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return "body is not valid JSON"
    if not isinstance(doc, dict) or doc.keys() != _BODY_FIELDS:
        return "body does not have the fields of an audit entry"
    if type(doc["seq"]) is not int or doc["seq"] != seq:
        return f"body is entry {doc['seq']!r} (entries moved or reordered)"
    if doc["prev_hash"] != prev_hash:
        return "prev_hash does not link to the previous entry"
    try:
        canonical = rfc8785.dumps(doc)
    except (ValueError, TypeError, RecursionError):
        return "body is not representable in RFC 8785 canonical form"
    if canonical != body:
        return "body is not in RFC 8785 canonical form"
    return None


def _text(value: object) -> str:
    # Columns are read as BLOBs so that tampered, non-UTF-8 bytes cannot make verify raise.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


class AuditLog:
    """The audit log of one :class:`Store`, sealed and checkpointed with one :class:`AuditKey`."""

    def __init__(
        self, store: Store, key: AuditKey, clock: Clock, *, checkpoint_every: int = 1000
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self._store = store
        self._key = key
        self._clock = clock
        self._every = checkpoint_every
        self._subscribers: tuple[tuple[object, Callable[[AuditEntry], None]], ...] = ()
        self._subscribers_lock = threading.Lock()
        store.ensure_schema(_DDL)

    def append(self, event: AuditEvent) -> AuditEntry:
        """Record ``event`` as the next entry; notify subscribers once it is committed.

        The head is read inside the write transaction, never cached, because other processes
        may append to the same file. Its seal is checked first: extending a head that an
        attacker rewrote would seal their rewrite with our key.
        """
        fields = _fields_of(event)
        fast = _json_agrees_with_jcs(fields["details"])
        agent_ids = _agent_ids(fields)
        with self._store.transaction() as conn:
            head = conn.execute(_SELECT_HEAD).fetchone()
            if head is None:
                seq, prev = 1, GENESIS_HASH
            elif self._key.head_seal_valid(head[0], head[1], head[2]):
                seq, prev = head[0] + 1, head[1]
            else:
                raise AuditError("audit head seal invalid: refusing to extend a tampered log")
            now = round(self._clock.now(), 6)
            if now.is_integer():
                when: float | int = int(now)
            else:
                when = now
                fast = fast and 1e-4 <= abs(now) < 1e16
            doc = {"seq": seq, "time": when, **fields, "prev_hash": prev}
            body = _canonical(doc, fast)
            digest = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
            conn.execute(
                _INSERT_ENTRY,
                (
                    seq,
                    fields["sub"],
                    fields["client_id"],
                    fields["event"],
                    fields["outcome"],
                    fields["actor_kind"],
                    fields["trace_id"],
                    agent_ids,
                    body.decode(),
                    digest,
                ),
            )
            conn.execute(_UPSERT_HEAD, (seq, digest, self._key.seal_head(seq, digest)))
            if seq % self._every == 0:
                self._write_checkpoint(conn, seq, digest)
        entry = _entry(doc, digest)
        for _, callback in self._subscribers:
            try:
                callback(entry)
            except Exception:  # noqa: BLE001 -- a subscriber's failure must not undo an audit entry
                _log.exception("audit subscriber %r failed on entry %d", callback, seq)
        return entry

    def checkpoint(self) -> int:
        """Sign the current head now; returns the seq it covers (0 for an empty log)."""
        with self._store.transaction() as conn:
            head = conn.execute(_SELECT_HEAD).fetchone()
            if head is None:
                return 0
            seq, digest, seal = head
            if not self._key.head_seal_valid(seq, digest, seal):
                raise AuditError("audit head seal invalid: refusing to sign a tampered head")
            if conn.execute("SELECT 1 FROM audit_checkpoints WHERE seq = ?", (seq,)).fetchone():
                return int(seq)
            self._write_checkpoint(conn, seq, digest)
            return int(seq)

    def _write_checkpoint(self, conn: sqlite3.Connection, seq: int, digest: str) -> None:
        token = self._key.sign_checkpoint(seq, digest, int(self._clock.now()))
        conn.execute("INSERT INTO audit_checkpoints (seq, token) VALUES (?, ?)", (seq, token))

    def verify(self) -> AuditVerification:
        """Check the chain, every checkpoint and the head seal; report the first failure.

        Tampered data is reported, never raised: every column is read as bytes and every
        parse is guarded.
        """
        try:
            with self._snapshot() as conn:
                return self._verify(conn)
        except sqlite3.Error as exc:
            return AuditVerification(False, 0, 0, None, f"audit tables unreadable: {exc}")

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read view; on a file, a separate read-only connection in WAL so that
        verifying a long log does not hold up appends on the token endpoint."""
        if self._store.is_memory:
            with self._store.transaction() as conn:
                yield conn
            return
        uri = Path(self._store.path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=30.0)
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    def _verify(self, conn: sqlite3.Connection) -> AuditVerification:
        checkpoints: dict[int, object] = dict(
            conn.execute("SELECT seq, CAST(token AS BLOB) FROM audit_checkpoints").fetchall()
        )
        head = conn.execute(
            "SELECT seq, CAST(hash AS BLOB), CAST(mac AS BLOB) FROM audit_head WHERE id = 1"
        ).fetchone()
        entries, checked, proven, prev = 0, 0, 0, GENESIS_HASH

        def fail(seq: int, reason: str) -> AuditVerification:
            return AuditVerification(False, entries, checked, seq, reason)

        rows = conn.execute(
            "SELECT seq, CAST(body AS BLOB), CAST(hash AS BLOB) FROM audit_entries ORDER BY seq"
        )
        for seq, body, stored_hash in rows:
            if seq != entries + 1:
                if seq <= entries:
                    return fail(seq, f"entry {seq} lies before entry 1")
                return fail(
                    entries + 1,
                    f"entry {entries + 1} missing (chain jumps from {entries} to {seq})",
                )
            if not isinstance(body, bytes):
                return fail(seq, f"entry {seq}: body missing")
            problem = _body_problem(seq, body, prev)
            if problem is not None:
                return fail(seq, f"entry {seq}: {problem}")
            digest = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
            if _text(stored_hash) != digest:
                return fail(seq, f"entry {seq}: hash does not match its contents")
            entries, prev = seq, digest
            if seq in checkpoints:
                try:
                    claim = self._key.read_checkpoint(_text(checkpoints.pop(seq)))
                except AuditError as exc:
                    return fail(seq, f"checkpoint at {seq}: {exc}")
                if claim.seq != seq:
                    return fail(seq, f"checkpoint at {seq}: the token covers entry {claim.seq}")
                if claim.hash != digest:
                    return fail(
                        proven + 1,
                        f"checkpoint at {seq}: hash does not match the chain "
                        f"(entries {proven + 1}..{seq} rewritten)",
                    )
                checked, proven = checked + 1, seq
        if checkpoints:
            beyond = [seq for seq in checkpoints if seq > entries]
            if beyond:
                return fail(
                    entries + 1,
                    f"checkpoint at {min(beyond)} lies beyond the last entry {entries}: "
                    "log truncated",
                )
            return fail(min(checkpoints), f"checkpoint at {min(checkpoints)} names no entry")
        if head is None:
            if entries == 0:
                return AuditVerification(True, 0, checked, None, "ok: empty log")
            return fail(
                proven + 1, f"head seal missing: log truncated or rewritten after entry {proven}"
            )
        head_seq, head_hash = head[0], _text(head[1])
        if not self._key.head_seal_valid(head_seq, head_hash, _text(head[2])):
            return fail(
                proven + 1, f"head seal invalid: log truncated or rewritten after entry {proven}"
            )
        if head_seq > entries:
            return fail(
                entries + 1,
                f"log truncated: the head seal covers entry {head_seq} "
                f"but the log ends at entry {entries}",
            )
        if head_seq < entries:
            return fail(
                head_seq + 1,
                f"entries {head_seq + 1}..{entries} are not covered by the head seal "
                "(appended without the audit key)",
            )
        if head_hash != prev:
            return fail(
                proven + 1,
                f"head seal does not match entry {entries}: log rewritten after entry {proven}",
            )
        return AuditVerification(
            True, entries, checked, None, f"ok: {entries} entries, {checked} checkpoints"
        )

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
        """Entries in seq order matching every filter given.

        ``agent=X``: X is the subject or anywhere in the delegation chain ``act``.
        ``user=X``: X is the subject, whoever acted; add ``actor_kind="human"`` for what the user
        did directly, ``actor_kind="agent"`` for what agents did on their behalf.
        """
        where: list[str] = ["seq > ?"]
        params: list[Any] = [since_seq]
        if agent is not None:
            where.append("(sub = ? OR instr(' ' || agent_ids || ' ', ?) > 0)")
            params += [agent, f" {_agent_token(agent)} "]
        filters = (
            ("sub", user),
            ("actor_kind", actor_kind),
            ("event", event),
            ("outcome", outcome),
            ("trace_id", trace_id),
        )
        for column, value in filters:
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT body, hash FROM audit_entries WHERE {' AND '.join(where)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(limit, 0))
        return [_entry(json.loads(body), digest) for body, digest in self._store.all(sql, params)]

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
