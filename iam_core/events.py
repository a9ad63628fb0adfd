"""Revocations published as Security Event Tokens, pushed in-process and offered by polling.

Each revocation becomes one SET (RFC 8417): a JWT with ``typ: secevent+jwt``, signed by the
issuer's key, whose ``events`` claim holds one event shaped after OpenID CAEP:

* ``session-revoked`` — a token was revoked or a user withdrew consent;
* ``token-claims-change`` — an agent was blocked or a user disabled (``claims.status``).

Besides the CAEP fields the event lists the revoked tokens (``revoked``: ``jti`` and
``exp``), so a resource server can refuse exactly those and forget each after it expires.
In-process subscribers receive the SET synchronously, before the revoking call returns; other
processes poll ``/events/poll`` (RFC 8936), long-polling so that delivery takes milliseconds.
Each receiver is the client that polls, with its own acknowledgement cursor in the store;
``delivered`` lets a revoke wait until every registered receiver has acknowledged.

On PostgreSQL every stored SET is also announced with ``NOTIFY`` (delivered when the revoking
transaction commits): a long-poll parked in any process or on any machine wakes at once
instead of at its next look at the store. The stored events and cursors stay the truth; a
lost notification only delays delivery to that next look (``CROSS_PROCESS_TICK``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iam_core.clock import Clock
from iam_core.keys import KeyRing
from iam_core.revocation import Revocation, RevocationRegistry
from iam_core.revoked import SET_TYP, RevokedTokens
from iam_core.store import AnyStore

__all__ = ["SET_TYP", "RevokedTokens", "SecurityEvent", "SecurityEventPublisher"]
CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
# How often a parked long-poll looks for events published by other processes, and how
# often a revoke waiting for delivery looks at the receivers' acknowledgements (seconds).
CROSS_PROCESS_TICK = 0.02
DELIVERY_TICK = 0.005
EVENTS_CHANNEL = "agent_iam_security_events"  # NOTIFY channel on PostgreSQL
SESSION_REVOKED = CAEP + "session-revoked"
TOKEN_CLAIMS_CHANGE = CAEP + "token-claims-change"

SCHEMA = """
CREATE TABLE IF NOT EXISTS security_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, jti TEXT NOT NULL UNIQUE, token TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_receivers (
    receiver TEXT PRIMARY KEY, acked_seq INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """A SET and its decoded claims (the decoded form is for in-process subscribers)."""

    jti: str
    token: str
    claims: Mapping[str, Any]


def event_type_for(revocation: Revocation) -> str:
    if revocation.reason in ("agent blocked", "user disabled", "client disabled"):
        return TOKEN_CLAIMS_CHANGE
    return SESSION_REVOKED


class SecurityEventPublisher:
    """Turns every revocation of the IAM into a stored, signed SET and delivers it.

    It is given the parts of the IAM it uses, not the IAM itself, which builds it: the IAM
    depends on this module and never the other way round.
    """

    def __init__(
        self,
        store: AnyStore,
        clock: Clock,
        keys: KeyRing,
        revocations: RevocationRegistry,
        *,
        issuer: str,
        audiences: Iterable[str],
        longest_lifetime: int,
    ) -> None:
        self._store = store
        self._clock = clock
        self._keys = keys
        self._issuer = issuer
        # RFC 8417 §2.2: every resource server of this IAM is an intended recipient.
        self._audiences = list(audiences)
        self._longest_lifetime = longest_lifetime
        self._subscribers: list[Callable[[SecurityEvent], None]] = []
        # Parked long-polls, each with its event loop (a NOTIFY arrives on another thread).
        self._waiters: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        store.ensure_schema(SCHEMA)
        revocations.subscribe(self._on_revocation)
        store.listen(EVENTS_CHANNEL, self._on_notify)

    def _on_notify(self, _payload: str) -> None:
        """A SET was stored by some process (PostgreSQL NOTIFY): wake the parked polls."""
        for waiter, loop in list(self._waiters.items()):
            try:
                loop.call_soon_threadsafe(waiter.set)
            except RuntimeError:  # that poll's loop has closed: nothing to wake
                self._waiters.pop(waiter, None)

    def reset_state(self) -> None:
        """Wake and forget the long-polls of the last run; the subscribers (the in-process
        services) belong to the stack and stay."""
        for waiter in list(self._waiters):
            waiter.set()
        self._waiters.clear()

    def subscribe(self, callback: Callable[[SecurityEvent], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _on_revocation(self, revocation: Revocation) -> None:
        if not revocation.jtis:
            return
        event = self.publish(revocation)
        for callback in list(self._subscribers):
            callback(event)
        for waiter in list(self._waiters):
            waiter.set()

    def publish(self, revocation: Revocation) -> SecurityEvent:
        now = int(self._clock.now())
        exps = dict(
            (row["jti"], row["exp"])
            for row in self._store.all(
                f"SELECT jti, exp FROM revoked_tokens WHERE jti IN "  # noqa: S608 - placeholders only
                f"({','.join('?' * len(revocation.jtis))})",
                revocation.jtis,
            )
        )
        event_type = event_type_for(revocation)
        subject = revocation.actor or revocation.subject
        body: dict[str, Any] = {
            "subject": {"format": "opaque", "id": subject or "token"},
            "event_timestamp": int(revocation.at),
            "initiating_entity": "policy" if subject else "user",
            "reason_admin": {"en": revocation.reason},
            "revoked": [{"jti": j, "exp": exps.get(j, now)} for j in revocation.jtis],
        }
        if event_type == TOKEN_CLAIMS_CHANGE:
            body["claims"] = {"status": "blocked" if "agent" in revocation.reason else "disabled"}
        claims = {
            "iss": self._issuer,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "aud": list(self._audiences),
            "events": {event_type: body},
        }
        token = self._keys.sign(claims, typ=SET_TYP)
        self._store.execute(
            "INSERT INTO security_events (jti, token, created_at) VALUES (?, ?, ?)",
            (claims["jti"], token, self._clock.now()),
        )
        self._store.notify(EVENTS_CHANNEL, str(claims["jti"]))
        return SecurityEvent(str(claims["jti"]), token, claims)

    async def poll(
        self, receiver: str, *, ack: list[str], max_events: int, wait: float
    ) -> tuple[dict[str, str], bool]:
        """RFC 8936 §2.4: acknowledge, then return up to ``max_events`` unacknowledged SETs.

        With ``wait`` > 0 and nothing pending, wait up to that long for the next event.
        """
        self._ack(receiver, ack)
        pending = self._pending(receiver, max_events + 1)
        if not pending and wait > 0:
            # Events published by another worker or process do not wake this one: look at
            # the store every few milliseconds too (docs/design.md, revocation fan-out).
            cursor = self._cursor(receiver)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            waiter = asyncio.Event()
            self._waiters[waiter] = loop
            try:
                while self.latest_seq() <= cursor and loop.time() < deadline:
                    timeout = min(CROSS_PROCESS_TICK, deadline - loop.time())
                    try:
                        await asyncio.wait_for(waiter.wait(), timeout=max(timeout, 0.001))
                    except TimeoutError:
                        continue
            finally:
                self._waiters.pop(waiter, None)
            pending = self._pending(receiver, max_events + 1)
        more = len(pending) > max_events
        return {jti: token for jti, token in pending[:max_events]}, more

    def latest_seq(self) -> int:
        row = self._store.one("SELECT COALESCE(MAX(seq), 0) AS seq FROM security_events")
        return int(row["seq"]) if row else 0

    def receivers(self) -> dict[str, int]:
        """Every registered receiver (one that has polled) and the last seq it acknowledged."""
        rows = self._store.all("SELECT receiver, acked_seq FROM event_receivers")
        return {str(r["receiver"]): int(r["acked_seq"]) for r in rows}

    async def delivered(self, *, timeout: float) -> bool:
        """Wait until every registered receiver acknowledged every event published so far
        (RFC 8936 §2.4 acknowledgements); False when ``timeout`` passes first."""
        target = self.latest_seq()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if all(acked >= target for acked in self.receivers().values()):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(DELIVERY_TICK)

    def _ack(self, receiver: str, acks: list[str]) -> None:
        cursor = self._cursor(receiver)
        if acks:
            marks = ",".join("?" * len(acks))
            row = self._store.one(
                f"SELECT MAX(seq) AS seq FROM security_events WHERE jti IN ({marks})",  # noqa: S608
                acks,
            )
            if row and row["seq"] is not None:
                cursor = max(cursor, int(row["seq"]))
        self._store.execute(
            "INSERT INTO event_receivers VALUES (?, ?) ON CONFLICT(receiver)"
            " DO UPDATE SET acked_seq = excluded.acked_seq",
            (receiver, cursor),
        )

    def _cursor(self, receiver: str) -> int:
        row = self._store.one(
            "SELECT acked_seq FROM event_receivers WHERE receiver = ?", (receiver,)
        )
        if row is not None:
            return int(row["acked_seq"])
        # A new receiver starts from the events whose tokens may still be alive.
        horizon = self._clock.now() - self._longest_lifetime * 2
        row = self._store.one(
            "SELECT COALESCE(MAX(seq), 0) AS seq FROM security_events WHERE created_at < ?",
            (horizon,),
        )
        return int(row["seq"]) if row else 0

    def _pending(self, receiver: str, limit: int) -> list[tuple[str, str]]:
        rows = self._store.all(
            "SELECT jti, token FROM security_events WHERE seq > ? ORDER BY seq LIMIT ?",
            (self._cursor(receiver), limit),
        )
        return [(r["jti"], r["token"]) for r in rows]
