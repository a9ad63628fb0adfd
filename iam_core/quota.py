"""Per-principal quotas: at most ``limit`` events per key in any ``window`` seconds.

Used for per-agent token quotas at ``/token`` and per-agent request quotas at the resource
servers (denial of wallet, docs/attacks.md #16), and for approval requests per user and agent
(approval flooding, #15). A sliding log per key: exact, and bounded by ``limit`` entries.

Given a store, the log lives in it (table ``quota_events``), so that every process and
every worker sharing the database counts against the same limit and a restart does not
reset it (docs/design.md); without one it is kept in memory (tests, one-off tools).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from iam_core.clock import Clock
from iam_core.store import SQLStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS quota_events (
    name TEXT NOT NULL, qkey TEXT NOT NULL, at REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS quota_events_key ON quota_events (name, qkey, expires_at);
CREATE INDEX IF NOT EXISTS quota_events_exp ON quota_events (expires_at);
"""


@dataclass(frozen=True, slots=True)
class QuotaSpec:
    limit: int
    window: int  # seconds

    def describe(self) -> str:
        return f"{self.limit} per {self.window} s"


class Quota:
    def __init__(
        self, spec: QuotaSpec, clock: Clock, *, store: SQLStore | None = None, name: str = "quota"
    ) -> None:
        self.spec = spec
        self._clock = clock
        self._store = store
        self._name = name
        self._log: dict[str, deque[float]] = {}
        if store is not None:
            store.ensure_schema(SCHEMA)

    def reset_state(self) -> None:
        self._log.clear()  # in-memory counts; stored ones are restored with the store

    def take(self, key: str) -> int | None:
        """Count one event for ``key``; None if within the quota, else the count it would be."""
        if self._store is not None:
            return self._take_stored(self._store, key)
        now = self._clock.now()
        log = self._log.setdefault(key, deque())
        while log and log[0] <= now - self.spec.window:
            log.popleft()
        if len(log) >= self.spec.limit:
            return len(log) + 1
        log.append(now)
        return None

    def _take_stored(self, store: SQLStore, key: str) -> int | None:
        now = self._clock.now()
        # One write transaction: two processes taking at once serialise (BEGIN IMMEDIATE).
        with store.transaction() as tx:
            tx.execute(
                "DELETE FROM quota_events WHERE name = ? AND qkey = ? AND expires_at <= ?",
                (self._name, key, now),
            )
            row = tx.execute(
                "SELECT COUNT(*) FROM quota_events WHERE name = ? AND qkey = ?",
                (self._name, key),
            ).fetchone()
            count = int(row[0])
            if count >= self.spec.limit:
                return count + 1
            tx.execute(
                "INSERT INTO quota_events (name, qkey, at, expires_at) VALUES (?, ?, ?, ?)",
                (self._name, key, now, now + self.spec.window),
            )
        return None


def prune_quotas(store: SQLStore, now: float) -> int:
    """Forget events of every window that has passed (retention, docs/design.md)."""
    store.ensure_schema(SCHEMA)
    return int(store.execute("DELETE FROM quota_events WHERE expires_at <= ?", (now,)).rowcount)
