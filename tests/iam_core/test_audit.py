"""The audit log: what it records, what it hides, and every tampering it must reveal."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from iam_core.audit import (
    AuditEntry,
    AuditError,
    AuditEvent,
    AuditKey,
    AuditLog,
    scrub,
)
from iam_core.audit_keys import agrees_with_jcs, canonical_bytes
from iam_core.audit_verify import indexed_columns
from iam_core.clock import ManualClock
from iam_core.store import Store

JWT = (
    "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9"
    ".eyJzdWIiOiJhZ2VudDpib29raW5nLWJvdCIsInNjb3BlIjoiaG90ZWw6cmVhZCJ9"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
KEY = AuditKey.generate()


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store()
    yield s
    s.close()


def _log(store: Store, n: int = 0, *, every: int = 1000, key: AuditKey = KEY) -> AuditLog:
    log = AuditLog(store, key, ManualClock(1_732_800_000.0), checkpoint_every=every)
    for i in range(n):
        log.append(_event(i))
    return log


def _event(i: int) -> AuditEvent:
    kinds = [
        AuditEvent("token.issued", "allowed", "agent token", sub=f"agent:{i}", token_type="agent"),
        AuditEvent("login.failed", "denied", "bad password", sub=f"user:{i}", token_type="user"),
        AuditEvent(
            "token.issued", "allowed", "obo", sub="user:ann", act=("agent:a", "agent:b"),
            token_type="obo", details={"n": i, "scope_granted": "hotel:read"},
        ),
    ]  # fmt: skip
    return kinds[i % len(kinds)]


def _drop_triggers(store: Store) -> None:
    """What an attacker holding the database file does first."""
    names = store.all("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    for (name,) in names:
        store.execute(f'DROP TRIGGER "{name}"')


def _bodies(store: Store) -> dict[int, str]:
    return {seq: body for seq, body in store.all("SELECT seq, body FROM audit_entries")}


def _rewrite(
    store: Store,
    change: Callable[[dict[str, Any]], None],
    seal: Callable[[int, str], str] | None,
) -> None:
    """Rewrite every entry consistently (fresh prev_hash and hash) and the head, as an attacker
    who knows the hashing rule would; ``seal`` is their guess at the head seal (or the real one,
    to isolate another defence); with None the head row is left alone."""
    _drop_triggers(store)
    prev, seq = "0" * 64, 0
    for seq, body in sorted(_bodies(store).items()):
        doc = json.loads(body)
        doc["prev_hash"] = prev
        change(doc)
        new = rfc8785.dumps(doc)
        prev = hashlib.sha256(bytes.fromhex(prev) + new).hexdigest()
        store.execute(
            "UPDATE audit_entries SET body = ?, hash = ? WHERE seq = ?", (new.decode(), prev, seq)
        )
    if seal is not None:
        store.execute(
            "UPDATE audit_head SET seq = ?, hash = ?, mac = ?", (seq, prev, seal(seq, prev))
        )


def _change_reason_of(target: int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        if doc["seq"] == target:
            doc["reason"] = "nothing to see here"

    return change


def test_entries_chain_from_the_genesis_hash_over_the_rfc8785_bytes(store: Store) -> None:
    """Each hash is SHA-256 of the previous hash's bytes and the JCS form of the entry sans hash."""
    log = _log(store, 3)
    prev = "0" * 64
    for entry in log.query():
        data = entry.to_dict()
        del data["hash"]
        body = rfc8785.dumps(data)
        assert _bodies(store)[entry.seq] == body.decode()
        assert entry.prev_hash == prev
        assert entry.hash == hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
        prev = entry.hash
    assert len(log) == 3


def test_time_is_stored_rounded_to_microseconds(store: Store) -> None:
    """A clock reading with sub-microsecond noise is stored, and read back, at 1 µs precision."""
    log = AuditLog(store, KEY, ManualClock(1_732_800_000.123456789))
    entry = log.append(_event(0))
    assert entry.time == 1_732_800_000.123457
    assert log.query()[0].time == entry.time


