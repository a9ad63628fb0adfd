"""The people's own tasks in each profile: expected under agent IAM, pinned elsewhere.

Utility is an expectation (the exit code) under ``agent-iam`` and its ablations only. In the
ordinary profiles it is a figure, reported with what stopped each failed task — a
``user-token`` agent holds nothing when nobody is logged in, a real property of that
deployment (README, “Deployment profiles”). So that a harness defect in those profiles
still fails somewhere, this file pins their utility: every twin succeeds under
``shared-key`` and ``service-account``; under ``user-token`` exactly the twins asked with
nobody logged in fail, each saying why (``judging.task_stopped_by``).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from agents.llm.client import ModelSettings, open_model
from scenarios.catalogue import catalogue
from scenarios.model import Scenario
from scenarios.profiles import profile
from scenarios.runner import Outcome, run_one
from scenarios.stack import Stacks
from scenarios.steps import Ask

UTILITY = "the people's own task succeeds (utility)"
# The twins asked with nobody logged in (the agent searches on its own authority).
NOBODY_LOGGED_IN = {"c09a", "c09b", "c09c", "c09d", "c10b", "c16a", "c16b"}
NO_USER = "deployment: search_availability denied: no token of any user for availability"


def asked_with_nobody_logged_in(scenario: Scenario) -> bool:
    """The twin asks an agent something with no user logged in (the agent's own authority)."""
    return any(isinstance(step, Ask) and step.user is None for step in scenario.steps_for("benign"))


async def _twins(prof: str, scenarios: list[Scenario]) -> list[Outcome]:
    stacks = Stacks()
    try:
        async with open_model(ModelSettings(model="embedded-obedient")) as chat:
            return [
                await run_one(s, "benign", seed=0, model=chat, prof=profile(prof), stacks=stacks)
                for s in scenarios
            ]
    finally:
        await stacks.aclose()


@pytest.mark.parametrize("prof", ["shared-key", "service-account", "user-token"])
def test_each_ordinary_profiles_utility_is_pinned(prof: str) -> None:
    outcomes = asyncio.run(_twins(prof, catalogue()))
    failed = {o.scenario: o.stopped_by for o in outcomes if not o.utility}
    if prof == "user-token":
        nobody = {s.id for s in catalogue() if asked_with_nobody_logged_in(s)}
        assert {sid[:4] for sid in nobody} == NOBODY_LOGGED_IN
        assert set(failed) == nobody, failed
        # Each says why, in the words of judging.task_stopped_by: the deployment, not the IAM.
        assert set(failed.values()) == {NO_USER}, failed
    else:
        assert not failed, failed
    # Reported, not expected: no run of an ordinary profile fails on its utility.
    assert all(o.passed for o in outcomes), [o.id for o in outcomes if not o.passed]
    assert not any(e["text"].startswith(UTILITY) for o in outcomes for e in o.expectations)


@pytest.mark.parametrize(
    ("prof", "expected"),
    [("agent-iam", True), ("agent-iam-no-quotas", True), ("user-token", False)],
)
def test_utility_is_an_expectation_under_agent_iam_and_its_ablations(
    prof: str, expected: bool
) -> None:
    """A twin whose task fails fails its run under agent IAM and every ablation (the exit
    code); in an ordinary profile the failure is reported, with what stopped it."""
    scenario = catalogue()[0]  # any twin: its goal is replaced by one never reached
    failing = replace(scenario, id=f"{scenario.id}-never-useful", utility=lambda run: False)
    (outcome,) = asyncio.run(_twins(prof, [failing]))
    assert outcome.utility is False
    assert outcome.stopped_by, outcome
    texts = [e["text"] for e in outcome.expectations if not e["passed"]]
    if expected:
        assert not outcome.passed
        assert any(t.startswith(UTILITY) for t in texts), texts
    else:
        assert outcome.passed, texts
