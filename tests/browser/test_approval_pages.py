"""A person's pages in a real browser: sign in, consent, approve and deny a payment,
withdraw a consent (OpenID CIBA Core 1.0 §7.1: the authentication device is the person's
browser; RFC 9396 details shown in words)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from iam_core.seed import DEMO_PASSWORDS, REDIRECT_URIS
from tests.browser.conftest import ARTIFACTS, Server

BA = "booking-assistant"
BOOKING = "bk-ALI001"
PAYMENT = {
    "type": "payment",
    "booking_id": BOOKING,
    "amount_cents": 20_000,
    "currency": "EUR",
    "hotel_id": "alpine-lodge",
    "hotel_name": "Alpine Lodge",
}


def _authorize_url(server: Server) -> str:
    cap = {"type": "payment", "booking_id": BOOKING, "max_amount_cents": 5_000, "currency": "EUR"}
    query = {
        "response_type": "code",
        "client_id": "hotel-web",
        "redirect_uri": REDIRECT_URIS["hotel-web"],
        "scope": "payment:charge",
        "requested_actor": BA,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "state": "s1",
        "authorization_details": json.dumps([cap]),
    }
    return f"{server.url}/authorize?{urlencode(query)}"


def _ask(server: Server, message: str, amount: int = 20_000) -> str:
    approval = server.iam.approvals.request(
        agent_id=BA,
        user_id="alice",
        client_id="hotel-web",
        scopes=frozenset({"payment:charge"}),
        details=({**PAYMENT, "amount_cents": amount},),
        binding_message=message,
    )
    return approval.auth_req_id


def test_sign_in_consent_approve_deny_withdraw(server: Server, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    back = REDIRECT_URIS["hotel-web"]
    page.goto(_authorize_url(server))
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", DEMO_PASSWORDS["alice"])
    with page.expect_navigation(url="**/consent**"):
        page.click("button[type=submit]")
    # The consent page says what the agent may do, in words — not a raw dict.
    body = page.inner_text("body")
    assert "Allow access?" in body and "pay up to €50.00 for booking bk-ALI001" in body
    assert "{'type'" not in body
    page.screenshot(path=str(ARTIFACTS / "consent.png"), full_page=True)
    # The app's callback is not served here: the redirect to it, with a code, is the answer.
    with page.expect_request(lambda r: r.url.startswith(back) and "code=" in r.url) as sent:
        page.click("button[value=approve]")
    assert "state=s1" in sent.value.url
    page.close()
    page = context.new_page()  # the same browser session, on the person's own pages
    assert server.iam.consents.get("alice", "hotel-web", BA) is not None

    approve_id = _ask(server, "Pay EUR 200.00 for bk-ALI001")
    page.goto(f"{server.url}/account/approvals")
    box = page.locator(f"[data-auth-req-id='{approve_id}']")
    text = box.inner_text()
    assert "pay €200.00 for booking bk-ALI001 at Alpine Lodge" in text
    assert "Pay EUR 200.00 for bk-ALI001" in text and "Booking assistant" in text
    page.screenshot(path=str(ARTIFACTS / "approvals.png"), full_page=True)
    with page.expect_navigation():
        box.locator("button[value=approve]").click()
    assert server.iam.approvals.get(approve_id).status == "approved"  # type: ignore[union-attr]

    deny_id = _ask(server, "Pay EUR 300.00 for bk-ALI001", amount=30_000)
    page.goto(f"{server.url}/account/approvals")
    with page.expect_navigation():
        page.locator(f"[data-auth-req-id='{deny_id}'] button[value=deny]").click()
    assert server.iam.approvals.get(deny_id).status == "denied"  # type: ignore[union-attr]
    assert "No pending requests." in page.inner_text("body")

    page.goto(f"{server.url}/account/consents")
    assert BA in page.inner_text("body")
    with page.expect_navigation():
        page.click("text=Withdraw")
    assert "No consents." in page.inner_text("body")
    assert server.iam.consents.get("alice", "hotel-web", BA) is None
    page.screenshot(path=str(ARTIFACTS / "consents-withdrawn.png"), full_page=True)
    context.close()


def test_a_forged_approval_post_is_refused(server: Server, browser: Any) -> None:
    """A page of another site cannot approve for the person (anti-CSRF, ``csrf.py``)."""
    page = browser.new_page()
    response = page.request.post(
        f"{server.url}/account/approvals/decide",
        form={"auth_req_id": "x", "decision": "approve"},
    )
    assert response.status in (401, 403)
    page.close()
