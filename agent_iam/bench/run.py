"""The cost of one scenario run, and of the whole catalogue.

A run (``scenarios.runner.run_one``) is one scenario of the catalogue as an attack or as its
benign twin in a fresh in-memory world: the IAM seeded, the four services, the agents with
the worst-case (obedient) embedded model, the steps played and judged, the audit chain
verified. The runs go through the catalogue in order (attack, then benign twin), each once with
agent IAM and once against the baseline deployment, alternating, so the baseline is the same
run without agent IAM on the same machine at the same moment. The figure is the process CPU
time per run, which contention distorts less than wall time.

The catalogue figure is ``agent-iam run``'s wall time: in a full run the whole catalogue with
agent IAM on every CPU (``run_catalogue``); in ``--quick`` an estimate from the runs timed here
(CPU per run × runs in the catalogue ÷ CPUs), and said to be one.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from agent_iam.bench.harness import Figure, Settings, percentile, ratio_figure

SUITE = "run"
GOALS = {"run_ratio": 2.0, "catalogue_s": 10.0}
MODEL = "embedded-obedient"  # the catalogue's worst case: follows any instruction it reads


async def timed_runs(count: int, seed: int = 0) -> dict[str, list[dict[str, float]]]:
    """``count`` runs per side (agent IAM, baseline), alternating run by run."""
    from agents.llm.client import ModelSettings, open_model
    from scenarios.catalogue import catalogue
    from scenarios.runner import KINDS, run_one

    jobs = [(scenario, kind) for scenario in catalogue() for kind in KINDS]
    out: dict[str, list[dict[str, float]]] = {"iam": [], "baseline": []}
    async with open_model(ModelSettings(model=MODEL)) as model:
        for index in range(count + 1):  # the first pair warms up imports and caches
            scenario, kind = jobs[index % len(jobs)]
            for side in out:
                started, cpu = time.perf_counter(), time.process_time()
                outcome = await run_one(
                    scenario, kind, baseline=side == "baseline", seed=seed, model=model
                )
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                if outcome.error:
                    raise RuntimeError(f"{outcome.id} ({side}) failed: {outcome.error}")
                if index:
                    out[side].append({"wall": wall, "cpu": cpu, "passed": float(outcome.passed)})
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


def run(settings: Settings, count: int | None = None) -> list[Figure]:
    """``count`` (default by ``settings``) runs per side; tests pass a tiny one."""
    count = count or settings.count(60, 10, minimum=1)
    samples = asyncio.run(timed_runs(count))
    cpu = {side: [s["cpu"] * 1000 for s in rows] for side, rows in samples.items()}
    wall = {side: [s["wall"] * 1000 for s in rows] for side, rows in samples.items()}
    ratio = statistics.median(a / b for a, b in zip(cpu["iam"], cpu["baseline"], strict=True))
    per_run = ratio_figure(
        SUITE,
        f"one scenario run, CPU per run ({count} runs, fresh world each)",
        statistics.median(cpu["iam"]),
        statistics.median(cpu["baseline"]),
        ratio,
        against="baseline deployment",
        goal=GOALS["run_ratio"],
        unit="ms",
    )
    per_run.result += f" (wall p50 {percentile(wall['iam'], 0.5):.0f} ms)"
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
        f"baseline deployment ≈ {seconds / ratio:.1f} s (by the CPU ratio)",
        f"{seconds:.1f} s",
        f"≤ {goal:g} s",
        seconds <= goal,
        values,
    )
    per_run.values["samples"] = samples
    return [per_run, catalogue_figure]
