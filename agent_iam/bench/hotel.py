"""What the hotel services' guard costs a request, and how fast a revocation stops a token.

* **guard, in-process** — availability's ``GET /hotels/grand-meridian`` with an Agent token
  (the same token every request: a verified-token cache hit; or a new token each request: a
  full verify) against its unguarded twin (the same route body on the same service app
  factory). The ASGI apps are called directly, with scopes built before the clock starts, so
  nothing but the apps is timed; the three variants are interleaved repetition by repetition.
* **guard, over uvicorn** — the same three routes served by one uvicorn worker (what
  ``agent-iam serve`` serves, plus the twin at ``/hotel/plain``); the goal judges server CPU µs
  per request against the twin's, which contention distorts less than requests/s.
* **revocation, in-process** — ``iam.revocations.revoke_jti`` returns, then requests until
  the first denial: none may be accepted after the call returns.
* **revocation, across processes** — ``agent-iam serve --workers 2`` and ``agent-iam serve
  --only availability``; RFC 7009 ``/revoke`` at the IAM without ``Prefer: wait`` (it answers
  before delivery), then requests in a tight loop, all at once, over four keep-alive
  connections to the workers' own availability service and one to the standalone service,
  until every one of them has refused once (RFC 8936 long-poll delivery of the SET, and the
  store for the other worker): p99 of that window.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from agent_iam import token_flows
from agent_iam.bench.apps import AGENT, HOTEL_ID, SCOPE, build_iam_on, mint_tokens, plain_twin
from agent_iam.bench.harness import Figure, Settings, interleaved, percentile, ratio_figure
from agent_iam.bench.load import encode_request, load, new_loop
from agent_iam.bench.servers import ServerProcess, free_port, running

SUITE = "hotel"
GOALS = {"cached_ratio": 1.3, "new_token_ratio": 2.0, "revocation_p99_ms": 100.0}
ISSUER = "http://127.0.0.1:8000"
PATH = f"/hotels/{HOTEL_ID}"
_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


def asgi_scope(token: str | None) -> dict[str, Any]:
    """A fresh HTTP scope as uvicorn builds it (Starlette mutates scopes: one per request)."""
    headers = [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*")]
    if token is not None:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _receive() -> dict[str, Any]:
    return _REQUEST


async def call(app: Any, scopes: list[dict[str, Any]], statuses: Counter[int]) -> float:
    """µs per request of ``app`` over ``scopes``, called one after the other."""

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    start = time.perf_counter_ns()
    for scope in scopes:
        await app(scope, _receive, send)
    return (time.perf_counter_ns() - start) / len(scopes) / 1000


def guard_inprocess(iam: Any, hotel: Any, settings: Settings) -> list[Figure]:
    n, reps = settings.count(400, 200, minimum=2), settings.count(21, 9, minimum=2)
    resource = hotel.urls["availability"]
    guarded = hotel.apps["availability"]
    plain = plain_twin(hotel.world, issuer=iam.issuer, resource=resource)
    cached = mint_tokens(iam, resource, 1)[0][0]
    fresh = iter(raw for raw, _ in mint_tokens(iam, resource, n * (reps + 1)))
    statuses: Counter[int] = Counter()
    loop = new_loop()

    def sample(app: Any, tokens: Any) -> float:
        scopes = [asgi_scope(next(tokens)) for _ in range(n)]  # built before the clock
        return loop.run_until_complete(call(app, scopes, statuses))

    def same() -> Any:
        while True:
            yield cached

    try:
        runs = interleaved(
            {
                "plain": lambda: sample(plain, same()),
                "cached": lambda: sample(guarded, same()),
                "new": lambda: sample(guarded, fresh),
            },
            reps,
        )
    finally:
        loop.close()
    if set(statuses) != {200}:
        raise RuntimeError(f"in-process requests were refused: {dict(statuses)}")
    base = statistics.median(runs["plain"])
    figures = []
    for key, label, goal in (
        ("cached", "guard in-process, cached token", GOALS["cached_ratio"]),
        ("new", "guard in-process, new token each request", GOALS["new_token_ratio"]),
    ):
        ratio = statistics.median(a / b for a, b in zip(runs[key], runs["plain"], strict=True))
        figures.append(
            ratio_figure(
                SUITE,
                label,
                statistics.median(runs[key]),
                base,
                ratio,
                against="unguarded twin",
                goal=goal,
                unit="µs",
            )
        )
    return figures


async def revocation_inprocess(iam: Any, hotel: Any, settings: Settings) -> Figure:
    rounds = settings.count(300, 50, minimum=3)
    resource, app = hotel.urls["availability"], hotel.apps["availability"]
    accepted, denial_ms, revoke_ms = 0, [], []
    statuses: Counter[int] = Counter()
    for _ in range(rounds):
        raw, token = mint_tokens(iam, resource, 1)[0]
        first: Counter[int] = Counter()
        await call(app, [asgi_scope(raw)], first)  # warms the verified-token cache
        if set(first) != {200}:
            raise RuntimeError(f"request before the revocation refused: {dict(first)}")
        start = time.perf_counter_ns()
        iam.revocations.revoke_jti(token.jti, "benchmark")
        returned = time.perf_counter_ns()
        while True:
            answer: Counter[int] = Counter()
            await call(app, [asgi_scope(raw)], answer)
            if 200 not in answer or accepted > 1000:
                break
            accepted += 1
        statuses.update(answer)
        denial_ms.append((time.perf_counter_ns() - returned) / 1e6)
        revoke_ms.append((returned - start) / 1e6)
    return Figure(
        SUITE,
        "revocation in-process (revoke_jti), requests accepted after it returns",
        f"{accepted} in {rounds} rounds; first denial p99 {percentile(denial_ms, 0.99):.2f} ms",
        f"the revoke call itself p50 {statistics.median(revoke_ms):.2f} ms",
        str(accepted),
        "0",
        accepted == 0 and set(statuses) == {401},
        {"accepted": accepted, "rounds": rounds, "first_denial_ms": denial_ms},
    )


def guard_uvicorn(folder: Path, settings: Settings) -> list[Figure]:
    timed, warm = settings.count(8_000, 1_500, minimum=20), settings.count(800, 300)
    stack_dir = folder / "stack"
    stack_dir.mkdir()
    stack = ServerProcess.app("stack", stack_dir, str(timed + warm))
    with running(stack):
        tokens = json.loads((stack_dir / "tokens.json").read_text())
        port = stack.port

        def requests(path: str, bearer: list[str]) -> list[bytes]:
            return [
                encode_request("GET", port, path, [("Authorization", f"Bearer {t}")])
                for t in bearer
            ]

        same = [tokens[0]] * (timed + warm)
        targets = {
            "plain": requests(f"/hotel/plain{PATH}", same),
            "cached": requests(f"/hotel/availability{PATH}", same),
            "new": requests(f"/hotel/availability{PATH}", tokens[1:]),
        }
        results = {
            key: load(key, port, batch[warm:], batch[:warm], server_cpu=stack.cpu_seconds)
            for key, batch in targets.items()
        }
    for result in results.values():
        if result.errors:
            raise RuntimeError(f"{result.target}: {result.errors} {result.error_sample}")
    plain = results["plain"]
    figures = []
    for key, label, goal in (
        ("cached", "guard over uvicorn, cached token (server CPU)", GOALS["cached_ratio"]),
        ("new", "guard over uvicorn, new token (server CPU)", GOALS["new_token_ratio"]),
    ):
        r = results[key]
        figure = ratio_figure(
            SUITE,
            label,
            r.server_cpu_us_per_ok,
            plain.server_cpu_us_per_ok,
            r.server_cpu_us_per_ok / plain.server_cpu_us_per_ok,
            against="unguarded twin",
            goal=goal,
            unit="µs/req",
        )
        figure.result += f" ({r.rps:,.0f} req/s)"
        figure.baseline += f" ({plain.rps:,.0f} req/s)"
        figures.append(figure)
    return figures


def _agent_iam_command() -> list[str]:
    exe = Path(sys.executable).parent / "agent-iam"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "agent_iam"]


WORKERS = 2  # ``serve --workers`` of the cross-process revocation figure
CONNECTIONS = 4  # keep-alive connections to the workers' port: the kernel spreads them


async def _refused_everywhere(
    targets: list[httpx.AsyncClient], headers: dict[str, str], returned: float
) -> tuple[float, int]:
    """Ask every target at once, again and again, until each has refused once; returns the
    ms from ``returned`` to the last first refusal, and the requests accepted meanwhile."""
    pending, accepted, last = list(targets), 0, 0.0
    while pending:
        answers = await asyncio.gather(*(t.get(PATH, headers=headers) for t in pending))
        now = (time.perf_counter() - returned) * 1000
        accepted += sum(a.status_code == 200 for a in answers)
        still = [t for t, a in zip(pending, answers, strict=True) if a.status_code == 200]
        if len(still) < len(pending):
            last = now
        pending = still
        if now > 5000:
            break
    return last, accepted


async def _revoke_rounds(iam_url: str, svc_url: str, rounds: int) -> tuple[list[float], int]:
    from scenarios.deployment import deployment

    denial_ms: list[float] = []
    accepted = 0
    limits = httpx.Limits(max_connections=1)
    targets = [
        httpx.AsyncClient(base_url=f"{iam_url}/hotel/availability", timeout=10.0, limits=limits)
        for _ in range(CONNECTIONS)
    ]
    targets.append(httpx.AsyncClient(base_url=svc_url, timeout=10.0, limits=limits))
    async with deployment(server=iam_url) as dep:
        agent = dep.agent(AGENT)
        try:
            for i in range(rounds + 3):  # the first 3 rounds warm up
                # Each round's token within a task of its own (docs/design.md "Tasks").
                answer = await token_flows.agent_token(dep, AGENT, SCOPE, "availability")
                headers = {"Authorization": f"Bearer {answer['access_token']}"}
                for target in targets:
                    if (await target.get(PATH, headers=headers)).status_code != 200:
                        raise RuntimeError("request before the revocation refused")
                # No ``Prefer: wait``: /revoke answers at once, delivery goes on behind it.
                await dep.oauth.revoke(answer["access_token"], as_agent=agent)
                late_ms, late = await _refused_everywhere(targets, headers, time.perf_counter())
                if i >= 3:
                    denial_ms.append(late_ms)
                    accepted += late
        finally:
            for target in targets:
                await target.aclose()
    return denial_ms, accepted


def revocation_cross_process(folder: Path, settings: Settings) -> Figure:
    rounds = settings.count(200, 30, minimum=3)
    work = folder / "serve"
    work.mkdir()
    state = work / ".agent-iam"
    env = {"AGENT_IAM_HOME": str(state)}
    iam_port, svc_port = free_port(), free_port()
    iam_url = f"http://127.0.0.1:{iam_port}"
    command = [*_agent_iam_command(), "serve"]
    iam = ServerProcess(
        "iam-serve",
        [*command, "--port", str(iam_port), "--workers", str(WORKERS)],
        iam_port,
        work,
        env=env,
    )
    svc = ServerProcess(
        "availability-serve",
        [*command, "--only", "availability", "--issuer", iam_url, "--port", str(svc_port)],
        svc_port,
        work,
        ready_path="/.well-known/oauth-protected-resource",
        env=env,
    )
    before = os.environ.get("AGENT_IAM_HOME")
    os.environ["AGENT_IAM_HOME"] = str(state)  # this side signs with the keys the IAM registered
    try:
        with running(iam), running(svc):
            denial_ms, accepted = asyncio.run(_revoke_rounds(iam_url, svc.url, rounds))
    finally:
        if before is None:
            os.environ.pop("AGENT_IAM_HOME", None)
        else:
            os.environ["AGENT_IAM_HOME"] = before
    p99, goal = percentile(denial_ms, 0.99), GOALS["revocation_p99_ms"]
    return Figure(
        SUITE,
        f"revocation across processes, no delivery wait (serve --workers {WORKERS} + serve "
        "--only availability; /revoke → refused at every target)",
        f"p50 {percentile(denial_ms, 0.5):.1f} ms, p99 {p99:.1f} ms over {rounds} rounds "
        "(to the answer of each target's first refusal, its round trip included)",
        f"{accepted} requests accepted after /revoke returned ({CONNECTIONS} connections to the "
        "workers + the standalone service, polled together)",
        f"{p99:.1f} ms",
        f"≤ {goal:g} ms",
        p99 <= goal,
        {"last_first_denial_ms": denial_ms, "accepted": accepted, "goal_ms": goal},
    )


def run(settings: Settings) -> list[Figure]:
    from scenarios.deployment import build_stack

    with tempfile.TemporaryDirectory(prefix="bench-hotel-") as tmp:
        folder = Path(tmp)
        local = folder / "local"
        local.mkdir()
        iam = build_iam_on(local, ISSUER)
        _app, hotel, inner = build_stack(iam)
        try:
            figures = guard_inprocess(iam, hotel, settings)
            figures.append(asyncio.run(revocation_inprocess(iam, hotel, settings)))
        finally:
            asyncio.run(inner.aclose())
            iam.store.close()
        figures += guard_uvicorn(folder, settings)
        figures.append(revocation_cross_process(folder, settings))
    return figures
