"""A resource server's view of revocations, fed by Security Event Tokens (RFC 8417).

Given a store, every revocation a service receives is written to it (table
``received_revocations``) before the event is acknowledged, and the guard asks the store
about any ``jti`` its memory does not know: every process and worker sharing that store
refuses the same tokens, a restart forgets nothing, and the in-memory set is only a cache
rebuilt at start-up (docs/design.md, "Revocation that reaches every service"). Without a
store it is kept in memory (tests).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import jwt

from iam_core.errors import TokenError
from iam_core.keys import KeySource
from iam_core.store import SQLStore
from iam_core.tokens import parse_compact

SET_TYP = "secevent+jwt"
MAX_SET_LENGTH = 256 * 1024  # one SET may list many revoked tokens
# Keep a revoked jti well past its expiry: verifiers allow a little leeway.
KEEP_AFTER_EXPIRY = 300

SCHEMA = """
CREATE TABLE IF NOT EXISTS received_revocations (
    jti TEXT PRIMARY KEY, exp REAL NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS received_revocations_exp ON received_revocations (exp);
"""


class RevokedTokens:
    """Which ``jti`` to refuse, and why.

    ``receive_claims`` takes an in-process event; ``receive_token`` verifies a polled SET's
    signature, ``typ``, issuer and audience first (RFC 8417 §2.3, RFC 8725 §3.11).
    """

    def __init__(
        self, clock: Any, *, issuer: str, audience: str, store: SQLStore | None = None
    ) -> None:
        self._clock = clock
        self._issuer = issuer
        self._audience = audience
        self._store = store
        self._revoked: dict[str, tuple[float, str]] = {}  # jti -> (exp, why)
        self._lock = threading.Lock()  # SCIM runs in a worker thread (docs/design.md)
        self.events_applied = 0
        if store is not None:
            store.ensure_schema(SCHEMA)
            self.reload()

    def reset_state(self) -> None:
        """Forget every revocation received; hold what the (restored) store holds."""
        with self._lock:
            self._revoked.clear()
            self.events_applied = 0
        if self._store is not None:
            self.reload()

    def reload(self) -> int:
        """Rebuild the cache from the store (at start-up); returns how many are held."""
        if self._store is None:
            return len(self._revoked)
        horizon = self._clock.now() - KEEP_AFTER_EXPIRY
        rows = self._store.all(
            "SELECT jti, exp, reason FROM received_revocations WHERE exp >= ?", (horizon,)
        )
        with self._lock:
            for row in rows:
                self._revoked[str(row["jti"])] = (float(row["exp"]), str(row["reason"]))
            return len(self._revoked)

    def __contains__(self, jti: object) -> bool:
        return isinstance(jti, str) and self.reason(jti) is not None

    def __len__(self) -> int:
        return len(self._revoked)

    def receive_claims(self, claims: Mapping[str, Any]) -> None:
        events = claims.get("events")
        if not isinstance(events, Mapping):
            return
        received: list[tuple[str, float, str]] = []
        for body in events.values():
            if not isinstance(body, Mapping):
                continue
            why = body.get("reason_admin", {})
            reason = str(why.get("en", "revoked"))[:120] if isinstance(why, Mapping) else "revoked"
            for item in body.get("revoked", ()):
                if isinstance(item, Mapping) and isinstance(item.get("jti"), str):
                    received.append((item["jti"], float(item.get("exp") or 0), reason))
        with self._lock:
            for jti, exp, reason in received:
                self._revoked[jti] = (exp, reason)
            self.events_applied += 1
        if self._store is not None and received:
            # Durable before the event is acknowledged (the poller acks after this returns).
            with self._store.transaction() as tx:
                tx.executemany(
                    "INSERT INTO received_revocations (jti, exp, reason) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    received,
                )
        self._prune()

    def receive_token(self, token: str, keys: KeySource) -> None:
        """Verify and apply one SET from the poll endpoint; raises TokenError if invalid."""
        # The bounded parser reads the SET first (iam_core.safe_json): PyJWT only ever sees
        # a token whose header and claims are known to be shallow and without duplicates.
        try:
            header = parse_compact(token, MAX_SET_LENGTH).header
        except TokenError as exc:
            raise TokenError(f"SET is malformed: {exc}") from exc
        if header.get("typ") != SET_TYP:
            raise TokenError(f"SET typ must be {SET_TYP}")
        key = keys.get_key(str(header.get("kid")))
        if key is None or header.get("alg") != key.alg:
            raise TokenError("SET signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.alg],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["iss", "iat", "jti", "events"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"SET rejected: {type(exc).__name__}") from exc
        self.receive_claims(claims)

    def _prune(self) -> None:
        horizon = self._clock.now() - KEEP_AFTER_EXPIRY
        with self._lock:
            for jti in [j for j, (exp, _) in self._revoked.items() if exp < horizon]:
                del self._revoked[jti]

    def reason(self, jti: str) -> str | None:
        """Why ``jti`` was revoked (the event's reason), or None if it was not.

        A miss in memory asks the store: another process or worker sharing it may have
        received the event (one primary-key lookup).
        """
        entry = self._revoked.get(jti)
        if entry is not None:
            return entry[1]
        if self._store is None:
            return None
        row = self._store.one("SELECT exp, reason FROM received_revocations WHERE jti = ?", (jti,))
        if row is None:
            return None
        with self._lock:
            self._revoked[jti] = (float(row["exp"]), str(row["reason"]))
        return str(row["reason"])


def prune_received(store: SQLStore, now: float) -> int:
    """Forget revocations of tokens long expired (retention, docs/design.md)."""
    store.ensure_schema(SCHEMA)
    return int(
        store.execute(
            "DELETE FROM received_revocations WHERE exp < ?", (now - KEEP_AFTER_EXPIRY,)
        ).rowcount
    )