def test_actor_kind_is_derived_from_act_and_token_type(store: Store) -> None:
    """Delegation or an agent token means an agent acted; a user token a human; else anonymous."""
    log = _log(store)

    def kind(**kw: Any) -> str:
        return log.append(AuditEvent("e", "allowed", "r", **kw)).actor_kind

    assert kind(token_type="agent") == "agent"
    assert kind(token_type="obo", act=("agent:a",)) == "agent"
    assert kind(token_type="user") == "human"
    assert kind(token_type="app") == "app"
    assert kind() == "anonymous"
    assert kind(token_type="user", actor_kind="app") == "app"
    with pytest.raises(AuditError, match="actor_kind"):
        kind(actor_kind="robot")


def test_query_separates_agent_activity_from_human_activity(store: Store) -> None:
    """actor_kind splits what agents did (even for a user) from what humans did themselves."""
    log = _log(store)
    log.append(AuditEvent("login.succeeded", "allowed", "pw", sub="user:ann", token_type="user"))
    log.append(AuditEvent("booking.created", "allowed", "ok", sub="user:ann", act=("agent:bot",)))
    log.append(AuditEvent("token.issued", "allowed", "cc", sub="agent:bot", token_type="agent"))
    assert [e.event for e in log.query(actor_kind="human")] == ["login.succeeded"]
    assert [e.seq for e in log.query(actor_kind="agent")] == [2, 3]
    assert [e.seq for e in log.query(user="user:ann")] == [1, 2]
    assert [e.seq for e in log.query(user="user:ann", actor_kind="human")] == [1]


def test_query_by_agent_finds_it_anywhere_in_a_nested_act_chain(store: Store) -> None:
    """agent=X matches X as subject or at any depth of act, and never a mere prefix of X."""
    log = _log(store)
    chain = ("agent:concierge", "agent:planner", "agent:booker")
    log.append(AuditEvent("token.issued", "allowed", "obo", sub="user:ann", act=chain))
    log.append(AuditEvent("token.issued", "allowed", "cc", sub="agent:booker", token_type="agent"))
    log.append(AuditEvent("token.issued", "allowed", "x", sub="user:bob", act=("agent:book",)))
    log.append(AuditEvent("token.issued", "allowed", "y", sub="u", act=("agent:x y", "agent:z")))
    assert [e.seq for e in log.query(agent="agent:booker")] == [1, 2]
    assert [e.seq for e in log.query(agent="agent:planner")] == [1]
    assert [e.seq for e in log.query(agent="agent:book")] == [3]
    assert [e.seq for e in log.query(agent="agent:x y")] == [4]
    assert log.query(agent="agent:x") == []


def test_query_filters_by_event_outcome_trace_and_window(store: Store) -> None:
    """Filters combine with AND; since_seq and limit page through the log in seq order."""
    log = _log(store, 9)
    log.append(AuditEvent("access.decision", "denied", "no scope", trace_id=TRACE))
    assert [e.seq for e in log.query(event="login.failed")] == [2, 5, 8]
    assert [e.seq for e in log.query(outcome="denied", event="access.decision")] == [10]
    assert [e.seq for e in log.query(trace_id=TRACE)] == [10]
    assert [e.seq for e in log.query(since_seq=4, limit=3)] == [5, 6, 7]
    assert log.query(limit=0) == []


def test_an_invalid_trace_id_is_ignored(store: Store) -> None:
    """W3C Trace Context: a malformed or all-zero trace-id is dropped, not recorded."""
    log = _log(store)
    assert log.append(AuditEvent("e", "allowed", "r", trace_id="NOT-A-TRACE")).trace_id is None
    assert log.append(AuditEvent("e", "allowed", "r", trace_id="0" * 32)).trace_id is None
    assert log.append(AuditEvent("e", "allowed", "r", trace_id=TRACE)).trace_id == TRACE


def test_an_outcome_other_than_allowed_or_denied_is_refused(store: Store) -> None:
    """A typo in an outcome would hide a denial from every query, so it is an error."""
    with pytest.raises(AuditError, match="outcome"):
        _log(store).append(AuditEvent("e", "refused", "r"))  # type: ignore[arg-type]
    assert store.one("SELECT COUNT(*) FROM audit_entries")[0] == 0  # type: ignore[index]


