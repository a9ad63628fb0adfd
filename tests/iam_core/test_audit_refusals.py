"""Every refusal names whom it concerned, as far as the request says (the audit gaps).

Regression tests: ``/authorize`` with an unknown client or an unregistered redirect URI left no
entry; a refused code redemption named the app (``sub=hotel-web``) instead of the user and
agent the code was for; a blocked agent's refused token request, and a service's refusal of
a token it could not verify, had ``sub`` and ``client_id`` null.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from agents.oauth import OAuthClientError
from iam_core.seed import REDIRECT_URIS
from scenarios.deployment import Deployment, deployment
from tests.iam_core.helpers import audit, consented_code, last_refusal, open_task

AGENT = "booking-assistant"


def _run(body: Callable[[Deployment], Awaitable[None]]) -> None:
    async def go() -> None:
        async with deployment(in_memory=True) as dep:
            await body(dep)

    asyncio.run(go())


def test_an_authorize_request_refused_before_any_redirect_is_audited() -> None:
    async def body(dep: Deployment) -> None:
        unknown = {"client_id": "no-such-app", "redirect_uri": "https://x.example/cb",
                   "requested_actor": AGENT}  # fmt: skip
        assert (await dep.http.get("/authorize", params=unknown)).status_code == 400
        evil = {"client_id": "hotel-web", "redirect_uri": "https://evil.example/cb"}
        assert (await dep.http.get("/authorize", params=evil)).status_code == 400
        first, second = audit(dep, "request.refused")[-2:]
        assert (first.client_id, first.act, first.outcome) == ("no-such-app", (AGENT,), "denied")
        assert "unknown client_id" in first.reason
        assert first.details["redirect_uri"] == "https://x.example/cb"
        assert (second.client_id, second.path) == ("hotel-web", "/authorize")
        assert "redirect_uri is not registered" in second.reason

    _run(body)


def test_a_refused_code_redemption_names_the_user_and_the_agent() -> None:
    async def body(dep: Deployment) -> None:
        code, _ = await consented_code(dep, "booking:create", actor=AGENT)
        with pytest.raises(OAuthClientError):
            await dep.oauth.redeem_code(
                dep.app("hotel-web"), code, "x" * 43, redirect_uri=REDIRECT_URIS["hotel-web"]
            )
        refusal = last_refusal(dep)
        assert "code_verifier does not match" in refusal.reason
        assert (refusal.sub, refusal.act, refusal.client_id) == ("alice", (AGENT,), "hotel-web")
        assert refusal in dep.iam.audit.query(agent=AGENT)  # type: ignore[union-attr]

    _run(body)


def test_a_blocked_agents_refused_requests_name_it() -> None:
    async def body(dep: Deployment) -> None:
        assert dep.iam is not None
        agent = dep.agent(AGENT)
        task = await open_task(dep, AGENT)
        token = (await dep.oauth.agent_token(agent, scope="availability:read", task=task))[
            "access_token"
        ]
        dep.iam.block_agent(AGENT, by="admin")
        with pytest.raises(OAuthClientError):
            await dep.oauth.agent_token(agent, scope="availability:read", task=task)
        refusal = last_refusal(dep)
        assert "is blocked" in refusal.reason
        assert (refusal.sub, refusal.client_id) == (AGENT, AGENT)
        # A token the service cannot verify (here: its signature broken) still names whom
        # it claims to be, in details: the sub and client_id columns hold verified identities.
        head, claims, _ = token.split(".")
        forged = f"{head}.{claims}.{'A' * 86}"
        url = dep.resource("availability") + "/hotels"
        response = await dep.http.get(url, headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401
        denial = dep.iam.audit.query(event="access.decision", outcome="denied")[-1]
        assert denial.reason.startswith("invalid token")
        assert (denial.sub, denial.client_id) == (None, None)
        assert (denial.details["claimed_sub"], denial.details["claimed_client_id"]) == (
            AGENT,
            AGENT,
        )

    _run(body)
