"""An agent asks the person to approve one action: OpenID CIBA Core 1.0, poll mode.

A service that will not do an action without the person's approval answers 403 with
``error="approval_required"`` (an RFC 6750 §3 challenge) and, in the body, the RFC 9396
``authorization_details`` of exactly that action. :func:`seek_approval` then

1. sends the backchannel authentication request (CIBA §7.1) for the user the task is for,
   with those details, the tool's scope and a ``binding_message`` saying the same in words;
2. tells the person's authentication device, when the deployment has one in process
   (``Notify``: in CIBA the OP reaches the device out of band, §7.1 — here the scenarios'
   simulated person, or nobody when a person answers in a browser or a terminal);
3. polls the token endpoint with the CIBA grant (§10.1), waiting ``interval`` seconds between
   polls and ``slow_down`` more when asked (§11), until the person approves, denies, or the
   request expires (``expires_in``, §7.3).

The approval-bound token goes to the identity component (:meth:`AgentIdentity.hold_approval`)
and never into the model's context: the model reads the outcome in words.

The endpoint is the issuer's own (``{issuer}/bc-authorize``, RFC 8414 metadata), never the
one a service's answer names: a service, or content posing as one, must not be able to send
an agent's signed client assertion elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agents.identity import AgentIdentity, NoAuthority
from agents.oauth import OAuthClientError
from agents.tools import Seek

Notify = Callable[[str], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
Status = Literal["approved", "denied", "expired", "refused"]
SIGNS = {"EUR": "€", "USD": "$", "GBP": "£"}
SLOW_DOWN_STEP = 5  # CIBA §11: "the interval MUST be increased by at least 5 seconds"


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    """What became of one approval request: what the transcript and the model may see."""

    status: Status
    user: str
    what: str  # the action in words
    reason: str = ""
    auth_req_id: str | None = None  # approved: the handle of the held token (not the token)

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    def said(self) -> str:
        """The outcome, said plainly for the person reading the transcript."""
        if self.status == "approved":
            return f"{self.user} approved: {self.what}"
        if self.status == "denied":
            return f"{self.user} denied: {self.what}"
        if self.status == "expired":
            return f"{self.user} did not answer in time; nothing was done: {self.what}"
        return f"the approval request was refused ({self.reason}); nothing was done"


def money(cents: object, currency: object) -> str:
    if not isinstance(cents, int) or isinstance(cents, bool):
        return "an unnamed amount"
    sign = SIGNS.get(str(currency), "")
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    return f"{sign}{amount}" if sign else f"{amount} {currency}"


def words(detail: Mapping[str, Any]) -> str:
    """One authorization detail as the short plain message both sides show (CIBA §7.1)."""
    kind = detail.get("type")
    booking = str(detail.get("booking_id", "?"))
    where = detail.get("hotel_name") or detail.get("hotel_id")
    at = f" at {where}" if where else ""
    currency = detail.get("currency", "EUR")
    if kind == "payment":
        before = detail.get("already_charged_cents")
        more = f" ({money(before, currency)} charged before)" if before else ""
        return f"pay {money(detail.get('amount_cents'), currency)} for {booking}{at}{more}"
    if kind == "refund":
        return f"refund {money(detail.get('amount_cents'), currency)} for {booking}{at}"
    if kind == "booking_cancellation":
        return f"cancel {booking}{at}"
    if kind == "rate_override":
        rate = money(detail.get("nightly_rate_cents"), currency)
        return f"set the nightly rate of {booking} to {rate}{at}"
    return f"{kind} for {booking}{at}"


def plain(text: str, limit: int = 120) -> str:
    """Printable text only, bounded: the IAM refuses anything else as a binding message."""
    kept = "".join(c if (" " <= c <= "~" or c in "€£") else " " for c in text)
    return " ".join(kept.split())[:limit]


async def seek_approval(
    identity: AgentIdentity,
    principal: str,
    service: str,
    scope: str,
    details: list[dict[str, Any]],
    *,
    notify: Notify | None = None,
    sleep: Sleep = asyncio.sleep,
    binding_message: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> ApprovalAnswer:
    """Ask ``principal``'s person to approve ``details`` and wait for the answer (CIBA poll).

    ``binding_message`` defaults to the details in words; ``on_wait`` is told the waiting
    line ("waiting for alice's approval: …") before the first poll."""
    user = principal.split("/", 1)[0]
    what = "; ".join(words(d) for d in details) or "an unnamed action"
    message = plain(binding_message if binding_message is not None else what)
    oauth = identity.oauth
    try:
        started = await oauth.backchannel(
            identity.credentials,
            login_hint=user,
            scope=scope,
            authorization_details=details,
            binding_message=message,
            resource=identity.resource_of(service),
        )
    except OAuthClientError as exc:
        return ApprovalAnswer("refused", user, what, f"{exc.error}: {exc.description}")
    auth_req_id = str(started["auth_req_id"])
    interval = float(started.get("interval") or 5)  # §7.3: 5 s when the OP names none
    deadline = identity.clock.now() + float(started.get("expires_in") or 0)
    if on_wait is not None:
        on_wait(f"waiting for {user}'s approval: {what}")
    if notify is not None:
        await notify(user)
    while True:
        try:
            response = await oauth.ciba_token(
                identity.credentials, auth_req_id, dpop=identity.dpop, task=identity.task
            )
        except OAuthClientError as exc:
            waiting = exc.error in ("authorization_pending", "slow_down")
            if waiting and identity.clock.now() + interval <= deadline:
                if exc.error == "slow_down":
                    interval += SLOW_DOWN_STEP
                await sleep(interval)
                continue
            if exc.error == "access_denied":
                return ApprovalAnswer("denied", user, what, exc.description)
            if waiting or exc.error == "expired_token":
                return ApprovalAnswer("expired", user, what, exc.description)
            return ApprovalAnswer("refused", user, what, f"{exc.error}: {exc.description}")
        try:
            identity.hold_approval(principal, auth_req_id, response)
        except NoAuthority as exc:
            return ApprovalAnswer("refused", user, what, str(exc))
        return ApprovalAnswer("approved", user, what, auth_req_id=auth_req_id)


def seeker(
    identity: AgentIdentity,
    events: list[dict[str, Any]],
    notify: Notify | None,
    sleep: Sleep = asyncio.sleep,
) -> Seek:
    """How a conversation's tools ask a person's approval: the transcript (``events``) gets
    the waiting line and the outcome; the model reads only the outcome, in words."""

    async def seek(
        principal: str, service: str, scope: str, details: list[dict[str, Any]]
    ) -> tuple[str, Callable[[str, str], dict[str, str]] | None]:
        def waiting(line: str) -> None:
            events.append({"kind": "approval", "outcome": "waiting", "text": line})

        answer = await seek_approval(
            identity,
            principal,
            service,
            scope,
            details,
            notify=notify,
            sleep=sleep,
            on_wait=waiting,
        )
        said = answer.said()
        events.append({"kind": "approval", "outcome": answer.status, "text": said})
        if answer.auth_req_id is None:
            return said, None
        auth_req_id = answer.auth_req_id

        def headers(method: str, url: str) -> dict[str, str]:
            return identity.approval_headers(principal, auth_req_id, method, url)

        return said, headers

    return seek
