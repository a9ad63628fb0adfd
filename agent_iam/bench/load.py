"""The load generator: keep-alive connections, one request in flight on each.

httpx tops out near 1,000 requests/s in one process, below what the token endpoint is meant to
serve, so the generator writes requests encoded beforehand (with h11, before the clock starts)
on ``asyncio.Protocol`` connections of a uvloop loop and parses the answers with httptools (the
parser uvicorn uses). Against the trivial ASGI app it reaches many times the IAM's rate, which
each suite prints as the client's ceiling.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import h11
import httptools

from agent_iam.bench.harness import percentile


def encode_request(
    method: str, port: int, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
) -> bytes:
    """One complete HTTP/1.1 request, as bytes."""
    conn = h11.Connection(h11.CLIENT)
    fields = [("Host", f"127.0.0.1:{port}"), *headers]
    if body or method == "POST":
        fields.append(("Content-Length", str(len(body))))
    out = conn.send(h11.Request(method=method, target=target, headers=fields)) or b""
    if body:
        out += conn.send(h11.Data(data=body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


@dataclass
class LoadResult:
    target: str
    ok: int
    errors: dict[str, int]
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_ok: float
    error_sample: str = ""


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: Any = None  # uvloop's transports do not subclass asyncio.Transport
        self.parser = httptools.HttpResponseParser(self)
        self.body = bytearray()
        self.sent_at = 0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send_next(self) -> None:
        request = self.run.pending.popleft() if self.run.pending else None
        if request is None:
            self.busy = False
            self.transport.close()
            return
        self.busy = True
        self.sent_at = time.perf_counter_ns()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.run.fail(f"bad response: {exc}")
            self.transport.abort()

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.run.done(status, bytes(self.body), time.perf_counter_ns() - self.sent_at)
        self.body.clear()
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.busy = False
            self.run.fail(f"connection lost: {exc!r}")
        self.run.closed()


class _Run:
    def __init__(self, requests: Sequence[bytes]) -> None:
        self.pending = deque(requests)
        self.total = len(requests)
        self.finished = 0
        self.latencies: list[int] = []
        self.statuses: Counter[str] = Counter()
        self.error_sample = ""
        self.open = 0
        self.complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def done(self, status: int, body: bytes, nanos: int) -> None:
        self.latencies.append(nanos)
        if status == 200:
            self.statuses["ok"] += 1
        else:
            self.statuses[f"HTTP {status}"] += 1
            self.error_sample = self.error_sample or f"HTTP {status}: {body[:300]!r}"
        self._count()

    def fail(self, reason: str) -> None:
        self.statuses[reason.split(":")[0]] += 1
        self.error_sample = self.error_sample or reason
        self._count()

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.complete.done():
            self.statuses["not sent"] += len(self.pending)
            self.complete.set_result(None)

    def _count(self) -> None:
        self.finished += 1
        if self.finished >= self.total and not self.complete.done():
            self.complete.set_result(None)


async def _drive(port: int, requests: Sequence[bytes], connections: int) -> tuple[_Run, float]:
    loop = asyncio.get_running_loop()
    run = _Run(requests)
    conns: list[_Connection] = []
    for _ in range(min(connections, len(requests))):
        _, proto = await loop.create_connection(lambda: _Connection(run), "127.0.0.1", port)
        conns.append(proto)
        run.open += 1
    start = time.perf_counter_ns()
    for conn in conns:
        conn.send_next()
    try:
        await asyncio.wait_for(asyncio.shield(run.complete), 300.0)
    except TimeoutError:
        run.statuses["timeout"] += run.total - run.finished
    elapsed = (time.perf_counter_ns() - start) / 1e9
    for conn in conns:
        if not conn.transport.is_closing():
            conn.transport.close()
    await asyncio.sleep(0)
    return run, elapsed


def new_loop() -> asyncio.AbstractEventLoop:
    if importlib.util.find_spec("uvloop"):
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def load(
    target: str,
    port: int,
    requests: Sequence[bytes],
    warmup: Sequence[bytes],
    *,
    connections: int = 32,
    server_cpu: Callable[[], float] = lambda: float("nan"),
) -> LoadResult:
    """Send ``warmup``, then time ``requests`` (and the server's CPU time over that window)."""

    async def main() -> tuple[_Run, float, float]:
        if warmup:
            await _drive(port, warmup, connections)
        cpu = server_cpu()
        run, elapsed = await _drive(port, requests, connections)
        return run, elapsed, server_cpu() - cpu

    with asyncio.Runner(loop_factory=new_loop) as runner:
        run, elapsed, cpu = runner.run(main())
    ok = run.statuses.pop("ok", 0)
    latencies = [n / 1e6 for n in run.latencies]
    return LoadResult(
        target=target,
        ok=ok,
        errors=dict(run.statuses),
        seconds=elapsed,
        rps=ok / elapsed if elapsed else 0.0,
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
        server_cpu_us_per_ok=cpu / ok * 1e6 if ok else float("nan"),
        error_sample=run.error_sample,
    )
