"""The payment service: charge a booking, refund a payment.

* charge — a human subject with ``payment:charge`` who owns the booking and the card
  (owner = ``sub``: a guest cannot pay with someone else's card by claiming a name in chat).
  When an agent acts, the token must carry an RFC 9396 ``payment`` grant and the amount must
  be within its ``max_amount_cents`` (and its ``booking_id``, when named).
* refund — managers only (``payment:refund``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from hotel.guard import GUEST_AGENTS, HUMAN, STAFF_AGENTS, Access, Rule
from hotel.service import service_app
from hotel.world import HotelWorld

CHARGE = Rule("payment:charge", kinds=HUMAN, agents=GUEST_AGENTS, objects=True)
REFUND = Rule(
    "payment:refund",
    kinds=HUMAN,
    roles_any=frozenset({"manager"}),
    agents=STAFF_AGENTS,
    objects=True,
)


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Amount = Annotated[int, Field(ge=1, le=10_000_000)]


class Charge(BaseModel):
    booking_id: Id
    amount_cents: Amount
    payment_method_id: Id


class Refund(BaseModel):
    amount_cents: Amount


def create_app(world: HotelWorld, guard: Any, *, resource: str, issuer: str) -> FastAPI:
    app = service_app(
        "payment",
        resource=resource,
        issuer=issuer,
        scopes=["payment:charge", "payment:refund"],
        description="Charges within the delegated amount; refunds for managers.",
    )
    charge: Any = Depends(guard.require(CHARGE))
    refund: Any = Depends(guard.require(REFUND))

    @app.post("/payments", status_code=201)
    async def charge_booking(body: Charge, access: Access = charge) -> dict[str, Any]:
        booking = world.booking(body.booking_id)
        if booking.guest != access.sub:
            raise access.deny(
                f"owner mismatch: booking {body.booking_id} belongs to another user",
                object_id=body.booking_id,
            )
        cards = {m.id for m in world.payment_methods(access.sub)}
        if body.payment_method_id not in cards:
            raise access.deny(
                "card owner mismatch: the payment method is not the subject's",
                object_id=body.booking_id,
            )
        if access.actors:
            grant = access.grant("payment")
            if grant is None:
                raise access.deny(
                    "no payment grant: an agent may only pay what the guest "
                    "authorised (authorization_details)",
                    object_id=body.booking_id,
                )
            if grant.get("booking_id") is None:
                # Without a named booking, one cap could be spent again on every booking.
                raise access.deny(
                    "the payment grant must name the booking an agent pays",
                    object_id=body.booking_id,
                )
            cap = grant.get("max_amount_cents")
            # The cap bounds what this agent charges on the booking in all, not each charge.
            earlier = sum(
                p.amount_cents
                for p in world.payments_of(body.booking_id)
                if p.charged_by == access.actors[0]
            )
            if not isinstance(cap, int) or earlier + body.amount_cents > cap:
                access.details.update(authorised_cents=cap, attempted_cents=body.amount_cents)
                if earlier:
                    access.details["already_charged_cents"] = earlier
                raise access.deny(
                    f"amount above grant: {f'{earlier} + ' if earlier else ''}"
                    f"{body.amount_cents} > {cap}",
                    object_id=body.booking_id,
                )
            if "booking_id" in grant and grant["booking_id"] != body.booking_id:
                raise access.deny("booking outside the grant", object_id=body.booking_id)
        access.allow(
            "charge within the grant" if access.actors else "charge by the owner", body.booking_id
        )
        payment = world.charge(
            body.booking_id,
            body.amount_cents,
            body.payment_method_id,
            charged_by=access.actors[0] if access.actors else access.sub,
        )
        return payment.as_dict()

    @app.post("/payments/{payment_id}/refund")
    async def refund_payment(
        payment_id: Id, body: Refund, access: Access = refund
    ) -> dict[str, Any]:
        world.payment(payment_id)
        access.allow("manager refund", payment_id)
        return world.refund(payment_id, body.amount_cents, refunded_by=access.sub).as_dict()

    return app
