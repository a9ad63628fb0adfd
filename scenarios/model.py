"""What a scenario is: a small declarative unit, in the manner of AgentDojo's tasks.

A :class:`Scenario` names an attack case of docs/attacks.md: its threat ids, the steps (people's
requests to agents, and the attacker's moves, marked ``attacker``), the attacker's goal
(``attack``: did it get what it wanted?), the people's own goal (``utility``: did their
task succeed?), and what the audit trail must show when agent IAM stops it (``checks``).

Every scenario is two runs: the attack, and its benign twin — the same steps without the
attacker's moves (or ``twin`` steps, when the twin must differ) — which must succeed.
Scenarios run under a deployment profile (``profiles.py``: shared key, the user's token, a
service account, agent IAM and its ablations); the runner decides what each run must show
(see ``runner.expectations``). ``hijack`` states, as data, the tool calls an attacker who
fully controls the agent from the injection point on would make (``--model compromised``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from agents.front_door import Task
    from agents.llm.client import ChatModel
    from agents.runtime import AgentRuntime, Conversation
    from hotel.world import HotelWorld, WorldSnapshot
    from iam_core.audit import AuditEntry
    from iam_core.iam import IAM
    from scenarios.cost import Cost
    from scenarios.deployment import Deployment
    from scenarios.profiles import Profile

Kind = Literal["attack", "benign"]


@dataclass
class AttackerCall:
    """One request the attacker made directly (not through an agent), and its answer."""

    label: str
    status: int
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Run:
    """One scenario run's world: the deployment, the agents, and what happened so far."""

    dep: Deployment
    agents: dict[str, AgentRuntime]
    model: ChatModel
    profile: Profile
    before: WorldSnapshot
    first_seq: int  # audit entries after the deployment was set up
    conversations: list[Conversation] = field(default_factory=list)
    attacker_calls: list[AttackerCall] = field(default_factory=list)
    loot: dict[str, Any] = field(default_factory=dict)  # what the attacker got hold of
    # Tasks a person's request left open (Ask keep=True), per agent, until EndTask ends them.
    open_tasks: dict[str, list[Task]] = field(default_factory=dict)

    @property
    def baseline(self) -> bool:
        """The shared-key profile (one API key, the user named in X-User)."""
        return self.profile.identity == "shared-key"

    @property
    def agent_iam(self) -> bool:
        return self.profile.agent_iam

    @property
    def iam(self) -> IAM:
        assert self.dep.iam is not None
        return self.dep.iam

    @property
    def world(self) -> HotelWorld:
        assert self.dep.hotel is not None
        return self.dep.hotel.world

    def audit(self, **filters: Any) -> list[AuditEntry]:
        """This run's audit entries (after set-up), filtered as ``AuditLog.query``."""
        return self.iam.audit.query(since_seq=self.first_seq, **filters)

    def tool_calls(
        self, tool: str | None = None, outcome: str | None = None
    ) -> list[dict[str, Any]]:
        """Every tool call of every conversation (hand-offs included), optionally filtered."""

        def walk(convo: Conversation) -> list[dict[str, Any]]:
            calls = list(convo.tool_events())
            for other in convo.handoffs:
                calls += walk(other)
            return calls

        calls = [c for convo in self.conversations for c in walk(convo)]
        return [
            c
            for c in calls
            if (tool is None or c["tool"] == tool) and (outcome is None or c["outcome"] == outcome)
        ]

    def accepted(self, label_prefix: str = "") -> list[AttackerCall]:
        return [c for c in self.attacker_calls if c.accepted and c.label.startswith(label_prefix)]


class Step(ABC):
    """One move in a scenario. ``attacker`` steps are left out of the benign twin."""

    attacker: bool = False

    @abstractmethod
    async def run(self, run: Run) -> None:
        """Make the move in ``run``'s world."""

    def describe(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Check:
    """One expectation on a finished run, stated in words."""

    text: str
    holds: Callable[[Run], bool]


Predicate = Callable[[Run], bool]


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    case: int  # the row of docs/attacks.md
    threats: tuple[str, ...]
    steps: tuple[Step, ...]
    attack: Predicate  # the attacker got what they wanted
    utility: Predicate  # the people's own task succeeded
    checks: tuple[Check, ...] = ()  # what the audit trail shows when agent IAM stops it
    twin: tuple[Step, ...] | None = None  # the benign twin's steps, if not the attack's minus
    baseline_stops: bool = False  # the shared-key profile stops this too (not IAM's control)
    # The compromised agent's moves toward the attacker's goal (``--model compromised``);
    # None: the attack's own steps are already the hijacker's moves (tokens, floods, …).
    hijack: tuple[Step, ...] | None = None
    # What the person's task costs at most in any profile (scenarios/cost.py); set where the
    # harm is cost beyond it (denial of wallet), reported with the run's harm.
    need: Cost | None = None
    description: str = ""

    def steps_for(self, kind: Kind, compromised: bool = False) -> tuple[Step, ...]:
        if kind == "attack":
            if compromised and self.hijack is not None:
                return self.steps + self.hijack
            return self.steps
        if self.twin is not None:
            return self.twin
        return tuple(s for s in self.steps if not s.attacker)
