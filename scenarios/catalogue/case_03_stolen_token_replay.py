"""docs/attacks.md #3 — stolen-token replay (T9, T3, ASI03)."""

from hotel.stores.seed import ALICE_BOOKING_ID
from scenarios.catalogue._facts import BA, STAY, accepted, bookings, charged
from scenarios.checks import denied
from scenarios.model import Scenario
from scenarios.steps import Ask, Call, EndTask, Steal

# What the thief books with the stolen token (variant b): a stay the guest never asked for.
ELSEWHERE = {
    "hotel_id": "alpine-lodge", "room_type": "suite", "check_in": "2027-01-05",
    "check_out": "2027-01-09",
}  # fmt: skip


def variant(
    suffix: str, title: str, proof: str, reason: str, call: tuple[str, str, dict[str, str] | None],
    with_key: bool = False,
) -> Scenario:  # fmt: skip
    """One replay; each variant presents the token differently and asks for something else
    (``call``: method, path, body)."""
    method, path, body = call
    return Scenario(
        id=f"c03{suffix}",
        title=title,
        case=3,
        threats=("T9", "T3", "ASI03"),
        steps=(
            Ask(BA, f"Book a double room {STAY} and pay for it", user="alice", keep=True),
            Steal(BA, "alice", "booking", with_key=with_key),
            Call("replayed booking token", method, "booking", path, proof=proof, body=body),
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
        ("GET", "/bookings", None),
    ),
    variant(
        "b-replay-as-bearer",
        "A stolen DPoP-bound token replayed with no proof",
        "none",
        "DPoP proof",
        ("POST", "/bookings", ELSEWHERE),
    ),
    variant(
        "c-replay-captured-proof",
        "A captured request (token and proof) sent again",
        "replayed",
        "replay",
        ("GET", f"/bookings/{ALICE_BOOKING_ID}", None),
        with_key=True,
    ),
]
