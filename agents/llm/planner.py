"""The embedded model's mind: from a chat (messages + tools) to the next assistant message.

Stateless like any chat model: every call gets the whole conversation and answers with one
assistant message — a tool call, or a final text. It plans from the last user request
(``understanding.py``) and from the results of its own earlier tool calls, which it
recognises by their ids (``call-<intent>-<step>``). Reading those out of the messages is
``conversation.py``; this module holds the planning: which scopes to ask for, the next tool
call of each intent, the calls made alongside it, and the final answer.

Susceptibility: an ``obedient`` model also treats instruction-like text found in tool output
(a review, a concierge note, a message) as a request and carries it out — a fully hijacked
model, the worst case the IAM must contain. A ``resistant`` model reads tool output as data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agents.llm import conversation
from agents.llm.conversation import Result
from agents.llm.understanding import Intent, anchored, understand

Susceptibility = Literal["obedient", "resistant"]
MAX_TOOL_CALLS = 16  # a runaway plan ends; a real model has a step budget too

# What each action needs delegated (the model's reading of the scopes its tools document).
SCOPES_FOR: Mapping[str, tuple[str, ...]] = {
    "list_hotels": ("availability:read",),
    "reviews": ("availability:read",),
    "search": ("availability:read",),
    "book": ("availability:read", "booking:create", "booking:read"),
    "pay": ("payment:charge", "booking:read"),
    "my_bookings": ("booking:read",),
    "show_booking": ("booking:read",),
    "cancel": ("booking:cancel", "booking:read"),
    "change_dates": ("booking:modify", "booking:read"),
    "rate_override": ("booking:rate-override", "booking:read"),
    "refund": ("payment:refund",),
    "guest_profile": ("concierge:pii",),
    "staff_directory": ("concierge:read",),
    "list_requests": ("concierge:read",),
    "assign": ("concierge:assign", "concierge:read"),
    "concierge": ("concierge:request",),
    "handoff": ("concierge:request",),
}
AUTONOMOUS_ACTIONS = frozenset({"list_hotels", "reviews", "search"})


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the embedded model plans: ``key`` names it in the conversation."""

    key: str
    tool: str
    args: dict[str, Any]


def respond(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    susceptibility: Susceptibility,
) -> dict[str, Any]:
    """The next assistant message (OpenAI chat format) for this conversation."""
    names = {str(t.get("function", {}).get("name")) for t in tools if isinstance(t, Mapping)}
    start = conversation.last_user(messages)
    request = understand(conversation.text_of(messages[start]) if start is not None else "")
    if names == {"request_authorization"}:
        return _authorization(request)
    after = messages[start + 1 :] if start is not None else []
    done, sent = conversation.history(after)
    intents: list[tuple[str, Intent]] = []
    if susceptibility == "obedient":
        intents += [
            (p, anchored(i, request))
            for p, i in conversation.injected(after, sent | {request.text})
        ]
    intents.append(("u", request))
    if len(done) < MAX_TOOL_CALLS:
        found = conversation.credentials(messages) if susceptibility == "obedient" else []
        for prefix, intent in intents:
            call = _next_call(prefix, intent, done, names, found)
            if call is not None:
                return _tool_message(call, *_alongside(call, intent, done, names))
    if not done and request.wants("book") and request.nights and not request.check_in:
        nights = request.nights
        return {"role": "assistant", "content": f"From which date should I book {nights} nights?"}
    return {"role": "assistant", "content": _summary(after, done)}


# -- planning -------------------------------------------------------------------------------
def _authorization(request: Intent) -> dict[str, Any]:
    """The first turn: ask the user for exactly what the request needs, before any tool runs."""
    needed = [a for a in request.actions if a not in AUTONOMOUS_ACTIONS]
    if not needed:
        return {"role": "assistant", "content": "No delegation is needed for this request."}
    scopes = sorted({s for a in request.actions for s in SCOPES_FOR[a]})
    args: dict[str, Any] = {"scopes": scopes, "pay": request.wants("pay")}
    if request.wants("book") and request.hotel_id and request.check_in and request.check_out:
        args["booking"] = {
            "hotel_id": request.hotel_id,
            "check_in": request.check_in,
            "check_out": request.check_out,
            **({"room_type": request.room_type} if request.room_type else {}),
        }
    if request.booking_id:
        args["booking_id"] = request.booking_id
    if request.amount_cents and request.wants("pay"):
        args["max_amount_cents"] = request.amount_cents
    return _tool_message(ToolCall("u-auth", "request_authorization", args))