def test_scrub_replaces_every_jwt_in_nested_values() -> None:
    """JWS, two-segment fragments and tokens inside longer strings all become the marker."""
    value = {
        "a": f"Bearer {JWT}",
        "b": [JWT.rsplit(".", 1)[0], ("x", {"c": f"{JWT}.Zm9v.YmFy"})],
        "n": 3,
    }
    assert scrub(value) == {
        "a": "Bearer [redacted-token]",
        "b": ["[redacted-token]", ["x", {"c": "[redacted-token]"}]],
        "n": 3,
    }
    assert scrub("eyJ alone is not a token") == "eyJ alone is not a token"


def test_append_never_writes_a_token_from_reason_or_details(store: Store) -> None:
    """Tokens pasted into reason, details or an id field never reach the database."""
    log = _log(store)
    entry = log.append(
        AuditEvent(
            "token.refused", "denied", f"bad assertion {JWT}", jti=JWT,
            details={"subject_token": JWT, "nested": [{"t": f"x{JWT}"}]},
        )
    )  # fmt: skip
    assert JWT not in json.dumps(entry.to_dict())
    assert entry.reason == "bad assertion [redacted-token]"
    assert entry.details["subject_token"] == "[redacted-token]"
    stored = [tuple(row) for row in store.all("SELECT * FROM audit_entries")]
    assert "eyJ" not in repr(stored)
    assert log.verify().ok


def test_values_outside_the_fast_path_are_canonicalised_by_rfc8785(store: Store) -> None:
    """Floats, non-ASCII keys and lone surrogates still give RFC 8785 bodies that verify."""
    log = _log(store)
    log.append(AuditEvent("e", "allowed", "\ud800 lone", details={"é": 1e21, "f": 0.5, "z": -0.0}))
    log.append(AuditEvent("e", "allowed", "r", details={"t": (1, "x")}, sub="s"))
    assert log.verify().ok


def test_a_time_python_and_ecmascript_print_differently_takes_the_rfc8785_path(
    store: Store,
) -> None:
    """5e-05 s (JCS: 0.00005) must not reach the json.dumps path, or verify would reject it."""
    log = AuditLog(store, KEY, ManualClock(0.00005))
    log.append(_event(0))
    assert '"time":0.00005' in _bodies(store)[1]
    assert log.verify().ok


def test_unrepresentable_details_are_refused(store: Store) -> None:
    """An integer beyond 2**53 cannot be an RFC 8785 number: refused, and nothing is written."""
    log = _log(store)
    with pytest.raises(AuditError, match="RFC 8785"):
        log.append(AuditEvent("e", "allowed", "r", details={"n": 2**60}))
    assert len(log) == 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_JSON)
def test_the_fast_serialiser_agrees_with_rfc8785_wherever_it_is_used(value: Any) -> None:
    """Whenever agrees_with_jcs admits a value, json.dumps gives exactly the RFC 8785 bytes."""
    doc = {"v": scrub(value)}
    if agrees_with_jcs(doc):
        assert canonical_bytes(doc, agrees=True) == rfc8785.dumps(doc)


def test_a_fresh_log_of_2500_entries_verifies_with_its_checkpoints(store: Store) -> None:
    """A genuine log verifies: every entry, both automatic checkpoints, and the head seal."""
    log = _log(store, 2500, every=1000)
    result = log.verify()
    assert result.ok, result.reason
    assert (result.entries_checked, result.checkpoints_checked) == (2500, 2)
    assert result.first_bad_seq is None
    assert [seq for (seq,) in store.all("SELECT seq FROM audit_checkpoints")] == [1000, 2000]


def test_editing_one_byte_of_a_body_is_detected_at_that_entry(store: Store) -> None:
    """Changing one character of entry 17 fails verification at 17 with a precise reason."""
    log = _log(store, 40, every=10)
    _drop_triggers(store)
    body = _bodies(store)[17]
    edited = body.replace('"bad password"', '"bad passw0rd"')
    assert len(edited) == len(body)
    assert edited != body
    store.execute("UPDATE audit_entries SET body = ? WHERE seq = 17", (edited,))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 17)
    assert result.reason == "entry 17: hash does not match its contents"
    assert result.entries_checked == 16


