"""The seams a protected service is built on: what the composition root hands in.

A resource server does not own the audit log, the quota bookkeeping, the revocation feed or
the SQL connection; it is given objects that have the few methods it calls. These Protocols
name those methods, so that the IAM's own classes (``AuditLog``, ``Quota``, ``Store``,
``SecurityEventPublisher``) fit as they are and a test or another deployment can hand in
its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from iam_core.audit import AuditEvent
from iam_core.events import SecurityEvent
from iam_core.quota import QuotaSpec
from iam_core.store import Row, SQLStore, Tx


class AuditSink(Protocol):
    """Where a guard records each access decision (one entry per decision)."""

    def append(self, event: AuditEvent, /) -> object: ...


class QuotaStore(Protocol):
    """A sliding-window counter per key (denial of wallet, docs/attacks.md #16)."""

    @property
    def spec(self) -> QuotaSpec: ...

    def take(self, key: str, /) -> int | None:
        """Count one event; None within the quota, else the count it would have reached."""
        ...


class SecurityEventSource(Protocol):
    """An in-process revocation feed: delivers each Security Event Token as it is issued
    (RFC 8417); ``subscribe`` returns the function that ends the subscription."""

    def subscribe(self, callback: Callable[[SecurityEvent], None], /) -> Callable[[], None]: ...


__all__ = ["AuditSink", "QuotaStore", "Row", "SQLStore", "SecurityEventSource", "Tx"]

if TYPE_CHECKING:  # the IAM's own classes fit these seams as they are (checked by mypy)
    from iam_core.audit import AuditLog
    from iam_core.events import SecurityEventPublisher
    from iam_core.quota import Quota
    from iam_core.store import Store
    from iam_core.store_pg import PGStore

    _audit: type[AuditSink] = AuditLog
    _quota: type[QuotaStore] = Quota
    _events: type[SecurityEventSource] = SecurityEventPublisher
    _store: type[SQLStore] = Store
    _pg_store: type[SQLStore] = PGStore
