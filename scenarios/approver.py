"""The scenarios' people as approvers: each answers approval requests on her own page.

OpenID CIBA Core 1.0 §7.1 leaves it to the OP to reach the person's authentication device;
in process, :class:`People` is that reach: when an agent has asked (``notify``), the named
person signs in to ``/account/approvals`` with her password, reads what is pending — the
page a browser shows and the list ``agent-iam approvals list`` prints — and posts Approve or
Deny with the page's anti-CSRF token, like anyone at a browser.

She decides on the **authorization details the IAM shows** — amount, booking, payee — held
against her own task (``expect``), never on the agent's ``binding_message``: a request she
did not ask for is denied, and each task is approved once (a second request for the same
payment is not her task any more). What each page showed is kept in ``seen`` so that a
scenario can assert the person was shown the real amount and payee.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from iam_core.seed import DEMO_PASSWORDS
from scenarios.deployment import Deployment

_CSRF_FIELD = re.compile(r"name=csrf value='([^']+)'")
# The fields of a request a person checks against her task (what, which booking, how much,
# to whom); the rest (dates, names) follow from the booking.
CHECKED = (
    "type",
    "booking_id",
    "amount_cents",
    "nightly_rate_cents",
    "hotel_id",
    "already_charged_cents",
)


@dataclass
class Seen:
    """One pending request as the person's page showed it."""

    user: str
    auth_req_id: str
    what: list[str]  # the IAM's words for the details (JSON list, as the CLI prints)
    page: str  # the approval's box on the HTML page
    binding_message: str
    decision: str = ""


_IDS = re.compile(r"\b(?:bk|pay)-[A-Za-z0-9]+\b")
_MONEY = re.compile(
    r"(?:[$€£]\s*(\d[\d,]*(?:\.\d{1,2})?))"
    r"|(?:(\d[\d,]*(?:\.\d{1,2})?)\s*(cents|euros?|dollars?|eur|usd))",
    re.IGNORECASE,
)
_KINDS = {
    "payment": re.compile(r"\bpay(?:ing)?\b"),  # not "payment": a refund names one
    "refund": re.compile(r"\brefund"),
    "booking_cancellation": re.compile(r"\bcancel"),
    "rate_override": re.compile(r"\brate\b"),
}


def task_in_words(text: str) -> dict[str, Any] | None:
    """The action a person's own request names, when it names one an approval may be for:
    its kind, the bookings or payments it names, the amounts it names (in cents). Used when
    a scenario states no ``approves``: she approves what she herself asked for."""
    lowered = _IDS.sub(" ", text).lower()  # "pay-BOB001" names a payment, not paying
    kinds = {kind for kind, named in _KINDS.items() if named.search(lowered)}
    ids = set(_IDS.findall(text))
    amounts = set()
    for sign_amount, amount, unit in _MONEY.findall(text):
        value = float((sign_amount or amount).replace(",", ""))
        amounts.add(round(value) if unit.lower() == "cents" else round(value * 100))
    if not kinds or not ids:
        return None
    return {"kinds": kinds, "ids": ids, "amounts": amounts}


def _in_words(task: Mapping[str, Any], detail: Mapping[str, Any]) -> bool:
    named = {detail.get("booking_id"), detail.get("payment_id")} & task["ids"]
    amount = detail.get("amount_cents", detail.get("nightly_rate_cents"))
    return (
        detail.get("type") in task["kinds"]
        and bool(named)
        and (amount is None or amount in task["amounts"])
        and not detail.get("already_charged_cents")
    )


@dataclass
class Device:
    """A person's authentication device: her sign-in, her task, what she has decided."""

    user: str
    expects: list[dict[str, Any]] = field(default_factory=list)
    stated: bool = False  # the scenario stated her task: her words add nothing to it

    def matches(self, details: list[Mapping[str, Any]]) -> dict[str, Any] | None:
        """The task this request is exactly, or None (one action, every checked field)."""
        if len(details) != 1:
            return None
        detail = details[0]
        for task in self.expects:
            if "kinds" in task:
                if _in_words(task, detail):
                    return task
            elif all(detail.get(k) == task.get(k) for k in CHECKED if k in task or k in detail):
                return task
        return None


class People:
    """Every demo person's device in one deployment; called with a user id when an agent
    asks that person for approval."""

    def __init__(self, dep: Deployment) -> None:
        self._dep = dep
        self.devices: dict[str, Device] = {}
        self.seen: list[Seen] = []

    def reset_state(self) -> None:
        """Nobody takes part yet, nothing seen (a reused stack's next run: iam_core/state_reset)."""
        self.devices.clear()
        self.seen.clear()

    def device(self, user: str) -> Device:
        """``user`` takes part in the scenario: she answers what she is asked."""
        return self.devices.setdefault(user, Device(user))

    def asked(self, user: str, request: str) -> None:
        """``user`` asked an agent ``request`` herself: she takes part, and she approves the
        action her words name (unless the scenario stated her task)."""
        device = self.device(user)
        task = task_in_words(request)
        if task is not None and not device.stated:
            device.expects.append(task)

    def expect(self, user: str, tasks: tuple[Mapping[str, Any], ...]) -> None:
        """The approvals ``user``'s own task will need (amount, booking, payee)."""
        device = self.device(user)
        device.stated = True
        device.expects.extend(dict(t) for t in tasks)

    async def __call__(self, user: str) -> None:
        """The person opens her approvals page and answers what is pending there."""
        password = DEMO_PASSWORDS.get(user)
        device = self.devices.get(user)
        if device is None or password is None or self._dep.transport is None:
            # Not a person of this scenario (e.g. ``agent-iam chat``: the real person answers
            # in a browser or with ``agent-iam approvals``): the request waits for her.
            return
        async with httpx.AsyncClient(
            transport=self._dep.transport,
            base_url=self._dep.issuer,
            headers={"Origin": self._dep.issuer.rstrip("/")},
        ) as browser:
            login = (await browser.get("/login")).text
            token = _CSRF_FIELD.search(login)
            form = {"username": user, "password": password, "request_id": ""}
            signed = await browser.post(
                "/login", data={**form, "csrf": token.group(1) if token else ""}
            )
            if signed.status_code != 303:
                return
            page = (await browser.get("/account/approvals")).text
            listed = await browser.get("/account/approvals", headers={"Accept": "application/json"})
            body = listed.json()
            for item in body.get("pending", []):
                rid = str(item["auth_req_id"])
                seen = Seen(
                    user, rid, list(item["what"]), _box(page, rid), str(item["binding_message"])
                )
                task = device.matches(list(item["authorization_details"]))
                seen.decision = "approve" if task is not None else "deny"
                self.seen.append(seen)
                decided = await browser.post(
                    "/account/approvals/decide",
                    data={"auth_req_id": rid, "decision": seen.decision, "csrf": body["csrf"]},
                )
                if decided.status_code == 303 and task is not None:
                    device.expects.remove(task)  # her task is approved once


def _box(page: str, auth_req_id: str) -> str:
    """The HTML of one request's box on the approvals page."""
    start = page.find(f"data-auth-req-id='{auth_req_id}'")
    if start < 0:
        return ""
    end = page.find("</form></div>", start)
    return page[start : end if end > 0 else None]


def people_of(agents: Mapping[str, Any]) -> People | None:
    """The deployment's people, as the crew handed them to the agents (``notify``)."""
    for runtime in agents.values():
        notify = getattr(runtime, "notify", None)
        if isinstance(notify, People):
            return notify
    return None
