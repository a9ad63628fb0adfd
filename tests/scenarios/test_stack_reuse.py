"""A reused stack gives every run the state of a newly built one (scenarios/stack.py).

* After ``run, reset`` the in-memory state of every project object reachable from the stack
  (caches, counters, queues, held tokens) and the whole database equal their state right
  after the build — a new cache without ``reset_state`` fails here.
* Runs on a reused stack, in any order and in the runner's process pool, are judged exactly
  as runs on fresh stacks, with the same audit trail (modulo ids and times).
* A revocation, a block, a consent or a quota count of one run is not seen by the next.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from agents.front_door import FRONT_DOOR, FrontDoor, ask
from agents.llm.client import ModelSettings, open_model
from iam_core.state_reset import fingerprint
from scenarios import judging
from scenarios.catalogue import by_id
from scenarios.crew import person
from scenarios.profiles import profile
from scenarios.runner import KINDS, Outcome, live_run, run_catalogue, run_one
from scenarios.stack import Stack, Stacks, build

MODEL = "embedded-obedient"
# Revocation, blocking, consent withdrawal, approval floods, quotas, a tampered log, replays,
# hand-offs: the runs that leave the most state behind.
CHOSEN = (
    "c10a-after-withdraw",
    "c10b-after-block",
    "c14a-edit",
    "c15a-flood-of-approvals",
    "c16a-token-request-loop",
    "c17c-genuine-message-replayed",
    "c21a-payment-token-after-the-task",
    "c03c-replay-captured-proof",
)
_ID = re.compile(r"[A-Za-z0-9_-]{16,}|\b[0-9a-f]{8,}\b|\b(bk|pay|req|hold|ref)[-_][A-Za-z0-9]+")
_VOLATILE = {"time", "hash", "prev_hash", "trace_id", "jti", "seconds"}


def _normal(value: Any) -> Any:
    """A value with its ids and times left out (they differ between any two runs)."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, str):
        return _ID.sub("<id>", value)
    return value


def judged(outcome: Outcome) -> dict[str, Any]:
    """What a run is judged by and what its audit trail says, ids and times aside."""
    return dict(_normal(outcome.to_dict()))


def _state(stack: Stack) -> tuple[dict[str, object], list[str]]:
    assert stack.dep.iam is not None
    dump = list(stack.dep.iam.store._conn.iterdump())
    return fingerprint(stack.roots), dump


def _differences(a: dict[str, object], b: dict[str, object]) -> list[str]:
    keys = sorted(set(a) | set(b))
    return [
        f"{k}: {a.get(k, '<absent>')!r} → {b.get(k, '<absent>')!r}"
        for k in keys
        if a.get(k) != b.get(k)
    ]


@pytest.mark.parametrize("name", ["agent-iam", "shared-key", "service-account", "user-token"])
def test_state_after_run_and_reset_equals_state_after_build(name: str) -> None:
    scenarios = by_id()

    async def go() -> tuple[tuple[dict[str, object], list[str]], ...]:
        async with open_model(ModelSettings(model=MODEL)) as model:
            stack = await build(profile(name), None, 0, model)
            try:
                built = _state(stack)
                for sid in CHOSEN:
                    for kind in KINDS:
                        await run_one(
                            scenarios[sid],
                            kind,
                            seed=0,
                            model=model,
                            prof=profile(name),
                            stacks=_Fixed(stack),  # type: ignore[arg-type]
                        )
                stack.reset()
                return built, _state(stack)
            finally:
                await stack.aclose()

    (built_memory, built_db), (reset_memory, reset_db) = asyncio.run(go())
    assert reset_db == built_db
    differences = _differences(built_memory, reset_memory)
    assert not differences, "\n".join(differences[:20])


