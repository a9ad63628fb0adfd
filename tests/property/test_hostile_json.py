"""Issue 12 item 1: nested, oversized and duplicate-key JSON in every JSON-bearing position.

~5,000 nested ``[`` in a token segment raised ``RecursionError`` (a 500 on every service
route and most IAM endpoints). Every position below now answers its endpoint's normal 4xx,
never a 5xx, and the refusal is audited where the endpoint audits.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_iam import token_flows
from agents.json_limits import JSONRefused as AgentJSONRefused
from agents.json_limits import jws_parts
from agents.llm.embedded import create_app as model_app
from agents.messages import MessageRejected, MessageVerifier
from iam_core.clock import ManualClock
from iam_core.safe_json import JSONRefused, loads
from tests.hotel.helpers import iam_of, url
from tests.property.support import START, b64, b64json, served

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLAIMS = {"iss": "x", "sub": "booking-assistant", "aud": "x", "exp": 2**31, "jti": "j"}
HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": "k"}


def make(kind: str, n: int) -> bytes:
    if kind == "nested":
        return b"[" * n + b"]" * n
    if kind == "nested objects":
        return b'{"a":' * n + b"1" + b"}" * n
    if kind == "duplicate":
        return b'{"alg":"ES256","alg":"none","a":' + b"1" * (n % 10 + 1) + b"}"
    return b'{"a":"' + b"x" * (n * 40) + b'"}'  # oversized: 70 kB and more


def hostile() -> st.SearchStrategy[tuple[str, int]]:
    """(kind, size): the payload is built from it, so that a failure's repr stays short."""
    kinds = st.sampled_from(["nested", "nested objects", "duplicate", "oversized"])
    return st.tuples(kinds, st.integers(1800, 6000))


def jws(head: bytes | None = None, body: bytes | None = None) -> str:
    h = b64(head) if head is not None else b64json(HEADER)
    c = b64(body) if body is not None else b64json(CLAIMS)
    return f"{h}.{c}.{b64(b'sig')}"


Position = Callable[[Any, bytes], Awaitable[httpx.Response]]


def positions(dep: Any, tokens: dict[str, str]) -> dict[str, Position]:
    http = dep.http
    avail = url(dep, "availability", "/hotels")

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    form = {"grant_type": "client_credentials"}
    return {
        "service token header": lambda _, p: http.get(avail, headers=bearer(jws(head=p))),
        "service token payload": lambda _, p: http.get(avail, headers=bearer(jws(body=p))),
        "audit token payload": lambda _, p: http.get("/audit", headers=bearer(jws(body=p))),
        "scim token header": lambda _, p: http.get("/scim/v2/Users", headers=bearer(jws(p))),
        "dpop proof header": lambda _, p: http.post(
            "/token", headers={"DPoP": jws(head=p)}, data=form
        ),
        "dpop proof payload": lambda _, p: http.post(
            "/token", headers={"DPoP": jws(body=p)}, data=form
        ),
        "client assertion": lambda _, p: http.post(
            "/token",
            data={**form, "client_assertion_type": ASSERTION, "client_assertion": jws(body=p)},
        ),
        "authorization_details": lambda _, p: http.get(
            "/authorize",
            params={
                "response_type": "code",
                "client_id": "hotel-web",
                "authorization_details": p.decode()[:16_000],
            },
        ),
        "scim body": lambda _, p: http.post(
            "/scim/v2/Users",
            content=p,
            headers={**bearer(tokens["scim"]), "Content-Type": "application/scim+json"},
        ),
        "set poll body": lambda _, p: http.post(
            "/events/poll",
            content=p,
            headers={**bearer(tokens["events"]), "Content-Type": "application/json"},
        ),
        "service body": lambda _, p: http.post(
            url(dep, "availability", "/holds"),
            content=p,
            headers={**bearer(tokens["avail"]), "Content-Type": "application/json"},
        ),
    }


@pytest.mark.parametrize(
    "position",
    [
        "service token header",
        "service token payload",
        "audit token payload",
        "scim token header",
        "dpop proof header",
        "dpop proof payload",
        "client assertion",
        "authorization_details",
        "scim body",
        "set poll body",
        "service body",
    ],
)
def test_hostile_json_is_a_4xx_and_audited(position: str) -> None:
    with served(ManualClock(START)) as (portal, dep):
        iam = iam_of(dep)

        async def tokens() -> dict[str, str]:
            scim = await token_flows.app_token(dep, "iam-admin", "scim:admin", None)
            events = await token_flows.app_token(dep, "hotel-services", "events:read", None)
            avail = await token_flows.agent_token(
                dep, "booking-assistant", "availability:read", "availability"
            )
            return {
                "scim": scim["access_token"],
                "events": events["access_token"],
                "avail": avail["access_token"],
            }

        send = positions(dep, portal.call(tokens))[position]

        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(spec=hostile())
        def check(spec: tuple[str, int]) -> None:
            payload = make(*spec)
            before = len(iam.audit)
            response = portal.call(send, dep, payload)
            if position == "authorization_details" and response.status_code == 303:
                # RFC 6749 §4.1.2.1: the error goes back to the client's redirect URI.
                assert "error=invalid" in response.headers["location"]
                assert len(iam.audit) > before
                return
            assert 400 <= response.status_code < 500, (position, spec, response.text[:300])
            if response.status_code == 413:
                return  # the streaming body limit: refused before any endpoint reads it
            if position not in ("set poll body", "service body"):
                # Refusals of credentials are audited; a malformed body from an authorized
                # caller is a plain 400 (nothing was decided about an identity).
                assert len(iam.audit) > before, position

        check()


@given(spec=hostile())
@settings(max_examples=30, deadline=None)
def test_the_bounded_parsers_refuse_without_recursion(spec: tuple[str, int]) -> None:
    payload = make(*spec)
    with pytest.raises(JSONRefused):
        loads(payload)
    with pytest.raises(AgentJSONRefused):
        jws_parts(jws(body=payload), max_length=10**6 if spec[0] != "oversized" else 16_384)


def test_nested_agent_message_is_rejected_not_crashed() -> None:
    verifier = MessageVerifier("concierge-agent", lambda _sender: None)
    with pytest.raises(MessageRejected):
        verifier.verify(jws(head=b"[" * 5000 + b"]" * 5000))


@pytest.mark.anyio
async def test_the_model_api_refuses_nested_and_duplicate_bodies() -> None:
    transport = httpx.ASGITransport(app=model_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
        for body in (b"[" * 5000 + b"]" * 5000, b'{"model":"a","model":"b","messages":[]}'):
            response = await client.post("/v1/chat/completions", content=body)
            assert response.status_code == 400, response.text


def test_duplicate_names_and_depth_within_limits() -> None:
    assert loads(json.dumps({"a": [[{"b": "]]]["}]]})) == {"a": [[{"b": "]]]["}]]}
    with pytest.raises(JSONRefused, match="duplicate"):
        loads('{"a": {"b": 1, "b": 1}}')
