"""The four services end to end, through the real guard: business flows and what the audit keeps.

Search, booking within a guest's grant (with the hold placed by the booking backend's own App
token), payment within a cap, the concierge's recipient rule, staff-only data, RFC 9728
metadata, and how revocation and key rotation reach every service in one process.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from types import ModuleType

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent_iam import token_flows
from agents.oauth import decode_unverified
from hotel import availability, booking, concierge, payment
from hotel.guard import Rule
from hotel.stores.seed import ALICE_BOOKING_ID
from iam_core.clock import ManualClock
from iam_core.policy import SCOPES
from iam_core.tokens import TokenType
from scenarios.deployment import Deployment
from tests.hotel.helpers import (
    BA,
    SA,
    alice_obo,
    assert_allowed,
    assert_clean_challenge,
    assert_refused,
    audit_head,
    bearer,
    decisions,
    iam_of,
    last_decision,
    mint,
    staff_obo,
    url,
    world,
)

pytestmark = pytest.mark.anyio

STAY = {"hotel_id": "grand-meridian", "check_in": "2027-01-10", "check_out": "2027-01-12"}
NEW_BOOKING = {**STAY, "room_type": "double"}  # 2 nights at 14 500
GRANT = {"type": "hotel_booking", **NEW_BOOKING, "max_total_cents": 30_000}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def everything_audited(dep: Deployment) -> str:
    """Every audit entry, as one JSON text to search."""
    return json.dumps([e.to_dict() for e in iam_of(dep).audit.query()], ensure_ascii=False)


async def test_an_agent_searches_rooms_on_its_own(dep: Deployment) -> None:
    """booking-assistant's own agent token reads availability; the audit marks it an agent."""
    token = await token_flows.agent_token(dep, BA, "availability:read", "availability")
    response = await dep.http.get(
        url(dep, "availability", "/search"), params=STAY, headers=bearer(token)
    )
    offers = response.json()["offers"]
    assert {o["room_type"] for o in offers} == {"single", "double", "suite"}
    assert all(o["nights"] == 2 and o["available"] > 0 for o in offers)
    entry = assert_allowed(
        dep, response, service="availability", sub=BA, reason="availability:read granted"
    )
    assert (entry.token_type, entry.actor_kind) == ("agent", "agent")


async def test_alice_books_through_the_assistant_within_her_grant(dep: Deployment) -> None:
    """The booking matches the grant; the hold is placed by booking-backend's App token."""
    token = await alice_obo(dep, "booking:create", "booking", [GRANT])
    before = world(dep).snapshot()
    response = await dep.http.post(
        url(dep, "booking", "/bookings"),
        json=NEW_BOOKING,
        headers={**bearer(token), "traceparent": TRACEPARENT},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["guest"] == "alice" and created["acting_agent"] == BA
    assert created["total_cents"] == 29_000 and created["hold_id"]
    after = world(dep).snapshot()
    assert after.bookings == before.bookings + 1

    decided = assert_allowed(
        dep, response, service="booking", sub="alice", act=(BA,), reason="booking within the grant"
    )
    hold = next(e for e in decisions(dep) if e.service == "availability")
    assert (hold.outcome, hold.sub, hold.act, hold.token_type) == (
        "allowed",
        "booking-backend",
        (),
        "app",
    )
    assert (hold.method, hold.path) == ("POST", "/hotel/availability/holds")
    assert hold.client_id == "booking-backend" and hold.actor_kind == "app"
    # One trace from the guest's request through the service-to-service call.
    assert decided.trace_id == hold.trace_id == TRACEPARENT.split("-")[1]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"check_in": "2027-01-11", "check_out": "2027-01-14"},
            "check_in 2027-01-11 is not the granted 2027-01-10",
        ),
        ({"hotel_id": "harbor-view"}, "hotel_id harbor-view is not the granted grand-meridian"),
        ({"room_type": "suite"}, "room_type suite is not the granted double"),
    ],
)
async def test_a_booking_outside_the_grant_is_denied_and_nothing_is_booked(
    dep: Deployment, change: dict[str, str], reason: str
) -> None:
    """docs/attacks.md #1: a request a review planted (other dates, hotel, room) leaves no trace."""
    token = await alice_obo(dep, "booking:create", "booking", [GRANT])
    before = world(dep).snapshot()
    response = await dep.http.post(
        url(dep, "booking", "/bookings"), json={**NEW_BOOKING, **change}, headers=bearer(token)
    )
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason=f"request outside the grant: {reason}",
        service="booking",
        sub="alice",
        act=(BA,),
    )
    assert world(dep).snapshot() == before
    assert all(e.service != "availability" for e in decisions(dep))  # no hold was asked for


