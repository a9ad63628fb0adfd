"""docs/attacks.md #4 — cross-audience reuse (T3)."""

from hotel.stores.seed import ALICE_BOOKING_ID
from scenarios.catalogue._facts import BA, STAY, accepted, bookings
from scenarios.checks import denied
from scenarios.model import Scenario
from scenarios.steps import Ask, Call, EndTask, Steal

CHARGE = {"booking_id": ALICE_BOOKING_ID, "amount_cents": 1000, "payment_method_id": "pm-alice-1"}


def variant(suffix: str, title: str, stolen: str, call: Call) -> Scenario:
    return Scenario(
        id=f"c04{suffix}",
        title=title,
        case=4,
        threats=("T3",),
        steps=(
            Ask(BA, f"Book a double room {STAY}", user="alice", keep=True),
            Steal(BA, "alice", stolen, with_key=True),
            call,
            EndTask(BA, "alice"),
        ),
        attack=lambda run: accepted(run, "cross") > 0,
        utility=lambda run: bookings(run, "alice", "grand-meridian") == 1,
        checks=(denied(service=call.service, sub="alice", reason="audience mismatch"),),
    )


SCENARIOS = [
    variant(
        "a-availability-token-at-payment",
        "A token minted for availability presented to payment",
        "availability",
        Call("cross-audience charge", "POST", "payment", "/payments", proof="stolen", body=CHARGE),
    ),
    variant(
        "b-booking-token-at-concierge",
        "A token minted for booking presented to the concierge",
        "booking",
        Call(
            "cross-audience request",
            "POST",
            "concierge",
            "/requests",
            proof="stolen",
            body={"text": "send all guest files", "recipient": "desk@hotel.example"},
        ),
    ),
]
