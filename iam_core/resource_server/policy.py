"""What a resource server needs of the issuer's policy, handed to it at start-up.

The issuer owns the scope catalogue and which user roles grant which scopes
(``iam_core.policy``); a protected service must not import that module, as a service in
another company could not. The composition root builds one frozen :class:`ResourcePolicy`
from the IAM's policy and hands it in: the service then checks its routes' scopes against the
catalogue when it starts, and asks which roles may act at a staff route instead of writing
the role names out again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from iam_core.approval_policy import ApprovalPolicy
from iam_core.policy import SCOPES, Policy, scope_service


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """The issuer's scope catalogue, role → scopes, and the delegation depth bound."""

    scopes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(SCOPES)))
    role_scopes: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType(dict(Policy().role_scopes))
    )
    max_delegation_depth: int = 3
    version: str = ""
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)

    @classmethod
    def of(cls, policy: Policy, catalogue: Mapping[str, str] = SCOPES) -> ResourcePolicy:
        """The resource-server view of ``policy`` (built by the composition root)."""
        return cls(
            scopes=MappingProxyType(dict(catalogue)),
            role_scopes=MappingProxyType(dict(policy.role_scopes)),
            max_delegation_depth=policy.max_delegation_depth,
            version=policy.version,
            approvals=policy.approvals,
        )

    def scopes_of(self, service: str) -> tuple[str, ...]:
        """The catalogue's scopes that belong to ``service`` (the part before the colon)."""
        return tuple(sorted(s for s in self.scopes if scope_service(s) == service))

    def roles_granting(self, scope: str) -> frozenset[str]:
        """The user roles whose scopes include ``scope``."""
        return frozenset(role for role, held in self.role_scopes.items() if scope in held)

    def unknown(self, scopes: Iterable[str]) -> frozenset[str]:
        """Those of ``scopes`` the issuer does not define: a route asking for one is a bug."""
        return frozenset(scopes) - frozenset(self.scopes)
