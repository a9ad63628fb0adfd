"""A payment grant may name the stay the guest consented to instead of a booking id.

Before the booking exists the consent page can only name the stay; the payment service then
covers exactly the booking the acting agent made for that stay (one grant, one booking) —
not another booking of the same guest and stay made by someone else, not a booking of
another stay, and nothing at all when the grant names neither a booking nor a whole stay.
"""

from __future__ import annotations

from typing import Any

import pytest

from hotel.payment import outside_payment_grant
from scenarios.deployment import Deployment
from tests.hotel.helpers import (
    BA,
    SA,
    alice_obo,
    assert_allowed,
    assert_refused,
    bearer,
    url,
    world,
)

pytestmark = pytest.mark.anyio
STAY = {"hotel_id": "grand-meridian", "check_in": "2026-12-10", "check_out": "2026-12-12"}
TOTAL = 29_000  # 2 nights of a double at 14 500
PAY_FOR_STAY = {"type": "payment", "max_amount_cents": 30_000, **STAY}
NOT_MADE_BY_AGENT = (
    "booking outside the grant: the granted stay's booking was not made by this agent"
)
NOT_THE_STAY = "booking outside the grant: not the granted stay"
NAMES_NOTHING = "the payment grant must name the booking or the stay an agent pays"


async def agent_books(dep: Deployment, stay: dict[str, str] = STAY) -> str:
    """booking-assistant books a double for alice through the booking service, as granted."""
    grant = {"type": "hotel_booking", **stay, "room_type": "double", "max_total_cents": 100_000}
    token = await alice_obo(dep, "booking:create", "booking", [grant])
    response = await dep.http.post(
        url(dep, "booking", "/bookings"),
        json={**stay, "room_type": "double"},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["acting_agent"] == BA
    return str(booking["id"])


async def pay(dep: Deployment, booking_id: str, grant: dict[str, Any], amount: int = TOTAL) -> Any:
    token = await alice_obo(dep, "payment:charge", "payment", [grant])
    charge = {"booking_id": booking_id, "amount_cents": amount, "payment_method_id": "pm-alice-1"}
    return await dep.http.post(url(dep, "payment", "/payments"), json=charge, headers=bearer(token))


def refused(dep: Deployment, response: Any, reason: str, booking_id: str) -> None:
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason=reason,
        service="payment",
        sub="alice",
        act=(BA,),
        object_id=booking_id,
    )
    assert world(dep).booking(booking_id).paid_cents == 0
    assert world(dep).payments_of(booking_id) == []


async def test_the_stay_grant_pays_the_booking_the_agent_made_for_it(dep: Deployment) -> None:
    booking_id = await agent_books(dep)
    response = await pay(dep, booking_id, PAY_FOR_STAY)
    assert response.status_code == 201, response.text
    assert response.json()["charged_by"] == BA
    assert_allowed(
        dep,
        response,
        service="payment",
        sub="alice",
        act=(BA,),
        reason="charge within the grant",
        object_id=booking_id,
    )
    assert world(dep).booking(booking_id).paid_cents == TOTAL
    # The cap still bounds the total charged under it.
    again = await pay(dep, booking_id, PAY_FOR_STAY, amount=1_001)
    assert again.status_code == 403
    assert world(dep).booking(booking_id).paid_cents == TOTAL


@pytest.mark.parametrize("made_by", [None, SA], ids=["by the guest", "by another agent"])
async def test_not_another_booking_of_the_same_stay(dep: Deployment, made_by: str | None) -> None:
    mine = await agent_books(dep)  # the agent's own booking of the stay exists too
    other = world(dep).create_booking(
        "alice",
        STAY["hotel_id"],
        "double",
        STAY["check_in"],
        STAY["check_out"],
        created_by="alice",
        acting_agent=made_by,
    )
    refused(dep, await pay(dep, other.id, PAY_FOR_STAY), NOT_MADE_BY_AGENT, other.id)
    assert world(dep).booking(mine).paid_cents == 0


@pytest.mark.parametrize(
    "stay",
    [
        {**STAY, "check_in": "2026-12-11", "check_out": "2026-12-13"},  # other dates
        {**STAY, "check_out": "2026-12-13"},  # one night longer
        {**STAY, "hotel_id": "harbor-view"},  # same dates, another hotel
    ],
    ids=["other dates", "longer stay", "other hotel"],
)
async def test_not_a_booking_of_another_stay(dep: Deployment, stay: dict[str, str]) -> None:
    booking_id = await agent_books(dep, stay)  # made by this agent, but not the granted stay
    refused(dep, await pay(dep, booking_id, PAY_FOR_STAY), NOT_THE_STAY, booking_id)


@pytest.mark.parametrize(
    "names",
    [
        {},
        {"hotel_id": STAY["hotel_id"]},
        {"hotel_id": STAY["hotel_id"], "check_in": STAY["check_in"]},
        {"check_in": STAY["check_in"], "check_out": STAY["check_out"]},
    ],
    ids=["nothing", "hotel only", "no check-out", "no hotel"],
)
async def test_a_grant_naming_neither_booking_nor_stay_pays_nothing(
    dep: Deployment, names: dict[str, str]
) -> None:
    booking_id = await agent_books(dep)
    grant = {"type": "payment", "max_amount_cents": 30_000, **names}
    refused(dep, await pay(dep, booking_id, grant), NAMES_NOTHING, booking_id)


async def test_a_booking_id_in_the_grant_wins_over_the_stay(dep: Deployment) -> None:
    booking_id = await agent_books(dep)
    grant = PAY_FOR_STAY | {"booking_id": "bk-OTHER1"}
    refused(dep, await pay(dep, booking_id, grant), "booking outside the grant", booking_id)


async def test_outside_payment_grant_compares_the_whole_stay(dep: Deployment) -> None:
    booking = world(dep).create_booking(
        "alice", "grand-meridian", "double", "2026-12-10", "2026-12-12", acting_agent=BA
    )
    assert outside_payment_grant(PAY_FOR_STAY, booking, BA) is None
    assert outside_payment_grant(PAY_FOR_STAY, booking, SA) == NOT_MADE_BY_AGENT
    # Dates are compared as the ISO strings the consent page shows, not loosely.
    loose = PAY_FOR_STAY | {"check_in": "2026-12-10T00:00:00"}
    assert outside_payment_grant(loose, booking, BA) == NOT_THE_STAY
