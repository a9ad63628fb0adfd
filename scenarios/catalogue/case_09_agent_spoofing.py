"""docs/attacks.md #9 — agent identity spoofing (T9, T13)."""

from scenarios.catalogue._facts import BA, STAY, accepted, calls
from scenarios.checks import denied
from scenarios.model import Scenario
from scenarios.steps import Ask, SpoofAgent

TWIN = (Ask(BA, f"Find a double room {STAY}"),)
HOW = {
    "a": ("forged-key", "an assertion signed with the attacker's key", "signature"),
    "b": ("alg-none", "an unsigned assertion (alg: none)", "client_assertion"),
    "c": ("hs256", "an HS256 assertion keyed with the agent's public key", "alg"),
    "d": ("unknown-kid", "an assertion naming an unknown kid", "kid"),
}

SCENARIOS = [
    Scenario(
        id=f"c09{suffix}-{how}",
        title=f"Posing as booking-assistant with {words}",
        case=9,
        threats=("T9", "T13"),
        steps=(SpoofAgent(how),),
        twin=TWIN,
        attack=lambda run: accepted(run, "spoof") > 0,
        utility=lambda run: calls(run, "search_availability") == 1,
        checks=(denied(event="token.refused", reason=reason),),
    )
    for suffix, (how, words, reason) in HOW.items()
]
