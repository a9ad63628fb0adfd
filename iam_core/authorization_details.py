"""RFC 9396 ``authorization_details``: the detail types this deployment understands, parsed.

A grant must mean exactly what it says: unknown types and unknown fields are refused with
``invalid_authorization_details`` (RFC 9396 §5).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from iam_core.errors import InvalidRequest, OAuthError
from iam_core.safe_json import loads as bounded_json

MAX_AUTHORIZATION_DETAILS = 4096
AUTHORIZATION_DETAILS_TYPES = ("hotel_booking", "payment")


def parse_authorization_details(raw: str | None) -> tuple[dict[str, Any], ...]:
    """RFC 9396 §2: a JSON array of objects, each with a known ``type``."""
    if not raw:
        return ()
    if len(raw) > MAX_AUTHORIZATION_DETAILS:
        raise InvalidRequest("authorization_details is too large")
    try:
        value = bounded_json(raw, max_bytes=MAX_AUTHORIZATION_DETAILS)
    except ValueError as exc:
        raise _details_error("authorization_details is not valid JSON") from exc
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise _details_error("authorization_details must be a JSON array of objects")
    for detail in value:
        fields = DETAIL_FIELDS.get(detail.get("type"))
        if fields is None:
            raise _details_error(
                f"authorization_details type must be one of {AUTHORIZATION_DETAILS_TYPES}"
            )
        for name, (kind, required) in fields.items():
            if required and name not in detail:
                raise _details_error(f"{detail['type']} needs {name}")
            if name in detail and not _fits(detail[name], kind):
                raise _details_error(f"{detail['type']}.{name} must be {kind}")
        unknown = set(detail) - set(fields) - {"type"}
        if unknown:
            raise _details_error(f"{detail['type']} does not take {', '.join(sorted(unknown))}")
    return tuple(value)


# The detail types this deployment understands (RFC 9396 §2): each field's kind and whether
# it is required. Unknown fields are refused: a grant must mean exactly what it says.
DETAIL_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "hotel_booking": {
        "hotel_id": ("an id", True),
        "check_in": ("a date", True),
        "check_out": ("a date", True),
        "room_type": ("an id", False),
        "max_total_cents": ("a positive integer", False),
    },
    "payment": {
        "max_amount_cents": ("a positive integer", True),
        "currency": ("an id", False),
        # What the grant pays: a named booking, or the stay an agent books under the same
        # consent (the booking id does not exist yet when the guest consents).
        "booking_id": ("an id", False),
        "hotel_id": ("an id", False),
        "check_in": ("a date", False),
        "check_out": ("a date", False),
    },
}


def _fits(value: Any, kind: str) -> bool:
    if kind == "a positive integer":
        return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 10**9
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return False
    if kind == "a date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
    return True


def _details_error(message: str) -> OAuthError:
    error = InvalidRequest(message)
    error.error = "invalid_authorization_details"  # RFC 9396 §5
    return error
