"""docs/attacks.md #21 — token reuse after the task (T3)."""

from hotel.stores.seed import ALICE_BOOKING_ID
from scenarios.catalogue._facts import BA, STAY, accepted, bookings
from scenarios.checks import denied
from scenarios.model import Scenario
from scenarios.steps import Ask, Call, EndTask, Steal

CHARGE = {"booking_id": ALICE_BOOKING_ID, "amount_cents": 1500, "payment_method_id": "pm-alice-1"}


def variant(suffix: str, title: str, service: str, call: Call) -> Scenario:
    return Scenario(
        id=f"c21{suffix}",
        title=title,
        case=21,
        threats=("T3",),
        steps=(
            Ask(BA, f"Book a double room {STAY} and pay for it", user="alice", keep=True),
            Steal(BA, "alice", service, with_key=True),
            EndTask(BA, "alice"),
            call,
        ),
        attack=lambda run: accepted(run) > 0,
        utility=lambda run: bookings(run, "alice", "grand-meridian") == 1,
        checks=(denied(service=service, sub="alice", act=(BA,), reason="revoked"),),
    )


SCENARIOS = [
    variant(
        "a-payment-token-after-the-task",
        "The payment token, kept with its DPoP key, used again after the task",
        "payment",
        Call("charge after the task", "POST", "payment", "/payments", proof="stolen", body=CHARGE),
    ),
    variant(
        "b-booking-token-after-the-task",
        "The booking token, kept with its DPoP key, used to read bookings after the task",
        "booking",
        Call("read after the task", "GET", "booking", "/bookings", proof="stolen"),
    ),
]
