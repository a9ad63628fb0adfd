"""Least-privilege policy: which scopes a role, an agent or a delegation may carry.

Pure functions over frozen data, so that the rules can be read, tested for all inputs
(hypothesis) and changed in one place (the policy lab notebook swaps a :class:`Policy`).

Delegation rules (docs/design.md "Delegation rules"; RFC 8693 §1.1 for delegation semantics):

* OBO scope = requested ∩ what the user may do ∩ what the agent may be delegated ∩ consent.
* A further hop nests ``act`` (RFC 8693 §4.1), only narrows, and stops at ``max_delegation_depth``.
* An agent acting on its own gets only its autonomous scopes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iam_core.approval_policy import ApprovalPolicy

POLICY_VERSION = "2026-11-28.1"

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

SCOPES: Mapping[str, str] = {
    "availability:read": "search rooms and rates",
    "availability:hold": "place a hold on a room (booking backend only)",
    "booking:create": "create a booking",
    "booking:read": "read bookings",
    "booking:modify": "change a booking's dates",
    "booking:cancel": "cancel a booking",
    "booking:rate-override": "override a booking's rate (managers)",
    "payment:charge": "charge a booking",
    "payment:refund": "refund a payment (managers)",
    "concierge:request": "make a concierge request",
    "concierge:read": "read the staff directory and requests",
    "concierge:assign": "assign concierge staff",
    "concierge:pii": "read guest profiles with personal data (staff)",
    "audit:read": "read the audit log",
    "scim:admin": "manage identities over SCIM",
    "events:read": "receive revocation events (Security Event Tokens)",
}

_GUEST = frozenset(
    {
        "availability:read",
        "booking:create",
        "booking:read",
        "booking:cancel",
        "payment:charge",
        "concierge:request",
    }
)
_FRONT_DESK = frozenset(
    {
        "availability:read",
        "booking:read",
        "booking:modify",
        "concierge:read",
        "concierge:assign",
        "concierge:pii",
    }
)
_MANAGER = _FRONT_DESK | {"booking:rate-override", "payment:refund"}

DEFAULT_ROLE_SCOPES: Mapping[str, frozenset[str]] = {
    "guest": _GUEST,
    "front-desk": _FRONT_DESK,
    "manager": _MANAGER,
}


def parse_scope(value: str | None) -> frozenset[str]:
    """Split a space-delimited scope string (RFC 6749 §3.3); raises ValueError on bad tokens."""
    if not value:
        return frozenset()
    tokens = value.split(" ")
    if any(not _SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise ValueError("scope must be space-separated scope tokens (RFC 6749, 3.3)")
    return frozenset(tokens)


def format_scope(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))


def scope_service(scope: str) -> str:
    """The service a scope belongs to: the part before the colon."""
    return scope.split(":", 1)[0]


def nest_act(act: Mapping[str, Any] | None, actor: str) -> dict[str, Any]:
    """A new ``act`` claim with ``actor`` as the current actor (RFC 8693 §4.1)."""
    nested: dict[str, Any] = {"sub": actor}
    if act:
        nested["act"] = dict(act)
    return nested


def act_chain(act: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The actors named by a (nested) ``act`` claim, current actor first."""
    chain: list[str] = []
    node = act
    while node:
        chain.append(str(node.get("sub")))
        inner = node.get("act")
        node = inner if isinstance(inner, Mapping) else None
    return tuple(chain)


@dataclass(frozen=True)
class Policy:
    """Role → scopes, and the delegation bounds. Change it by building another one."""

    role_scopes: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: dict(DEFAULT_ROLE_SCOPES)
    )
    max_delegation_depth: int = 3
    version: str = POLICY_VERSION
    # What an agent may only do with the person's approval of exactly it (CIBA).
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)

    def user_scopes(self, roles: Iterable[str]) -> frozenset[str]:
        """Everything a user with ``roles`` may do; unknown roles grant nothing."""
        granted: frozenset[str] = frozenset()
        for role in roles:
            granted |= self.role_scopes.get(role, frozenset())
        return granted

    def obo_scope(
        self,
        requested: frozenset[str],
        *,
        user_roles: Iterable[str],
        agent_delegable: frozenset[str],
        consented: frozenset[str],
    ) -> frozenset[str]:
        """requested ∩ user's ∩ agent's delegable ∩ consented (docs/design.md, delegation rules)."""
        return requested & self.user_scopes(user_roles) & agent_delegable & consented

    def hop_scope(
        self,
        requested: frozenset[str],
        *,
        subject_scope: frozenset[str],
        actor_delegable: frozenset[str],
    ) -> frozenset[str]:
        """A further hop only narrows: requested ∩ subject token's scope ∩ new actor's delegable."""
        return requested & subject_scope & actor_delegable

    def autonomous_scope(
        self, requested: frozenset[str], *, autonomous: frozenset[str]
    ) -> frozenset[str]:
        """An agent acting on its own holds only its autonomous scopes."""
        return requested & autonomous

    def depth_allowed(self, act: Mapping[str, Any] | None) -> bool:
        """Whether a delegation chain stays within ``max_delegation_depth`` actors."""
        return len(act_chain(act)) <= self.max_delegation_depth
