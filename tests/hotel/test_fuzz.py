"""Property-based fuzzing of each service's OpenAPI document (schemathesis strategies, hypothesis).

Cases come from the services' own OpenAPI schemas, valid and invalid ones alike, and go
through the full in-process stack. With a valid token the fuzz reaches the routes' input
handling past the guard; without one, the guard must stop every case. Properties: never a
5xx; every 4xx is JSON with an ``error`` field; a response with a documented schema conforms.

The stack runs on its own event loop in a blocking portal, so that hypothesis draws in a
plain test body (a draw that ends an example raises ``StopTest``, which must not cross an
asyncio task).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from agent_iam import token_flows
from hotel.app import SERVICES
from hotel.stores.seed import ALICE_BOOKING_ID
from scenarios.deployment import Deployment, deployment
from tests.hotel.helpers import alice_obo, bearer, decisions, staff_obo

# The fuzz runs a request per example through the whole stack: half the profile's examples
# per service keep the default run short; HYPOTHESIS_PROFILE=ci or deep scales it up.
FUZZ = settings(
    max_examples=max(10, settings.default.max_examples // 2),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one deployment per test, shared by its examples
        HealthCheck.too_slow,
    ],
)
STAY = {"hotel_id": "grand-meridian", "check_in": "2027-01-10", "check_out": "2027-01-12"}


@functools.cache
def cases(openapi: str) -> st.SearchStrategy[Case]:
    """Valid and invalid requests for every operation of one service's OpenAPI document."""
    schema = schemathesis.openapi.from_dict(json.loads(openapi))
    return st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)
    )


def strategy(dep: Deployment, service: str) -> st.SearchStrategy[Case]:
    assert dep.hotel is not None
    document = dep.hotel.apps[service].openapi()
    return cases(json.dumps(document, sort_keys=True))


async def send(dep: Deployment, service: str, case: Case, token: str | None) -> httpx.Response:
    """The case over in-process HTTP, as schemathesis would send it."""
    kwargs = case.as_transport_kwargs(
        base_url=dep.resource(service), headers=bearer(token) if token else None
    )
    data = kwargs.get("data")
    body = {"data": data} if isinstance(data, dict) else {"content": data}  # a form, or bytes
    try:
        return await dep.http.request(
            kwargs["method"],
            kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            json=kwargs.get("json"),
            **body,
        )
    except Exception as exc:  # the in-process transport re-raises what a server answers 500 to
        raise AssertionError(f"{case.method} {case.path}: the service crashed: {exc!r}") from exc


def assert_well_behaved(case: Case, response: httpx.Response) -> None:
    """No 5xx; a 4xx is a JSON error object; a documented schema is met."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


async def valid_tokens(dep: Deployment, service: str) -> list[str]:
    """Tokens that pass the guard at ``service``: a guest's through her agent, and staff ones."""
    if service == "availability":
        backend = await token_flows.app_token(
            dep, "booking-backend", "availability:hold", "availability"
        )
        return [
            await alice_obo(dep, "availability:read", "availability"),
            str(backend["access_token"]),
        ]
    if service == "booking":
        grant = {"type": "hotel_booking", **STAY, "room_type": "double"}
        return [
            await alice_obo(dep, "booking:create booking:read booking:cancel", "booking", [grant]),
            await staff_obo(
                dep, "dave", "booking:read booking:modify booking:rate-override", "booking"
            ),
        ]
    if service == "payment":
        grant = {"type": "payment", "max_amount_cents": 50_000, "booking_id": ALICE_BOOKING_ID}
        return [
            await alice_obo(dep, "payment:charge", "payment", [grant]),
            await staff_obo(dep, "dave", "payment:refund", "payment"),
        ]
    # Guest profiles are for a staff user without an agent: dave's own token reaches them.
    dave = await token_flows.user_token(
        dep, "dave", "staff-console", "concierge:read concierge:pii", "concierge"
    )
    return [
        await alice_obo(dep, "concierge:request", "concierge"),
        await staff_obo(dep, "dave", "concierge:read concierge:assign", "concierge"),
        str(dave["access_token"]),
    ]


Served = tuple[BlockingPortal, Deployment]


@pytest.fixture
def served() -> Iterator[Served]:
    """An in-memory deployment on an event loop of its own, shared by a test's examples."""
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(deployment(in_memory=True)) as dep,
    ):
        yield portal, dep


@pytest.fixture
def tokens(served: Served, service: str) -> list[str]:
    portal, dep = served
    return portal.call(valid_tokens, dep, service)


@pytest.mark.parametrize("service", SERVICES)
@FUZZ
@given(data=st.data())
def test_fuzzed_requests_with_a_valid_token_never_break_a_service(
    served: Served, tokens: list[str], service: str, data: st.DataObject
) -> None:
    """Past the guard, any input is answered with a 2xx or a JSON 4xx, never a 5xx."""
    portal, dep = served
    case = data.draw(strategy(dep, service), label="case")
    token = data.draw(st.sampled_from(tokens), label="token")
    response = portal.call(send, dep, service, case, token)
    assert response.status_code != 401, response.text  # the fuzz is about what lies past it
    assert_well_behaved(case, response)


@pytest.mark.parametrize("service", SERVICES)
@FUZZ
@given(data=st.data())
def test_fuzzed_requests_without_a_token_are_all_refused(
    served: Served, service: str, data: st.DataObject
) -> None:
    """No token: whatever the input, nothing is served and nothing is audited as allowed."""
    portal, dep = served
    case = data.draw(strategy(dep, service), label="case")
    before = world_digest(dep)
    response = portal.call(send, dep, service, case, None)
    assert_well_behaved(case, response)
    assert response.status_code >= 400
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == 'Bearer realm="hotel"'
    assert all(e.outcome == "denied" for e in decisions(dep))
    assert world_digest(dep) == before


def world_digest(dep: Deployment) -> str:
    assert dep.hotel is not None
    return dep.hotel.world.snapshot().digest
