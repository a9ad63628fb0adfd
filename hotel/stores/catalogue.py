"""The catalogue: hotels, room types, nightly inventory, reviews and holds.

The availability service's data. Bookings draw on the same inventory through
:meth:`Catalogue.take` and :meth:`Catalogue.give_back`, always inside their own transaction
so that a stay takes all of its nights or none. Descriptions and reviews are stored
verbatim: planted instructions must reach the agents (docs/attacks.md).
"""

from __future__ import annotations

from datetime import date

from hotel.stores.records import (
    Conflict,
    Hold,
    Hotel,
    Invalid,
    NotFound,
    Offer,
    Review,
    RoomType,
    Unavailable,
)
from hotel.stores.tables import DateLike, StayWindow, Tables, as_int, as_key, as_text


class Catalogue:
    """Hotels and what they have left to sell, night by night."""

    def __init__(self, tables: Tables, window: StayWindow) -> None:
        self._t = tables
        self._window = window

    # -- hotels and reviews --------------------------------------------------------------

    def hotels(self) -> list[Hotel]:
        rows = self._t.sql.all("SELECT id FROM hotel_hotels ORDER BY position")
        return [self.hotel(row["id"]) for row in rows]

    def hotel(self, hotel_id: str) -> Hotel:
        row = self._t.row("hotel_hotels", hotel_id)
        rooms = self._t.many(
            RoomType,
            "SELECT * FROM hotel_room_types WHERE hotel_id = ? ORDER BY capacity",
            hotel_id,
        )
        return Hotel(
            row["id"], row["name"], row["city"], row["country"], row["description"], tuple(rooms)
        )

    def set_description(self, hotel_id: str, text: str) -> Hotel:
        """Replace a description: scenarios plant instructions here as well as in reviews."""
        text = as_text(text, "description")
        with self._t.sql.transaction():
            self._t.row("hotel_hotels", hotel_id)
            self._t.sql.execute(
                "UPDATE hotel_hotels SET description = ? WHERE id = ?", (text, hotel_id)
            )
        return self.hotel(hotel_id)

    def reviews(self, hotel_id: str) -> list[Review]:
        self._t.row("hotel_hotels", hotel_id)
        return self._t.many(
            Review, "SELECT * FROM hotel_reviews WHERE hotel_id = ? ORDER BY id", hotel_id
        )

    def add_review(self, hotel_id: str, author: str, text: str, rating: int) -> Review:
        """Store any review text verbatim: injected instructions must reach the agents."""
        author, text = as_text(author, "author", 200), as_text(text, "text")
        rating = as_int(rating, "rating", 1, 5)
        with self._t.sql.transaction():
            self._t.row("hotel_hotels", hotel_id)
            row = self._t.sql.one(
                "INSERT INTO hotel_reviews (hotel_id, author, text, rating) VALUES (?, ?, ?, ?)"
                " RETURNING id",
                (hotel_id, author, text, rating),
            )
        return Review(int(row[0]) if row else 0, hotel_id, author, text, rating)

    # -- availability ----------------------------------------------------------------------

    def search(
        self,
        hotel_id: str,
        check_in: DateLike,
        check_out: DateLike,
        guests: int = 1,
        room_type: str | None = None,
    ) -> list[Offer]:
        """Offers for every room type that fits ``guests``, sold-out ones included (0 left)."""
        ci, co, nights = self._window.stay(check_in, check_out)
        guests = as_int(guests, "guests", 1, 10)
        rooms = (self.room(hotel_id, room_type),) if room_type else self.hotel(hotel_id).room_types
        sql = (
            "SELECT room_type, MIN(available) FROM hotel_inventory"
            " WHERE hotel_id = ? AND night >= ? AND night < ? GROUP BY room_type"
        )
        rows = self._t.sql.all(sql, (hotel_id, ci.isoformat(), co.isoformat()))
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

    def room(self, hotel_id: str, room_type: str) -> RoomType:
        self._t.row("hotel_hotels", hotel_id)
        room_type = as_key(room_type, "room_type")
        sql = "SELECT * FROM hotel_room_types WHERE hotel_id = ? AND room_type = ?"
        rooms = self._t.many(RoomType, sql, hotel_id, room_type)
        if not rooms:
            raise NotFound(f"hotel {hotel_id!r} has no room type {room_type!r}")
        return rooms[0]

    def take(self, hotel_id: str, room_type: str, ci: date, co: date) -> None:
        """Take one room on each night; the caller's transaction undoes a partial take."""
        cur = self._t.sql.execute(
            "UPDATE hotel_inventory SET available = available - 1 WHERE hotel_id = ?"
            " AND room_type = ? AND night >= ? AND night < ? AND available > 0",
            (hotel_id, room_type, ci.isoformat(), co.isoformat()),
        )
        if cur.rowcount != (co - ci).days:
            raise Unavailable(f"no {room_type} room left at {hotel_id} on some night of the stay")

    def give_back(self, hotel_id: str, room_type: str, ci: date, co: date) -> None:
        self._t.sql.execute(
            "UPDATE hotel_inventory SET available = available + 1 WHERE hotel_id = ?"
            " AND room_type = ? AND night >= ? AND night < ?",
            (hotel_id, room_type, ci.isoformat(), co.isoformat()),
        )

    # -- holds -----------------------------------------------------------------------------

    def hold(
        self, hotel_id: str, room_type: str, check_in: DateLike, check_out: DateLike, holder: str
    ) -> Hold:
        """Set one room aside for every night of the stay: all nights or none."""
        ci, co, _ = self._window.stay(check_in, check_out)
        holder = as_key(holder, "holder")
        with self._t.sql.transaction():
            self.room(hotel_id, room_type)
            self.take(hotel_id, room_type, ci, co)
            h = Hold(
                id=self._t.new_id("hold-", "hotel_holds"),
                hotel_id=hotel_id,
                room_type=room_type,
                check_in=ci,
                check_out=co,
                holder=holder,
                status="held",
                created_at=self._t.now(),
            )
            self._t.insert("hotel_holds", h)
        return h

    def get_hold(self, hold_id: str) -> Hold:
        return Hold.from_row(self._t.row("hotel_holds", hold_id))

    def release(self, hold_id: str) -> Hold:
        """Give a held room back; releasing twice is a no-op, a booked hold is the booking's."""
        with self._t.sql.transaction():
            h = self.get_hold(hold_id)
            if h.status == "booked":
                raise Conflict(f"hold {hold_id} became a booking; cancel the booking instead")
            if h.status == "held":
                self.give_back(h.hotel_id, h.room_type, h.check_in, h.check_out)
                self._t.set("hotel_holds", hold_id, status="released")
        return self.get_hold(hold_id)

    def active_holds(self) -> list[Hold]:
        return self._t.many(Hold, "SELECT * FROM hotel_holds WHERE status = 'held' ORDER BY rowid")

    def consume_hold(
        self, hold_id: str, hotel_id: str, room_type: str, check_in: date, check_out: date
    ) -> None:
        """Turn a hold into a booking's rooms: it must be live and for exactly this stay."""
        h = self.get_hold(hold_id)
        if h.status != "held":
            raise Conflict(f"hold {hold_id} is {h.status}")
        held = (h.hotel_id, h.room_type, h.check_in, h.check_out)
        if held != (hotel_id, room_type, check_in, check_out):
            raise Invalid(f"hold {hold_id} is for another room or other dates")
        self._t.set("hotel_holds", hold_id, status="booked")
