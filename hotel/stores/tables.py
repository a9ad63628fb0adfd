"""What every hotel store shares: input checks, the stay window, and row-level helpers.

The stores validate every argument themselves (SQLite would take any type silently) and
raise :class:`~hotel.stores.records.Invalid` before touching a table. They also share one
:class:`Tables`: one SQL store, one clock and one id sequence, so that ids stay
reproducible for a seed however the calls are spread across the stores.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from hotel.stores.records import Invalid, NotFound, Record
from iam_core.resource_server import Clock, Row, SQLStore

MAX_NIGHTS = 30
MAX_AMOUNT_CENTS = 10_000_000
MAX_TEXT = 4_000
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: ids get read aloud
_NOUNS = {
    "hotel_hotels": "hotel",
    "hotel_holds": "hold",
    "hotel_bookings": "booking",
    "hotel_payments": "payment",
    "hotel_payment_methods": "payment method",
    "hotel_guests": "guest",
    "hotel_staff": "staff member",
    "hotel_requests": "request",
}

DateLike = date | str
R = TypeVar("R", bound=Record)


# -- input checks --------------------------------------------------------------------------


def as_date(value: object, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid(f"{name} must be a date (YYYY-MM-DD)")


def as_int(value: object, name: str, low: int, high: int) -> int:
    # bool is an int in Python; True must not pass as one cent.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid(f"{name} must be an integer from {low} to {high}")
    return value


def as_key(value: object, name: str) -> str:
    """An id or name: a string of 1-200 characters (SQLite would take any type silently)."""
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise Invalid(f"{name} must be an id of 1 to 200 characters")
    return value


def as_maybe_key(value: object, name: str) -> str | None:
    return None if value is None else as_key(value, name)


def as_text(value: object, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(f"{name} must be non-empty text of at most {limit} characters")
    return value


def timestamp(clock: Clock) -> str:
    return datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class StayWindow:
    """The nights the inventory covers: ``days`` nights from ``start``."""

    start: date
    days: int

    def stay(self, check_in: object, check_out: object) -> tuple[date, date, int]:
        """A validated stay: check-out after check-in, inside the inventory, ≤ 30 nights."""
        ci, co = as_date(check_in, "check_in"), as_date(check_out, "check_out")
        nights = (co - ci).days
        if nights < 1:
            raise Invalid("check_out must be after check_in")
        if nights > MAX_NIGHTS:
            raise Invalid(f"a stay is at most {MAX_NIGHTS} nights")
        end = self.start + timedelta(days=self.days)
        if ci < self.start or co > end:
            raise Invalid(f"stays must fall between {self.start} and {end}")
        return ci, co, nights


class Tables:
    """Row-level access to the ``hotel_*`` tables, shared by the four stores.

    Table and column names passed in come from the stores' literals, never from callers,
    which is why the f-string SQL below is safe (S608).
    """

    def __init__(self, sql: SQLStore, clock: Clock, seed: int) -> None:
        self.sql = sql
        self.clock = clock
        # Ids are reproducible for a seed; a collision with a stored row is drawn again.
        self._seed = seed
        self._ids = random.Random(f"hotel-ids:{seed}")  # noqa: S311 - ids, not secrets

    def reset_state(self) -> None:
        """Draw ids from the seed's start again (a reused stack's next run: the same ids as
        a fresh world, whatever ran before; iam_core/state_reset.py)."""
        self._ids = random.Random(f"hotel-ids:{self._seed}")  # noqa: S311 - ids, not secrets

    def row(self, table: str, key: str) -> Row:
        key = as_key(key, f"{_NOUNS[table]} id")
        row = self.sql.one(f"SELECT * FROM {table} WHERE id = ?", (key,))  # noqa: S608
        if row is None:
            raise NotFound(f"no {_NOUNS[table]} {key!r}")
        return row

    def many(self, cls: type[R], sql: str, *params: object) -> list[R]:
        return [cls.from_row(row) for row in self.sql.all(sql, params)]

    def count(self, sql: str) -> int:
        row = self.sql.one(sql)
        return int(row[0]) if row is not None and row[0] is not None else 0

    def insert(self, table: str, record: Record) -> None:
        values = record.as_dict()
        marks = ", ".join("?" * len(values))
        sql = f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})"  # noqa: S608
        self.sql.execute(sql, tuple(values.values()))

    def set(self, table: str, key: str, **values: object) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        sql = f"UPDATE {table} SET {assignments} WHERE id = ?"  # noqa: S608
        self.sql.execute(sql, (*values.values(), key))

    def new_id(self, prefix: str, table: str) -> str:
        while True:
            candidate = prefix + "".join(self._ids.choices(_ID_ALPHABET, k=6))
            sql = f"SELECT 1 FROM {table} WHERE id = ?"  # noqa: S608
            if self.sql.one(sql, (candidate,)) is None:
                return candidate

    def now(self) -> str:
        return timestamp(self.clock)
