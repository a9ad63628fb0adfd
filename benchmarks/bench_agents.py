#!/usr/bin/env python
"""Benchmark of one whole agent conversation, in-process: search → book → pay.

Run from the repository root::

    python benchmarks/bench_agents.py            # 100 timed conversations (~15 s)
    python benchmarks/bench_agents.py --quick    # 30 timed conversations
    python benchmarks/bench_agents.py --json out.json
    python benchmarks/bench_agents.py --profile  # + cProfile of the timed conversations
    python benchmarks/bench_agents.py --file-db  # the IAM on a SQLite file, as `agent-iam serve`

booking-assistant serves alice's "Book a double room at the Grand Meridian from <d1> to <d2>
and pay for it" with the embedded model (``embedded-obedient``, through the ``openai``
client and ``httpx2.ASGITransport``), on ``crew(dep, model)`` over an in-memory deployment
reached through ``httpx.ASGITransport``: the consent flow (login, consent page), the code
redeemed with the actor token, token exchanges per service, DPoP proofs, the four tool
calls, the audit entries, and the revocation of the task's tokens at the end. Each
conversation asks for a fresh two-night stay (one grant books once; rooms stay free).

The time of each conversation is divided into: the model (``ChatModel.seconds``; of it, the
embedded planner itself), tokens (``AgentIdentity.seconds``), HTTP to the services
(``ToolBox.seconds``, ``convo.seconds['http']``), the audit (time inside ``AuditLog.append``,
wherever it happens — taken out of the tokens and HTTP figures it falls in), and
graph/other = total − the rest (of it, the person's login and consent pages).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

# bench_iam sits next to this file (the script's folder is on sys.path): its run-and-report
# ending and its event-loop choice are reused.
import bench_iam
from bench_iam import LOOP

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from openai.types.chat import ChatCompletion  # noqa: E402

from agents.dpop import DPoPKey  # noqa: E402
from agents.llm import embedded  # noqa: E402
from agents.llm.client import ChatModel, ModelSettings, open_model  # noqa: E402
from agents.oauth import OAuthClient  # noqa: E402
from agents.runtime import AgentRuntime  # noqa: E402
from agents.tools import ToolBox  # noqa: E402
from hotel.world import DEFAULT_DAYS, DEFAULT_START  # noqa: E402
from iam_core.audit import AuditLog  # noqa: E402
from iam_core.iam import IAMConfig  # noqa: E402
from scenarios.crew import crew, person  # noqa: E402
from scenarios.deployment import DEFAULT_ISSUER, deployment  # noqa: E402

GOALS = {"median_ms": 50.0}
REQUEST = "Book a double room at the Grand Meridian from {} to {} and pay for it"
EXPECTED = ["search_availability", "list_payment_methods", "book_room", "pay_booking"]
NIGHTS = 2
STAYS_PER_DEPLOYMENT = DEFAULT_DAYS - NIGHTS  # distinct stays starting on successive days
TOKEN_CALLS = ("agent_token", "redeem_code", "exchange", "revoke")
COMPONENTS = (
    "total",
    "model",
    "model: openai client + transport",
    "model: embedded API (parse, answer)",
    "model: planner",
    "tokens",
    "http",
    "audit",
    "graph/other",
    "other: login + consent",
    "other: price quote",
    "other: DPoP proofs (service calls)",
)


# ---------------------------------------------------------------------------------------------
# Instrumentation (this process only): which phase a conversation is in, and the audit's time
# ---------------------------------------------------------------------------------------------
class Phases:
    """Time inside ``AuditLog.append``, by what the agent was doing when it happened.

    Phases nest (a tool call may fetch a token): the innermost one counts. ``tokens`` is an
    ``OAuthClient`` token request (what ``AgentIdentity.seconds`` times), ``http`` a tool's
    call (``ToolBox._call``; its own ``ToolBox.seconds`` is the request alone), ``consent``
    the person's login and consent pages, ``quote`` the consent page's price (a search),
    ``model`` a completion; anything else is ``other``.
    """

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.audit: Counter[str] = Counter()  # seconds in AuditLog.append, by phase
        self.appends: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()  # seconds in outermost calls of each phase
        self.calls: Counter[str] = Counter()
        self.planner = 0.0  # in planner.respond (the embedded model's thinking)
        self.server = 0.0  # in the embedded API's route (parse, plan, answer)
        self.proofs = 0.0  # DPoP proofs for service calls (those of token requests: tokens)

    def _phase(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        phases = self

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            outermost = name not in phases.stack
            phases.stack.append(name)
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                phases.stack.pop()
                if outermost:
                    phases.wall[name] += time.perf_counter() - started
                    phases.calls[name] += 1

        return wrapper

    @contextlib.contextmanager
    def installed(self) -> Iterator[Phases]:
        phases = self
        originals: list[tuple[Any, str, Any]] = []

        def patch(owner: Any, attribute: str, replacement: Any) -> None:
            originals.append((owner, attribute, getattr(owner, attribute)))
            setattr(owner, attribute, replacement)

        append = AuditLog.append

        def timed_append(self: AuditLog, event: Any) -> Any:
            started = time.perf_counter()
            try:
                return append(self, event)
            finally:
                where = phases.stack[-1] if phases.stack else "other"
                phases.audit[where] += time.perf_counter() - started
                phases.appends[where] += 1

        respond = embedded.respond

        def timed_respond(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return respond(*args, **kwargs)
            finally:
                phases.planner += time.perf_counter() - started

        route = embedded.chat_completions

        async def timed_route(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await route(*args, **kwargs)
            finally:
                phases.server += time.perf_counter() - started

        proof = DPoPKey.proof

        def timed_proof(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return proof(*args, **kwargs)
            finally:
                if "tokens" not in phases.stack:
                    phases.proofs += time.perf_counter() - started

        patch(AuditLog, "append", timed_append)
        patch(embedded, "respond", timed_respond)
        patch(embedded, "chat_completions", timed_route)  # create_app() reads it when called
        patch(DPoPKey, "proof", timed_proof)
        patch(ChatModel, "complete", self._phase("model", ChatModel.complete))
        patch(ToolBox, "_call", self._phase("http", ToolBox._call))
        patch(OAuthClient, "authorize", self._phase("consent", OAuthClient.authorize))
        patch(AgentRuntime, "_quote", self._phase("quote", AgentRuntime._quote))
        for name in TOKEN_CALLS:
            patch(OAuthClient, name, self._phase("tokens", getattr(OAuthClient, name)))
        try:
            yield self
        finally:
            for owner, attribute, original in reversed(originals):
                setattr(owner, attribute, original)

    def snapshot(self) -> dict[str, Any]:
        return {
            "audit": Counter(self.audit),
            "appends": Counter(self.appends),
            "wall": Counter(self.wall),
            "calls": Counter(self.calls),
            "planner": self.planner,
            "server": self.server,
            "proofs": self.proofs,
        }


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in after.items():
        if isinstance(value, Counter):
            out[key] = {k: value[k] - before[key][k] for k in value}
        else:
            out[key] = value - before[key]
    return out


# ---------------------------------------------------------------------------------------------
# The conversations
# ---------------------------------------------------------------------------------------------
def stay(index: int) -> tuple[str, str]:
    check_in = DEFAULT_START + timedelta(days=index)
    return check_in.isoformat(), (check_in + timedelta(days=NIGHTS)).isoformat()


def untransformed(model: ChatModel) -> None:
    """What-if (a prototype, not the project's code): the same request body posted with
    ``client.post`` instead of ``chat.completions.create``, which first walks every message
    and tool definition against the SDK's TypedDicts (``_async_transform_recursive``)."""
    client = model.client

    async def create(**body: Any) -> ChatCompletion:
        return await client.post("/chat/completions", body=body, cast_to=ChatCompletion)

    client.chat.completions.create = create  # type: ignore[method-assign]


async def conversations(
    runs: int,
    warmup: int,
    phases: Phases,
    *,
    file_db: Path | None,
    profile: cProfile.Profile | None = None,
    what_if: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """``runs`` timed conversations per variant, a fresh deployment (warmed up) per block.

    Variants: ``as is``, and (``what_if``) the untransformed model call on a second crew of
    the same deployment, alternating conversation by conversation so that both see the same
    machine. Each conversation books a stay no other conversation of the block books.
    """
    # Quotas off: a benchmark is a flood of consents by design (approval quota: 5 per 10 min).
    config = IAMConfig(
        issuer=DEFAULT_ISSUER,
        agent_token_quota=None,
        approval_quota=None,
        agent_request_quota=None,
    )
    variants = ["as is", "what-if"] if what_if else ["as is"]
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    samples["messages"] = []  # one conversation's transcript, for the graph-alone figure
    per_block = (STAYS_PER_DEPLOYMENT - warmup * len(variants)) // len(variants)
    block = 0
    while len(samples["as is"]) < runs:
        todo = min(per_block, runs - len(samples["as is"]))
        where: dict[str, Any] = {"config": config}
        if file_db is not None:
            where["db"] = file_db / f"iam-{block}.db"
        else:
            where["in_memory"] = True
        async with contextlib.AsyncExitStack() as stack:
            dep = await stack.enter_async_context(deployment(**where))
            crews = {}
            for variant in variants:
                model = await stack.enter_async_context(open_model(ModelSettings()))
                if variant == "what-if":
                    untransformed(model)
                agents = await stack.enter_async_context(crew(dep, model))
                crews[variant] = (model, agents["booking-assistant"])
            alice = person("alice")
            for index in range((warmup + todo) * len(variants)):
                variant = variants[index % len(variants)]
                model, agent = crews[variant]
                timed = index >= warmup * len(variants)
                request = REQUEST.format(*stay(index))
                before = phases.snapshot()
                model_before, tokens_before = model.seconds, agent.identity.seconds
                model_calls = model.calls
                if profile is not None and timed and variant == "as is":
                    profile.enable()
                started, cpu = time.perf_counter(), time.process_time()
                convo = await agent.run(request, human=alice)
                total = time.perf_counter() - started
                cpu = time.process_time() - cpu
                if profile is not None:
                    profile.disable()
                steps = [(e["tool"], e["outcome"]) for e in convo.tool_events()]
                if not convo.ok or steps != [(t, "allowed") for t in EXPECTED]:
                    raise RuntimeError(f"conversation {index} did not book and pay: {steps}")
                if not timed:
                    continue
                if not samples["messages"]:
                    samples["messages"] = list(convo.messages)
                moved = _delta(phases.snapshot(), before)
                samples[variant].append(
                    {
                        "total": total,
                        "cpu": cpu,
                        "model": model.seconds - model_before,
                        "tokens": agent.identity.seconds - tokens_before,
                        "http": convo.seconds["http"],
                        "model_calls": model.calls - model_calls,
                        "tool_calls": len(steps),
                        **{f"phase_{k}": v for k, v in moved.items()},
                    }
                )
            assert dep.iam is not None
            if not dep.iam.audit.verify().ok:
                raise RuntimeError("the audit chain does not verify after the benchmark")
        block += 1
    return samples


class _ScriptedModel:
    """Answers with a recorded conversation's assistant messages, in order."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.calls = 0
        self.seconds = 0.0

    async def complete(self, messages: Any, tools: Any) -> dict[str, Any]:
        self.calls += 1
        return dict(self.answers[self.calls - 1])


class _ScriptedTools:
    """Answers each tool call with the recorded tool message."""

    def __init__(self, results: dict[str, str]) -> None:
        self.results = results
        self.seconds = 0.0

    def definitions(self) -> list[dict[str, Any]]:
        return []

    async def run(self, name: str, arguments: str) -> str:
        return self.results[name]


async def graph_alone(messages: list[dict[str, Any]], n: int) -> dict[str, float]:
    """langgraph's own cost: the same graph, nodes answering from a recorded conversation."""
    from agents.graph import RECURSION_LIMIT, build_graph

    answers = [m for m in messages if m.get("role") == "assistant"]
    names = {c["id"]: c["function"]["name"] for m in answers for c in m.get("tool_calls") or ()}
    results = {names[m["tool_call_id"]]: m["content"] for m in messages if m.get("role") == "tool"}
    auth = json.loads(results.pop("request_authorization"))

    async def authorize(args: Any) -> dict[str, Any]:
        return dict(auth)

    builds, runs = [], []
    for _ in range(n):
        started = time.perf_counter()
        graph = build_graph(
            _ScriptedModel(answers),  # type: ignore[arg-type]
            _ScriptedTools(results),  # type: ignore[arg-type]
            authorize,
            [],
        )
        built = time.perf_counter()
        state = await graph.ainvoke(
            {"messages": messages[:2]}, config={"recursion_limit": RECURSION_LIMIT}
        )
        runs.append(time.perf_counter() - built)
        builds.append(built - started)
        assert len(state["messages"]) == len(messages)
    return {
        "build_ms": statistics.median(builds[n // 10 :]) * 1000,
        "run_ms": statistics.median(runs[n // 10 :]) * 1000,
    }


def divide(sample: dict[str, Any]) -> dict[str, float]:
    """One conversation's time, divided so that the parts add up to the total."""
    audit = sample["phase_audit"]
    wall = sample["phase_wall"]
    audit_all = sum(audit.values())
    tokens = sample["tokens"] - audit.get("tokens", 0.0)
    http = sample["http"] - audit.get("http", 0.0)
    other = sample["total"] - sample["model"] - tokens - http - audit_all
    consent = wall.get("consent", 0.0) - audit.get("consent", 0.0)
    # The consent page's price (a search); its token request, if any, counts under tokens.
    quote = wall.get("quote", 0.0) - audit.get("quote", 0.0)
    return {
        "total": sample["total"],
        "model": sample["model"],
        "model: openai client + transport": sample["model"] - sample["phase_server"],
        "model: embedded API (parse, answer)": sample["phase_server"] - sample["phase_planner"],
        "model: planner": sample["phase_planner"],
        "tokens": tokens,
        "http": http,
        "audit": audit_all,
        "graph/other": other,
        "other: login + consent": consent,
        "other: price quote": quote,
        "other: DPoP proofs (service calls)": sample["phase_proofs"],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    divided = [divide(s) for s in samples]
    totals = sum(d["total"] for d in divided)
    rows = []
    for name in COMPONENTS:
        values = [d[name] * 1000 for d in divided]
        rows.append(
            {
                "component": name,
                "median_ms": statistics.median(values),
                "p90_ms": _percentile(values, 0.9),
                "mean_ms": statistics.fmean(values),
                "share": sum(d[name] for d in divided) / totals,
            }
        )
    n = len(samples)

    def per_run(key: str, scale: float = 1.0) -> dict[str, float]:
        counted: Counter[str] = Counter()
        for s in samples:
            counted.update(s[key])
        return {k: round(v * scale / n, 3) for k, v in sorted(counted.items())}

    wire = statistics.median([s["phase_wall"].get("tokens", 0.0) * 1000 for s in samples])
    cpu = [s["cpu"] * 1000 for s in samples]
    return {
        "rows": rows,
        "runs": n,
        "median_ms": rows[0]["median_ms"],
        "p90_ms": rows[0]["p90_ms"],
        "ok": rows[0]["median_ms"] < GOALS["median_ms"],
        "per_conversation": {
            "model_calls": statistics.fmean(s["model_calls"] for s in samples),
            "tool_calls": statistics.fmean(s["tool_calls"] for s in samples),
            "token_requests": statistics.fmean(s["phase_calls"].get("tokens", 0) for s in samples),
            "audit_appends_by_phase": per_run("phase_appends"),
            "audit_ms_by_phase": per_run("phase_audit", 1000.0),
        },
        "tokens_wire_median_ms": wire,
        "cpu_median_ms": statistics.median(cpu),
        "cpu_p90_ms": _percentile(cpu, 0.9),
    }


# ---------------------------------------------------------------------------------------------
# Report and main
# ---------------------------------------------------------------------------------------------
def report(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, shutil.get_terminal_size().columns))
    env = results["environment"]
    load1 = (env.get("loadavg_at_start") or [0.0])[0]
    if load1 > 0.5 * (env.get("cpus") or 1):
        console.print(
            f"[yellow]warning:[/] load average {load1:.2f} at start: other processes compete "
            "for the CPUs and the figures will be noisy; rerun on an idle machine."
        )
    s = results["summary"]
    console.print(
        f"[bold]agent-iam-lab agent conversation benchmark[/] "
        f"({'quick' if results['quick'] else 'full'}) — Python {env['python']}, "
        f"{env['cpus']} CPU, loop={env['loop']}, IAM store: {results['store']}"
    )
    table = Table(
        title=f"search → book → pay, {s['runs']} conversations after {results['warmup']} "
        f"warm-up (goal: median < {GOALS['median_ms']:.0f} ms)"
    )
    for col in ("component", "median ms", "p90 ms", "mean ms", "share of total"):
        table.add_column(col, justify="left" if col == "component" else "right")
    for row in s["rows"]:
        sub = ":" in row["component"]
        name = f"  of which {row['component'].split(': ', 1)[1]}" if sub else row["component"]
        table.add_row(
            name,
            f"{row['median_ms']:.2f}",
            f"{row['p90_ms']:.2f}",
            f"{row['mean_ms']:.2f}",
            f"{row['share'] * 100:.1f} %",
        )
    console.print(table)
    verdict = "[green]ok[/]" if s["ok"] else "[red]MISSED[/]"
    console.print(
        f"  median {s['median_ms']:.1f} ms, p90 {s['p90_ms']:.1f} ms — goal < "
        f"{GOALS['median_ms']:.0f} ms: {verdict}; process CPU time per conversation: median "
        f"{s['cpu_median_ms']:.1f} ms, p90 {s['cpu_p90_ms']:.1f} ms (less sensitive to "
        "other load than wall time)"
    )
    per = s["per_conversation"]
    console.print(
        f"  per conversation: {per['model_calls']:.0f} model calls, {per['tool_calls']:.0f} "
        f"tool calls, {per['token_requests']:.1f} token requests (median "
        f"{s['tokens_wire_median_ms']:.2f} ms on the wire), audit appends by phase "
        f"{per['audit_appends_by_phase']}, audit ms by phase {per['audit_ms_by_phase']}."
    )
    console.print(
        "  tokens and http exclude the audit appends made inside them; graph/other = total − "
        "model − tokens − http − audit (langgraph, the consent flow, the consent page's price "
        "quote, DPoP proofs for service calls, transcript bookkeeping)."
    )
    what_if = results.get("what_if_untransformed")
    if what_if:
        rows = {r["component"]: r for r in what_if["rows"]}
        console.print(
            f"  what-if (prototype): the model called with client.post, no SDK param transform: "
            f"median {what_if['median_ms']:.1f} ms, p90 {what_if['p90_ms']:.1f} ms (model "
            f"{rows['model']['median_ms']:.2f} ms, of which openai client + transport "
            f"{rows['model: openai client + transport']['median_ms']:.2f} ms)."
        )
    alone = results["graph_alone"]
    console.print(
        f"  langgraph alone (the same graph, its nodes answering from a recorded conversation: "
        f"no model, no HTTP): build + compile {alone['build_ms']:.2f} ms, run "
        f"{alone['run_ms']:.2f} ms per conversation (medians of 200)."
    )
    if results.get("profile"):
        console.print(
            "[bold]cProfile of the timed conversations[/] (cProfile inflates Python code)"
        )
        console.print(results["profile"], markup=False, highlight=False)


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = args.runs or (30 if args.quick else 100)
    warmup = 5 if args.quick else 10
    results: dict[str, Any] = {
        "quick": args.quick,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "loop": LOOP,
        },
        "goals": GOALS,
        "warmup": warmup,
        "store": "SQLite file (WAL), strong password hashing" if args.file_db else "in memory",
    }
    factory = None
    if LOOP == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="bench-agents-") as tmp:
        folder = Path(tmp) if args.file_db else None
        if folder is not None:
            os.environ["AGENT_IAM_HOME"] = str(folder / ".agent-iam")  # agent keys go here
        with Phases().installed() as phases, asyncio.Runner(loop_factory=factory) as runner:
            taken = runner.run(
                conversations(
                    runs,
                    warmup,
                    phases,
                    file_db=folder,
                    profile=profile,
                    what_if=not args.no_what_if,
                )
            )
            messages = taken.pop("messages")
            results["graph_alone"] = runner.run(graph_alone(messages, 200))
            samples = taken
    results["summary"] = summarise(samples["as is"])
    if "what-if" in samples:
        results["what_if_untransformed"] = summarise(samples["what-if"])
    results["samples"] = {
        variant: [divide(s) | {"model_calls": s["model_calls"]} for s in taken]
        for variant, taken in samples.items()
    }
    if profile is not None:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        results["profile"] = out.getvalue()
    results["all_goals_met"] = results["summary"]["ok"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 timed conversations")
    parser.add_argument("--runs", type=int, default=0, help="timed conversations (default 100)")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--profile", action="store_true", help="cProfile the conversations")
    parser.add_argument("--no-what-if", action="store_true", help="skip the what-if pass")
    parser.add_argument(
        "--file-db", action="store_true", help="the IAM on a SQLite file (WAL), not in memory"
    )
    args = parser.parse_args()
    return bench_iam.run_and_report(args, run, report)


if __name__ == "__main__":
    sys.exit(main())
