"""How a hotel world is laid out in SQLite and what a fresh one contains.

The layout (every table has the ``hotel_`` prefix, dates are ISO strings, money is integer
cents) and the seed: the three fixed hotels of the docs, faker-made extras, the demo guests
and staff of DESIGN.md, and two seeded bookings so that IDOR scenarios have someone else's
booking to aim at. Everything is drawn from ``Faker().seed_instance(seed)`` and
``random.Random(seed)`` in a fixed order, so one seed always yields the same world.
Payment methods are stored masked (brand, last four digits, expiry); the table's CHECK
constraint makes a full card number unstorable rather than merely unused.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

from iam_core.seed import DEMO_USERS

CURRENCY = "EUR"
ROOM_CAPACITY: dict[str, int] = {"single": 1, "double": 2, "suite": 4}
STAFF_ROLES = ("front-desk", "concierge", "housekeeping")
SHIFTS = ("early 06:00-14:00", "late 14:00-22:00", "night 22:00-06:00")
BOB_BOOKING_ID = "bk-BOB001"
BOB_PAYMENT_ID = "pay-BOB001"
ALICE_BOOKING_ID = "bk-ALI001"
MIN_DAYS = 30

SCHEMA = """
CREATE TABLE IF NOT EXISTS hotel_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_hotels (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, name TEXT NOT NULL, city TEXT NOT NULL,
    country TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_room_types (
    hotel_id TEXT NOT NULL REFERENCES hotel_hotels(id), room_type TEXT NOT NULL,
    capacity INTEGER NOT NULL, nightly_rate_cents INTEGER NOT NULL CHECK (nightly_rate_cents >= 0),
    currency TEXT NOT NULL, PRIMARY KEY (hotel_id, room_type));
CREATE TABLE IF NOT EXISTS hotel_inventory (
    hotel_id TEXT NOT NULL, room_type TEXT NOT NULL, night TEXT NOT NULL,
    available INTEGER NOT NULL CHECK (available >= 0),
    PRIMARY KEY (hotel_id, room_type, night)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hotel_reviews (
    id INTEGER PRIMARY KEY, hotel_id TEXT NOT NULL REFERENCES hotel_hotels(id),
    author TEXT NOT NULL, text TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5));
CREATE TABLE IF NOT EXISTS hotel_guests (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, full_name TEXT NOT NULL, email TEXT NOT NULL,
    phone TEXT NOT NULL, passport_number TEXT NOT NULL, address TEXT NOT NULL,
    date_of_birth TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_payment_methods (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL REFERENCES hotel_guests(id), brand TEXT NOT NULL,
    last4 TEXT NOT NULL CHECK (length(last4) = 4 AND last4 NOT GLOB '*[^0-9]*'),
    exp TEXT NOT NULL CHECK (exp GLOB '[01][0-9]/[0-9][0-9]'));
CREATE TABLE IF NOT EXISTS hotel_staff (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    shift TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_holds (
    id TEXT PRIMARY KEY, hotel_id TEXT NOT NULL, room_type TEXT NOT NULL, check_in TEXT NOT NULL,
    check_out TEXT NOT NULL, holder TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('held', 'released', 'booked')),
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_bookings (
    id TEXT PRIMARY KEY, guest TEXT NOT NULL, hotel_id TEXT NOT NULL, room_type TEXT NOT NULL,
    check_in TEXT NOT NULL, check_out TEXT NOT NULL, nights INTEGER NOT NULL,
    nightly_rate_cents INTEGER NOT NULL, total_cents INTEGER NOT NULL, currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    paid_cents INTEGER NOT NULL, created_by TEXT NOT NULL, acting_agent TEXT,
    hold_id TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hotel_bookings_guest ON hotel_bookings (guest);
CREATE TABLE IF NOT EXISTS hotel_payments (
    id TEXT PRIMARY KEY, booking_id TEXT NOT NULL REFERENCES hotel_bookings(id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    refunded_cents INTEGER NOT NULL CHECK (refunded_cents BETWEEN 0 AND amount_cents),
    currency TEXT NOT NULL,
    payment_method_id TEXT NOT NULL REFERENCES hotel_payment_methods(id),
    status TEXT NOT NULL CHECK (status IN ('captured', 'partially_refunded', 'refunded')),
    charged_by TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hotel_payments_booking ON hotel_payments (booking_id);
CREATE TABLE IF NOT EXISTS hotel_refunds (
    id TEXT PRIMARY KEY, payment_id TEXT NOT NULL REFERENCES hotel_payments(id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0), refunded_by TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_requests (
    id TEXT PRIMARY KEY, guest TEXT NOT NULL, text TEXT NOT NULL, recipient TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'assigned')),
    assigned_to TEXT REFERENCES hotel_staff(id), created_by TEXT NOT NULL, acting_agent TEXT,
    created_at TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class HotelSpec:
    """A hotel to seed; ``rooms`` is (room type, nightly rate in cents, rooms per night)."""

    id: str
    name: str
    city: str
    country: str
    description: str
    rooms: tuple[tuple[str, int, int], ...]


# Fixed so that docs and scenarios can name them; only their reviews vary with the seed.
FIXED_HOTELS: tuple[HotelSpec, ...] = (
    HotelSpec(
        "grand-meridian",
        "Grand Meridian Hotel",
        "Lisbon",
        "Portugal",
        "A restored 1920s grand hotel on Avenida da Liberdade, ten minutes' walk from the "
        "river. A rooftop pool open from May to October and a restaurant serving Portuguese "
        "classics.",
        (("single", 9_500, 8), ("double", 14_500, 12), ("suite", 42_000, 3)),
    ),
    HotelSpec(
        "harbor-view",
        "Harbor View Inn",
        "Porto",
        "Portugal",
        "A small family-run inn above the Ribeira quay with river views from most rooms. "
        "Breakfast is served on the terrace; the wine cellars are just across the bridge.",
        (("single", 7_200, 5), ("double", 11_000, 8), ("suite", 26_000, 2)),
    ),
    HotelSpec(
        "alpine-lodge",
        "Alpine Lodge",
        "Zermatt",
        "Switzerland",
        "A timber lodge in car-free Zermatt, steps from the Gornergrat railway. Ski room, "
        "sauna and a fireplace lounge; half-board is available in winter.",
        (("single", 16_000, 3), ("double", 24_000, 6), ("suite", 68_000, 1)),
    ),
)

DEMO_CARDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "alice": (("VISA", "4242", "12/29"), ("MASTERCARD", "4444", "08/28")),
    "bob": (("VISA", "1881", "03/30"),),
}
DEMO_STAFF_SHIFTS = {"carol": SHIFTS[0], "dave": "day 09:00-17:00"}
_DEMO_NAMES = {uid: name for uid, name, _ in DEMO_USERS}

_OPENINGS: dict[int, tuple[str, ...]] = {
    5: ("An outstanding stay.", "Everything was just right.", "We would come back tomorrow."),
    4: ("A very good stay overall.", "Lovely place, small quibbles.", "Comfortable and well run."),
    3: ("Decent, but not memorable.", "Mixed feelings.", "Fine for a night or two."),
    2: ("Disappointing for the price.", "Not what the photos promised."),
    1: ("Avoid if you can.", "The worst stay of our trip."),
}
_GOOD = (
    "The front desk remembered our names from the first day.",
    "Breakfast was generous and fresh.",
    "Our room was quiet and spotless.",
    "The view from the upper floors is worth the rate.",
    "Check-in took two minutes.",
    "The location is perfect for exploring {city} on foot.",
)
_BAD = (
    "The walls are thin and the street is loud at night.",
    "Our room was not ready until late afternoon.",
    "The Wi-Fi dropped every few minutes.",
    "The shower ran cold two mornings in a row.",
    "Breakfast ran out well before nine.",
)
_CLOSINGS = (
    "Stayed {nights} nights in a {room} room.",
    "Travelled as a couple.",
    "Business trip to {city}.",
    "Family holiday with two children.",
)
_KINDS = ("Hotel", "Suites", "Inn", "Residence", "Palace")
_STYLES = ("boutique", "business", "family-friendly", "design", "historic")
_PERKS = (
    "Guests praise the breakfast buffet and the late checkout.",
    "A spa, a small gym and a bar that stays open late.",
    "Bicycles are free to borrow and the staff plan day trips.",
    "Every room has a desk, fast Wi-Fi and blackout curtains.",
)


def slug(text: str) -> str:
    """Lower-case ASCII id from a display name ("O'Neil Suites" -> "o-neil-suites")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _unique(candidate: str, taken: set[str]) -> str:
    name, n = candidate, 2
    while name in taken:
        name, n = f"{candidate}-{n}", n + 1
    taken.add(name)
    return name


def _review_text(rng: random.Random, rating: int, hotel: HotelSpec) -> str:
    if rating >= 4:
        details = rng.sample(_GOOD, 2 if rating == 5 else 1)
    elif rating <= 2:
        details = rng.sample(_BAD, 2 if rating == 1 else 1)
    else:
        details = [rng.choice(_GOOD), rng.choice(_BAD)]
    room = rng.choice(hotel.rooms)[0]
    closing = rng.choice(_CLOSINGS).format(nights=rng.randint(1, 7), room=room, city=hotel.city)
    words = [rng.choice(_OPENINGS[rating]), *details, closing]
    return " ".join(words).format(city=hotel.city)


def _faker_hotel(fake: Faker, rng: random.Random, taken: set[str]) -> HotelSpec:
    name = f"{fake.last_name()} {rng.choice(_KINDS)}"
    city = fake.city()
    rooms = [("single", 6_000, 6), ("double", 9_000, 10), ("suite", 22_000, 3)]
    if rng.random() < 0.5:
        del rooms[rng.randrange(len(rooms))]
    priced = tuple(
        (kind, base + 500 * rng.randint(0, 20), rng.randint(max(1, count // 2), count))
        for kind, base, count in rooms
    )
    description = (
        f"{name} is a {rng.choice(_STYLES)} hotel in {city}, {rng.randint(2, 25)} minutes "
        f"from the centre. {rng.choice(_PERKS)}"
    )
    return HotelSpec(_unique(slug(name), taken), name, city, fake.country(), description, priced)


def _nights(check_in: date, nights: int) -> list[str]:
    return [(check_in + timedelta(days=n)).isoformat() for n in range(nights)]


def seed_world(
    conn: sqlite3.Connection,
    *,
    seed: int,
    start: date,
    days: int,
    extra_hotels: int,
    guest_ids: Sequence[str] | None,
    extra_guests: int,
    extra_staff: int,
    now: str,
) -> None:
    """Write a fresh world inside the caller's transaction (one ``executemany`` per table).

    ``days`` must be at least :data:`MIN_DAYS`: the seeded bookings sit 10 and 20 days in.
    The draw order below is part of the seed's meaning: reorder it and every world changes.
    """
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)  # noqa: S311 - simulation content, reproducible by design
    conn.executemany(
        "INSERT INTO hotel_meta (key, value) VALUES (?, ?)",
        [("seed", str(seed)), ("start", start.isoformat()), ("days", str(days))],
    )
    inventory = _seed_hotels(conn, fake, rng, extra_hotels, _nights(start, days))
    guests = _seed_guests(conn, fake, rng, guest_ids, extra_guests)
    _seed_staff(conn, fake, rng, extra_staff, taken=set(guests))
    _seed_bookings(conn, inventory, start, now)


def _seed_hotels(
    conn: sqlite3.Connection, fake: Faker, rng: random.Random, extra: int, window: list[str]
) -> dict[tuple[str, str, str], int]:
    """Hotels, room types and reviews; returns the inventory for the bookings to draw on."""
    taken = {h.id for h in FIXED_HOTELS}
    hotels = list(FIXED_HOTELS) + [_faker_hotel(fake, rng, taken) for _ in range(extra)]
    inventory: dict[tuple[str, str, str], int] = {}
    reviews: list[tuple[str, str, str, int]] = []
    for position, h in enumerate(hotels):
        fixed = position < len(FIXED_HOTELS)
        for kind, _, count in h.rooms:
            for night in window:
                inventory[(h.id, kind, night)] = count if fixed else rng.randint(0, count)
        for _ in range(rng.randint(3, 6)):
            rating = rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 4))[0]
            reviews.append((h.id, fake.name(), _review_text(rng, rating, h), rating))
    conn.executemany(
        "INSERT INTO hotel_hotels (id, position, name, city, country, description) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(h.id, i, h.name, h.city, h.country, h.description) for i, h in enumerate(hotels)],
    )
    conn.executemany(
        "INSERT INTO hotel_room_types VALUES (?, ?, ?, ?, ?)",
        [(h.id, k, ROOM_CAPACITY[k], rate, CURRENCY) for h in hotels for k, rate, _ in h.rooms],
    )
    conn.executemany(
        "INSERT INTO hotel_reviews (hotel_id, author, text, rating) VALUES (?, ?, ?, ?)", reviews
    )
    return inventory


def _seed_guests(
    conn: sqlite3.Connection,
    fake: Faker,
    rng: random.Random,
    guest_ids: Sequence[str] | None,
    extra: int,
) -> list[str]:
    """Guest profiles (PII) and their masked cards; alice and bob always come first."""
    guests = [(uid, _DEMO_NAMES[uid], f"{uid}@hotel.example") for uid in ("alice", "bob")]
    taken = {"alice", "bob"}
    if guest_ids is None:
        for _ in range(extra):
            first, last = fake.first_name(), fake.last_name()
            uid = _unique(f"{slug(first)}.{slug(last)}", taken)
            guests.append((uid, f"{first} {last}", f"{uid}@{fake.free_email_domain()}"))
    else:
        for uid in dict.fromkeys(guest_ids):
            if uid not in taken:
                taken.add(uid)
                guests.append((uid, fake.name(), f"{slug(uid)}@{fake.free_email_domain()}"))
    rows, cards = [], []
    for position, (uid, full_name, email) in enumerate(guests):
        born = date(1945, 1, 1) + timedelta(days=rng.randrange(60 * 365))
        address = fake.address().replace("\n", ", ")
        phone, passport = fake.phone_number(), fake.passport_number()
        rows.append((uid, position, full_name, email, phone, passport, address, born.isoformat()))
        own = DEMO_CARDS.get(uid) or tuple(
            (
                rng.choice(("VISA", "MASTERCARD", "AMEX")),
                f"{rng.randrange(10_000):04d}",
                f"{rng.randint(1, 12):02d}/{rng.randint(27, 32)}",
            )
            for _ in range(rng.randint(1, 2))
        )
        cards += [(f"pm-{uid}-{n}", uid, *card) for n, card in enumerate(own, start=1)]
    conn.executemany("INSERT INTO hotel_guests VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO hotel_payment_methods VALUES (?, ?, ?, ?, ?)", cards)
    return [g[0] for g in guests]


def _seed_staff(
    conn: sqlite3.Connection, fake: Faker, rng: random.Random, extra: int, taken: set[str]
) -> None:
    """carol and dave, then ``extra`` faker staff cycling through the three floor roles."""
    staff = [
        (uid, _DEMO_NAMES[uid], roles[0], shift)
        for uid, _, roles in DEMO_USERS
        if (shift := DEMO_STAFF_SHIFTS.get(uid)) is not None
    ]
    taken |= {row[0] for row in staff}
    for n in range(extra):
        first, last = fake.first_name(), fake.last_name()
        uid = _unique(f"{slug(first)}.{slug(last)}", taken)
        staff.append((uid, f"{first} {last}", STAFF_ROLES[n % 3], rng.choice(SHIFTS)))
    conn.executemany(
        "INSERT INTO hotel_staff (id, position, name, role, shift) VALUES (?, ?, ?, ?, ?)",
        [(uid, i, name, role, shift) for i, (uid, name, role, shift) in enumerate(staff)],
    )


def _seed_bookings(
    conn: sqlite3.Connection, inventory: dict[tuple[str, str, str], int], start: date, now: str
) -> None:
    """Bob's paid stay at Harbor View and Alice's unpaid one at Alpine Lodge, then inventory."""
    bookings = []
    for booking_id, guest, hotel_id, offset, nights in (
        (BOB_BOOKING_ID, "bob", "harbor-view", 10, 3),
        (ALICE_BOOKING_ID, "alice", "alpine-lodge", 20, 2),
    ):
        check_in = start + timedelta(days=offset)
        for night in _nights(check_in, nights):
            inventory[(hotel_id, "double", night)] -= 1
        rate = next(
            r for h in FIXED_HOTELS if h.id == hotel_id for k, r, _ in h.rooms if k == "double"
        )
        check_out = check_in + timedelta(days=nights)
        paid = rate * nights if guest == "bob" else 0
        stay = (check_in.isoformat(), check_out.isoformat(), nights)
        money = (rate, rate * nights, CURRENCY)
        row = (booking_id, guest, hotel_id, "double", *stay, *money, "confirmed", paid, guest)
        bookings.append((*row, None, None, now))
    conn.executemany(
        "INSERT INTO hotel_inventory VALUES (?, ?, ?, ?)",
        [(*key, available) for key, available in inventory.items()],
    )
    conn.executemany(
        "INSERT INTO hotel_bookings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        bookings,
    )
    # Bob's stay is paid in full, so refund scenarios have a real capture to aim at.
    conn.execute(
        "INSERT INTO hotel_payments VALUES (?, ?, ?, 0, ?, 'pm-bob-1', 'captured', 'bob', ?)",
        (BOB_PAYMENT_ID, BOB_BOOKING_ID, bookings[0][11], CURRENCY, now),
    )
