"""Guarding ``POST /login``: password hashing off the event loop, failed logins throttled.

Argon2id is deliberately costly (RFC 9106: ~64 MiB and tens to hundreds of milliseconds per
check). Run on the event loop, a handful of concurrent logins stall every other request of
the process — the IAM and the hotel services share it under ``agent-iam serve``. So:

* :class:`PasswordChecker` verifies in a dedicated pool of ``HASH_WORKERS`` threads (half
  the CPUs, at least one): concurrency is bounded, the loop stays free (argon2-cffi releases
  the GIL while hashing). Past 64 waiting checks per worker it refuses at once (503) rather
  than queue without end.
* :class:`LoginThrottle` counts failed logins in a sliding window per account and per client
  address (OWASP Authentication Cheat Sheet, "Login Throttling"; NIST SP 800-63B §5.2.2):
  past the limit the login is answered 429 with ``Retry-After`` before any hash is computed.
  A success clears its account's failures, never the address's: otherwise an attacker could
  interleave logins to an account of their own to keep spraying passwords from one address.
  Defaults (``IAMConfig.login_failures_per_account`` / ``_per_address``): 5 and 20 failures
  per 300 s. Unknown user ids are counted like known ones (no account enumeration). The
  failures are kept in the store: one limit for every worker and process, across restarts.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from iam_core.clock import Clock
from iam_core.quota import SCHEMA as QUOTA_SCHEMA
from iam_core.quota import QuotaSpec
from iam_core.registry import Registry, User
from iam_core.store import SQLStore, Store

HASH_WORKERS = max(1, (os.cpu_count() or 2) // 2)


class Overloaded(Exception):
    """Too many password checks are waiting already."""


class PasswordChecker:
    """``Registry.check_password`` in a bounded thread pool, awaited from the event loop."""

    def __init__(self, registry: Registry, workers: int = HASH_WORKERS) -> None:
        self._registry = registry
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._limit = 64 * workers
        self._waiting = 0
        # Requests may come from more than one event loop (test clients): a thread lock.
        self._lock = threading.Lock()

    async def check(self, user_id: str, password: str) -> User | None:
        with self._lock:
            if self._waiting >= self._limit:
                raise Overloaded
            self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._pool, self._registry.check_password, user_id, password
            )
        finally:
            with self._lock:
                self._waiting -= 1


class LoginThrottle:
    """Sliding logs of failed logins, per account and per client address, in the store.

    The failures live in ``quota_events`` (:mod:`iam_core.quota`, names ``login.account`` and
    ``login.address``), so that every worker of ``serve --workers N`` and every process on
    the database counts against one limit, a restart does not reset it, and retention prunes
    windows that have passed (:func:`iam_core.quota.prune_quotas`). Without a store (one-off
    tools) the log is an in-memory database.
    """

    def __init__(
        self,
        per_account: QuotaSpec | None,
        per_address: QuotaSpec | None,
        clock: Clock,
        *,
        store: SQLStore | None = None,
    ) -> None:
        self._specs = {"account": per_account, "address": per_address}
        self._clock = clock
        self._store: SQLStore = store if store is not None else Store()
        self._store.ensure_schema(QUOTA_SCHEMA)

    def blocked(self, account: str, address: str) -> tuple[str, int] | None:
        """Which limit this login is past ("account" or "address") and seconds to wait."""
        now = self._clock.now()
        for kind, key in (("account", account.lower()), ("address", address)):
            spec = self._specs[kind]
            if spec is None:
                continue
            row = self._store.one(
                "SELECT COUNT(*), MIN(at) FROM quota_events "
                "WHERE name = ? AND qkey = ? AND expires_at > ?",
                (f"login.{kind}", key, now),
            )
            if row is not None and int(row[0]) >= spec.limit:
                # The oldest failure in the window leaves it first.
                return kind, max(1, int(float(row[1]) + spec.window - now + 0.999))
        return None

    def failed(self, account: str, address: str) -> None:
        now = self._clock.now()
        # One write transaction: two workers failing at once serialise (BEGIN IMMEDIATE).
        with self._store.transaction() as tx:
            for kind, key in (("account", account.lower()), ("address", address)):
                spec = self._specs[kind]
                if spec is None:
                    continue
                name = f"login.{kind}"
                tx.execute(
                    "DELETE FROM quota_events WHERE name = ? AND qkey = ? AND expires_at <= ?",
                    (name, key, now),
                )
                tx.execute(
                    "INSERT INTO quota_events (name, qkey, at, expires_at) VALUES (?, ?, ?, ?)",
                    (name, key, now, now + spec.window),
                )
                # Bounded: only the last ``limit`` failures of a key matter.
                tx.execute(
                    "DELETE FROM quota_events WHERE name = ? AND qkey = ? AND at < ("
                    "SELECT MIN(at) FROM (SELECT at FROM quota_events WHERE name = ? AND "
                    "qkey = ? ORDER BY at DESC LIMIT ?) AS recent)",
                    (name, key, name, key, spec.limit),
                )

    def succeeded(self, account: str) -> None:
        self._store.execute(
            "DELETE FROM quota_events WHERE name = 'login.account' AND qkey = ?",
            (account.lower(),),
        )
