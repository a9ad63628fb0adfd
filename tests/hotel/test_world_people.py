"""The people the hotel knows are handed in at start-up, not read from the IAM's seed."""

from __future__ import annotations

import pytest

from hotel.stores.seed import SHIFTS
from hotel.world import HotelWorld, Invalid, Person
from iam_core.store import Store
from scenarios.deployment import hotel_people

GUESTS = (Person("alice", "Alice A", ("guest",)), Person("bob", "Bob B", ("guest",)))


def test_the_names_and_roles_handed_in_are_the_ones_seeded() -> None:
    """Guests keep the given names; staff get their first non-guest role and a shift."""
    people = (*GUESTS, Person("zoe", "Zoe Z", ("guest", "concierge")))
    w = HotelWorld.seeded(Store(), people=people, extra_staff=0)
    assert w.guests()[:3] == ["alice", "bob", "zoe"]
    assert w.guest_profile("bob").full_name == "Bob B"
    assert w.staff() == []
    staffed = HotelWorld.seeded(
        Store(), people=(*GUESTS, Person("yann", "Yann Y", ("concierge",))), extra_staff=0
    )
    assert [(s.id, s.name, s.role, s.shift) for s in staffed.staff()] == [
        ("yann", "Yann Y", "concierge", SHIFTS[0])
    ]


def test_the_seeded_bookings_need_alice_and_bob() -> None:
    """Without the guests the seeded bookings belong to, seeding refuses and writes nothing."""
    store = Store()
    with pytest.raises(Invalid, match="bob"):
        HotelWorld.seeded(store, people=GUESTS[:1])
    assert store.one("SELECT 1 FROM hotel_meta") is None


def test_the_composition_root_hands_in_the_demo_people() -> None:
    """alice and bob are guests, carol and dave staff, as in the docs."""
    w = HotelWorld.seeded(Store(), people=hotel_people())
    assert w.guest_profile("alice").full_name == "Alice Martin"
    assert {s.id: s.role for s in w.staff()}.items() >= {
        ("carol", "front-desk"),
        ("dave", "manager"),
    }