async def test_a_booking_above_the_granted_total_is_denied(dep: Deployment) -> None:
    """The grant's max_total_cents bounds the price, whatever the dates say."""
    cheap = {**GRANT, "max_total_cents": 20_000}
    token = await alice_obo(dep, "booking:create", "booking", [cheap])
    before = world(dep).snapshot()
    response = await dep.http.post(
        url(dep, "booking", "/bookings"), json=NEW_BOOKING, headers=bearer(token)
    )
    assert response.status_code == 403
    assert last_decision(dep).reason == (
        "request outside the grant: total 29000 above the granted 20000"
    )
    assert world(dep).snapshot() == before


async def test_an_agent_without_a_booking_grant_cannot_book(dep: Deployment) -> None:
    """booking:create alone is not enough when an agent acts: the guest's grant is required."""
    token = await alice_obo(dep, "booking:create", "booking")
    before = world(dep).snapshot()
    response = await dep.http.post(
        url(dep, "booking", "/bookings"), json=NEW_BOOKING, headers=bearer(token)
    )
    assert response.status_code == 403
    assert last_decision(dep).reason.startswith("no hotel_booking grant")
    assert world(dep).snapshot() == before


async def test_alice_pays_for_her_new_booking_within_the_cap(dep: Deployment) -> None:
    """Book, then pay the exact total under a payment grant bound to that booking."""
    booked = await dep.http.post(
        url(dep, "booking", "/bookings"),
        json=NEW_BOOKING,
        headers=bearer(await alice_obo(dep, "booking:create", "booking", [GRANT])),
    )
    booking_id = booked.json()["id"]
    grant = {"type": "payment", "max_amount_cents": 30_000, "booking_id": booking_id}
    token = await alice_obo(dep, "payment:charge", "payment", [grant])
    before = world(dep).snapshot()
    charge = {"booking_id": booking_id, "amount_cents": 29_000, "payment_method_id": "pm-alice-1"}
    response = await dep.http.post(
        url(dep, "payment", "/payments"), json=charge, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    assert response.json()["charged_by"] == BA
    assert_allowed(
        dep,
        response,
        service="payment",
        sub="alice",
        act=(BA,),
        reason="charge within the grant",
        object_id=booking_id,
    )
    assert world(dep).booking(booking_id).paid_cents == 29_000
    assert world(dep).snapshot().captured_cents == before.captured_cents + 29_000


async def test_a_payment_grant_caps_the_total_charged_not_each_charge(dep: Deployment) -> None:
    """docs/attacks.md #11: a 30 000 cap must not let the agent charge 20 000 twice."""
    grant = {"type": "payment", "max_amount_cents": 30_000, "booking_id": ALICE_BOOKING_ID}
    token = await alice_obo(dep, "payment:charge", "payment", [grant])
    charge = {
        "booking_id": ALICE_BOOKING_ID,
        "amount_cents": 20_000,
        "payment_method_id": "pm-alice-1",
    }
    first = await dep.http.post(
        url(dep, "payment", "/payments"), json=charge, headers=bearer(token)
    )
    assert first.status_code == 201
    second = await dep.http.post(
        url(dep, "payment", "/payments"), json=charge, headers=bearer(token)
    )
    assert second.status_code == 403, "the same grant paid 40 000 against a 30 000 cap"
    assert sum(p.amount_cents for p in world(dep).payments_of(ALICE_BOOKING_ID)) == 20_000


SECRET_TEXT = "Please email my passport number and card details to my assistant"


async def test_the_concierge_refuses_an_external_recipient_and_audits_only_its_domain(
    dep: Deployment,
) -> None:
    """docs/attacks.md #2: nothing leaves the hotel; the audit names the domain, never the text."""
    token = await alice_obo(dep, "concierge:request", "concierge")
    target = url(dep, "concierge", "/requests")
    before = world(dep).snapshot()
    outside = {"text": SECRET_TEXT, "recipient": "drop@exfil.example"}
    response = await dep.http.post(target, json=outside, headers=bearer(token))
    assert_refused(
        dep,
        response,
        status=403,
        error="insufficient_scope",
        reason="external recipient refused (domain exfil.example)",
        service="concierge",
        sub="alice",
        act=(BA,),
    )
    assert world(dep).snapshot() == before
    logged = everything_audited(dep)
    assert "exfil.example" in logged
    assert "passport" not in logged and "drop@" not in logged

    inside = {"text": "Extra towels, please", "recipient": "carol"}
    twin = await dep.http.post(target, json=inside, headers=bearer(token))
    assert twin.status_code == 201
    assert_allowed(
        dep, twin, service="concierge", sub="alice", act=(BA,), reason="request inside the hotel"
    )


@pytest.mark.parametrize(
    "recipient",
    ["drop@b\u00fccher.example", "drop@\u0101.example", "drop@evil.example\r\nSet-Cookie: a=b"],
)
async def test_a_recipient_the_caller_made_up_never_breaks_the_refusal(
    dep: Deployment, recipient: str
) -> None:
    """The refused domain is the caller's text: it must not reach the response headers raw."""
    token = await alice_obo(dep, "concierge:request", "concierge")
    before = world(dep).snapshot()
    response = await dep.http.post(
        url(dep, "concierge", "/requests"),
        json={"text": "hello", "recipient": recipient},
        headers=bearer(token),
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert_clean_challenge(response)
    assert world(dep).snapshot() == before


async def test_carol_reads_the_staff_directory_through_the_staff_assistant(
    dep: Deployment,
) -> None:
    """Staff data for a staff user's OBO token; a guest's is refused by role."""
    target = url(dep, "concierge", "/staff")
    carol = await staff_obo(dep, "carol", "concierge:read", "concierge")
    response = await dep.http.get(target, headers=bearer(carol))
    assert {"carol", "dave"} <= {s["id"] for s in response.json()["staff"]}
    assert_allowed(dep, response, service="concierge", sub="carol", act=(SA,))

    alice = await alice_obo(dep, "concierge:request", "concierge")
    refused = await dep.http.get(target, headers=bearer(alice))
    assert refused.status_code == 403
    assert last_decision(dep).reason == f"agent {BA} may not act on this route"

    herself = await token_flows.user_token(
        dep, "alice", "hotel-web", "concierge:request", "concierge"
    )
    refused = await dep.http.get(target, headers=bearer(herself))
    assert_refused(
        dep,
        refused,
        status=403,
        error="insufficient_scope",
        reason="role insufficient: needs one of front-desk, manager (user alice, agent -)",
        scope="concierge:read",
        service="concierge",
        sub="alice",
    )


async def test_guest_profiles_are_for_staff_only_and_never_reach_the_audit_log(
    dep: Deployment,
) -> None:
    """PII for carol herself; not for an agent, not even the staff agent acting for carol."""
    profile = world(dep).guest_profile("alice")
    target = url(dep, "concierge", "/guests/alice/profile")

    carol = await token_flows.user_token(
        dep, "carol", "staff-console", "concierge:pii", "concierge"
    )
    response = await dep.http.get(target, headers=bearer(carol))
    assert response.json()["passport_number"] == profile.passport_number
    assert_allowed(
        dep,
        response,
        service="concierge",
        sub="carol",
        reason="staff read of a guest profile",
        object_id="alice",
    )

    agent = mint(dep, TokenType.AGENT, sub=BA, service="concierge", scopes="concierge:pii")
    refused = await dep.http.get(target, headers=bearer(agent))
    assert refused.status_code == 403
    assert last_decision(dep).reason.startswith("needs a human subject")

    via_agent = await staff_obo(dep, "carol", "concierge:read concierge:pii", "concierge")
    assert "concierge:pii" not in decode_unverified(via_agent)["scope"].split()
    refused = await dep.http.get(target, headers=bearer(via_agent))
    assert refused.status_code == 403
    assert last_decision(dep).reason == "missing scope concierge:pii"

    logged = everything_audited(dep)
    for personal in (profile.passport_number, profile.phone, profile.address):
        assert personal not in logged


SERVICE_MODULES: dict[str, ModuleType] = {
    "availability": availability,
    "booking": booking,
    "payment": payment,
    "concierge": concierge,
}


def rule_scopes(module: ModuleType) -> set[str]:
    return {rule.scope for rule in vars(module).values() if isinstance(rule, Rule)}


@pytest.mark.parametrize("service", sorted(SERVICE_MODULES))
async def test_each_service_publishes_its_protected_resource_metadata(
    dep: Deployment, service: str
) -> None:
    """RFC 9728 §2: resource = the audience, the issuer, every scope its routes ask for."""
    response = await dep.http.get(url(dep, service, "/.well-known/oauth-protected-resource"))
    assert response.status_code == 200
    meta = response.json()
    assert meta["resource"] == dep.resource(service)
    assert meta["authorization_servers"] == [dep.issuer]
    assert rule_scopes(SERVICE_MODULES[service]) <= set(meta["scopes_supported"])
    assert set(meta["scopes_supported"]) <= set(SCOPES)
    assert meta["bearer_methods_supported"] == ["header"]
    issuer_meta = (await dep.http.get("/.well-known/oauth-authorization-server")).json()
    assert issuer_meta["issuer"] == dep.issuer


async def test_protected_resource_metadata_is_found_where_rfc_9728_puts_it(
    dep: Deployment,
) -> None:
    """RFC 9728 §3.1: the well-known string goes between the host and the resource's path."""
    answers = {}
    for service in sorted(SERVICE_MODULES):
        resource = httpx.URL(dep.resource(service))
        location = resource.copy_with(path=f"/.well-known/oauth-protected-resource{resource.path}")
        response = await dep.http.get(location)
        ok = response.status_code == 200 and response.json().get("resource") == str(resource)
        answers[str(location)] = "ok" if ok else response.status_code
    assert set(answers.values()) == {"ok"}, answers


# -- revocation and rotation in one process --------------------------------------------

Send = Callable[[], Awaitable[httpx.Response]]


async def per_service_calls(dep: Deployment) -> dict[str, tuple[str, Send]]:
    """One request per service (and booking-assistant's own), each token naming the agent."""
    cap = [{"type": "payment", "max_amount_cents": 50_000, "booking_id": ALICE_BOOKING_ID}]
    own = await token_flows.agent_token(dep, BA, "availability:read", "availability")
    tokens = {
        "agent@availability": str(own["access_token"]),
        "availability": await alice_obo(dep, "availability:read", "availability"),
        "booking": await alice_obo(dep, "booking:read", "booking"),
        "payment": await alice_obo(dep, "payment:charge", "payment", cap),
        "concierge": await alice_obo(dep, "concierge:request", "concierge"),
    }
    one_cent = {
        "booking_id": ALICE_BOOKING_ID,
        "amount_cents": 1,
        "payment_method_id": "pm-alice-1",
    }

    def get(service: str, path: str, token: str) -> Send:
        return lambda: dep.http.get(url(dep, service, path), headers=bearer(token))

    def pay(token: str) -> Send:
        return lambda: dep.http.post(
            url(dep, "payment", "/payments"), json=one_cent, headers=bearer(token)
        )

    sends = {
        "agent@availability": get("availability", "/hotels", tokens["agent@availability"]),
        "availability": get("availability", "/hotels", tokens["availability"]),
        "booking": get("booking", "/bookings", tokens["booking"]),
        "payment": pay(tokens["payment"]),
        "concierge": get("concierge", "/requests/mine", tokens["concierge"]),
    }
    return {name: (tokens[name], sends[name]) for name in tokens}


async def test_the_token_cache_never_lets_a_revoked_token_through(dep: Deployment) -> None:
    """Every service has verified (and cached) its token; RFC 7009 revocation still wins."""
    calls = await per_service_calls(dep)
    for name, (_, send) in calls.items():
        assert (await send()).status_code in (200, 201), name
    for name, (token, send) in calls.items():
        await dep.oauth.revoke(token, as_agent=dep.agent(BA))
        response = await send()
        assert response.status_code == 401, name
        entry = last_decision(dep)
        assert (entry.outcome, entry.reason.split(":")[0]) == ("denied", "token revoked")
        assert entry.jti == decode_unverified(token)["jti"]
    assert [p.amount_cents for p in world(dep).payments_of(ALICE_BOOKING_ID)] == [1]


async def test_blocking_an_agent_leaves_no_window_at_any_service(dep: Deployment) -> None:
    """Requests keep flowing at all four services; none started after block_agent is accepted."""
    calls = await per_service_calls(dep)
    outcomes: list[tuple[bool, str, int]] = []
    blocked = False

    async def hammer(name: str, send: Send) -> None:
        while sum(after for after, _, _ in outcomes) < 100:
            started_after_block = blocked
            response = await send()
            outcomes.append((started_after_block, name, response.status_code))
            await anyio.sleep(0)  # in-process HTTP never suspends by itself: let others run

    async with anyio.create_task_group() as group:
        for name, (_, send) in calls.items():
            group.start_soon(hammer, name, send)
        while len(outcomes) < 25:
            await anyio.sleep(0)
        head = audit_head(dep)
        iam_of(dep).block_agent(BA, by="dave")
        blocked = True

    before = {name for after, name, status in outcomes if not after and status in (200, 201)}
    assert before == set(calls), "every service served the agent before the block"
    after = [(name, status) for was_after, name, status in outcomes if was_after]
    assert len(after) >= 100
    assert {status for _, status in after} == {401}, after
    later = [e for e in decisions(dep, since_seq=head) if e.outcome == "denied"]
    assert {e.reason for e in later} == {"token revoked: agent blocked"}
    assert {e.service for e in later} == set(SERVICE_MODULES)


def forged(kid: str) -> str:
    """A well-formed token signed by a key no JWKS publishes."""
    key = ec.generate_private_key(ec.SECP256R1())
    claims = {"iss": "x", "sub": "x", "aud": "x", "exp": 0, "iat": 0, "jti": kid, "client_id": "x"}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})


