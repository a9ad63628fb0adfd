"""What people do in a scenario: ask an agent, let its task end, take authority back.

These steps are the benign twin's whole story; ``Revoke`` is also part of an attack's
setting (docs/attacks.md, case 10): authority is withdrawn and the agent keeps going.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.front_door import FRONT_DOOR, FrontDoor, ask
from scenarios.approver import people_of
from scenarios.crew import person
from scenarios.deployment import service_account
from scenarios.model import Run, Step


@dataclass
class Ask(Step):
    """A person asks an agent; ``user`` logs in and consents (unless ``decline``).

    ``continue_task``: the agent goes on under the delegation it holds, no new consent.
    ``keep``: the task stays open (its tokens are not revoked when the answer is given).
    ``claims``: who the person says they are in the chat (believed by the baseline only).
    ``attacker``: the request itself is the attacker's move.
    ``approves``: the actions (RFC 9396 details: type, booking, amount, payee) the person's
    own task needs her approval for; by default, the action her own words name (kind,
    booking or payment id, amount). She denies every other request (``approver.py``).
    """

    agent: str
    text: str
    user: str | None = None
    claims: str | None = None
    continue_task: bool = False
    keep: bool = False
    decline: bool = False
    attacker: bool = False
    approves: tuple[dict[str, Any], ...] = ()

    async def run(self, run: Run) -> None:
        runtime = run.agents[self.agent]
        people = people_of(run.agents)
        if self.approves and self.user is not None and people is not None:
            people.expect(self.user, self.approves)  # else: what her words name
        human = None
        if self.user is not None and not self.continue_task:
            human = person(self.user, approve=lambda page: not self.decline)
        # The front door opens a task for the request — or the person goes on with the one
        # she kept open — and ends it with the answer unless kept (EndTask ends it then);
        # agents/front_door.py, docs/design.md §3.2.
        kept_open = run.open_tasks.get(self.agent, [])
        resumed = kept_open.pop() if self.continue_task and kept_open else None
        convo, kept = await ask(
            FrontDoor(run.dep.oauth, run.dep.app(FRONT_DOOR)),
            runtime,
            self.text,
            keep=self.keep,
            task=resumed,
            human=human,
            principal=self.user if self.continue_task else None,
            claimed=self.claims,
            end_task=not self.keep,
        )
        if kept is not None:
            run.open_tasks.setdefault(self.agent, []).append(kept)
        run.conversations.append(convo)

    def describe(self) -> str:
        who = f"{self.user} → " if self.user else ""
        return f"{who}{self.agent}: “{self.text}”"


@dataclass
class EndTask(Step):
    """``agent`` finishes its task for ``principal``: the tokens it held for it are revoked."""

    agent: str
    principal: str

    async def run(self, run: Run) -> None:
        await run.agents[self.agent].end_task(self.principal)
        door = FrontDoor(run.dep.oauth, run.dep.app(FRONT_DOOR))
        for task in run.open_tasks.pop(self.agent, []):
            await door.close(task)

    def describe(self) -> str:
        return f"{self.agent} ends the task for {self.principal} (its tokens are revoked)"


@dataclass
class Revoke(Step):
    """Authority is taken back mid-task: the user withdraws consent on the account page,
    the IAM admin blocks the agent, or disables the user."""

    how: str  # withdraw | block | disable
    user: str = "alice"
    agent: str = "booking-assistant"
    attacker: bool = True  # part of the attack's setting: the agent then keeps going

    async def run(self, run: Run) -> None:
        if self.how == "withdraw":
            who = person(self.user)
            await run.dep.oauth.withdraw_consent(
                user=who.user_id, password=who.password, actor=self.agent
            )
        elif self.how == "block" and run.profile.identity == "service-account":
            # The IAM knows this agent as its OAuth client: the admin disables that client
            # (its tokens revoked, its secret refused) — what blocking is in this deployment.
            client = service_account(self.agent).client_id
            run.iam.set_app_active(client, False, by="iam-admin")
        elif self.how == "block":
            # Where the IAM knows no agent (shared key, the user's token), blocking the agent
            # identity reaches nothing the agent uses: the profile's documented weakness.
            run.iam.block_agent(self.agent, by="iam-admin", reason="agent blocked by an admin")
        else:
            run.iam.set_user_active(self.user, False, by="iam-admin")

    def describe(self) -> str:
        return {
            "withdraw": f"{self.user} withdraws consent for {self.agent}",
            "block": f"an admin blocks {self.agent}",
            "disable": f"an admin disables {self.user}",
        }[self.how]
