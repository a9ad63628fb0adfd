"""The scenarios' people approve their own task and deny anything else (scenarios/approver.py).

She reads the authorization details the IAM shows — amount, booking, payee — never the
agent's binding message; she approves each task once. Without a stated task she approves
what her own words named. Also: the old consent quota is gone (CIBA's limits replaced it),
and the approval rate limit's refusal is audited.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotel.stores.seed import ALICE_BOOKING_ID
from iam_core.clock import ManualClock
from scenarios.approver import Device, task_in_words
from scenarios.deployment import deployment
from tests.hotel.helpers import alice_obo
from tests.iam_core.test_ciba import assertion, decide, metadata, person

TASK = {
    "type": "payment",
    "booking_id": ALICE_BOOKING_ID,
    "amount_cents": 42_000,
    "hotel_id": "alpine-lodge",
}
REAL = TASK | {"currency": "EUR", "hotel_name": "Alpine Lodge", "check_in": "2026-12-21"}


def test_she_approves_exactly_her_task_once_shown_with_any_extra_words() -> None:
    device = Device("alice", [dict(TASK)])
    assert device.matches([REAL]) is not None
    assert device.matches([REAL, REAL]) is None  # one action per request


@given(
    field=st.sampled_from(["type", "booking_id", "amount_cents", "hotel_id"]),
    value=st.one_of(st.integers(min_value=1, max_value=10**7), st.text(max_size=12)),
)
def test_a_request_that_differs_from_her_task_in_any_checked_field_is_denied(
    field: str, value: Any
) -> None:
    """Amount, booking, payee, kind: any difference and she denies."""
    if value == TASK[field]:
        return
    assert Device("alice", [dict(TASK)]).matches([REAL | {field: value}]) is None


@given(before=st.integers(min_value=1, max_value=10**6))
def test_a_payment_that_hides_earlier_charges_is_not_her_task(before: int) -> None:
    assert Device("alice", [dict(TASK)]).matches([REAL | {"already_charged_cents": before}]) is None


def test_her_own_words_name_her_task() -> None:
    assert task_in_words("Refund payment pay-BOB001 of $100") == {
        "kinds": {"refund"},
        "ids": {"pay-BOB001"},
        "amounts": {10_000},
    }
    assert task_in_words("set the rate of booking bk-BOB001 to 5000 cents") == {
        "kinds": {"rate_override"},
        "ids": {"bk-BOB001"},
        "amounts": {5_000},
    }
    assert task_in_words("Book a double room at the Grand Meridian") is None
    words = task_in_words(f"Pay €420 for booking {ALICE_BOOKING_ID}")
    assert words is not None
    device = Device("alice", [words])
    assert device.matches([REAL]) is not None
    assert device.matches([REAL | {"amount_cents": 46_000}]) is None
    assert device.matches([REAL | {"booking_id": "bk-OTHER1"}]) is None


@pytest.mark.anyio
async def test_consent_pages_are_not_rate_limited_any_more() -> None:
    """The old consent quota (5 per 10 minutes, issue 15) is gone: ten consents in a row."""
    async with deployment(in_memory=True) as dep:
        for _ in range(10):
            assert await alice_obo(dep, "booking:read", "booking")
        assert dep.iam is not None
        assert not dep.iam.audit.query(event="consent.throttled")


@pytest.mark.anyio
async def test_the_approval_rate_limit_refuses_and_audits_the_refusal() -> None:
    """Past 10 requests per agent in 600 s: 429, and an ``approval.throttled`` entry."""
    clock = ManualClock()
    async with deployment(in_memory=True, clock=clock) as dep:
        cap = {"type": "payment", "booking_id": ALICE_BOOKING_ID, "max_amount_cents": 100}
        await alice_obo(dep, "payment:charge", "payment", [cap])
        meta = await metadata(dep)
        browser = await person(dep)
        statuses = []
        for n in range(11):
            detail = REAL | {"amount_cents": 1_000 + n}
            form = {
                "login_hint": "alice",
                "scope": "payment:charge",
                "binding_message": "a payment",
                "authorization_details": json.dumps([detail]),
                **assertion(dep, clock),
            }
            asked = await dep.http.post(meta["backchannel_authentication_endpoint"], data=form)
            statuses.append(asked.status_code)
            if asked.status_code == 200:
                await decide(browser, asked.json()["auth_req_id"], "deny")
        await browser.aclose()
        assert statuses == [200] * 10 + [429]
        assert dep.iam is not None
        (entry,) = dep.iam.audit.query(event="approval.throttled")
        assert entry.outcome == "denied" and "rate limit" in (entry.reason or "")


@pytest.mark.anyio
async def test_a_person_outside_the_scenario_leaves_requests_to_the_real_person() -> None:
    """``agent-iam chat``: nobody simulated answers; the request waits on her page."""
    from scenarios.approver import People

    async with deployment(in_memory=True) as dep:
        cap = {"type": "payment", "booking_id": ALICE_BOOKING_ID, "max_amount_cents": 100}
        await alice_obo(dep, "payment:charge", "payment", [cap])
        assert dep.iam is not None
        asked = dep.iam.approvals.request(
            agent_id="booking-assistant",
            user_id="alice",
            client_id="hotel-web",
            scopes=frozenset({"payment:charge"}),
            details=(REAL,),
            binding_message="pay €420.00",
        )
        people = People(dep)
        await people("alice")
        assert people.seen == []
        assert dep.iam.approvals.get(asked.auth_req_id).status == "pending"  # type: ignore[union-attr]
        people.device("alice")  # now she takes part, with no task: she denies it
        await people("alice")
        assert dep.iam.approvals.get(asked.auth_req_id).status == "denied"  # type: ignore[union-attr]
