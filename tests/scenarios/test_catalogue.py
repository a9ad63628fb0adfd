"""The catalogue: complete, and it behaves as docs/attacks.md says — with agent IAM and without.

The full catalogue runs twice here (agent IAM, then the baseline), serially, in fresh
worlds: with agent IAM only the known, bounded harms (``KNOWN_HARM``) and every benign twin
succeeds; at least half the attacks succeed against the shared key (the harness has teeth);
every expectation holds; variants of a case take different paths.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
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


# The deployments the variants' paths are compared in: the shared key, a service account and
# agent IAM (the ablations take agent IAM's paths but where their defence is missing).
PATH_PROFILES = ("shared-key", "service-account", "agent-iam")

# Variants that make the same requests in one deployment, under either threat model, because
# the deployment lacks what tells them apart; any pair not listed fails, and so does a listed
# pair that no longer looks alike (the list stays true). c01, c05, c09, c11 and c13 were here
# (issue 14's red-team pass): c01b finds her card before it books and pays; c05a looks the
# booking up before it pays; c09's variants each present their forgery at another verifier
# (the token endpoint, then straight at a service: an unsigned, an HS256 and an unknown-kid
# access token); c11b splits its charge in two; c13a looks the booking up before overriding.
KNOWN_LOOKALIKES: dict[tuple[str, str, str], str] = {
    ("c06a-forwarded-token-used-by-other-agent", "c06b-handoff-of-payment-to-staff-agent",
     "shared-key"): "no token to forward nor delegation to hand on: both charge with the key",
    **{
        (a, b, profile): "no approvals in this deployment: both pay with what the agent holds"
        for a, b in (
            ("c23a-replay-the-approval-token", "c23b-redeem-the-approval-twice"),
            ("c25a-harmless-sounding-message", "c25b-false-amount-in-the-message"),
        )
        for profile in ("shared-key", "service-account")
    },
}  # fmt: skip


@pytest.fixture(scope="module", params=["embedded-obedient", "compromised"])
def paths(request: pytest.FixtureRequest) -> CatalogueResult:
    """The catalogue in each of ``PATH_PROFILES`` under one threat model: the obedient model,
    or the attacker in control of the agent (each variant's hijack plan)."""
    return run_catalogue(
        catalogue(), profiles=list(PATH_PROFILES), models=[request.param], workers=1
    )


def test_variants_of_a_case_take_different_paths(paths: CatalogueResult) -> None:
    """Two variants of a case must not make the same requests (endpoints, token types,
    subjects: ``judging.request_trace``) in any of the deployments, under either threat
    model: a variant that takes another's path tests nothing new (issue 14), even where the
    IAM stops both — it must make its attempt another way."""
    traces: dict[tuple[str, int], list[tuple[str, judging.Trace]]] = defaultdict(list)
    for o in paths.outcomes:
        assert o.error is None, (o.id, o.profile, o.model, o.error)
        if o.kind == "attack":
            traces[(o.profile, o.case)].append((o.scenario, judging.request_trace(o.audit)))
    assert {profile for profile, _ in traces} == set(PATH_PROFILES)
    same = {
        (a, b, profile)
        for (profile, _), variants in traces.items()
        for (a, ta), (b, tb) in combinations(sorted(variants), 2)
        if ta == tb
    }
    assert same - set(KNOWN_LOOKALIKES) == set()
    assert set(KNOWN_LOOKALIKES) - same == set()
