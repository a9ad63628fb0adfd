"""Assembling the four services: guards, JWKS cache, revocation feed and business state.

``build_hotel`` gives one FastAPI app per service. In one process (``agent-iam serve``, the
simulations) they are mounted under ``/hotel/<service>`` beside the IAM, share its audit
log, and receive revocations synchronously from its publisher. A service run alone
(``agent-iam serve --only booking``) reaches a remote IAM over HTTP and long-polls its
Security Event Tokens instead (:class:`iam_core.resource_server.SetPoller`). With
a :class:`HotelConfig` of the deployment profile, the same routes and business rules run
behind another guard (the shared API key of :mod:`hotel.baseline`, service accounts naming
users) or with one defence removed (an ablation); ``baseline=True`` is the shared-key one.

Everything the IAM decides — the scope catalogue and which roles grant what
(:class:`ResourcePolicy`), the audit sink, the quota, the revocation feed — is handed in by
the composition root (``scenarios/deployment.py``, ``agent_iam/serve.py``); the services
import only the resource-server kit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from hotel import availability, booking, concierge, payment
from hotel.access import Guard, Rule, rule_scopes
from hotel.backend_client import AppToken, AvailabilityClient, SharedKey
from hotel.baseline import DEMO_API_KEY, BaselineGuard
from hotel.guard import TokenGuard
from hotel.world import HotelWorld
from iam_core.resource_server import (
    AuditSink,
    Clock,
    DPoPNonceHeader,
    DPoPNonces,
    DPoPVerifier,
    Quota,
    QuotaSpec,
    RemoteJWKS,
    ReplayCache,
    ResourcePolicy,
    RevokedTokens,
    SecurityEventSource,
)

SERVICES = ("availability", "booking", "payment", "concierge")


@dataclass(frozen=True)
class HotelConfig:
    """How the services check callers, handed in at start-up by the deployment profile
    (``scenarios/profiles.py``). Business rules (owners, hotel-only recipients, prices) are
    the same in every configuration; only identity and access differ (docs/design.md)."""

    shared_key: str | None = None  # one API key for all callers, the user in X-User
    dpop: bool = True  # False: DPoP-bound tokens accepted without a proof
    revocation_events: bool = True  # False: revocations reach the services only at expiry
    agent_allow_list: bool = True  # False: any agent role, any delegation depth
    rar: bool = True  # False: an agent's authorization_details go unchecked
    service_accounts: frozenset[str] = frozenset()  # clients whose App tokens name a user


SHARED_KEY = HotelConfig(shared_key=DEMO_API_KEY)
BACKEND_CLIENT = "booking-backend"


@dataclass
class Hotel:
    """The services of one deployment and the state their guards share."""

    world: HotelWorld
    apps: dict[str, FastAPI]
    urls: dict[str, str]
    guards: dict[str, Guard]
    keys: RemoteJWKS | None = None
    revoked: RevokedTokens | None = None
    unsubscribe: Callable[[], None] | None = field(default=None, repr=False)

    def mount_into(self, app: FastAPI, prefix: str = "/hotel") -> None:
        """Mount each service under ``prefix`` and publish its RFC 9728 metadata where §3.1
        puts it: the well-known string between the host and the resource's path."""
        for name, service in self.apps.items():
            metadata = dict(service.state.resource_metadata)
            app.add_api_route(
                f"/.well-known/oauth-protected-resource{prefix}/{name}",
                _constant(metadata),
                methods=["GET"],
                include_in_schema=False,
            )
            app.mount(f"{prefix}/{name}", service)


def _constant(body: dict[str, Any]) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def metadata() -> dict[str, Any]:
        return body

    return metadata


