#!/usr/bin/env python
"""Benchmarks of the IAM core: token mint, token verify and the /token endpoint over a socket.

Run from the repository root::

    python benchmarks/bench_iam.py            # full run (~1 min)
    python benchmarks/bench_iam.py --quick    # smoke run (< 60 s)
    python benchmarks/bench_iam.py --json out.json
    python benchmarks/bench_iam.py --profile  # also: where a /token request spends its time

1. ``iam.minter.mint`` (Agent token) against a raw ES256 JWS sign with ``cryptography``:
   JSON-encode the same header and claims, base64url, ECDSA-SHA256, DER -> raw r||s, join.
2. ``iam.verifier.verify`` against a raw ES256 verify of the same token: split, base64url
   decode the signature, raw r||s -> DER, ECDSA-SHA256 verify (signature only, no claims).
3. ``POST /token`` (client_credentials + private_key_jwt) served by uvicorn in a subprocess
   (one worker, file database in WAL mode, audit entry per request), driven by a raw asyncio
   socket client over keep-alive connections; the same client against a trivial ASGI app and
   a trivial FastAPI route gives the load generator's ceiling and the framework's floor.

The server side runs this same file: ``bench_iam.py --serve DIR PORT --app iam|asgi|fastapi``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import importlib.util
import json
import os
import platform
import pstats
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# Module level: FastAPI resolves the routes' (postponed) annotations in these globals.
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AGENT = "booking-assistant"
SCOPE = "availability:read"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HYDRA_REFERENCE = "Ory Hydra publishes ~410 tokens/s (client_credentials) on 2 vCPU"
GOALS = {"mint_ratio": 1.5, "verify_ratio": 2.0, "tokens_per_s": 1500.0}

LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
HTTP = "httptools" if importlib.util.find_spec("httptools") else "h11"


# ---------------------------------------------------------------------------------------------
# 1 and 2: in-process micro-benchmarks
# ---------------------------------------------------------------------------------------------
def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def b64url_decode(data: str | bytes) -> bytes:
    if isinstance(data, str):
        data = data.encode("ascii")
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def bench(fn: Callable[[], object], *, n: int, reps: int, warmup: int) -> list[float]:
    """µs/op of ``fn`` for each of ``reps`` loops of ``n`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        out.append((time.perf_counter_ns() - start) / n / 1000)
    return out


def paired(
    a: Callable[[], object], b: Callable[[], object], *, n: int, reps: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Both sides, repetitions interleaved (a, b, a, b, ...) so drift hits both alike."""
    bench(a, n=warmup, reps=1, warmup=0)
    bench(b, n=warmup, reps=1, warmup=0)
    ra: list[float] = []
    rb: list[float] = []
    for _ in range(reps):
        ra += bench(a, n=n, reps=1, warmup=0)
        rb += bench(b, n=n, reps=1, warmup=0)
    return ra, rb


@dataclass
class MicroResult:
    name: str
    iam_us: float
    raw_us: float
    ratio: float
    goal: float
    iam_runs_us: list[float]
    raw_runs_us: list[float]
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.ratio <= self.goal


def micro_benchmarks(quick: bool) -> tuple[list[MicroResult], dict[str, float]]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
        encode_dss_signature,
    )

    from agents.keystore import AgentKeyStore
    from iam_core.tokens import TokenType
    from scenarios.deployment import build_iam

    n, reps, warmup = (1000, 5, 300) if quick else (3000, 9, 1000)
    iam = build_iam(None, issuer="http://127.0.0.1:8000", keystore=AgentKeyStore(None))
    audience = f"{iam.issuer}/hotel/availability"
    scopes = frozenset({SCOPE})
    signer = iam.keys._current()  # the IAM's own signing key, so raw tokens verify at the IAM
    private: ec.EllipticCurvePrivateKey = signer.private  # type: ignore[assignment]
    public = private.public_key()
    ecdsa = ec.ECDSA(hashes.SHA256())

    def mint() -> str:
        return iam.minter.mint(
            TokenType.AGENT, sub=AGENT, client_id=AGENT, audience=audience, scopes=scopes
        )[0]

    _, sample = iam.minter.mint(
        TokenType.AGENT, sub=AGENT, client_id=AGENT, audience=audience, scopes=scopes
    )
    claims = dict(sample.claims)
    header = {"alg": "ES256", "kid": signer.kid, "typ": "at+jwt"}

    def raw_sign() -> bytes:
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + b"."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        r, s = decode_dss_signature(private.sign(signing_input, ecdsa))
        return signing_input + b"." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    raw_token = raw_sign().decode()
    iam.verifier.verify(raw_token, audience=audience)  # the baseline's JWS is a valid token
    signing_input_only = raw_token.rsplit(".", 1)[0].encode()

    def sign_only() -> bytes:
        return private.sign(signing_input_only, ecdsa)

    token = mint()

    def verify() -> object:
        return iam.verifier.verify(token, audience=audience)

    def raw_verify() -> None:
        signing_input, _, signature = token.rpartition(".")
        sig = b64url_decode(signature)
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            public.verify(der, signing_input.encode("ascii"), ecdsa)
        except InvalidSignature as exc:  # pragma: no cover -- the token is ours
            raise SystemExit("raw verify failed on a token the IAM minted") from exc

    mint_runs, raw_sign_runs = paired(mint, raw_sign, n=n, reps=reps, warmup=warmup)
    verify_runs, raw_verify_runs = paired(verify, raw_verify, n=n, reps=reps, warmup=warmup)
    extra = {
        "ecdsa_sign_only_us": statistics.median(bench(sign_only, n=n, reps=reps, warmup=warmup)),
    }
    results = []
    for name, goal, runs_iam, runs_raw, note in (
        (
            "token mint (Agent token)",
            GOALS["mint_ratio"],
            mint_runs,
            raw_sign_runs,
            "raw = json+b64url+ECDSA sign+DER->raw",
        ),
        (
            "token verify",
            GOALS["verify_ratio"],
            verify_runs,
            raw_verify_runs,
            "raw = split+b64url+raw->DER+ECDSA verify",
        ),
    ):
        a, b = statistics.median(runs_iam), statistics.median(runs_raw)
        results.append(MicroResult(name, a, b, a / b, goal, runs_iam, runs_raw, note))
    return results, extra


# ---------------------------------------------------------------------------------------------
# 3: the server side (run in a subprocess of this same file)
# ---------------------------------------------------------------------------------------------
TRIVIAL_BODY = b'{"ok":true}'


async def trivial_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The cheapest useful ASGI app: read the body, answer a fixed small JSON."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(TRIVIAL_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TRIVIAL_BODY})


def fastapi_floor_app() -> Any:
    """A FastAPI route shaped like /token (HTTP middleware, form parsing, JSONResponse)."""
    from iam_core.server import NO_STORE, read_form

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        return response

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = await read_form(request)
        return JSONResponse({"ok": True, "n": len(form)}, headers=NO_STORE)

    @app.get("/.well-known/oauth-authorization-server")
    async def ready() -> dict[str, bool]:
        return {"ok": True}

    return app


def _exit_with_parent() -> None:
    """Stop the server if the benchmark process dies without terminating us."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def serve(folder: Path, port: int, app_kind: str, profile_to: Path | None) -> None:
    import uvicorn

    _exit_with_parent()
    if app_kind == "asgi":
        app: Any = trivial_asgi
    elif app_kind == "fastapi":
        app = fastapi_floor_app()
    else:
        from agents.keystore import AgentKeyStore
        from iam_core.server import create_app
        from scenarios.deployment import build_iam

        iam = build_iam(
            folder / "iam.db",
            issuer=f"http://127.0.0.1:{port}",
            keystore=AgentKeyStore(folder / "agent-keys"),
        )
        app = create_app(iam)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop=LOOP,
        http=HTTP,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    profiler = cProfile.Profile() if profile_to else None
    if profiler:
        # Profile only while the load runs: SIGUSR1 starts, SIGUSR2 stops and writes.
        def start(*_: object) -> None:
            profiler.enable()

        def stop(*_: object) -> None:
            profiler.disable()
            assert profile_to is not None
            profiler.dump_stats(str(profile_to))

        signal.signal(signal.SIGUSR1, start)
        signal.signal(signal.SIGUSR2, stop)
    server.run()


# ---------------------------------------------------------------------------------------------
# 3: the load generator (raw asyncio sockets, keep-alive, one request in flight per connection)
# ---------------------------------------------------------------------------------------------
@dataclass
class LoadResult:
    target: str
    requests: int
    connections: int
    seconds: float
    ok: int
    errors: dict[str, int]
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    error_samples: list[str] = field(default_factory=list)
    sample_body: str = ""


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: Any = None  # uvloop's transports do not subclass asyncio.Transport
        self.buffer = bytearray()
        self.need = -1
        self.header_end = -1
        self.sent_at = 0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_next(self) -> None:
        request = self.run.take()
        if request is None:
            self.busy = False
            assert self.transport is not None
            self.transport.close()
            return
        self.busy = True
        self.sent_at = time.perf_counter_ns()
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    self.run.fail(self, "response without Content-Length")
                    return
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
                self.header_end = end + 4
                self.need = end + 4 + length
            if len(buf) < self.need:
                return
            status = int(buf[9:12])
            body = bytes(buf[self.header_end : self.need])
            del buf[: self.need]
            self.need = -1
            self.run.done(self, status, body, time.perf_counter_ns() - self.sent_at)
            if not buf:
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.busy = False
            self.run.fail(self, f"connection lost: {exc!r}")
        self.run.closed(self)


class _Run:
    def __init__(self, requests: list[bytes], expect: int = 200) -> None:
        self.pending = deque(requests)
        self.total = len(requests)
        self.finished = 0
        self.latencies: list[int] = []
        self.statuses: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self.sample_body = b""
        self.expect = expect
        self.open = 0
        self.complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def take(self) -> bytes | None:
        return self.pending.popleft() if self.pending else None

    def done(self, conn: _Connection, status: int, body: bytes, nanos: int) -> None:
        self.latencies.append(nanos)
        self.finished += 1
        if status == self.expect:
            self.statuses["ok"] += 1
            if not self.sample_body:
                self.sample_body = body
        else:
            self.statuses[f"HTTP {status}"] += 1
            if len(self.error_samples) < 3:
                self.error_samples.append(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        conn.send_next()
        self._check()

    def fail(self, conn: _Connection, reason: str) -> None:
        self.finished += 1
        self.statuses[reason.split(":")[0]] += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(reason)
        if conn.transport is not None:
            conn.transport.abort()
        self._check()

    def closed(self, conn: _Connection) -> None:
        self.open -= 1
        if self.open == 0 and not self.complete.done():
            # Every connection is gone: whatever was never sent is an error too.
            unsent = len(self.pending)
            if unsent:
                self.statuses["not sent (all connections closed)"] += unsent
                self.finished += unsent
                self.pending.clear()
            self.complete.set_result(None)

    def _check(self) -> None:
        if self.finished >= self.total and not self.complete.done():
            self.complete.set_result(None)


async def _drive(
    port: int, requests: list[bytes], connections: int, timeout: float
) -> tuple[_Run, float]:
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
        await asyncio.wait_for(asyncio.shield(run.complete), timeout)
    except TimeoutError:
        run.statuses["timeout"] += run.total - run.finished
    elapsed = (time.perf_counter_ns() - start) / 1e9
    for conn in conns:
        if conn.transport is not None and not conn.transport.is_closing():
            conn.transport.close()
    await asyncio.sleep(0)
    return run, elapsed


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index] / 1e6


def load(
    target: str,
    port: int,
    requests: list[bytes],
    warmup: list[bytes],
    connections: int,
    on_timed: tuple[Callable[[], None], Callable[[], None]] | None = None,
) -> LoadResult:
    """Warm up, then send ``requests`` and measure; ``on_timed`` wraps the timed window."""

    async def main() -> tuple[_Run, float]:
        if warmup:
            await _drive(port, warmup, connections, 120.0)
        if on_timed:
            on_timed[0]()
        try:
            return await _drive(port, requests, connections, 300.0)
        finally:
            if on_timed:
                on_timed[1]()

    factory = None
    if LOOP == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        run, elapsed = runner.run(main())
    lat = sorted(run.latencies)
    ok = run.statuses.pop("ok", 0)
    return LoadResult(
        target=target,
        requests=len(requests),
        connections=connections,
        seconds=elapsed,
        ok=ok,
        errors=dict(run.statuses),
        rps=ok / elapsed if elapsed else 0.0,
        p50_ms=_percentile(lat, 0.50),
        p90_ms=_percentile(lat, 0.90),
        p99_ms=_percentile(lat, 0.99),
        max_ms=lat[-1] / 1e6 if lat else float("nan"),
        error_samples=run.error_samples,
        sample_body=run.sample_body[:400].decode(errors="replace"),
    )


def http_request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def token_requests(folder: Path, port: int, count: int) -> list[bytes]:
    """``count`` complete POST /token requests, each with a fresh client assertion."""
    from agents.keystore import AgentKeyStore
    from agents.oauth import AgentCredentials, OAuthClient

    issuer = f"http://127.0.0.1:{port}"
    keystore = AgentKeyStore(folder / "agent-keys")
    agent = AgentCredentials(AGENT, keystore.private_key(AGENT), keystore.kid(AGENT))
    oauth = OAuthClient(None, issuer)  # type: ignore[arg-type] -- only builds assertions
    resource = f"{issuer}/hotel/availability"
    out = []
    for _ in range(count):
        form = {
            "grant_type": "client_credentials",
            "scope": SCOPE,
            "resource": resource,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": oauth.client_assertion(agent, lifetime=240),
        }
        out.append(http_request(port, urlencode(form).encode()))
    return out


# ---------------------------------------------------------------------------------------------
# Server processes
# ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``bench_iam.py --serve`` in a subprocess; always terminated by :meth:`stop`."""

    def __init__(self, kind: str, folder: Path, *, profile_to: Path | None = None) -> None:
        self.kind = kind
        self.folder = folder
        self.port = free_port()
        self.log = folder / f"server-{kind}.log"
        self.profile_to = profile_to
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            str(self.folder),
            str(self.port),
            "--app",
            self.kind,
        ]
        if self.profile_to:
            cmd += ["--profile-to", str(self.profile_to)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    def wait_ready(self, timeout: float = 45.0) -> None:
        url = f"http://127.0.0.1:{self.port}/.well-known/oauth-authorization-server"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.kind} server not ready in {timeout:.0f} s")

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def servers(*items: Server) -> Iterator[tuple[Server, ...]]:
    try:
        for item in items:
            item.start()
        yield items
    finally:
        for item in items:
            item.stop()


# ---------------------------------------------------------------------------------------------
# wrk (optional second opinion, only if already installed)
# ---------------------------------------------------------------------------------------------
WRK_LUA = """
local bodies = {}
local i = 0
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  i = i + 1
  return wrk.format(nil, "/token", nil, bodies[((i - 1) % #bodies) + 1])
end
"""


def run_wrk(port: int, bodies: list[bytes], connections: int, seconds: int, folder: Path) -> str:
    """wrk -t1 over pre-built bodies (one Lua state, so no assertion is sent twice)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return ""
    (folder / "bodies.txt").write_bytes(b"\n".join(bodies) + b"\n")
    (folder / "bench.lua").write_text(WRK_LUA)
    proc = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(folder / "bench.lua"),
            f"http://127.0.0.1:{port}/token",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_BODIES": str(folder / "bodies.txt")},
        timeout=seconds + 30,
        check=False,
    )
    return proc.stdout + proc.stderr


def token_bodies(requests: list[bytes]) -> list[bytes]:
    return [r.split(b"\r\n\r\n", 1)[1] for r in requests]


# ---------------------------------------------------------------------------------------------
# Profile: where a /token request spends its time
# ---------------------------------------------------------------------------------------------
def component_breakdown(folder: Path, count: int) -> dict[str, float]:
    """µs per /token request for each step, in-process on a file database (no profiler)."""
    from urllib.parse import parse_qsl

    from agents.keystore import AgentKeyStore
    from iam_core.audit import AuditEvent
    from iam_core.authorization import AuthorizationFlow
    from iam_core.client_auth import ClientAuthenticator
    from iam_core.grants import TokenEndpoint
    from iam_core.registry import GRANT_CLIENT_CREDENTIALS
    from iam_core.tokens import TokenType
    from scenarios.deployment import build_iam

    port = 1  # any issuer will do in-process; the assertions are built for it
    sub = folder / "inproc"
    sub.mkdir(exist_ok=True)
    shutil.copytree(folder / "agent-keys", sub / "agent-keys", dirs_exist_ok=True)
    issuer = f"http://127.0.0.1:{port}"
    iam = build_iam(sub / "iam.db", issuer=issuer, keystore=AgentKeyStore(sub / "agent-keys"))
    clients = ClientAuthenticator(iam, f"{issuer}/token")
    endpoint = TokenEndpoint(iam, AuthorizationFlow(iam), clients)
    bodies = token_bodies(token_requests(sub, port, 5 * count))
    forms = [dict(parse_qsl(b.decode())) for b in bodies]
    chunks = [forms[i * count : (i + 1) * count] for i in range(5)]

    def per_op(fn: Callable[[dict[str, str]], object], batch: list[dict[str, str]]) -> float:
        start = time.perf_counter_ns()
        for form in batch:
            fn(form)
        return (time.perf_counter_ns() - start) / len(batch) / 1000

    out: dict[str, float] = {}
    per_op(lambda f: endpoint.handle(f, None), forms[:200])  # warm-up (sqlite, caches)
    out["form parse (parse_qsl)"] = per_op(lambda f: parse_qsl(urlencode(f)), chunks[0])
    out["TokenEndpoint.handle, total"] = per_op(lambda f: endpoint.handle(f, None), chunks[1])
    out["client auth, total"] = per_op(lambda f: clients.authenticate(f, None), chunks[2])

    def verify_only(form: dict[str, str]) -> object:
        import jwt

        assertion = form["client_assertion"]
        jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
        _client, keys = clients._keyed_client(AGENT)
        return clients._verify_assertion(assertion, header, keys, AGENT)

    out["  assertion decode + ES256 verify"] = per_op(verify_only, chunks[3])
    out["  assertion jti accept-once (DB txn)"] = (
        out["client auth, total"] - out["  assertion decode + ES256 verify"]
    )
    resource = iam.resources["availability"]
    scopes = frozenset({SCOPE})

    def mint(_: dict[str, str]) -> object:
        return endpoint._mint(TokenType.AGENT, AGENT, AGENT, resource, scopes, scopes)

    out["mint (claims + ES256 sign)"] = per_op(mint, chunks[4])
    issued = [
        endpoint._mint(TokenType.AGENT, AGENT, AGENT, resource, scopes, scopes)
        for _ in range(count)
    ]
    it = iter(issued)
    out["issue record + audit (1 DB txn)"] = per_op(
        lambda _: endpoint._respond(GRANT_CLIENT_CREDENTIALS, next(it)), forms[:count]
    )
    it2 = iter(issued)

    def audit_only(_: dict[str, str]) -> object:
        token = next(it2).claims
        return iam.record(
            AuditEvent(
                event="token.issued",
                outcome="allowed",
                reason="agent token issued",
                sub=token.sub,
                client_id=token.client_id,
                token_type="agent",
                jti=token.jti,
                scope=SCOPE,
                object_id=token.audience,
                details={"grant_type": GRANT_CLIENT_CREDENTIALS, "scope_requested": SCOPE},
            )
        )

    out["  of which audit append alone"] = per_op(audit_only, forms[:count])

    def empty_txn(_: dict[str, str]) -> None:
        with iam.store.transaction():
            pass

    out["  empty BEGIN IMMEDIATE/COMMIT"] = per_op(empty_txn, forms[:count])
    iam.store.close()
    return out


def profile_summary(stats_file: Path, requests: int) -> tuple[dict[str, float], str]:
    """Cumulative µs per request of the main steps, and the top functions by own time."""
    stats = pstats.Stats(str(stats_file))
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    wanted = {
        "token endpoint: handle": ("grants.py", "handle"),
        "  client auth (authenticate)": ("client_auth.py", "authenticate"),
        "    assertion verify (_verify_assertion)": ("client_auth.py", "_verify_assertion"),
        "    jti accept-once (_accept_once)": ("client_auth.py", "_accept_once"),
        "  mint (TokenMinter.mint)": ("tokens.py", "mint"),
        "  issue record + audit (_respond)": ("grants.py", "_respond"),
        "    audit append (AuditLog.append)": ("audit.py", "append"),
        "    issued_tokens insert (record_issued)": ("revocation.py", "record_issued"),
        "read_form": ("server.py", "read_form"),
        "trace middleware (incl. the route)": ("server.py", "trace_context"),
        "uvicorn httptools protocol: data_received": ("httptools_impl.py", "data_received"),
        "uvicorn run_asgi (whole request in ASGI)": ("httptools_impl.py", "run_asgi"),
    }
    out: dict[str, float] = {}
    for label, (filename, func) in wanted.items():
        total = 0.0
        for (path, _line, name), (_cc, _nc, _tt, ct, _callers) in raw.items():
            if name == func and path.endswith(filename):
                total += ct
        out[label] = total / requests * 1e6
    total_time = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    out["profiled CPU total (all functions)"] = total_time / requests * 1e6
    lines = []
    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:22]
    for (path, line, name), (_cc, nc, tt, ct, _callers) in top:
        where = f"{Path(path).name}:{line}({name})" if line else name
        lines.append(
            f"  {tt / requests * 1e6:7.1f} µs own {ct / requests * 1e6:7.1f} µs cum "
            f"{nc / requests:5.1f} calls/req  {where}"
        )
    return out, "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def audit_entries(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(str(db))) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_entries WHERE event = 'token.issued'"
        ).fetchone()
        return int(row[0])


def report(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(110, shutil.get_terminal_size().columns))
    env = results["environment"]
    console.print(
        f"[bold]agent-iam-lab benchmarks[/] ({'quick' if results['quick'] else 'full'}) — "
        f"Python {env['python']}, {env['cpus']} CPU, uvicorn loop={env['loop']} "
        f"http={env['http']}"
    )
    micro = Table(title="In-process: µs/op, median of repetitions (lower is better)")
    for col in ("operation", "IAM", "raw ES256", "ratio", "goal", ""):
        micro.add_column(col, justify="right" if col not in ("operation", "") else "left")
    for m in results["micro"]:
        micro.add_row(
            m["name"],
            f"{m['iam_us']:.1f}",
            f"{m['raw_us']:.1f}",
            f"{m['ratio']:.2f}×",
            f"≤ {m['goal']}×",
            "[green]ok[/]" if m["ratio"] <= m["goal"] else "[red]MISSED[/]",
        )
    console.print(micro)
    console.print(
        "  raw sign = json+b64url+ECDSA-P256-SHA256 sign+DER→raw r||s; "
        f"the bare ECDSA sign alone is {results['micro_extra']['ecdsa_sign_only_us']:.1f} µs.\n"
        "  raw verify = split+b64url decode+raw→DER+ECDSA verify (signature only, no claims)."
    )
    load_table = Table(
        title="POST /token over 127.0.0.1 — load generator: raw asyncio socket client "
        f"({results['load_config']['connections']} keep-alive connections, 1 request in "
        "flight each)"
    )
    for col in ("target", "requests", "ok", "errors", "req/s", "p50 ms", "p99 ms", "max ms"):
        load_table.add_column(col, justify="left" if col == "target" else "right")
    for r in results["load"]:
        errors = sum(r["errors"].values())
        load_table.add_row(
            r["target"],
            str(r["requests"]),
            str(r["ok"]),
            f"[red]{errors}[/]" if errors else "0",
            f"{r['rps']:,.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['max_ms']:.2f}",
        )
    console.print(load_table)
    iam_load = results["load"][0]
    ceiling = results["load"][1]["rps"] if len(results["load"]) > 1 else float("nan")
    goal = GOALS["tokens_per_s"]
    verdict = "[green]ok[/]" if iam_load["rps"] >= goal else "[red]MISSED[/]"
    console.print(
        f"  tokens/s {iam_load['rps']:,.0f} (goal ≥ {goal:,.0f} on one worker: {verdict}); "
        f"load generator ceiling {ceiling:,.0f} req/s = {ceiling / iam_load['rps']:.1f}× the "
        f"IAM's rate, so the client is {'not ' if ceiling > 3 * iam_load['rps'] else ''}"
        "the bottleneck.\n"
        f"  audit entries 'token.issued' written during the run: {results['audit_entries']} "
        f"(every 200 is audited).\n  For context: {HYDRA_REFERENCE} (different hardware)."
    )
    for r in results["load"]:
        for sample in r["error_samples"]:
            console.print(f"  [red]{r['target']} error:[/] {sample}")
    if results.get("wrk"):
        console.print("[bold]wrk (second opinion)[/]\n" + results["wrk"])
    prof = results.get("profile")
    if prof:
        table = Table(title="Where a /token request's time goes (µs per request)")
        table.add_column("step")
        table.add_column("µs", justify="right")
        for k, v in prof["components_inprocess_us"].items():
            table.add_row(k, f"{v:.1f}")
        console.print(table)
        table = Table(title="cProfile of the server under load (cumulative µs per request)")
        table.add_column("function")
        table.add_column("µs", justify="right")
        for k, v in prof["cprofile_cumulative_us"].items():
            table.add_row(k, f"{v:.1f}")
        console.print(table)
        console.print("Top functions by own time (cProfile; overhead inflates Python code):")
        console.print(prof["cprofile_top"], markup=False, highlight=False)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    quick: bool = args.quick
    n_requests = args.requests or (2000 if quick else 10000)
    n_warmup = 300 if quick else 1000
    connections = args.connections
    results: dict[str, Any] = {
        "quick": quick,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loop": LOOP,
            "http": HTTP,
        },
        "goals": GOALS,
    }
    micro, extra = micro_benchmarks(quick)
    results["micro"] = [{**asdict(m), "ok": m.ok} for m in micro]
    results["micro_extra"] = extra

    with tempfile.TemporaryDirectory(prefix="bench-iam-") as tmp:
        folder = Path(tmp)
        from agents.keystore import AgentKeyStore
        from iam_core.seed import DEMO_AGENTS

        keystore = AgentKeyStore(folder / "agent-keys")
        for spec in DEMO_AGENTS:  # the server's IAM registers these very keys
            keystore.private_key(spec.id)
        profile_to = folder / "server.prof" if args.profile else None
        iam = Server("iam", folder, profile_to=profile_to)
        asgi = Server("asgi", folder)
        fastapi = Server("fastapi", folder)
        with servers(iam, asgi, fastapi):
            all_requests = token_requests(folder, iam.port, n_warmup + n_requests)
            warmup, timed = all_requests[:n_warmup], all_requests[n_warmup:]
            for server in (iam, asgi, fastapi):
                server.wait_ready()
            hooks = None
            if profile_to:
                hooks = (
                    lambda: iam.signal(signal.SIGUSR1),
                    lambda: iam.signal(signal.SIGUSR2),
                )
            loads = [load("IAM POST /token", iam.port, timed, warmup, connections)]
            # the same pre-built bytes; the trivial apps ignore Host and the assertions
            loads.append(
                load("trivial ASGI app (client ceiling)", asgi.port, timed, warmup, connections)
            )
            loads.append(
                load(
                    "trivial FastAPI /token (framework floor)",
                    fastapi.port,
                    timed,
                    warmup,
                    connections,
                )
            )
            if profile_to:
                extra_requests = token_requests(folder, iam.port, n_requests)
                load("IAM /token under cProfile", iam.port, extra_requests, [], connections, hooks)
                time.sleep(0.5)
            wrk_seconds = 3 if quick else 5
            if shutil.which("wrk"):
                wrk_bodies = token_bodies(token_requests(folder, iam.port, 4000 * wrk_seconds))
                results["wrk"] = run_wrk(iam.port, wrk_bodies, connections, wrk_seconds, folder)
            else:
                results["wrk"] = ""
        results["audit_entries"] = audit_entries(folder / "iam.db")
        results["load"] = [asdict(r) for r in loads]
        results["load_config"] = {
            "client": "raw asyncio socket client (asyncio.Protocol, pre-encoded HTTP/1.1 requests)",
            "client_loop": LOOP,
            "connections": connections,
            "warmup_requests": n_warmup,
            "timed_requests": n_requests,
            "request": "POST /token grant_type=client_credentials scope=availability:read "
            "resource=<issuer>/hotel/availability, private_key_jwt (fresh assertion per request)",
            "server": f"uvicorn, 1 worker, --loop {LOOP} --http {HTTP}, log level warning, "
            "file SQLite database (WAL)",
        }
        results["reference"] = HYDRA_REFERENCE
        if args.profile:
            assert profile_to is not None
            deadline = time.monotonic() + 10
            while not profile_to.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            cumulative, top = profile_summary(profile_to, n_requests)
            results["profile"] = {
                "components_inprocess_us": component_breakdown(folder, 1000 if quick else 2000),
                "cprofile_cumulative_us": cumulative,
                "cprofile_top": top,
                "server_us_per_request_at_measured_rate": 1e6 / max(loads[0].rps, 1e-9),
                "fastapi_floor_us_per_request": 1e6 / max(loads[2].rps, 1e-9),
            }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (< 60 s)")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--requests", type=int, default=0, help="timed requests per target")
    parser.add_argument("--profile", action="store_true", help="break a /token request down")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--app", default="iam", choices=("iam", "asgi", "fastapi"))
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), args.app, args.profile_to)
        return 0
    started = time.perf_counter()
    results = run(args)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    report(results)
    print(f"total wall time {results['wall_seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