async def test_after_key_rotation_new_tokens_verify_and_refetches_are_rate_limited(
    clocked: tuple[Deployment, ManualClock],
) -> None:
    """RFC 7517 §5 rotation; RFC 8725 §3.10: unknown kids cause at most one refetch per interval."""
    dep, clock = clocked
    assert dep.hotel is not None and dep.hotel.keys is not None
    jwks = dep.hotel.keys
    target = url(dep, "availability", "/hotels")
    old = await alice_obo(dep, "availability:read", "availability")
    assert (await dep.http.get(target, headers=bearer(old))).status_code == 200
    fetched = jwks.fetches
    assert fetched == 1

    clock.advance(6)  # past the refetch interval of 5 s
    new_kid = iam_of(dep).keys.rotate()
    new = await alice_obo(dep, "availability:read", "availability")
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    response = await dep.http.get(target, headers=bearer(new))
    assert_allowed(dep, response, service="availability", sub="alice", act=(BA,))
    # The new signer was published as the next key before it signed: no refetch needed.
    assert jwks.fetches == fetched
    # The retired key stays published: tokens it signed keep working until they expire.
    assert (await dep.http.get(target, headers=bearer(old))).status_code == 200

    async def flood() -> list[int]:
        statuses: list[int] = []

        async def one(n: int) -> None:
            bad = forged(f"unknown-{n}-{secrets.token_hex(4)}")
            statuses.append((await dep.http.get(target, headers=bearer(bad))).status_code)

        async with anyio.create_task_group() as group:
            for n in range(25):
                group.start_soon(one, n)
        return statuses

    assert set(await flood()) == {401}
    assert jwks.fetches == fetched + 1  # within the interval: no refetch at all
    clock.advance(6)
    assert set(await flood()) == {401}
    assert jwks.fetches == fetched + 2  # a new interval: exactly one refetch for 25 kids
    assert last_decision(dep).reason.startswith("invalid token: unknown kid 'unknown-")


async def test_a_token_signed_just_after_a_rotation_verifies_at_once(
    clocked: tuple[Deployment, ManualClock],
) -> None:
    """A service that fetched the JWKS a moment ago must still accept the new key's tokens.

    RFC 7517 §5 rotation is only seamless when the next key is published before it signs:
    otherwise the refetch rate limit makes every service refuse fresh tokens for a while.
    """
    dep, clock = clocked
    target = url(dep, "availability", "/hotels")
    warm = await alice_obo(dep, "availability:read", "availability")
    assert (await dep.http.get(target, headers=bearer(warm))).status_code == 200

    iam_of(dep).keys.rotate()
    clock.advance(1)
    fresh = await alice_obo(dep, "availability:read", "availability")
    response = await dep.http.get(target, headers=bearer(fresh))
    assert response.status_code == 200, last_decision(dep).reason
