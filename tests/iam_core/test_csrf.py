"""Anti-CSRF on every IAM form: login, consent, consent withdrawal (csrf.py).

For each form: a cross-site post (``Origin`` of another site, or ``Sec-Fetch-Site:
cross-site``) is refused with 403 and audited even with a valid token; a missing or wrong
token is refused; the same-origin post with its token works. Login CSRF: the token of the
attacker's own login page does not work with the victim's browser (another pre-session).
"""

from __future__ import annotations

import httpx
import pytest

from agents.oauth import pkce_pair
from iam_core.seed import DEMO_PASSWORDS, REDIRECT_URIS
from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit, consented_code, form_token, sign_in

pytestmark = pytest.mark.anyio
EVIL = {"Origin": "https://evil.example"}
CROSS = {"Sec-Fetch-Site": "cross-site"}


def _same(dep: Deployment) -> dict[str, str]:
    return {"Origin": dep.issuer, "Sec-Fetch-Site": "same-origin"}


async def _request_id(dep: Deployment) -> str:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "hotel-web",
        "redirect_uri": REDIRECT_URIS["hotel-web"],
        "scope": "booking:read",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    start = await dep.http.get("/authorize", params=params)
    return str(start.headers["location"].split("request_id=")[1])


async def test_login_refuses_cross_site_posts_and_bad_tokens(dep: Deployment) -> None:
    page = await dep.http.get("/login")
    token = form_token(page)
    alice = {"username": "alice", "password": DEMO_PASSWORDS["alice"]}
    for headers in (EVIL, CROSS, {"Origin": "null"}):
        response = await dep.http.post("/login", data={**alice, "csrf": token}, headers=headers)
        assert response.status_code == 403 and "iam_session" not in response.cookies
    for forged in ({}, {"csrf": "0" * 64}):
        response = await dep.http.post("/login", data={**alice, **forged})
        assert response.status_code == 403
    refused = audit(dep, "login.refused")
    assert len(refused) == 5 and all(e.details["client_address"] for e in refused)
    assert all(DEMO_PASSWORDS["alice"] not in str(e.to_dict()) for e in refused)
    response = await dep.http.post("/login", data={**alice, "csrf": token}, headers=_same(dep))
    assert response.status_code == 303 and "iam_session" in response.cookies


async def test_the_attackers_own_login_token_does_not_sign_the_victim_in(
    dep: Deployment,
) -> None:
    """Login CSRF: the attacker's page token is bound to the attacker's pre-session."""
    attacker = httpx.AsyncClient(transport=dep.http._transport, base_url=dep.issuer)
    async with attacker:
        token = form_token(await attacker.get("/login"))
    dep.http.cookies.clear()
    await dep.http.get("/login")  # the victim's own pre-session
    form = {"username": "mallory", "password": "mallory-pw", "csrf": token}
    response = await dep.http.post("/login", data=form)
    assert response.status_code == 403 and "iam_session" not in response.cookies


async def test_consent_refuses_cross_site_posts_and_bad_tokens(dep: Deployment) -> None:
    request_id = await _request_id(dep)
    login = await sign_in(dep.http, "alice", DEMO_PASSWORDS["alice"], request_id)
    page = await dep.http.get(login.headers["location"])
    decision = {"request_id": request_id, "decision": "approve", "csrf": form_token(page)}
    for headers in (EVIL, CROSS):
        response = await dep.http.post("/consent", data=decision, headers=headers)
        assert response.status_code == 403 and "location" not in response.headers
    response = await dep.http.post("/consent", data={**decision, "csrf": "f" * 64})
    assert response.status_code == 403
    assert len(audit(dep, "consent.refused")) == 3
    response = await dep.http.post("/consent", data=decision, headers=_same(dep))
    assert response.status_code == 303 and "code=" in response.headers["location"]


async def test_withdrawal_refuses_cross_site_posts_and_bad_tokens(dep: Deployment) -> None:
    assert dep.iam is not None
    await consented_code(dep, "booking:read", actor="booking-assistant")
    assert dep.iam.consents.for_user("alice")
    await sign_in(dep.http, "alice", DEMO_PASSWORDS["alice"])
    page = await dep.http.get("/account/consents")
    form = {"actor": "booking-assistant", "client_id": "hotel-web", "csrf": form_token(page)}
    for headers in (EVIL, CROSS):
        response = await dep.http.post("/account/consents/withdraw", data=form, headers=headers)
        assert response.status_code == 403
    for forged in ({"csrf": ""}, {"csrf": "0" * 64}):
        response = await dep.http.post("/account/consents/withdraw", data={**form, **forged})
        assert response.status_code == 403
    refused = audit(dep, "account.refused")
    assert len(refused) == 4 and refused[-1].sub == "alice"
    assert dep.iam.consents.for_user("alice")
    response = await dep.http.post("/account/consents/withdraw", data=form, headers=_same(dep))
    assert response.status_code == 303 and dep.iam.consents.for_user("alice") == []
