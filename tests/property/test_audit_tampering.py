"""Properties of AuditLog.verify: for any log, any single tampering is found, and where.

Each property builds a fresh in-memory log of 1..40 arbitrary events, plays the attacker who
holds the database file (triggers dropped first) but not the audit keys, and checks the verdict.
Example counts come from the hypothesis profile loaded in tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from iam_core.audit import AuditEvent, AuditKey, AuditLog
from iam_core.clock import ManualClock
from iam_core.store import Store

KEY = AuditKey.generate()
OTHER_KEY = AuditKey.generate()

_ids = st.text(min_size=1, max_size=12)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_events = st.builds(
    AuditEvent,
    event=st.sampled_from(["token.issued", "token.refused", "login.failed", "access.decision"]),
    outcome=st.sampled_from(["allowed", "denied"]),
    reason=st.text(max_size=30),
    sub=st.none() | _ids,
    act=st.lists(_ids, max_size=3).map(tuple),
    client_id=st.none() | _ids,
    token_type=st.sampled_from([None, "agent", "obo", "user", "app"]),
    scope=st.none() | st.text(max_size=20),
    trace_id=st.none() | st.text("0123456789abcdef", min_size=32, max_size=32),
    details=st.dictionaries(st.text(max_size=8), _json, max_size=3),
)
_logs = st.tuples(
    st.lists(_events, min_size=1, max_size=40),
    st.integers(1, 12),  # checkpoint_every: from "every entry" to "rarely"
    st.floats(0, 3600),  # seconds between entries
)


def _jcs_number(text: str) -> int | float:
    """RFC 8785 prints 2.0**53 as an integer beyond its integer range; read it as a float."""
    value = int(text)
    return value if abs(value) < 2**53 else float(value)


@contextmanager
def _built(spec: tuple[list[AuditEvent], int, float]) -> Iterator[tuple[Store, AuditLog]]:
    events, every, step = spec
    store, clock = Store(), ManualClock(1_700_000_000.0)
    log = AuditLog(store, KEY, clock, checkpoint_every=every)
    for event in events:
        log.append(event)
        clock.advance(step)
    assert log.verify().ok
    try:
        names = store.all("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for (name,) in names:
            store.execute(f'DROP TRIGGER "{name}"')
        yield store, log
    finally:
        store.close()


@given(_logs, st.data())
def test_any_single_byte_change_in_any_body_is_found_at_that_entry(
    spec: tuple[list[AuditEvent], int, float], data: st.DataObject
) -> None:
    """Whatever byte of whatever body changes, verification fails exactly at that entry."""
    with _built(spec) as (store, log):
        seq = data.draw(st.integers(1, len(log)), label="seq")
        (body,) = store.one("SELECT CAST(body AS BLOB) FROM audit_entries WHERE seq = ?", (seq,))  # type: ignore[misc]
        at = data.draw(st.integers(0, len(body) - 1), label="position")
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]), label="byte")
        edited = body[:at] + bytes([byte]) + body[at + 1 :]
        store.execute("UPDATE audit_entries SET body = ? WHERE seq = ?", (edited, seq))
        result = log.verify()
        assert not result.ok
        assert result.first_bad_seq == seq, result.reason


@given(_logs, st.data())
def test_deleting_any_one_entry_is_found_at_that_entry(
    spec: tuple[list[AuditEvent], int, float], data: st.DataObject
) -> None:
    """A gap in the middle, or a missing last entry, is reported at the deleted seq."""
    with _built(spec) as (store, log):
        seq = data.draw(st.integers(1, len(log)), label="seq")
        store.execute("DELETE FROM audit_entries WHERE seq = ?", (seq,))
        result = log.verify()
        assert not result.ok
        assert result.first_bad_seq == seq, result.reason


@given(_logs, st.data())
def test_swapping_any_two_entries_is_found_at_the_earlier_one(
    spec: tuple[list[AuditEvent], int, float], data: st.DataObject
) -> None:
    """Two entries trading places (body and hash) is a reorder, reported at the lower seq."""
    with _built(spec) as (store, log):
        if len(log) < 2:
            return
        first = data.draw(st.integers(1, len(log) - 1), label="first")
        second = data.draw(st.integers(first + 1, len(log)), label="second")
        select = "SELECT body, hash FROM audit_entries WHERE seq = ?"
        rows = {seq: tuple(store.one(select, (seq,)) or ()) for seq in (first, second)}
        for seq, other in ((first, second), (second, first)):
            store.execute(
                "UPDATE audit_entries SET body = ?, hash = ? WHERE seq = ?", (*rows[other], seq)
            )
        result = log.verify()
        assert not result.ok
        assert result.first_bad_seq == first, result.reason


@given(_logs, st.data())
def test_cutting_any_number_of_entries_off_the_tail_is_found(
    spec: tuple[list[AuditEvent], int, float], data: st.DataObject
) -> None:
    """Truncating k >= 1 entries is reported at the first missing seq, checkpoint or not."""
    with _built(spec) as (store, log):
        n = len(log)
        k = data.draw(st.integers(1, n), label="k")
        store.execute("DELETE FROM audit_entries WHERE seq > ?", (n - k,))
        result = log.verify()
        assert not result.ok
        assert result.first_bad_seq == n - k + 1, result.reason


@given(_logs, st.data(), st.booleans())
def test_a_consistent_rewrite_under_another_key_is_found(
    spec: tuple[list[AuditEvent], int, float], data: st.DataObject, resign: bool
) -> None:
    """Fresh hashes everywhere, a head sealed (and maybe checkpoints signed) with a different
    key: caught by a checkpoint or the head seal, never later than the rewritten entry."""
    with _built(spec) as (store, log):
        target = data.draw(st.integers(1, len(log)), label="target")
        prev, seq = "0" * 64, 0
        for seq, body in store.all("SELECT seq, body FROM audit_entries ORDER BY seq"):
            doc = json.loads(body, parse_int=_jcs_number)
            if seq == target:
                doc["reason"] += " (rewritten)"
            doc["prev_hash"] = prev
            new = rfc8785.dumps(doc)
            prev = hashlib.sha256(bytes.fromhex(prev) + new).hexdigest()
            store.execute(
                "UPDATE audit_entries SET body = ?, hash = ? WHERE seq = ?",
                (new.decode(), prev, seq),
            )
            if resign:
                token = OTHER_KEY.sign_checkpoint(seq, prev, 0)
                store.execute("UPDATE audit_checkpoints SET token = ? WHERE seq = ?", (token, seq))
        forged = OTHER_KEY.seal_head(seq, prev)
        store.execute("UPDATE audit_head SET seq = ?, hash = ?, mac = ?", (seq, prev, forged))
        result = log.verify()
        assert not result.ok
        assert result.first_bad_seq is not None
        assert result.first_bad_seq <= target, result.reason
