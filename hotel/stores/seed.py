"""What a fresh hotel world contains, written into the tables of :mod:`hotel.stores.schema`.

The three fixed hotels of the docs, faker-made extras, the people the hotel knows, and two
seeded bookings so that IDOR scenarios have someone else's booking to aim at
(docs/attacks.md). Everything is drawn from ``Faker().seed_instance(seed)`` and
``random.Random(seed)`` in a fixed order, so one seed always yields the same world.

The people — guests by name, staff with their roles — are handed in at start-up by the
composition root, which takes them from the identity provider's directory: the hotel, like
a resource server in another company, does not reach into the issuer's seed data. The
demo guests ``alice`` and ``bob`` must be among them, since the seeded bookings are theirs.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

from hotel.stores.records import Invalid
from iam_core.resource_server import Tx

CURRENCY = "EUR"
ROOM_CAPACITY: dict[str, int] = {"single": 1, "double": 2, "suite": 4}
STAFF_ROLES = ("front-desk", "concierge", "housekeeping")
SHIFTS = ("early 06:00-14:00", "late 14:00-22:00", "night 22:00-06:00")
BOB_BOOKING_ID = "bk-BOB001"
BOB_PAYMENT_ID = "pay-BOB001"
ALICE_BOOKING_ID = "bk-ALI001"
MIN_DAYS = 30
GUEST_ROLE = "guest"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone the hotel knows: a guest (role ``guest``) or staff (their first other role)."""

    id: str
    name: str
    roles: tuple[str, ...]

    @property
    def is_guest(self) -> bool:
        return GUEST_ROLE in self.roles

    @property
    def staff_role(self) -> str | None:
        return next((role for role in self.roles if role != GUEST_ROLE), None)


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
# The hotel's own rota for the staff it is told about; anyone else works the early shift.
DEMO_STAFF_SHIFTS = {"carol": SHIFTS[0], "dave": "day 09:00-17:00"}
# The seeded bookings and Bob's payment belong to these guests.
SEEDED_GUESTS = ("alice", "bob")

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
    conn: Tx,
    *,
    people: Sequence[Person],
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
    known = {p.id for p in people if p.is_guest}
    if missing := [uid for uid in SEEDED_GUESTS if uid not in known]:
        raise Invalid(f"the seeded bookings need the guests {', '.join(missing)}")
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)  # noqa: S311 - simulation content, reproducible by design
    conn.executemany(
        "INSERT INTO hotel_meta (key, value) VALUES (?, ?)",
        [("seed", str(seed)), ("start", start.isoformat()), ("days", str(days))],
    )
    inventory = _seed_hotels(conn, fake, rng, extra_hotels, _nights(start, days))
    guests = _seed_guests(conn, fake, rng, people, guest_ids, extra_guests)
    _seed_staff(conn, fake, rng, people, extra_staff, taken=set(guests))
    _seed_bookings(conn, inventory, start, now)


def _seed_hotels(
    conn: Tx, fake: Faker, rng: random.Random, extra: int, window: list[str]
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
    conn: Tx,
    fake: Faker,
    rng: random.Random,
    people: Sequence[Person],
    guest_ids: Sequence[str] | None,
    extra: int,
) -> list[str]:
    """Guest profiles (PII) and their masked cards; the known guests always come first."""
    guests = [(p.id, p.name, f"{p.id}@hotel.example") for p in people if p.is_guest]
    taken = {uid for uid, _, _ in guests}
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
    conn: Tx,
    fake: Faker,
    rng: random.Random,
    people: Sequence[Person],
    extra: int,
    taken: set[str],
) -> None:
    """The known staff (carol, dave), then ``extra`` faker staff cycling through the roles."""
    staff = [
        (p.id, p.name, role, DEMO_STAFF_SHIFTS.get(p.id, SHIFTS[0]))
        for p in people
        if not p.is_guest and (role := p.staff_role) is not None
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
    conn: Tx, inventory: dict[tuple[str, str, str], int], start: date, now: str
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
