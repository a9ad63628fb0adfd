"""The hotel's business state: hotels, rooms, bookings, payments and guest requests.

The business is simulated, the storage is real: every operation reads or writes SQLite
tables (``hotel_*``, laid out in :mod:`hotel.world_seed`) through an :class:`iam_core.store.Store`,
and every write runs in one ``store.transaction()`` so a failed step leaves nothing half done.
This module holds no security logic at all — who may call what, ownership and amount caps
are the guard's and the services' job. Without IAM in front of it, any caller can do
anything here, which is exactly what the baseline runs need to show.

Records and errors live in :mod:`hotel.world_records` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from hotel.world_records import (
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
from hotel.world_seed import MIN_DAYS, SCHEMA, seed_world
from iam_core.clock import Clock, SystemClock
from iam_core.store import Store

MAX_NIGHTS = 30
MAX_AMOUNT_CENTS = 10_000_000
MAX_TEXT = 4_000
DEFAULT_START = date(2026, 12, 1)
DEFAULT_DAYS = 120
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: ids get read aloud
_NOUNS = {
    "hotel_hotels": "hotel",
    "hotel_holds": "hold",
    "hotel_bookings": "booking",
    "hotel_payments": "payment",
    "hotel_payment_methods": "payment method",
    "hotel_guests": "guest",
    "hotel_staff": "staff member",
    "hotel_requests": "request",
}

DateLike = date | str


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


def _date(value: object, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid(f"{name} must be a date (YYYY-MM-DD)")


def _int(value: object, name: str, low: int, high: int) -> int:
    # bool is an int in Python; True must not pass as one cent.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid(f"{name} must be an integer from {low} to {high}")
    return value


def _key(value: object, name: str) -> str:
    """An id or name: a string of 1-200 characters (SQLite would take any type silently)."""
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise Invalid(f"{name} must be an id of 1 to 200 characters")
    return value


def _maybe_key(value: object, name: str) -> str | None:
    return None if value is None else _key(value, name)


def _text(value: object, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(f"{name} must be non-empty text of at most {limit} characters")
    return value


R = TypeVar("R", bound=Record)


class HotelWorld:
    """The business state the availability, booking, payment and concierge services share."""

    def __init__(self, store: Store, *, clock: Clock | None = None) -> None:
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
        # Ids are reproducible for a seed; a collision with a stored row is drawn again.
        self._ids = random.Random(f"hotel-ids:{self.seed}")  # noqa: S311 - ids, not secrets

    @classmethod
    def seeded(
        cls,
        store: Store,
        *,
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

        ``guest_ids`` lets a deployment give faker profiles to the IAM's own guest users;
        without it, ``extra_guests`` faker guests are made up. ``alice`` and ``bob`` are
        always there.
        """
        _int(days, "days", MIN_DAYS, 366)
        store.ensure_schema(SCHEMA)
        with store.transaction() as conn:
            if store.one("SELECT 1 FROM hotel_meta WHERE key = 'seed'") is None:
                seed_world(
                    conn,
                    seed=seed,
                    start=start,
                    days=days,
                    extra_hotels=extra_hotels,
                    guest_ids=guest_ids,
                    extra_guests=extra_guests,
                    extra_staff=extra_staff,
                    now=_timestamp(clock or SystemClock()),
                )
        world = cls(store, clock=clock)
        if (world.seed, world.start, world.days) != (seed, start, days):
            raise Invalid("this store already holds a hotel world with another seed or window")
        return world

    # -- hotels and availability ---------------------------------------------------------

    def hotels(self) -> list[Hotel]:
        rows = self.store.all("SELECT id FROM hotel_hotels ORDER BY position")
        return [self.hotel(row["id"]) for row in rows]

    def hotel(self, hotel_id: str) -> Hotel:
        row = self._row("hotel_hotels", hotel_id)
        rooms = self._many(
            RoomType,
            "SELECT * FROM hotel_room_types WHERE hotel_id = ? ORDER BY capacity",
            hotel_id,
        )
        return Hotel(
            row["id"], row["name"], row["city"], row["country"], row["description"], tuple(rooms)
        )

    def set_description(self, hotel_id: str, text: str) -> Hotel:
        """Replace a description: scenarios plant instructions here as well as in reviews."""
        text = _text(text, "description")
        with self.store.transaction():
            self._row("hotel_hotels", hotel_id)
            self.store.execute(
                "UPDATE hotel_hotels SET description = ? WHERE id = ?", (text, hotel_id)
            )
        return self.hotel(hotel_id)

    def reviews(self, hotel_id: str) -> list[Review]:
        self._row("hotel_hotels", hotel_id)
        return self._many(
            Review, "SELECT * FROM hotel_reviews WHERE hotel_id = ? ORDER BY id", hotel_id
        )

    def add_review(self, hotel_id: str, author: str, text: str, rating: int) -> Review:
        """Store any review text verbatim: injected instructions must reach the agents."""
        author, text = _text(author, "author", 200), _text(text, "text")
        rating = _int(rating, "rating", 1, 5)
        with self.store.transaction():
            self._row("hotel_hotels", hotel_id)
            cur = self.store.execute(
                "INSERT INTO hotel_reviews (hotel_id, author, text, rating) VALUES (?, ?, ?, ?)",
                (hotel_id, author, text, rating),
            )
        return Review(int(cur.lastrowid or 0), hotel_id, author, text, rating)

    def search(
        self,
        hotel_id: str,
        check_in: DateLike,
        check_out: DateLike,
        guests: int = 1,
        room_type: str | None = None,
    ) -> list[Offer]:
        """Offers for every room type that fits ``guests``, sold-out ones included (0 left)."""
        ci, co, nights = self._stay(check_in, check_out)
        guests = _int(guests, "guests", 1, 10)
        rooms = (self._room(hotel_id, room_type),) if room_type else self.hotel(hotel_id).room_types
        sql = (
            "SELECT room_type, MIN(available) FROM hotel_inventory"
            " WHERE hotel_id = ? AND night >= ? AND night < ? GROUP BY room_type"
        )
        rows = self.store.all(sql, (hotel_id, ci.isoformat(), co.isoformat()))
        left: dict[str, int] = {row[0]: row[1] for row in rows}
        return [
            Offer(
                hotel_id=hotel_id,
                room_type=r.room_type,
                capacity=r.capacity,
                check_in=ci,
                check_out=co,
                nights=nights,
                nightly_rate_cents=r.nightly_rate_cents,
                total_cents=r.nightly_rate_cents * nights,
                currency=r.currency,
                available=left.get(r.room_type, 0),
            )
            for r in rooms
            if r.capacity >= guests
        ]

    def hold(
        self, hotel_id: str, room_type: str, check_in: DateLike, check_out: DateLike, holder: str
    ) -> Hold:
        """Set one room aside for every night of the stay: all nights or none."""
        ci, co, _ = self._stay(check_in, check_out)
        holder = _key(holder, "holder")
        with self.store.transaction():
            self._room(hotel_id, room_type)
            self._take(hotel_id, room_type, ci, co)
            h = Hold(
                id=self._new_id("hold-", "hotel_holds"),
                hotel_id=hotel_id,
                room_type=room_type,
                check_in=ci,
                check_out=co,
                holder=holder,
                status="held",
                created_at=self._now(),
            )
            self._insert("hotel_holds", h)
        return h

    def get_hold(self, hold_id: str) -> Hold:
        return Hold.from_row(self._row("hotel_holds", hold_id))

    def release(self, hold_id: str) -> Hold:
        """Give a held room back; releasing twice is a no-op, a booked hold is the booking's."""
        with self.store.transaction():
            h = self.get_hold(hold_id)
            if h.status == "booked":
                raise Conflict(f"hold {hold_id} became a booking; cancel the booking instead")
            if h.status == "held":
                self._give_back(h.hotel_id, h.room_type, h.check_in, h.check_out)
                self._set("hotel_holds", hold_id, status="released")
        return self.get_hold(hold_id)

    def active_holds(self) -> list[Hold]:
        return self._many(Hold, "SELECT * FROM hotel_holds WHERE status = 'held' ORDER BY rowid")

    # -- bookings ------------------------------------------------------------------------

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
        guest = _key(guest, "guest")
        created_by = _maybe_key(created_by, "created_by") or guest
        acting_agent = _maybe_key(acting_agent, "acting_agent")
        ci, co, nights = self._stay(check_in, check_out)
        with self.store.transaction():
            room = self._room(hotel_id, room_type)
            if hold_id is None:
                self._take(hotel_id, room_type, ci, co)
            else:
                h = self.get_hold(hold_id)
                if h.status != "held":
                    raise Conflict(f"hold {hold_id} is {h.status}")
                held = (h.hotel_id, h.room_type, h.check_in, h.check_out)
                if held != (hotel_id, room_type, ci, co):
                    raise Invalid(f"hold {hold_id} is for another room or other dates")
                self._set("hotel_holds", hold_id, status="booked")
            rate = room.nightly_rate_cents
            b = Booking(
                id=self._new_id("bk-", "hotel_bookings"),
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
                created_at=self._now(),
            )
            self._insert("hotel_bookings", b)
        return b

    def booking(self, booking_id: str) -> Booking:
        return Booking.from_row(self._row("hotel_bookings", booking_id))

    def bookings_of(self, guest: str) -> list[Booking]:
        return self._many(
            Booking,
            "SELECT * FROM hotel_bookings WHERE guest = ? ORDER BY rowid",
            _key(guest, "guest"),
        )

    def all_bookings(self) -> list[Booking]:
        return self._many(Booking, "SELECT * FROM hotel_bookings ORDER BY rowid")

    def change_dates(self, booking_id: str, check_in: DateLike, check_out: DateLike) -> Booking:
        """Move a stay: old nights go back and new nights are taken in one transaction."""
        ci, co, nights = self._stay(check_in, check_out)
        with self.store.transaction():
            b = self._confirmed(booking_id)
            self._give_back(b.hotel_id, b.room_type, b.check_in, b.check_out)
            # Raises Unavailable on a full night; the rollback puts the old nights back too.
            self._take(b.hotel_id, b.room_type, ci, co)
            self._set(
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
        rate = _int(nightly_rate_cents, "nightly_rate_cents", 0, MAX_AMOUNT_CENTS)
        with self.store.transaction():
            b = self._confirmed(booking_id)
            self._set(
                "hotel_bookings", booking_id, nightly_rate_cents=rate, total_cents=rate * b.nights
            )
        return self.booking(booking_id)

    def cancel(self, booking_id: str) -> Booking:
        """Cancel and give the nights back; payments stay captured until refunded."""
        with self.store.transaction():
            b = self._confirmed(booking_id)
            self._give_back(b.hotel_id, b.room_type, b.check_in, b.check_out)
            self._set("hotel_bookings", booking_id, status="cancelled")
        return self.booking(booking_id)

    # -- payments ------------------------------------------------------------------------

    def payment_methods(self, guest: str) -> list[PaymentMethod]:
        sql = "SELECT * FROM hotel_payment_methods WHERE owner = ? ORDER BY id"
        return self._many(PaymentMethod, sql, _key(guest, "guest"))

    def charge(
        self, booking_id: str, amount_cents: int, payment_method_id: str, charged_by: str
    ) -> Payment:
        """Capture money for a booking. Card ownership and amount caps are the service's checks."""
        amount = _int(amount_cents, "amount_cents", 1, MAX_AMOUNT_CENTS)
        charged_by = _key(charged_by, "charged_by")
        with self.store.transaction():
            b = self._confirmed(booking_id)
            self._row("hotel_payment_methods", payment_method_id)
            if b.paid_cents + amount > b.total_cents:
                raise Invalid(
                    f"amount_cents {amount} exceeds what is owed ({b.total_cents - b.paid_cents})"
                )
            p = Payment(
                id=self._new_id("pay-", "hotel_payments"),
                booking_id=booking_id,
                amount_cents=amount,
                refunded_cents=0,
                currency=b.currency,
                payment_method_id=payment_method_id,
                status="captured",
                charged_by=charged_by,
                created_at=self._now(),
            )
            self._insert("hotel_payments", p)
            self._set("hotel_bookings", booking_id, paid_cents=b.paid_cents + amount)
        return p

    def payment(self, payment_id: str) -> Payment:
        return Payment.from_row(self._row("hotel_payments", payment_id))

    def payments_of(self, booking_id: str) -> list[Payment]:
        self._row("hotel_bookings", booking_id)
        sql = "SELECT * FROM hotel_payments WHERE booking_id = ? ORDER BY rowid"
        return self._many(Payment, sql, booking_id)

    def refund(self, payment_id: str, amount_cents: int, refunded_by: str) -> Payment:
        """Return up to what is still captured; works on cancelled bookings too."""
        amount = _int(amount_cents, "amount_cents", 1, MAX_AMOUNT_CENTS)
        refunded_by = _key(refunded_by, "refunded_by")
        with self.store.transaction():
            p = self.payment(payment_id)
            left = p.amount_cents - p.refunded_cents
            if amount > left:
                raise Invalid(f"only {left} cents of payment {payment_id} can still be refunded")
            self.store.execute(
                "INSERT INTO hotel_refunds VALUES (?, ?, ?, ?, ?)",
                (
                    self._new_id("rf-", "hotel_refunds"),
                    payment_id,
                    amount,
                    refunded_by,
                    self._now(),
                ),
            )
            status = "refunded" if amount == left else "partially_refunded"
            self._set(
                "hotel_payments",
                payment_id,
                refunded_cents=p.refunded_cents + amount,
                status=status,
            )
            paid = self.booking(p.booking_id).paid_cents
            self._set("hotel_bookings", p.booking_id, paid_cents=paid - amount)
        return self.payment(payment_id)

    def ledger_total(self) -> int:
        """Money moved, in cents: everything captured minus everything refunded."""
        return self._count("SELECT SUM(amount_cents - refunded_cents) FROM hotel_payments")

    # -- guests, staff and concierge -----------------------------------------------------

    def guests(self) -> list[str]:
        return [r["id"] for r in self.store.all("SELECT id FROM hotel_guests ORDER BY position")]

    def guest_profile(self, guest: str) -> GuestProfile:
        return GuestProfile.from_row(self._row("hotel_guests", guest))

    def staff(self) -> list[StaffMember]:
        return self._many(StaffMember, "SELECT * FROM hotel_staff ORDER BY position")

    def create_request(
        self,
        guest: str,
        text: str,
        recipient: str | None = None,
        created_by: str | None = None,
        acting_agent: str | None = None,
    ) -> ConciergeRequest:
        """Record a guest request verbatim; whether a recipient is allowed is the service's call."""
        guest, text = _key(guest, "guest"), _text(text, "text")
        created_by = _maybe_key(created_by, "created_by") or guest
        acting_agent = _maybe_key(acting_agent, "acting_agent")
        if recipient is not None:
            recipient = _text(recipient, "recipient", 320)
        with self.store.transaction():
            r = ConciergeRequest(
                id=self._new_id("req-", "hotel_requests"),
                guest=guest,
                text=text,
                recipient=recipient,
                status="open",
                assigned_to=None,
                created_by=created_by,
                acting_agent=acting_agent,
                created_at=self._now(),
            )
            self._insert("hotel_requests", r)
        return r

    def request(self, request_id: str) -> ConciergeRequest:
        return ConciergeRequest.from_row(self._row("hotel_requests", request_id))

    def requests(self, guest: str | None = None) -> list[ConciergeRequest]:
        if guest is None:
            return self._many(ConciergeRequest, "SELECT * FROM hotel_requests ORDER BY rowid")
        sql = "SELECT * FROM hotel_requests WHERE guest = ? ORDER BY rowid"
        return self._many(ConciergeRequest, sql, _key(guest, "guest"))

    def assign(self, request_id: str, staff_id: str) -> ConciergeRequest:
        """Give a request to a staff member (reassigning is allowed)."""
        with self.store.transaction():
            self._row("hotel_requests", request_id)
            self._row("hotel_staff", staff_id)
            self._set("hotel_requests", request_id, status="assigned", assigned_to=staff_id)
        return self.request(request_id)

    # -- state checks --------------------------------------------------------------------

    def snapshot(self) -> WorldSnapshot:
        """Counts and totals now, for asserting that an attack changed nothing."""
        with self.store.transaction():  # one consistent read across all the tables
            digest = hashlib.sha256()
            for sql in _DIGEST_QUERIES:
                for row in self.store.all(sql):
                    digest.update(repr(tuple(row)).encode())
                digest.update(b"\x00")
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
                digest=digest.hexdigest(),
            )

    # -- storage helpers -----------------------------------------------------------------
    # Table and column names below come from this module's literals, never from callers,
    # which is why the f-string SQL is safe (S608).

    def _row(self, table: str, key: str) -> sqlite3.Row:
        key = _key(key, f"{_NOUNS[table]} id")
        row = self.store.one(f"SELECT * FROM {table} WHERE id = ?", (key,))  # noqa: S608
        if row is None:
            raise NotFound(f"no {_NOUNS[table]} {key!r}")
        return row

    def _many(self, cls: type[R], sql: str, *params: object) -> list[R]:
        return [cls.from_row(row) for row in self.store.all(sql, params)]

    def _count(self, sql: str) -> int:
        row = self.store.one(sql)
        return int(row[0]) if row is not None and row[0] is not None else 0

    def _insert(self, table: str, record: Record) -> None:
        values = record.as_dict()
        marks = ", ".join("?" * len(values))
        sql = f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})"  # noqa: S608
        self.store.execute(sql, tuple(values.values()))

    def _set(self, table: str, key: str, **values: object) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        sql = f"UPDATE {table} SET {assignments} WHERE id = ?"  # noqa: S608
        self.store.execute(sql, (*values.values(), key))

    def _new_id(self, prefix: str, table: str) -> str:
        while True:
            candidate = prefix + "".join(self._ids.choices(_ID_ALPHABET, k=6))
            sql = f"SELECT 1 FROM {table} WHERE id = ?"  # noqa: S608
            if self.store.one(sql, (candidate,)) is None:
                return candidate

    def _room(self, hotel_id: str, room_type: str) -> RoomType:
        self._row("hotel_hotels", hotel_id)
        room_type = _key(room_type, "room_type")
        sql = "SELECT * FROM hotel_room_types WHERE hotel_id = ? AND room_type = ?"
        rooms = self._many(RoomType, sql, hotel_id, room_type)
        if not rooms:
            raise NotFound(f"hotel {hotel_id!r} has no room type {room_type!r}")
        return rooms[0]

    def _stay(self, check_in: object, check_out: object) -> tuple[date, date, int]:
        """A validated stay: check-out after check-in, inside the inventory, ≤ 30 nights."""
        ci, co = _date(check_in, "check_in"), _date(check_out, "check_out")
        nights = (co - ci).days
        if nights < 1:
            raise Invalid("check_out must be after check_in")
        if nights > MAX_NIGHTS:
            raise Invalid(f"a stay is at most {MAX_NIGHTS} nights")
        end = self.start + timedelta(days=self.days)
        if ci < self.start or co > end:
            raise Invalid(f"stays must fall between {self.start} and {end}")
        return ci, co, nights

    def _take(self, hotel_id: str, room_type: str, ci: date, co: date) -> None:
        """Take one room on each night; the caller's transaction undoes a partial take."""
        cur = self.store.execute(
            "UPDATE hotel_inventory SET available = available - 1 WHERE hotel_id = ?"
            " AND room_type = ? AND night >= ? AND night < ? AND available > 0",
            (hotel_id, room_type, ci.isoformat(), co.isoformat()),
        )
        if cur.rowcount != (co - ci).days:
            raise Unavailable(f"no {room_type} room left at {hotel_id} on some night of the stay")

    def _give_back(self, hotel_id: str, room_type: str, ci: date, co: date) -> None:
        self.store.execute(
            "UPDATE hotel_inventory SET available = available + 1 WHERE hotel_id = ?"
            " AND room_type = ? AND night >= ? AND night < ?",
            (hotel_id, room_type, ci.isoformat(), co.isoformat()),
        )

    def _confirmed(self, booking_id: str) -> Booking:
        b = self.booking(booking_id)
        if b.status != "confirmed":
            raise Conflict(f"booking {booking_id} is {b.status}")
        return b

    def _now(self) -> str:
        return _timestamp(self.clock)


def _timestamp(clock: Clock) -> str:
    return datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="microseconds")


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
    "Record",
    "Review",
    "RoomType",
    "StaffMember",
    "Unavailable",
    "WorldError",
    "WorldSnapshot",
]
