"""The helpers the audit-forensics notebook uses: a run kept open, and tampering with its log.

``live_run`` is ``run_one`` with the world still open (the same outcome, and the live IAM to
query); ``tamper_audit_log`` is what the holder of the database file can do to one entry —
and verification finds each: an edit at its seq, a consistent rewrite by the head seal, or
by the signed checkpoint when the rewrite reaches back before one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agents.llm.client import ModelSettings, open_model
from iam_core.audit import AuditEvent, AuditKey, AuditLog
from iam_core.clock import ManualClock
from iam_core.iam import IAMConfig
from iam_core.store import Store
from scenarios.catalogue import by_id
from scenarios.runner import Outcome, live_run, run_one
from scenarios.steps import tamper_audit_log

SCENARIO = "c11a-raise-the-amount"


def test_live_run_keeps_the_world_open_and_agrees_with_run_one() -> None:
    scenario = by_id()[SCENARIO]

    async def go() -> tuple[Outcome, Outcome, list[str], bool, int]:
        async with open_model(ModelSettings(model="embedded-obedient")) as chat:
            plain = await run_one(scenario, "attack", baseline=False, seed=0, model=chat)
            config = IAMConfig(checkpoint_every=5)
            async with live_run(
                scenario, "attack", baseline=False, seed=0, model=chat, config=config
            ) as (outcome, run):
                denied = [e.reason for e in run.iam.audit.query(outcome="denied")]
                verdict = run.iam.audit.verify()
                return plain, outcome, denied, verdict.ok, verdict.checkpoints_checked

    plain, live, denied, ok, checkpoints = asyncio.run(go())
    assert (live.passed, live.attack_succeeded, live.utility_under_attack) == (True, False, True)
    assert (plain.passed, plain.attack_succeeded) == (live.passed, live.attack_succeeded)
    assert [a["event"] for a in plain.audit] == [a["event"] for a in live.audit]
    assert any("amount above grant" in reason for reason in denied)
    assert ok
    assert checkpoints >= 2  # the config reached the IAM


@pytest.fixture
def log() -> Iterator[AuditLog]:
    store = Store()
    audit = AuditLog(store, AuditKey.generate(), ManualClock(1_732_800_000.0), checkpoint_every=5)
    for i in range(12):
        audit.append(AuditEvent("access.decision", "allowed", "ok", sub=f"user:{i}"))
    yield audit
    store.close()


def _store(log: AuditLog) -> Store:
    return log._store  # the attacker holds the file: the same database


def test_an_edit_is_found_at_its_seq(log: AuditLog) -> None:
    tamper_audit_log(_store(log), 7, "edit")
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 7)
    assert log.query(since_seq=6, limit=1)[0].outcome == "denied"


def test_a_deletion_is_found_at_its_seq(log: AuditLog) -> None:
    tamper_audit_log(_store(log), 4, "delete")
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)
    assert "missing" in verdict.reason


def test_a_rewrite_after_the_last_checkpoint_is_caught_by_the_head_seal(log: AuditLog) -> None:
    tamper_audit_log(_store(log), 12, "rewrite")
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 11)
    assert "head seal" in verdict.reason


def test_a_rewrite_before_a_checkpoint_is_caught_by_it(log: AuditLog) -> None:
    tamper_audit_log(_store(log), 7, "rewrite")
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 6)
    assert "checkpoint at 10" in verdict.reason


def test_tampering_needs_a_known_way_and_an_existing_entry(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="how"):
        tamper_audit_log(_store(log), 3, "shred")
    with pytest.raises(KeyError):
        tamper_audit_log(_store(log), 99, "edit")
