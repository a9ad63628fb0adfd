"""The consent page, from the agent's side: the person who answers it, and what it asks.

The agent asks for exactly what a request needs (docs/design.md, delegation rules): the
scopes its tools named and RFC 9396 ``authorization_details`` — the stay to book (with the
price the app quotes, the cap the booking service holds the agent to) and what may be paid
for it. :class:`Human` is the person at the browser: only she knows her password, and she
decides on what the page shows, never on what the agent says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from agents.identity import NoAuthority, Presenter
from agents.oauth import AppCredentials, OAuthClient, OAuthClientError


@dataclass
class Human:
    """A person at a browser: only they know their password; they answer the consent page.

    ``approve`` sees what the consent page shows (agent, scopes, authorization details) and
    decides; by default a person approves what their own request asked for.
    """

    user_id: str
    password: str = field(repr=False)
    approve: Callable[[Mapping[str, Any]], bool] = lambda page: True

    async def consent(
        self,
        oauth: OAuthClient,
        app: AppCredentials,
        redirect_uri: str,
        page: Mapping[str, Any],
    ) -> tuple[str, str]:
        """Log in and answer the consent page; (code, verifier), or OAuthClientError."""
        return await oauth.authorize(
            app,
            user=self.user_id,
            password=self.password,
            scope=" ".join(page["scopes"]),
            redirect_uri=redirect_uri,
            requested_actor=str(page["agent"]),
            authorization_details=list(page["authorization_details"]) or None,
            approve=self.approve(page),
        )


async def consent_details(
    args: Mapping[str, Any], quote_of: Callable[[Mapping[str, Any]], Awaitable[int | None]]
) -> list[dict[str, Any]]:
    """RFC 9396 details for the consent page: the stay, and what may be paid for it."""
    details: list[dict[str, Any]] = []
    booking = args.get("booking")
    price = None
    stay: dict[str, Any] = {}
    if isinstance(booking, Mapping) and {"hotel_id", "check_in", "check_out"} <= set(booking):
        stay = {k: booking[k] for k in ("hotel_id", "check_in", "check_out")}
        wanted = {k: v for k, v in booking.items() if k in (*stay, "room_type")}
        price = await quote_of(wanted)
        grant = {"type": "hotel_booking", **wanted}
        details.append(grant | ({"max_total_cents": price} if price else {}))
    if args.get("pay"):
        cap = args.get("max_amount_cents") or price
        target = {"booking_id": args["booking_id"]} if args.get("booking_id") else stay
        if isinstance(cap, int) and cap > 0 and target:
            details.append({"type": "payment", "max_amount_cents": cap, **target})
    return details


async def quote(
    identity: Presenter, http: httpx.AsyncClient, url: str, stay: Mapping[str, Any]
) -> int | None:
    """The price the app shows on the consent page: the cheapest fitting offer's total,
    searched at ``url`` with the authority the agent holds on its own."""
    try:
        headers, _ = await identity.headers(None, "availability", "GET", url)
    except (NoAuthority, OAuthClientError):
        return None
    response = await http.get(url, params=dict(stay), headers=headers)
    if identity.nonce_retry(url, response):  # RFC 9449 §9: once more, with the nonce
        headers, _ = await identity.headers(None, "availability", "GET", url)
        response = await http.get(url, params=dict(stay), headers=headers)
    offers = response.json().get("offers", []) if response.status_code == 200 else []
    totals = [int(o["total_cents"]) for o in offers if o.get("available", 0) > 0]
    return min(totals) if totals else None
