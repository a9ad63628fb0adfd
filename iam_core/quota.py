"""Per-principal quotas: at most ``limit`` events per key in any ``window`` seconds.

Used for per-agent token quotas at ``/token`` and per-agent request quotas at the resource
servers (denial of wallet, docs/attacks.md #16), and for approval requests per user and agent
(approval flooding, #15). A sliding log per key: exact, and bounded by ``limit`` entries.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from iam_core.clock import Clock


@dataclass(frozen=True, slots=True)
class QuotaSpec:
    limit: int
    window: int  # seconds

    def describe(self) -> str:
        return f"{self.limit} per {self.window} s"


class Quota:
    def __init__(self, spec: QuotaSpec, clock: Clock) -> None:
        self.spec = spec
        self._clock = clock
        self._log: dict[str, deque[float]] = {}

    def take(self, key: str) -> int | None:
        """Count one event for ``key``; None if within the quota, else the count it would be."""
        now = self._clock.now()
        log = self._log.setdefault(key, deque())
        while log and log[0] <= now - self.spec.window:
            log.popleft()
        if len(log) >= self.spec.limit:
            return len(log) + 1
        log.append(now)
        return None