def test_deleting_a_middle_entry_is_detected_as_a_gap(store: Store) -> None:
    """Removing entry 17 leaves a jump from 16 to 18."""
    log = _log(store, 40)
    _drop_triggers(store)
    store.execute("DELETE FROM audit_entries WHERE seq = 17")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 17)
    assert result.reason == "entry 17 missing (chain jumps from 16 to 18)"


def test_swapping_two_entries_bodies_is_detected(store: Store) -> None:
    """Reordering history (entries 5 and 9 trade places, hashes included) fails at 5."""
    log = _log(store, 12)
    _drop_triggers(store)
    rows = {
        seq: (body, h) for seq, body, h in store.all("SELECT seq, body, hash FROM audit_entries")
    }
    for seq, other in ((5, 9), (9, 5)):
        store.execute(
            "UPDATE audit_entries SET body = ?, hash = ? WHERE seq = ?", (*rows[other], seq)
        )
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert "reordered" in result.reason


def test_truncating_the_tail_after_a_checkpoint_is_detected_by_the_head_seal(store: Store) -> None:
    """Entries 1001..1003 cut after the checkpoint at 1000: the sealed head still says 1003."""
    log = _log(store, 1003, every=1000)
    _drop_triggers(store)
    store.execute("DELETE FROM audit_entries WHERE seq > 1000")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1001)
    assert "head seal covers entry 1003 but the log ends at entry 1000" in result.reason


def test_truncating_a_tail_no_checkpoint_covers_is_detected_by_the_head_seal(store: Store) -> None:
    """With no checkpoint at all, cutting the last 3 of 10 entries is still caught."""
    log = _log(store, 10)
    _drop_triggers(store)
    store.execute("DELETE FROM audit_entries WHERE seq > 7")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 8)
    assert "truncated" in result.reason


def test_truncating_and_resealing_the_head_without_the_key_is_detected(store: Store) -> None:
    """Cutting the tail and pointing the head at the new last entry needs the MAC key."""
    log = _log(store, 10)
    _drop_triggers(store)
    store.execute("DELETE FROM audit_entries WHERE seq > 7")
    (last_hash,) = store.one("SELECT hash FROM audit_entries WHERE seq = 7")  # type: ignore[misc]
    forged = AuditKey.generate().seal_head(7, last_hash)
    store.execute("UPDATE audit_head SET seq = 7, hash = ?, mac = ?", (last_hash, forged))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert result.reason == "head seal invalid: log truncated or rewritten after entry 0"


def test_truncating_below_a_checkpoint_is_detected(store: Store) -> None:
    """A checkpoint at 20 outlives entries cut back to 15, and gives the truncation away."""
    log = _log(store, 25, every=10)
    _drop_triggers(store)
    store.execute("DELETE FROM audit_entries WHERE seq > 15")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 16)
    assert result.reason == "checkpoint at 20 lies beyond the last entry 15"


def test_a_consistent_rewrite_without_the_mac_key_is_detected_by_the_head_seal(
    store: Store,
) -> None:
    """Every hash recomputed, head re-sealed by a guess: no checkpoint yet, the seal catches it."""
    log = _log(store, 30)

    def guessed_seal(seq: int, h: str) -> str:
        return hmac.new(b"attacker", f"{seq}:{h}".encode(), "sha256").hexdigest()

    _rewrite(store, _change_reason_of(12), guessed_seal)
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert result.entries_checked == 30
    assert result.reason.startswith("head seal invalid")


def test_a_rewrite_that_keeps_old_checkpoints_is_detected_by_the_checkpoint(store: Store) -> None:
    """Even with the head re-sealed by the real MAC key, the signed checkpoint at 20 disagrees."""
    log = _log(store, 30, every=10)
    _rewrite(store, _change_reason_of(12), KEY.seal_head)
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 11)
    assert result.reason == (
        "checkpoint at 20: hash does not match the chain (entries 11..20 rewritten)"
    )
    assert result.checkpoints_checked == 1


