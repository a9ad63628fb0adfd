"""docs/attacks.md #14 — log tampering and repudiation (T8).

The audit chain is the same in both deployments, so the baseline stops this too: the point
is where verification finds the tampering, and that a consistent rewrite is caught by the
signed checkpoints and the head seal.
"""

from collections.abc import Callable

from hotel.stores.seed import BOB_PAYMENT_ID
from scenarios.catalogue._facts import BA, SA, STAY, bookings, charged, refunded
from scenarios.model import Check, Run, Scenario
from scenarios.steps import Ask, TamperAudit


def found_at_or_before_the_edit(run: Run) -> bool:
    result = run.iam.audit.verify()
    seq = run.loot.get("tampered_seq")
    return not result.ok and seq is not None and (result.first_bad_seq or 0) <= seq


# Each variant hides another decision, made on another path: a booking, a payment, a
# manager's refund through the staff assistant.
VARIANTS = (
    ("a", "edit", "A booking's allowed decision is rewritten as denied in the database",
     Ask(BA, f"Book a double room {STAY}", user="alice"), "/bookings",
     lambda run: bookings(run, "alice", "grand-meridian") == 1),
    ("b", "delete", "A payment's audit entry is deleted from the database",
     Ask(BA, f"Book a double room {STAY} and pay for it", user="alice"), "/payments",
     lambda run: charged(run, guest="alice") > 0),
    ("c", "rewrite", "A refund's entry is edited and the whole chain re-hashed to match",
     Ask(SA, f"Refund payment {BOB_PAYMENT_ID} of $100", user="dave"), "/refund",
     lambda run: refunded(run) == 10_000),
)  # fmt: skip


def _utility(done: Callable[[Run], bool]) -> Callable[[Run], bool]:
    """The person's task done, and the log still verifying (in the benign twin)."""
    return lambda run: done(run) and run.iam.audit.verify().ok


SCENARIOS = [
    Scenario(
        id=f"c14{suffix}-{how}",
        title=title,
        case=14,
        threats=("T8",),
        steps=(task, TamperAudit(how, path=path)),
        attack=lambda run: run.iam.audit.verify().ok,
        utility=_utility(done),
        checks=(
            Check(
                "audit verify fails at (or before) the tampered entry", found_at_or_before_the_edit
            ),
        ),
        baseline_stops=True,
    )
    for suffix, how, title, task, path, done in VARIANTS
]
