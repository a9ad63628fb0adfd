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
import secrets
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
HYDRA_REFERENCE = "Ory Hydra publishes ~410 tokens/s on 2 vCPU"
GOALS = {"mint_ratio": 1.5, "verify_ratio": 2.0, "tokens_per_s": 1500.0}

APP_KINDS = ("iam", "iam-asgi-mw", "iam-what-if", "asgi", "fastapi", "fastapi-bare")
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


def compare(name: str, goal: float, note: str, iam: list[float], raw: list[float]) -> MicroResult:
    """Medians of each side; the ratio is the median of the per-pair ratios (drift-robust)."""
    ratio = statistics.median(a / b for a, b in zip(iam, raw, strict=True))
    return MicroResult(
        name, statistics.median(iam), statistics.median(raw), ratio, goal, iam, raw, note
    )


def micro_benchmarks(quick: bool, what_if: bool) -> tuple[list[MicroResult], dict[str, float]]:
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

    n, reps, warmup = (400, 15, 400) if quick else (1000, 31, 1000)
    iam = build_iam(
        None, issuer="http://127.0.0.1:8000", keystore=AgentKeyStore(None), quotas=False
    )
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
    results = [
        compare(
            "token mint (Agent token)",
            GOALS["mint_ratio"],
            "raw = json+b64url+ECDSA sign+DER->raw",
            mint_runs,
            raw_sign_runs,
        ),
        compare(
            "token verify",
            GOALS["verify_ratio"],
            "raw = split+b64url+raw->DER+ECDSA verify",
            verify_runs,
            raw_verify_runs,
        ),
    ]
    if what_if:
        results += what_if_verify(iam, token, audience, raw_verify, n=n, reps=reps, warmup=warmup)
    return results, extra


def what_if_verify(
    iam: Any, token: str, audience: str, raw_verify: Callable[[], None], **loops: int
) -> list[MicroResult]:
    """A prototype verifier with TokenVerifier's checks but one parse and no PyJWT."""
    import jwt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from iam_core.errors import TokenError
    from iam_core.policy import parse_scope
    from iam_core.tokens import (
        _COMPACT_JWS,
        _FORBIDDEN_HEADERS,
        _REQUIRED,
        ACCESS_TOKEN_TYP,
        SUPPORTED_ALGS,
        Token,
        _valid_act,
        classify,
    )

    ecdsa = ec.ECDSA(hashes.SHA256())
    verifier = iam.verifier

    def lean_verify() -> Token:
        if len(token) > verifier.max_length or not _COMPACT_JWS.fullmatch(token):
            raise TokenError("not a compact JWS")
        h, p, s = token.split(".")
        header = json.loads(b64url_decode(h))
        if str(header.get("typ", "")).lower() not in (
            ACCESS_TOKEN_TYP,
            "application/" + ACCESS_TOKEN_TYP,
        ):
            raise TokenError("typ")
        if header.get("alg") not in SUPPORTED_ALGS or not isinstance(header.get("kid"), str):
            raise TokenError("alg/kid")
        if any(name in header for name in _FORBIDDEN_HEADERS):
            raise TokenError("forbidden header")
        key = iam.keys.get_key(header["kid"])
        if key is None or header["alg"] != key.alg:
            raise TokenError("kid/alg")
        sig = b64url_decode(s)
        if len(sig) != 64:
            raise TokenError("signature length")
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        key.key.verify(der, f"{h}.{p}".encode("ascii"), ecdsa)
        claims = json.loads(b64url_decode(p))
        if not isinstance(claims, dict) or any(c not in claims for c in _REQUIRED):
            raise TokenError("missing claim")
        if claims["iss"] != verifier.issuer:
            raise TokenError("issuer")
        aud = claims["aud"]
        if audience is not None and audience != aud and audience not in (aud or ()):
            raise TokenError("audience")
        verifier._check_times(claims)
        if not isinstance(claims.get("scope", ""), str):
            raise TokenError("scope must be a string")
        parse_scope(claims.get("scope"))
        act = claims.get("act")
        if act is not None and not _valid_act(act):
            raise TokenError("act")
        return Token(claims, classify(claims))

    assert lean_verify().claims == verifier.verify(token, audience=audience).claims
    lean, raw = paired(lean_verify, raw_verify, **loops)
    segment = token.split(".")[1].encode()
    seg = bench(lambda: jwt.api_jws.PyJWS._decode_base64url_segment(segment, "payload"), **loops)
    plain = bench(lambda: b64url_decode(segment), **loops)
    return [
        compare(
            "what-if: verify, one parse, no PyJWT",
            GOALS["verify_ratio"],
            "prototype with TokenVerifier's checks",
            lean,
            raw,
        ),
        compare(
            f"what-if: PyJWT b64 segment ({len(segment)} chars)",
            float("inf"),
            "PyJWT 2.15 checks each character in a Python generator",
            seg,
            plain,
        ),
    ]


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