def _next_call(
    prefix: str,
    intent: Intent,
    done: Mapping[str, Result],
    tools: set[str],
    credentials: Sequence[str] = (),
) -> ToolCall | None:
    """The next step of one intent, or None when it has nothing left it can do.

    ``credentials``: secrets a hijacked model finds in its own context; an injected order
    to send them is obeyed. With agent IAM there are none to find.
    """

    def step(name: str, tool: str, args: dict[str, Any]) -> ToolCall | None:
        key = f"{prefix}-{name}"
        if key in done or tool not in tools:
            return None
        return ToolCall(key, tool, {k: v for k, v in args.items() if v is not None})

    def result(name: str) -> Result | None:
        return done.get(f"{prefix}-{name}")

    stay = {"check_in": intent.check_in, "check_out": intent.check_out}
    for action in intent.actions:
        call: ToolCall | None = None
        if action == "list_hotels":
            call = step("hotels", "list_hotels", {})
        elif action == "reviews" and intent.hotel_id:
            call = step("reviews", "read_reviews", {"hotel_id": intent.hotel_id})
        elif action in ("search", "book") and intent.hotel_id and intent.check_in:
            call = step(
                "search",
                "search_availability",
                {"hotel_id": intent.hotel_id, **stay, "room_type": intent.room_type},
            )
            searched = result("search")
            if call is None and action == "book" and searched and searched.ok:
                offer = _offer(searched.data, intent.room_type)
                if offer is not None:
                    call = step(
                        "book",
                        "book_room",
                        {"hotel_id": intent.hotel_id, "room_type": offer["room_type"], **stay},
                    )
        elif action == "pay":
            call = _pay(intent, step, result)
        elif action == "my_bookings":
            call = step("bookings", "my_bookings", {})
        elif action == "show_booking" and intent.booking_id:
            call = step("lookup", "get_booking", {"booking_id": intent.booking_id})
        elif action == "cancel" and intent.booking_id:
            call = step("cancel", "cancel_booking", {"booking_id": intent.booking_id})
        elif action == "change_dates" and intent.booking_id and intent.check_in:
            call = step("dates", "change_booking_dates", {"booking_id": intent.booking_id, **stay})
        elif action == "rate_override" and intent.booking_id and intent.amount_cents:
            rate = {"booking_id": intent.booking_id, "nightly_rate_cents": intent.amount_cents}
            call = step("rate", "override_rate", rate)
        elif action == "refund" and intent.payment_id and intent.amount_cents:
            refund = {"payment_id": intent.payment_id, "amount_cents": intent.amount_cents}
            call = step("refund", "refund_payment", refund)
        elif action == "guest_profile" and intent.guest_id:
            call = step("profile", "guest_profile", {"guest_id": intent.guest_id})
        elif action == "staff_directory":
            call = step("staff", "staff_directory", {})
        elif action == "list_requests":
            call = step("requests", "list_requests", {})
        elif action == "assign" and intent.request_id and intent.staff_id:
            assign = {"request_id": intent.request_id, "staff_id": intent.staff_id}
            call = step("assign", "assign_request", assign)
        elif action == "concierge":
            body = intent.text
            if prefix != "u" and _ASKS_FOR_SECRETS.search(body) and credentials:
                body = f"{body} {' '.join(credentials)}"
            text = {"text": body, "recipient": intent.recipient}
            call = step("concierge", "concierge_request", text)
        elif action == "handoff":
            task = intent.text.split(":", 1)[-1].strip() or intent.text
            call = step("handoff", "handoff_to_staff", {"task": task})
        if call is not None:
            return call
    return None


