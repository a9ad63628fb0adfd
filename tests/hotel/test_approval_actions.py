"""Refunds, rate overrides and late cancellations by an agent need the person's approval.

``Policy.approvals`` (iam_core/approval_policy.py): every refund, every rate override and
cancelling within 48 hours of arrival, when an agent acts. Without an approval the service
answers 403 ``approval_required`` naming exactly the action (RFC 9396 details); with one it
does that action once (OpenID CIBA Core 1.0 poll mode, approved on /account/approvals).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from hotel.booking import hours_to_arrival
from hotel.stores.seed import ALICE_BOOKING_ID, BOB_BOOKING_ID, BOB_PAYMENT_ID
from iam_core.approval_policy import ApprovalPolicy
from iam_core.clock import ManualClock
from iam_core.iam import IAMConfig
from iam_core.policy import Policy
from scenarios.deployment import Deployment, deployment
from tests.hotel.helpers import alice_obo, iam_of, staff_obo, url, world
from tests.iam_core.helpers import open_task
from tests.iam_core.test_ciba import CIBA, assertion, decide, metadata, person

pytestmark = pytest.mark.anyio
SA, BA = "staff-assistant", "booking-assistant"


@pytest.fixture
async def lab() -> AsyncIterator[tuple[Deployment, ManualClock]]:
    clock = ManualClock()
    async with deployment(in_memory=True, clock=clock) as dep:
        yield dep, clock


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def asked_for(response: httpx.Response) -> dict[str, Any]:
    """The one action a 403 approval_required names."""
    assert response.status_code == 403, response.text
    assert 'error="approval_required"' in response.headers["www-authenticate"]
    (detail,) = response.json()["authorization_details"]
    return dict(detail)


async def approved(
    dep: Deployment, clock: ManualClock, agent: str, user: str, scope: str, detail: dict[str, Any]
) -> str:
    """``agent`` asks ``user`` (CIBA §7.1), she approves on her page, the agent polls."""
    meta = await metadata(dep)
    form = {
        "login_hint": user,
        "scope": scope,
        "binding_message": "please approve",
        "authorization_details": json.dumps([detail]),
        **assertion(dep, clock, agent),
    }
    asked = await dep.http.post(meta["backchannel_authentication_endpoint"], data=form)
    assert asked.status_code == 200, asked.text
    rid = asked.json()["auth_req_id"]
    browser = await person(dep, user)
    await decide(browser, rid, "approve")
    await browser.aclose()
    clock.advance(1)
    polled = {"grant_type": CIBA, "auth_req_id": rid, **assertion(dep, clock, agent)}
    polled["task_token"] = await open_task(dep, agent)  # redeemed within the request's task
    issued = await dep.http.post(meta["token_endpoint"], data=polled)
    assert issued.status_code == 200, issued.text
    return str(issued.json()["access_token"])


async def refund(dep: Deployment, token: str, amount: int) -> httpx.Response:
    path = f"/payments/{BOB_PAYMENT_ID}/refund"
    body = {"amount_cents": amount}
    return await dep.http.post(url(dep, "payment", path), json=body, headers=bearer(token))


async def test_an_agents_refund_needs_the_managers_approval_of_exactly_it(
    lab: tuple[Deployment, ManualClock],
) -> None:
    """No approval: challenged, nothing refunded. Approved: that refund, once; not another."""
    dep, clock = lab
    token = await staff_obo(dep, "dave", "payment:refund", "payment")
    detail = asked_for(await refund(dep, token, 10_000))
    assert detail["type"] == "refund" and detail["payment_id"] == BOB_PAYMENT_ID
    assert detail["amount_cents"] == 10_000 and detail["booking_id"] == BOB_BOOKING_ID
    assert world(dep).snapshot().refunded_cents == 0
    ok = await approved(dep, clock, SA, "dave", "payment:refund", detail)
    other = await refund(dep, ok, 5_000)
    assert other.status_code == 403 and "amount differs" in other.text
    assert (await refund(dep, ok, 10_000)).status_code == 200
    replay = await refund(dep, ok, 10_000)
    assert replay.status_code == 403 and "already used" in replay.text
    assert world(dep).snapshot().refunded_cents == 10_000
    # The replay's refusal outlives its transaction's rollback: it is in the audit log.
    reasons = [e.reason for e in iam_of(dep).audit.query(outcome="denied")]
    assert "approval already used (replay)" in reasons


async def test_an_agents_rate_override_needs_approval(lab: tuple[Deployment, ManualClock]) -> None:
    dep, clock = lab
    token = await staff_obo(dep, "dave", "booking:rate-override", "booking")
    path = url(dep, "booking", f"/bookings/{BOB_BOOKING_ID}/rate")
    detail = asked_for(
        await dep.http.patch(path, json={"nightly_rate_cents": 5_000}, headers=bearer(token))
    )
    assert detail["type"] == "rate_override" and detail["nightly_rate_cents"] == 5_000
    ok = await approved(dep, clock, SA, "dave", "booking:rate-override", detail)
    done = await dep.http.patch(path, json={"nightly_rate_cents": 5_000}, headers=bearer(ok))
    assert done.status_code == 200, done.text
    assert world(dep).booking(BOB_BOOKING_ID).nightly_rate_cents == 5_000


async def cancel(dep: Deployment, token: str) -> httpx.Response:
    path = url(dep, "booking", f"/bookings/{ALICE_BOOKING_ID}")
    return await dep.http.delete(path, headers=bearer(token))


async def test_cancelling_within_48_hours_of_arrival_needs_approval(
    lab: tuple[Deployment, ManualClock],
) -> None:
    """A day before arrival the agent must ask; alice approves; the stay is cancelled."""
    dep, clock = lab
    booking = world(dep).booking(ALICE_BOOKING_ID)
    clock.advance((hours_to_arrival(booking, clock.now()) - 24) * 3600)
    token = await alice_obo(dep, "booking:cancel", "booking")
    detail = asked_for(await cancel(dep, token))
    assert detail == detail | {"type": "booking_cancellation", "booking_id": ALICE_BOOKING_ID}
    assert world(dep).booking(ALICE_BOOKING_ID).status == "confirmed"
    ok = await approved(dep, clock, BA, "alice", "booking:cancel", detail)
    assert (await cancel(dep, ok)).status_code == 200
    assert world(dep).booking(ALICE_BOOKING_ID).status == "cancelled"


async def test_cancelling_weeks_ahead_needs_no_approval(
    lab: tuple[Deployment, ManualClock],
) -> None:
    dep, _ = lab
    token = await alice_obo(dep, "booking:cancel", "booking")
    assert (await cancel(dep, token)).status_code == 200


async def test_the_policy_is_configurable_refunds_without_approval() -> None:
    """``ApprovalPolicy(refunds=False)``: the manager's agent refunds without asking."""
    rules = replace(Policy(), approvals=ApprovalPolicy(refunds=False))
    async with deployment(in_memory=True, config=IAMConfig(policy=rules)) as dep:
        token = await staff_obo(dep, "dave", "payment:refund", "payment")
        assert (await refund(dep, token, 10_000)).status_code == 200


def test_the_approval_policy_says_its_rules_in_words() -> None:
    assert ApprovalPolicy().describe() == [
        "a payment above the amount the person consented to",
        "any payment of €400.00 or more",
        "every refund",
        "cancelling within 48 hours of arrival",
        "every rate override",
    ]
