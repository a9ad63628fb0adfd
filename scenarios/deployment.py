"""A deployment: the IAM (later the hotel services too), its demo world and the agent runtime.

In-process by default — the apps are served through ``httpx.ASGITransport``, so every call
is real HTTP semantics without a socket — or against a running server (``--server URL``).
The default state lives in one documented folder under the current directory,
or in PostgreSQL when ``AGENT_IAM_STORE`` (or ``serve --store``) names a ``postgresql://`` URL;
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
from hotel.app import Hotel, HotelConfig, build_hotel
from hotel.world import HotelWorld, Person
from iam_core.clock import Clock
from iam_core.iam import IAM, IAMConfig
from iam_core.registry import (
    GRANT_CLIENT_CREDENTIALS,
    SIMULATION_HASHER,
    STRONG_HASHER,
    App,
)
from iam_core.resource_server import GroupCommitAppender, ResourcePolicy
from iam_core.seed import DEMO_AGENTS, DEMO_SECRETS, DEMO_USERS, seed_demo_world
from iam_core.server import create_app
from iam_core.store import STORE_ENV, AnyStore, is_url, open_store
from scenarios.profiles import AGENT_IAM, Profile, profile

DEFAULT_ISSUER = "http://127.0.0.1:8000"
# Tests only: a PostgreSQL URL that in-memory stacks use instead, each in a schema of its
# own dropped on close, so that the scenario catalogue and property tests run on PostgreSQL.
TEST_STORE_ENV = "AGENT_IAM_TEST_STORE"


def state_dir() -> Path:
    return Path(os.environ.get("AGENT_IAM_HOME", ".agent-iam"))


def default_db() -> Path | str:
    """``AGENT_IAM_STORE`` (a ``postgresql://`` URL or a file), else ``<home>/iam.db``."""
    return os.environ.get(STORE_ENV) or state_dir() / "iam.db"


def scratch_store() -> AnyStore:
    """An empty store for an in-memory stack: memory, or a fresh PostgreSQL schema when
    ``AGENT_IAM_TEST_STORE`` is set (dropped when the store closes)."""
    url = os.environ.get(TEST_STORE_ENV)
    if not url:
        return open_store(None)
    from iam_core.store_pg import scratch_store as pg_scratch

    return pg_scratch(url, prefix="stack")


def agent_keystore(in_memory: bool = False) -> AgentKeyStore:
    return AgentKeyStore(None if in_memory else state_dir() / "agent-keys")


def build_iam(
    db: Path | str | None,
    *,
    issuer: str = DEFAULT_ISSUER,
    keystore: AgentKeyStore,
    seed: int = 0,
    config: IAMConfig | None = None,
    clock: Clock | None = None,
    quotas: bool = True,
) -> IAM:
    """An IAM on ``db`` (a file or a ``postgresql://`` URL; None: in memory) with the demo
    world registered.

    ``quotas=False`` lifts the per-agent quotas (load benchmarks only).
    """
    config = config or IAMConfig(issuer=issuer)
    if not quotas:
        config = replace(config, agent_token_quota=None, agent_request_quota=None)
    if db is None:
        iam = IAM(scratch_store(), config=config, clock=clock, hasher=SIMULATION_HASHER)
    else:
        home = state_dir() if is_url(str(db)) else None
        iam = IAM.open(db, home=home, config=config, clock=clock, hasher=STRONG_HASHER)
    seed_demo_world(iam, {a.id: keystore.public_jwk(a.id) for a in DEMO_AGENTS}, seed=seed)
    return iam


def hotel_people() -> tuple[Person, ...]:
    """The people the hotel knows (names, roles), handed to it from the IAM's demo users."""
    return tuple(Person(uid, name, roles) for uid, name, roles in DEMO_USERS)


def service_account(agent_id: str) -> AppCredentials:
    """The OAuth client an agent runs as in the ``service-account`` profile."""
    return AppCredentials(f"{agent_id}-service", f"{agent_id}-service-demo-secret-0123456789")


def profile_config(prof: Profile, config: IAMConfig | None) -> IAMConfig:
    """The IAM's configuration for a profile: its ablations of quotas, depth and tasks."""
    config = config or IAMConfig()
    if not prof.task_scope:
        config = replace(config, task_scoped_agents=False)
    if not prof.quotas:
        limits = replace(config.approval_limits, per_agent=None)
        config = replace(
            config, agent_token_quota=None, approval_limits=limits, agent_request_quota=None
        )
    if not prof.allow_list:
        config = replace(config, policy=replace(config.policy, max_delegation_depth=99))
    return config


def register_service_accounts(iam: IAM) -> frozenset[str]:
    """Each agent as an OAuth client with the scopes of every task it may do."""
    names = set()
    for spec in DEMO_AGENTS:
        creds = service_account(spec.id)
        if iam.registry.get_app(creds.client_id) is None:
            app = App(
                creds.client_id,
                f"{spec.display_name} (service account)",
                confidential=True,
                auth_method="client_secret_basic",
                grant_types=frozenset({GRANT_CLIENT_CREDENTIALS}),
                scopes=spec.delegable | spec.autonomous,
            )
            iam.registry.add_app(app, creds.secret)
        names.add(creds.client_id)
    return frozenset(names)


def build_stack(
    iam: IAM,
    *,
    baseline: bool = False,
    seed: int = 0,
    hotel_config: HotelConfig | None = None,
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
        config=hotel_config,
        events=iam.events,
        policy=ResourcePolicy.of(iam.policy),
        agent_quota=iam.config.agent_request_quota,
        task_quota=iam.config.requests_per_task,
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
    profile: Profile = AGENT_IAM
    transport: httpx.AsyncBaseTransport | None = None  # for more clients of the same stack
    clock: AgentClock = WALL_CLOCK  # the IAM's, in process: agents sign with the same time
    inner: httpx.AsyncClient | None = None  # in process: the services' own client of the IAM

    @property
    def baseline(self) -> bool:
        """The shared-key profile (the old ``--baseline``)."""
        return self.profile.identity == "shared-key"

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
    db: Path | str | None = None,
    in_memory: bool = False,
    seed: int = 0,
    config: IAMConfig | None = None,
    clock: Clock | None = None,
    baseline: bool = False,
    prof: Profile | None = None,
) -> AsyncIterator[Deployment]:
    """In-process (``db`` file or memory) or remote (``server`` URL) deployment, for a
    deployment profile (``baseline``: the shared-key one)."""
    prof = prof or (profile("shared-key") if baseline else AGENT_IAM)
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
    dep = in_process(
        None if in_memory else (db or default_db()),
        keystore=keystore,
        seed=seed,
        config=config,
        clock=clock,
        prof=prof,
    )
    try:
        yield dep
    finally:
        await close(dep)


def in_process(
    db: Path | str | None,
    *,
    keystore: AgentKeyStore,
    seed: int = 0,
    config: IAMConfig | None = None,
    clock: Clock | None = None,
    prof: Profile = AGENT_IAM,
) -> Deployment:
    """An in-process deployment (``db`` None: in memory), to :func:`close` when done; what
    :func:`deployment` yields, built without a context (a reused stack outlives event loops:
    scenarios/stack.py)."""
    iam = build_iam(
        db,
        keystore=keystore,
        seed=seed,
        config=profile_config(prof, config) if config or prof is not AGENT_IAM else None,
        clock=clock,
    )
    accounts = register_service_accounts(iam) if prof.identity == "service-account" else None
    hotel_config = prof.hotel(accounts or frozenset())
    app, hotel, inner = build_stack(iam, seed=seed, hotel_config=hotel_config)
    transport = httpx.ASGITransport(app=app)
    http = httpx.AsyncClient(transport=transport, base_url=iam.issuer)
    return Deployment(
        http,
        OAuthClient(http, iam.issuer, clock=iam.clock),
        keystore,
        iam.issuer,
        iam,
        hotel,
        prof,
        transport,
        iam.clock,
        inner,
    )


async def close(dep: Deployment) -> None:
    """Close an in-process deployment's clients and store."""
    await dep.http.aclose()
    if dep.inner is not None:
        await dep.inner.aclose()
    if dep.iam is not None:
        dep.iam.store.close()