def build_hotel(
    *,
    world: HotelWorld,
    audit: AuditSink,
    clock: Clock,
    issuer: str,
    http: httpx.AsyncClient,
    policy: ResourcePolicy,
    base_url: str | None = None,
    backend_secret: str,
    baseline: bool = False,
    config: HotelConfig | None = None,
    events: SecurityEventSource | None = None,
    only: tuple[str, ...] = SERVICES,
    agent_quota: QuotaSpec | None = None,
    task_quota: QuotaSpec | None = None,
) -> Hotel:
    """The services in ``only``; ``http`` reaches the IAM (and availability, for holds).

    Refuses to start when a route asks for a scope the issuer's catalogue does not define.
    """
    check_scopes(policy)
    issuer = issuer.rstrip("/")
    base = (base_url or f"{issuer}/hotel").rstrip("/")
    urls = {name: f"{base}/{name}" for name in SERVICES}
    config = config or (SHARED_KEY if baseline else HotelConfig())
    if config.shared_key is not None:
        return _baseline(world, audit, http, urls, only, policy, config.shared_key)
    staff_roles = {s.id: (s.role,) for s in world.staff()}
    keys = RemoteJWKS(lambda: _get_json(http, f"{issuer}/jwks.json"), clock)
    # Revocations, DPoP proofs seen and quota counts live in the services' store, shared by
    # every process and worker that uses it and kept across restarts (docs/design.md).
    store = world.store
    revoked = RevokedTokens(clock, issuer=issuer, audience=urls["availability"], store=store)
    unsubscribe = (
        events.subscribe(lambda event: revoked.receive_claims(event.claims))
        if events and config.revocation_events
        else None
    )
    # RFC 9449 §9: proofs carry a nonce of the services' (stateless, from the store's secret),
    # so the replay store holds only the jtis of the last two nonce windows.
    nonces = DPoPNonces.from_store(store, clock)
    dpop = DPoPVerifier(clock, ReplayCache(clock, store=store, scope="hotel"), nonces=nonces)
    guards: dict[str, Guard] = {
        name: TokenGuard(
            service=name,
            audience=urls[name],
            issuer=issuer,
            keys=keys,
            revoked=revoked,
            audit=audit,
            clock=clock,
            dpop=dpop,
            policy=policy,
            # One count per service, shared by every process that runs it.
            quota=Quota(agent_quota, clock, store=store, name=f"requests:{name}")
            if agent_quota
            else None,
            task_quota=Quota(task_quota, clock, store=store, name=f"task-requests:{name}")
            if task_quota
            else None,
            dpop_required=config.dpop,
            agent_allow_list=config.agent_allow_list,
            service_accounts=config.service_accounts,
            roles_of=lambda user: staff_roles.get(user, ("guest",)),
        )
        for name in only
    }
    holds = AvailabilityClient(
        http,
        urls["availability"],
        AppToken(
            http,
            issuer,
            BACKEND_CLIENT,
            backend_secret,
            resource=urls["availability"],
            scope="availability:hold",
        ),
    )
    apps = _apps(world, guards, holds, urls, issuer, rar=config.rar)
    for service in apps.values():
        service.add_middleware(DPoPNonceHeader, nonces=nonces)
    return Hotel(world, apps, urls, guards, keys, revoked, unsubscribe)


def _baseline(
    world: HotelWorld,
    audit: AuditSink,
    http: httpx.AsyncClient,
    urls: dict[str, str],
    only: tuple[str, ...],
    policy: ResourcePolicy,
    api_key: str,
) -> Hotel:
    staff_roles = {s.id: (s.role,) for s in world.staff()}

    def roles_of(user: str) -> tuple[str, ...]:
        return staff_roles.get(user, ("guest",))

    guards: dict[str, Guard] = {
        name: BaselineGuard(
            service=name, audit=audit, roles_of=roles_of, policy=policy, api_key=api_key
        )
        for name in only
    }
    holds = AvailabilityClient(http, urls["availability"], SharedKey(api_key, BACKEND_CLIENT))
    # The business rules stay: hotel-only recipients too (docs/attacks.md, issue 14).
    apps = _apps(world, guards, holds, urls, "baseline")
    return Hotel(world, apps, urls, guards)


def _apps(
    world: HotelWorld,
    guards: dict[str, Guard],
    holds: AvailabilityClient,
    urls: dict[str, str],
    issuer: str,
    *,
    rar: bool = True,
) -> dict[str, FastAPI]:
    makers: dict[str, Callable[[], FastAPI]] = {
        "availability": lambda: availability.create_app(
            world, guards["availability"], resource=urls["availability"], issuer=issuer
        ),
        "booking": lambda: booking.create_app(
            world, guards["booking"], holds, resource=urls["booking"], issuer=issuer, rar=rar
        ),
        "payment": lambda: payment.create_app(
            world, guards["payment"], resource=urls["payment"], issuer=issuer, rar=rar
        ),
        "concierge": lambda: concierge.create_app(
            world,
            guards["concierge"],
            resource=urls["concierge"],
            issuer=issuer,
        ),
    }
    apps = {name: makers[name]() for name in guards}
    for app in apps.values():
        app.state.store = world.store  # what /health probes
    return apps


SERVICE_RULES: dict[str, dict[str, Rule]] = {
    "availability": availability.RULES,
    "booking": booking.RULES,
    "payment": payment.RULES,
    "concierge": concierge.RULES,
}


def check_scopes(policy: ResourcePolicy) -> None:
    """Every route's scope is one the issuer defines for that service (fail at start-up)."""
    for service, rules in SERVICE_RULES.items():
        asked = rule_scopes(rules)
        unknown = policy.unknown(asked) | (frozenset(asked) - frozenset(policy.scopes_of(service)))
        if unknown:
            raise ValueError(
                f"{service} routes ask for scopes the issuer does not define "
                f"for it: {', '.join(sorted(unknown))}"
            )


async def _get_json(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(url)
    response.raise_for_status()
    return dict(response.json())
