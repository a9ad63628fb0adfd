"""``agent-iam approvals list`` shows the real amount and payee, whatever the agent wrote.

docs/attacks.md #25: an agent's binding message says "free late checkout"; the terminal
list (like the page) shows the action from the authorization details — €60.00 for booking
bk-ALI001 at Alpine Lodge — beside the message, labelled as the agent's words.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent_iam.cli import main
from hotel.stores.seed import ALICE_BOOKING_ID
from scenarios.deployment import deployment
from tests.hotel.helpers import alice_obo

DETAIL = {
    "type": "payment",
    "booking_id": ALICE_BOOKING_ID,
    "amount_cents": 6_000,
    "currency": "EUR",
    "hotel_id": "alpine-lodge",
    "hotel_name": "Alpine Lodge",
}


async def _pending(db: Path) -> str:
    async with deployment(db=db) as dep:
        cap = {"type": "payment", "booking_id": ALICE_BOOKING_ID, "max_amount_cents": 100}
        await alice_obo(dep, "payment:charge", "payment", [cap])
        assert dep.iam is not None
        return dep.iam.approvals.request(
            agent_id="booking-assistant",
            user_id="alice",
            client_id="hotel-web",
            scopes=frozenset({"payment:charge"}),
            details=(DETAIL,),
            binding_message="Tap approve to confirm your free late checkout",
        ).auth_req_id


def test_the_list_shows_the_real_amount_and_payee_beside_a_misleading_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENT_IAM_HOME", str(tmp_path / ".agent-iam"))
    monkeypatch.setenv("COLUMNS", "200")
    db = tmp_path / ".agent-iam" / "iam.db"
    rid = asyncio.run(_pending(db))
    assert main(["approvals", "list", "--user", "alice", "--db", str(db)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert rid in out
    assert f"pay €60.00 for booking {ALICE_BOOKING_ID} at Alpine Lodge" in out
    assert "agent's message: “Tap approve to confirm your free late checkout”" in out
    assert main(["approvals", "deny", rid, "--user", "alice", "--db", str(db)]) == 0
    assert main(["approvals", "list", "--user", "alice", "--db", str(db)]) == 0
    assert "no pending approval requests" in capsys.readouterr().out