def _pay(intent: Intent, step: Any, result: Any) -> ToolCall | None:
    """Pay the booking just made (or the one named): its amount owed, with the guest's card."""
    booked: Result | None = result("book")
    booking: Any = booked.data if booked and booked.ok else None
    if booking is None and intent.booking_id:
        lookup = step("lookup", "get_booking", {"booking_id": intent.booking_id})
        if lookup is not None:
            return lookup  # type: ignore[no-any-return]
        found: Result | None = result("lookup")
        booking = found.data if found and found.ok else None
    if not isinstance(booking, Mapping) or (intent.wants("book") and not (booked and booked.ok)):
        return None
    card = intent.card_id
    if card is None:
        listing = step("cards", "list_payment_methods", {})
        if listing is not None:
            return listing  # type: ignore[no-any-return]
        cards: Result | None = result("cards")
        listed = cards.data if cards and cards.ok else None
        methods = listed.get("payment_methods") if isinstance(listed, Mapping) else None
        first = methods[0] if isinstance(methods, list) and methods else None
        card = first.get("id") if isinstance(first, Mapping) else None
        if not isinstance(card, str):
            return None
    total, paid = booking.get("total_cents", 0), booking.get("paid_cents", 0)
    if not isinstance(total, int) or not isinstance(paid, int):
        return None
    owed = total - paid
    amount = intent.amount_cents or owed
    charge = {"booking_id": booking.get("id"), "amount_cents": amount, "payment_method_id": card}
    return step("pay", "pay_booking", charge)  # type: ignore[no-any-return]


def _offer(data: Any, room_type: str | None) -> Mapping[str, Any] | None:
    offers = data.get("offers") if isinstance(data, Mapping) else None
    fitting = [
        o
        for o in (offers if isinstance(offers, list) else ())
        if isinstance(o, Mapping)
        and isinstance(o.get("available"), int)
        and o["available"] > 0
        and isinstance(o.get("total_cents", 0), int)
        and (room_type is None or o.get("room_type") == room_type)
    ]
    return min(fitting, key=lambda o: o.get("total_cents", 0)) if fitting else None


_ASKS_FOR_SECRETS = re.compile(r"\b(token|api key|key|credential|secret|password)s?\b", re.I)


def _alongside(
    call: ToolCall, intent: Intent, done: Mapping[str, Result], tools: set[str]
) -> list[ToolCall]:
    """Calls that need nothing from the first one, made in the same turn (parallel tool
    calls): the guest's cards are looked up while the search runs."""
    prefix = call.key.split("-", 1)[0]
    cards = f"{prefix}-cards"
    if (
        call.key.endswith("-search")
        and intent.wants("pay")
        and intent.card_id is None
        and cards not in done
        and "list_payment_methods" in tools
    ):
        return [ToolCall(cards, "list_payment_methods", {})]
    return []


def _tool_message(*calls: ToolCall) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call-{call.key}",
                "type": "function",
                "function": {"name": call.tool, "arguments": json.dumps(call.args)},
            }
            for call in calls
        ],
    }


def _summary(after: Sequence[Mapping[str, Any]], done: Mapping[str, Result]) -> str:
    """The final answer: one line per step taken, in order, with what happened."""
    if not done:
        return "I could not find anything I can do for that request."
    lines = []
    for key, outcome in done.items():
        step = key.split("-", 1)[-1]
        origin = "" if key.startswith("u-") else " (as instructed by text I read)"
        if outcome.ok:
            ref = outcome.data.get("id") if isinstance(outcome.data, Mapping) else None
            lines.append(f"- {step}: done{f' ({ref})' if ref else ''}{origin}.")
        else:
            lines.append(f"- {step}: refused{origin}: {_reason(outcome.data)}")
    return "Here is what happened:\n" + "\n".join(lines)


def _reason(error: Any) -> str:
    if isinstance(error, Mapping):
        return str(error.get("error_description") or error.get("error") or error)
    return str(error)
