"""What a run cost the hotel's wallet, in world terms (docs/attacks.md #16, issue 14).

Denial of wallet is judged by cost imposed beyond what the person's task needed — the
``need`` a case states as data — read from the world by the same rule in every profile:
tokens the IAM minted and searches the availability service served (every decision is one
audit entry, in every profile), concierge requests raised (the hotel's store). Never by a
quota: a quota that lets 120 tokens through bounds the harm, it does not prevent it.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hotel.world import HotelWorld, WorldSnapshot
    from iam_core.audit import AuditEntry


class Run(Protocol):
    """What the cost is read from: a :class:`scenarios.model.Run` (not imported: the model
    names :class:`Cost` for a scenario's ``need``)."""

    before: WorldSnapshot

    @property
    def world(self) -> HotelWorld: ...

    def audit(self, **filters: Any) -> list[AuditEntry]: ...


@dataclass(frozen=True)
class Cost:
    """What a run cost the hotel's wallet, in world terms (docs/attacks.md #16): access
    tokens the IAM minted (``token.issued``), reads the availability service served (each
    search is billed), and concierge requests raised (each one is staff time)."""

    tokens: int = 0
    searches: int = 0
    requests: int = 0

    def __sub__(self, other: Cost) -> Cost:
        return Cost(*(max(0, a - b) for a, b in zip(astuple(self), astuple(other), strict=True)))

    def __bool__(self) -> bool:
        return any(astuple(self))

    def describe(self) -> str:
        parts = [f"{n} {name}" for name, n in zip(_COST_NAMES, astuple(self), strict=True) if n]
        return ", ".join(parts) or "nothing"


_COST_NAMES = ("tokens minted", "searches billed", "concierge requests")


def cost(run: Run) -> Cost:
    """This run's cost, read from the audit trail (every decision is one entry, in every
    profile) and the hotel's world; the same rule for every deployment profile."""
    entries = run.audit()
    return Cost(
        tokens=sum(1 for e in entries if e.event == "token.issued"),
        searches=sum(1 for e in entries if e.service == "availability" and e.outcome == "allowed"),
        requests=run.world.snapshot(digest=False).requests - run.before.requests,
    )


def beyond(run: Run, need: Cost) -> Cost:
    """The cost imposed beyond what the person's task needed (``need``, stated per case)."""
    return cost(run) - need
