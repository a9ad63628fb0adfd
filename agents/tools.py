"""The agents' tools: OpenAI function definitions and the HTTP calls behind them.

A tool names its service, route and the scope it needs; the :class:`ToolBox` asks the
identity component for request headers and calls the service. What goes back to the model is
data — the service's JSON answer, or its refusal — with anything shaped like a token
scrubbed out; what goes to the transcript is the call, the identity used (never the token)
and the decision. The framework adds no authority of its own: a tool can only do what the
token the identity component holds allows, and the service decides.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from agents.identity import NoAuthority, Presenter
from agents.json_limits import loads as bounded_json
from agents.oauth import OAuthClientError

# Anything shaped like a JWT (a JSON header in base64url, a payload, a signature).
TOKEN_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
REDACTED = "[redacted: token]"


def scrub(text: str) -> str:
    """Anything shaped like a JWT out of text bound for a model, transcript or log."""
    return TOKEN_SHAPE.sub(REDACTED, text)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    service: str
    method: str
    path: str  # with {placeholders} filled from the arguments
    scope: str
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    query: bool = False  # arguments go in the query string (else: the JSON body)

    def definition(self) -> dict[str, Any]:
        """The OpenAI function-calling definition."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": f"{self.description} (needs {self.scope})",
                "parameters": {
                    "type": "object",
                    "properties": dict(self.params),
                    "required": list(self.required),
                    "additionalProperties": False,
                },
            },
        }


_S = {"type": "string"}
_DATE = {"type": "string", "format": "date"}
_INT = {"type": "integer", "minimum": 1}
HOTEL = {"hotel_id": _S}
STAY = {"check_in": _DATE, "check_out": _DATE}

TOOLS: Mapping[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "list_hotels", "List the hotels", "availability", "GET", "/hotels", "availability:read"
        ),
        Tool(
            "read_reviews",
            "Read guests' reviews of a hotel (free text written by anyone)",
            "availability",
            "GET",
            "/hotels/{hotel_id}/reviews",
            "availability:read",
            HOTEL,
            ("hotel_id",),
        ),
        Tool(
            "search_availability",
            "Search rooms and prices for a stay",
            "availability",
            "GET",
            "/search",
            "availability:read",
            {**HOTEL, **STAY, "room_type": _S},
            ("hotel_id", "check_in", "check_out"),
            query=True,
        ),
        Tool(
            "book_room",
            "Book a room for the user",
            "booking",
            "POST",
            "/bookings",
            "booking:create",
            {**HOTEL, "room_type": _S, **STAY},
            ("hotel_id", "room_type", "check_in", "check_out"),
        ),
        Tool("my_bookings", "The user's bookings", "booking", "GET", "/bookings", "booking:read"),
        Tool(
            "get_booking",
            "One booking by id",
            "booking",
            "GET",
            "/bookings/{booking_id}",
            "booking:read",
            {"booking_id": _S},
            ("booking_id",),
        ),
        Tool(
            "cancel_booking",
            "Cancel one of the user's bookings",
            "booking",
            "DELETE",
            "/bookings/{booking_id}",
            "booking:cancel",
            {"booking_id": _S},
            ("booking_id",),
        ),
        Tool(
            "change_booking_dates",
            "Move a booking to other dates (staff)",
            "booking",
            "PATCH",
            "/bookings/{booking_id}/dates",
            "booking:modify",
            {"booking_id": _S, **STAY},
            ("booking_id", "check_in", "check_out"),
        ),
        Tool(
            "override_rate",
            "Override a booking's nightly rate (managers)",
            "booking",
            "PATCH",
            "/bookings/{booking_id}/rate",
            "booking:rate-override",
            {"booking_id": _S, "nightly_rate_cents": _INT},
            ("booking_id", "nightly_rate_cents"),
        ),
        Tool(
            "list_payment_methods",
            "The user's saved cards (masked)",
            "payment",
            "GET",
            "/payment-methods",
            "payment:charge",
        ),
        Tool(
            "pay_booking",
            "Charge a booking to one of the user's cards",
            "payment",
            "POST",
            "/payments",
            "payment:charge",
            {"booking_id": _S, "amount_cents": _INT, "payment_method_id": _S},
            ("booking_id", "amount_cents", "payment_method_id"),
        ),
        Tool(
            "refund_payment",
            "Refund a payment (managers)",
            "payment",
            "POST",
            "/payments/{payment_id}/refund",
            "payment:refund",
            {"payment_id": _S, "amount_cents": _INT},
            ("payment_id", "amount_cents"),
        ),
        Tool(
            "concierge_request",
            "Send a request to the hotel's concierge (optionally to a recipient)",
            "concierge",
            "POST",
            "/requests",
            "concierge:request",
            {"text": _S, "recipient": _S},
            ("text",),
        ),
        Tool(
            "list_requests",
            "Every open concierge request (staff)",
            "concierge",
            "GET",
            "/requests",
            "concierge:read",
        ),
        Tool(
            "staff_directory",
            "The staff directory (staff)",
            "concierge",
            "GET",
            "/staff",
            "concierge:read",
        ),
        Tool(
            "assign_request",
            "Assign a concierge request to a staff member (staff)",
            "concierge",
            "POST",
            "/requests/{request_id}/assign",
            "concierge:assign",
            {"request_id": _S, "staff_id": _S},
            ("request_id", "staff_id"),
        ),
        Tool(
            "guest_profile",
            "A guest's personal profile (staff, personal data)",
            "concierge",
            "GET",
            "/guests/{guest_id}/profile",
            "concierge:pii",
            {"guest_id": _S},
            ("guest_id",),
        ),
    )
}

