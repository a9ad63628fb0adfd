"""The payment service: charge a booking, refund a payment.

* charge — a human subject with ``payment:charge`` who owns the booking and the card
  (owner = ``sub``: a guest cannot pay with someone else's card by claiming a name in chat).
  When an agent acts, the token must carry an RFC 9396 ``payment`` grant and the amount must
  cover the booking (its ``booking_id``, or the granted stay booked by this agent) and the
  agent's charges on it must total at most its ``max_amount_cents``.
* payment methods — the subject's own masked cards, to choose one to charge.
* refund — managers only (``payment:refund``).

When an agent acts, the issuer's approval policy (``iam_core/approval_policy.py``) reserves
some of these for the person's approval of exactly that action (OpenID CIBA; hotel/approvals.py):
a payment above the grant or at/above the threshold, and every refund.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from hotel.access import GUEST_AGENT, HUMAN, STAFF_AGENT, Access, Guard, Rule, rule_scopes
from hotel.approvals import (
    UsedApprovals,
    approval_detail,
    approved_detail,
    challenge,
    mismatch,
    require_approval,
)
from hotel.authorization_details import PaymentDetail
from hotel.service import service_app
from hotel.world import Booking, HotelWorld

CHARGE = Rule("payment:charge", kinds=HUMAN, agent_roles=GUEST_AGENT, objects=True)
CARDS = Rule("payment:charge", kinds=HUMAN, agent_roles=GUEST_AGENT)
REFUND = Rule("payment:refund", kinds=HUMAN, by_role=True, agent_roles=STAFF_AGENT, objects=True)
RULES = {"charge": CHARGE, "cards": CARDS, "refund": REFUND}


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Amount = Annotated[int, Field(ge=1, le=10_000_000)]


class Charge(BaseModel):
    booking_id: Id
    amount_cents: Amount
    payment_method_id: Id


class Refund(BaseModel):
    amount_cents: Amount


def outside_payment_grant(
    grant: PaymentDetail | Mapping[str, object], booking: Booking, agent: str
) -> str | None:
    """Why a ``payment`` grant does not cover this booking, or None (RFC 9396 §2).

    The grant names one booking, or the stay the guest consented to have booked: then only
    the booking this agent made for that stay (one grant, one booking) is covered. Without
    either, one cap could be spent again on every booking.
    """
    detail = grant if isinstance(grant, PaymentDetail) else PaymentDetail.of(grant)
    if detail.booking_id is not None:
        return None if detail.booking_id == booking.id else "booking outside the grant"
    stay = (detail.hotel_id, detail.check_in, detail.check_out)
    if None in stay:
        return "the payment grant must name the booking or the stay an agent pays"
    if stay != (booking.hotel_id, booking.check_in.isoformat(), booking.check_out.isoformat()):
        return "booking outside the grant: not the granted stay"
    if booking.acting_agent != agent:
        return "booking outside the grant: the granted stay's booking was not made by this agent"
    return None


def _charge_fields(world: HotelWorld, booking: Booking, agent: str, body: Charge) -> dict[str, int]:
    """What a payment approval names: the amount, and what this agent already charged on
    the booking — approving "€420" must not hide that €50 were taken before it."""
    earlier = sum(p.amount_cents for p in world.payments_of(booking.id) if p.charged_by == agent)
    return {"amount_cents": body.amount_cents} | (
        {"already_charged_cents": earlier} if earlier else {}
    )


def create_app(
    world: HotelWorld, guard: Guard, *, resource: str, issuer: str, rar: bool = True
) -> FastAPI:
    """``rar=False`` (an ablation, docs/design.md): the agent's grant details go unchecked;
    the approval rule (payments at or above the threshold) holds either way."""
    app = service_app(
        "payment",
        resource=resource,
        issuer=issuer,
        scopes=rule_scopes(RULES),
        description="Charges within the delegated amount; refunds for managers.",
    )
    used = UsedApprovals(world.store)
    charge: Any = Depends(guard.require(CHARGE))
    refund: Any = Depends(guard.require(REFUND))
    cards: Any = Depends(guard.require(CARDS))

    @app.get("/payment-methods")
    async def payment_methods(access: Access = cards) -> dict[str, Any]:
        """The subject's own cards, masked (brand, last four digits, expiry)."""
        return {"payment_methods": [m.as_dict() for m in world.payment_methods(access.sub)]}

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
        agent = access.acting_agent
        approved = approved_detail(access.token) if agent is not None else None
        if approved is not None and agent is not None:
            # A person approved exactly one payment (CIBA): this one, once.
            claim, detail = approved
            wanted = approval_detail(
                world, "payment", booking, **_charge_fields(world, booking, agent, body)
            )
            # The action first (which booking, how much, to whom), then whether the approval
            # was spent, then whether the booking was charged since it was given.
            reason = mismatch(detail, wanted, since=False)
            if reason is None and used.spent(access.token):
                reason = "approval already used (replay)"
            reason = reason or mismatch(detail, wanted)
            if reason is not None:
                access.details.update(approved=dict(detail), attempted_cents=body.amount_cents)
                raise access.deny(reason, object_id=body.booking_id)
            with world.store.transaction():
                fresh = used.consume(
                    access.token, claim, body.booking_id, body.amount_cents, str(world.clock.now())
                )
                if fresh:
                    access.allow(f"charge approved by {claim.get('approved_by')}", body.booking_id)
                    payment = world.charge(
                        body.booking_id, body.amount_cents, body.payment_method_id, charged_by=agent
                    )
            if not fresh:
                # Audited outside the transaction: a refusal must outlive its rollback.
                raise access.deny("approval already used (replay)", object_id=body.booking_id)
            return payment.as_dict()
        if agent is not None:
            rules = access.guard.policy.approvals
            threshold = rules.payment_threshold_cents
            cap: int | None = None
            earlier, over = 0, False
            if rar:  # the RAR caps: off in the no-rar ablation, the approval rule is not
                grant = PaymentDetail.in_token(access.token)
                if grant is None:
                    raise access.deny(
                        "no payment grant: an agent may only pay what the guest "
                        "authorised (authorization_details)",
                        object_id=body.booking_id,
                    )
                reason = outside_payment_grant(grant, booking, agent)
                if reason is not None:
                    raise access.deny(reason, object_id=body.booking_id)
                cap = grant.max_amount_cents
                # The cap bounds what this agent charges on the booking in all, not each one.
                earlier = sum(
                    p.amount_cents
                    for p in world.payments_of(body.booking_id)
                    if p.charged_by == agent
                )
                over = cap is None or earlier + body.amount_cents > cap
            if over or (threshold is not None and body.amount_cents >= threshold):
                access.details.update(authorised_cents=cap, attempted_cents=body.amount_cents)
                if earlier:
                    access.details["already_charged_cents"] = earlier
                reason = (
                    f"amount above grant: {f'{earlier} + ' if earlier else ''}"
                    f"{body.amount_cents} > {cap}"
                    if over
                    else f"payment of {body.amount_cents} at or above {threshold}"
                )
                asks = rules.payments_above_cap if over else True
                if asks:  # the person is asked: a challenge, not yet a decision on the action
                    access.details["challenge"] = "approval_required"
                denial = access.deny(reason, object_id=body.booking_id)
                if not asks:
                    raise denial
                fields = _charge_fields(world, booking, agent, body)
                raise challenge(
                    reason, approval_detail(world, "payment", booking, **fields), issuer
                )
        access.allow("charge within the grant" if agent else "charge by the owner", body.booking_id)
        payment = world.charge(
            body.booking_id,
            body.amount_cents,
            body.payment_method_id,
            charged_by=agent or access.sub,
        )
        return payment.as_dict()

    @app.post("/payments/{payment_id}/refund")
    async def refund_payment(
        payment_id: Id, body: Refund, access: Access = refund
    ) -> dict[str, Any]:
        paid = world.payment(payment_id)
        claim = None
        if access.acting_agent is not None and access.guard.policy.approvals.refunds:
            # Every refund an agent makes needs the person's approval of exactly it.
            claim = require_approval(
                access,
                used,
                world,
                issuer,
                f"refund of {body.amount_cents} needs approval",
                "refund",
                world.booking(paid.booking_id),
                payment_id=payment_id,
                amount_cents=body.amount_cents,
            )
        with world.store.transaction():
            fresh = claim is None or used.consume(
                access.token, claim, payment_id, body.amount_cents, str(world.clock.now())
            )
            if fresh:
                access.allow("manager refund" + (" (approved)" if claim else ""), payment_id)
                done = world.refund(payment_id, body.amount_cents, refunded_by=access.sub)
        if not fresh:
            raise access.deny("approval already used (replay)", object_id=payment_id)
        return done.as_dict()

    return app
