"""Consents: what a user allowed a client and an agent (the actor) to do on their behalf.

A consent is recorded when the user approves the consent page of an authorization
request (RFC 6749 §4.1.1; with ``requested_actor`` per draft-oauth-ai-agents-on-behalf-of-
user-02 §4). It is the "consented" term of the OBO scope rule and the record that a
withdrawal removes, which revokes every token it backed.

A consent is standing: it is the union of what the user approved for that client and agent
over time. What one authorization granted is kept apart, per token (:class:`Authorization`):
an exchange is bounded by the authorization that produced its subject token, never by the
standing union (RFC 8693 §2.1 leaves the policy to the server; docs/design.md, delegation
rules), so approving ``booking:cancel`` in one task does not widen a later task's tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from iam_core.clock import Clock
from iam_core.policy import format_scope, parse_scope
from iam_core.store import AnyStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS consents (
    user_id TEXT NOT NULL, client_id TEXT NOT NULL, actor TEXT NOT NULL,
    scopes TEXT NOT NULL, authorization_details TEXT NOT NULL, granted_at REAL NOT NULL,
    PRIMARY KEY (user_id, client_id, actor)
);
CREATE TABLE IF NOT EXISTS token_authorizations (
    jti TEXT PRIMARY KEY, scopes TEXT NOT NULL, authorization_details TEXT NOT NULL,
    exp INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS token_authorizations_exp ON token_authorizations (exp);
"""
PRUNE_EVERY = 256

NO_ACTOR = ""


@dataclass(frozen=True, slots=True)
class Consent:
    user_id: str
    client_id: str
    actor: str  # agent id, or "" when the user consented to the client alone
    scopes: frozenset[str]
    authorization_details: tuple[dict[str, Any], ...]
    granted_at: float


@dataclass(frozen=True, slots=True)
class Authorization:
    """What the authorization behind a token granted, across every audience it named."""

    scopes: frozenset[str]
    authorization_details: tuple[dict[str, Any], ...]


class ConsentStore:
    def __init__(self, store: AnyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._recorded = 0
        store.ensure_schema(SCHEMA)

    def reset_state(self) -> None:
        self._recorded = 0  # the pruning cadence starts again with the restored store

    def grant(
        self,
        user_id: str,
        client_id: str,
        actor: str | None,
        scopes: frozenset[str],
        authorization_details: tuple[dict[str, Any], ...] = (),
    ) -> Consent:
        """Record (or widen) a consent; a new approval adds to what was consented before."""
        actor = actor or NO_ACTOR
        previous = self.get(user_id, client_id, actor)
        merged = scopes | (previous.scopes if previous else frozenset())
        consent = Consent(
            user_id, client_id, actor, merged, authorization_details, self._clock.now()
        )
        self._store.execute(
            "INSERT INTO consents VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, client_id, actor)"
            " DO UPDATE SET scopes = excluded.scopes,"
            " authorization_details = excluded.authorization_details,"
            " granted_at = excluded.granted_at",
            (
                user_id,
                client_id,
                actor,
                format_scope(merged),
                json.dumps(list(authorization_details)),
                consent.granted_at,
            ),
        )
        return consent

    def get(self, user_id: str, client_id: str, actor: str | None) -> Consent | None:
        row = self._store.one(
            "SELECT * FROM consents WHERE user_id = ? AND client_id = ? AND actor = ?",
            (user_id, client_id, actor or NO_ACTOR),
        )
        return _consent(row) if row else None

    def for_user(self, user_id: str) -> list[Consent]:
        rows = self._store.all(
            "SELECT * FROM consents WHERE user_id = ? ORDER BY client_id, actor", (user_id,)
        )
        return [_consent(r) for r in rows]

    def withdraw(self, user_id: str, actor: str, client_id: str | None = None) -> int:
        """Remove the user's consents for ``actor`` (for one client, or all); returns how many."""
        if client_id is None:
            cur = self._store.execute(
                "DELETE FROM consents WHERE user_id = ? AND actor = ?", (user_id, actor)
            )
        else:
            cur = self._store.execute(
                "DELETE FROM consents WHERE user_id = ? AND actor = ? AND client_id = ?",
                (user_id, actor, client_id),
            )
        return cur.rowcount

    def record_authorization(self, jti: str, exp: int, authorization: Authorization) -> None:
        """Remember what the authorization behind token ``jti`` granted, until it expires."""
        self._store.execute(
            "INSERT INTO token_authorizations VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO UPDATE SET"
            " scopes = excluded.scopes, authorization_details = excluded.authorization_details,"
            " exp = excluded.exp",
            (
                jti,
                format_scope(authorization.scopes),
                json.dumps(list(authorization.authorization_details)),
                exp,
            ),
        )
        self._recorded += 1
        if self._recorded % PRUNE_EVERY == 0:  # forget the authorizations of dead tokens
            self._store.execute(
                "DELETE FROM token_authorizations WHERE exp < ?", (int(self._clock.now()) - 600,)
            )

    def authorization_of(self, jti: str) -> Authorization | None:
        row = self._store.one("SELECT * FROM token_authorizations WHERE jti = ?", (jti,))
        if row is None:
            return None
        return Authorization(
            parse_scope(row["scopes"]), tuple(json.loads(row["authorization_details"]))
        )


def _consent(row: Any) -> Consent:
    return Consent(
        user_id=row["user_id"],
        client_id=row["client_id"],
        actor=row["actor"],
        scopes=parse_scope(row["scopes"]),
        authorization_details=tuple(json.loads(row["authorization_details"])),
        granted_at=row["granted_at"],
    )
