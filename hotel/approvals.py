"""The hotel's side of a person's approval (OpenID CIBA Core 1.0; RFC 9396 §7).

When the issuer's :class:`~iam_core.resource_server.ApprovalPolicy` says an agent's action
needs approval, the service does not do it: it answers :class:`ApprovalRequired` (403
``approval_required``) with the exact ``authorization_details`` to ask for — the booking,
the amount and currency, the hotel (the payee) and the dates, all from the service's own
records, so the person is asked about the real action.

A token from an approval (its ``approval`` claim) is then checked against the request:
every field of the approved detail must equal the action now asked for, and its ``jti`` is
recorded as consumed together with the action, in the same transaction — one approval,
one action, once (a replay or a second payment is refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotel.access import Access
from hotel.world import Booking, HotelWorld
from iam_core.resource_server import ApprovalRequired, SQLStore, Token

SCHEMA = """
CREATE TABLE IF NOT EXISTS hotel_used_approvals (
    jti TEXT PRIMARY KEY, auth_req_id TEXT NOT NULL, action TEXT NOT NULL,
    object_id TEXT NOT NULL, amount_cents INTEGER, used_at TEXT NOT NULL
);
"""


def approval_detail(
    world: HotelWorld, kind: str, booking: Booking, **fields: Any
) -> dict[str, Any]:
    """The RFC 9396 detail that describes ``kind`` on ``booking`` in the service's own terms."""
    return {
        "type": kind,
        "booking_id": booking.id,
        **fields,
        "currency": booking.currency,
        "hotel_id": booking.hotel_id,
        "hotel_name": world.hotel(booking.hotel_id).name,
        "check_in": booking.check_in.isoformat(),
        "check_out": booking.check_out.isoformat(),
    }


def challenge(reason: str, detail: dict[str, Any], issuer: str) -> ApprovalRequired:
    return ApprovalRequired(
        f"approval required: {reason}",
        authorization_details=[detail],
        endpoint=f"{issuer}/bc-authorize",
    )


def approved_detail(token: Token) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The token's ``approval`` claim and its one approved detail, if it is an approval."""
    claim = token.claims.get("approval")
    details = token.claims.get("authorization_details")
    if not isinstance(claim, Mapping) or not isinstance(details, list) or len(details) != 1:
        return None
    detail = details[0]
    return (claim, detail) if isinstance(detail, Mapping) else None


def mismatch(
    approved: Mapping[str, Any], wanted: Mapping[str, Any], *, since: bool = True
) -> str | None:
    """Why the approved detail is not exactly this action, or None; ``since``: also what
    was charged on the booking before (the approval was given knowing it)."""
    names = ["type", "booking_id", "payment_id", "amount_cents", "nightly_rate_cents", "hotel_id"]
    for name in [*names, "already_charged_cents"] if since else names:
        if approved.get(name) != wanted.get(name):
            if name == "already_charged_cents":
                return "the booking was charged since the approval was given"
            if name == "booking_id":
                return "approval for another booking"
            if name == "amount_cents":
                return (
                    f"amount differs from the approved one: {wanted.get(name)} "
                    f"!= {approved.get(name)}"
                )
            return f"approval for another action ({name} differs)"
    return None


class UsedApprovals:
    """Approval tokens already spent: one row per ``jti``, written with the action."""

    def __init__(self, store: SQLStore) -> None:
        self._store = store
        store.ensure_schema(SCHEMA)

    def spent(self, token: Token) -> bool:
        """Whether this approval-bound token was used already (read before the action's own
        checks, so a replay is named as one; :meth:`consume` still decides, atomically)."""
        row = self._store.one("SELECT 1 FROM hotel_used_approvals WHERE jti = ?", (token.jti,))
        return row is not None

    def consume(
        self, token: Token, claim: Mapping[str, Any], object_id: str, amount: int | None, now: str
    ) -> bool:
        """Record the token as used for this action; False if it was used before (replay)."""
        cur = self._store.execute(
            "INSERT OR IGNORE INTO hotel_used_approvals VALUES (?, ?, ?, ?, ?, ?)",
            (
                token.jti,
                str(claim.get("auth_req_id", "")),
                str(claim.get("action", "")),
                object_id,
                amount,
                now,
            ),
        )
        return cur.rowcount == 1


def require_approval(
    access: Access,
    used: UsedApprovals,
    world: HotelWorld,
    issuer: str,
    reason: str,
    kind: str,
    booking: Booking,
    **fields: Any,
) -> Mapping[str, Any]:
    """An agent's action the policy reserves for the person's approval.

    Without an approval: audit the refusal and raise the challenge naming exactly this
    action. With an approval for anything else, or one already spent: deny. Otherwise the
    approval's claim, for the route to :meth:`UsedApprovals.consume` with the action.
    """
    wanted = approval_detail(world, kind, booking, **fields)
    approved = approved_detail(access.token)
    if approved is None:
        access.details["challenge"] = "approval_required"  # the person is asked next
        access.deny(reason, object_id=booking.id)  # audited: the refusal, with its reason
        raise challenge(reason, wanted, issuer)
    claim, detail = approved
    why = mismatch(detail, wanted)
    if why is None and used.spent(access.token):
        why = "approval already used (replay)"
    if why is not None:
        raise access.deny(why, object_id=booking.id)
    return claim
