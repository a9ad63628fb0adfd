"""Revocations as Security Event Tokens: pushed in-process, polled (RFC 8936), verified."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from agent_iam import token_flows
from iam_core.errors import TokenError
from iam_core.events import (
    SESSION_REVOKED,
    SET_TYP,
    TOKEN_CLAIMS_CHANGE,
    RevokedTokens,
    SecurityEvent,
)
from scenarios.deployment import Deployment

pytestmark = pytest.mark.anyio


async def _bearer(dep: Deployment) -> dict[str, str]:
    token = await dep.oauth.app_token(dep.app("hotel-services"), scope="events:read")
    return {"Authorization": f"Bearer {token['access_token']}"}


async def test_blocking_an_agent_pushes_a_signed_set_before_the_call_returns(
    dep: Deployment,
) -> None:
    """An in-process subscriber has the SET, listing the revoked jtis, when block returns."""
    assert dep.iam is not None
    received: list[SecurityEvent] = []
    dep.iam.events.subscribe(received.append)
    token = await token_flows.agent_token(dep, "booking-assistant", "availability:read", None)
    dep.iam.block_agent("booking-assistant", by="dave")
    assert len(received) == 1
    event = received[0]
    header = jwt.get_unverified_header(event.token)
    assert header["typ"] == SET_TYP
    body = event.claims["events"][TOKEN_CLAIMS_CHANGE]
    jti = jwt.decode(token["access_token"], options={"verify_signature": False})["jti"]
    assert jti in {r["jti"] for r in body["revoked"]}
    assert body["subject"] == {"format": "opaque", "id": "booking-assistant"}


async def test_a_poller_receives_acknowledges_and_is_not_sent_the_same_set_again(
    dep: Deployment,
) -> None:
    """RFC 8936: unacknowledged SETs come back; acknowledged ones do not."""
    assert dep.iam is not None
    headers = await _bearer(dep)
    obo = await token_flows.obo_token(
        dep, "alice", "booking-assistant", "hotel-web", "booking:read", None
    )
    await dep.oauth.revoke(obo["access_token"], as_agent=dep.agent("booking-assistant"))
    first = (
        await dep.http.post("/events/poll", headers=headers, json={"returnImmediately": True})
    ).json()
    assert len(first["sets"]) == 1 and first["moreAvailable"] is False
    ((jti, token),) = first["sets"].items()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert SESSION_REVOKED in claims["events"]
    again = (
        await dep.http.post("/events/poll", headers=headers, json={"returnImmediately": True})
    ).json()
    assert list(again["sets"]) == [jti]
    acked = (
        await dep.http.post(
            "/events/poll", headers=headers, json={"ack": [jti], "returnImmediately": True}
        )
    ).json()
    assert acked["sets"] == {}


async def test_a_long_poll_returns_as_soon_as_a_revocation_happens(dep: Deployment) -> None:
    """Delivery across processes takes milliseconds, not a polling interval."""
    assert dep.iam is not None
    headers = await _bearer(dep)
    token = await token_flows.agent_token(dep, "staff-assistant", "availability:read", None)
    started = time.perf_counter()
    poll = asyncio.create_task(dep.http.post("/events/poll", headers=headers, json={}))
    await asyncio.sleep(0.05)
    dep.iam.block_agent("staff-assistant", by="dave")
    response = (await poll).json()
    elapsed = time.perf_counter() - started
    assert len(response["sets"]) == 1 and elapsed < 2.0
    assert token


async def test_polling_needs_the_events_read_scope(dep: Deployment) -> None:
    """Anonymous or under-scoped callers are refused."""
    assert (await dep.http.post("/events/poll", json={})).status_code == 401
    other = await dep.oauth.app_token(dep.app("auditor"), scope="audit:read")
    response = await dep.http.post(
        "/events/poll", json={}, headers={"Authorization": f"Bearer {other['access_token']}"}
    )
    assert response.status_code == 403


async def test_a_receiver_verifies_sets_before_applying_them(dep: Deployment) -> None:
    """RevokedTokens applies a genuine SET and refuses a forged or mistyped one."""
    assert dep.iam is not None
    token = await token_flows.agent_token(dep, "booking-assistant", "availability:read", None)
    jti = jwt.decode(token["access_token"], options={"verify_signature": False})["jti"]
    dep.iam.block_agent("booking-assistant", by="dave")
    headers = await _bearer(dep)
    sets = (
        await dep.http.post("/events/poll", headers=headers, json={"returnImmediately": True})
    ).json()["sets"]
    receiver = RevokedTokens(
        dep.iam.clock, issuer=dep.issuer, audience=dep.resource("availability")
    )
    for set_token in sets.values():
        head, body, sig = set_token.split(".")
        with pytest.raises(TokenError):
            receiver.receive_token(f"{head}.{body}.{sig[::-1]}", dep.iam.keys)
        assert jti not in receiver
        receiver.receive_token(set_token, dep.iam.keys)
    assert jti in receiver
    with pytest.raises(TokenError, match="typ"):
        receiver.receive_token(token["access_token"], dep.iam.keys)
