"""POST /token's fast path (iam_core/token_route.py) answers exactly as the regular route.

Successes are answered outside the framework's layers; everything else goes on along the
regular path with the request's body and trace id. These tests hold the two paths to the
same contract: the trace id of the response is the audit entry's, nothing is cached, a
refusal is audited once, and a refused request still gets the regular path's answer.
"""

from __future__ import annotations

import secrets

import pytest

from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit, open_task

pytestmark = pytest.mark.anyio
AGENT = "booking-assistant"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def _form(dep: Deployment, **extra: str) -> dict[str, str]:
    """The agent's own token request for availability, within a task (design §3.2)."""
    return {
        "grant_type": "client_credentials",
        "scope": "availability:read",
        "client_assertion_type": ASSERTION,
        "client_assertion": dep.oauth.client_assertion(dep.agent(AGENT)),
        "task_token": await open_task(dep, AGENT),
        **extra,
    }


def _trace() -> tuple[str, str]:
    trace = secrets.token_hex(16)
    return trace, f"00-{trace}-{secrets.token_hex(8)}-01"


async def test_a_token_answer_names_the_callers_trace_and_is_not_cached(dep: Deployment) -> None:
    """The response echoes the caller's trace, which the token.issued entry carries too."""
    trace, header = _trace()
    response = await dep.http.post("/token", data=await _form(dep), headers={"traceparent": header})
    assert response.status_code == 200, response.text
    assert response.headers["traceparent"].split("-")[1] == trace
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["dpop-nonce"]
    assert response.headers["content-type"] == "application/json"
    assert response.json()["token_type"] == "Bearer"
    assert audit(dep, "token.issued")[-1].trace_id == trace


async def test_a_new_trace_is_started_when_the_caller_sends_none(dep: Deployment) -> None:
    """Without a valid traceparent, the response names the new trace the entry was filed under."""
    response = await dep.http.post("/token", data=await _form(dep), headers={"traceparent": "junk"})
    assert response.status_code == 200
    trace = response.headers["traceparent"].split("-")[1]
    assert audit(dep, "token.issued")[-1].trace_id == trace


async def test_a_refusal_is_answered_by_the_regular_path_and_audited_once(
    dep: Deployment,
) -> None:
    """A replayed assertion: 401 invalid_client with its challenge, one token.refused entry,
    filed under the trace the response names (one the IAM started: the caller sent none)."""
    form = await _form(dep)
    assert (await dep.http.post("/token", data=form)).status_code == 200
    before = len(audit(dep, "token.refused"))
    response = await dep.http.post("/token", data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "replay" in response.json()["error_description"]
    assert response.headers["www-authenticate"] == "Bearer"
    trace = response.headers["traceparent"].split("-")[1]
    refused = audit(dep, "token.refused")
    assert len(refused) == before + 1 and refused[-1].trace_id == trace


async def test_a_body_that_is_not_a_form_is_refused_and_audited(dep: Deployment) -> None:
    """Refused before the endpoint ran: the regular path's handler answers and audits it, under
    the trace the response names (a new one: the caller sent none)."""
    response = await dep.http.post("/token", json={"grant_type": "client_credentials"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    entry = audit(dep, "request.refused")[-1]
    assert entry.path == "/token"
    assert entry.trace_id == response.headers["traceparent"].split("-")[1]


async def test_a_request_without_content_length_takes_the_regular_path(dep: Deployment) -> None:
    """A streamed body (no Content-Length) is served, counted by the regular BodyLimit."""

    task = await open_task(dep, AGENT)

    async def chunks():  # type: ignore[no-untyped-def]
        yield b"grant_type=client_credentials&scope=availability%3Aread"
        assertion = dep.oauth.client_assertion(dep.agent(AGENT))
        yield f"&client_assertion_type={ASSERTION}&client_assertion={assertion}".encode()
        yield f"&task_token={task}".encode()

    response = await dep.http.post(
        "/token",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["traceparent"]
