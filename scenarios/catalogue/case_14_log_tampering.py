"""docs/attacks.md #14 — log tampering and repudiation (T8).

The audit chain is the same in both deployments, so the baseline stops this too: the point
is where verification finds the tampering, and that a consistent rewrite is caught by the
signed checkpoints and the head seal.
"""

from scenarios.catalogue._facts import BA, STAY, bookings
from scenarios.model import Check, Run, Scenario
from scenarios.steps import Ask, TamperAudit


def found_at_or_before_the_edit(run: Run) -> bool:
    result = run.iam.audit.verify()
    seq = run.loot.get("tampered_seq")
    return not result.ok and seq is not None and (result.first_bad_seq or 0) <= seq


SCENARIOS = [
    Scenario(
        id=f"c14{suffix}-{how}",
        title=title,
        case=14,
        threats=("T8",),
        steps=(Ask(BA, f"Book a double room {STAY}", user="alice"), TamperAudit(how)),
        attack=lambda run: run.iam.audit.verify().ok,
        utility=lambda run: (
            bookings(run, "alice", "grand-meridian") == 1 and run.iam.audit.verify().ok
        ),
        checks=(
            Check(
                "audit verify fails at (or before) the tampered entry", found_at_or_before_the_edit
            ),
        ),
        baseline_stops=True,
    )
    for suffix, how, title in (
        ("a", "edit", "An allowed decision is rewritten as denied in the database"),
        ("b", "delete", "An audit entry is deleted from the database"),
        ("c", "rewrite", "An entry is edited and the whole chain re-hashed to match"),
    )
]
