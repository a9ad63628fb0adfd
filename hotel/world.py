"""The hotel's business state: one facade over the four stores the services share.

The business is simulated, the storage is real: every operation reads or writes the
``hotel_*`` tables (:mod:`hotel.stores.schema`) through the SQL store the composition root
hands in (:class:`iam_core.resource_server.SQLStore`), and every write runs in one
``store.transaction()`` so a failed step leaves nothing half done. Each aggregate has its
own store — :class:`~hotel.stores.catalogue.Catalogue` (hotels, rooms, inventory, reviews,
holds), :class:`~hotel.stores.bookings.Bookings`, :class:`~hotel.stores.payments.Payments`
(cards, captures, refunds) and :class:`~hotel.stores.concierge.Concierge` (guests, staff,
requests) — and :class:`HotelWorld` puts their operations under one name, because the
services, the scenarios and the tests all speak of "the world".

This module holds no security logic at all — who may call what, ownership and amount caps
are the guard's and the services' job. Without IAM in front of it, any caller can do
anything here, which is exactly what the baseline runs need to show (docs/attacks.md).

Records and errors live in :mod:`hotel.stores.records` and are re-exported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

from hotel.stores.bookings import Bookings
from hotel.stores.catalogue import Catalogue
from hotel.stores.concierge import Concierge
from hotel.stores.payments import Payments
from hotel.stores.records import (
    Booking,
    ConciergeRequest,
    Conflict,
    GuestProfile,
    Hold,
    Hotel,
    Invalid,
    NotFound,
    Offer,
    Payment,
    PaymentMethod,
    Record,
    Review,
    RoomType,
    StaffMember,
    Unavailable,
    WorldError,
    WorldSnapshot,
)
from hotel.stores.schema import SCHEMA
from hotel.stores.seed import MIN_DAYS, Person, seed_world
from hotel.stores.tables import (
    MAX_AMOUNT_CENTS,
    MAX_NIGHTS,
    DateLike,
    StayWindow,
    Tables,
    as_int,
    timestamp,
)
from iam_core.resource_server import Clock, SQLStore, SystemClock

DEFAULT_START = date(2026, 12, 1)
DEFAULT_DAYS = 120

# Timestamps are left out so that two worlds given the same operations digest alike.
_DIGEST_QUERIES = (
    "SELECT hotel_id, room_type, night, available FROM hotel_inventory"
    " ORDER BY hotel_id, room_type, night",
    "SELECT id, description FROM hotel_hotels ORDER BY id",
    "SELECT id, hotel_id, author, text, rating FROM hotel_reviews ORDER BY id",
    "SELECT id, hotel_id, room_type, check_in, check_out, holder, status FROM hotel_holds"
    " ORDER BY id",
    "SELECT id, guest, hotel_id, room_type, check_in, check_out, nightly_rate_cents,"
    " total_cents, status, paid_cents, created_by, acting_agent FROM hotel_bookings ORDER BY id",
    "SELECT id, booking_id, amount_cents, refunded_cents, payment_method_id, status"
    " FROM hotel_payments ORDER BY id",
    "SELECT id, payment_id, amount_cents FROM hotel_refunds ORDER BY id",
    "SELECT id, guest, text, recipient, status, assigned_to FROM hotel_requests ORDER BY id",
)


class HotelWorld:
    """The business state the availability, booking, payment and concierge services share.

    The operations are the stores' own methods, bound here under the names the services
    use (``world.booking(...)``, ``world.charge(...)``); the stores share one
    :class:`~hotel.stores.tables.Tables`, so ids come from one reproducible sequence.
    """

    def __init__(self, store: SQLStore, *, clock: Clock | None = None) -> None:
        """Open the world already seeded into ``store`` (see :meth:`seeded`)."""
        store.ensure_schema(SCHEMA)
        meta = {row["key"]: row["value"] for row in store.all("SELECT * FROM hotel_meta")}
        if "seed" not in meta:
            raise NotFound("this store holds no hotel world; create one with HotelWorld.seeded")
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.seed = int(meta["seed"])
        self.start = date.fromisoformat(meta["start"])
        self.days = int(meta["days"])
        tables = Tables(store, self.clock, self.seed)
        window = StayWindow(self.start, self.days)
        self.catalogue = catalogue = Catalogue(tables, window)
        self.bookings = bookings = Bookings(tables, window, catalogue)
        self.payments = payments = Payments(tables, bookings)
        self.concierge = concierge = Concierge(tables)

        self.hotels = catalogue.hotels
        self.hotel = catalogue.hotel
        self.set_description = catalogue.set_description
        self.reviews = catalogue.reviews
        self.add_review = catalogue.add_review
        self.search = catalogue.search
        self.hold = catalogue.hold
        self.get_hold = catalogue.get_hold
        self.release = catalogue.release
        self.active_holds = catalogue.active_holds

        self.create_booking = bookings.create_booking
        self.booking = bookings.booking
        self.bookings_of = bookings.bookings_of
        self.all_bookings = bookings.all_bookings
        self.change_dates = bookings.change_dates
        self.override_rate = bookings.override_rate
        self.cancel = bookings.cancel

        self.payment_methods = payments.payment_methods
        self.charge = payments.charge
        self.payment = payments.payment
        self.payments_of = payments.payments_of
        self.refund = payments.refund
        self.ledger_total = payments.ledger_total

        self.guests = concierge.guests
        self.guest_profile = concierge.guest_profile
        self.staff = concierge.staff
        self.create_request = concierge.create_request
        self.request = concierge.request
        self.requests = concierge.requests
        self.assign = concierge.assign

    @classmethod
    def seeded(
        cls,
        store: SQLStore,
        *,
        people: Sequence[Person],
        seed: int = 0,
        start: date = DEFAULT_START,
        days: int = DEFAULT_DAYS,
        extra_hotels: int = 2,
        guest_ids: Sequence[str] | None = None,
        extra_guests: int = 3,
        extra_staff: int = 3,
        clock: Clock | None = None,
    ) -> HotelWorld:
        """Seed a world into ``store``, or open the one already there if it has the same seed.

        ``people`` are the guests and staff the hotel knows, handed in by the composition
        root (``alice`` and ``bob`` must be among the guests). ``guest_ids`` lets a
        deployment give faker profiles to the IAM's other guest users; without it,
        ``extra_guests`` faker guests are made up.
        """
        as_int(days, "days", MIN_DAYS, 366)
        store.ensure_schema(SCHEMA)
        with store.transaction() as conn:
            if store.one("SELECT 1 FROM hotel_meta WHERE key = 'seed'") is None:
                seed_world(
                    conn,
                    people=people,
                    seed=seed,
                    start=start,
                    days=days,
                    extra_hotels=extra_hotels,
                    guest_ids=guest_ids,
                    extra_guests=extra_guests,
                    extra_staff=extra_staff,
                    now=timestamp(clock or SystemClock()),
                )
        world = cls(store, clock=clock)
        if (world.seed, world.start, world.days) != (seed, start, days):
            raise Invalid("this store already holds a hotel world with another seed or window")
        return world

    # -- state checks --------------------------------------------------------------------

    def snapshot(self, *, digest: bool = True) -> WorldSnapshot:
        """Counts and totals now, for asserting that an attack changed nothing; with
        ``digest``, a hash of every row too (most of the cost: counters alone skip it)."""
        with self.store.transaction():  # one consistent read across all the tables
            rows = hashlib.sha256()
            for sql in _DIGEST_QUERIES if digest else ():
                for row in self.store.all(sql):
                    rows.update(repr(tuple(row)).encode())
                rows.update(b"\x00")
            c = self._count
            captured = c("SELECT SUM(amount_cents) FROM hotel_payments")
            refunded = c("SELECT SUM(refunded_cents) FROM hotel_payments")
            return WorldSnapshot(
                bookings=c("SELECT COUNT(*) FROM hotel_bookings"),
                confirmed_bookings=c(
                    "SELECT COUNT(*) FROM hotel_bookings WHERE status = 'confirmed'"
                ),
                payments=c("SELECT COUNT(*) FROM hotel_payments"),
                captured_cents=captured,
                refunded_cents=refunded,
                money_moved_cents=captured - refunded,
                requests=c("SELECT COUNT(*) FROM hotel_requests"),
                open_requests=c("SELECT COUNT(*) FROM hotel_requests WHERE status = 'open'"),
                active_holds=c("SELECT COUNT(*) FROM hotel_holds WHERE status = 'held'"),
                rooms_available=c("SELECT SUM(available) FROM hotel_inventory"),
                reviews=c("SELECT COUNT(*) FROM hotel_reviews"),
                digest=rows.hexdigest() if digest else "",
            )

    def _count(self, sql: str) -> int:
        row = self.store.one(sql)
        return int(row[0]) if row is not None and row[0] is not None else 0


__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_START",
    "MAX_AMOUNT_CENTS",
    "MAX_NIGHTS",
    "Booking",
    "ConciergeRequest",
    "Conflict",
    "DateLike",
    "GuestProfile",
    "Hold",
    "Hotel",
    "HotelWorld",
    "Invalid",
    "NotFound",
    "Offer",
    "Payment",
    "PaymentMethod",
    "Person",
    "Record",
    "Review",
    "RoomType",
    "StaffMember",
    "Unavailable",
    "WorldError",
    "WorldSnapshot",
]
