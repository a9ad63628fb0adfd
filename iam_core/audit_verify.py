"""How a sealed audit log is verified: :func:`verify_log`, and the queried columns it covers.

Besides the hashed body, each row of ``audit_entries`` keeps the columns queries filter on
(:data:`INDEXED_COLUMNS`). They are derived from the body, so the walk re-derives them and
rejects a row whose columns say anything else: an edited ``sub`` would otherwise hide an
agent's entry from ``query(agent=...)`` while the chain still verified (docs/attacks.md, audit
tampering). What a witness saw (:mod:`iam_core.audit_witness`) is checked in the same walk: a
log that no longer holds a head the witness recorded was rolled back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import rfc8785

from iam_core.audit_keys import (
    ENTRY_FIELDS,
    GENESIS_HASH,
    AuditError,
    AuditKey,
    AuditVerification,
    fast_canonical,
    loads,
)

# The columns queries read besides seq, body and hash, in the order of the SELECT below.
INDEXED_COLUMNS = ("sub", "client_id", "event", "outcome", "actor_kind", "trace_id", "agent_ids")
# Each column as its UTF-8 bytes when it is text, NULL when NULL, and otherwise a byte no
# UTF-8 text holds: a BLOB or a number never equals the text a query binds, so it must not pass.
_COLUMN_SQL = ", ".join(
    f"CASE WHEN typeof({c}) IN ('text', 'null') THEN CAST({c} AS BLOB) ELSE X'FF' END"
    for c in INDEXED_COLUMNS
)
SELECT_ENTRIES = (
    f"SELECT seq, CAST(body AS BLOB), CAST(hash AS BLOB), {_COLUMN_SQL} "  # noqa: S608
    "FROM audit_entries ORDER BY seq"
)


def agent_token(agent_id: str) -> str:
    """An agent id as one token of the space-separated ``agent_ids`` column."""
    return agent_id.replace("%", "%25").replace(" ", "%20")


def indexed_columns(doc: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The :data:`INDEXED_COLUMNS` of an entry, derived from its (scrubbed) members.

    ``agent_ids``: the subject when it is an agent, then every member of ``act``.
    """
    sub, act = doc["sub"], list(doc["act"])
    sub_is_agent = doc["token_type"] == "agent" or (doc["actor_kind"] == "agent" and not act)
    ids = [sub, *act] if sub_is_agent and sub is not None else act
    agent_ids = " ".join([agent_token(str(agent_id)) for agent_id in ids])
    return (
        sub,
        doc["client_id"],
        doc["event"],
        doc["outcome"],
        doc["actor_kind"],
        doc["trace_id"],
        agent_ids,
    )


def columns_problem(doc: Mapping[str, Any], stored: Iterable[object]) -> str | None:
    """The first queried column whose stored value is not the one derived from ``doc``."""
    expected = tuple(
        [
            None if w is None else str(w).encode("utf-8", "surrogatepass")
            for w in indexed_columns(doc)
        ]
    )
    got = tuple(stored)
    if got == expected:
        return None
    name = next(n for n, w, h in zip(INDEXED_COLUMNS, expected, got, strict=True) if h != w)
    return f"column {name} does not match the body (the entry was re-filed)"


@dataclass(frozen=True, slots=True)
class WitnessView:
    """What a witness recorded: the chain hash(es) it saw at each seq, or why it is unusable.

    ``problem`` is (seq or None, reason) for a witness that is missing, forged or corrupt.
    """

    heads: dict[int, frozenset[str]] = field(default_factory=dict)
    problem: tuple[int | None, str] | None = None
    source: str = "the witness"


