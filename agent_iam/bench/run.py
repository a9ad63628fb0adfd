"""The cost of one scenario run, and of the whole catalogue.

A run (``scenarios.runner.run_one``) is one scenario of the catalogue as an attack or as its
benign twin on a fresh state: the IAM seeded, the four services, the agents with the
worst-case (obedient) embedded model, the steps played and judged, the audit chain verified.
As ``agent-iam run`` does, the deployment (apps, routes, guards, agents' graphs) is built once
per process and profile and each run gets a fresh state (``scenarios/stack.py``). The runs go
through the catalogue in order (attack, then benign twin), each three times, alternating: on
the reused stack, on a stack built for that run alone (the cost before stacks were reused),
and against the baseline deployment — so each side is the same run on the same machine at
the same moment. The figures are process CPU time per run, which contention distorts less
than wall time.

The catalogue and ladder figures are ``agent-iam run``'s (and ``run --ladder``'s) wall time:
measured in a full run (``run_catalogue`` on every CPU); in ``--quick`` estimated from the runs
timed here (CPU per run × runs ÷ CPUs), and said to be so.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from agent_iam.bench.harness import Figure, Settings, percentile, ratio_figure

SUITE = "run"
GOALS = {"run_cpu_ms": 10.0, "run_ratio": 2.0, "catalogue_s": 10.0, "ladder_s": 60.0}
MODEL = "embedded-obedient"  # the catalogue's worst case: follows any instruction it reads
# Each run's side: agent IAM on a reused stack (what ``agent-iam run`` does), agent IAM on a
# stack built for the run alone (as before stacks were reused), the baseline deployment on
# a reused stack.
SIDES = ("iam", "iam-fresh", "baseline")


async def timed_runs(count: int, seed: int = 0) -> dict[str, list[dict[str, float]]]:
    """``count`` runs per side (:data:`SIDES`), alternating run by run."""
    from agents.llm.client import ModelSettings, open_model
    from scenarios.catalogue import catalogue
    from scenarios.runner import KINDS, run_one
    from scenarios.stack import Stacks

    jobs = [(scenario, kind) for scenario in catalogue() for kind in KINDS]
    out: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    stacks = Stacks()
    try:
        async with open_model(ModelSettings(model=MODEL)) as model:
            for index in range(count + 1):  # the first round builds the stacks, warms up
                scenario, kind = jobs[index % len(jobs)]
                for side in out:
                    started, cpu = time.perf_counter(), time.process_time()
                    outcome = await run_one(
                        scenario,
                        kind,
                        baseline=side == "baseline",
                        seed=seed,
                        model=model,
                        stacks=None if side == "iam-fresh" else stacks,
                    )
                    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                    if outcome.error:
                        raise RuntimeError(f"{outcome.id} ({side}) failed: {outcome.error}")
                    if index:
                        out[side].append(
                            {"wall": wall, "cpu": cpu, "passed": float(outcome.passed)}
                        )
    finally:
        await stacks.aclose()
    return out


def catalogue_size() -> int:
    from scenarios.catalogue import catalogue
    from scenarios.runner import KINDS

    return len(catalogue()) * len(KINDS)


def catalogue_wall_seconds() -> float:
    from scenarios.catalogue import catalogue
    from scenarios.runner import run_catalogue

    result = run_catalogue(catalogue(), baseline=False, model=MODEL)
    failed = [o.id for o in result.outcomes if not o.passed]
    if failed:
        raise RuntimeError(f"catalogue runs did not pass: {failed}")
    return result.seconds


def ladder_wall_seconds() -> tuple[float, int]:
    """``agent-iam run --ladder``'s runs: every profile × the ladder's models, all CPUs."""
    from scenarios.catalogue import catalogue
    from scenarios.profiles import PROFILES
    from scenarios.runner import COMPROMISED, WORST_CASE_MODEL, run_catalogue

    result = run_catalogue(
        catalogue(),
        profiles=[p.name for p in PROFILES],
        models=[WORST_CASE_MODEL, COMPROMISED],
    )
    errors = [o.id for o in result.outcomes if o.error]
    if errors:
        raise RuntimeError(f"ladder runs failed: {errors[:5]}")
    return result.seconds, len(result.outcomes)


def run(settings: Settings, count: int | None = None) -> list[Figure]:
    """``count`` (default by ``settings``) runs per side; tests pass a tiny one."""
    count = count or settings.count(60, 10, minimum=1)
    samples = asyncio.run(timed_runs(count))
    cpu = {side: [s["cpu"] * 1000 for s in rows] for side, rows in samples.items()}
    wall = {side: [s["wall"] * 1000 for s in rows] for side, rows in samples.items()}
    reused, fresh = statistics.median(cpu["iam"]), statistics.median(cpu["iam-fresh"])
    goal = GOALS["run_cpu_ms"]
    per_run = Figure(
        SUITE,
        f"one scenario run, CPU per run ({count} runs, stack reused, fresh state each)",
        f"{reused:.1f} ms (wall p50 {percentile(wall['iam'], 0.5):.0f} ms)",
        f"a stack built for each run {fresh:.1f} ms ({fresh / reused:.1f}× the CPU)",
        f"{reused:.1f} ms",
        f"≤ {goal:g} ms",
        reused <= goal,
        {"reused_ms": reused, "fresh_ms": fresh, "goal_ms": goal},
    )
    ratio = statistics.median(a / b for a, b in zip(cpu["iam"], cpu["baseline"], strict=True))
    against = ratio_figure(
        SUITE,
        f"one scenario run with agent IAM vs without, CPU per run ({count} runs, reused stacks)",
        reused,
        statistics.median(cpu["baseline"]),
        ratio,
        against="baseline deployment",
        goal=GOALS["run_ratio"],
        unit="ms",
    )
    runs, cpus = catalogue_size(), os.cpu_count() or 1
    if settings.quick:
        seconds = statistics.mean(cpu["iam"]) / 1000 * runs / cpus
        how = f"estimate: mean CPU per run × {runs} runs ÷ {cpus} CPUs"
    else:
        seconds = catalogue_wall_seconds()
        how = f"agent-iam run: {runs} runs on {cpus} CPUs"
    goal = GOALS["catalogue_s"]
    values: dict[str, Any] = {"seconds": seconds, "runs": runs, "cpus": cpus, "goal_s": goal}
    catalogue_figure = Figure(
        SUITE,
        "attack catalogue with agent IAM, wall time",
        f"{seconds:.1f} s ({how})",
        f"stacks built for each run ≈ {seconds * fresh / reused:.1f} s (by the CPU ratio)",
        f"{seconds:.1f} s",
        f"≤ {goal:g} s",
        seconds <= goal,
        values,
    )
    per_run.values["samples"] = samples
    return [per_run, against, catalogue_figure, _ladder(settings, cpu, runs, cpus)]


def _ladder(settings: Settings, cpu: dict[str, list[float]], runs: int, cpus: int) -> Figure:
    """``agent-iam run --ladder``: measured in a full run, estimated in ``--quick``."""
    from scenarios.profiles import PROFILES

    cells = len(PROFILES) * 2  # the ladder's two models
    if settings.quick:
        ladder_runs = runs * cells
        seconds = statistics.mean(cpu["iam"]) / 1000 * ladder_runs / cpus
        how = f"estimate: mean CPU per run × {ladder_runs} runs ÷ {cpus} CPUs"
    else:
        seconds, ladder_runs = ladder_wall_seconds()
        how = f"agent-iam run --ladder: {ladder_runs} runs on {cpus} CPUs"
    fresh = statistics.mean(cpu["iam-fresh"]) / statistics.mean(cpu["iam"])
    goal = GOALS["ladder_s"]
    return Figure(
        SUITE,
        f"the ladder ({len(PROFILES)} profiles × 2 models), wall time",
        f"{seconds:.1f} s ({how})",
        f"stacks built for each run ≈ {seconds * fresh:.0f} s (by the CPU ratio)",
        f"{seconds:.1f} s",
        f"≤ {goal:g} s",
        seconds <= goal,
        {"seconds": seconds, "runs": ladder_runs, "cpus": cpus, "goal_s": goal},
    )