class _Fixed:
    """Stacks that always give one stack (the test's own)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    async def get(self, *args: object) -> Stack:
        return self.stack


def test_reused_runs_are_judged_as_fresh_ones_in_any_order() -> None:
    scenarios = by_id()
    jobs = [(sid, kind) for sid in CHOSEN for kind in KINDS]

    async def go() -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
        async with open_model(ModelSettings(model=MODEL)) as model:
            fresh = {
                job: judged(await run_one(scenarios[job[0]], job[1], seed=0, model=model))
                for job in jobs
            }
            results = []
            for order in (jobs, jobs[::-1]):
                stacks = Stacks()
                try:
                    results.append(
                        {
                            job: judged(
                                await run_one(
                                    scenarios[job[0]], job[1], seed=0, model=model, stacks=stacks
                                )
                            )
                            for job in order
                        }
                    )
                finally:
                    await stacks.aclose()
            return fresh, results[0], results[1]

    fresh, forward, backward = asyncio.run(go())
    for job in jobs:
        assert forward[job] == fresh[job], job
        assert backward[job] == fresh[job], job


def test_the_process_pool_on_reused_stacks_agrees_with_fresh_stacks() -> None:
    scenarios = [by_id()[sid] for sid in CHOSEN]

    async def fresh_runs() -> dict[tuple[str, str], dict[str, Any]]:
        """Each in a world of its own; the attack judged beside its twin, as the pool does."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        async with open_model(ModelSettings(model=MODEL)) as model:
            for s in scenarios:
                async with live_run(s, "benign", seed=0, model=model) as (benign, played):
                    twin = judging.twin_of(played, benign.audit)
                attack = await run_one(s, "attack", seed=0, model=model, twin=twin)
                found[(s.id, "benign")], found[(s.id, "attack")] = judged(benign), judged(attack)
        return found

    fresh = asyncio.run(fresh_runs())
    pooled = run_catalogue(scenarios, model=MODEL, workers=2)
    assert len(pooled.outcomes) == len(fresh)
    for outcome in pooled.outcomes:
        assert judged(outcome) == fresh[(outcome.scenario, outcome.kind)], outcome.id


REQUEST = "Book a double room at the Grand Meridian from 2026-12-01 to 2026-12-03 and pay for it"


def _door(dep: Any) -> FrontDoor:
    return FrontDoor(dep.oauth, dep.app(FRONT_DOOR))


def test_what_one_run_did_to_the_iam_is_not_seen_by_the_next() -> None:
    """Run A: a consent given, then withdrawn, tokens revoked, the agent blocked and its
    token quota used up. Run B on the same stack: none of it — the agent books and pays."""

    async def go() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with open_model(ModelSettings(model=MODEL)) as model:
            stack = await build(profile("agent-iam"), None, 0, model)
            try:
                async with stack.fresh(model) as (dep, agents):
                    iam = dep.iam
                    assert iam is not None and iam.token_quota is not None
                    convo, _ = await ask(
                        _door(dep),
                        agents["booking-assistant"],
                        REQUEST,
                        keep=True,
                        human=person("alice"),
                        end_task=False,
                    )
                    seen["a_outcomes"] = [e["outcome"] for e in convo.tool_events()]
                    seen["a_consents"] = len(iam.consents.for_user("alice"))
                    iam.withdraw_consent("alice", "booking-assistant")
                    iam.block_agent("booking-assistant", by="admin")
                    while iam.token_quota.take("booking-assistant") is None:
                        pass
                    seen["a_revoked"] = _count(iam.store, "revoked_tokens")
                async with stack.fresh(model) as (dep, agents):
                    iam = dep.iam
                    assert iam is not None
                    agent = iam.registry.get_agent("booking-assistant")
                    seen["b_active"] = agent is not None and agent.active
                    seen["b_consents"] = len(iam.consents.for_user("alice"))
                    seen["b_revoked"] = _count(iam.store, "revoked_tokens")
                    again, _ = await ask(
                        _door(dep), agents["booking-assistant"], REQUEST, human=person("alice")
                    )
                    seen["b_outcomes"] = [e["outcome"] for e in again.tool_events()]
            finally:
                await stack.aclose()
        return seen

    seen = asyncio.run(go())
    assert seen["a_outcomes"] == ["allowed"] * 4
    assert seen["a_consents"] > 0 and seen["a_revoked"] > 0
    assert seen["b_active"]
    assert seen["b_consents"] == 0
    assert seen["b_revoked"] == 0
    assert seen["b_outcomes"] == ["allowed"] * 4


def _count(store: Any, table: str) -> int:
    row = store.one(f"SELECT COUNT(*) FROM {table}")
    return int(row[0])