def _body_problem(seq: int, body: bytes, prev_hash: str) -> tuple[str | None, Any]:
    """Why a stored body is not a genuine entry ``seq`` after ``prev_hash``, and its doc.

    The fast path parses and re-serialises with ``orjson``, which is exact within the fast
    domain (:mod:`iam_core.audit_keys`); a body it cannot vouch for takes the reference path.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _reference_body_problem(seq, body, prev_hash)
    if not isinstance(doc, dict) or doc.keys() != ENTRY_FIELDS or type(doc["act"]) is not list:
        return "body does not have the fields of an audit entry", None
    if type(doc["seq"]) is not int or doc["seq"] != seq:
        return f"body is entry {doc['seq']!r} (entries moved or reordered)", None
    if doc["prev_hash"] != prev_hash:
        return "prev_hash does not link to the previous entry", None
    canonical = fast_canonical(doc)
    if canonical is None:
        return _reference_body_problem(seq, body, prev_hash)
    if canonical != body:
        return "body is not in RFC 8785 canonical form", None
    return None, doc


def _reference_body_problem(seq: int, body: bytes, prev_hash: str) -> tuple[str | None, Any]:
    """:func:`_body_problem` through the reference ``rfc8785`` (slow, covers every value)."""
    try:
        doc = loads(body)
    except (ValueError, OverflowError, RecursionError):
        return "body is not valid JSON", None
    if not isinstance(doc, dict) or doc.keys() != ENTRY_FIELDS or type(doc["act"]) is not list:
        return "body does not have the fields of an audit entry", None
    if type(doc["seq"]) is not int or doc["seq"] != seq:
        return f"body is entry {doc['seq']!r} (entries moved or reordered)", None
    if doc["prev_hash"] != prev_hash:
        return "prev_hash does not link to the previous entry", None
    try:
        canonical = rfc8785.dumps(doc)
    except (ValueError, TypeError, RecursionError):
        canonical = None
    if canonical != body:
        return "body is not in RFC 8785 canonical form", None
    return None, doc


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def verify_log(
    key: AuditKey,
    entries: Iterable[tuple[Any, ...]],
    checkpoints: dict[int, object],
    head: tuple[Any, ...] | None,
    witness: WitnessView | None = None,
) -> AuditVerification:
    """Check a snapshot of a log: rows of :data:`SELECT_ENTRIES` in seq order, checkpoint
    tokens by seq, the ``(seq, hash, mac)`` head, text columns as raw bytes, and optionally
    what a witness saw.

    ``first_bad_seq`` is the lowest seq that can no longer be vouched for: the entry that
    fails, or for a failure of a checkpoint, the head seal or the witness, the first entry
    after the last one a checkpoint or the witness vouched for. Tampered data is reported,
    never raised.
    """
    cps = dict(checkpoints)
    seen = witness.heads if witness is not None else {}
    last, checked, proven, vouched, prev = 0, 0, 0, 0, GENESIS_HASH
    since_proven: dict[int, str] = {}  # chain hashes after the last good checkpoint

    def fail(seq: int | None, reason: str) -> AuditVerification:
        return AuditVerification(False, last, checked, seq, reason)

    for seq, body, stored_hash, *columns in entries:
        if seq <= last:
            return fail(seq, f"entry {seq} lies before entry 1")
        if seq != last + 1:
            return fail(last + 1, f"entry {last + 1} missing (chain jumps from {last} to {seq})")
        problem, doc = _body_problem(seq, body, prev) if isinstance(body, bytes) else ("no body", 0)
        if problem is None and isinstance(doc, dict):
            problem = columns_problem(doc, columns)
        if problem is not None:
            return fail(seq, f"entry {seq}: {problem}")
        digest = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()  # chain_hash, inlined
        if stored_hash != digest.encode("ascii"):
            return fail(seq, f"entry {seq}: hash does not match its contents")
        last, prev = seq, digest
        since_proven[seq] = digest
        if seq in seen:
            if seen[seq] != {digest}:
                why = "the log was rolled back or rewritten"
                return fail(
                    vouched + 1, f"entry {seq} is not the one {_source(witness)} saw: {why}"
                )
            vouched = seq
        if seq not in cps:
            continue
        try:
            claim = key.read_checkpoint(_text(cps.pop(seq)))
        except AuditError as exc:
            return fail(proven + 1, f"checkpoint at {seq}: {exc}")
        if claim.seq != seq:
            return fail(proven + 1, f"checkpoint at {seq}: the token covers entry {claim.seq}")
        if claim.hash != digest:
            why = f"hash does not match the chain (entries {proven + 1}..{seq} rewritten)"
            return fail(proven + 1, f"checkpoint at {seq}: {why}")
        checked, proven, vouched = checked + 1, seq, max(vouched, seq)
        since_proven = {seq: digest}
    beyond = [seq for seq in cps if seq > last]
    if beyond:
        return fail(last + 1, f"checkpoint at {min(beyond)} lies beyond the last entry {last}")
    if cps:
        return fail(min(cps), f"checkpoint at {min(cps)} names no entry")
    if seen and max(seen) > last:
        why = f"{_source(witness)} saw entry {max(seen)}, but the log ends at entry {last}"
        return fail(last + 1, f"log rolled back: {why}")
    if witness is not None and witness.problem is not None and (last or seen):
        return fail(*witness.problem)
    if head is None and last == 0:
        return AuditVerification(True, 0, checked, None, "ok: empty log")
    rewritten = f"log truncated or rewritten after entry {proven}"
    if head is None:
        return fail(proven + 1, f"head seal missing: {rewritten}")
    head_seq, head_hash = head[0], _text(head[1])
    if not key.head_seal_valid(head_seq, head_hash, _text(head[2])):
        return fail(proven + 1, f"head seal invalid: {rewritten}")
    if head_seq > last:
        why = f"the head seal covers entry {head_seq} but the log ends at entry {last}"
        return fail(last + 1, f"log truncated: {why}")
    if since_proven.get(head_seq) != head_hash:
        # The seal vouches for the chain up to its entry: a chain that differs there was
        # rewritten (or spliced) at or after the last checkpoint that held.
        return fail(proven + 1, f"head seal does not match entry {head_seq}: {rewritten}")
    if head_seq < last:
        why = f"entries {head_seq + 1}..{last} were appended without the audit key"
        return fail(head_seq + 1, f"not covered by the head seal: {why}")
    suffix = ", witnessed" if witness is not None else ""
    return AuditVerification(
        True, last, checked, None, f"ok: {last} entries, {checked} checkpoints{suffix}"
    )


def _source(witness: WitnessView | None) -> str:
    return witness.source if witness is not None else "the witness"