def test_a_checkpoint_signed_by_another_key_is_rejected(store: Store) -> None:
    """A rewrite re-signed with the attacker's own ES256 key fails the pinned audit key."""
    log = _log(store, 10, every=10)
    _drop_triggers(store)
    (h,) = store.one("SELECT hash FROM audit_entries WHERE seq = 10")  # type: ignore[misc]
    store.execute("DELETE FROM audit_checkpoints")
    forged = AuditKey.generate().sign_checkpoint(10, h, 0)
    store.execute("INSERT INTO audit_checkpoints VALUES (10, ?)", (forged,))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert result.reason.startswith("checkpoint at 10: signature invalid")


@pytest.mark.parametrize(
    ("rewrite", "reason"),
    [
        (lambda doc: doc.update(reason="r"), "ok: 4 entries, 0 checkpoints"),
        (
            lambda doc: doc.update(extra=1),
            "entry 1: body does not have the fields of an audit entry",
        ),
        (
            lambda doc: doc["seq"] == 2 and doc.update(prev_hash="ab" * 32),
            "entry 2: prev_hash does not link to the previous entry",
        ),
    ],
)
def test_only_canonical_bodies_of_the_audit_schema_verify(
    store: Store, rewrite: Callable[[dict[str, Any]], None], reason: str
) -> None:
    """A key holder's consistent rewrite verifies (the control), unless a body adds a member or
    names a prev_hash other than the one it is chained to."""
    log = _log(store, 4)
    _rewrite(store, rewrite, KEY.seal_head)
    assert log.verify().reason == reason


def test_a_body_not_in_rfc8785_form_is_rejected_even_with_a_valid_chain(store: Store) -> None:
    """Bytes that hash and seal correctly but are not JCS (here: spaces) still fail, so the
    fast serialiser on the append path can never drift from RFC 8785 unnoticed."""
    log = _log(store, 2)
    _drop_triggers(store)
    (body,) = store.one("SELECT body FROM audit_entries WHERE seq = 2")  # type: ignore[misc]
    (prev,) = store.one("SELECT hash FROM audit_entries WHERE seq = 1")  # type: ignore[misc]
    spaced = json.dumps(json.loads(body), sort_keys=True)
    digest = hashlib.sha256(bytes.fromhex(prev) + spaced.encode()).hexdigest()
    store.execute("UPDATE audit_entries SET body = ?, hash = ? WHERE seq = 2", (spaced, digest))
    store.execute("UPDATE audit_head SET hash = ?, mac = ?", (digest, KEY.seal_head(2, digest)))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert result.reason == "entry 2: body is not in RFC 8785 canonical form"


@pytest.mark.parametrize(
    ("headers", "flaw"),
    [({"typ": "JWT"}, "typ is 'JWT'"), ({"kid": "some-other-kid"}, "signed under kid")],
)
def test_a_checkpoint_must_carry_the_audit_typ_and_kid(headers: dict[str, str], flaw: str) -> None:
    """Even signed by the audit key, a token of another type or under another kid is refused."""
    private = ec.generate_private_key(ec.SECP256R1())
    key = AuditKey(private, b"k" * 32)
    header = {"kid": key.kid, "typ": "audit-checkpoint+jwt", **headers}
    token = jwt.encode({"seq": 1, "hash": "0" * 64, "iat": 0}, private, "ES256", header)
    assert key.read_checkpoint(key.sign_checkpoint(1, "0" * 64, 0)).seq == 1
    with pytest.raises(AuditError, match=flaw):
        key.read_checkpoint(token)


def test_a_rewrite_that_leaves_the_sealed_head_alone_is_detected(store: Store) -> None:
    """A consistent rewrite keeps the genuine seal, but that seal names the old last hash."""
    log = _log(store, 5)
    _rewrite(store, _change_reason_of(3), None)
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert result.reason == (
        "head seal does not match entry 5: log truncated or rewritten after entry 0"
    )


