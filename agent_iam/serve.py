"""``agent-iam serve``: the whole deployment, in one or several worker processes, or one
service on its own.

* ``agent-iam serve [--workers N]`` — the IAM at the root and the four services under
  ``/hotel/<name>``; revocations reach the services in-process, inside the revoking
  transaction. With N workers (uvicorn, one port), every piece of security state —
  revocations, DPoP proofs seen, quota counts, event cursors — lives in the one database,
  so each worker behaves as a single one would (README "Running them").
* ``agent-iam serve --only booking --issuer URL --port P`` — one service, against a remote
  IAM: it fetches the JWKS over HTTP and long-polls the IAM's Security Event Tokens as its
  own receiver (``hotel-booking``), catching up from its cursor before it serves. Its
  business state, received revocations and audit log are in the same database as
  ``serve``'s by default (``./.agent-iam/iam.db``; ``--db`` to choose).
* ``--baseline`` — the same services behind the shared API key, as deployments without
  agent IAM run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from agent_iam.http_server import ServerLimits
from agents.llm.embedded import create_app as embedded_model_app
from hotel.app import SERVICES, build_hotel
from hotel.world import HotelWorld
from iam_core.audit import AuditError, AuditLog, AuditWitness
from iam_core.audit_files import serving_key
from iam_core.audit_witness import witness_path
from iam_core.clock import SystemClock
from iam_core.iam import IAMConfig
from iam_core.policy import Policy
from iam_core.resource_server import (
    GroupCommitAppender,
    ResourcePolicy,
    SetPoller,
    polling,
    probe_storage,
)
from iam_core.retention import prune_iam, prune_security_state
from iam_core.seed import DEMO_SECRETS
from iam_core.store import DATABASE_ERRORS, AnyStore, is_url, open_store
from scenarios.deployment import (
    agent_keystore,
    build_iam,
    build_stack,
    default_db,
    hotel_people,
    state_dir,
)

SETTINGS_ENV = "AGENT_IAM_SERVE_SETTINGS"  # how the parent hands its options to workers
RETENTION_EVERY = 60.0  # seconds between prunes of expired security state


def serve_all(
    err: Console,
    *,
    host: str,
    port: int,
    db: Path | str | None,
    issuer: str | None,
    baseline: bool,
    workers: int = 1,
) -> int:
    issuer = issuer or f"http://{host}:{port}"
    db_path = db or default_db()
    settings = {"db": str(db_path), "issuer": issuer, "baseline": baseline}
    try:
        # Built once here too: start-up errors are reported before any worker starts, and
        # the database, keys and demo world exist before workers open them.
        iam = build_iam(db_path, issuer=issuer, keystore=agent_keystore())
    except AuditError as exc:  # a lost audit key or witness: refuse to start (README)
        err.print(f"[red]agent-iam serve: {exc}")
        return 2
    except DATABASE_ERRORS as exc:  # e.g. a read-only file, no server: one clear line
        err.print(f"[red]agent-iam serve: cannot use the database: {exc}")
        return 2
    problem = unwritable(iam.store)
    if problem:
        err.print(f"[red]agent-iam serve: {problem}")
        return 2
    mode = "baseline: shared API key" if baseline else "agent IAM"
    err.print(f"IAM at {issuer}  (database {iam.store.path}, {workers} worker(s))")
    for name in SERVICES:
        err.print(f"  {name:<12} {issuer}/hotel/{name}  ({mode})")
    err.print(f"  {'model':<12} {issuer}/llm/v1  (embedded, OpenAI-compatible)")
    iam.store.close()
    os.environ[SETTINGS_ENV] = json.dumps(settings)
    # Parked long-polls (/events/poll) must not hold a shutdown for long.
    uvicorn.run(
        "agent_iam.serve:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=max(1, workers),
        log_level="warning",
        timeout_graceful_shutdown=2,
        **ServerLimits.from_env().uvicorn_options(),
    )
    return 0


def worker_app() -> FastAPI:
    """One worker's app: the IAM and the services over the shared database."""
    settings = json.loads(os.environ[SETTINGS_ENV])
    try:
        iam = build_iam(settings["db"], issuer=settings["issuer"], keystore=agent_keystore())
    except AuditError as exc:
        raise SystemExit(f"agent-iam serve: {exc}") from None
    app, _, inner = build_stack(iam, baseline=bool(settings["baseline"]))
    # The embedded model for any OpenAI client: OPENAI_BASE_URL={issuer}/llm/v1.
    app.mount("/llm", embedded_model_app())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with retention(lambda: prune_iam(iam)):
            yield
        await inner.aclose()

    app.router.lifespan_context = lifespan
    return app