HANDOFF_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "handoff_to_staff",
        "description": "Pass a concierge task to the staff assistant (signed message; the "
        "staff assistant gets only a narrowed share of your delegation)",
        "parameters": {
            "type": "object",
            "properties": {"task": _S},
            "required": ["task"],
            "additionalProperties": False,
        },
    },
}

LocalTool = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
# principal, service, scope, authorization_details → the outcome in words and, if the person
# approved, a maker of (method, url) headers presenting the approval-bound token.
Seek = Callable[
    [str, str, str, list[dict[str, Any]]],
    Awaitable[tuple[str, Callable[[str, str], dict[str, str]] | None]],
]


class ToolBox:
    """Runs one agent's tool calls for one principal; records each call in ``events``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        identity: Presenter,
        base_url_of: Callable[[str], str],
        names: Sequence[str],
        *,
        principal: str | None,
        local: Mapping[str, LocalTool] | None = None,
        seek: Seek | None = None,
    ) -> None:
        """``seek``: ask the person to approve an action a service answered with
        ``approval_required`` (agents/approval.py); None: such an answer is a refusal."""
        self.http = http
        self._seek = seek
        self.identity = identity
        self._base_url_of = base_url_of
        self._names = list(names)
        self.principal = principal
        self._local = dict(local or {})
        self.events: list[dict[str, Any]] = []
        self.seconds = 0.0  # time in service calls (HTTP), tokens excluded

    def definitions(self) -> list[dict[str, Any]]:
        defs = [TOOLS[n].definition() for n in self._names if n in TOOLS]
        return defs + ([HANDOFF_TOOL] if "handoff_to_staff" in self._local else [])

    async def run(self, name: str, raw_args: str) -> str:
        """Run one call; the answer is the tool message content the model reads."""
        try:
            args = bounded_json(raw_args or "{}", max_bytes=1024 * 1024)
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return self._answer({"tool": name, "outcome": "error"}, False, f"bad arguments: {exc}")
        event: dict[str, Any] = {"tool": name, "args": args}
        if name in self._local:
            result = await self._local[name](args)
            event.update(outcome="allowed" if result.get("ok") else "denied", detail=result)
            self.events.append(event)
            return scrub(json.dumps(result))
        tool = TOOLS.get(name) if name in self._names else None
        if tool is None:
            return self._answer(event | {"outcome": "error"}, False, f"no tool named {name!r}")
        return await self._call(tool, args, event)

    async def _call(self, tool: Tool, args: dict[str, Any], event: dict[str, Any]) -> str:
        try:
            path = tool.path.format(**{k: str(v) for k, v in args.items()})
        except KeyError as exc:
            return self._answer(event | {"outcome": "error"}, False, f"missing argument {exc}")
        rest = {k: v for k, v in args.items() if "{" + k + "}" not in tool.path}
        url = f"{self._base_url_of(tool.service)}{path}"
        event.update(service=tool.service, method=tool.method, path=path)
        try:
            headers, use = await self.identity.headers(
                self.principal, tool.service, tool.method, url
            )
        except (NoAuthority, OAuthClientError) as exc:
            # Refused at the IAM (audited there) or nothing to ask with: the call is not made.
            reason = exc.description if isinstance(exc, OAuthClientError) else str(exc)
            return self._answer(event | {"outcome": "denied", "at": "iam"}, False, reason)
        event.update(
            identity=use.describe(), token_type=use.token_type, sub=use.sub, act=list(use.act)
        )
        request: dict[str, Any] = {"params": rest} if tool.query else {"json": rest or None}
        if tool.method in ("GET", "DELETE"):
            request = {"params": rest} if rest else {}
        started = time.perf_counter()
        response = await self.http.request(tool.method, url, headers=headers, **request)
        if self.identity.nonce_retry(url, response):
            # RFC 9449 §9: the service wants its nonce in the proof; once more, with it.
            headers, use = await self.identity.headers(
                self.principal, tool.service, tool.method, url
            )
            response = await self.http.request(tool.method, url, headers=headers, **request)
        self.seconds += time.perf_counter() - started
        body = _json(response)
        if (
            response.status_code == 403
            and isinstance(body, dict)
            and body.get("error") == "approval_required"
            and self._seek is not None
            and self.principal is not None
        ):
            # The service wants the person's approval of exactly this action (RFC 6750 §3,
            # CIBA): note the refusal, ask, and on approval send the same request once more.
            details = [d for d in body.get("authorization_details") or () if isinstance(d, dict)]
            # One tool event for the call, after the approval lines: what the person said
            # is on it (``approval``), and what became of the call.
            event["approval_asked"] = str(body.get("error_description") or "approval required")
            said, approved = await self._seek(self.principal, tool.service, tool.scope, details)
            if approved is None:
                event["approval"] = said
                return self._answer(event | {"outcome": "denied", "at": "person"}, False, said)
            event["approval"] = said
            response = await self.http.request(
                tool.method, url, headers=approved(tool.method, url), **request
            )
            if self.identity.nonce_retry(url, response):
                response = await self.http.request(
                    tool.method, url, headers=approved(tool.method, url), **request
                )
            body = _json(response)
        ok = response.status_code < 400
        event.update(status=response.status_code, outcome="allowed" if ok else "denied")
        if not ok:
            event["reason"] = body.get("error_description") or body.get("detail") or body
        self.events.append(event)
        if ok:
            return scrub(json.dumps({"ok": True, "data": body}))
        return scrub(json.dumps({"ok": False, "status": response.status_code, "error": body}))

    def _answer(self, event: dict[str, Any], ok: bool, reason: str) -> str:
        event["reason"] = reason
        self.events.append(event)
        return scrub(json.dumps({"ok": ok, "error": {"error_description": reason}}))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"error": "http_error", "error_description": response.text[:200]}
