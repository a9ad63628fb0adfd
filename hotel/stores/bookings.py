"""Bookings: stays, their dates, rates and status, and what has been paid on them.

The booking service's data. A booking takes its rooms from the :class:`Catalogue` (or
consumes a hold there) in the same transaction that writes it, so a failed step leaves
nothing half done. Who may book, move or re-rate a stay is the guard's and the service's
call (docs/attacks.md): this store records ``created_by`` and ``acting_agent`` for the
reports and checks nothing about them.
"""

from __future__ import annotations

from hotel.stores.catalogue import Catalogue
from hotel.stores.records import Booking, Conflict
from hotel.stores.tables import (
    MAX_AMOUNT_CENTS,
    DateLike,
    StayWindow,
    Tables,
    as_int,
    as_key,
    as_maybe_key,
)


class Bookings:
    """Confirmed and cancelled stays."""

    def __init__(self, tables: Tables, window: StayWindow, catalogue: Catalogue) -> None:
        self._t = tables
        self._window = window
        self._catalogue = catalogue

    def create_booking(
        self,
        guest: str,
        hotel_id: str,
        room_type: str,
        check_in: DateLike,
        check_out: DateLike,
        hold_id: str | None = None,
        created_by: str | None = None,
        acting_agent: str | None = None,
    ) -> Booking:
        """Book a stay, consuming ``hold_id`` if given (it must match) or taking rooms now.

        ``created_by`` (default: the guest) and ``acting_agent`` record who asked, for reports.
        """
        guest = as_key(guest, "guest")
        created_by = as_maybe_key(created_by, "created_by") or guest
        acting_agent = as_maybe_key(acting_agent, "acting_agent")
        ci, co, nights = self._window.stay(check_in, check_out)
        with self._t.sql.transaction():
            room = self._catalogue.room(hotel_id, room_type)
            if hold_id is None:
                self._catalogue.take(hotel_id, room_type, ci, co)
            else:
                self._catalogue.consume_hold(hold_id, hotel_id, room_type, ci, co)
            rate = room.nightly_rate_cents
            b = Booking(
                id=self._t.new_id("bk-", "hotel_bookings"),
                guest=guest,
                hotel_id=hotel_id,
                room_type=room_type,
                check_in=ci,
                check_out=co,
                nights=nights,
                nightly_rate_cents=rate,
                total_cents=rate * nights,
                currency=room.currency,
                status="confirmed",
                paid_cents=0,
                created_by=created_by,
                acting_agent=acting_agent,
                hold_id=hold_id,
                created_at=self._t.now(),
            )
            self._t.insert("hotel_bookings", b)
        return b

    def booking(self, booking_id: str) -> Booking:
        return Booking.from_row(self._t.row("hotel_bookings", booking_id))

    def bookings_of(self, guest: str) -> list[Booking]:
        return self._t.many(
            Booking,
            "SELECT * FROM hotel_bookings WHERE guest = ? ORDER BY rowid",
            as_key(guest, "guest"),
        )

    def all_bookings(self) -> list[Booking]:
        return self._t.many(Booking, "SELECT * FROM hotel_bookings ORDER BY rowid")

    def change_dates(self, booking_id: str, check_in: DateLike, check_out: DateLike) -> Booking:
        """Move a stay: old nights go back and new nights are taken in one transaction."""
        ci, co, nights = self._window.stay(check_in, check_out)
        with self._t.sql.transaction():
            b = self.confirmed(booking_id)
            self._catalogue.give_back(b.hotel_id, b.room_type, b.check_in, b.check_out)
            # Raises Unavailable on a full night; the rollback puts the old nights back too.
            self._catalogue.take(b.hotel_id, b.room_type, ci, co)
            self._t.set(
                "hotel_bookings",
                booking_id,
                check_in=ci.isoformat(),
                check_out=co.isoformat(),
                nights=nights,
                total_cents=b.nightly_rate_cents * nights,
            )
        return self.booking(booking_id)

    def override_rate(self, booking_id: str, nightly_rate_cents: int) -> Booking:
        """Set a booking's nightly rate and total (a manager's power, checked by the service)."""
        rate = as_int(nightly_rate_cents, "nightly_rate_cents", 0, MAX_AMOUNT_CENTS)
        with self._t.sql.transaction():
            b = self.confirmed(booking_id)
            self._t.set(
                "hotel_bookings", booking_id, nightly_rate_cents=rate, total_cents=rate * b.nights
            )
        return self.booking(booking_id)

    def cancel(self, booking_id: str) -> Booking:
        """Cancel and give the nights back; payments stay captured until refunded."""
        with self._t.sql.transaction():
            b = self.confirmed(booking_id)
            self._catalogue.give_back(b.hotel_id, b.room_type, b.check_in, b.check_out)
            self._t.set("hotel_bookings", booking_id, status="cancelled")
        return self.booking(booking_id)

    # -- for the payments store ------------------------------------------------------------

    def confirmed(self, booking_id: str) -> Booking:
        """The booking, which must still be confirmed (not cancelled)."""
        b = self.booking(booking_id)
        if b.status != "confirmed":
            raise Conflict(f"booking {booking_id} is {b.status}")
        return b

    def set_paid(self, booking_id: str, paid_cents: int) -> None:
        """Record what has been paid on a booking, inside the payment's transaction."""
        self._t.set("hotel_bookings", booking_id, paid_cents=paid_cents)
