"""The baseline (one shared API key, the user named in ``X-User``): what agent IAM beats.

It works, and that is the problem: whoever holds the key is whoever they say they are, and
the audit trail cannot tell an agent from the person it claims to act for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotel.baseline import DEMO_API_KEY
from hotel.stores.seed import ALICE_BOOKING_ID, BOB_BOOKING_ID
from scenarios.deployment import Deployment, deployment
from tests.hotel.helpers import challenge, iam_of, url, world

pytestmark = pytest.mark.anyio


@pytest.fixture
async def baseline() -> AsyncIterator[Deployment]:
    async with deployment(in_memory=True, baseline=True) as dep:
        yield dep


def as_user(user: str, key: str = DEMO_API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-User": user}


async def test_the_shared_key_and_a_named_user_work(baseline: Deployment) -> None:
    """alice's own bookings, and the request in the baseline's audit trail."""
    response = await baseline.http.get(
        url(baseline, "booking", "/bookings"), headers=as_user("alice")
    )
    assert response.status_code == 200
    assert [b["id"] for b in response.json()["bookings"]] == [ALICE_BOOKING_ID]
    entry = iam_of(baseline).audit.query(event="api.request")[-1]
    assert (entry.outcome, entry.sub, entry.client_id) == ("allowed", "alice", "shared-api-key")
    assert (entry.service, entry.path) == ("booking", "/hotel/booking/bookings")


async def test_the_identity_is_whatever_the_caller_names(baseline: Deployment) -> None:
    """alice's assistant, holding the key, names bob and reads, then cancels, bob's booking."""
    target = url(baseline, "booking", f"/bookings/{BOB_BOOKING_ID}")
    read = await baseline.http.get(target, headers=as_user("bob"))
    assert read.status_code == 200 and read.json()["guest"] == "bob"
    cancelled = await baseline.http.delete(target, headers=as_user("bob"))
    assert cancelled.status_code == 200
    assert world(baseline).booking(BOB_BOOKING_ID).status == "cancelled"

    # Naming the manager is all a manager-only rate override takes.
    rate = url(baseline, "booking", f"/bookings/{ALICE_BOOKING_ID}/rate")
    override = await baseline.http.patch(
        rate, json={"nightly_rate_cents": 1}, headers=as_user("dave")
    )
    assert override.status_code == 200
    assert world(baseline).booking(ALICE_BOOKING_ID).nightly_rate_cents == 1

    entries = iam_of(baseline).audit.query(event="api.request")
    assert [e.sub for e in entries[-3:]] == ["bob", "bob", "dave"]  # who was named, not who acted


async def test_the_baseline_audit_cannot_tell_an_agent_from_a_human(baseline: Deployment) -> None:
    """No act, no token type, no agent: every entry looks like the named user acting alone."""
    booking = {
        "hotel_id": "grand-meridian",
        "room_type": "double",
        "check_in": "2027-01-10",
        "check_out": "2027-01-12",
    }
    made = await baseline.http.post(
        url(baseline, "booking", "/bookings"), json=booking, headers=as_user("alice")
    )
    assert made.status_code == 201  # no grant to match: any dates, any hotel
    await baseline.http.get(url(baseline, "availability", "/hotels"), headers=as_user("alice"))
    await baseline.http.get(url(baseline, "concierge", "/staff"), headers=as_user("carol"))

    entries = iam_of(baseline).audit.query(event="api.request")
    assert {e.service for e in entries} == {"availability", "booking", "concierge"}
    assert all(e.act == () and e.token_type is None for e in entries)
    assert all(e.client_id == "shared-api-key" for e in entries)
    assert {e.actor_kind for e in iam_of(baseline).audit.query()}.isdisjoint({"agent"})
    assert iam_of(baseline).audit.query(actor_kind="agent") == []


async def test_a_wrong_or_missing_key_is_refused(baseline: Deployment) -> None:
    """The one thing the baseline checks: the shared key, and that some user is named."""
    target = url(baseline, "booking", "/bookings")
    wrong = await baseline.http.get(target, headers=as_user("alice", key="not-the-key"))
    assert wrong.status_code == 401
    assert challenge(wrong) == (
        "Bearer",
        {"error": "invalid_token", "error_description": "the shared API key is required"},
    )
    missing = await baseline.http.get(target, headers={"X-User": "alice"})
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_token"
    nobody = await baseline.http.get(target, headers={"Authorization": f"Bearer {DEMO_API_KEY}"})
    assert nobody.status_code == 401 and nobody.json()["error"] == "invalid_request"
