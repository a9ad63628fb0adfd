"""Revocation: by token, and of every token that names an identity.

The issuer remembers each token it minted (``jti``, subject, actors, expiry) — never the
token itself. Revoking an identity (blocking an agent, disabling a user) or a consent marks
every live token that names it, as ``sub``, anywhere in ``act`` or as the ``may_act`` of a
hand-off grant, revoked at once — and for good: nothing ever removes a revocation before
the token has expired, so unblocking or re-enabling an identity revives none of them; the
introspection endpoint (RFC 7662) and the exchange grant then see it inactive. Listeners
receive each revocation, which is how later layers push it to resource servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from iam_core.clock import Clock
from iam_core.store import AnyStore
from iam_core.tasks import task_name
from iam_core.tokens import Token

SCHEMA = """
CREATE TABLE IF NOT EXISTS issued_tokens (
    jti TEXT PRIMARY KEY, sub TEXT NOT NULL, client_id TEXT NOT NULL,
    token_type TEXT NOT NULL, iat INTEGER NOT NULL, exp INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS issued_tokens_sub ON issued_tokens (sub, exp);
CREATE TABLE IF NOT EXISTS token_actors (
    jti TEXT NOT NULL, actor TEXT NOT NULL, PRIMARY KEY (actor, jti)
);
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti TEXT PRIMARY KEY, exp INTEGER NOT NULL, reason TEXT NOT NULL, revoked_at REAL NOT NULL
);
"""

PRUNE_EVERY = 1024  # tokens issued between opportunistic prunes


def named_actors(token: Token) -> tuple[str, ...]:
    """The agents a token names as actor: its ``act`` chain, and the agent its ``may_act``
    (RFC 8693 §4.4) lets exchange it — so that blocking a hand-off's target, or withdrawing
    the user's consent for it, revokes the hand-off grant for good (docs/attacks.md)."""
    may_act = token.claims.get("may_act")
    target = may_act.get("sub") if isinstance(may_act, dict) else None
    if isinstance(target, str) and target not in token.actors:
        return (*token.actors, target)
    return token.actors


