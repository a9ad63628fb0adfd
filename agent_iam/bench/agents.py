"""One whole agent conversation, in-process, with the embedded model.

booking-assistant serves alice's "Book a double room at the Grand Meridian from <d1> to <d2>
and pay for it": the model's turns through the real ``openai`` client, alice's login and
consent, the code redeemed, token exchanges, a DPoP proof per request, the four tool calls
(search, list payment methods, book, pay) and the revocation of the task's tokens at the end.

Side by side, alternating conversation by conversation so that both see the same machine, the
same conversation against the baseline deployment (the services accept one shared API key: no
agent IAM), which is what the IAM costs a conversation. Each conversation books its own
two-night stay (one grant books once; no night runs out of rooms); a fresh deployment pair is
started, and warmed up, whenever the world's inventory window is used up. Every conversation
is checked (the four tools allowed, in order) and the audit chain verified at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from datetime import timedelta
from typing import Any

from agent_iam.bench.harness import Figure, Settings, percentile

SUITE = "agents"
GOALS = {"median_ms": 20.0}
REQUEST = "Book a double room at the Grand Meridian from {} to {} and pay for it"
EXPECTED = ["search_availability", "list_payment_methods", "book_room", "pay_booking"]
NIGHTS = 2
WARMUP = 3  # conversations per side after each fresh deployment, not timed


def stay(index: int) -> tuple[str, str]:
    from hotel.world import DEFAULT_START

    check_in = DEFAULT_START + timedelta(days=index)
    return check_in.isoformat(), (check_in + timedelta(days=NIGHTS)).isoformat()


async def conversations(runs: int) -> dict[str, list[dict[str, float]]]:
    """``runs`` timed conversations per side: ``iam`` and ``baseline``, alternating."""
    from agents.front_door import FRONT_DOOR, FrontDoor, ask
    from agents.llm.client import ModelSettings, open_model
    from hotel.world import DEFAULT_DAYS
    from iam_core.iam import IAMConfig
    from scenarios.crew import crew, person
    from scenarios.deployment import DEFAULT_ISSUER, deployment

    # Quotas off: a benchmark is a flood of tokens and requests by design.
    config = IAMConfig(issuer=DEFAULT_ISSUER, agent_token_quota=None, agent_request_quota=None)
    sides = ("iam", "baseline")
    samples: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    per_world = DEFAULT_DAYS - NIGHTS - WARMUP
    while len(samples["iam"]) < runs:
        todo = min(per_world, runs - len(samples["iam"]))
        async with contextlib.AsyncExitStack() as stack:
            agents = {}
            deps = {}
            for side in sides:
                dep = await stack.enter_async_context(
                    deployment(in_memory=True, config=config, baseline=side == "baseline")
                )
                model = await stack.enter_async_context(open_model(ModelSettings()))
                crew_of = await stack.enter_async_context(crew(dep, model))
                agents[side], deps[side] = crew_of["booking-assistant"], dep
            alice = person("alice")
            for index in range(WARMUP + todo):
                for side in sides:
                    started, cpu = time.perf_counter(), time.process_time()
                    # Through the front door, as a person's request: its task opened and
                    # ended are part of what a conversation costs (docs/design.md §3.2).
                    door = FrontDoor(deps[side].oauth, deps[side].app(FRONT_DOOR))
                    request = REQUEST.format(*stay(index))
                    convo, _ = await ask(door, agents[side], request, human=alice)
                    total, cpu = time.perf_counter() - started, time.process_time() - cpu
                    steps = [(e["tool"], e["outcome"]) for e in convo.tool_events()]
                    if not convo.ok or steps != [(t, "allowed") for t in EXPECTED]:
                        raise RuntimeError(f"{side} conversation {index} did not book: {steps}")
                    if index >= WARMUP:
                        samples[side].append({"total": total, "cpu": cpu, **convo.seconds})
            iam = deps["iam"].iam
            if iam is None or not iam.audit.verify().ok:
                raise RuntimeError("the audit chain does not verify after the conversations")
    return samples


def _ms(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(s.get(key, 0.0) for s in samples) * 1000


def run(settings: Settings) -> list[Figure]:
    runs = settings.count(100, 15, minimum=1)
    samples = asyncio.run(conversations(runs))
    iam, base = samples["iam"], samples["baseline"]
    median, goal = _ms(iam, "total"), GOALS["median_ms"]
    p90 = percentile((s["total"] * 1000 for s in iam), 0.9)
    parts = ", ".join(f"{k} {_ms(iam, k):.1f}" for k in ("model", "tokens", "http"))
    values: dict[str, Any] = {
        side: {k: _ms(rows, k) for k in ("total", "cpu", "model", "tokens", "http")}
        for side, rows in samples.items()
    }
    values["goal_ms"] = goal
    return [
        Figure(
            SUITE,
            f"agent conversation, book + pay ({runs} runs, embedded model)",
            f"median {median:.1f} ms, p90 {p90:.1f} ms (CPU {_ms(iam, 'cpu'):.1f}; {parts})",
            f"baseline deployment, no agent IAM: median {_ms(base, 'total'):.1f} ms",
            f"{median:.1f} ms",
            f"< {goal:g} ms",
            median < goal,
            values,
        )
    ]
