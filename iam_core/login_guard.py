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
  per 300 s. Unknown user ids are counted like known ones (no account enumeration).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from iam_core.clock import Clock
from iam_core.quota import QuotaSpec
from iam_core.registry import Registry, User

HASH_WORKERS = max(1, (os.cpu_count() or 2) // 2)
MAX_KEYS = 10_000  # distinct accounts/addresses tracked before expired ones are pruned


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
    """Sliding logs of failed logins, per account and per client address."""

    def __init__(
        self, per_account: QuotaSpec | None, per_address: QuotaSpec | None, clock: Clock
    ) -> None:
        self._specs = {"account": per_account, "address": per_address}
        self._clock = clock
        self._logs: dict[tuple[str, str], deque[float]] = {}

    def reset_state(self) -> None:
        self._logs.clear()

    def blocked(self, account: str, address: str) -> tuple[str, int] | None:
        """Which limit this login is past ("account" or "address") and seconds to wait."""
        now = self._clock.now()
        for kind, key in (("account", account.lower()), ("address", address)):
            spec = self._specs[kind]
            log = self._logs.get((kind, key))
            if spec is None or not log:
                continue
            self._expire(log, spec, now)
            if len(log) >= spec.limit:
                # The oldest failure in the window leaves it first.
                return kind, max(1, int(log[0] + spec.window - now + 0.999))
        return None

    def failed(self, account: str, address: str) -> None:
        now = self._clock.now()
        if len(self._logs) > MAX_KEYS:
            self._prune(now)
        for kind, key in (("account", account.lower()), ("address", address)):
            spec = self._specs[kind]
            if spec is not None:
                log = self._logs.setdefault((kind, key), deque())
                self._expire(log, spec, now)
                log.append(now)
                while len(log) > spec.limit:  # bounded: only the last ``limit`` matter
                    log.popleft()

    def succeeded(self, account: str) -> None:
        self._logs.pop(("account", account.lower()), None)

    @staticmethod
    def _expire(log: deque[float], spec: QuotaSpec, now: float) -> None:
        while log and log[0] <= now - spec.window:
            log.popleft()

    def _prune(self, now: float) -> None:
        for (kind, key), log in list(self._logs.items()):
            spec = self._specs[kind]
            if spec is None or not log or log[-1] <= now - spec.window:
                del self._logs[(kind, key)]