def revocation_names(token: Token) -> tuple[str, ...]:
    """What revokes a token besides its ``jti`` and ``sub``: the agents it names, and the
    task it was issued within (``task:<jti>``, iam_core/tasks.py — no identity holds ':',
    iam_core/identifiers.py, so the names cannot collide)."""
    task = token.claims.get("task")
    return (*named_actors(token), task_name(task)) if isinstance(task, str) else named_actors(token)


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revocation decision: which tokens, why, and of whom (for event subscribers)."""

    jtis: tuple[str, ...]
    reason: str
    subject: str | None = None
    actor: str | None = None
    at: float = 0.0


class RevocationRegistry:
    def __init__(self, store: AnyStore, clock: Clock, *, leeway: int = 30) -> None:
        self._store = store
        self._clock = clock
        # Verifiers accept a token until exp + leeway: revocation must reach it until then.
        self._leeway = leeway
        self._listeners: list[Callable[[Revocation], None]] = []
        self._issued = 0
        store.ensure_schema(SCHEMA)

    def subscribe(self, listener: Callable[[Revocation], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def reset_state(self) -> None:
        self._issued = 0  # the pruning cadence starts again with the restored store

    def record_issued(self, token: Token) -> None:
        self._issued += 1
        if self._issued % PRUNE_EVERY == 0:  # opportunistic retention (docs/design.md)
            self.prune()
        with self._store.transaction() as tx:
            tx.execute(
                "INSERT INTO issued_tokens VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token.jti,
                    token.sub,
                    token.client_id,
                    token.token_type.value,
                    token.iat,
                    token.exp,
                ),
            )
            named = revocation_names(token)
            if named:
                tx.executemany(
                    "INSERT OR IGNORE INTO token_actors VALUES (?, ?)",
                    [(token.jti, actor) for actor in named],
                )

    def reason_revoked(self, jti: str) -> str | None:
        row = self._store.one("SELECT reason FROM revoked_tokens WHERE jti = ?", (jti,))
        return str(row["reason"]) if row else None

    def revoke_jti(self, jti: str, reason: str) -> bool:
        """Revoke one token the issuer minted; False when unknown or already revoked."""
        row = self._store.one("SELECT exp FROM issued_tokens WHERE jti = ?", (jti,))
        if row is None:
            return False
        return bool(self._revoke([(jti, row["exp"])], reason, None, None))

    def revoke_naming(self, identity: str, reason: str) -> tuple[str, ...]:
        """Revoke every live token whose ``sub`` or ``act`` chain names ``identity``."""
        now = int(self._clock.now()) - self._leeway
        rows = self._store.all(
            "SELECT jti, exp FROM issued_tokens WHERE sub = ? AND exp > ?"
            " UNION SELECT t.jti, t.exp FROM token_actors a JOIN issued_tokens t USING (jti)"
            " WHERE a.actor = ? AND t.exp > ?",
            (identity, now, identity, now),
        )
        return self._revoke([(r["jti"], r["exp"]) for r in rows], reason, identity, None)

    def revoke_client(self, client_id: str, reason: str) -> tuple[str, ...]:
        """Revoke every live token issued to ``client_id`` or naming it (a disabled app), and
        every token issued within a task it opened (a front door's, iam_core/tasks.py)."""
        now = int(self._clock.now()) - self._leeway
        rows = self._store.all(
            "SELECT jti, exp FROM issued_tokens WHERE (client_id = ? OR sub = ?) AND exp > ?"
            " UNION SELECT t.jti, t.exp FROM issued_tokens k"
            " JOIN token_actors a ON a.actor = 'task:' || k.jti"
            " JOIN issued_tokens t ON t.jti = a.jti"
            " WHERE (k.client_id = ? OR k.sub = ?) AND t.exp > ?",
            (client_id, client_id, now, client_id, client_id, now),
        )
        return self._revoke([(r["jti"], r["exp"]) for r in rows], reason, client_id, None)

    def revoke_delegation(self, user_id: str, actor: str, reason: str) -> tuple[str, ...]:
        """Revoke every live token of ``user_id`` in whose ``act`` chain ``actor`` appears."""
        rows = self._store.all(
            "SELECT t.jti, t.exp FROM token_actors a JOIN issued_tokens t USING (jti)"
            " WHERE a.actor = ? AND t.sub = ? AND t.exp > ?",
            (actor, user_id, int(self._clock.now()) - self._leeway),
        )
        return self._revoke([(r["jti"], r["exp"]) for r in rows], reason, user_id, actor)

    def _revoke(
        self, tokens: Iterable[tuple[str, int]], reason: str, subject: str | None, actor: str | None
    ) -> tuple[str, ...]:
        now = self._clock.now()
        revoked: list[str] = []
        with self._store.transaction() as tx:
            for jti, exp in tokens:
                cur = tx.execute(
                    "INSERT OR IGNORE INTO revoked_tokens VALUES (?, ?, ?, ?)",
                    (jti, exp, reason, now),
                )
                if cur.rowcount:
                    revoked.append(jti)
            event = Revocation(tuple(revoked), reason, subject, actor, now)
            # Inside the transaction: the revocation, its Security Event Token and what
            # in-process receivers record of it commit together or not at all, so that a
            # crash can never leave a revocation that no service will hear of (docs/design.md).
            for listener in list(self._listeners):
                listener(event)
        return event.jtis

    def prune(self, margin: int = 300) -> int:
        """Forget tokens expired more than ``margin`` seconds ago (well past any leeway).

        A token's ``task:<jti>`` row outlives the token while its task is remembered: the
        rows are what a task's ``tokens_per_task`` counts (iam_core/grants/task.py), so
        forgetting an expired token of a live task would hand the task a fresh allowance
        whenever tokens live shorter than tasks."""
        now = int(self._clock.now()) - margin
        with self._store.transaction() as tx:
            tx.execute(
                "DELETE FROM token_actors WHERE NOT EXISTS (SELECT 1 FROM issued_tokens t"
                "  WHERE t.jti = token_actors.jti AND t.exp > ?)"
                " AND NOT (substr(actor, 1, 5) = 'task:' AND EXISTS (SELECT 1 FROM"
                "  issued_tokens t WHERE t.jti = substr(token_actors.actor, 6) AND t.exp > ?))",
                (now, now),
            )
            removed = tx.execute("DELETE FROM issued_tokens WHERE exp <= ?", (now,)).rowcount
            tx.execute("DELETE FROM revoked_tokens WHERE exp <= ?", (now,))
        return int(removed)
