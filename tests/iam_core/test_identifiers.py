"""Look-alike identifiers are refused everywhere (docs/attacks.md; Unicode TR39 §4)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iam_core import identifiers
from iam_core.authorization import AuthorizationFlow, s256
from iam_core.iam import IAM
from iam_core.registry import SIMULATION_HASHER, Agent, App, DuplicateIdentity, Registry, User
from iam_core.server import create_app
from iam_core.store import Store
from tests.iam_core.helpers import sign_in
from tests.iam_core.test_scim import (
    PASSWORD,
    assert_scim_error,
    make_world,
    new_agent,
    new_user,
)

# Latin letters and a Cyrillic or Greek letter drawn the same (Unicode confusables.txt).
CONFUSABLE = {
    "a": "а",
    "e": "е",
    "o": "ο",
    "p": "р",
    "c": "с",
    "x": "х",
    "i": "і",
    "y": "у",
    "v": "ν",
}
ids = st.from_regex(r"[a-z][a-z0-9]{2,12}(-[a-z0-9]{2,8})?", fullmatch=True)


def lookalikes(identifier: str) -> list[tuple[str, str]]:
    """(kind, variant) pairs that a person takes for ``identifier``."""
    variants = [
        ("case", identifier.upper()),
        ("case", identifier[0].upper() + identifier[1:]),
        ("nfkc", "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in identifier)),
        ("control", identifier + "\n"),
        ("control", identifier + "\r\n"),
        ("control", identifier + " "),
        ("control", " " + identifier),
        ("control", identifier[:1] + "\u200b" + identifier[1:]),
        ("control", identifier + "\t"),
    ]
    for index, char in enumerate(identifier):
        if char in CONFUSABLE:
            swapped = identifier[:index] + CONFUSABLE[char] + identifier[index + 1 :]
            variants.append(("confusable", swapped))
    return variants


def expected(kind: str) -> tuple[int, str]:
    return (400, "invalidValue") if kind == "control" else (409, "uniqueness")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(identifier=ids)
def test_every_lookalike_of_an_existing_id_is_refused_over_scim(identifier: str) -> None:
    """Case, NFKC width, hidden characters and Cyrillic/Greek letters: 409 or 400, never 201."""
    world = make_world()
    created = world.scim("POST", "/Users", json=new_user(identifier, password=PASSWORD))
    assert created.status_code == 201, created.text
    for kind, variant in lookalikes(identifier):
        status, scim_type = expected(kind)
        assert_scim_error(world.scim("POST", "/Users", json=new_user(variant)), status, scim_type)
        assert_scim_error(world.scim("POST", "/Agents", json=new_agent(variant)), status, scim_type)
    assert [u.id for u in world.iam.registry.users()] == sorted(["alice", identifier])


@pytest.mark.parametrize(
    ("variant", "status", "scim_type"),
    [
        ("booking-assistant\n", 400, "invalidValue"),
        ("Booking-Assistant", 409, "uniqueness"),
        ("booking-assistant.", 400, "invalidValue"),
        ("booking-аssistant", 409, "uniqueness"),  # Cyrillic а
        ("ｂooking-assistant", 409, "uniqueness"),  # fullwidth b
        ("Alice", 409, "uniqueness"),
        ("alice\n", 400, "invalidValue"),
    ],
)
def test_the_lookalikes_of_the_hardening_issue_are_refused(
    variant: str, status: int, scim_type: str
) -> None:
    """Each example of docs/attacks.md (look-alike identifiers), as agent and as user."""
    world = make_world()
    world.iam.registry.add_agent(Agent("booking-assistant", "Booking", owner="alice"))
    assert_scim_error(world.scim("POST", "/Agents", json=new_agent(variant)), status, scim_type)
    assert_scim_error(world.scim("POST", "/Users", json=new_user(variant)), status, scim_type)


def test_patterns_are_checked_on_the_whole_string() -> None:
    """fullmatch, not match: '$' would let a trailing newline through."""
    assert identifiers.well_formed("booking-assistant")
    assert not identifiers.well_formed("booking-assistant\n")
    assert identifiers.IDENTIFIER.match("booking-assistant\n") is not None  # why fullmatch
    assert re.fullmatch(identifiers.IDENTIFIER, "a") is not None


def test_the_skeleton_follows_tr39_for_cyrillic_greek_width_and_case() -> None:
    key = identifiers.skeleton_key("booking-assistant")
    for variant in (
        "booking-аssistant",
        "bοoking-assistant",
        "BOOKING-ASSISTANT",
        "ｂooking-assistant",
    ):
        assert identifiers.skeleton_key(variant) == key, variant
    assert identifiers.skeleton_key("agent0") == identifiers.skeleton_key("agentO")
    assert identifiers.skeleton_key("booking-assistant2") != key


def test_the_database_refuses_a_lookalike_even_past_the_registry_check(tmp_path: Path) -> None:
    """Two processes: the unique index and triggers refuse what the other process checked."""
    path = tmp_path / "iam.db"
    first = Registry(Store(path), IAM(Store()).clock, SIMULATION_HASHER)
    second = Store(path)
    first.add_user(User("alice", "Alice"), PASSWORD)
    for table, columns, values in (
        (
            "users",
            "id, display_name, roles, active, password_hash, created_at, skeleton",
            ("Alice", "A", "", 1, "!", 0.0, identifiers.skeleton_key("Alice")),
        ),
        (
            "agents",
            "id, display_name, owner, kind, status, roles, jwks, delegable, autonomous,"
            " created_at, skeleton",
            (
                "аlice",
                "A",
                "alice",
                "interactive",
                "active",
                "",
                "[]",
                "",
                "",
                0.0,
                identifiers.skeleton_key("аlice"),
            ),
        ),
    ):
        marks = ", ".join("?" for _ in values)
        with pytest.raises(sqlite3.IntegrityError):
            second.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
    with pytest.raises(DuplicateIdentity):
        first.add_app(App("ALICE", "x", False, "none", frozenset()))


def test_an_old_database_gains_the_columns_and_keys_at_start_up(tmp_path: Path) -> None:
    """Migrations add externalId, name, emails and skeleton to a database without them."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE users (id TEXT PRIMARY KEY, display_name TEXT NOT NULL, email TEXT,"
        " roles TEXT NOT NULL, active INTEGER NOT NULL, password_hash TEXT NOT NULL,"
        " created_at REAL NOT NULL);"
        "INSERT INTO users VALUES ('alice', 'Alice', NULL, 'guest', 1, '!', 0);"
    )
    old.commit()
    old.close()
    registry = Registry(Store(path), IAM(Store()).clock, SIMULATION_HASHER)
    user = registry.get_user("alice")
    assert user is not None
    assert (user.external_id, user.name, user.emails) == (None, None, ())
    assert registry.lookalike("ALICE") == "alice"
    with pytest.raises(DuplicateIdentity):
        registry.add_user(User("Alice", "A"), PASSWORD)


