"""The IAM: one object that wires storage, keys, tokens, policy, consent, revocation and audit.

Routes (``server.py``) and the grants call into it; it owns the lifecycle actions whose
effects cross modules — blocking an agent revokes its tokens *and* is audited, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from iam_core.approval_policy import ApprovalLimits
from iam_core.approvals import Approvals
from iam_core.audit import AuditEvent, AuditKey, AuditLog, AuditWitness
from iam_core.audit_files import serving_key
from iam_core.audit_witness import witness_path
from iam_core.clock import Clock, SystemClock
from iam_core.consent import ConsentStore
from iam_core.errors import (
    InsufficientScope,
    InvalidScope,
    InvalidTarget,
    InvalidToken,
    TokenError,
)
from iam_core.events import SecurityEventPublisher
from iam_core.keys import KeyRing
from iam_core.policy import Policy, format_scope, scope_service
from iam_core.quota import Quota, QuotaSpec
from iam_core.registry import STRONG_HASHER, Registry
from iam_core.revocation import RevocationRegistry, named_actors
from iam_core.store import AnyStore, is_url, open_store
from iam_core.tasks import is_task_token, task_name
from iam_core.tokens import Lifetimes, Token, TokenMinter, TokenType, TokenVerifier
from iam_core.trace import current_trace_id

HOTEL_SERVICES = ("availability", "booking", "payment", "concierge")
IAM_SCOPE_SERVICES = ("audit", "scim", "events", "tasks")


@dataclass(frozen=True, slots=True)
class Resource:
    """A protected resource (RFC 8707): one audience, and the scope services it owns."""

    name: str
    uri: str
    services: tuple[str, ...]

    def owns(self, scope: str) -> bool:
        return scope_service(scope) in self.services


def default_resources(issuer: str) -> dict[str, Resource]:
    """The four hotel services under ``{issuer}/hotel/<name>``, and the IAM itself."""
    base = issuer.rstrip("/")
    resources = {name: Resource(name, f"{base}/hotel/{name}", (name,)) for name in HOTEL_SERVICES}
    resources["iam"] = Resource("iam", base, IAM_SCOPE_SERVICES)
    return resources


@dataclass(frozen=True)
class IAMConfig:
    issuer: str = "http://127.0.0.1:8000"
    resources: Mapping[str, Resource] | None = None
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    policy: Policy = field(default_factory=Policy)
    leeway: int = 30
    code_lifetime: int = 60
    # RFC 7523 §3: the longest a client assertion may live (exp - iat); Authlib's default.
    assertion_max_lifetime: int = 3600
    checkpoint_every: int = 1000
    signing_alg: str = "ES256"
    # An agent's own token for a service only within a live task its front door opened,
    # at most this many tokens a task (iam_core/tasks.py; docs/attacks.md #16).
    task_scoped_agents: bool = True
    tokens_per_task: int | None = 8
    # Requests a task's tokens may make at each service (the services read it from here):
    # a loop inside a live task is bounded by it, not prevented (docs/design.md §3.2).
    requests_per_task: QuotaSpec | None = field(default_factory=lambda: QuotaSpec(20, 600))
    # Per-agent quota of tokens at /token (None: off).
    agent_token_quota: QuotaSpec | None = field(default_factory=lambda: QuotaSpec(120, 60))
    # CIBA approval requests: expiry, polling interval, per-agent rate, one pending request
    # per person, agent and action (approval_policy.py). What a flood of approvals meets.
    approval_limits: ApprovalLimits = field(default_factory=ApprovalLimits)
    # Requests per agent at each resource server (the services read it from here).
    agent_request_quota: QuotaSpec | None = field(default_factory=lambda: QuotaSpec(300, 60))
    # Failed logins before POST /login answers 429 (login_guard.py; None: off).
    login_failures_per_account: QuotaSpec | None = field(default_factory=lambda: QuotaSpec(5, 300))
    login_failures_per_address: QuotaSpec | None = field(default_factory=lambda: QuotaSpec(20, 300))

    # Protected resources' own clients (RFC 7662 §4): client id → the resources it serves,
    # whose tokens it may introspect.
    resource_clients: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"hotel-services": HOTEL_SERVICES}
    )

    def __post_init__(self) -> None:
        # The request budget is per task: its window must outlast the task's last token,
        # honoured until the task's end plus the services' leeway — else the requests made
        # at the task's start slide out before its end and the agent gets a second budget.
        spec, span = self.requests_per_task, self.lifetimes.app + 2 * self.leeway
        if spec is not None and spec.window < span:
            object.__setattr__(self, "requests_per_task", replace(spec, window=span))

    def resource_map(self) -> Mapping[str, Resource]:
        return self.resources or default_resources(self.issuer)


class IAM:
    """The identity provider and authorization server's state and lifecycle actions."""

    def __init__(
        self,
        store: AnyStore,
        *,
        config: IAMConfig | None = None,
        clock: Clock | None = None,
        audit_key: AuditKey | None = None,
        audit_witness: AuditWitness | None = None,
        hasher: PasswordHasher = STRONG_HASHER,
    ) -> None:
        self.store = store
        self.config = config or IAMConfig()
        self.clock = clock or SystemClock()
        self.issuer = self.config.issuer.rstrip("/")
        self.policy = self.config.policy
        self.resources = self.config.resource_map()
        lifetimes = self.config.lifetimes
        self.registry = Registry(store, self.clock, hasher)
        self.keys = KeyRing(
            store,
            self.clock,
            alg=self.config.signing_alg,
            retain_for=lifetimes.longest + self.config.leeway,
        )
        self.minter = TokenMinter(
            self.keys, self.clock, self.issuer, lifetimes, agent_roles=self._agent_roles
        )
        self.verifier = TokenVerifier(self.keys, self.clock, self.issuer, leeway=self.config.leeway)
        self.consents = ConsentStore(store, self.clock)
        self.revocations = RevocationRegistry(store, self.clock, leeway=self.config.leeway)
        self.events = SecurityEventPublisher(
            store,
            self.clock,
            self.keys,
            self.revocations,
            issuer=self.issuer,
            audiences=[resource.uri for resource in self.resources.values()],
            longest_lifetime=lifetimes.longest,
        )
        self.audit = AuditLog(
            store,
            audit_key or AuditKey.generate(),
            self.clock,
            checkpoint_every=self.config.checkpoint_every,
            witness=audit_witness,
        )
        token_quota = self.config.agent_token_quota
        # In the store: every worker counts against the same limit, across restarts.
        self.token_quota = (
            Quota(token_quota, self.clock, store=store, name="token") if token_quota else None
        )
        self.approvals = Approvals(self, self.config.approval_limits)

    @classmethod
    def open(cls, location: str | Path, *, home: Path | None = None, **kwargs: Any) -> IAM:
        """An IAM over a database file, with its audit key in ``audit-key.json`` beside it
        and its audit witness (:func:`witness_path`); a lost key is refused, never replaced.

        ``location`` may be a ``postgresql://`` URL: the key and the witness are then files in
        ``home`` (a database server has no "beside"; default: the current directory)."""
        store = open_store(location)
        path = (home or Path()) / "iam.db" if is_url(str(location)) else Path(location)
        try:
            key = serving_key(store, path.parent / "audit-key.json")
            witness = AuditWitness(witness_path(path))
            return cls(store, audit_key=key, audit_witness=witness, **kwargs)
        except BaseException:
            store.close()
            raise

    def record(self, event: AuditEvent) -> None:
        """Append to the audit log, tagging the entry with the current request's trace id."""
        if event.trace_id is None:
            event = replace(event, trace_id=current_trace_id.get())
        self.audit.append(event)

    # -- resources -----------------------------------------------------------------------
    def resource(self, uri: str | None, scopes: frozenset[str]) -> Resource:
        """The audience for a request (RFC 8707 §2); see the README for the default rule.

        Without ``resource``, the audience is the one resource that owns every requested
        scope; a request whose scopes span services must name its resource.
        """
        if uri is not None:
            for resource in self.resources.values():
                if resource.uri == uri.rstrip("/") or resource.uri == uri:
                    return resource
            raise InvalidTarget(f"unknown resource {uri[:200]!r}")
        owners = {r.name for s in scopes for r in self.resources.values() if r.owns(s)}
        if len(owners) == 1:
            return self.resources[owners.pop()]
        unknown = sorted(s for s in scopes if not any(r.owns(s) for r in self.resources.values()))
        if unknown:
            # RFC 6749 §5.2 invalid_scope: the scope itself is wrong, not the resource.
            raise InvalidScope(f"unknown scope {', '.join(unknown)[:200]!r}: no resource owns it")
        if not owners:
            raise InvalidTarget("name the resource (RFC 8707 resource parameter)")
        raise InvalidTarget(
            f"the scopes span {', '.join(sorted(owners))}: ask for one resource at a time"
        )

    # -- token state ---------------------------------------------------------------------
    def inactive_reason(self, token: Token) -> str | None:
        """Why a verified token is no longer active, or None when it is."""
        revoked = self.revocations.reason_revoked(token.jti)
        if revoked:
            return f"revoked: {revoked}"
        for identity in (token.sub, *named_actors(token)):
            reason = self._identity_inactive(identity, token)
            if reason:
                return reason
        return None

    def _identity_inactive(self, identity: str, token: Token) -> str | None:
        agent = self.registry.get_agent(identity)
        if agent is not None:
            return None if agent.active else f"agent {identity} is blocked"
        user = self.registry.get_user(identity)
        if user is not None:
            return None if user.active else f"user {identity} is disabled"
        app = self.registry.get_app(identity)
        if app is not None and token.token_type is TokenType.APP:
            return None if app.active else f"app {identity} is disabled"
        return f"identity {identity} no longer exists"

    def _agent_roles(self, agent_id: str) -> tuple[str, ...]:
        return self.registry.agent_roles(agent_id)

    def verify_active(self, token: str, *, audience: str | None) -> Token:
        """Verify a token and check that it is still active; raises InvalidToken."""
        try:
            verified = self.verifier.verify(token, audience=audience)
        except TokenError as exc:
            raise InvalidToken(str(exc)) from exc
        reason = self.inactive_reason(verified)
        if reason:
            raise InvalidToken(reason)
        return verified

    def authorize_bearer(self, authorization: str | None, scope: str) -> Token:
        """Check a Bearer token for the IAM's own APIs (SCIM, audit), RFC 6750 §2.1."""
        if not authorization or not authorization.startswith("Bearer "):
            raise InvalidToken("a Bearer access token is required")
        token = self.verify_active(authorization[7:].strip(), audience=self.issuer)
        if scope not in token.scopes:
            raise InsufficientScope(f"the {scope} scope is required", scope=scope)
        return token

    # -- lifecycle actions ---------------------------------------------------------------
    def block_agent(self, agent_id: str, *, by: str | None, reason: str = "agent blocked") -> int:
        agent = self.registry.get_agent(agent_id)
        if agent is None:
            raise KeyError(agent_id)
        self.registry.save_agent(replace(agent, status="blocked"))
        jtis = self.revocations.revoke_naming(agent_id, reason)
        self._record("agent.blocked", by, agent_id, reason, len(jtis))
        return len(jtis)

    def unblock_agent(self, agent_id: str, *, by: str | None) -> None:
        agent = self.registry.get_agent(agent_id)
        if agent is None:
            raise KeyError(agent_id)
        self.registry.save_agent(replace(agent, status="active"))
        self._record("agent.unblocked", by, agent_id, "agent unblocked", 0)

    def set_app_active(self, app_id: str, active: bool, *, by: str | None) -> int:
        """Disable (or enable) an app — a service account, a front door: it authenticates
        nowhere, and every live token issued to it or naming it is revoked, for good
        (re-enabling revives none). KeyError for an unknown app."""
        self.registry.set_app_active(app_id, active)
        jtis: tuple[str, ...] = ()
        if not active:
            jtis = self.revocations.revoke_client(app_id, "client disabled")
        event = "app.enabled" if active else "app.disabled"
        self._record(event, by, app_id, event.replace(".", " "), len(jtis))
        return len(jtis)

    def set_user_active(self, user_id: str, active: bool, *, by: str | None) -> int:
        user = self.registry.get_user(user_id)
        if user is None:
            raise KeyError(user_id)
        self.registry.save_user(replace(user, active=active))
        jtis: tuple[str, ...] = ()
        if not active:
            jtis = self.revocations.revoke_naming(user_id, "user disabled")
        event = "user.enabled" if active else "user.disabled"
        self._record(event, by, user_id, event.replace(".", " "), len(jtis))
        return len(jtis)

    def withdraw_consent(self, user_id: str, actor: str, *, client_id: str | None = None) -> int:
        """The user withdraws consent for ``actor``: every token it backed is revoked."""
        removed = self.consents.withdraw(user_id, actor, client_id)
        jtis = self.revocations.revoke_delegation(user_id, actor, "consent withdrawn")
        self.record(
            AuditEvent(
                event="consent.withdrawn",
                outcome="allowed",
                reason=f"{user_id} withdrew consent for {actor}",
                sub=user_id,
                act=(actor,),
                client_id=client_id,
                object_id=actor,
                details={"consents_removed": removed, "tokens_revoked": len(jtis)},
            )
        )
        return len(jtis)

    def revoke_token(self, token: Token, *, by: str) -> bool:
        revoked = self.revocations.revoke_jti(token.jti, f"revoked by {by}")
        if is_task_token(token):
            self._end_task(token, by)
        self.record(
            AuditEvent(
                event="token.revoked",
                outcome="allowed",
                reason=f"revoked by {by}",
                sub=token.sub,
                act=token.actors,
                client_id=token.client_id,
                token_type=token.token_type.value,
                jti=token.jti,
                scope=format_scope(token.scopes),
                details={"newly_revoked": revoked},
            )
        )
        return revoked

    def _end_task(self, task: Token, by: str) -> None:
        """A task ended (its front door revoked it): every token issued within it goes too."""
        jtis = self.revocations.revoke_naming(task_name(task.jti), "task ended")
        agent = task.claims.get("may_act", {}).get("sub")
        self.record(
            AuditEvent(
                event="task.ended",
                outcome="allowed",
                reason=f"task ended by {by}",
                sub=task.sub,
                act=(agent,) if isinstance(agent, str) else (),
                client_id=task.client_id,
                jti=task.jti,
                details={"tokens_revoked": len(jtis)},
            )
        )

    def _record(self, event: str, by: str | None, target: str, reason: str, revoked: int) -> None:
        self.record(
            AuditEvent(
                event=event,
                outcome="allowed",
                reason=reason,
                sub=by,
                object_id=target,
                details={"tokens_revoked": revoked},
            )
        )
