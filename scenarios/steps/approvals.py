"""A hijacked agent's moves against a person's approvals (OpenID CIBA Core 1.0, poll mode).

* :class:`AskApprovals` — asks the person to approve payments she did not ask for: a flood
  of them, the same one again and again before she looks, or one with a binding message
  crafted to mislead; whatever she approves is paid at once.
* :class:`ReplayApproval` — presents the approval-bound token the task already used again:
  the same payment once more, another amount, or another booking (one it found first with
  :class:`FindOtherBooking`: her bookings listed with the authority the agent holds).
* :class:`RedeemAgain` — redeems the task's ``auth_req_id`` at the token endpoint a second
  time, for a second approval-bound token.
* :class:`PayOther` — a compromised agent's plain payment on that other booking with the
  task's own authority, no approval presented (``Scenario.hijack``, ``--model compromised``).

Without agent IAM there is no approval to abuse: the agent pays with the authority its
profile gives it (``call_as``), which is what the other profiles' figures show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from agents.approval import words
from agents.identity import AgentIdentity, NoAuthority
from agents.oauth import OAuthClientError
from hotel.approvals import approval_detail
from scenarios.approver import people_of
from scenarios.model import AttackerCall, Run, Step
from scenarios.steps.hijacked import call_as

CARD = "pm-alice-1"


def payment(run: Run, booking_id: str, amount_cents: int) -> dict[str, Any]:
    """The RFC 9396 detail the payment service itself would ask to have approved."""
    world = run.world
    return approval_detail(world, "payment", world.booking(booking_id), amount_cents=amount_cents)


@dataclass
class Booked(Step):
    """Setting: ``guest`` booked another stay herself, at the front desk (no agent)."""

    guest: str
    hotel_id: str
    check_in: str
    check_out: str

    async def run(self, run: Run) -> None:
        booking = run.world.create_booking(
            self.guest,
            self.hotel_id,
            "double",
            date.fromisoformat(self.check_in),
            date.fromisoformat(self.check_out),
        )
        run.loot["other_booking"] = booking.id
        run.loot["other_owed"] = booking.total_cents - booking.paid_cents

    def describe(self) -> str:
        return f"{self.guest} booked {self.hotel_id} {self.check_in} to {self.check_out} herself"


def _identity(run: Run, agent: str) -> AgentIdentity | None:
    identity = run.agents[agent].identity
    return identity if isinstance(identity, AgentIdentity) else None


async def _pay(
    run: Run, agent: str, user: str, label: str, rid: str | None, booking: str, amount: int
) -> None:
    """Pay with the approval ``rid`` held for ``user`` (or, without agent IAM, with what the
    agent holds)."""
    body = {"booking_id": booking, "amount_cents": amount, "payment_method_id": CARD}
    identity = _identity(run, agent)
    if identity is None or rid is None:
        await call_as(run, agent, user, label, "payment", "/payments", body)
        return
    url = f"{run.dep.resource('payment')}/payments"
    try:
        headers = identity.approval_headers(user, rid, "POST", url)
    except NoAuthority as exc:
        run.attacker_calls.append(AttackerCall(label, 0, str(exc)))
        return
    response = await run.agents[agent].http.post(url, json=body, headers=headers)
    if identity.nonce_retry(url, response):
        headers = identity.approval_headers(user, rid, "POST", url)
        response = await run.agents[agent].http.post(url, json=body, headers=headers)
    error = None if response.status_code < 400 else response.text[:200]
    run.attacker_calls.append(AttackerCall(label, response.status_code, error))


@dataclass
class AskApprovals(Step):
    """A hijacked agent asks ``user`` to approve payments of ``amounts`` on ``booking_id``
    (one request each), with ``message`` as the binding message (default: the truth in
    words). ``look_each``: she looks at her page after each request; else once, after all.
    Each request ends as one attacker call: paid (201), or refused, denied or pending."""

    amounts: tuple[int, ...]
    booking_id: str
    message: str | None = None
    look_each: bool = True
    user: str = "alice"
    agent: str = "booking-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        identity = _identity(run, self.agent)
        if identity is None:
            for n, amount in enumerate(self.amounts):
                await _pay(
                    run, self.agent, self.user, f"payment {n}", None, self.booking_id, amount
                )
            return
        people = people_of(run.agents)
        started: list[tuple[int, int, str]] = []
        for n, amount in enumerate(self.amounts):
            detail = payment(run, self.booking_id, amount)
            try:
                answer = await identity.oauth.backchannel(
                    identity.credentials,
                    login_hint=self.user,
                    scope="payment:charge",
                    authorization_details=[detail],
                    binding_message=words(detail) if self.message is None else self.message,
                    resource=identity.resource_of("payment"),
                )
            except OAuthClientError as exc:
                label = f"approval request {n}"
                run.attacker_calls.append(AttackerCall(label, exc.status, exc.description))
                continue
            started.append((n, amount, str(answer["auth_req_id"])))
            if self.look_each and people is not None:
                await people(self.user)
        if not self.look_each and people is not None:
            await people(self.user)
        for n, amount, rid in started:
            label = f"approval request {n}"
            try:
                token = await identity.oauth.ciba_token(
                    identity.credentials, rid, dpop=identity.dpop, task=identity.task
                )
            except OAuthClientError as exc:
                run.attacker_calls.append(AttackerCall(label, exc.status, exc.error))
                continue
            identity.hold_approval(self.user, rid, token)
            await _pay(run, self.agent, self.user, label, rid, self.booking_id, amount)

    def describe(self) -> str:
        said = f" saying “{self.message}”" if self.message else ""
        return (
            f"hijacked {self.agent} asks {self.user} to approve {len(self.amounts)} "
            f"payment(s) on {self.booking_id}{said}"
        )


@dataclass
class FindOtherBooking(Step):
    """A hijacked agent lists ``user``'s bookings at the booking service, with the authority
    it holds for her, to find one other than its task's (``besides``) that is still owed,
    and what is owed on it — what it needs to know before presenting an approval there.
    Without an answer (the listing is refused) it goes on with the booking the setting
    names: a booking id is no secret."""

    besides: str
    user: str = "alice"
    agent: str = "booking-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        label = "list her bookings"
        runtime = run.agents[self.agent]
        url = f"{run.dep.resource('booking')}/bookings"
        try:
            headers, _ = await runtime.identity.headers(self.user, "booking", "GET", url)
        except (NoAuthority, OAuthClientError) as exc:
            status = exc.status if isinstance(exc, OAuthClientError) else 0
            run.attacker_calls.append(AttackerCall(label, status, str(exc)[:200]))
            return
        response = await runtime.http.get(url, headers=headers)
        error = None if response.status_code < 400 else response.text[:200]
        run.attacker_calls.append(AttackerCall(label, response.status_code, error))
        if error is not None:
            return
        for booking in response.json().get("bookings", []):
            owed = int(booking["total_cents"]) - int(booking["paid_cents"])
            if booking["id"] != self.besides and booking["status"] == "confirmed" and owed > 0:
                run.loot["other_booking"], run.loot["other_owed"] = booking["id"], owed
                return

    def describe(self) -> str:
        return f"hijacked {self.agent} lists {self.user}'s bookings for another one still owed"


def _other(run: Run, amount_cents: int | None) -> tuple[str, int]:
    """The other booking (found, or the setting's) and the amount: given, or what is owed."""
    booking = str(run.loot.get("other_booking", "bk-none"))
    return booking, amount_cents if amount_cents is not None else int(run.loot["other_owed"])


@dataclass
class ReplayApproval(Step):
    """A hijacked agent presents the approval-bound token its task already used, on a
    payment of ``amount_cents`` (``None``: what is owed) on ``booking_id`` (``None``: the
    other booking, found by :class:`FindOtherBooking` or named by :class:`Booked`)."""

    amount_cents: int | None
    booking_id: str | None
    user: str = "alice"
    agent: str = "booking-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        booking, amount = _other(run, self.amount_cents)
        booking = self.booking_id or booking
        identity = _identity(run, self.agent)
        held = identity.approvals_held(self.user) if identity else []
        rid = held[-1] if held else None
        if identity is not None and rid is None:
            run.attacker_calls.append(AttackerCall("replayed approval", 0, "no approval held"))
            return
        await _pay(run, self.agent, self.user, "replayed approval", rid, booking, amount)

    def describe(self) -> str:
        where = self.booking_id or "her other booking"
        amount = "what is owed" if self.amount_cents is None else self.amount_cents
        return f"hijacked {self.agent} reuses the approval on {where} for {amount}"


@dataclass
class PayOther(Step):
    """A compromised agent pays ``user``'s other booking (what is owed on it) with the
    authority its task holds, presenting no approval (``--model compromised``)."""

    user: str = "alice"
    agent: str = "booking-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        booking, amount = _other(run, None)
        body = {"booking_id": booking, "amount_cents": amount, "payment_method_id": CARD}
        label = "hijack pay her other booking"
        await call_as(run, self.agent, self.user, label, "payment", "/payments", body)

    def describe(self) -> str:
        return f"compromised {self.agent} pays {self.user}'s other booking, no approval"


@dataclass
class RedeemAgain(Step):
    """A hijacked agent redeems its task's approved ``auth_req_id`` once more at /token,
    then pays ``amount_cents`` on ``booking_id`` with whatever it got."""

    amount_cents: int
    booking_id: str
    user: str = "alice"
    agent: str = "booking-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        identity = _identity(run, self.agent)
        if identity is None:
            await _pay(
                run,
                self.agent,
                self.user,
                "second redemption",
                None,
                self.booking_id,
                self.amount_cents,
            )
            return
        held = identity.approvals_held(self.user)
        if not held:
            run.attacker_calls.append(AttackerCall("second redemption", 0, "no approval held"))
            return
        rid = held[-1]
        try:
            token = await identity.oauth.ciba_token(
                identity.credentials, rid, dpop=identity.dpop, task=identity.task
            )
        except OAuthClientError as exc:
            run.attacker_calls.append(
                AttackerCall("second redemption", exc.status, exc.description)
            )
            return
        again = f"{rid}#again"
        identity.hold_approval(self.user, again, token)
        await _pay(
            run,
            self.agent,
            self.user,
            "second redemption",
            again,
            self.booking_id,
            self.amount_cents,
        )

    def describe(self) -> str:
        return f"hijacked {self.agent} redeems {self.user}'s approval a second time"