def fastapi_floor_app(middleware: bool) -> Any:
    """A FastAPI route shaped like /token: form parsing, JSONResponse and, like the IAM's
    trace-context middleware, an ``@app.middleware("http")`` (Starlette BaseHTTPMiddleware)."""
    try:
        from iam_core.http import NO_STORE, read_form
    except ImportError:  # older layout
        from iam_core.server import NO_STORE, read_form  # type: ignore[attr-defined,no-redef]

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    if middleware:

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


class TraceContextASGI:
    """What-if: the IAM's trace-context middleware as plain ASGI instead of
    ``@app.middleware("http")`` (BaseHTTPMiddleware): same trace id in the context variable,
    same ``traceparent`` response header, no extra task, stream or response copy."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from iam_core.trace import (
            current_trace_id,
            make_traceparent,
            new_trace_id,
            parse_traceparent,
        )

        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope["headers"] if k == b"traceparent"), None)
        trace_id = parse_traceparent(raw.decode("latin-1") if raw else None) or new_trace_id()

        async def send_traced(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(k.lower() == b"traceparent" for k, _ in headers):
                    headers.append((b"traceparent", make_traceparent(trace_id).encode()))
                message = {**message, "headers": headers}
            await send(message)

        reset = current_trace_id.set(trace_id)
        try:
            await self.app(scope, receive, send_traced)
        finally:
            current_trace_id.reset(reset)


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
    elif app_kind in ("fastapi", "fastapi-bare"):
        app = fastapi_floor_app(middleware=app_kind == "fastapi")
    else:
        from agents.keystore import AgentKeyStore
        from iam_core.server import create_app
        from scenarios.deployment import build_iam

        iam = build_iam(
            folder / "iam.db",
            issuer=f"http://127.0.0.1:{port}",
            keystore=AgentKeyStore(folder / "agent-keys"),
            quotas=False,
        )
        if app_kind == "iam-what-if":
            from iam_core.client_auth import ClientAuthenticator

            ClientAuthenticator._assertion = _lean_assertion_method  # type: ignore[method-assign]
        app = create_app(iam)
        if app_kind in ("iam-asgi-mw", "iam-what-if"):
            from starlette.middleware.base import BaseHTTPMiddleware

            app.user_middleware = [
                m for m in app.user_middleware if m.cls is not BaseHTTPMiddleware
            ]
            app.add_middleware(TraceContextASGI)
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
    client_cpu_pct: float = 0.0
    server_cpu_pct: float = float("nan")
    server_cpu_us_per_ok: float = float("nan")
    warmup_ok: int = 0
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
    server_cpu: Callable[[], float] | None = None,
) -> LoadResult:
    """Warm up, then send ``requests`` and measure; ``on_timed`` wraps the timed window."""

    warmed = 0
    cpu = 0.0
    server = float("nan")
    cpu_of_server = server_cpu or (lambda: float("nan"))

    async def main() -> tuple[_Run, float]:
        nonlocal warmed, cpu, server
        if warmup:
            warm, _ = await _drive(port, warmup, connections, 120.0)
            warmed = warm.statuses["ok"]
        if on_timed:
            on_timed[0]()
        cpu, server = time.process_time(), cpu_of_server()
        try:
            return await _drive(port, requests, connections, 300.0)
        finally:
            cpu, server = time.process_time() - cpu, cpu_of_server() - server
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
        client_cpu_pct=100 * cpu / elapsed if elapsed else 0.0,
        server_cpu_pct=100 * server / elapsed if elapsed else float("nan"),
        server_cpu_us_per_ok=server / ok * 1e6 if ok else float("nan"),
        warmup_ok=warmed,
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

    def __init__(
        self, kind: str, folder: Path, *, name: str = "", profile_to: Path | None = None
    ) -> None:
        self.kind = kind
        self.folder = folder / (name or kind)  # own database, audit key, copy of the agent keys
        self.folder.mkdir()
        if (folder / "agent-keys").exists():
            shutil.copytree(folder / "agent-keys", self.folder / "agent-keys")
        self.port = free_port()
        self.log = self.folder / "server.log"
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

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc; else NaN)."""
        assert self.proc is not None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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
