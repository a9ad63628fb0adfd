"""The store protocol on both dialects: the same statements, transactions, rows and guards.

Each test runs on in-memory SQLite and on a PostgreSQL schema of its own (``any_store``);
the PostgreSQL half is marked ``postgres`` and skips with the reason when no server answers.
"""

from __future__ import annotations

import pytest

from iam_core.audit import AuditEvent, AuditKey, AuditLog
from iam_core.clock import ManualClock
from iam_core.registry import DuplicateIdentity, Registry, User
from iam_core.store import INTEGRITY_ERRORS, AnyStore, Store

DDL = """
CREATE TABLE IF NOT EXISTS things (
    id TEXT PRIMARY KEY, n INTEGER NOT NULL, flag INTEGER NOT NULL, x REAL, note TEXT
);
CREATE TABLE IF NOT EXISTS numbered (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
"""


def test_rows_answer_by_position_and_by_name_and_keep_their_types(any_store: AnyStore) -> None:
    any_store.ensure_schema(DDL)
    any_store.ensure_schema(DDL)  # idempotent: start-up runs it every time
    any_store.execute(
        "INSERT INTO things VALUES (?, ?, ?, ?, ?)", ("a", 2**40, True, 0.1, "é 100% ✓")
    )
    row = any_store.one("SELECT * FROM things WHERE id = ?", ("a",))
    assert row is not None
    assert (row[0], row["n"], row["flag"], row["x"], row["note"]) == (
        "a",
        2**40,
        1,
        0.1,
        "é 100% ✓",
    )
    assert dict(zip(row.keys(), row, strict=True))["n"] == 2**40
    assert type(row["n"]) is int and type(row["x"]) is float


def test_insert_or_ignore_and_upserts_report_rowcounts_alike(any_store: AnyStore) -> None:
    any_store.ensure_schema(DDL)
    insert = "INSERT OR IGNORE INTO things VALUES (?, 1, 0, NULL, NULL)"
    assert any_store.execute(insert, ("a",)).rowcount == 1
    assert any_store.execute(insert, ("a",)).rowcount == 0
    any_store.execute(
        "INSERT INTO things VALUES (?, 5, 0, NULL, NULL)"
        " ON CONFLICT (id) DO UPDATE SET n = excluded.n",
        ("a",),
    )
    assert any_store.one("SELECT n FROM things")[0] == 5  # type: ignore[index]


def test_identity_columns_number_rows_and_returning_gives_the_id(any_store: AnyStore) -> None:
    any_store.ensure_schema(DDL)
    ids = [
        any_store.one("INSERT INTO numbered (name) VALUES (?) RETURNING id", (n,))[0]  # type: ignore[index]
        for n in ("x", "y")
    ]
    assert ids == [1, 2]


def test_a_failed_transaction_leaves_nothing_and_no_after_commit_runs(any_store: AnyStore) -> None:
    any_store.ensure_schema(DDL)
    ran: list[str] = []

    def clash() -> None:
        with any_store.transaction() as tx:
            tx.execute("INSERT INTO things VALUES ('a', 1, 0, NULL, NULL)")
            any_store.after_commit(lambda: ran.append("committed"))
            with any_store.transaction() as inner:  # nested: joins the outer one
                inner.execute("INSERT INTO things VALUES ('a', 2, 0, NULL, NULL)")

    with pytest.raises(INTEGRITY_ERRORS):
        clash()
    assert any_store.all("SELECT * FROM things") == []
    assert ran == []
    with any_store.transaction() as tx:
        tx.executemany("INSERT INTO things VALUES (?, ?, 0, NULL, NULL)", [("b", 1), ("c", 2)])
        any_store.after_commit(lambda: ran.append("committed"))
    assert ran == ["committed"]
    assert [r[0] for r in any_store.all("SELECT id FROM things ORDER BY id")] == ["b", "c"]


def test_the_audit_tables_refuse_update_delete_and_truncate(any_store: AnyStore) -> None:
    log = AuditLog(any_store, AuditKey.generate(), ManualClock(1_700_000_000.0))
    log.append(AuditEvent("token.issued", "allowed", "agent token", sub="a"))
    assert log.checkpoint() == 1
    for statement in (
        "UPDATE audit_entries SET outcome = 'denied'",
        "DELETE FROM audit_entries",
        "DELETE FROM audit_head",
        "UPDATE audit_checkpoints SET token = 'x'",
    ):
        with pytest.raises(INTEGRITY_ERRORS, match=r"append-only|cannot be deleted"):
            any_store.execute(statement)
    if any_store.dialect == "postgresql":  # TRUNCATE skips row triggers there
        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            any_store.execute("TRUNCATE audit_entries")
    assert log.verify().ok


def test_the_database_refuses_a_look_alike_identity_another_process_inserts(
    any_store: AnyStore,
) -> None:
    registry = Registry(any_store, ManualClock(1_700_000_000.0))
    registry.add_user(User("alice", "Alice"), "pw-long-enough-1")
    # Straight to the table, as a racing process would: the trigger is the last guard.
    with pytest.raises(INTEGRITY_ERRORS, match="skeleton"):
        any_store.execute(
            "INSERT INTO agents (id, display_name, owner, kind, status, roles, jwks, delegable,"
            " autonomous, created_at, skeleton) VALUES ('aIice', 'x', 'alice', 'assistant',"
            " 'active', '', '{}', '', '', 0, (SELECT skeleton FROM users WHERE id = 'alice'))"
        )
    with pytest.raises(DuplicateIdentity):
        registry.add_user(User("alice", "Alice 2"), "pw-long-enough-1")


def test_dropping_the_triggers_is_what_lets_a_database_holder_edit(any_store: AnyStore) -> None:
    log = AuditLog(any_store, AuditKey.generate(), ManualClock(1_700_000_000.0))
    log.append(AuditEvent("token.issued", "allowed", "agent token", sub="a"))
    any_store.drop_triggers()
    any_store.execute("UPDATE audit_entries SET outcome = 'denied'")
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 1


@pytest.mark.postgres
def test_migrations_are_recorded_once_per_schema(pg_url: str) -> None:
    from iam_core.store_pg import PGStore

    first = PGStore(pg_url)
    first.ensure_schema(DDL)
    second = PGStore(pg_url)  # another process starting on the same schema
    second.ensure_schema(DDL)
    rows = second.all("SELECT id, statements FROM schema_migrations")
    assert sum(1 for r in rows if r["statements"] == 2) == 1
    first.close()
    second.close()


def test_sqlite_stays_the_embedded_default() -> None:
    from iam_core.store import open_store

    store = open_store(None)
    assert isinstance(store, Store) and store.dialect == "sqlite" and store.is_memory
    store.close()


def test_nul_which_postgresql_text_cannot_hold_is_stored_as_u_fffd(any_store: AnyStore) -> None:
    any_store.ensure_schema(DDL)
    any_store.execute("INSERT INTO things VALUES (?, 1, 0, NULL, NULL)", ("a\x00b",))
    stored = any_store.one("SELECT id FROM things")[0]  # type: ignore[index]
    assert stored == ("a\x00b" if any_store.dialect == "sqlite" else "a\ufffdb")
    # The audit log scrubs it the same way on both, so an entry hashes alike and verifies.
    log = AuditLog(any_store, AuditKey.generate(), ManualClock(1_700_000_000.0))
    entry = log.append(AuditEvent("token.refused", "denied", "bad\x00", client_id="a\x00b"))
    assert entry.client_id == "a\ufffdb" and entry.reason == "bad\ufffd"
    assert log.query(agent=None)[0].client_id == "a\ufffdb"
    assert log.verify().ok
