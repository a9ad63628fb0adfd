"""Whole deployments on PostgreSQL: revocation between stacks (LISTEN/NOTIFY), restarts, the
audit log and its verification, and the same audit chain as on SQLite.

Each test has a schema of its own (``pg_url``); two stacks on it are two processes as far as
the server is concerned (each holds its own connections).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent_iam import token_flows
from agent_iam.cli import main
from iam_core import events
from iam_core.audit import AuditEvent, AuditKey, AuditLog
from iam_core.clock import ManualClock
from iam_core.store import Store
from iam_core.store_pg import PGStore
from scenarios.deployment import Deployment, deployment

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state folder: agent keys, the audit key and witness (the server holds the rest)."""
    monkeypatch.setenv("AGENT_IAM_HOME", str(tmp_path))
    monkeypatch.delenv("AGENT_IAM_STORE", raising=False)
    return tmp_path


async def _availability(dep: Deployment, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return (await dep.http.get("/hotel/availability/hotels", headers=headers)).status_code


async def _active(dep: Deployment, token: str) -> bool:
    status = await dep.oauth.introspect(token, as_app=dep.app("auditor"))
    return bool(status["active"])


async def test_a_revoke_on_one_stack_wakes_a_poll_parked_on_another_at_once(
    pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without NOTIFY the parked poll would only look again after CROSS_PROCESS_TICK (made
    60 s here), past the 15 s this test allows: the wake-up is the notification."""
    monkeypatch.setattr(events, "CROSS_PROCESS_TICK", 60.0)
    async with deployment(db=pg_url) as a, deployment(db=pg_url) as b:
        assert a.iam is not None and b.iam is not None
        token = (await token_flows.agent_token(a, "booking-assistant", "availability:read", None))[
            "access_token"
        ]
        assert await _availability(b, token) == 200
        await b.iam.events.poll("hotel-test", ack=[], max_events=10, wait=0)  # registers
        parked = asyncio.create_task(
            b.iam.events.poll("hotel-test", ack=[], max_events=10, wait=30)
        )
        await asyncio.sleep(0.2)  # let it park
        assert a.iam.block_agent("booking-assistant", by="dave") >= 1
        delivered, _ = await asyncio.wait_for(parked, timeout=15)
        assert len(delivered) == 1
        # The stored truth, whatever woke whom: B refuses the token A revoked.
        assert not await _active(b, token)
        assert await _availability(b, token) == 401


async def test_a_restart_revives_no_revoked_token_and_keeps_the_audit_log(
    pg_url: str, home: Path
) -> None:
    async with deployment(db=pg_url) as first:
        assert first.iam is not None
        revoked = await token_flows.agent_token(
            first, "booking-assistant", "availability:read", None
        )
        kept = await token_flows.agent_token(first, "staff-assistant", "availability:read", None)
        first.iam.block_agent("booking-assistant", by="dave")
        assert await _availability(first, revoked["access_token"]) == 401
        entries = len(first.iam.audit)
    async with deployment(db=pg_url) as again:
        assert again.iam is not None
        assert await _availability(again, revoked["access_token"]) == 401
        assert await _availability(again, kept["access_token"]) == 200
        assert not await _active(again, revoked["access_token"])
        result = again.iam.audit.verify()
        assert result.ok, result.reason
        assert result.entries_checked >= entries + 1
        assert "witnessed" in result.reason


async def test_audit_verify_on_postgresql_says_intact_then_tampered(
    pg_url: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with deployment(db=pg_url) as dep:
        await token_flows.agent_token(dep, "booking-assistant", "availability:read", None)
    assert main(["audit", "verify", "--store", pg_url]) == 0
    assert "intact" in capsys.readouterr().out
    store = PGStore(pg_url)
    store.drop_triggers()  # what the database's owner can do
    store.execute("UPDATE audit_entries SET outcome = 'denied' WHERE seq = 2")
    store.close()
    assert main(["audit", "verify", "--store", pg_url]) == 1
    assert "TAMPERED at entry 2" in capsys.readouterr().out


def test_the_audit_chain_is_the_same_on_both_stores(pg_url: str) -> None:
    """The chain is over canonical JSON, not over the database's representation: the same
    events at the same times hash alike on SQLite and on PostgreSQL, and both verify."""
    key = AuditKey.generate()
    pg = PGStore(pg_url)
    logs = [
        AuditLog(store, key, ManualClock(1_732_800_000.25), checkpoint_every=3)
        for store in (Store(), pg)
    ]
    events_ = [
        AuditEvent("token.issued", "allowed", "agent token", sub="a", token_type="agent"),
        AuditEvent(
            "token.issued", "allowed", "obo", sub="ann", act=("b", "c"), token_type="obo",
            details={"n": 2**53 - 1, "ok": True, "none": None, "x": 0.1, "é": "✓ \\ \" \u2028"},
        ),
        AuditEvent("login.failed", "denied", "bad password", sub="ann", details={"f": 1e-7}),
        AuditEvent("access.decision", "denied", "outside the grant", sub="ann", service="s"),
    ]  # fmt: skip
    hashes = [[e.hash for e in log.append_many(events_)] for log in logs]
    assert hashes[0] == hashes[1]
    assert [e.to_dict() for e in logs[0].query()] == [e.to_dict() for e in logs[1].query()]
    assert [e.hash for e in logs[1].query(agent="c")] == [hashes[0][1]]
    for log in logs:
        result = log.verify()
        assert result.ok and result.entries_checked == 4 and result.checkpoints_checked == 1
    pg.close()


async def test_a_nul_in_a_claimed_client_id_is_refused_and_audited_not_a_storage_error(
    pg_url: str, home: Path
) -> None:
    async with deployment(db=pg_url) as dep:
        assert dep.iam is not None
        response = await dep.http.post(
            "/token", data={"grant_type": "client_credentials", "client_id": "hotel-web\x00"}
        )
        assert response.status_code == 401, response.text
        assert dep.iam.audit.query(event="token.refused")[-1].client_id == "hotel-web\ufffd"
        assert dep.iam.audit.verify().ok
