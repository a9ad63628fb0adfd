"""The booking service: create, read, list, change and cancel bookings.

* create — a human subject (OBO or user token) with ``booking:create``. When an agent acts,
  the token must carry an RFC 9396 ``hotel_booking`` grant and the request must match it
  (hotel, dates, room type, total): what the guest asked for, not what a review said. The
  room is held at availability by the booking backend's own App token.
* read — the owner, or staff; list — the caller's own bookings.
* change dates — staff (front-desk or manager) with ``booking:modify``; override the rate —
  managers only (``booking:rate-override``); cancel — the owner (``booking:cancel``).

When an agent acts, a rate override and a cancellation within ``cancel_within_hours`` (48) of
arrival need the person's approval of exactly that action (OpenID CIBA; hotel/approvals.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, Field

from hotel.access import (
    ANY_HOTEL_AGENT,
    GUEST_AGENT,
    HUMAN,
    STAFF_AGENT,
    Access,
    Guard,
    Rule,
    rule_scopes,
)
from hotel.approvals import UsedApprovals, require_approval
from hotel.authorization_details import HotelBookingDetail
from hotel.backend_client import AvailabilityClient
from hotel.service import service_app
from hotel.world import Booking, HotelWorld

CREATE = Rule("booking:create", kinds=HUMAN, agent_roles=GUEST_AGENT, objects=True)
READ = Rule("booking:read", kinds=HUMAN, agent_roles=ANY_HOTEL_AGENT, objects=True)
LIST = Rule("booking:read", kinds=HUMAN, agent_roles=ANY_HOTEL_AGENT)
MODIFY = Rule("booking:modify", kinds=HUMAN, by_role=True, agent_roles=STAFF_AGENT, objects=True)
OVERRIDE = Rule(
    "booking:rate-override", kinds=HUMAN, by_role=True, agent_roles=STAFF_AGENT, objects=True
)
CANCEL = Rule("booking:cancel", kinds=HUMAN, agent_roles=GUEST_AGENT, objects=True)
RULES = {
    "create": CREATE,
    "read": READ,
    "list": LIST,
    "modify": MODIFY,
    "override": OVERRIDE,
    "cancel": CANCEL,
}

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class NewBooking(BaseModel):
    hotel_id: Id
    room_type: Id
    check_in: date
    check_out: date


class DateChange(BaseModel):
    check_in: date
    check_out: date


class RateOverride(BaseModel):
    nightly_rate_cents: Annotated[int, Field(ge=0, le=10_000_000)]


def outside_grant(grant: HotelBookingDetail, body: NewBooking, total_cents: int) -> str | None:
    """Why a booking request exceeds its ``hotel_booking`` grant, or None (RFC 9396 §2)."""
    for name, granted, asked in (
        ("hotel_id", grant.hotel_id, body.hotel_id),
        ("room_type", grant.room_type, body.room_type),
        ("check_in", grant.check_in, body.check_in.isoformat()),
        ("check_out", grant.check_out, body.check_out.isoformat()),
    ):
        if granted is not None and granted != asked:
            return f"{name} {asked} is not the granted {granted}"
    cap = grant.max_total_cents
    if cap is not None and total_cents > cap:
        return f"total {total_cents} above the granted {cap}"
    return None


def hours_to_arrival(booking: Booking, now: float) -> float:
    """Hours from ``now`` to the booking's arrival (check-in day, 15:00 UTC)."""
    arrival = datetime.combine(booking.check_in, time(15, 0), tzinfo=UTC)
    return (arrival.timestamp() - now) / 3600


def _now(world: HotelWorld) -> str:
    return str(world.clock.now())


