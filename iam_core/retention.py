"""Retention: security state is kept only while it can still matter (docs/design.md).

Pruned, on a schedule (``agent-iam serve`` runs :func:`prune_iam` every minute) and now and
then as tokens are issued:

* issued-token records and revocations of tokens expired more than five minutes ago
  (well past any verifier's leeway), :meth:`RevocationRegistry.prune`;
* Security Event Tokens older than twice the longest token lifetime (every token they name
  has expired; a new receiver starts after them anyway);
* consumed DPoP proof ``jti``s and client-assertion ``jti``s once they cannot be fresh;
* quota events whose window has passed;
* a service's received revocations once their tokens are long expired.

The audit log is never pruned.
"""

from __future__ import annotations

from dataclasses import dataclass

from iam_core.client_auth import SCHEMA as ASSERTION_SCHEMA
from iam_core.dpop import prune_dpop_jtis
from iam_core.iam import IAM
from iam_core.quota import prune_quotas
from iam_core.revoked import prune_received
from iam_core.store import SQLStore

# Past any client assertion's exp (at most five minutes ahead, plus leeway).
ASSERTION_MARGIN = 600


@dataclass(frozen=True, slots=True)
class Pruned:
    tokens: int = 0
    events: int = 0
    dpop_jtis: int = 0
    assertion_jtis: int = 0
    quota_events: int = 0
    received_revocations: int = 0


def prune_security_state(store: SQLStore, now: float) -> Pruned:
    """What any process keeps (a service on its own too): proofs, quotas, revocations seen."""
    return Pruned(
        dpop_jtis=prune_dpop_jtis(store, now),
        quota_events=prune_quotas(store, now),
        received_revocations=prune_received(store, now),
    )


def prune_iam(iam: IAM) -> Pruned:
    """Everything of :func:`prune_security_state`, and the IAM's own records."""
    now = iam.clock.now()
    shared = prune_security_state(iam.store, now)
    tokens = iam.revocations.prune()
    horizon = now - 2 * iam.config.lifetimes.longest - 300
    events = iam.store.execute(
        "DELETE FROM security_events WHERE created_at < ?", (horizon,)
    ).rowcount
    iam.store.ensure_schema(ASSERTION_SCHEMA)
    assertions = iam.store.execute(
        "DELETE FROM assertion_jtis WHERE exp < ?", (int(now) - ASSERTION_MARGIN,)
    ).rowcount
    return Pruned(
        tokens=tokens,
        events=int(events),
        dpop_jtis=shared.dpop_jtis,
        assertion_jtis=int(assertions),
        quota_events=shared.quota_events,
        received_revocations=shared.received_revocations,
    )
