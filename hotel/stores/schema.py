"""How the hotel's business data is laid out in SQL: the ``hotel_*`` tables.

Every table has the ``hotel_`` prefix so that the hotel can share a database file with
other components without a name clash; dates are ISO strings and money is integer cents.
Each store owns the tables of its aggregate (:mod:`hotel.stores.catalogue`: hotels, room
types, inventory, reviews, holds; :mod:`~hotel.stores.bookings`; :mod:`~hotel.stores.payments`:
payment methods, payments, refunds; :mod:`~hotel.stores.concierge`: guests, staff,
requests), but they are created together because the seed fills them in one transaction.

Payment methods are stored masked; the CHECK constraints on ``last4`` and ``exp`` make a
full card number unstorable rather than merely unused (docs/attacks.md, data exfiltration).
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS hotel_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_hotels (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, name TEXT NOT NULL, city TEXT NOT NULL,
    country TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_room_types (
    hotel_id TEXT NOT NULL REFERENCES hotel_hotels(id), room_type TEXT NOT NULL,
    capacity INTEGER NOT NULL, nightly_rate_cents INTEGER NOT NULL CHECK (nightly_rate_cents >= 0),
    currency TEXT NOT NULL, PRIMARY KEY (hotel_id, room_type));
CREATE TABLE IF NOT EXISTS hotel_inventory (
    hotel_id TEXT NOT NULL, room_type TEXT NOT NULL, night TEXT NOT NULL,
    available INTEGER NOT NULL CHECK (available >= 0),
    PRIMARY KEY (hotel_id, room_type, night)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hotel_reviews (
    id INTEGER PRIMARY KEY, hotel_id TEXT NOT NULL REFERENCES hotel_hotels(id),
    author TEXT NOT NULL, text TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5));
CREATE TABLE IF NOT EXISTS hotel_guests (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, full_name TEXT NOT NULL, email TEXT NOT NULL,
    phone TEXT NOT NULL, passport_number TEXT NOT NULL, address TEXT NOT NULL,
    date_of_birth TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_payment_methods (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL REFERENCES hotel_guests(id), brand TEXT NOT NULL,
    last4 TEXT NOT NULL CHECK (length(last4) = 4 AND last4 NOT GLOB '*[^0-9]*'),
    exp TEXT NOT NULL CHECK (exp GLOB '[01][0-9]/[0-9][0-9]'));
CREATE TABLE IF NOT EXISTS hotel_staff (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    shift TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_holds (
    id TEXT PRIMARY KEY, hotel_id TEXT NOT NULL, room_type TEXT NOT NULL, check_in TEXT NOT NULL,
    check_out TEXT NOT NULL, holder TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('held', 'released', 'booked')),
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_bookings (
    id TEXT PRIMARY KEY, guest TEXT NOT NULL, hotel_id TEXT NOT NULL, room_type TEXT NOT NULL,
    check_in TEXT NOT NULL, check_out TEXT NOT NULL, nights INTEGER NOT NULL,
    nightly_rate_cents INTEGER NOT NULL, total_cents INTEGER NOT NULL, currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    paid_cents INTEGER NOT NULL, created_by TEXT NOT NULL, acting_agent TEXT,
    hold_id TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hotel_bookings_guest ON hotel_bookings (guest);
CREATE TABLE IF NOT EXISTS hotel_payments (
    id TEXT PRIMARY KEY, booking_id TEXT NOT NULL REFERENCES hotel_bookings(id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    refunded_cents INTEGER NOT NULL CHECK (refunded_cents BETWEEN 0 AND amount_cents),
    currency TEXT NOT NULL,
    payment_method_id TEXT NOT NULL REFERENCES hotel_payment_methods(id),
    status TEXT NOT NULL CHECK (status IN ('captured', 'partially_refunded', 'refunded')),
    charged_by TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hotel_payments_booking ON hotel_payments (booking_id);
CREATE TABLE IF NOT EXISTS hotel_refunds (
    id TEXT PRIMARY KEY, payment_id TEXT NOT NULL REFERENCES hotel_payments(id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0), refunded_by TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_requests (
    id TEXT PRIMARY KEY, guest TEXT NOT NULL, text TEXT NOT NULL, recipient TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'assigned')),
    assigned_to TEXT REFERENCES hotel_staff(id), created_by TEXT NOT NULL, acting_agent TEXT,
    created_at TEXT NOT NULL);
"""