@asynccontextmanager
async def retention(prune: Callable[[], object]) -> AsyncIterator[None]:
    """Prune expired security state now and every ``RETENTION_EVERY`` seconds (README)."""

    async def loop() -> None:
        while True:
            prune()
            await asyncio.sleep(RETENTION_EVERY)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def standalone_service(
    name: str, *, issuer: str, base_url: str | None, world_db: Path | str, baseline: bool
) -> FastAPI:
    """One service as its own app, with a lifespan that catches up and runs its poller."""
    if name not in SERVICES:
        raise SystemExit(f"unknown service {name!r}; choose one of {', '.join(SERVICES)}")
    clock = SystemClock()
    store = open_store(world_db)
    # Key and witness beside a database file; in the state folder for a PostgreSQL URL.
    beside = state_dir() / "iam.db" if is_url(str(world_db)) else Path(world_db)
    problem = unwritable(store)
    if problem:
        raise SystemExit(f"agent-iam serve --only {name}: {problem}")
    world = HotelWorld.seeded(store, people=hotel_people(), clock=clock)
    try:
        # The audit key beside the database, as the IAM keeps it (IAM.open): on the shared
        # database the service appends to the same chain, under the same key and witness.
        key = serving_key(store, beside.parent / "audit-key.json")
        witness = AuditWitness(witness_path(beside))
        audit = AuditLog(store, key, clock, witness=witness)
    except AuditError as exc:  # a lost audit key or witness: refuse to start (README)
        raise SystemExit(f"agent-iam serve --only {name}: {exc}") from None
    http = httpx.AsyncClient(timeout=30.0)
    hotel = build_hotel(
        world=world,
        audit=GroupCommitAppender(audit),
        clock=clock,
        issuer=issuer,
        http=http,
        base_url=base_url,
        backend_secret=DEMO_SECRETS["booking-backend"],
        baseline=baseline,
        # The IAM's published policy (this lab runs the default one at the issuer too).
        policy=ResourcePolicy.of(Policy()),
        only=(name,),
        # The same per-agent quota as in-process, counted in the shared store.
        agent_quota=IAMConfig().agent_request_quota,
        task_quota=IAMConfig().requests_per_task,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with retention(lambda: prune_security_state(store, clock.now())):
            if hotel.revoked is None or hotel.keys is None:
                yield
            else:
                await hotel.keys.refresh(force=True)
                poller = SetPoller(
                    http,
                    issuer,
                    hotel.revoked,
                    hotel.keys,
                    client_id=f"hotel-{name}",
                    client_secret=DEMO_SECRETS[f"hotel-{name}"],
                )
                async with polling(poller):  # caught up from its cursor before serving
                    yield
        await http.aclose()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/", hotel.apps[name])
    return app


def serve_one(
    err: Console,
    name: str,
    *,
    host: str,
    port: int,
    issuer: str | None,
    base_url: str | None,
    baseline: bool,
    db: Path | str | None = None,
) -> int:
    if issuer is None:
        raise SystemExit("agent-iam serve --only needs --issuer URL (the IAM it trusts)")
    app = standalone_service(
        name, issuer=issuer, base_url=base_url, world_db=db or default_db(), baseline=baseline
    )
    err.print(f"{name} at http://{host}:{port}  (trusts {issuer})")
    uvicorn.run(
        app, host=host, port=port, log_level="warning", **ServerLimits.from_env().uvicorn_options()
    )
    return 0


def unwritable(store: AnyStore) -> str | None:
    """Why ``store`` cannot be served from (read-only file, full disk, …), or None: a write
    probe at start-up, so that a database that cannot write never looks healthy."""
    state = probe_storage(store, time.time())
    if state["readable"] and state["writable"]:
        return None
    return f"cannot write the database {store.path}: {state.get('error', 'unknown error')}"
