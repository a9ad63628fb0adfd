"""Payments: guests' stored cards, captures against bookings, and refunds.

The payment service's data. Cards are stored masked (brand, last four digits, expiry) and
the schema refuses a full number (:mod:`hotel.stores.schema`). Card ownership and amount
caps are the payment service's checks (docs/attacks.md, payment overreach); this store
only keeps the ledger consistent: never more captured than owed, never more refunded than
captured, and the booking's ``paid_cents`` moved in the same transaction.
"""

from __future__ import annotations

from hotel.stores.bookings import Bookings
from hotel.stores.records import Invalid, Payment, PaymentMethod
from hotel.stores.tables import MAX_AMOUNT_CENTS, Tables, as_int, as_key


class Payments:
    """Cards, captures and refunds."""

    def __init__(self, tables: Tables, bookings: Bookings) -> None:
        self._t = tables
        self._bookings = bookings

    def payment_methods(self, guest: str) -> list[PaymentMethod]:
        sql = "SELECT * FROM hotel_payment_methods WHERE owner = ? ORDER BY id"
        return self._t.many(PaymentMethod, sql, as_key(guest, "guest"))

    def charge(
        self, booking_id: str, amount_cents: int, payment_method_id: str, charged_by: str
    ) -> Payment:
        """Capture money for a booking. Card ownership and amount caps are the service's checks."""
        amount = as_int(amount_cents, "amount_cents", 1, MAX_AMOUNT_CENTS)
        charged_by = as_key(charged_by, "charged_by")
        with self._t.sql.transaction():
            b = self._bookings.confirmed(booking_id)
            self._t.row("hotel_payment_methods", payment_method_id)
            if b.paid_cents + amount > b.total_cents:
                raise Invalid(
                    f"amount_cents {amount} exceeds what is owed ({b.total_cents - b.paid_cents})"
                )
            p = Payment(
                id=self._t.new_id("pay-", "hotel_payments"),
                booking_id=booking_id,
                amount_cents=amount,
                refunded_cents=0,
                currency=b.currency,
                payment_method_id=payment_method_id,
                status="captured",
                charged_by=charged_by,
                created_at=self._t.now(),
            )
            self._t.insert("hotel_payments", p)
            self._bookings.set_paid(booking_id, b.paid_cents + amount)
        return p

    def payment(self, payment_id: str) -> Payment:
        return Payment.from_row(self._t.row("hotel_payments", payment_id))

    def payments_of(self, booking_id: str) -> list[Payment]:
        self._t.row("hotel_bookings", booking_id)
        sql = "SELECT * FROM hotel_payments WHERE booking_id = ? ORDER BY rowid"
        return self._t.many(Payment, sql, booking_id)

    def refund(self, payment_id: str, amount_cents: int, refunded_by: str) -> Payment:
        """Return up to what is still captured; works on cancelled bookings too."""
        amount = as_int(amount_cents, "amount_cents", 1, MAX_AMOUNT_CENTS)
        refunded_by = as_key(refunded_by, "refunded_by")
        with self._t.sql.transaction():
            p = self.payment(payment_id)
            left = p.amount_cents - p.refunded_cents
            if amount > left:
                raise Invalid(f"only {left} cents of payment {payment_id} can still be refunded")
            self._t.sql.execute(
                "INSERT INTO hotel_refunds VALUES (?, ?, ?, ?, ?)",
                (
                    self._t.new_id("rf-", "hotel_refunds"),
                    payment_id,
                    amount,
                    refunded_by,
                    self._t.now(),
                ),
            )
            status = "refunded" if amount == left else "partially_refunded"
            self._t.set(
                "hotel_payments",
                payment_id,
                refunded_cents=p.refunded_cents + amount,
                status=status,
            )
            paid = self._bookings.booking(p.booking_id).paid_cents
            self._bookings.set_paid(p.booking_id, paid - amount)
        return self.payment(payment_id)

    def ledger_total(self) -> int:
        """Money moved, in cents: everything captured minus everything refunded."""
        return self._t.count("SELECT SUM(amount_cents - refunded_cents) FROM hotel_payments")
