"""``agent-iam serve``: the whole deployment in one process, or one service on its own.

* ``agent-iam serve`` — the IAM at the root and the four services under ``/hotel/<name>``;
  revocations reach the services in-process, synchronously.
* ``agent-iam serve --only booking --issuer URL --port P`` — one service, against a remote
  IAM: it fetches the JWKS over HTTP and long-polls the IAM's Security Event Tokens. The
  services share their business state through ``./.agent-iam/hotel.db`` and keep their own
  audit log there (checkpoint key ``hotel-audit-key.json``, witness
  ``hotel-audit-witness.jsonl``).
* ``--baseline`` — the same services behind the shared API key, as deployments without
  agent IAM run them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from agents.llm.embedded import create_app as embedded_model_app
from hotel.app import SERVICES, build_hotel
from hotel.world import HotelWorld
from iam_core.audit import AuditError, AuditLog, AuditWitness
from iam_core.audit_files import serving_key
from iam_core.audit_witness import witness_path
from iam_core.clock import SystemClock
from iam_core.policy import Policy
from iam_core.resource_server import GroupCommitAppender, ResourcePolicy, SetPoller, polling
from iam_core.seed import DEMO_SECRETS
from iam_core.store import Store
from scenarios.deployment import (
    agent_keystore,
    build_iam,
    build_stack,
    default_db,
    hotel_people,
    state_dir,
)


def serve_all(
    err: Console, *, host: str, port: int, db: Path | None, issuer: str | None, baseline: bool
) -> int:
    issuer = issuer or f"http://{host}:{port}"
    try:
        iam = build_iam(db or default_db(), issuer=issuer, keystore=agent_keystore())
    except AuditError as exc:  # a lost audit key or witness: refuse to start (README)
        err.print(f"[red]agent-iam serve: {exc}")
        return 2
    app, hotel, _ = build_stack(iam, baseline=baseline)
    # The embedded model for any OpenAI client: OPENAI_BASE_URL={issuer}/llm/v1.
    app.mount("/llm", embedded_model_app())
    mode = "baseline: shared API key" if baseline else "agent IAM"
    err.print(f"IAM at {issuer}  (database {iam.store.path})")
    for name, url in hotel.urls.items():
        err.print(f"  {name:<12} {url}  ({mode})")
    err.print(f"  {'model':<12} {issuer}/llm/v1  (embedded, OpenAI-compatible)")
    # Parked long-polls (/events/poll) must not hold a shutdown for long.
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    return 0


def standalone_service(
    name: str, *, issuer: str, base_url: str | None, world_db: Path, baseline: bool
) -> FastAPI:
    """One service as its own app, with a lifespan that runs its revocation poller."""
    if name not in SERVICES:
        raise SystemExit(f"unknown service {name!r}; choose one of {', '.join(SERVICES)}")
    clock = SystemClock()
    store = Store(world_db)
    world = HotelWorld.seeded(store, people=hotel_people(), clock=clock)
    try:
        key = serving_key(store, world_db.parent / "hotel-audit-key.json")
        witness = AuditWitness(witness_path(world_db))
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
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if hotel.revoked is None or hotel.keys is None:
            yield
        else:
            await hotel.keys.refresh(force=True)
            poller = SetPoller(
                http,
                issuer,
                hotel.revoked,
                hotel.keys,
                client_id="hotel-services",
                client_secret=DEMO_SECRETS["hotel-services"],
            )
            async with polling(poller):
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
) -> int:
    if issuer is None:
        raise SystemExit("agent-iam serve --only needs --issuer URL (the IAM it trusts)")
    app = standalone_service(
        name, issuer=issuer, base_url=base_url, world_db=state_dir() / "hotel.db", baseline=baseline
    )
    err.print(f"{name} at http://{host}:{port}  (trusts {issuer})")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
