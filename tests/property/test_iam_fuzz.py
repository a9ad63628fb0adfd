"""Property-based fuzzing of the IAM itself: its OpenAPI document, and the token endpoint.

The same properties as the services' fuzz (tests/hotel/test_fuzz.py, whose case strategy,
transport and deployment fixture this reuses): never a 5xx, never a crash, and every response
that has a documented schema conforms to it. ``/token`` is a plain Starlette route outside the
OpenAPI document (it is the hot path), so it gets a form fuzzer of its own: any mix of the
RFC 6749/7523/7636/8693 parameters, genuine or garbage, answers 200 with a token or an RFC 6749
§5.2 JSON error — never a 5xx. Authenticated routes are fuzzed without a token and with the
auditor's and the SCIM administrator's.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from agent_iam import token_flows
from iam_core.seed import DEMO_SECRETS
from scenarios.deployment import Deployment
from tests.hotel.helpers import BA
from tests.hotel.test_fuzz import FUZZ, Served, cases, send, served

__all__ = ["served"]  # the fixture, shared with the services' fuzz

GRANTS = [
    "client_credentials",
    "authorization_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "refresh_token",
    "password",
]
PARAMS = [
    "grant_type",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "code",
    "code_verifier",
    "redirect_uri",
    "scope",
    "resource",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
]
TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def iam_strategy(dep: Deployment) -> st.SearchStrategy[Case]:
    assert dep.iam is not None
    from iam_core.server import create_app  # the IAM's own document, without the services'

    return cases(json.dumps(create_app(dep.iam).openapi(), sort_keys=True))


@pytest.fixture
def iam_tokens(served: Served) -> list[str]:
    """Tokens for the IAM's own APIs: the auditor's (audit:read) and SCIM's (scim:admin)."""
    portal, dep = served

    async def fetch() -> list[str]:
        audit = await token_flows.app_token(dep, "auditor", "audit:read", "iam")
        scim = await token_flows.app_token(dep, "iam-admin", "scim:admin", "iam")
        return [str(audit["access_token"]), str(scim["access_token"])]

    return list(portal.call(fetch))


@FUZZ
@given(data=st.data())
def test_fuzzed_iam_requests_never_break_it(
    served: Served, iam_tokens: list[str], data: st.DataObject
) -> None:
    portal, dep = served
    case = data.draw(iam_strategy(dep), label="case")
    token = data.draw(st.sampled_from([None, *iam_tokens]), label="token")
    if case.path == "/events/poll":
        token = None  # a receiver's poll waits up to 10 s for events: refused here at once
    response = portal.call(send, dep, "iam", case, token)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


@pytest.fixture
def genuine_values(served: Served) -> dict[str, list[str]]:
    """Real values to mix into the fuzzed forms, so that requests get past the first checks."""
    portal, dep = served

    async def fetch() -> dict[str, list[str]]:
        obo = await token_flows.obo_token(dep, "alice", BA, "hotel-web", "booking:read", "booking")
        actor = await token_flows.actor_token(dep, BA)
        return {
            "token": [str(obo["access_token"]), actor],
            "assertion": [dep.oauth.client_assertion(dep.agent(BA))],
            "resource": [dep.resource("booking"), dep.resource("iam")],
        }

    return dict(portal.call(fetch))


def _form(values: dict[str, list[str]]) -> st.SearchStrategy[dict[str, str]]:
    text = st.text(max_size=40)
    value = st.one_of(
        text,
        st.sampled_from(GRANTS),
        st.sampled_from([TOKEN_TYPE, ASSERTION_TYPE, BA, "hotel-web", "booking-backend"]),
        st.sampled_from(["booking:read", "availability:read payment:charge", "audit:read"]),
        st.sampled_from(values["token"] + values["assertion"] + values["resource"]),
    )
    return st.dictionaries(st.sampled_from(PARAMS), value, max_size=8)


def _basic(client: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()


@FUZZ
@given(data=st.data())
def test_fuzzed_token_requests_get_a_token_or_an_oauth_error(
    served: Served, genuine_values: dict[str, list[str]], data: st.DataObject
) -> None:
    portal, dep = served
    form = data.draw(_form(genuine_values), label="form")
    auth = data.draw(
        st.sampled_from(
            [
                None,
                _basic("booking-backend", DEMO_SECRETS["booking-backend"]),
                _basic("booking-backend", "wrong"),
                "Basic !!!",
                "Bearer x",
            ]
        ),
        label="authorization",
    )
    headers = {"Authorization": auth} if auth else {}
    if data.draw(st.booleans(), label="dpop header"):
        headers["DPoP"] = data.draw(st.text(st.characters(min_codepoint=33, max_codepoint=126)))
    response = portal.call(lambda: dep.http.post(f"{dep.issuer}/token", data=form, headers=headers))
    assert response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    if response.status_code == 200:
        assert body["token_type"] in ("Bearer", "DPoP") and body["access_token"]
    else:
        assert response.status_code in (400, 401), response.text
        assert isinstance(body.get("error"), str), body
        assert response.headers["cache-control"] == "no-store"