def lean_assertion_check(clients: Any, assertion: str, form: Any) -> tuple[Any, dict[str, Any]]:
    """What-if: ``ClientAuthenticator._assertion``'s checks, less the jti insert, with one
    parse of the JWT and ``cryptography`` directly instead of three PyJWT decodes."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from iam_core.errors import InvalidClient

    iam = clients._iam
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}")
    if len(assertion) > 8192 or assertion.count(".") != 2:
        raise InvalidClient("client_assertion is not a valid JWT")
    h, p, s = assertion.split(".")
    try:
        header = json.loads(b64url_decode(h))
        claims = json.loads(b64url_decode(p))
        sig = b64url_decode(s)
    except ValueError as exc:
        raise InvalidClient("client_assertion is not a valid JWT") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidClient("client_assertion is not a valid JWT")
    client_id = claims.get("iss")
    if not isinstance(client_id, str) or not client_id:
        raise InvalidClient("client_assertion has no iss")
    if form.get("client_id") not in (None, client_id):
        raise InvalidClient("client_id does not match the assertion's iss")
    client, keys = clients._keyed_client(client_id)
    kid = header.get("kid")
    candidates = [k for k in keys if (kid is None or k.kid == kid) and k.alg == header.get("alg")]
    if not candidates or candidates[0].alg != "ES256" or len(sig) != 64:
        raise InvalidClient("client_assertion signature or algorithm is not valid for this client")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    for key in candidates:
        try:
            key.key.verify(der, f"{h}.{p}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
            break
        except InvalidSignature:
            continue
    else:
        raise InvalidClient("client_assertion signature or algorithm is not valid for this client")
    if any(c not in claims for c in ("iss", "sub", "aud", "exp", "jti")):
        raise InvalidClient("client_assertion lacks a required claim")
    aud = claims["aud"]
    if not set(aud if isinstance(aud, list) else [aud]) & clients._audiences:
        raise InvalidClient("client_assertion aud must be the issuer or token endpoint")
    if claims["sub"] != client_id:
        raise InvalidClient("client_assertion sub must equal iss (the client_id)")
    now, leeway, exp = iam.clock.now(), iam.config.leeway, claims["exp"]
    if not isinstance(exp, (int, float)) or exp <= now - leeway:
        raise InvalidClient("client_assertion expired")
    if exp > now + iam.config.assertion_max_lifetime + leeway:
        raise InvalidClient("client_assertion lives too long; keep exp within 5 minutes")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise InvalidClient("client_assertion jti must be a non-empty string")
    return client, claims


def _lean_assertion_method(self: Any, assertion: str, form: Any) -> Any:
    """Drop-in for ``ClientAuthenticator._assertion`` in the what-if server."""
    client, claims = lean_assertion_check(self, assertion, form)
    self._accept_once(client.id, str(claims["jti"]), int(claims["exp"]))
    return client


def component_breakdown(folder: Path, rounds: int, batch: int) -> dict[str, float]:
    """µs per /token request for each step, in-process on a file database, no profiler.

    Every step runs ``rounds`` times over ``batch`` requests, steps interleaved; the figure is
    the median round. The lines marked "what-if" are prototypes, not the IAM's code.
    """
    from urllib.parse import parse_qsl

    import jwt

    from agents.keystore import AgentKeyStore
    from iam_core.audit import AuditEvent
    from iam_core.authorization import AuthorizationFlow
    from iam_core.client_auth import ClientAuthenticator
    from iam_core.grants import Issued, TokenEndpoint
    from iam_core.registry import GRANT_CLIENT_CREDENTIALS
    from iam_core.tokens import TokenType
    from scenarios.deployment import build_iam

    port = 1  # any issuer will do in-process; the assertions are built for it
    sub = folder / "inproc"
    sub.mkdir(exist_ok=True)
    shutil.copytree(folder / "agent-keys", sub / "agent-keys", dirs_exist_ok=True)
    issuer = f"http://127.0.0.1:{port}"
    iam = build_iam(
        sub / "iam.db", issuer=issuer, keystore=AgentKeyStore(sub / "agent-keys"), quotas=False
    )
    clients = ClientAuthenticator(iam, f"{issuer}/token")
    endpoint = TokenEndpoint(iam, AuthorizationFlow(iam), clients)
    resource = iam.resources["availability"]
    scopes = frozenset({SCOPE})
    unique = iter(
        dict(parse_qsl(b.decode()))
        for b in token_bodies(token_requests(sub, port, (3 * rounds + 1) * batch))
    )
    sample_body = token_bodies(token_requests(sub, port, 1))[0].decode()
    sample_form = dict(parse_qsl(sample_body))

    def one_txn(form: dict[str, str]) -> object:
        with iam.store.transaction():  # nested transactions join this one: 1 commit, not 2
            return endpoint.handle(form, None)

    def verify_assertion(form: dict[str, str]) -> object:
        assertion = form["client_assertion"]
        jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
        _client, keys = clients._keyed_client(AGENT)
        return clients._verify_assertion(assertion, header, keys, AGENT)

    def lean_assertion(form: dict[str, str]) -> object:
        return lean_assertion_check(clients, form["client_assertion"], form)

    def mint(_: dict[str, str]) -> object:
        return iam.minter.mint(
            TokenType.AGENT, sub=AGENT, client_id=AGENT, audience=resource.uri, scopes=scopes
        )

    issued = iter(
        [Issued(*mint(sample_form), scopes) for _ in range(2 * rounds * batch + batch)]  # type: ignore[misc]
    )

    def respond(_: dict[str, str]) -> object:
        return endpoint._respond(GRANT_CLIENT_CREDENTIALS, next(issued))  # type: ignore[arg-type]

    def audit_only(_: dict[str, str]) -> object:
        token = next(issued).claims  # type: ignore[attr-defined]
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

    def accept_once(_: dict[str, str]) -> None:
        clients._accept_once(AGENT, secrets.token_urlsafe(16), int(time.time()) + 60)

    def jti_insert_only(_: dict[str, str]) -> None:
        with iam.store.transaction() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO assertion_jtis VALUES (?, ?, ?)",
                (AGENT, secrets.token_urlsafe(16), int(time.time()) + 60),
            )

    def empty_txn(_: dict[str, str]) -> None:
        with iam.store.transaction():
            pass

    fresh = object()  # marks steps that consume a fresh (never used) assertion per call
    steps: list[tuple[str, Callable[[dict[str, str]], object], object]] = [
        ("TokenEndpoint.handle, total", lambda f: endpoint.handle(f, None), fresh),
        ("client auth (authenticate), total", lambda f: clients.authenticate(f, None), fresh),
        ("  assertion decode x3 + ES256 verify (PyJWT)", verify_assertion, None),
        ("    of which registry.get_agent", lambda _: iam.registry.get_agent(AGENT), None),
        ("  jti accept-once (INSERT + DELETE expired, 1 txn)", accept_once, None),
        ("mint (iam.minter.mint: claims + ES256 via PyJWT)", mint, None),
        ("issue record + audit (_respond, 1 DB txn)", respond, None),
        ("  audit append alone (AuditLog.append)", audit_only, None),
        ("  an empty BEGIN IMMEDIATE/COMMIT", empty_txn, None),
        ("form parse (parse_qsl of the body)", lambda _: parse_qsl(sample_body, True), None),
        ("what-if: handle in ONE transaction", one_txn, fresh),
        ("what-if: assertion verify, one parse, no PyJWT", lean_assertion, None),
        ("what-if: jti INSERT only, DELETE amortised", jti_insert_only, None),
    ]
    for _ in range(batch):  # warm-up: sqlite page cache, key cache
        endpoint.handle(next(unique), None)
    times: dict[str, list[float]] = {name: [] for name, _, _ in steps}
    for _ in range(rounds):
        for name, fn, kind in steps:
            forms = [next(unique) if kind is fresh else sample_form for _ in range(batch)]
            start = time.perf_counter_ns()
            for form in forms:
                fn(form)
            times[name].append((time.perf_counter_ns() - start) / batch / 1000)
    iam.store.close()
    return {name: statistics.median(values) for name, values in times.items()}


def profile_summary(stats_file: Path, requests: int) -> tuple[dict[str, float], str]:
    """Cumulative µs per request of the main steps, and the top functions by own time."""
    stats = pstats.Stats(str(stats_file))
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    wanted = {
        "token endpoint: handle": ("grants/endpoint.py", "handle"),
        "  client auth (authenticate)": ("client_auth.py", "authenticate"),
        "    assertion verify (_verify_assertion)": ("client_auth.py", "_verify_assertion"),
        "    jti accept-once (_accept_once)": ("client_auth.py", "_accept_once"),
        "  mint (TokenMinter.mint)": ("tokens.py", "mint"),
        "  issue record + audit (_respond)": ("grants/endpoint.py", "_respond"),
        "    audit append (AuditLog.append)": ("audit.py", "append"),
        "    issued_tokens insert (record_issued)": ("revocation.py", "record_issued"),
        "read_form (body + form parsing)": ("", "read_form"),
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

    console = Console(width=max(120, shutil.get_terminal_size().columns))
    env = results["environment"]
    load1 = (env.get("loadavg_at_start") or [0.0])[0]
    if load1 > 0.5 * (env.get("cpus") or 1):
        console.print(
            f"[yellow]warning:[/] load average {load1:.2f} at start: other processes compete "
            "for the CPUs and the figures will be noisy; rerun on an idle machine."
        )
    console.print(
        f"[bold]agent-iam-lab benchmarks[/] ({'quick' if results['quick'] else 'full'}) — "
        f"Python {env['python']}, {env['cpus']} CPU, uvicorn loop={env['loop']} "
        f"http={env['http']}"
    )
    micro = Table(
        title="In-process, µs/op: median of interleaved repetitions; ratio = median of "
        "per-repetition ratios"
    )
    for col in ("operation", "IAM µs", "baseline µs", "ratio", "goal", "", "baseline"):
        micro.add_column(col, justify="left" if col in ("operation", "", "baseline") else "right")
    for m in results["micro"]:
        has_goal = m["goal"] != float("inf")
        micro.add_row(
            m["name"],
            f"{m['iam_us']:.1f}",
            f"{m['raw_us']:.1f}",
            f"{m['ratio']:.2f}×",
            f"≤ {m['goal']}×" if has_goal else "",
            ("[green]ok[/]" if m["ok"] else "[red]MISSED[/]") if has_goal else "",
            m["note"],
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
    for col in (
        "target",
        "requests",
        "ok",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "server CPU",
        "CPU µs/req",
        "client CPU",
    ):
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
            f"{r['server_cpu_pct']:.0f}%",
            f"{r['server_cpu_us_per_ok']:.0f}",
            f"{r['client_cpu_pct']:.0f}%",
        )
    console.print(load_table)
    iam_load = results["load"][0]
    rate = max(iam_load["rps"], 1e-9)
    ceiling = results["load"][1]["rps"] if len(results["load"]) > 1 else float("nan")
    goal = GOALS["tokens_per_s"]
    verdict = "[green]ok[/]" if iam_load["rps"] >= goal else "[red]MISSED[/]"
    lines = [
        f"  tokens/s {iam_load['rps']:,.0f} (goal ≥ {goal:,.0f} on one worker: {verdict}); "
        f"load generator ceiling {ceiling:,.0f} req/s = {ceiling / rate:.1f}× the IAM's rate, "
        f"so the client is {'not ' if ceiling > 3 * rate else ''}the bottleneck."
    ]
    if iam_load["ok"]:
        lines.append(
            f"  the server process used {iam_load['server_cpu_pct']:.0f}% of a core: "
            f"{iam_load['server_cpu_us_per_ok']:.0f} µs of CPU per token, i.e. "
            f"{1e6 / iam_load['server_cpu_us_per_ok']:,.0f} tokens/s for a core of its own."
        )
    match = results["audit_entries"] == results["audit_entries_expected"]
    lines.append(
        f"  audit entries 'token.issued' in the server's database: {results['audit_entries']} "
        f"for {results['audit_entries_expected']} tokens issued (warm-up included)"
        f"{'' if match else ' [red]MISMATCH[/]'}."
    )
    lines.append(f"  For context: {HYDRA_REFERENCE} (different hardware).")
    console.print("\n".join(lines))
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
            "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "loop": LOOP,
            "http": HTTP,
        },
        "goals": GOALS,
    }
    micro, extra = micro_benchmarks(quick, args.profile)
    results["micro"] = [{**asdict(m), "ok": m.ok} for m in micro]
    results["micro_extra"] = extra

    with tempfile.TemporaryDirectory(prefix="bench-iam-") as tmp:
        folder = Path(tmp)
        from agents.keystore import AgentKeyStore
        from iam_core.seed import DEMO_AGENTS

        keystore = AgentKeyStore(folder / "agent-keys")
        for spec in DEMO_AGENTS:  # each server's IAM registers these very public keys
            keystore.private_key(spec.id)
        iam = Server("iam", folder)
        asgi = Server("asgi", folder)
        fastapi = Server("fastapi", folder)
        started = [iam, asgi, fastapi]
        if args.profile:
            profiled_iam = Server(
                "iam", folder, name="iam-profiled", profile_to=folder / "server.prof"
            )
            started += [
                Server("fastapi-bare", folder),
                Server("iam-asgi-mw", folder),
                Server("iam-what-if", folder),
                profiled_iam,
            ]
        with servers(*started):
            requests = {  # assertions name each server's own issuer (port) as audience
                s.folder.name: token_requests(s.folder, s.port, n_warmup + n_requests)
                for s in started
                if s.kind.startswith("iam")
            }
            for server in started:
                server.wait_ready()
            targets = {
                "iam": "IAM POST /token",
                "asgi": "trivial ASGI app (client ceiling)",
                "fastapi": "FastAPI floor (http mw + form)",
                "fastapi-bare": "FastAPI floor, no http mw",
                "iam-asgi-mw": "what-if: IAM, trace mw as ASGI",
                "iam-what-if": "what-if: IAM, ASGI mw + 1-parse assertion",
            }
            loads: list[LoadResult] = []
            for server in started:
                if server.profile_to:
                    continue
                # the trivial apps get the IAM's bytes: they ignore Host and the assertions
                batch = requests.get(server.folder.name, requests["iam"])
                loads.append(
                    load(
                        targets[server.kind],
                        server.port,
                        batch[n_warmup:],
                        batch[:n_warmup],
                        connections,
                        server_cpu=server.cpu_seconds,
                    )
                )
            # counted while the server runs (WAL readers see committed rows), before wrk
            results["audit_entries"] = audit_entries(iam.folder / "iam.db")
            profiled: LoadResult | None = None
            if args.profile:
                batch = requests[profiled_iam.folder.name]
                profiled = load(
                    "IAM /token under cProfile",
                    profiled_iam.port,
                    batch[n_warmup:],
                    batch[:n_warmup],
                    connections,
                    (
                        lambda: profiled_iam.signal(signal.SIGUSR1),
                        lambda: profiled_iam.signal(signal.SIGUSR2),
                    ),
                )
            results["wrk"] = ""
            if shutil.which("wrk"):
                seconds = 3 if quick else 5
                wrk_bodies = token_bodies(token_requests(iam.folder, iam.port, 4000 * seconds))
                results["wrk"] = run_wrk(iam.port, wrk_bodies, connections, seconds, folder)
        results["audit_entries_expected"] = loads[0].warmup_ok + loads[0].ok
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
            assert profiled is not None
            stats_file = folder / "server.prof"
            deadline = time.monotonic() + 10
            while not stats_file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            cumulative, top = profile_summary(stats_file, profiled.ok)
            if args.json:
                kept = args.json.with_suffix(".prof")
                shutil.copyfile(stats_file, kept)
                results["profile_stats_file"] = str(kept)
            try:
                components = component_breakdown(folder, 5 if quick else 9, 200)
            except Exception as exc:  # the IAM's internals move; keep the rest of the report
                components = {f"in-process breakdown failed: {exc!r}"[:200]: float("nan")}
            results["profile"] = {
                "components_inprocess_us": components,
                "cprofile_cumulative_us": cumulative,
                "cprofile_top": top,
                "cprofile_requests": profiled.ok,
            }
    return results


def run_and_report(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], dict[str, Any]],
    report: Callable[[dict[str, Any]], None],
) -> int:
    """Run a benchmark, print its report and total time, and write ``--json`` if asked."""
    # SIGTERM unwinds like Ctrl-C, so the servers are stopped by the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    results = run(args)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    report(results)
    print(f"total wall time {results['wall_seconds']} s")
    if args.json:
        print(f"wrote {args.json}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (< 60 s)")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--requests", type=int, default=0, help="timed requests per target")
    parser.add_argument("--profile", action="store_true", help="break a /token request down")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--app", default="iam", choices=APP_KINDS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), args.app, args.profile_to)
        return 0
    return run_and_report(args, run, report)


if __name__ == "__main__":
    sys.exit(main())
