"""docs/attacks.md #3 — stolen-token replay (T9, T3, ASI03)."""

from scenarios.catalogue._facts import BA, STAY, accepted, bookings, charged
from scenarios.checks import denied
from scenarios.model import Scenario
from scenarios.steps import Ask, Call, EndTask, Steal


def variant(suffix: str, title: str, proof: str, reason: str, with_key: bool = False) -> Scenario:
    return Scenario(
        id=f"c03{suffix}",
        title=title,
        case=3,
        threats=("T9", "T3", "ASI03"),
        steps=(
            Ask(BA, f"Book a double room {STAY} and pay for it", user="alice", keep=True),
            Steal(BA, "alice", "booking", with_key=with_key),
            Call("replayed booking token", "GET", "booking", "/bookings", proof=proof),
            EndTask(BA, "alice"),
        ),
        attack=lambda run: accepted(run, "replayed") > 0,
        utility=lambda run: (
            bookings(run, "alice", "grand-meridian") == 1 and charged(run, guest="alice") == 29_000
        ),
        checks=(denied(service="booking", sub="alice", act=(BA,), reason=reason),),
    )


SCENARIOS = [
    variant(
        "a-replay-with-own-dpop-key",
        "A stolen OBO token replayed from another process, with the thief's own DPoP key",
        "own",
        "DPoP",
    ),
    variant(
        "b-replay-as-bearer",
        "A stolen DPoP-bound token replayed with no proof",
        "none",
        "DPoP proof",
    ),
    variant(
        "c-replay-captured-proof",
        "A captured request (token and proof) sent again",
        "replayed",
        "replay",
        with_key=True,
    ),
]
