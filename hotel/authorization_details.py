"""The RFC 9396 authorization details the hotel reads, as typed, frozen values.

A guest's consent names what an agent may do on their behalf — book *this* stay, pay at most
*this* much — and the IAM puts it in the token's ``authorization_details`` (RFC 9396 §9). The
routes compare a request against these values (docs/attacks.md: a review that says "book the
suite" cannot widen what the guest consented to). Values the IAM wrote in another shape
never match a request: a present non-string field compares unequal, a non-integer cap is no
cap for a booking and refuses a payment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

from iam_core.resource_server import Token

STAY_FIELDS = ("hotel_id", "room_type", "check_in", "check_out")


def _detail(token: Token, detail_type: str) -> Mapping[str, object] | None:
    """The token's ``authorization_details`` entry of ``detail_type``, if any (§2)."""
    details = token.claims.get("authorization_details")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and detail.get("type") == detail_type:
            return detail
    return None


def _text(detail: Mapping[str, object], name: str) -> str | None:
    """A field as the consent page showed it; absent is None (no constraint)."""
    return str(detail[name]) if name in detail else None


def _cents(detail: Mapping[str, object], name: str) -> int | None:
    value = detail.get(name)
    return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class HotelBookingDetail:
    """``hotel_booking``: the stay an agent may book; absent fields are unconstrained."""

    TYPE: ClassVar[str] = "hotel_booking"
    hotel_id: str | None = None
    room_type: str | None = None
    check_in: str | None = None
    check_out: str | None = None
    max_total_cents: int | None = None

    @classmethod
    def of(cls, detail: Mapping[str, object]) -> Self:
        return cls(
            hotel_id=_text(detail, "hotel_id"),
            room_type=_text(detail, "room_type"),
            check_in=_text(detail, "check_in"),
            check_out=_text(detail, "check_out"),
            max_total_cents=_cents(detail, "max_total_cents"),
        )

    @classmethod
    def in_token(cls, token: Token) -> Self | None:
        detail = _detail(token, cls.TYPE)
        return None if detail is None else cls.of(detail)


@dataclass(frozen=True, slots=True)
class PaymentDetail:
    """``payment``: a cap, for one booking (``booking_id``) or for the granted stay."""

    TYPE: ClassVar[str] = "payment"
    max_amount_cents: int | None = None
    booking_id: str | None = None
    hotel_id: str | None = None
    check_in: str | None = None
    check_out: str | None = None

    @classmethod
    def of(cls, detail: Mapping[str, object]) -> Self:
        def exact(name: str) -> str | None:
            # Compared exactly: a value of another type is present yet matches nothing.
            value = detail.get(name)
            return None if value is None else value if isinstance(value, str) else ""

        return cls(
            max_amount_cents=_cents(detail, "max_amount_cents"),
            booking_id=(exact("booking_id") or "") if "booking_id" in detail else None,
            hotel_id=exact("hotel_id"),
            check_in=exact("check_in"),
            check_out=exact("check_out"),
        )

    @classmethod
    def in_token(cls, token: Token) -> Self | None:
        detail = _detail(token, cls.TYPE)
        return None if detail is None else cls.of(detail)
