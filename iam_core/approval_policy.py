"""What needs a person's approval at the moment it happens, and how an approval reads.

Two halves of one rule set, both in the issuer's :class:`~iam_core.policy.Policy`:

* :class:`ApprovalPolicy` — which actions a service answers with an approval challenge
  instead of doing them (payments above the consented cap or a threshold, every refund,
  cancelling close to arrival, rate overrides). The services see it through the
  resource-server kit (:class:`~iam_core.resource_server.ResourcePolicy`).
* :class:`ApprovalLimits` — the IAM's guard against approval fatigue (OpenID CIBA Core 1.0
  §7.1, §11, §13): how long a request lives, how often an agent may poll, how many requests
  an agent may make per window; ``enforce=False`` lifts the limits for development.

The challenge is :class:`ApprovalRequired`: HTTP 403 with ``error="approval_required"`` in
an RFC 6750 §3 ``WWW-Authenticate`` header, and in the body the RFC 9396
``authorization_details`` the approval must carry plus the IAM's
``backchannel_authentication_endpoint`` — what an agent needs to ask for exactly this
action. (RFC 6750 §3.1 lets a resource server define further error codes; ``approval_required``
is this lab's, chosen over ``insufficient_scope`` because more scope would not help.)

:func:`describe` puts an authorization detail in words, for the consent page, the approvals
page and the command line: the person reads the amount and payee the token will carry, not
what an agent chose to write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iam_core.errors import BearerError
from iam_core.quota import QuotaSpec

CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£"}
APPROVAL_TYPES = ("payment", "refund", "booking_cancellation", "rate_override")


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Which agent actions need the person's approval (None/False: never for that rule)."""

    payments_above_cap: bool = True
    payment_threshold_cents: int | None = 40_000
    refunds: bool = True
    cancel_within_hours: int | None = 48
    rate_overrides: bool = True

    def describe(self) -> list[str]:
        """The rules in words (``agent-iam demo`` prints them)."""
        rules = []
        if self.payments_above_cap:
            rules.append("a payment above the amount the person consented to")
        if self.payment_threshold_cents is not None:
            rules.append(f"any payment of {money(self.payment_threshold_cents, 'EUR')} or more")
        if self.refunds:
            rules.append("every refund")
        if self.cancel_within_hours is not None:
            rules.append(f"cancelling within {self.cancel_within_hours} hours of arrival")
        if self.rate_overrides:
            rules.append("every rate override")
        return rules


@dataclass(frozen=True, slots=True)
class ApprovalLimits:
    """Approval fatigue and spoofing limits at the IAM (CIBA Core 1.0 §7.3 ``expires_in``,
    ``interval``; §11 ``slow_down``)."""

    expires_in: int = 300
    interval: int = 1
    slow_down_step: int = 5
    per_agent: QuotaSpec | None = field(default_factory=lambda: QuotaSpec(10, 600))
    binding_message_max: int = 120
    enforce: bool = True  # False: development — no rate limit, one-pending rule lifted

    def describe(self) -> list[str]:
        if not self.enforce:
            return ["limits lifted (development switch)"]
        rules = [
            f"requests expire after {self.expires_in} s; poll at most every {self.interval} s",
            "one pending request per person, agent and action",
        ]
        if self.per_agent is not None:
            spec = self.per_agent
            rules.append(f"at most {spec.limit} requests per agent within {spec.window} s")
        return rules


class ApprovalRequired(BearerError):
    """403 ``approval_required``: the action needs the person's approval of exactly it."""

    error = "approval_required"
    status = 403

    def __init__(
        self, description: str, *, authorization_details: list[dict[str, Any]], endpoint: str
    ) -> None:
        super().__init__(description)
        self.authorization_details = authorization_details
        self.endpoint = endpoint

    def body(self) -> dict[str, Any]:
        return {
            **super().body(),
            "authorization_details": self.authorization_details,
            "backchannel_authentication_endpoint": self.endpoint,
        }


def money(cents: object, currency: object) -> str:
    """``42000, "EUR"`` → ``€420.00``; anything else is shown as it is."""
    if not isinstance(cents, int) or isinstance(cents, bool):
        return f"{cents!s} (not an amount)"
    code = str(currency or "")
    sign = CURRENCY_SIGNS.get(code)
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    return f"{sign}{amount}" if sign else f"{amount} {code}".strip()


def describe(detail: Mapping[str, Any]) -> str:
    """One RFC 9396 authorization detail in words (every field the person must know)."""
    kind = detail.get("type")
    where = detail.get("hotel_name") or detail.get("hotel_id")
    at = f" at {where}" if where else ""
    dates = ""
    if detail.get("check_in") and detail.get("check_out"):
        dates = f", {detail['check_in']} to {detail['check_out']}"
    booking = f" for booking {detail['booking_id']}" if detail.get("booking_id") else ""
    currency = detail.get("currency", "EUR")
    if kind == "payment" and "amount_cents" in detail:
        before = detail.get("already_charged_cents")
        more = f" ({money(before, currency)} already charged by this agent)" if before else ""
        return f"pay {money(detail['amount_cents'], currency)}{booking}{at}{dates}{more}"
    if kind == "payment":
        cap = detail.get("max_amount_cents")
        limit = f"up to {money(cap, currency)}" if cap is not None else "an unnamed amount"
        return f"pay {limit}{booking}{at}{dates}"
    if kind == "refund":
        return f"refund {money(detail.get('amount_cents'), currency)}{booking}{at}{dates}"
    if kind == "booking_cancellation":
        return f"cancel booking {detail.get('booking_id')}{at}{dates}"
    if kind == "rate_override":
        rate = money(detail.get("nightly_rate_cents"), currency)
        return f"set the nightly rate to {rate}{booking}{at}{dates}"
    if kind == "hotel_booking":
        room = f"a {detail['room_type']} room" if detail.get("room_type") else "a room"
        cap = detail.get("max_total_cents")
        most = f", at most {money(cap, currency)}" if cap is not None else ""
        return f"book {room}{at}{dates}{most}"
    shown = ", ".join(f"{k} {v}" for k, v in sorted(detail.items()) if k != "type")
    return f"{kind}: {shown}" if shown else str(kind)
