"""A deployment: the IAM (later the hotel services too), its demo world and the agent runtime.

In-process by default — the apps are served through ``httpx.ASGITransport``, so every call
is real HTTP semantics without a socket — or against a running server (``--server URL``).
The default state lives in one documented folder under the current directory,
``./.agent-iam/`` (override with ``AGENT_IAM_HOME``): ``iam.db``, ``audit-key.json``, the
audit witness ``iam-audit-witness.jsonl`` (elsewhere with ``AGENT_IAM_WITNESS_DIR``) and the
agent runtime's ``agent-keys/``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from fastapi import FastAPI

from agents.clock import WALL_CLOCK
from agents.clock import Clock as AgentClock
from agents.keystore import AgentKeyStore
from agents.oauth import AgentCredentials, AppCredentials, OAuthClient
from hotel.app import Hotel, build_hotel
from hotel.world import HotelWorld, Person
from iam_core.clock import Clock
from iam_core.iam import IAM, IAMConfig
from iam_core.registry import SIMULATION_HASHER, STRONG_HASHER
from iam_core.resource_server import GroupCommitAppender, ResourcePolicy
from iam_core.seed import DEMO_AGENTS, DEMO_SECRETS, DEMO_USERS, seed_demo_world
from iam_core.server import create_app
from iam_core.store import Store

DEFAULT_ISSUER = "http://127.0.0.1:8000"


def state_dir() -> Path:
    return Path(os.environ.get("AGENT_IAM_HOME", ".agent-iam"))


def default_db() -> Path:
    return state_dir() / "iam.db"


def agent_keystore(in_memory: bool = False) -> AgentKeyStore:
    return AgentKeyStore(None if in_memory else state_dir() / "agent-keys")


def build_iam(
    db: Path | None,
    *,
    issuer: str = DEFAULT_ISSUER,
    keystore: AgentKeyStore,
    seed: int = 0,
    config: IAMConfig | None = None,
    clock: Clock | None = None,
    quotas: bool = True,
) -> IAM:
    """An IAM on ``db`` (None: in memory) with the demo world registered.

    ``quotas=False`` lifts the per-agent quotas (load benchmarks only).
    """
    config = config or IAMConfig(issuer=issuer)
    if not quotas:
        config = replace(config, agent_token_quota=None, agent_request_quota=None)
    if db is None:
        iam = IAM(Store(), config=config, clock=clock, hasher=SIMULATION_HASHER)
    else:
        iam = IAM.open(db, config=config, clock=clock, hasher=STRONG_HASHER)
    seed_demo_world(iam, {a.id: keystore.public_jwk(a.id) for a in DEMO_AGENTS}, seed=seed)
    return iam


def hotel_people() -> tuple[Person, ...]:
    """The people the hotel knows (names, roles), handed to it from the IAM's demo users."""
    return tuple(Person(uid, name, roles) for uid, name, roles in DEMO_USERS)


def build_stack(
    iam: IAM, *, baseline: bool = False, seed: int = 0
) -> tuple[FastAPI, Hotel, httpx.AsyncClient]:
    """The IAM app with the four hotel services mounted under ``/hotel``, in one process.

    The services reach the IAM (JWKS, the booking backend's token) and availability through
    an in-process client; revocations reach their guards synchronously. The returned client
    is the services' own and must be closed with the stack.
    """
    app = create_app(iam)
    inner = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=iam.issuer)
    guests = [u.id for u in iam.registry.users() if "guest" in u.roles]
    world = HotelWorld.seeded(
        iam.store, people=hotel_people(), seed=seed, guest_ids=guests, clock=iam.clock
    )
    hotel = build_hotel(
        world=world,
        audit=GroupCommitAppender(iam.audit),
        clock=iam.clock,
        issuer=iam.issuer,
        http=inner,
        backend_secret=DEMO_SECRETS["booking-backend"],
        baseline=baseline,
        events=iam.events,
        policy=ResourcePolicy.of(iam.policy),
        agent_quota=iam.config.agent_request_quota,
    )
    hotel.mount_into(app)
    return app, hotel, inner


@dataclass
class Deployment:
    """What a client-side caller needs: an HTTP client, the OAuth client and credentials."""

    http: httpx.AsyncClient
    oauth: OAuthClient
    keystore: AgentKeyStore
    issuer: str
    iam: IAM | None  # only for an in-process deployment
    hotel: Hotel | None = None  # only for an in-process deployment
    baseline: bool = False
    transport: httpx.AsyncBaseTransport | None = None  # for more clients of the same stack
    clock: AgentClock = WALL_CLOCK  # the IAM's, in process: agents sign with the same time

    def agent(self, agent_id: str) -> AgentCredentials:
        return AgentCredentials(
            agent_id, self.keystore.private_key(agent_id), self.keystore.kid(agent_id)
        )

    @staticmethod
    def app(client_id: str) -> AppCredentials:
        return AppCredentials(client_id, DEMO_SECRETS.get(client_id))

    def resource(self, name: str) -> str:
        base = self.issuer.rstrip("/")
        return base if name == "iam" else f"{base}/hotel/{name}"


@asynccontextmanager
async def deployment(
    *,
    server: str | None = None,
    db: Path | None = None,
    in_memory: bool = False,
    seed: int = 0,
    config: IAMConfig | None = None,
    clock: Clock | None = None,
    baseline: bool = False,
) -> AsyncIterator[Deployment]:
    """In-process (``db`` file or memory) or remote (``server`` URL) deployment."""
    keystore = agent_keystore(in_memory)
    if server is not None:
        issuer = server.rstrip("/")
        remote = httpx.AsyncHTTPTransport()
        async with httpx.AsyncClient(transport=remote, base_url=issuer, timeout=30.0) as http:
            meta = (await http.get("/.well-known/oauth-authorization-server")).json()
            issuer = meta["issuer"]
            yield Deployment(
                http, OAuthClient(http, issuer), keystore, issuer, None, transport=remote
            )
        return
    iam = build_iam(
        None if in_memory else (db or default_db()),
        keystore=keystore,
        seed=seed,
        config=config,
        clock=clock,
    )
    app, hotel, inner = build_stack(iam, baseline=baseline, seed=seed)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=iam.issuer) as http:
            yield Deployment(
                http,
                OAuthClient(http, iam.issuer, clock=iam.clock),
                keystore,
                iam.issuer,
                iam,
                hotel,
                baseline,
                transport,
                iam.clock,
            )
    finally:
        await inner.aclose()
        iam.store.close()
