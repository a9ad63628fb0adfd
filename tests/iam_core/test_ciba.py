"""A third-party OpenID CIBA client, written against the spec with httpx and PyJWT only.

CIBA Core 1.0 §7.1 (backchannel request, ``private_key_jwt``), §7.3 (``auth_req_id``,
``expires_in``, ``interval``), §10.1 (the CIBA grant), §11 (``authorization_pending``,
``slow_down``, ``access_denied``, ``expired_token``); RFC 9396 ``authorization_details``.
The person approves on ``/account/approvals`` like a browser would. The approval-bound
token pays exactly the approved amount for the approved booking, once.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from agents.front_door import FRONT_DOOR, FrontDoor
from iam_core.clock import ManualClock
from iam_core.seed import DEMO_PASSWORDS
from scenarios.deployment import Deployment, deployment
from tests.hotel.helpers import alice_obo
from tests.iam_core.helpers import open_task

pytestmark = pytest.mark.anyio
BA = "booking-assistant"
BOOKING = "bk-ALI001"
CIBA = "urn:openid:params:grant-type:ciba"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
async def ciba() -> AsyncIterator[tuple[Deployment, ManualClock]]:
    clock = ManualClock()
    async with deployment(in_memory=True, clock=clock) as dep:
        yield dep, clock


def assertion(dep: Deployment, clock: ManualClock, agent: str = BA) -> dict[str, str]:
    """RFC 7523 §2.2 client authentication, signed with PyJWT (not the project's client)."""
    creds = dep.agent(agent)
    now = int(clock.now())
    claims = {"iss": agent, "sub": agent, "aud": dep.issuer, "jti": str(uuid.uuid4())}
    claims |= {"iat": now, "exp": now + 60}
    signed = jwt.encode(claims, creds.private_key, algorithm="ES256", headers={"kid": creds.kid})
    return {"client_assertion_type": ASSERTION, "client_assertion": signed}


async def metadata(dep: Deployment) -> dict[str, Any]:
    response = await dep.http.get("/.well-known/oauth-authorization-server")
    return dict(response.json())


async def poll(
    dep: Deployment, clock: ManualClock, auth_req_id: str, task: str | None = None
) -> httpx.Response:
    """The CIBA grant (§10.1), within ``task`` when given (redeeming needs one)."""
    clock.advance(1)
    meta = await metadata(dep)
    form = {"grant_type": CIBA, "auth_req_id": auth_req_id, **assertion(dep, clock)}
    form |= {"task_token": task} if task else {}
    return await dep.http.post(meta["token_endpoint"], data=form)


async def ask(dep: Deployment, clock: ManualClock, detail: dict[str, Any], message: str) -> Any:
    meta = await metadata(dep)
    form = {
        "login_hint": "alice",
        "scope": "payment:charge",
        "binding_message": message,
        "authorization_details": json.dumps([detail]),
        **assertion(dep, clock),
    }
    return await dep.http.post(meta["backchannel_authentication_endpoint"], data=form)


async def person(dep: Deployment, user: str = "alice") -> httpx.AsyncClient:
    """A signed-in browser session of ``user`` (login form with its anti-CSRF token)."""
    assert dep.transport is not None
    browser = httpx.AsyncClient(transport=dep.transport, base_url=dep.issuer)
    page = (await browser.get("/login")).text
    token = re.search(r"name=csrf value='([^']+)'", page)
    assert token
    form = {"username": user, "password": DEMO_PASSWORDS[user], "csrf": token.group(1)}
    response = await browser.post("/login", data={**form, "request_id": ""})
    assert response.status_code == 303, response.text
    return browser


async def decide(browser: httpx.AsyncClient, auth_req_id: str, decision: str) -> str:
    page = (await browser.get("/account/approvals")).text
    token = re.search(r"name=csrf-token content='([^']+)'", page)
    assert token and auth_req_id in page
    form = {"auth_req_id": auth_req_id, "decision": decision, "csrf": token.group(1)}
    response = await browser.post("/account/approvals/decide", data=form)
    assert response.status_code == 303, response.text
    return page


async def pay(dep: Deployment, token: str, amount: int, booking: str = BOOKING) -> httpx.Response:
    charge = {"booking_id": booking, "amount_cents": amount, "payment_method_id": "pm-alice-1"}
    return await dep.http.post(
        f"{dep.resource('payment')}/payments",
        json=charge,
        headers={"Authorization": f"Bearer {token}"},
    )


async def challenged(dep: Deployment, amount: int) -> dict[str, Any]:
    """alice consented to at most 50.00 for her booking; more is answered with a challenge."""
    cap = {"type": "payment", "booking_id": BOOKING, "max_amount_cents": 5_000}
    token = await alice_obo(dep, "payment:charge", "payment", [cap])
    response = await pay(dep, token, amount)
    assert response.status_code == 403, response.text
    assert 'error="approval_required"' in response.headers["www-authenticate"]
    body = response.json()
    assert body["error"] == "approval_required"
    assert body["backchannel_authentication_endpoint"].endswith("/bc-authorize")
    (detail,) = body["authorization_details"]
    assert detail["amount_cents"] == amount and detail["booking_id"] == BOOKING
    assert detail["hotel_name"] == "Alpine Lodge"
    return dict(detail)


async def test_metadata_advertises_ciba_poll_mode(ciba: tuple[Deployment, ManualClock]) -> None:
    meta = await metadata(ciba[0])
    assert meta["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert CIBA in meta["grant_types_supported"]
    assert meta["backchannel_authentication_endpoint"] == f"{ciba[0].issuer}/bc-authorize"


async def test_an_approved_payment_pays_that_amount_for_that_booking_once(
    ciba: tuple[Deployment, ManualClock],
) -> None:
    dep, clock = ciba
    detail = await challenged(dep, 20_000)
    asked = await ask(dep, clock, detail, "Pay EUR 200.00 for bk-ALI001")
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    pending = await poll(dep, clock, body["auth_req_id"])
    assert pending.json()["error"] == "authorization_pending"
    browser = await person(dep)
    page = await decide(browser, body["auth_req_id"], "approve")
    assert "pay €200.00 for booking bk-ALI001 at Alpine Lodge" in page
    # Approved, but redeemed outside any task: refused, and the approval stays usable.
    outside = await poll(dep, clock, body["auth_req_id"])
    assert outside.json()["error"] == "invalid_request", outside.text
    assert "task_token is required" in outside.json()["error_description"]
    task = await open_task(dep, BA)
    issued = await poll(dep, clock, body["auth_req_id"], task)
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["act"] == {"sub": BA} and claims["authorization_details"] == [detail]
    task_claims = jwt.decode(task, options={"verify_signature": False})
    assert claims["task"] == task_claims["jti"] and claims["exp"] <= task_claims["exp"]
    again = await poll(dep, clock, body["auth_req_id"], task)
    assert again.json()["error"] == "invalid_grant"
    # Another amount, another booking: refused; the approved one pays, once.
    assert (await pay(dep, token, 19_000)).status_code == 403
    assert (await pay(dep, token, 20_000, "bk-BOB001")).status_code in (403, 404)
    assert (await pay(dep, token, 20_000)).status_code == 201
    replay = await pay(dep, token, 20_000)
    assert replay.status_code == 403 and "already used" in replay.json()["error_description"]
    events = [e.event for e in dep.iam.audit.query(event=None, user="alice")] if dep.iam else []
    assert {"approval.requested", "approval.approved", "approval.used"} <= set(events)
    await browser.aclose()


async def test_denied_and_expired_requests(ciba: tuple[Deployment, ManualClock]) -> None:
    dep, clock = ciba
    detail = await challenged(dep, 20_000)
    first = (await ask(dep, clock, detail, "Pay EUR 200.00 for bk-ALI001")).json()
    again = await ask(dep, clock, detail, "Pay EUR 200.00 for bk-ALI001")
    assert again.status_code == 400  # one pending request per person, agent and action
    browser = await person(dep)
    await decide(browser, first["auth_req_id"], "deny")
    assert (await poll(dep, clock, first["auth_req_id"])).json()["error"] == "access_denied"
    second = (await ask(dep, clock, detail, "Pay EUR 200.00 for bk-ALI001")).json()
    clock.advance(first["expires_in"] + 1)
    assert (await poll(dep, clock, second["auth_req_id"])).json()["error"] == "expired_token"
    await browser.aclose()


async def test_polling_too_fast_slows_down(ciba: tuple[Deployment, ManualClock]) -> None:
    dep, clock = ciba
    detail = await challenged(dep, 20_000)
    first = (await ask(dep, clock, detail, "Pay EUR 200.00 for bk-ALI001")).json()
    assert (await poll(dep, clock, first["auth_req_id"])).json()["error"] == (
        "authorization_pending"
    )
    meta = await metadata(dep)
    form = {"grant_type": CIBA, "auth_req_id": first["auth_req_id"], **assertion(dep, clock)}
    fast = await dep.http.post(meta["token_endpoint"], data=form)
    assert fast.json()["error"] == "slow_down"


async def test_a_misleading_binding_message_is_refused(
    ciba: tuple[Deployment, ManualClock],
) -> None:
    dep, clock = ciba
    detail = await challenged(dep, 20_000)
    lying = await ask(dep, clock, detail, "Pay EUR 2.00 for bk-ALI001 (a small fee)")
    assert lying.status_code == 400
    assert lying.json()["error"] == "invalid_binding_message"


async def test_only_a_consented_agent_may_ask(ciba: tuple[Deployment, ManualClock]) -> None:
    dep, clock = ciba
    detail = {"type": "payment", "booking_id": BOOKING, "amount_cents": 100, "currency": "EUR"}
    asked = await ask(dep, clock, detail, "Pay EUR 1.00")
    assert asked.json()["error"] == "unknown_user_id"


async def test_an_approval_bound_token_ends_with_its_task(
    ciba: tuple[Deployment, ManualClock],
) -> None:
    """Like every token an agent gets for a service (iam_core/tasks.py): the front door ends
    the person's request and the approval dies unused with it, whoever holds the token.
    Fails without ``bound_to_task`` in the CIBA grant."""
    dep, clock = ciba
    detail = await challenged(dep, 20_000)
    rid = (await ask(dep, clock, detail, "Pay EUR 200.00 for bk-ALI001")).json()["auth_req_id"]
    browser = await person(dep)
    await decide(browser, rid, "approve")
    await browser.aclose()
    door = FrontDoor(dep.oauth, dep.app(FRONT_DOOR))
    task = await door.open(BA)
    issued = await poll(dep, clock, rid, task.token)
    assert issued.status_code == 200, issued.text
    await door.close(task)
    paid = await pay(dep, issued.json()["access_token"], 20_000)
    assert paid.status_code == 401, paid.text
