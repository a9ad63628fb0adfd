"""The concierge's data: guest profiles, the staff rota and guest requests.

Guest profiles hold the personal data exfiltration scenarios aim at (docs/attacks.md);
requests are stored verbatim with their recipient, since whether a recipient is allowed
is the concierge service's call, not the store's.
"""

from __future__ import annotations

from hotel.stores.records import ConciergeRequest, GuestProfile, StaffMember
from hotel.stores.tables import Tables, as_key, as_maybe_key, as_text


class Concierge:
    """Guests, staff and the requests guests make of them."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def guests(self) -> list[str]:
        rows = self._t.sql.all("SELECT id FROM hotel_guests ORDER BY position")
        return [r["id"] for r in rows]

    def guest_profile(self, guest: str) -> GuestProfile:
        return GuestProfile.from_row(self._t.row("hotel_guests", guest))

    def staff(self) -> list[StaffMember]:
        return self._t.many(StaffMember, "SELECT * FROM hotel_staff ORDER BY position")

    def create_request(
        self,
        guest: str,
        text: str,
        recipient: str | None = None,
        created_by: str | None = None,
        acting_agent: str | None = None,
    ) -> ConciergeRequest:
        """Record a guest request verbatim; whether a recipient is allowed is the service's call."""
        guest, text = as_key(guest, "guest"), as_text(text, "text")
        created_by = as_maybe_key(created_by, "created_by") or guest
        acting_agent = as_maybe_key(acting_agent, "acting_agent")
        if recipient is not None:
            recipient = as_text(recipient, "recipient", 320)
        with self._t.sql.transaction():
            r = ConciergeRequest(
                id=self._t.new_id("req-", "hotel_requests"),
                guest=guest,
                text=text,
                recipient=recipient,
                status="open",
                assigned_to=None,
                created_by=created_by,
                acting_agent=acting_agent,
                created_at=self._t.now(),
            )
            self._t.insert("hotel_requests", r)
        return r

    def request(self, request_id: str) -> ConciergeRequest:
        return ConciergeRequest.from_row(self._t.row("hotel_requests", request_id))

    def requests(self, guest: str | None = None) -> list[ConciergeRequest]:
        if guest is None:
            return self._t.many(ConciergeRequest, "SELECT * FROM hotel_requests ORDER BY rowid")
        sql = "SELECT * FROM hotel_requests WHERE guest = ? ORDER BY rowid"
        return self._t.many(ConciergeRequest, sql, as_key(guest, "guest"))

    def assign(self, request_id: str, staff_id: str) -> ConciergeRequest:
        """Give a request to a staff member (reassigning is allowed)."""
        with self._t.sql.transaction():
            self._t.row("hotel_requests", request_id)
            self._t.row("hotel_staff", staff_id)
            self._t.set("hotel_requests", request_id, status="assigned", assigned_to=staff_id)
        return self.request(request_id)