def test_login_is_canonical_and_refuses_hidden_characters() -> None:
    iam = IAM(Store(), hasher=SIMULATION_HASHER)
    iam.registry.add_user(User("alice", "Alice"), PASSWORD)
    user = iam.registry.check_password("ALICE", PASSWORD)
    assert user is not None
    assert user.id == "alice"
    assert iam.registry.check_password("alice\n", PASSWORD) is None
    assert iam.registry.check_password("аlice", PASSWORD) is None  # Cyrillic а: another name


def _consent_page(actor: str) -> httpx.Response:
    iam = IAM(Store(), hasher=SIMULATION_HASHER)
    iam.registry.add_user(User("alice", "Alice", roles=("guest",)), PASSWORD)
    iam.registry.add_agent(
        Agent("booking-assistant", "Booking", "alice", delegable=frozenset({"booking:create"}))
    )
    iam.registry.add_app(
        App(
            "hotel-web",
            "Hotel",
            False,
            "none",
            frozenset({"authorization_code"}),
            redirect_uris=("http://app.test/cb",),
        )
    )
    app = create_app(iam)
    flow = AuthorizationFlow(iam)
    params = {
        "response_type": "code",
        "client_id": "hotel-web",
        "redirect_uri": "http://app.test/cb",
        "scope": "booking:create",
        "code_challenge": s256("v" * 43),
        "code_challenge_method": "S256",
        "requested_actor": actor,
    }

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://iam.test") as c:
            start = await c.get("/authorize", params=params)
            if "request_id=" not in start.headers.get("location", ""):
                return start
            request_id = start.headers["location"].split("request_id=")[1]
            login = await sign_in(c, "alice", PASSWORD, request_id)
            c.cookies.update(login.cookies)
            return await c.get(f"/consent?request_id={request_id}")

    del flow
    return asyncio.run(go())


def test_the_consent_page_shows_the_canonical_agent_id() -> None:
    page = _consent_page("booking-assistant")
    assert page.status_code == 200, page.text
    assert "<code>booking-assistant</code>" in page.text


@pytest.mark.parametrize("actor", ["booking-assistant\n", "Booking-Assistant", "booking-аssistant"])
def test_a_lookalike_requested_actor_is_no_agent(actor: str) -> None:
    """Only the canonical id names an agent at /authorize: no consent page for a look-alike."""
    page = _consent_page(actor)
    assert page.status_code != 200 or "<code>booking-assistant</code>" not in page.text