def create_app(
    world: HotelWorld,
    guard: Guard,
    holds: AvailabilityClient,
    *,
    resource: str,
    issuer: str,
    rar: bool = True,
) -> FastAPI:
    """``rar=False`` (an ablation, docs/design.md): the agent's grant details go unchecked."""
    app = service_app(
        "booking",
        resource=resource,
        issuer=issuer,
        scopes=rule_scopes(RULES),
        description="Bookings: owner checks, staff changes, manager overrides.",
    )
    used = UsedApprovals(world.store)
    create: Any = Depends(guard.require(CREATE))
    read: Any = Depends(guard.require(READ))
    mine: Any = Depends(guard.require(LIST))
    modify: Any = Depends(guard.require(MODIFY))
    override: Any = Depends(guard.require(OVERRIDE))
    cancel: Any = Depends(guard.require(CANCEL))

    @app.post("/bookings", status_code=201)
    async def create_booking(
        body: NewBooking, request: Request, access: Access = create
    ) -> dict[str, Any]:
        offers = world.search(body.hotel_id, body.check_in, body.check_out, 1, body.room_type)
        total = offers[0].total_cents if offers else 0
        agent = access.acting_agent
        if agent is not None and rar:
            grant = HotelBookingDetail.in_token(access.token)
            if grant is None:
                raise access.deny(
                    "no hotel_booking grant: an agent may only book what the "
                    "guest authorised (authorization_details)"
                )
            reason = outside_grant(grant, body, total)
            if reason is not None:
                raise access.deny(f"request outside the grant: {reason}")
            if any(
                b.status == "confirmed"
                and b.acting_agent == agent
                and (b.hotel_id, b.check_in, b.check_out)
                == (body.hotel_id, body.check_in, body.check_out)
                for b in world.bookings_of(access.sub)
            ):
                # One grant, one booking: a hijacked agent cannot book the same stay again.
                raise access.deny("the hotel_booking grant was used already")
        access.allow("booking within the grant" if agent else "booking by the guest")
        hold = await holds.hold(
            body.hotel_id,
            body.room_type,
            body.check_in,
            body.check_out,
            holder=access.sub,
            traceparent=request.headers.get("traceparent"),
        )
        booking = world.create_booking(
            access.sub,
            body.hotel_id,
            body.room_type,
            body.check_in,
            body.check_out,
            hold_id=str(hold["id"]),
            created_by=access.sub,
            acting_agent=agent,
        )
        return booking.as_dict()

    @app.get("/bookings")
    async def my_bookings(access: Access = mine) -> dict[str, Any]:
        return {"bookings": [b.as_dict() for b in world.bookings_of(access.sub)]}

    @app.get("/bookings/{booking_id}")
    async def get_booking(booking_id: Id, access: Access = read) -> dict[str, Any]:
        booking = world.booking(booking_id)
        access.require_owner(booking.guest, booking_id, staff_scope=MODIFY.scope)
        return booking.as_dict()

    @app.patch("/bookings/{booking_id}/dates")
    async def change_dates(
        booking_id: Id, body: DateChange, access: Access = modify
    ) -> dict[str, Any]:
        world.booking(booking_id)
        access.allow("staff date change", booking_id)
        return world.change_dates(booking_id, body.check_in, body.check_out).as_dict()

    @app.patch("/bookings/{booking_id}/rate")
    async def override_rate(
        booking_id: Id, body: RateOverride, access: Access = override
    ) -> dict[str, Any]:
        booking = world.booking(booking_id)
        claim = None
        if access.acting_agent is not None and access.guard.policy.approvals.rate_overrides:
            claim = require_approval(
                access,
                used,
                world,
                issuer,
                f"rate override to {body.nightly_rate_cents} needs approval",
                "rate_override",
                booking,
                nightly_rate_cents=body.nightly_rate_cents,
            )
        with world.store.transaction():
            fresh = claim is None or used.consume(
                access.token, claim, booking_id, body.nightly_rate_cents, _now(world)
            )
            if fresh:
                access.allow("manager rate override" + (" (approved)" if claim else ""), booking_id)
                done = world.override_rate(booking_id, body.nightly_rate_cents)
        if not fresh:
            raise access.deny("approval already used (replay)", object_id=booking_id)
        return done.as_dict()

    @app.delete("/bookings/{booking_id}")
    async def cancel_booking(booking_id: Id, access: Access = cancel) -> dict[str, Any]:
        booking = world.booking(booking_id)
        access.require_owner(booking.guest, booking_id)
        within = access.guard.policy.approvals.cancel_within_hours
        claim = None
        if access.acting_agent is not None and within is not None:
            hours = hours_to_arrival(booking, world.clock.now())
            if hours < within:
                claim = require_approval(
                    access,
                    used,
                    world,
                    issuer,
                    f"cancelling {hours:.0f} h before arrival needs approval (< {within} h)",
                    "booking_cancellation",
                    booking,
                )
        with world.store.transaction():
            fresh = claim is None or used.consume(
                access.token, claim, booking_id, None, _now(world)
            )
            if fresh:
                done = world.cancel(booking_id)
        if not fresh:
            raise access.deny("approval already used (replay)", object_id=booking_id)
        return done.as_dict()

    return app
