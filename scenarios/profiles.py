"""Deployment profiles: the ways of deploying agents the harness compares (issue 14).

A :class:`Profile` is one named, frozen object: how agents prove who they are and whose
authority they act on (``identity``), which IAM defences are on, and what an attacker who
gets into the agent's runtime can take away (``loot``). Every profile keeps the same
business rules — owner checks, hotel-only recipients, price checks — so that a difference
in the matrix is a difference of identity and access alone (docs/design.md).

The ladder, from ordinary practice to the full design:

* ``shared-key`` — one API key held by the agent's tools (never in its prompt), the user
  taken from the app's session and named in ``X-User``;
* ``user-token`` — the user's own OAuth access token (code + PKCE through the app) handed
  to the agent: the user's full scopes, no agent identity, no ``act``;
* ``service-account`` — the agent as an OAuth client (``client_credentials``) with the
  scopes of every task it may do, naming the user in the request;
* ``agent-iam`` — the full design: agent identity, OBO with ``act``, RAR caps, DPoP,
  revocation events, per-agent allow-lists and delegation depth, quotas, and tasks (an
  agent's own authority ends with the request its front door handed it);
* ``agent-iam-no-*`` — the full design with exactly one defence removed (an ablation).

Each weakening is named in ``weakenings``: the report prints them beside the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from hotel.app import HotelConfig
from hotel.baseline import DEMO_API_KEY

Identity = Literal["shared-key", "user-token", "service-account", "agent-iam"]
DEFENCES = ("rar", "dpop", "revocation_events", "allow_list", "quotas", "task_scope")
# The old --baseline flag: an alias of shared-key for one release (README, “Profiles”).
ALIASES = {"baseline": "shared-key"}


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    identity: Identity
    weakenings: tuple[str, ...] = ()
    rar: bool = True  # RFC 9396 caps enforced at booking and payment
    dpop: bool = True  # RFC 9449 proofs required for bound tokens
    revocation_events: bool = True  # services learn revocations at once (SETs)
    allow_list: bool = True  # per-agent roles at routes, delegation depth
    quotas: bool = True  # token, approval and request quotas
    task_scope: bool = True  # an agent's own tokens only within a live task (iam_core/tasks.py)
    # What an attacker inside the agent's runtime copies out of it (steps/tokens.py).
    loot: tuple[str, ...] = field(default=())

    @property
    def agent_iam(self) -> bool:
        return self.identity == "agent-iam"

    def hotel(self, service_accounts: frozenset[str] = frozenset()) -> HotelConfig:
        """The services' configuration for this profile (handed in at start-up)."""
        if self.identity == "shared-key":
            return HotelConfig(shared_key=DEMO_API_KEY)
        return HotelConfig(
            dpop=self.dpop,
            revocation_events=self.revocation_events,
            agent_allow_list=self.allow_list,
            rar=self.rar,
            service_accounts=service_accounts
            if self.identity == "service-account"
            else frozenset(),
        )


AGENT_IAM = Profile(
    "agent-iam",
    "the full design: agent identity, OBO with act, RAR caps, DPoP, revocation events, "
    "per-agent allow-lists and delegation depth, quotas, task-scoped own authority",
    "agent-iam",
    loot=("the task's DPoP-bound tokens (not the DPoP key)",),
)


def _ablation(defence: str, what: str) -> Profile:
    return replace(
        AGENT_IAM,
        name=f"agent-iam-no-{defence.replace('_', '-')}",
        summary=f"agent-iam without {what}",
        weakenings=(f"ABLATION: no {what}",),
        **{defence: False},  # type: ignore[arg-type]
    )


PROFILES: tuple[Profile, ...] = (
    Profile(
        "shared-key",
        "one API key held by the agent's tools; the user from the app's session in X-User",
        "shared-key",
        weakenings=(
            "WEAK: one API key for every agent and user, valid until rotated",
            "WEAK: the services trust whichever user the X-User header names",
            "WEAK: no agent identity, no delegation, nothing revocable per task",
        ),
        rar=False,
        dpop=False,
        revocation_events=False,
        allow_list=False,
        quotas=False,
        task_scope=False,
        loot=("the shared API key (it sits in the tools' configuration)",),
    ),
    Profile(
        "user-token",
        "the user's own OAuth access token (code + PKCE via the app) handed to the agent",
        "user-token",
        weakenings=(
            "WEAK: the agent holds the user's full scopes for every service",
            "WEAK: no agent identity, no act: the agent's calls look like the user's",
            "WEAK: bearer tokens, no caps, not revoked when the task ends",
        ),
        rar=False,
        dpop=False,
        allow_list=False,
        quotas=False,
        task_scope=False,
        loot=("the user's bearer access tokens",),
    ),
    Profile(
        "service-account",
        "the agent as an OAuth client (client_credentials) with every task's scopes, "
        "naming the user in X-User",
        "service-account",
        weakenings=(
            "WEAK: the agent's scopes are those of every task it may do, for every user",
            "WEAK: the services trust whichever user the agent names",
            "WEAK: its client secret sits in the runtime's configuration",
        ),
        rar=False,
        dpop=False,
        allow_list=False,
        quotas=False,
        task_scope=False,
        loot=("the service account's client secret and bearer tokens",),
    ),
    AGENT_IAM,
    _ablation("rar", "RAR caps (authorization_details unchecked at booking and payment)"),
    _ablation("dpop", "DPoP (bound tokens accepted without a proof)"),
    _ablation("revocation_events", "revocation events (services learn of none)"),
    _ablation("allow_list", "per-agent allow-lists and delegation depth"),
    _ablation("quotas", "quotas (tokens, approvals, requests)"),
    _ablation("task_scope", "task scope (an agent's own tokens outlive the request)"),
)


def profiles() -> dict[str, Profile]:
    return {p.name: p for p in PROFILES}


def profile(name: str) -> Profile:
    """A profile by name (or alias); KeyError names the known ones."""
    found = profiles().get(ALIASES.get(name, name))
    if found is None:
        known = ", ".join([*profiles(), *ALIASES])
        raise KeyError(f"no profile {name!r} (one of {known})")
    return found
