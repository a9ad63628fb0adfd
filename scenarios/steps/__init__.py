"""The moves a scenario is made of: people's requests to agents, and the attacker's moves.

Each step works in both deployments. With agent IAM the attacker holds what they could
really get (a stolen token without its DPoP key, a forged assertion, a planted review); in
the baseline the same attacker holds what that world gives away: the one shared API key,
which is in every agent's configuration, and the ``X-User`` header it trusts.

By kind: :mod:`.people` (asking, ending a task, revoking), :mod:`.planted` (content planted
for agents to read), :mod:`.tokens` (stolen and forged credentials), :mod:`.hijacked` (a
hijacked agent's moves and forged messages), :mod:`.approvals` (a hijacked agent against
a person's approvals), :mod:`.audit` (tampering with the log).
"""

from scenarios.model import Step
from scenarios.steps.audit import TamperAudit, tamper_audit_log
from scenarios.steps.hijacked import Exchange, Flood, HandOff, Hijack, Message
from scenarios.steps.people import Ask, EndTask, Revoke
from scenarios.steps.planted import PlantNote, PlantReview
from scenarios.steps.tokens import AppToken, Call, SpoofAgent, Steal

__all__ = [
    "AppToken",
    "Ask",
    "Call",
    "EndTask",
    "Exchange",
    "Flood",
    "HandOff",
    "Hijack",
    "Message",
    "PlantNote",
    "PlantReview",
    "Revoke",
    "SpoofAgent",
    "Steal",
    "Step",
    "TamperAudit",
    "tamper_audit_log",
]