def test_entries_appended_without_the_key_are_not_covered_by_the_head_seal(store: Store) -> None:
    """A well-chained entry 6 added behind the sealed head at 5 is reported at 6."""
    log = _log(store, 5)
    (prev,) = store.one("SELECT hash FROM audit_entries WHERE seq = 5")  # type: ignore[misc]
    doc = {**log.query()[-1].to_dict(), "seq": 6, "prev_hash": prev, "reason": "planted"}
    del doc["hash"]
    body = rfc8785.dumps(doc)
    digest = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
    store.execute(  # with the queried columns derived from the body, as verify expects
        "INSERT INTO audit_entries (seq, sub, client_id, event, outcome, actor_kind, trace_id, "
        "agent_ids, body, hash) VALUES (6, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*indexed_columns(doc), body.decode(), digest),
    )
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert result.reason.endswith("entries 6..6 were appended without the audit key")


def test_a_checkpoint_moved_to_another_seq_is_detected(store: Store) -> None:
    """The genuine token for entry 10 stored as the checkpoint at 20 names its real seq."""
    log = _log(store, 20, every=10)
    _drop_triggers(store)
    (token,) = store.one("SELECT token FROM audit_checkpoints WHERE seq = 10")  # type: ignore[misc]
    store.execute("UPDATE audit_checkpoints SET token = ? WHERE seq = 20", (token,))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 11)
    assert result.reason == "checkpoint at 20: the token covers entry 10"


def test_a_deleted_head_row_is_detected(store: Store) -> None:
    """Without its sealed head, a non-empty log cannot show it was not cut short."""
    log = _log(store, 5)
    _drop_triggers(store)
    store.execute("DELETE FROM audit_head")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert result.reason.startswith("head seal missing")


def test_verify_reports_binary_garbage_without_raising(store: Store) -> None:
    """Invalid UTF-8 in a body or the hash column is a finding, not an exception."""
    log = _log(store, 5)
    _drop_triggers(store)
    store.execute("UPDATE audit_entries SET body = ? WHERE seq = 3", (b"\xff\xfe{",))
    store.execute("UPDATE audit_entries SET hash = ? WHERE seq = 2", (b"\xff",))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_append_refuses_to_extend_a_head_whose_seal_is_invalid(store: Store) -> None:
    """Extending a forged head would seal the forgery with the real key, so append refuses."""
    _log(store, 3)
    _rewrite(store, _change_reason_of(2), lambda seq, h: "0" * 64)
    fresh = AuditLog(store, KEY, ManualClock(0.0))  # no memory of the last genuine head
    with pytest.raises(AuditError, match="seal invalid"):
        fresh.append(_event(0))
    with pytest.raises(AuditError, match="seal invalid"):
        fresh.checkpoint()


def test_update_and_delete_are_refused_by_the_database(store: Store) -> None:
    """Triggers make both tables append-only, whatever code holds the connection."""
    _log(store, 10, every=5)
    for sql in (
        "UPDATE audit_entries SET event = 'x' WHERE seq = 1",
        "UPDATE audit_entries SET body = 'x' WHERE seq = 1",
        "DELETE FROM audit_entries WHERE seq = 10",
        "UPDATE audit_checkpoints SET token = 'x'",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_head",
    ):
        with pytest.raises(sqlite3.IntegrityError, match=r"append-only|cannot be deleted"):
            store.execute(sql)
    assert store.one("SELECT COUNT(*) FROM audit_entries")[0] == 10  # type: ignore[index]
    assert store.one("SELECT COUNT(*) FROM audit_checkpoints")[0] == 2  # type: ignore[index]


def test_the_triggers_name_the_append_only_rule(store: Store) -> None:
    """The refusal says why, so an operator does not mistake it for a corrupt file."""
    _log(store, 1)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.execute("DELETE FROM audit_entries")


