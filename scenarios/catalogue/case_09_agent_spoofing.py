"""docs/attacks.md #9 — agent identity spoofing (T9, T13)."""

from scenarios.catalogue._facts import BA, STAY, accepted, calls
from scenarios.checks import denied
from scenarios.model import Scenario
from scenarios.steps import Ask, SpoofAgent

TWIN = (Ask(BA, f"Find a double room {STAY}"),)
SEARCH = "/search?hotel_id=grand-meridian&check_in=2026-12-10&check_out=2026-12-12"
# Each variant forges differently and goes after something else with what it gets.
HOW = {
    "a": ("forged-key", "an assertion signed with the attacker's key", "signature", "/hotels"),
    "b": ("alg-none", "an unsigned assertion (alg: none)", "client_assertion", SEARCH),
    "c": ("hs256", "an HS256 assertion keyed with the agent's public key", "alg",
          "/hotels/grand-meridian/reviews"),
    "d": ("unknown-kid", "an assertion naming an unknown kid", "kid", "/bookings"),
}  # fmt: skip

SCENARIOS = [
    Scenario(
        id=f"c09{suffix}-{how}",
        title=f"Posing as booking-assistant with {words}",
        case=9,
        threats=("T9", "T13"),
        steps=(
            SpoofAgent(how, path=path)
            if path != "/bookings"
            else SpoofAgent(how, service="booking", path=path, as_user="alice"),
        ),
        twin=TWIN,
        attack=lambda run: accepted(run, "spoof") > 0,
        utility=lambda run: calls(run, "search_availability") == 1,
        checks=(denied(event="token.refused", reason=reason),),
    )
    for suffix, (how, words, reason, path) in HOW.items()
]
