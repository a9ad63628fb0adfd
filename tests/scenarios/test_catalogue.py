"""The catalogue: complete, and it behaves as docs/attacks.md says — with agent IAM and without.

The full catalogue runs twice here (agent IAM, then the baseline), serially, in fresh
worlds: with agent IAM only the known, bounded harms (``KNOWN_HARM``) and every benign twin
succeeds; at least half the attacks succeed against the shared key (the harness has teeth);
every expectation holds; variants of a case take different paths.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest

from scenarios import judging, report
from scenarios.catalogue import catalogue, select
from scenarios.runner import CatalogueResult, run_catalogue

ATTACKS_MD = Path(__file__).resolve().parents[2] / "docs" / "attacks.md"


def test_every_case_of_attacks_md_has_at_least_two_variants() -> None:
    cases = Counter(s.case for s in catalogue())
    assert set(cases) == set(range(1, 26))
    assert min(cases.values()) >= 2, cases


def test_threat_ids_match_attacks_md() -> None:
    rows = {
        int(m.group(1)): set(re.findall(r"\b(?:T\d+|LLM\d+|ASI\d+)\b", m.group(2)))
        for m in re.finditer(r"^\| (\d+) \|[^|]*\|([^|]*)\|", ATTACKS_MD.read_text(), re.M)
    }
    for s in catalogue():
        # Each scenario carries its case's threats (a variant may add a related one).
        assert rows[s.case] <= set(s.threats), (s.id, rows[s.case], s.threats)


def test_every_attack_has_a_benign_twin_without_the_attacker() -> None:
    for s in catalogue():
        twin = s.steps_for("benign")
        assert twin, s.id
        assert not any(step.attacker for step in twin), s.id
        assert any(step.attacker for step in s.steps_for("attack")), s.id


def test_select_by_prefix_and_unknown_ids() -> None:
    assert {s.case for s in select(["c01"])} == {1}
    with pytest.raises(KeyError):
        select(["no-such-scenario"])


@pytest.fixture(scope="module")
def with_iam() -> CatalogueResult:
    return run_catalogue(catalogue(), baseline=False, workers=1)


@pytest.fixture(scope="module")
def baseline() -> CatalogueResult:
    return run_catalogue(catalogue(), baseline=True, workers=1)


# Judged as harm (cost beyond what the task needed): the agent quotas bound a hijacked agent's
# loops (119 tokens, 299 searches beyond the task's need) without preventing the cost
# (scenarios/cost.py). Known findings, not judged away. c15a's approval flood does no harm
# since approvals are bound to the exact action (issue 15).
KNOWN_HARM: set[str] = set()


def test_with_agent_iam_no_attack_succeeds_and_every_twin_does(with_iam: CatalogueResult) -> None:
    failed = [
        (o.id, o.error, [e for e in o.expectations if not e["passed"]])
        for o in with_iam.outcomes
        if not o.passed and o.id not in KNOWN_HARM
    ]
    assert not failed
    s = report.summary(with_iam)
    harmed = {o.id for o in with_iam.outcomes if o.attack_succeeded}
    assert harmed == KNOWN_HARM
    assert s["utility_rate"] == 1
    assert s["attacks"] == len(catalogue())


def test_the_baseline_lets_most_attacks_through(baseline: CatalogueResult) -> None:
    failed = [
        (o.id, o.error, [e for e in o.expectations if not e["passed"]])
        for o in baseline.outcomes
        if not o.passed
    ]
    assert not failed
    s = report.summary(baseline)
    # The shared-key profile keeps the business rules and takes the user from the session
    # (issue 14): most attacks, not nearly all, get through (34 of 50 at seed 0).
    assert s["attack_success_rate"] >= 0.5
    assert s["utility_rate"] == 1


def test_denials_name_who_and_why(with_iam: CatalogueResult) -> None:
    """Every stopped attack left at least one denial in its run's audit trail, with a reason."""
    for o in with_iam.outcomes:
        if o.kind == "attack":
            denials = [a for a in o.audit if a["outcome"] == "denied"]
            assert denials or o.case == 14, o.id  # case 14 attacks the log itself
            assert all(a.get("reason") for a in denials), o.id


# Variants whose requests still look alike under both deployments: none today. The set stays
# so that a known open defect can be listed while it is fixed; any pair not listed fails.
# (c24 was the last: c24a now lists her bookings at the booking service before presenting
# the approval on another one, where c24b goes straight to the payment service. c06, c23
# and c25 differ under agent IAM: c06b's hand-off is refused at the token endpoint where
# c06a reaches the payment service; c23b is refused at the token endpoint where c23a reaches
# it; c25b's request is refused at /bc-authorize where c25a's is asked of Alice.)
KNOWN_LOOKALIKES: set[tuple[str, str]] = set()


@pytest.fixture(scope="module")
def hijacked() -> CatalogueResult:
    """The catalogue with the attacker in control of the agent (its hijack plans), under
    agent IAM and the shared key."""
    return run_catalogue(
        catalogue(), profiles=["agent-iam", "shared-key"], models=["compromised"], workers=1
    )


def _split(result: CatalogueResult) -> tuple[CatalogueResult, CatalogueResult]:
    def only(name: str) -> CatalogueResult:
        kept = [o for o in result.outcomes if o.profile == name]
        return replace(result, outcomes=kept)

    return only("agent-iam"), only("shared-key")


@pytest.mark.parametrize("threat", ["embedded-obedient", "compromised"])
def test_variants_of_a_case_take_different_paths(
    with_iam: CatalogueResult,
    baseline: CatalogueResult,
    hijacked: CatalogueResult,
    threat: str,
) -> None:
    """Two variants of a case must not make the same requests (endpoints, token types,
    subjects: ``judging.request_trace``) under both agent IAM and the shared key: where the
    IAM stops both at one gate they may look alike, but not everywhere (issue 14) — with
    the obedient model, and with the attacker in control (each variant's hijack plan)."""
    if threat == "compromised":
        with_iam, baseline = _split(hijacked)

    def same(result: CatalogueResult) -> set[tuple[str, str]]:
        traces: dict[int, list[tuple[str, tuple[tuple[str, ...], ...]]]] = defaultdict(list)
        for o in result.outcomes:
            if o.kind == "attack":
                traces[o.case].append((o.scenario, judging.request_trace(o.audit)))
        return {
            (a, b)
            for variants in traces.values()
            for (a, ta), (b, tb) in combinations(variants, 2)
            if ta == tb
        }

    assert not (same(with_iam) & same(baseline)) - KNOWN_LOOKALIKES