def test_checkpoint_on_demand_signs_the_head_for_outside_verifiers(store: Store) -> None:
    """checkpoint() covers the current head; the JWS verifies with the published public JWK."""
    log = _log(store, 7)
    assert log.checkpoint() == 7
    assert log.checkpoint() == 7  # idempotent
    (token,) = store.one("SELECT token FROM audit_checkpoints")  # type: ignore[misc]
    public = jwt.PyJWK(KEY.public_jwk()).key
    claims = jwt.decode(token, public, algorithms=["ES256"], options={"verify_iat": False})
    assert claims["seq"] == 7
    assert claims["hash"] == log.query()[-1].hash
    assert jwt.get_unverified_header(token)["typ"] == "audit-checkpoint+jwt"
    assert jwt.get_unverified_header(token)["kid"] == KEY.kid
    result = log.verify()
    assert (result.ok, result.checkpoints_checked) == (True, 1)
    empty = Store()
    assert AuditLog(empty, KEY, ManualClock()).checkpoint() == 0
    empty.close()


def test_a_file_backed_log_survives_closing_and_reopening_the_store(tmp_path: Path) -> None:
    """Entries, checkpoints and the sealed head persist; a new process appends and verifies."""
    key = AuditKey.load_or_create(tmp_path / "audit-key.json")
    first = Store(tmp_path / "iam.db")
    _log(first, 12, every=5, key=key)
    first.close()
    again = Store(tmp_path / "iam.db")
    log = _log(again, 0, every=5, key=AuditKey.load_or_create(tmp_path / "audit-key.json"))
    assert log.verify().ok
    assert log.append(_event(12)).seq == 13
    result = log.verify()
    assert (result.ok, result.entries_checked, result.checkpoints_checked) == (True, 13, 2)
    again.close()


def test_verify_reads_a_file_log_without_blocking_writers(tmp_path: Path) -> None:
    """Verification reads a WAL snapshot, so an open write transaction does not hold it up."""
    store = Store(tmp_path / "iam.db")
    log = _log(store, 5)
    with store.transaction():
        log.append(_event(5))  # uncommitted while verify runs on its own connection
        result = log.verify()
    assert (result.ok, result.entries_checked) == (True, 5)
    assert log.verify().entries_checked == 6
    store.close()


def test_audit_key_load_or_create_round_trips_and_creates_the_file_0600(tmp_path: Path) -> None:
    """The key file is private to its owner and loads back as the same key."""
    path = tmp_path / "keys" / "audit-key.json"
    created = AuditKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = AuditKey.load_or_create(path)
    assert loaded.kid == created.kid
    assert loaded.public_jwk() == created.public_jwk()
    assert loaded.seal_head(3, "ab" * 32) == created.seal_head(3, "ab" * 32)
    assert loaded.read_checkpoint(created.sign_checkpoint(3, "ab" * 32, 0)).seq == 3
    assert "d" not in created.public_jwk()
    assert list(tmp_path.joinpath("keys").iterdir()) == [path]


def test_a_tampered_key_file_is_refused(tmp_path: Path) -> None:
    """A key file whose public half does not match its private half is not used."""
    path = tmp_path / "audit-key.json"
    AuditKey.load_or_create(path)
    data = json.loads(path.read_text())
    data["jwk"]["x"] = AuditKey.generate().public_jwk()["x"]
    path.write_text(json.dumps(data))
    with pytest.raises(AuditError, match="does not match"):
        AuditKey.load_or_create(path)


def test_kid_is_the_rfc7638_thumbprint_of_the_public_key() -> None:
    """kid = base64url(SHA-256 of the required JWK members in lexicographic order)."""
    jwk = KEY.public_jwk()
    members = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    digest = jwt.utils.base64url_encode(hashlib.sha256(members.encode()).digest()).decode()
    assert KEY.kid == digest


def test_subscribers_see_each_committed_entry_and_a_failing_one_is_skipped(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken subscriber is logged; the append and the other subscribers carry on."""
    log = _log(store)
    seen: list[AuditEntry] = []

    def broken(entry: AuditEntry) -> None:
        raise RuntimeError("dashboard down")

    log.subscribe(broken)
    unsubscribe = log.subscribe(seen.append)
    first = log.append(_event(0))
    unsubscribe()
    unsubscribe()
    log.append(_event(1))
    assert seen == [first]
    assert len(log) == 2
    assert "dashboard down" in caplog.text
