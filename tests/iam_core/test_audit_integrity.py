"""The audit log against a file-level attacker: re-filed entries, rollback, and a lost key.

Each test is the regression test of one defect: editing a queried column (``sub``) hid an
agent's entry from ``query(agent=...)`` while ``verify`` said intact; truncating the log and
writing back an older genuine head seal went unnoticed; a deleted key file was silently
replaced, and ``audit verify`` then cried tampering (or picked another log's key).
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from agent_iam.audit import audit_show, audit_verify
from iam_core.audit import AuditError, AuditEvent, AuditKey, AuditKeyMissing, AuditLog
from iam_core.audit_files import open_to_verify, serving_key
from iam_core.audit_witness import AuditWitness, witness_path
from iam_core.clock import ManualClock
from iam_core.iam import IAM
from iam_core.registry import SIMULATION_HASHER
from iam_core.store import Store

AGENT = "booking-assistant"


def _events(n: int) -> Iterator[AuditEvent]:
    for i in range(n):
        if i % 2:
            yield AuditEvent("token.issued", "allowed", "agent", sub=AGENT, token_type="agent")
        else:
            yield AuditEvent("login", "denied", "bad password", sub=f"user{i}", token_type="user")


def _file_log(db: Path, n: int, *, every: int = 1000, key_name: str = "audit-key.json") -> None:
    store = Store(db)
    key = serving_key(store, db.parent / key_name)
    log = AuditLog(store, key, ManualClock(1_700_000_000.0), checkpoint_every=every,
                   witness=AuditWitness(witness_path(db)))  # fmt: skip
    for event in _events(n):
        log.append(event)
    store.close()


def _cli(db: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, width=400)
    if args and args[0] == "show":
        code = audit_show(console, db, args[1], None, 100, as_json=False)
    else:
        code = audit_verify(console, db)
    return code, out.getvalue()


def _raw(db: Path) -> Store:
    """The attacker's handle on the file: triggers dropped."""
    store = Store(db)
    for (name,) in store.all("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        store.execute(f'DROP TRIGGER "{name}"')
    return store


def _edit(db: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    store = _raw(db)
    try:
        store.execute(sql, params)
    finally:
        store.close()


# -- item 5: every column a query reads is verified --------------------------------------


def test_re_filing_an_agents_entry_under_another_sub_is_tampering(tmp_path: Path) -> None:
    """The red team's case: ``sub`` of an agent's entry edited; the body and chain untouched."""
    db = tmp_path / "iam.db"
    _file_log(db, 6)
    assert "│ 2 " in _cli(db, "show", AGENT)[1]
    _edit(db, "UPDATE audit_entries SET sub = 'alice', agent_ids = '' WHERE seq = 2")
    code, out = _cli(db)
    assert code == 1
    assert "TAMPERED at entry 2" in out
    assert "column sub does not match the body" in out


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("sub", "someone-else"),
        ("sub", b"booking-assistant"),  # the same bytes as a BLOB: = 'text' never matches it
        ("agent_ids", ""),
        ("client_id", "hotel-web"),
        ("event", "login"),
        ("outcome", "denied"),
        ("actor_kind", "human"),
        ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ],
)
def test_every_queried_column_is_covered_by_verify(column: str, value: object) -> None:
    store = Store()
    log = AuditLog(store, AuditKey.generate(), ManualClock(1_700_000_000.0))
    for event in _events(4):
        log.append(event)
    for (name,) in store.all("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        store.execute(f'DROP TRIGGER "{name}"')
    store.execute(f"UPDATE audit_entries SET {column} = ? WHERE seq = 2", (value,))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert f"column {column} does not match" in result.reason


def test_a_query_returns_only_what_the_hashed_body_says() -> None:
    """A row re-filed so that a query would wrongly include it is dropped by the query."""
    store = Store()
    log = AuditLog(store, AuditKey.generate(), ManualClock(1_700_000_000.0))
    for event in _events(4):
        log.append(event)
    for (name,) in store.all("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        store.execute(f'DROP TRIGGER "{name}"')
    store.execute("UPDATE audit_entries SET sub = ?, outcome = 'allowed' WHERE seq = 1", (AGENT,))
    assert [e.seq for e in log.query(agent=AGENT)] == [2, 4]
    assert [e.seq for e in log.query(outcome="allowed")] == [2, 4]


# -- item 6: rollback to an earlier genuine state ------------------------------------------


def _rollback(db: Path, to: int) -> None:
    """Truncate to entry ``to`` and write back the genuine head seal it once had.

    The seal is recomputed from the witness here only for brevity: the attacker reads the
    same line out of the ``-wal`` file (it needs no key, only an old copy)."""
    line = next(
        json.loads(raw)
        for raw in witness_path(db).read_text().splitlines()
        if json.loads(raw)["seq"] == to
    )
    _edit(db, "DELETE FROM audit_entries WHERE seq > ?", (to,))
    _edit(db, "DELETE FROM audit_checkpoints WHERE seq > ?", (to,))
    _edit(db, "UPDATE audit_head SET seq = ?, hash = ?, mac = ?",
          (line["seq"], line["hash"], line["seal"]))  # fmt: skip


def test_a_rollback_to_an_older_genuine_head_is_caught_by_the_witness(tmp_path: Path) -> None:
    db = tmp_path / "iam.db"
    _file_log(db, 12, every=5)
    saved = tmp_path / "witness.copy"
    shutil.copy(witness_path(db), saved)
    _rollback(db, 7)
    # The database alone cannot tell: without the witness, it verifies.
    store = Store(db)
    alone = AuditLog(store, AuditKey.load(tmp_path / "audit-key.json"), ManualClock()).verify()
    store.close()
    assert alone.ok
    code, out = _cli(db)
    assert code == 1
    assert "TAMPERED at entry 8" in out and "rolled back" in out
    # ...and the witness is the lower bound only when left alone: said so in the README.
    assert saved.read_bytes() == witness_path(db).read_bytes()


def test_a_rollback_the_server_then_continues_is_still_caught(tmp_path: Path) -> None:
    """After the rollback the log grows past the old head; the witness then holds two
    different entries at the same seqs."""
    db = tmp_path / "iam.db"
    _file_log(db, 10)
    _rollback(db, 4)
    _file_log(db, 10)  # the server appends 5..14 over the rolled-back log
    code, out = _cli(db)
    assert code == 1
    assert "TAMPERED at entry 5" in out and "rolled back or rewritten" in out


def test_a_forged_witness_line_is_reported(tmp_path: Path) -> None:
    db = tmp_path / "iam.db"
    _file_log(db, 3)
    forged = {"seq": 9, "hash": "0" * 64, "seal": AuditKey.generate().seal_head(9, "0" * 64)}
    with witness_path(db).open("a") as out:
        out.write(json.dumps(forged) + "\n")
    code, out_text = _cli(db)
    assert code == 1
    assert "head seal invalid (a forged or altered line)" in out_text


def test_a_deleted_witness_is_no_clean_bill_and_stops_the_server(tmp_path: Path) -> None:
    db = tmp_path / "iam.db"
    _file_log(db, 3)
    witness_path(db).unlink()
    code, out = _cli(db)
    assert code == 1
    assert "NOT VERIFIED" in out and "rollback of the log cannot be ruled out" in out
    with pytest.raises(AuditError, match=r"witness .* is missing"):
        IAM.open(db, hasher=SIMULATION_HASHER)


def test_the_witness_only_records_committed_heads(tmp_path: Path) -> None:
    """An append inside an outer transaction that rolls back leaves no witness line (a line
    for it would later read as a rollback)."""
    lines = tmp_path / "w.jsonl"
    witness = AuditWitness(lines)
    store = Store()
    log = AuditLog(store, AuditKey.generate(), ManualClock(), witness=witness)
    log.append(AuditEvent("a", "allowed", "kept"))
    try:
        with store.transaction():
            log.append(AuditEvent("b", "allowed", "rolled back"))
            assert len(lines.read_text().splitlines()) == 1  # not yet committed
            raise RuntimeError
    except RuntimeError:
        pass
    with store.transaction():
        log.append(AuditEvent("c", "allowed", "committed later"))
    assert [json.loads(line)["seq"] for line in lines.read_text().splitlines()] == [1, 2]
    assert log.verify().ok
    witness.close()


# -- item 7: a lost key is its own error ---------------------------------------------------


def test_a_deleted_key_stops_the_server_and_verify_says_missing(tmp_path: Path) -> None:
    db = tmp_path / "iam.db"
    IAM.open(db, hasher=SIMULATION_HASHER).record(AuditEvent("x", "allowed", "first"))
    (tmp_path / "audit-key.json").unlink()
    with pytest.raises(AuditKeyMissing, match=r"audit-key\.json is missing"):
        IAM.open(db, hasher=SIMULATION_HASHER)
    assert not (tmp_path / "audit-key.json").exists()  # no fresh key was made
    code, out = _cli(db)
    assert code == 2
    assert "audit key missing" in out and "TAMPERED" not in out


def test_a_replaced_key_is_missing_not_tampering(tmp_path: Path) -> None:
    db = tmp_path / "iam.db"
    _file_log(db, 3)
    (tmp_path / "audit-key.json").unlink()
    AuditKey.load_or_create(tmp_path / "audit-key.json")  # what serve used to do
    code, out = _cli(db)
    assert code == 2
    assert "is sealed with key" in out and "TAMPERED" not in out
    store = Store(db)
    with pytest.raises(AuditKeyMissing, match="sealed with key"):
        AuditLog(store, AuditKey.load(tmp_path / "audit-key.json"), ManualClock())
    store.close()


def test_verify_picks_each_databases_own_key(tmp_path: Path) -> None:
    """``--db hotel.db`` beside the IAM's ``audit-key.json``: its own key, by kid."""
    _file_log(tmp_path / "iam.db", 3)
    _file_log(tmp_path / "hotel.db", 4, key_name="hotel-audit-key.json")
    assert _cli(tmp_path / "hotel.db")[0] == 0
    assert "intact: 4 entries" in _cli(tmp_path / "hotel.db")[1]
    assert "intact: 3 entries" in _cli(tmp_path / "iam.db")[1]
    assert open_to_verify(tmp_path / "hotel.db").verify().ok


def test_a_fresh_database_still_gets_a_fresh_key(tmp_path: Path) -> None:
    iam = IAM.open(tmp_path / "iam.db", hasher=SIMULATION_HASHER)
    assert (tmp_path / "audit-key.json").exists()
    iam.store.close()
