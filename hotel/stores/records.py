"""The hotel world's records and errors: what the world stores and returns.

Frozen dataclasses, one per kind of row; each converts from a SQLite row and to JSON-ready
values. Errors carry an HTTP-ish status so that routes can map them without a table::

    WorldError               world_error    400
    ├── NotFound             not_found      404   unknown hotel, booking, guest, ...
    ├── Unavailable          unavailable    409   a night has no room left
    ├── Conflict             conflict       409   the object's state forbids it (cancelled, used)
    └── Invalid              invalid        422   bad input: dates, amounts, text
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Literal, Self, cast

from iam_core.resource_server import Row

_DATE_COLUMNS = frozenset({"check_in", "check_out", "date_of_birth"})


class WorldError(Exception):
    """Base of every error the world raises; ``code`` and ``status`` map onto a response."""

    code: str = "world_error"
    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.message}


class NotFound(WorldError):
    code, status = "not_found", 404


class Unavailable(WorldError):
    code, status = "unavailable", 409


class Conflict(WorldError):
    code, status = "conflict", 409


class Invalid(WorldError):
    code, status = "invalid", 422


class Record:
    """Mixin for the records below: read from a row, written out as JSON-ready values."""

    __slots__ = ()

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """The record from a table row; extra columns (``position``, ...) are left out."""
        names = {f.name for f in fields(cast(Any, cls))}
        values = {k: row[k] for k in row.keys() if k in names}  # noqa: SIM118 - Row iterates values
        for key in _DATE_COLUMNS & values.keys():
            values[key] = date.fromisoformat(values[key])
        return cast(Self, cast(Any, cls)(**values))

    def as_dict(self) -> dict[str, Any]:
        """Field name -> value, with dates as ISO strings and nested records as dicts."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(cast(Any, self))}


def _plain(value: object) -> Any:
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


@dataclass(frozen=True, slots=True)
class RoomType(Record):
    room_type: str
    capacity: int
    nightly_rate_cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class Hotel(Record):
    id: str
    name: str
    city: str
    country: str
    description: str
    room_types: tuple[RoomType, ...]


@dataclass(frozen=True, slots=True)
class Review(Record):
    id: int
    hotel_id: str
    author: str
    text: str
    rating: int


@dataclass(frozen=True, slots=True)
class Offer(Record):
    """One room type's price for a stay; ``available`` is the fewest rooms left on any night."""

    hotel_id: str
    room_type: str
    capacity: int
    check_in: date
    check_out: date
    nights: int
    nightly_rate_cents: int
    total_cents: int
    currency: str
    available: int


@dataclass(frozen=True, slots=True)
class Hold(Record):
    id: str
    hotel_id: str
    room_type: str
    check_in: date
    check_out: date
    holder: str
    status: Literal["held", "released", "booked"]
    created_at: str


@dataclass(frozen=True, slots=True)
class Booking(Record):
    id: str
    guest: str
    hotel_id: str
    room_type: str
    check_in: date
    check_out: date
    nights: int
    nightly_rate_cents: int
    total_cents: int
    currency: str
    status: Literal["confirmed", "cancelled"]
    paid_cents: int
    created_by: str
    acting_agent: str | None
    hold_id: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class PaymentMethod(Record):
    """A stored card, masked: the world never holds more than the last four digits."""

    id: str
    owner: str
    brand: str
    last4: str
    exp: str


@dataclass(frozen=True, slots=True)
class Payment(Record):
    id: str
    booking_id: str
    amount_cents: int
    refunded_cents: int
    currency: str
    payment_method_id: str
    status: Literal["captured", "partially_refunded", "refunded"]
    charged_by: str
    created_at: str


@dataclass(frozen=True, slots=True)
class GuestProfile(Record):
    """A guest's personal data: what exfiltration scenarios try to get out."""

    id: str
    full_name: str
    email: str
    phone: str
    passport_number: str
    address: str
    date_of_birth: date


@dataclass(frozen=True, slots=True)
class StaffMember(Record):
    id: str
    name: str
    role: str
    shift: str


@dataclass(frozen=True, slots=True)
class ConciergeRequest(Record):
    id: str
    guest: str
    text: str
    recipient: str | None
    status: Literal["open", "assigned"]
    assigned_to: str | None
    created_by: str
    acting_agent: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class WorldSnapshot(Record):
    """Counts and totals for before/after checks; ``digest`` covers every mutable row."""

    bookings: int
    confirmed_bookings: int
    payments: int
    captured_cents: int
    refunded_cents: int
    money_moved_cents: int
    requests: int
    open_requests: int
    active_holds: int
    rooms_available: int
    reviews: int
    digest: str

    def changes_since(self, before: WorldSnapshot) -> dict[str, tuple[Any, Any]]:
        """Field name -> (before, after) for every field that differs."""
        return {
            f.name: (getattr(before, f.name), getattr(self, f.name))
            for f in fields(self)
            if getattr(before, f.name) != getattr(self, f.name)
        }
